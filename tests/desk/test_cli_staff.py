"""`sunshine staff`: the first admin comes from a terminal; passwords never as arguments."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bots.cli import app
from core.crypto import Keyring
from storage.database import Database
from storage.models import AuditEvent, Staff
from tests.conftest import TEST_SECRET


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "SUNSHINE_DATA_DIR": str(tmp_path),
        "SUNSHINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'staff.db'}",
        "SUNSHINE_SECRET_KEY": TEST_SECRET,
    }


def run(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["staff", *args], input=stdin, env=env)
    return result.exit_code, result.stdout, result.stderr


def accounts(env: dict[str, str]) -> list[Staff]:
    async def read() -> list[Staff]:
        database = Database(env["SUNSHINE_DATABASE_URL"])
        try:
            async with database.reading() as session:
                return list(await session.scalars(select(Staff).order_by(Staff.id)))
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_add_with_a_typed_password_then_list(env: dict[str, str]) -> None:
    code, _, err = run(
        env, "add", "wang", "--role", "staff", "--department", "县民政局", "--display-name", "王芳",
        "--demo", stdin="a-long-password\na-long-password\n",
    )  # fmt: skip
    assert code == 0, err
    assert "added staff wang (县民政局)" in err
    [wang] = accounts(env)
    assert (wang.username, wang.display_name, wang.role, wang.department) == (
        "wang",
        "王芳",
        "staff",
        "县民政局",
    )
    assert Keyring(TEST_SECRET).verify_password(wang.password_hash, "a-long-password")

    code, out, _ = run(env, "list")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["USERNAME", "NAME", "ROLE", "DEPARTMENT", "ACTIVE"]
    assert row.split() == ["wang", "王芳", "staff", "(科室人员)", "县民政局", "yes"]


def test_a_generated_password_is_printed_once_and_stdin_works_for_scripts(env: dict[str, str]) -> None:
    code, out, _ = run(env, "add", "boss", "--role", "admin", "--generate-password")
    assert code == 0
    password = out.strip()
    assert len(password) == 20
    assert (
        run(env, "add", "sue", "--role", "supervisor", "--password-stdin", stdin="piped-password-1\n")[0] == 0
    )
    keyring = Keyring(TEST_SECRET)
    boss, sue = accounts(env)
    assert keyring.verify_password(boss.password_hash, password)
    assert keyring.verify_password(sue.password_hash, "piped-password-1")
    assert password not in "".join(str(row.detail) for row in _audit(env))


def _audit(env: dict[str, str]) -> list[AuditEvent]:
    async def read() -> list[AuditEvent]:
        database = Database(env["SUNSHINE_DATABASE_URL"])
        try:
            async with database.reading() as session:
                return list(await session.scalars(select(AuditEvent)))
        finally:
            await database.dispose()

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "x1", "--role", "staff", "--generate-password"], "", "department staff need a --department"),
        (["add", "x2", "--role", "clerk", "--generate-password"], "", "role must be one of"),
        (
            ["add", "x3", "--department", "火星局", "--demo", "--generate-password"],
            "",
            "unknown department '火星局'",
        ),
        (["add", "x4", "--role", "admin", "--password-stdin"], "short\n", "password too short"),
        (["add", "x5", "--role", "admin"], "one-password-1\nanother-password\n", "Error"),
        (["add", "bad name", "--role", "admin", "--generate-password"], "", "username: 2–48"),
        (["add", "x6", "--role", "admin", "--password-stdin", "--generate-password"], "", "choose one"),
    ],
)
def test_mistakes_are_one_clear_line(env: dict[str, str], args: list[str], stdin: str, message: str) -> None:
    code, out, err = run(env, *args, stdin=stdin)
    assert code != 0
    assert message in out + err
    assert "Traceback" not in out + err


def test_disable_enable_and_new_password(env: dict[str, str]) -> None:
    run(env, "add", "li", "--role", "admin", "--password-stdin", stdin="first-password-1\n")
    assert "no staff account 'nobody'" in run(env, "disable", "nobody")[2]
    assert run(env, "add", "li", "--role", "admin", "--generate-password")[2].strip().endswith("is taken")
    assert run(env, "disable", "li")[0] == 0
    assert not accounts(env)[0].active
    assert run(env, "enable", "li")[0] == 0
    code, out, _ = run(env, "password", "li", "--generate-password")
    assert code == 0
    assert Keyring(TEST_SECRET).verify_password(accounts(env)[0].password_hash, out.strip())
    assert [row.action for row in _audit(env)] == [
        "staff.add",
        "staff.disable",
        "staff.enable",
        "staff.password",
    ]
