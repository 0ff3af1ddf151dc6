"""`sunshine` as an operator runs it: real subprocesses on a temporary data directory."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bots import demo
from bots.imitation import SMS
from conversations import texts
from core.messages import Choice, Outbound, render_text

SUNSHINE = str(Path(sys.executable).with_name("sunshine"))
MENU_KEYS = ("submit", "lookup", "subsidy", "rate", "human")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("SUNSHINE_")}
    return {
        **clean,
        "SUNSHINE_DATA_DIR": str(tmp_path / "data"),
        "SUNSHINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cli.db'}",
    }


def sunshine(
    tmp_path: Path, env: dict[str, str], *args: str, stdin: str = "", timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SUNSHINE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )


def sms_greeting() -> str:
    language = texts.SOURCE_LANGUAGE
    text = "\n".join(
        [
            texts.text(language, "menu.greeting", concise=True, name=demo.DEMO_BOT_NAME),
            texts.text(language, "menu.prompt", concise=True),
        ]
    )
    choices = tuple(Choice(k, texts.text(language, f"menu.choice.{k}", concise=True)) for k in MENU_KEYS)
    return render_text(Outbound(text, choices), SMS)


def test_chat_reads_a_piped_transcript_and_prints_the_replies(tmp_path: Path, env: dict[str, str]) -> None:
    result = sunshine(tmp_path, env, "chat", "--demo", "--channel", "sms", stdin="你好\n\n   \n")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == sms_greeting().splitlines()
    assert "Traceback" not in result.stderr


def test_handoff_list_reply_and_close(tmp_path: Path, env: dict[str, str]) -> None:
    escalated = sunshine(tmp_path, env, "chat", "--demo", "--as", "visitor-1", stdin="人工\n")
    assert escalated.returncode == 0, escalated.stderr

    listed = sunshine(tmp_path, env, "handoff", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "BOT", "CHANNEL", "STATUS", "WAITING", "SINCE", "LAST", "MESSAGE"]
    handoff_id, bot_id, channel, status, _day, _time, last = row.split()
    assert (bot_id, channel, status, last) == ("demo", "console", "waiting", "人工")
    assert "visitor-1" not in listed.stdout  # nothing personal beyond the channel

    replied = sunshine(tmp_path, env, "handoff", "reply", handoff_id, "您好，我是王芳", "--as", "王芳")
    assert replied.returncode == 0, replied.stderr
    assert f"reply to handoff {handoff_id} queued" in replied.stderr
    assert sunshine(tmp_path, env, "handoff", "list").stdout.splitlines()[1].split()[3] == "claimed"

    closed = sunshine(tmp_path, env, "handoff", "close", handoff_id, "--as", "王芳")
    assert closed.returncode == 0, closed.stderr
    assert f"handoff {handoff_id} closed" in closed.stderr
    after = sunshine(tmp_path, env, "handoff", "list")
    assert (after.returncode, after.stdout, after.stderr.strip()) == (0, "", "no open handoffs")
    again = sunshine(tmp_path, env, "handoff", "close", handoff_id)
    assert (again.returncode, again.stderr.strip()) == (0, f"handoff {handoff_id} was already closed")
    late = sunshine(tmp_path, env, "handoff", "reply", handoff_id, "还在吗")
    assert late.returncode == 1
    assert "is closed" in late.stderr


@pytest.mark.parametrize("command", [("reply", "999", "您好"), ("close", "999")])
def test_an_unknown_handoff_is_a_clear_error(
    tmp_path: Path, env: dict[str, str], command: tuple[str, ...]
) -> None:
    assert sunshine(tmp_path, env, "db", "upgrade").returncode == 0
    result = sunshine(tmp_path, env, "handoff", *command)
    assert (result.returncode, result.stderr.strip()) == (1, "error: no handoff 999")


def test_configuration_mistakes_are_one_line_without_a_traceback(tmp_path: Path, env: dict[str, str]) -> None:
    missing = sunshine(tmp_path, env, "serve", "--config", "nowhere.toml")
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "error: nowhere.toml: no such configuration file",
    )

    no_bots = sunshine(tmp_path, env, "chat")
    assert no_bots.returncode == 1
    assert no_bots.stderr.startswith("error: no bots configured")

    (tmp_path / "bad.toml").write_text("[bots.county]\nchannels = ['pigeon']\n", encoding="utf-8")
    unknown_channel = sunshine(tmp_path, env, "serve", "--config", "bad.toml")
    assert unknown_channel.returncode == 1
    assert "channel 'pigeon' is not installed" in unknown_channel.stderr
    for result in (missing, no_bots, unknown_channel):
        assert "Traceback" not in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(
    port: int, method: str, path: str, body: dict[str, object] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_serve_demo_answers_over_http_and_stops_on_sigterm(tmp_path: Path, env: dict[str, str]) -> None:
    port = free_port()
    server = subprocess.Popen(
        [SUNSHINE, "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = request(port, "GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)

        status, headers, _ = request(port, "GET", "/")
        assert (status, headers["Location"]) == (302, "/chat/demo")
        status, _, page = request(port, "GET", "/chat/demo")
        assert status == 200 and b"chat.js" in page
        message = {"text": "你好", "client_message_id": "first"}
        status, _, body = request(port, "POST", "/chat/demo/api/messages", message)
        assert status == 200
        answer = json.loads(body)
        assert len(answer["session"]) == 32
        assert answer["replies"][0]["text"].startswith(
            texts.text(texts.SOURCE_LANGUAGE, "menu.greeting", name=demo.DEMO_BOT_NAME)
        )
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}/chat/demo" in stdout
    assert f"staff login: {demo.DEMO_STAFF_USERNAME} / " in stdout
    for person in demo.DEMO_PEOPLE:
        assert f"{person.id_number} {person.name}" in stdout
    assert demo.DEMO_PHONE in stdout
    assert "Traceback" not in stderr
