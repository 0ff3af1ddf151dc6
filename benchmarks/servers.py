"""The processes the inbound benchmark talks to, each pinned to one core: the real `sunshine serve`, two
baselines (a bare aiohttp Twilio handler, aiogram's own webhook handler with an echo), and a platform
sink that plays Twilio's and Telegram's sending APIs for whatever the outbox sends.

Pinning is why the figures mean anything on a small machine: the server under test and its baselines
get core 0 and nothing else, the load generator and the sink get core 1, so the load generator never
takes the server's CPU. The baselines run in their own processes (`python -m benchmarks.servers ...`)
so they pay the same interpreter start, import and event-loop costs as the real server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

BOT = "county"
PUBLIC = "https://gov.example.cn"  # what Twilio signs: the service sits "behind a proxy"
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "benchmark-auth-token-0123456789ab"
SMS_NUMBER = "+15005550006"
TELEGRAM_TOKEN = "123456789:AAbenchmarkTokenNotForProduction0123"
TELEGRAM_SECRET = "benchmark-webhook-secret-0123456789"
SECRET_KEY = "benchmark-secret-key-not-for-production-0123456789"
DEPARTMENTS = ("县住建局", "县人社局", "城关镇", "河西镇")
SERVER_CPU = 0
LOAD_CPU = 1
_READY_SECONDS = 180.0  # importing on a busy machine can take a minute
# What the SMS baseline answers: as long as the real service's menu, so both send a like-sized body.
BASELINE_REPLY = "您好，这里是阳光县政务服务。\n请回复数字：\n1 投诉举报 2 查进度 3 查补贴 4 评价 5 人工"


def cores() -> set[int]:
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()


def pinnable() -> bool:
    """Server and load generator can have a core each only when both cores are ours to use."""
    return {SERVER_CPU, LOAD_CPU} <= cores()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """One running process and where it answers."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    cpu: int
    health: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, grace: float = 20.0) -> int:
        """SIGTERM, then SIGKILL after `grace` seconds (a profiled server needs longer: it writes its
        report on the way out)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def _spawn(name: str, argv: list[str], root: Path, port: int, cpu: int, env: dict[str, str] | None = None,
           health: str = "/healthz") -> Server:
    """Start a process unpinned; `ready` waits for it and then pins it to `cpu`.

    Starting unpinned lets the processes import in parallel on both cores (importing aiogram alone takes
    seconds); every thread is moved to its core before anything is measured.
    """
    log_path = root / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=root,
            env=env if env is not None else _clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    return Server(name, process, port, log_path, cpu, health)


def ready(*started: Server) -> None:
    """Wait until each answers its health check, then pin all its threads (later ones inherit it)."""
    for server in started:
        _wait_ready(server, server.health)
        if pinnable():
            for task in Path(f"/proc/{server.pid}/task").iterdir():
                with contextlib.suppress(ProcessLookupError):
                    os.sched_setaffinity(int(task.name), {server.cpu})


def _clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUNSHINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n{server.log_text()}")
        with contextlib.suppress(OSError, urllib.error.URLError), \
                urllib.request.urlopen(server.url(path), timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer {path}:\n{server.log_text()}")


def _python_m(role: str, port: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.servers", role, "--port", str(port)]


def sunshine_config(root: Path, platform_base: str) -> Path:
    """The TOML an operator would write: SMS and Telegram (webhook mode) on one bot, fresh SQLite."""

    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string for everything used here

    path = root / "sunshine.toml"
    path.write_text(
        f"""\
data_dir = {q(str(root / "data"))}
public_base_url = {q(PUBLIC)}

[policy]
quiet_hours = []

[bots.{BOT}]
name = "阳光县政务服务"
channels = ["sms", "telegram"]
departments = [{", ".join(q(d) for d in DEPARTMENTS)}]

[channels.sms.{BOT}]
account_sid = {q(ACCOUNT_SID)}
auth_token = {q(AUTH_TOKEN)}
from_number = {q(SMS_NUMBER)}
api_base = {q(platform_base)}

[channels.telegram.{BOT}]
token = {q(TELEGRAM_TOKEN)}
secret_token = {q(TELEGRAM_SECRET)}
api_base = {q(platform_base)}
""",
        encoding="utf-8",
    )
    return path


def _sunshine() -> list[str]:
    script = Path(sys.executable).with_name("sunshine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bots.cli"]


def start_sunshine(root: Path, platform_base: str, *, profile: Path | None = None) -> Server:
    """`sunshine serve` on a fresh SQLite database, pinned to the server core.

    With `profile`, it runs under pyinstrument, which writes its report there when the server stops.
    """
    config = sunshine_config(root, platform_base)
    port = free_port()
    env = _clean_env()
    env["SUNSHINE_SECRET_KEY"] = SECRET_KEY
    argv = [*_sunshine(), "serve", "--config", str(config), "--port", str(port)]
    if profile is not None:
        argv = [sys.executable, "-m", "pyinstrument", "--interval", "0.005", "-o", str(profile),
                "-m", "bots.cli", *argv[-5:]]
    return _spawn("sunshine", argv, root, port, SERVER_CPU, env)


def start_sms_baseline(root: Path) -> Server:
    port = free_port()
    return _spawn("sms-baseline", _python_m("sms-baseline", port), root, port, SERVER_CPU, health="/")


def start_telegram_baseline(root: Path) -> Server:
    port = free_port()
    return _spawn("telegram-baseline", _python_m("telegram-baseline", port), root, port, SERVER_CPU,
                  health="/")


def start_sink(root: Path) -> Server:
    """The platforms' sending APIs, on the load generator's core (they are not what is measured)."""
    port = free_port()
    return _spawn("platform-sink", _python_m("sink", port), root, port, LOAD_CPU, health="/count")


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as name:
        yield Path(name)


# ---------------------------------------------------------------- the processes' own code


def _sms_baseline(port: int) -> None:
    """A bare aiohttp handler: read the form as the real webhook does, answer one TwiML message."""
    from aiohttp import web

    async def incoming(request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode("utf-8"), keep_blank_values=True))
        if not form.get("MessageSid") or not form.get("From"):
            return web.Response(status=400)
        body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(BASELINE_REPLY)}' \
               "</Message></Response>"
        return web.Response(text=body, content_type="text/xml", charset="utf-8")

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_post(f"/webhooks/sms/{BOT}", incoming)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _telegram_baseline(port: int) -> None:
    """aiogram's own SimpleRequestHandler; an echo handler answers through the webhook response."""
    from aiogram import Bot, Dispatcher
    from aiogram.methods import SendMessage
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler
    from aiohttp import web

    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> SendMessage:
        return message.answer(message.text or "?")

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    handler = SimpleRequestHandler(dispatcher, Bot(TELEGRAM_TOKEN), handle_in_background=False,
                                   secret_token=TELEGRAM_SECRET)
    handler.register(app, path=f"/webhooks/telegram/{BOT}")
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _sink(port: int) -> None:
    """Accepts every send as Twilio and Telegram would, and counts them (GET /count)."""
    from aiohttp import web

    sent = {"sms": 0, "telegram": 0}

    async def twilio(request: web.Request) -> web.Response:
        form = await request.post()
        sent["sms"] += 1
        sid = f"SM{sent['sms']:032x}"
        answer = {"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body"),
                  "account_sid": ACCOUNT_SID, "num_segments": "1", "error_code": None}
        return web.json_response(answer, status=201)

    async def telegram(request: web.Request) -> web.Response:
        sent["telegram"] += 1
        if request.match_info["method"].lower() != "sendmessage":
            return web.json_response({"ok": True, "result": True})
        form = await request.post()
        message = {"message_id": sent["telegram"], "date": int(time.time()),
                   "chat": {"id": int(str(form.get("chat_id", "0"))), "type": "private"},
                   "text": str(form.get("text", ""))}
        return web.json_response({"ok": True, "result": message})

    async def count(request: web.Request) -> web.Response:
        return web.json_response(sent)

    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", twilio)
    app.router.add_post("/bot{token}/{method}", telegram)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.servers")
    parser.add_argument("role", choices=("sms-baseline", "telegram-baseline", "sink"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    roles = {"sms-baseline": _sms_baseline, "telegram-baseline": _telegram_baseline, "sink": _sink}
    roles[args.role](args.port)


if __name__ == "__main__":
    main()
