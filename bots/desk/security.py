"""Who may do what at the desk: session cookies, the signed-in viewer, CSRF checks, role guards, headers.

Sessions are encrypted cookies (no server-side session table): the key is derived from the
deployment secret, so there is no second secret to manage, and any web process can read any
session. A session names a staff id plus a fingerprint of that account's password hash and its
login time; the account is re-read on every request, so deactivating an account or changing its
password ends its sessions at once, and none lives longer than `SESSION_HOURS`.

Every state-changing request must carry the session's CSRF token (form field or header) and, when
the browser sends one, an Origin of this very host. Anonymous visitors asking for a page are sent
to the login; anything else they try is refused.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_session
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from sqlalchemy import select

from bots.desk.context import ROLE_RANK, VIEWER, Desk, Viewer, desk
from core.crypto import Keyring
from storage.models import Staff

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COOKIE_NAME = "sunshine_desk"
SESSION_HOURS = 12  # one working day and then some: a clerk signs in once a day
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Pages load nothing from elsewhere and run no inline script; citizen text can never become code.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def cookie_storage(keyring: Keyring, *, secure: bool) -> EncryptedCookieStorage:
    """Cookie sessions keyed from the deployment secret (a keyed hash under its own purpose)."""
    key = bytes.fromhex(keyring.lookup_hash("desk-cookie", "session-key/v1"))
    return EncryptedCookieStorage(
        key,
        cookie_name=COOKIE_NAME,
        path="/desk",
        max_age=SESSION_HOURS * 3600,
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def fingerprint(keyring: Keyring, password_hash: str) -> str:
    """Ties a session to the password it was opened with, without putting the hash in the cookie."""
    return keyring.lookup_hash("desk-session", password_hash)[:32]


async def csrf_token(request: web.Request) -> str:
    """The session's token, made on first use (anonymous sessions get one for the login form)."""
    session = await aiohttp_session.get_session(request)
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


async def start_session(request: web.Request, staff: Staff, keyring: Keyring, now: datetime) -> None:
    """A brand-new session for a login: nothing of the anonymous one (its CSRF token included) survives."""
    session = await aiohttp_session.new_session(request)
    session["staff_id"] = staff.id
    session["fp"] = fingerprint(keyring, staff.password_hash)
    session["login_at"] = now.isoformat()
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


async def end_session(request: web.Request) -> None:
    session = await aiohttp_session.get_session(request)
    session.invalidate()


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put the signed-in viewer (or nothing) on the request; a stale session is simply not signed in."""
    request[VIEWER] = await _load_viewer(request, desk(request))
    return await handler(request)


async def _load_viewer(request: web.Request, context: Desk) -> Viewer | None:
    if aiohttp_session.STORAGE_KEY not in request:
        return None
    session = await aiohttp_session.get_session(request)
    staff_id = session.get("staff_id")
    if not isinstance(staff_id, int):
        return None
    try:
        login_at = datetime.fromisoformat(str(session.get("login_at")))
    except ValueError:
        return None
    now = context.now()
    if login_at.tzinfo is None or not now - timedelta(hours=SESSION_HOURS) <= login_at <= now + timedelta(
        minutes=5
    ):
        return None
    async with context.reading() as b:
        staff = await b.session.scalar(select(Staff).where(Staff.id == staff_id))
    if staff is None or not staff.active or staff.id is None:
        return None
    expected = fingerprint(context.deployment.services.keyring, staff.password_hash)
    if not hmac.compare_digest(str(session.get("fp", "")), expected):
        return None
    return Viewer(
        id=staff.id,
        username=staff.username,
        display_name=staff.display_name,
        role=staff.role,
        department=staff.department,
    )


@web.middleware
async def protect_from_forgery(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a state change that does not prove it comes from one of our own pages."""
    if request.method in _SAFE_METHODS:
        return await handler(request)
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(reason="cross-origin request")
    session = await aiohttp_session.get_session(request)
    expected = session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(sent, expected):
        raise web.HTTPForbidden(reason="missing or wrong CSRF token")
    return await handler(request)


def guard(role: str) -> Callable[[Handler], Handler]:
    """Only for signed-in staff of at least `role`; anonymous page views go to the login page."""
    needed = ROLE_RANK[role]

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            found = request.get(VIEWER)
            if not isinstance(found, Viewer):
                if request.method in ("GET", "HEAD"):
                    raise web.HTTPFound(f"/desk/login?next={quote(request.path_qs, safe='')}")
                raise web.HTTPUnauthorized(reason="not signed in")
            if found.role_rank < needed:
                raise web.HTTPForbidden(reason="not allowed for this role")
            return await handler(request)

        return guarded

    return decorate


def safe_next(target: str | None) -> str:
    """Where to go after login: only a desk page of this site, never an open redirect."""
    if not target or not target.startswith("/desk") or target.startswith("//") or "\\" in target:
        return "/desk/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/desk/"
    return target


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")


def form_text(form: Any, name: str, *, limit: int = 5000) -> str:
    """A form field as stripped text, capped; missing or a file upload reads as empty."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""
