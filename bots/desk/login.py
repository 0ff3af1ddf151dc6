"""Signing in and out.

Wrong username, wrong password, disabled account: one answer for all ("用户名或密码错误"), after the
same password-hashing work (an unknown user is checked against a dummy hash), so the login form
cannot be used to find out who has an account. Failures are counted per username and per client
address in the shared throttle table; a locked key answers the same way whether or not the account
exists. The password check runs outside any transaction, so a slow hash never holds the database.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import web
from sqlalchemy import select

from bots.desk.context import VIEWER, Viewer, desk, source
from bots.desk.render import render
from bots.desk.security import end_session, form_text, safe_next, start_session
from core import audit, throttle
from core.backend import Backend
from core.crypto import Keyring
from storage.models import Staff

USER_LOCK_AFTER = 5
ADDRESS_LOCK_AFTER = 20
WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
WRONG = "用户名或密码错误。"
LOCKED = "尝试次数过多，请 15 分钟后再试。"


def routes() -> list[web.RouteDef]:
    return [
        web.get("/login", login_page, name="login"),
        web.post("/login", login_submit),
        web.post("/logout", logout),
    ]


async def login_page(request: web.Request) -> web.StreamResponse:
    if isinstance(request.get(VIEWER), Viewer):
        raise web.HTTPFound(safe_next(request.query.get("next")))
    return await render(request, "login.html", {"next": safe_next(request.query.get("next")), "error": None})


async def login_submit(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    form = await request.post()
    username = form_text(form, "username", limit=64)
    password = form.get("password")
    password = password[:256] if isinstance(password, str) else ""
    target = safe_next(form_text(form, "next", limit=512))
    keys = _throttle_keys(context.deployment.services.keyring, username, request.remote or "?")

    async with context.reading() as b:
        if any([await throttle.locked_until(b, key) for key in keys]):
            return await _refused(request, target, LOCKED, status=429)
        staff = await b.session.scalar(select(Staff).where(Staff.username == username))
    keyring = context.deployment.services.keyring
    # A disabled account is checked against the dummy hash, like an unknown one: same work, same answer.
    hashed = staff.password_hash if staff is not None and staff.active else None
    matched = await asyncio.to_thread(keyring.verify_password, hashed, password)

    if not matched or staff is None:
        async with context.transaction() as b:
            for key, limit in zip(keys, (USER_LOCK_AFTER, ADDRESS_LOCK_AFTER), strict=True):
                await throttle.register_failure(b, key, lock_after=limit, window=WINDOW, lock_for=LOCK_FOR)
            # Only a real account's name is recorded: a password typed into the name field stays out.
            await audit.record(
                b,
                actor=staff.username if staff is not None else "unknown",
                action="staff.login_failed",
                target_type="staff",
                target_id=str(staff.id) if staff is not None else None,
                source=source(request),
            )
        return await _refused(request, target, WRONG, status=401)

    rehashed = None
    if keyring.password_needs_rehash(staff.password_hash):  # the cost settings went up since it was set
        rehashed = await asyncio.to_thread(keyring.hash_password, password)
    async with context.transaction() as b:
        signed_in = await _signed_in(b, staff, rehashed, keys[0], source(request))
    await start_session(request, signed_in, keyring, context.now())
    raise web.HTTPSeeOther(target)


async def _signed_in(b: Backend, staff: Staff, rehashed: str | None, user_key: str, where: str) -> Staff:
    await throttle.reset(b, user_key)
    row = await b.session.get(Staff, staff.id, with_for_update=True)
    if row is None:
        raise web.HTTPUnauthorized()
    if rehashed is not None:
        row.password_hash = rehashed
    await audit.record(
        b, actor=row.username, action="staff.login", target_type="staff", target_id=str(row.id), source=where
    )
    return row


async def logout(request: web.Request) -> web.StreamResponse:
    found = request.get(VIEWER)
    if isinstance(found, Viewer):
        async with desk(request).transaction() as b:
            await audit.record(
                b,
                actor=found.username,
                action="staff.logout",
                target_type="staff",
                target_id=str(found.id),
                source=source(request),
            )
    await end_session(request)
    raise web.HTTPSeeOther("/desk/login")


async def _refused(request: web.Request, target: str, message: str, *, status: int) -> web.Response:
    return await render(request, "login.html", {"next": target, "error": message}, status=status)


def _throttle_keys(keyring: Keyring, username: str, address: str) -> tuple[str, str]:
    """Keyed hashes: the throttle table never holds a name or an address in clear."""
    user = "desk-user:" + keyring.lookup_hash("desk-login", username.casefold())
    where = "desk-addr:" + keyring.lookup_hash("desk-login", "addr:" + address)
    return user, where
