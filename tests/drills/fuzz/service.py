"""The whole service as the fuzzer meets it: the real app from `bots.app` with every webhook channel, one
database, a fake Telegram API for the calls a webhook makes, and the checks that hold after any request.

One service serves many examples (building the app and migrating a database per example would leave
time for a few hundred cases, not a hundred thousand), so every check is global: it holds for the
whole database, whatever earlier examples wrote.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bots.app import build_app
from bots.bootstrap import Deployment, bootstrap
from bots.demo import DEMO_DEPARTMENTS
from bots.settings import BotSettings, Settings
from channels.telegram import TelegramChannel
from channels.telegram.limits import RateLimiter
from core.clock import FixedClock
from tests.channels.telegram.conftest import VirtualTime
from tests.channels.wechat.wire import AES_KEY
from tests.channels.wechat.wire import TOKEN as WECHAT_TOKEN
from tests.conftest import START, TEST_SECRET
from tests.fakes.telegram_api import FakeTelegram, start_fake
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.wechat_api import APP_ID, APP_SECRET

BOT = "county"
PUBLIC = "https://gov.example.cn"
SMS_FROM = "+15005550006"
TELEGRAM_TOKEN = "123456789:AAfuzz-token-0123456789abcdefghij"
TELEGRAM_SECRET = "fuzz-webhook-secret-0123456789abc"
NOWHERE = "http://127.0.0.1:9/"  # the discard port: nothing here sends, and nothing may be sent


class ErrorLog(logging.Handler):
    """Every ERROR the process logs while fuzzing: aiohttp's "Error handling request", the app's own
    500 handler, an asyncio task that died. Any one of them is a finding, even behind a 4xx."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        where = f"{record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            where += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
        self.records.append(where[:2000])

    def take(self) -> list[str]:
        taken, self.records = self.records, []
        return taken


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def settings_for(database_url: str, data_dir: Path, telegram_api: str) -> Settings:
    """One bot on every channel that parses what a platform posts, with the test fakes' credentials."""
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=TEST_SECRET,
        public_base_url=PUBLIC,
        bots={
            BOT: BotSettings(
                channels=["webchat", "sms", "wechat", "telegram"], departments=list(DEMO_DEPARTMENTS)
            )
        },
        channels={
            "sms": {
                BOT: {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "from_number": SMS_FROM,
                    "api_base": NOWHERE,
                }
            },
            "wechat": {
                BOT: {
                    "token": WECHAT_TOKEN,
                    "app_id": APP_ID,
                    "app_secret": APP_SECRET,
                    "encoding_aes_key": AES_KEY,
                    "mode": "compatible",  # takes plain and encrypted callbacks: both parsers are fuzzed
                    "api_base": NOWHERE,
                }
            },
            "telegram": {
                BOT: {"token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET, "api_base": telegram_api}
            },
        },
    )


class FuzzService:
    """The running app plus what the checks need: the planted secret file, the error log, the database."""

    def __init__(
        self, deployment: Deployment, client: TestClient, telegram: FakeTelegram, planted: Path, log: ErrorLog
    ) -> None:
        self.deployment = deployment
        self.client = client
        self.telegram = telegram
        self.planted = planted  # a file an XXE payload names; its content must never come back
        self.marker = planted.read_text(encoding="utf-8").strip()
        self.log = log

    @classmethod
    async def start(cls, database_url: str, work_dir: Path) -> FuzzService:
        log = ErrorLog()
        logging.getLogger().addHandler(log)
        planted = work_dir / "planted-secret.txt"
        planted.write_text(f"PLANTED-{secrets.token_hex(12)}\n", encoding="utf-8")
        telegram = await start_fake(TELEGRAM_TOKEN)
        settings = settings_for(database_url, work_dir / "data", telegram.base_url)
        deployment = bootstrap(settings, password_cost="fast", clock=FixedClock(START))
        await deployment.services.database.upgrade()
        channel = deployment.channels["telegram"]
        if isinstance(channel, TelegramChannel):
            # Telegram allows a chat one message a second; the fuzzer's few chats would wait that second
            # on every example. The limiter's schedule runs on a clock that moves only when slept on.
            virtual = VirtualTime()
            channel.clients.use_limiter(BOT, RateLimiter(clock=virtual.clock, sleep=virtual.sleep))
        client = TestClient(TestServer(build_app(deployment, dispatch=False), host="127.0.0.1"))
        await client.start_server()
        return cls(deployment, client, telegram, planted, log)

    async def close(self) -> None:
        try:
            await self.client.close()  # the app's cleanup closes the deployment and its database
            await self.telegram.close()
        finally:
            logging.getLogger().removeHandler(self.log)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        async with self.client.request(method, path, params=params, data=data, headers=headers) as response:
            body = await response.read()
            return Reply(response.status, body, dict(response.headers))

    def verdict(self, reply: Reply) -> list[str]:
        """What is wrong with one answer: a 5xx, the planted secret in it, an error in the log."""
        problems = [f"logged: {line}" for line in self.log.take()]
        if reply.status >= 500:
            problems.append(f"status {reply.status}: {reply.text[:300]}")
        if self.marker.encode() in reply.body:
            problems.append("the planted file's content came back in the reply")
        return problems

    def log_problems(self) -> list[str]:
        return [f"logged: {line}" for line in self.log.take()]

    async def settle(self) -> None:
        """Let steps that outlived their webhook's budget finish, so the database is between messages."""
        await self.deployment.pipeline.drain()

    async def check_database(self) -> list[str]:
        """The invariants of a consistent database; each query counts the rows that break one."""
        await self.settle()
        problems: list[str] = []
        async with self.deployment.services.database.reading() as session:
            for name, query in INVARIANTS.items():
                count = int((await session.execute(text(query), {"marker": f"%{self.marker}%"})).scalar_one())
                if count:
                    problems.append(f"database: {count} row(s) {name}")
        return problems + [f"logged: {line}" for line in self.log.take()]

    async def count(self, table: str) -> int:
        async with self.deployment.services.database.reading() as session:
            return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


# Each query counts violations; all must stay at zero whatever was posted.
INVARIANTS = {
    # The pipeline logs a message, steps the conversation and queues its replies in one transaction; a
    # step stays silent only while a person has the conversation (an open or closed handoff).
    "of inbound messages without replies and without a handoff": """
        SELECT count(*) FROM inbound_messages i
        WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.inbound_id = i.id)
          AND NOT EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = i.conversation_id)
    """,
    "of inbound messages newer than their conversation's last message": """
        SELECT count(*) FROM inbound_messages i JOIN conversations c ON c.id = i.conversation_id
        WHERE c.last_inbound_at IS NULL OR c.last_inbound_at < i.received_at
    """,
    "of replies for a conversation other than their message's": """
        SELECT count(*) FROM outbox o JOIN inbound_messages i ON i.id = o.inbound_id
        WHERE o.conversation_id <> i.conversation_id OR o.channel <> i.channel OR o.bot_id <> i.bot_id
    """,
    "of cases without their 'submitted' event": """
        SELECT count(*) FROM cases c
        WHERE NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = 'submitted')
    """,
    "of cases with an empty description": "SELECT count(*) FROM cases WHERE trim(description) = ''",
    "of repeats linked to a case that is itself a repeat (links are one level deep)": """
        SELECT count(*) FROM cases c JOIN cases p ON p.id = c.primary_id WHERE p.primary_id IS NOT NULL
    """,
    "holding the planted file's content": """
        SELECT (SELECT count(*) FROM inbound_messages WHERE text LIKE :marker
                   OR CAST(attachments AS TEXT) LIKE :marker)
             + (SELECT count(*) FROM outbox WHERE CAST(payload AS TEXT) LIKE :marker)
             + (SELECT count(*) FROM cases WHERE description LIKE :marker)
             + (SELECT count(*) FROM case_events WHERE CAST(detail AS TEXT) LIKE :marker)
    """,
}
