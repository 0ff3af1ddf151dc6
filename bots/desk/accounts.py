"""Staff accounts: add, list, enable or disable, set a password. Used by `sunshine staff` and the admin page.

Passwords are hashed like query passwords (peppered with a key from the deployment secret, then
argon2id) and never stored or logged in clear; a generated one is shown once to whoever created it.
"""

from __future__ import annotations

import asyncio
import re
import secrets

from sqlalchemy import select

from core import audit
from core.backend import Backend
from storage.models import Staff

ROLES = ("admin", "supervisor", "staff")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,47}$")
MIN_PASSWORD = 10


class AccountError(ValueError):
    """A request an operator can correct: `code` for the desk's Chinese message, the text for the CLI."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def generated_password() -> str:
    """About 96 bits, in characters nobody misreads over the phone."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(6)) for _ in range(3))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError("password", f"password too short: at least {MIN_PASSWORD} characters")


async def add(
    b: Backend,
    *,
    username: str,
    display_name: str,
    role: str,
    department: str | None,
    password: str,
    actor: str,
    source: str,
) -> Staff:
    username = username.strip()
    if not USERNAME.match(username):
        raise AccountError(
            "username", "username: 2–48 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise AccountError("role", f"role must be one of {', '.join(ROLES)}")
    department = (department or "").strip() or None
    if role == "staff" and department is None:
        raise AccountError("department", "department staff need a --department")
    check_password(password)
    if await b.session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise AccountError("taken", f"username {username!r} is taken")
    staff = Staff(
        username=username,
        display_name=display_name.strip()[:128] or username,
        password_hash=await asyncio.to_thread(b.keyring.hash_password, password),
        role=role,
        department=department,
        active=True,
        created_at=b.clock.now(),
    )
    b.session.add(staff)
    await b.session.flush()
    await audit.record(
        b,
        actor=actor,
        action="staff.add",
        target_type="staff",
        target_id=str(staff.id),
        detail={"username": username, "role": role, "department": department},
        source=source,
    )
    return staff


async def set_active(b: Backend, username: str, active: bool, *, actor: str, source: str) -> Staff:
    staff = await _locked(b, username)
    if staff.active != active:
        staff.active = active
        await audit.record(
            b,
            actor=actor,
            action="staff.enable" if active else "staff.disable",
            target_type="staff",
            target_id=str(staff.id),
            detail={"username": username},
            source=source,
        )
    return staff


async def set_password(b: Backend, username: str, password: str, *, actor: str, source: str) -> Staff:
    """A new password; every session opened with the old one ends (the session fingerprint changes)."""
    check_password(password)
    staff = await _locked(b, username)
    staff.password_hash = await asyncio.to_thread(b.keyring.hash_password, password)
    await audit.record(
        b,
        actor=actor,
        action="staff.password",
        target_type="staff",
        target_id=str(staff.id),
        detail={"username": username},
        source=source,
    )
    return staff


async def everyone(b: Backend) -> list[Staff]:
    return list(await b.session.scalars(select(Staff).order_by(Staff.role, Staff.department, Staff.username)))


async def _locked(b: Backend, username: str) -> Staff:
    staff = await b.session.scalar(select(Staff).where(Staff.username == username).with_for_update())
    if staff is None:
        raise AccountError("missing", f"no staff account {username!r}")
    return staff
