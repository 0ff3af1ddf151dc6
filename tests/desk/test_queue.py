"""The handoff queue: who sees which conversation, claiming, replying, closing, opening a case, and the
live event stream that keeps the pages current."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bots.bootstrap import Deployment
from core import cases
from core.cases import LookupOutcome
from core.clock import FixedClock
from storage.models import AuditEvent, Case, Conversation, Handoff, OutboxMessage
from tests.desk.conftest import CITIZEN, DEPT_A, World, conversation_id, say


async def _rows(deployment: Deployment, model: Any, *where: Any) -> list[Any]:
    async with deployment.services.database.reading() as session:
        return list(await session.scalars(select(model).where(*where)))


async def test_the_queue_shows_who_waits_where_and_for_how_long(
    world: World, desk_as: Any, clock: FixedClock
) -> None:
    clock.advance(minutes=12)
    alice = await desk_as("alice")
    body = await (await alice.get("/desk/queue")).text()
    assert f'data-id="{world.handoff_open}"' in body
    assert f'data-id="{world.handoff_b}"' not in body  # about another department
    assert "我家的低保停了，想问问为什么" in body and "12分钟" in body and "待回复" in body
    assert "在岗中" in body  # Monday morning: the desk is staffed
    sue = await desk_as("sue")
    assert f'data-id="{world.handoff_b}"' in await (await sue.get("/desk/queue")).text()

    clock.set(datetime(2026, 3, 7, 2, 0, tzinfo=UTC))  # Saturday (a new day, a new login)
    weekend = await (await (await desk_as("alice")).get("/desk/queue")).text()
    assert "已下班" in weekend and "03-09 08:30" in weekend


async def test_claim_reply_and_close(world: World, desk_as: Any, deployment: Deployment) -> None:
    alice, bob, sue = await desk_as("alice"), await desk_as("bob"), await desk_as("sue")
    here = f"/desk/handoffs/{world.handoff_open}"
    assert (await alice.post(here + "/claim")).status == 303
    [handoff] = await _rows(deployment, Handoff, Handoff.id == world.handoff_open)
    assert (handoff.status, handoff.claimed_by) == ("claimed", "alice")

    # Someone else's conversation: staff may not barge in, a supervisor may take it over.
    await bob.post(here + "/reply", {"text": "我来回答"})
    assert "已由 alice 接手" in await (await bob.get(here)).text()
    assert await _rows(deployment, OutboxMessage, OutboxMessage.kind == "staff") == []

    assert (await alice.post(here + "/reply", {"text": "您好，请提供户主姓名。"})).status == 303
    [reply] = await _rows(deployment, OutboxMessage, OutboxMessage.kind == "staff")
    assert reply.payload["text"] == "您好，请提供户主姓名。" and reply.channel == "webchat"
    page = await (await alice.get(here)).text()
    assert "您好，请提供户主姓名。" in page and "排队中" in page
    await deployment.mailbox.fetch("demo", "webchat", CITIZEN, 0)  # the citizen's page picks it up
    assert "已送达" in await (await alice.get(here)).text()

    assert (await sue.post(here + "/claim")).status == 303
    assert (await sue.post(here + "/close")).status == 303
    [handoff] = await _rows(deployment, Handoff, Handoff.id == world.handoff_open)
    assert (handoff.status, handoff.closed_by) == ("closed", "sue")
    [conversation] = await _rows(deployment, Conversation, Conversation.id == handoff.conversation_id)
    assert conversation.mode == "bot"
    [closing] = await _rows(deployment, OutboxMessage, OutboxMessage.kind == "notice")
    assert closing.payload["text"] == "工作人员已结束本次人工服务，感谢您的耐心。如需其他帮助，请回复“菜单”。"
    assert f'data-id="{world.handoff_open}"' not in await (await alice.get("/desk/queue")).text()

    trail = {
        row.action: row for row in await _rows(deployment, AuditEvent, AuditEvent.target_type == "handoff")
    }
    assert {"conversation.claim", "handoff.reply", "handoff.close"} <= set(trail)
    assert trail["handoff.reply"].actor == "alice" and trail["handoff.reply"].source == "desk 127.0.0.1"
    assert trail["handoff.close"].actor == "sue"


async def test_a_conversation_becomes_a_case_and_the_citizen_gets_number_and_password(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    alice = await desk_as("alice")
    page = await (await alice.get(f"/desk/handoffs/{world.handoff_open}")).text()
    assert "我家的低保停了，想问问为什么" in page.split('id="case-description"')[1]
    assert 'value="tip"' not in page  # tips are registered by supervisors

    response = await alice.post(
        f"/desk/handoffs/{world.handoff_open}/case",
        {"kind": "complaint", "description": "低保停发，市民不知原因。", "department": "县住建局"},
    )
    assert response.status == 303
    [case] = await _rows(deployment, Case, Case.description == "低保停发，市民不知原因。")
    assert response.headers["Location"] == f"/desk/cases/{case.id}"
    assert case.department == DEPT_A  # staff open cases for their own department, whatever the form says
    assert case.conversation_id == await conversation_id(deployment, CITIZEN)
    [receipt] = await _rows(deployment, OutboxMessage, OutboxMessage.kind == "notice")
    found = re.search(r"案件编号：([\d-]+)\n查询密码：(\d{8})", receipt.payload["text"])
    assert found, receipt.payload["text"]
    async with deployment.services.database.transaction() as session:
        looked_up = await cases.lookup(
            deployment.services.backend(session),
            found.group(1).replace("-", ""),
            found.group(2),
            sender_key="test",
        )
    assert looked_up.outcome is LookupOutcome.FOUND
    handoff_page = await (await alice.get(f"/desk/handoffs/{world.handoff_open}")).text()
    assert f'href="/desk/cases/{case.id}"' in handoff_page

    refused = await alice.post(
        f"/desk/handoffs/{world.handoff_open}/case", {"kind": "tip", "description": "举报"}
    )
    assert refused.status == 303
    assert await _rows(deployment, Case, Case.description == "举报") == []


async def _event(stream: Any, name: str, timeout: float = 5.0) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        while True:
            block = (await stream.content.readuntil(b"\n\n")).decode()
            lines = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
            if lines.get("event") == name:
                return json.loads(lines["data"])

    return await asyncio.wait_for(read(), timeout)


async def test_the_event_stream_sends_new_messages_and_handoffs(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    alice = await desk_as("alice")
    queue_stream = await alice.client.get("/desk/events")
    assert queue_stream.headers["Content-Type"] == "text/event-stream"
    first = await _event(queue_stream, "queue")
    assert [row["id"] for row in first["rows"]] == [world.handoff_open]
    assert first["offices"][0]["open"] is True

    await say(deployment, CITIZEN, "m3", "<b>还在吗</b>")
    changed = await _event(queue_stream, "queue")
    assert changed["rows"][0]["last_text"] == "<b>还在吗</b>"  # data; the page sets it as text

    transcript_stream = await alice.client.get(f"/desk/events?handoff={world.handoff_open}")
    lines = (await _event(transcript_stream, "transcript"))["lines"]
    assert [line["text"] for line in lines if line["who"] == "citizen"][-1] == "<b>还在吗</b>"
    await alice.post(f"/desk/handoffs/{world.handoff_open}/reply", {"text": "在的"})
    update = await _event(transcript_stream, "transcript")
    assert update["status"] == "claimed" and update["claimed_by"] == "alice"
    assert update["lines"][-1] | {"at": ""} == {
        "who": "staff",
        "at": "",
        "text": "在的",
        "status": "pending",
        "status_label": "排队中",
    }
    queue_stream.close()
    transcript_stream.close()


async def test_a_new_handoff_appears_on_an_open_stream(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    sue = await desk_as("sue")
    stream = await sue.client.get("/desk/events")
    assert len((await _event(stream, "queue"))["rows"]) == 2
    await say(deployment, "99999999999999999999999999999999", "m1", "转人工")
    assert len((await _event(stream, "queue"))["rows"]) == 3
    stream.close()
    # A conversation's own stream follows the queue's rules: the department-B one is not Alice's to read.
    bob = await desk_as("bob")
    bobs = await bob.client.get(f"/desk/events?handoff={world.handoff_b}")
    assert bobs.status == 200
    bobs.close()
    alice = await desk_as("alice")
    assert (await alice.client.get(f"/desk/events?handoff={world.handoff_b}")).status == 404
