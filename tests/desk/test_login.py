"""Signing in and out: generic failures, throttling, session rotation, cookie flags, CSRF, revocation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bots.bootstrap import Deployment
from bots.desk import accounts
from bots.desk.security import COOKIE_NAME, cookie_storage
from core.clock import FixedClock
from core.crypto import Keyring
from storage.models import AuditEvent
from tests.desk.conftest import PASSWORD, World

WRONG = "用户名或密码错误"
LOCKED = "尝试次数过多"


async def _audit(deployment: Deployment, action: str) -> list[AuditEvent]:
    async with deployment.services.database.reading() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    desk = await desk_as(None)
    for name in ("alice", "nobody-here"):
        response = await desk.login(name, "not-the-password")
        assert response.status == 401
        assert WRONG in await response.text()
    failures = await _audit(deployment, "staff.login_failed")
    assert sorted(row.actor for row in failures) == ["alice", "unknown"]
    assert all(row.source == "desk 127.0.0.1" for row in failures)


async def test_login_rotates_the_session_and_records_it(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    desk = await desk_as(None)
    before_token = desk.csrf
    before_cookie = desk.client.session.cookie_jar.filter_cookies(desk.client.make_url("/desk/"))[
        COOKIE_NAME
    ].value
    response = await desk.login("alice")
    assert (response.status, response.headers["Location"]) == (303, "/desk/")
    after_cookie = desk.client.session.cookie_jar.filter_cookies(desk.client.make_url("/desk/"))[
        COOKIE_NAME
    ].value
    assert after_cookie != before_cookie
    assert desk.csrf and desk.csrf != before_token
    # The anonymous session's token is worthless now.
    stale = await desk.post(f"/desk/cases/{world.case_a}/accept", {"csrf": before_token})
    assert stale.status == 403
    [login] = await _audit(deployment, "staff.login")
    assert (login.actor, login.target_type, login.source) == ("alice", "staff", "desk 127.0.0.1")


async def test_the_session_cookie_is_httponly_samesite_and_scoped_to_the_desk(
    world: World, desk_as: Any
) -> None:
    desk = await desk_as(None)
    response = await desk.post("/desk/login", {"username": "alice", "password": PASSWORD})
    header = response.headers["Set-Cookie"]
    assert header.startswith(COOKIE_NAME + "=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/desk" in header
    assert "Secure" not in header  # plain http here; see the next test
    assert "Max-Age=43200" in header


def test_cookies_are_secure_when_the_public_address_is_https() -> None:
    storage = cookie_storage(Keyring("x" * 32, password_cost="fast"), secure=True)
    assert storage.cookie_params["secure"] is True
    assert storage.cookie_params["httponly"] is True and storage.cookie_params["samesite"] == "Lax"


async def test_five_wrong_passwords_lock_the_name_for_fifteen_minutes(
    world: World, desk_as: Any, clock: FixedClock
) -> None:
    desk = await desk_as(None)
    for _ in range(5):
        assert (await desk.login("alice", "guess")).status == 401
    locked = await desk.login("alice")
    assert locked.status == 429 and LOCKED in await locked.text()
    # A name without an account locks exactly the same way: the lockout says nothing about existence.
    for _ in range(5):
        assert (await desk.login("ghost", "guess")).status == 401
    assert (await desk.login("ghost", "guess")).status == 429
    clock.advance(minutes=16)
    assert (await desk.login("alice")).status == 303


async def test_many_failures_from_one_address_lock_the_address(world: World, desk_as: Any) -> None:
    desk = await desk_as(None)
    for attempt in range(20):
        assert (await desk.login(f"guess{attempt}", "guess")).status == 401
    assert (await desk.login("bob")).status == 429


async def test_every_post_needs_the_sessions_csrf_token(world: World, desk_as: Any) -> None:
    desk = await desk_as("alice")
    path = f"/desk/cases/{world.case_a}/note"
    assert (await desk.post(path, {"text": "x"}, csrf=False)).status == 403
    assert (await desk.post(path, {"text": "x", "csrf": "forged"})).status == 403
    other = await desk_as("bob")
    assert (await desk.post(path, {"text": "x", "csrf": other.csrf})).status == 403
    by_header = await desk.client.post(
        path, data={"text": "x"}, headers={"X-CSRF-Token": desk.csrf}, allow_redirects=False
    )
    assert by_header.status == 303
    cross_site = await desk.post(path, {"text": "x"}, headers={"Origin": "https://evil.example"})
    assert cross_site.status == 403
    # The login form is protected too (login CSRF).
    anonymous = await desk_as(None)
    assert (
        await anonymous.post("/desk/login", {"username": "alice", "password": PASSWORD}, csrf=False)
    ).status == 403


async def test_logout_ends_the_session(world: World, desk_as: Any, deployment: Deployment) -> None:
    desk = await desk_as("alice")
    response = await desk.post("/desk/logout")
    assert (response.status, response.headers["Location"]) == (303, "/desk/login")
    assert (await desk.get("/desk/queue")).status == 302
    assert [row.actor for row in await _audit(deployment, "staff.logout")] == ["alice"]


async def test_disabling_an_account_or_changing_its_password_ends_its_sessions(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    alice = await desk_as("alice")
    bob = await desk_as("bob")
    async with deployment.services.database.transaction() as session:
        b = deployment.services.backend(session)
        await accounts.set_active(b, "alice", False, actor="test", source="test")
        await accounts.set_password(b, "bob", "another-long-password", actor="test", source="test")
    assert (await alice.get("/desk/queue")).status == 302
    assert (await bob.get("/desk/queue")).status == 302
    assert (await alice.login("alice")).status == 401  # disabled: the generic answer
    assert (await bob.login("bob", "another-long-password")).status == 303


async def test_a_session_lasts_one_working_day(world: World, desk_as: Any, clock: FixedClock) -> None:
    desk = await desk_as("alice")
    clock.advance(hours=11)
    assert (await desk.get("/desk/queue")).status == 200
    clock.advance(hours=2)
    assert (await desk.get("/desk/queue")).status == 302


async def test_login_only_returns_to_desk_pages(world: World, desk_as: Any) -> None:
    desk = await desk_as(None)
    page = await desk.get("/desk/login?next=//evil.example/x")
    assert 'value="/desk/"' in await page.text()
    response = await desk.post(
        "/desk/login", {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/desk/"
    again = await desk_as(None)
    await again.get("/desk/login?next=%2Fdesk%2Fcases%3Fkind%3Dtip")
    response = await again.post(
        "/desk/login", {"username": "alice", "password": PASSWORD, "next": "/desk/cases?kind=tip"}
    )
    assert response.headers["Location"] == "/desk/cases?kind=tip"


async def test_pages_carry_security_headers(world: World, desk_as: Any) -> None:
    desk = await desk_as("alice")
    page = await desk.get("/desk/queue")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
