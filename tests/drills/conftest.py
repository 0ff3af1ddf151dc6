"""The whole service as the platforms see it, for the security drills: one bootstrapped deployment with
every channel enabled (SMS, WeChat in safe mode, Telegram, web chat for bot "county"; WeChat in plain
mode for bot "town"), its real aiohttp app with the production access logger, local fakes for every
platform API, and one `Wire` per channel that builds requests exactly as the platform would sign them.

A drill sends the same prepared `Request` as often as it likes (a replay) or tampers with it (a
forgery); `Drill.say` drives a conversation on any channel and returns every reply the step produced,
read back through the outbox, so the drills do not care which replies rode in the HTTP response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, inspect, select, text

from bots import demo
from bots.app import AccessLogger, build_app
from bots.bootstrap import Deployment, bootstrap
from bots.pipeline import Services
from bots.settings import BotSettings, Settings
from channels.telegram.limits import RateLimiter
from core import inbox, outbox
from core.clock import FixedClock
from core.messages import Outbound, render_text
from storage.database import Database
from storage.models import InboundMessage
from tests.channels.sms.conftest import messages_of
from tests.channels.sms.conftest import sign as twilio_sign
from tests.channels.telegram.builders import text as telegram_text
from tests.channels.telegram.conftest import SECRET as TELEGRAM_SECRET
from tests.channels.telegram.conftest import TOKEN as TELEGRAM_TOKEN
from tests.channels.telegram.conftest import VirtualTime
from tests.channels.wechat.wire import AES_KEY, Callback, encrypted, fields_of, plain, read_reply
from tests.channels.wechat.wire import TOKEN as WECHAT_TOKEN
from tests.conftest import TEST_SECRET
from tests.fakes.telegram_api import FakeTelegram, start_fake
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.fakes.wechat_api import APP_ID, APP_SECRET, FakeWeChatApi

BOT = "county"
PLAIN_BOT = "town"  # WeChat in plain mode: its signature covers the query only
PUBLIC = "https://gov.example.cn"
SMS_FROM = "+15005550006"
CHANNELS = ("sms", "wechat", "telegram", "webchat")

MakeClient = Callable[..., Awaitable[TestClient]]


@dataclass(frozen=True)
class Request:
    """One HTTP request, byte for byte, that can be sent again unchanged."""

    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str


class Wire(Protocol):
    """How one platform writes a citizen's message and reads the answer in its response."""

    channel: str

    def request(self, sender: str, text: str, message_id: str) -> Request: ...

    def provider_id(self, sender: str, message_id: str) -> str: ...

    def replies(self, answer: Answer) -> list[str]: ...


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class SmsWire:
    channel = "sms"

    def __init__(self, bot: str = BOT) -> None:
        self.path = f"/webhooks/sms/{bot}"

    def provider_id(self, sender: str, message_id: str) -> str:
        return "SM" + _digest("sms", sender, message_id)[:32]

    def form(self, sender: str, text: str, message_id: str) -> dict[str, str]:
        sid = self.provider_id(sender, message_id)
        return {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": SMS_FROM,
            "Body": text,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }

    def signed(
        self, form: dict[str, str], *, token: str = AUTH_TOKEN, signed_form: dict[str, str] | None = None
    ) -> Request:
        """`form` with the X-Twilio-Signature Twilio computes (over `signed_form` when given)."""
        signature = twilio_sign(PUBLIC + self.path, signed_form or form, token)
        return Request(
            self.path,
            urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )

    def request(self, sender: str, text: str, message_id: str) -> Request:
        return self.signed(self.form(sender, text, message_id))

    def replies(self, answer: Answer) -> list[str]:
        return messages_of(answer.body)


class WeChatWire:
    channel = "wechat"

    def __init__(self, bot: str = BOT, *, encrypt: bool = True) -> None:
        self.path = f"/webhooks/wechat/{bot}"
        self.encrypt = encrypt

    def provider_id(self, sender: str, message_id: str) -> str:
        return str(int(_digest("wechat", sender, message_id)[:15], 16))

    def fields(self, sender: str, text: str, message_id: str) -> dict[str, Any]:
        msg_id = self.provider_id(sender, message_id)
        return fields_of("text", FromUserName=sender, Content=text, MsgId=msg_id)

    def callback(self, fields: dict[str, Any], **options: Any) -> Callback:
        return encrypted(fields, **options) if self.encrypt else plain(fields, **options)

    def of(self, callback: Callback) -> Request:
        body = callback.body.encode() if isinstance(callback.body, str) else callback.body
        return Request(self.path, body, {"Content-Type": "text/xml"}, dict(callback.query))

    def request(self, sender: str, text: str, message_id: str) -> Request:
        return self.of(self.callback(self.fields(sender, text, message_id)))

    def replies(self, answer: Answer) -> list[str]:
        if answer.body == "success":
            return []
        return [str(read_reply(answer.body)["Content"])]


class TelegramWire:
    channel = "telegram"
    path = f"/webhooks/telegram/{BOT}"

    def update(self, sender: str, text: str, message_id: str) -> dict[str, Any]:
        update_id = int(_digest("telegram", sender, message_id)[:8], 16)
        return telegram_text(update_id, text, chat=int(sender))

    def provider_id(self, sender: str, message_id: str) -> str:
        update = self.update(sender, "", message_id)
        return f"{update['update_id']}:{int(update['message']['date'])}"

    def of(self, update: dict[str, Any], secret: str | None = TELEGRAM_SECRET) -> Request:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return Request(self.path, json.dumps(update, ensure_ascii=False).encode(), headers)

    def request(self, sender: str, text: str, message_id: str) -> Request:
        return self.of(self.update(sender, text, message_id))

    def replies(self, answer: Answer) -> list[str]:
        body = json.loads(answer.body)
        return [body["text"]] if body.get("method") == "sendMessage" else []


class WebChatWire:
    channel = "webchat"
    path = f"/chat/{BOT}/api/messages"

    def _client_id(self, message_id: str) -> str:
        return _digest("webchat", message_id)[:24]

    def provider_id(self, sender: str, message_id: str) -> str:
        return f"{sender}:{self._client_id(message_id)}"

    def request(self, sender: str, text: str, message_id: str) -> Request:
        fields = {"session": sender, "text": text, "client_message_id": self._client_id(message_id)}
        return Request(self.path, json.dumps(fields).encode(), {"Content-Type": "application/json"})

    def replies(self, answer: Answer) -> list[str]:
        return [reply["text"] for reply in json.loads(answer.body)["replies"]]


WIRES: dict[str, Wire] = {
    "sms": SmsWire(),
    "wechat": WeChatWire(),
    "telegram": TelegramWire(),
    "webchat": WebChatWire(),
}

# One citizen per channel, each with the address its platform gives.
SENDERS = {
    "sms": "+8613911112222",
    "wechat": "oVwXy0DrillSenderAbCdEfGhIj",
    "telegram": "700100300",
    "webchat": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
}


@dataclass
class Drill:
    deployment: Deployment
    client: TestClient
    clock: FixedClock
    fakes: dict[str, Any]
    counter: int = 0

    @property
    def services(self) -> Services:
        return self.deployment.services

    async def send(self, request: Request) -> Answer:
        response = await self.client.post(
            request.path, data=request.body, headers=request.headers, params=request.params
        )
        return Answer(response.status, response.content_type, await response.text())

    async def say(self, channel: str, text: str, *, sender: str | None = None) -> list[str]:
        """One message from a citizen of `channel`; every reply the step produced, as rendered text."""
        self.counter += 1
        address = sender or SENDERS[channel]
        message_id = f"m{self.counter}"
        answer = await self.send(WIRES[channel].request(address, text, message_id))
        assert answer.status == 200, answer.body
        return await self.replies_to(channel, address, message_id)

    async def replies_to(self, channel: str, sender: str, message_id: str) -> list[str]:
        stored_id = inbox.message_key(self.services.keyring, WIRES[channel].provider_id(sender, message_id))
        capabilities = self.deployment.capabilities[channel]
        async with self.services.database.reading() as session:
            inbound_id = await session.scalar(
                select(InboundMessage.id).where(
                    InboundMessage.bot_id == BOT,
                    InboundMessage.channel == channel,
                    InboundMessage.provider_message_id == stored_id,
                )
            )
            assert inbound_id is not None, f"no inbound row for {channel} {message_id}"
            replies: list[Outbound] = await outbox.replies_for(self.services.backend(session), inbound_id)
        return [render_text(reply, capabilities) for reply in replies]

    async def row_counts(self) -> dict[str, int]:
        """Rows in every table of the schema (the migrations' own bookkeeping aside)."""
        async with self.services.database.reading() as session:
            connection = await session.connection()
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            quote = connection.dialect.identifier_preparer.quote
            counts = {}
            for name in sorted(set(names) - {"alembic_version"}):
                rows = await connection.execute(text(f"SELECT count(*) FROM {quote(name)}"))
                counts[name] = int(rows.scalar_one())
            return counts

    async def count(self, model: Any, *where: Any) -> int:
        async with self.services.database.reading() as session:
            query = select(func.count()).select_from(model)
            if where:
                query = query.where(*where)
            return int(await session.scalar(query) or 0)


def form_of(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.body.decode(), keep_blank_values=True))


def drill_settings(database_url: str, data_dir: Path, fakes: dict[str, Any]) -> Settings:
    wechat = {
        "token": WECHAT_TOKEN,
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "encoding_aes_key": AES_KEY,
        "api_base": fakes["wechat"].api_base,
    }
    return Settings(
        data_dir=data_dir,
        secret_key=TEST_SECRET,
        database_url=database_url,
        public_base_url=PUBLIC,
        bots={
            BOT: BotSettings(
                name=demo.DEMO_BOT_NAME, departments=list(demo.DEMO_DEPARTMENTS), channels=list(CHANNELS)
            ),
            PLAIN_BOT: BotSettings(name=demo.DEMO_BOT_NAME, channels=["wechat"]),
        },
        channels={
            "sms": {
                BOT: {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "from_number": SMS_FROM,
                    "api_base": fakes["sms"].api_base,
                    "max_per_second": 50,
                }
            },
            "wechat": {BOT: {**wechat, "mode": "safe"}, PLAIN_BOT: {**wechat, "mode": "plain"}},
            "telegram": {
                BOT: {
                    "token": TELEGRAM_TOKEN,
                    "secret_token": TELEGRAM_SECRET,
                    "api_base": fakes["telegram"].base_url,
                }
            },
        },
    )


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, Any]]:
    twilio = await FakeTwilio().start()
    wechat = FakeWeChatApi()
    await wechat.start()
    telegram: FakeTelegram = await start_fake(TELEGRAM_TOKEN)
    yield {"sms": twilio, "wechat": wechat, "telegram": telegram}
    await telegram.close()
    await wechat.close()
    await twilio.close()


@pytest.fixture
async def drill(
    database: Database, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any], aiohttp_client: MakeClient
) -> Drill:
    """The deployment on the test database (SQLite and PostgreSQL), served by its real app."""
    url = database.url.render_as_string(hide_password=False)
    deployment = bootstrap(drill_settings(url, tmp_path, fakes), password_cost="fast", clock=clock)
    await deployment.services.database.upgrade()
    vtime = VirtualTime()  # Telegram's one-message-a-second pacing, without the waiting
    deployment.channels["telegram"].clients.use_limiter(  # type: ignore[attr-defined]
        BOT, RateLimiter(clock=vtime.clock, sleep=vtime.sleep)
    )
    app = build_app(deployment, dispatch=False)
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger)  # as `sunshine serve` logs requests
    client = await aiohttp_client(server)
    return Drill(deployment, client, clock, fakes)


def without(request: Request, *, header: str | None = None, param: str | None = None) -> Request:
    headers = {k: v for k, v in request.headers.items() if k != header}
    params = {k: v for k, v in request.params.items() if k != param}
    return replace(request, headers=headers, params=params)
