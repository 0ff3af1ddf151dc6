"""Live updates for open desk pages, as Server-Sent Events.

Each connected page polls the database about once a second and is sent an event only when what it
shows has changed: the queue ("queue") and, on a conversation's page, its transcript with delivery
statuses ("transcript"). Polling the shared database rather than an in-process bus is what lets a
citizen's message handled by one web process show up on a page served by another. A comment line
every few seconds keeps proxies from closing an idle stream and tells us when the page has gone.
The account is re-checked on every round, so a disabled account's stream ends within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bots.desk import handoffs, labels
from bots.desk.context import Desk, Viewer, desk, viewer
from bots.desk.queue import office_states
from bots.desk.security import fingerprint, guard
from core.backend import Backend
from storage.models import Staff

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0


def routes() -> list[web.RouteDef]:
    return [web.get("/events", events, name="events")]


@guard("staff")
async def events(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    me = viewer(request)
    handoff_id = _int(request.query.get("handoff"))
    if handoff_id is not None:
        async with context.reading() as b:
            if await handoffs.visible(b, me, handoff_id) is None:
                raise web.HTTPNotFound()
    stamp = await _account_stamp(context, me)

    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    sent: dict[str, str] = {}
    quiet = 0.0
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n")
        while not context.stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break  # the page went away: stop polling for it now, not at the next heartbeat
            if await _account_stamp(context, me) != stamp:
                break
            async with context.reading() as b:
                current = {"queue": await _queue(b, context, me)}
                if handoff_id is not None:
                    current["transcript"] = await _transcript(b, me, handoff_id)
            wrote = False
            for name, payload in current.items():
                encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                if sent.get(name) != encoded:
                    await response.write(f"event: {name}\ndata: {encoded}\n\n".encode())
                    sent[name] = encoded
                    wrote = True
            quiet = 0.0 if wrote else quiet + POLL_SECONDS
            if quiet >= HEARTBEAT_SECONDS:
                await response.write(b": keep-alive\n\n")
                quiet = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(context.stopping.wait(), POLL_SECONDS)
    except ConnectionError:
        pass  # the page went away (closed, reloaded, navigated) before or while we wrote
    return response


async def _account_stamp(context: Desk, me: Viewer) -> tuple[Any, ...] | None:
    async with context.reading() as b:
        row = (
            await b.session.execute(
                select(Staff.active, Staff.role, Staff.department, Staff.password_hash).where(
                    Staff.id == me.id
                )
            )
        ).first()
    if row is None or not row.active:
        return None
    return (row.role, row.department, fingerprint(context.deployment.services.keyring, row.password_hash))


async def _queue(b: Backend, context: Desk, me: Viewer) -> dict[str, Any]:
    now = context.now()
    rows = await handoffs.queue(b, me)
    return {
        "rows": [
            {
                "id": row.id,
                "channel": labels.label(labels.CHANNEL, row.channel),
                "status": row.status,
                "status_label": labels.label(labels.HANDOFF_STATUS, row.status),
                "reason": labels.label(labels.HANDOFF_REASON, row.reason),
                "department": row.department or "",
                "claimed_by": row.claimed_by or "",
                "mine": row.claimed_by == me.username,
                "waited": labels.waited(row.opened_at, now),
                "last_text": row.last_text or "",
                "unanswered": row.unanswered,
            }
            for row in rows
        ],
        "offices": [
            {"name": office.name, "open": office.open, "next": office.next_opening, "hours": office.hours}
            for office in office_states(context)
        ],
    }


async def _transcript(b: Backend, me: Viewer, handoff_id: int) -> dict[str, Any]:
    found = await handoffs.visible(b, me, handoff_id)
    if found is None:
        return {"gone": True}
    handoff, conversation = found
    zone = b.zone
    lines = await handoffs.transcript(
        b, conversation.id or 0, since=handoffs.history_from(me, handoff), hide_case_numbers=not me.sees_all
    )
    return {
        "status": handoff.status,
        "status_label": labels.label(labels.HANDOFF_STATUS, handoff.status),
        "claimed_by": handoff.claimed_by or "",
        "lines": [
            {
                "who": line.who,
                "at": labels.local(line.at, zone),
                "text": line.text,
                "status": line.status or "",
                "status_label": labels.label(labels.DELIVERY, line.status),
            }
            for line in lines
        ],
    }


def _int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)
