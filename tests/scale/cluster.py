"""A deployment as real processes: `sunshine serve` and `sunshine worker` on one PostgreSQL database.

Every process is started from the same TOML file, as an operator would; only the WeChat app secret is
set per process (through the environment), so the fake platform can say which process sent what.
Each process logs to its own file, which the tests read for errors and show when something fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp

from tests.channels.wechat.wire import TOKEN as WECHAT_TOKEN
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.wechat_api import APP_ID
from tests.scale.platforms import Platforms

BOT = "county"
PUBLIC = "https://gov.example.cn"  # what Twilio signs; the processes sit "behind a proxy"
SMS_NUMBER = "+15005550006"
SECRET_KEY = "scale-test-secret-not-for-production-0123456789"
DEPARTMENTS = ("县住建局", "县人社局", "城关镇")
_STARTUP_SECONDS = 60.0
_STOP_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wechat_secret(process: str) -> str:
    return f"app-secret-of-{process}"


@dataclass
class Process:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    log: IO[bytes]
    port: int | None = None

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class Cluster:
    def __init__(
        self,
        root: Path,
        database_url: str,
        platforms: Platforms,
        *,
        lease_seconds: float = 60.0,
        pool_size: int = 4,
        passive_budget: float = 0.001,
    ) -> None:
        self.root = root
        self.database_url = database_url
        self.platforms = platforms
        self.processes: list[Process] = []
        self.config = root / "sunshine.toml"
        self.config.write_text(
            _config(database_url, root, platforms, lease_seconds, pool_size, passive_budget), encoding="utf-8"
        )

    # ---- commands

    async def upgrade(self) -> None:
        process = await self._spawn("upgrade", ["db", "upgrade"])
        code = await asyncio.wait_for(process.process.wait(), _STARTUP_SECONDS)
        assert code == 0, f"sunshine db upgrade failed ({code}):\n{process.log_text()}"

    async def start_web(self, name: str) -> Process:
        port = free_port()
        process = await self._spawn(name, ["serve", "--port", str(port)])
        process.port = port
        return process

    async def start_worker(self, name: str) -> Process:
        return await self._spawn(name, ["worker"])

    async def wait_until_ready(self, process: Process) -> None:
        """A web process answers its health check; a worker has said it is dispatching."""
        deadline = time.monotonic() + _STARTUP_SECONDS
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert process.alive, f"{process.name} exited:\n{process.log_text()}"
                if process.port is None:
                    if "dispatching outbox messages" in process.log_text():
                        return
                else:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"http://127.0.0.1:{process.port}/healthz") as response:
                            if response.status == 200:
                                return
                await asyncio.sleep(0.2)
        raise AssertionError(f"{process.name} did not get ready:\n{process.log_text()}")

    def kill(self, process: Process) -> None:
        process.process.send_signal(signal.SIGKILL)

    async def stop(self, process: Process) -> int:
        """SIGTERM, as systemd or compose would; a process that does not stop in time is killed."""
        if process.alive:
            process.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.process.wait(), _STOP_SECONDS)
        except TimeoutError:
            process.process.kill()
            code = await process.process.wait()
        process.log.close()
        return code

    async def stop_all(self) -> dict[str, int]:
        running = [p for p in self.processes if not p.log.closed]
        codes = await asyncio.gather(*(self.stop(p) for p in running))
        return {p.name: code for p, code in zip(running, codes, strict=True)}

    def problems(self) -> list[str]:
        """Log lines that mean a request or a send went wrong in some process."""
        found = []
        for process in self.processes:
            for line in process.log_text().splitlines():
                if " ERROR " in line or "Traceback" in line or " 500 " in line:
                    found.append(f"{process.name}: {line}")
        return found

    def logs(self) -> str:
        return "\n".join(f"===== {p.name}\n{p.log_text()[-4000:]}" for p in self.processes)

    async def _spawn(self, name: str, args: list[str]) -> Process:
        env = {key: value for key, value in os.environ.items() if not key.startswith("SUNSHINE_")}
        env.update(
            SUNSHINE_SECRET_KEY=SECRET_KEY,
            SUNSHINE_CHANNELS__WECHAT__COUNTY__APP_SECRET=wechat_secret(name),
            PYTHONUNBUFFERED="1",
        )
        log_path = self.root / f"{name}.log"
        log = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            *_sunshine(),
            *args,
            "--config",
            str(self.config),
            cwd=self.root,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        started = Process(name, process, log_path, log)
        self.processes.append(started)
        return started


def _sunshine() -> list[str]:
    script = Path(sys.executable).with_name("sunshine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bots.cli"]


def _config(
    database_url: str,
    root: Path,
    platforms: Platforms,
    lease_seconds: float,
    pool_size: int,
    passive_budget: float,
) -> str:
    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string for everything used here

    return f"""\
database_url = {q(database_url)}
database_pool_size = {pool_size}
data_dir = {q(str(root / "data"))}
public_base_url = {q(PUBLIC)}

[policy]
outbox_lease_seconds = {lease_seconds}
quiet_hours = []

[bots.{BOT}]
name = "阳光县政务服务"
channels = ["sms", "wechat"]
departments = [{", ".join(q(d) for d in DEPARTMENTS)}]

[channels.sms.{BOT}]
account_sid = {q(ACCOUNT_SID)}
auth_token = {q(AUTH_TOKEN)}
from_number = {q(SMS_NUMBER)}
api_base = {q(platforms.base)}
max_per_second = 50

[channels.wechat.{BOT}]
token = {q(WECHAT_TOKEN)}
app_id = {q(APP_ID)}
app_secret = "set for each process in the environment"
mode = "plain"
passive_budget_seconds = {passive_budget}
api_base = {q(platforms.wechat_api_base)}
timestamp_tolerance_seconds = 0
"""
