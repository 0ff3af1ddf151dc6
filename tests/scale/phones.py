"""Citizens' phones for the scale test, and what each should be told.

A phone sends one message at a time and waits for its answer, as a person does, while a hundred phones
talk at once through whichever web process the "load balancer" (a random choice) picks. Platforms
retry: a phone's first message, and some later ones, are delivered twice at the same moment to two
different web processes, each copy signed exactly as Twilio or WeChat sign theirs.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree

import aiohttp
from twilio.request_validator import RequestValidator

from tests.channels.wechat.wire import fields_of, plain, read_reply
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN
from tests.scale.cluster import BOT, DEPARTMENTS, PUBLIC, SMS_NUMBER
from tests.scale.platforms import Platforms

# Words of places and plants: nothing here spells a command (菜单, 取消, 人工, 完成...) or a keyword.
_CHARS = "山水田林湖草村路桥河沟塘坝渠井泉溪岭坡岗松柏竹梅兰菊桃李杏枣"
_SMS_PATH = f"/webhooks/sms/{BOT}"
_WECHAT_PATH = f"/webhooks/wechat/{BOT}"


@dataclass(frozen=True)
class Script:
    """One citizen's complaint told in many short messages; the case must keep them in this order."""

    index: int
    channel: str  # "sms" or "wechat"
    address: str
    parts: tuple[str, ...]

    @property
    def messages(self) -> list[str]:
        return ["投诉", *self.parts, "完成", DEPARTMENTS[0], "1"]

    def expected(self) -> list[Callable[[str], bool]]:
        """What the answer to each message must say, so an answer to the wrong message shows."""
        return [
            lambda text: "投诉" in text and "完成" in text,
            *(lambda text: text.startswith("已记下") for _ in self.parts),
            lambda text: "部门" in text,
            lambda text: "请核对" in text and DEPARTMENTS[0] in text,
            lambda text: "已提交" in text,
        ]


def scripts(senders: int, per_sender: int, seed: int) -> list[Script]:
    """Half the citizens on SMS, half on WeChat, `per_sender` messages each (at least five)."""
    if per_sender < 5:
        raise ValueError("a complaint needs at least five messages: start, one part, done, department, yes")
    made = []
    for index in range(senders):
        rng = random.Random(seed * 100_003 + index)
        parts = tuple(
            "".join(rng.choice(_CHARS) for _ in range(6)) + f"{number}号"
            for number in range(1, per_sender - 3)
        )
        if index % 2:
            made.append(Script(index, "wechat", f"oScale{index:06d}{seed:04d}Citizen", parts))
        else:
            made.append(Script(index, "sms", f"+86139{seed % 100:02d}{index:06d}", parts))
    return made


@dataclass
class Transcript:
    script: Script
    inline: list[str] = field(default_factory=list)  # SMS: the TwiML bodies, message after message
    copies: int = 0  # messages delivered twice
    seconds: list[float] = field(default_factory=list)  # from sending to having the answer


class Phones:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        ports: Sequence[int],
        platforms: Platforms,
        *,
        duplicate_rate: float,
        reply_timeout: float = 90.0,
    ) -> None:
        self.session = session
        self.ports = list(ports)
        self.platforms = platforms
        self.duplicate_rate = duplicate_rate
        self.reply_timeout = reply_timeout

    async def talk(self, script: Script, seed: int) -> Transcript:
        rng = random.Random(seed * 7919 + script.index)
        transcript = Transcript(script)
        await asyncio.sleep(rng.uniform(0, 1))  # people do not all start in the same millisecond
        for number, text in enumerate(script.messages):
            twice = len(self.ports) > 1 and (number == 0 or rng.random() < self.duplicate_rate)
            ports = rng.sample(self.ports, 2) if twice else [rng.choice(self.ports)]
            transcript.copies += twice
            started = time.monotonic()
            message_id = f"{script.index:05d}-{number:05d}-{seed}"
            if script.channel == "sms":
                transcript.inline += await self._sms(script.address, text, message_id, ports)
            else:
                await self._wechat(script.address, text, message_id, ports)
            transcript.seconds.append(time.monotonic() - started)
        return transcript

    async def _sms(self, sender: str, text: str, message_id: str, ports: list[int]) -> list[str]:
        sid = "SM" + message_id.replace("-", "").ljust(32, "0")
        form = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": SMS_NUMBER,
            "Body": text,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + _SMS_PATH, form)

        async def post(port: int) -> list[str]:
            url = f"http://127.0.0.1:{port}{_SMS_PATH}"
            async with self.session.post(url, data=form, headers={"X-Twilio-Signature": signature}) as answer:
                body = await answer.text()
                assert answer.status == 200, f"SMS webhook on :{port} answered {answer.status}: {body[:200]}"
                root = ElementTree.fromstring(body.encode("utf-8"))
                return [element.text or "" for element in root.iter("Message")]

        answers = await asyncio.gather(*(post(port) for port in ports))
        assert all(a == answers[0] for a in answers), f"a retry of {message_id} was answered differently"
        return answers[0]

    async def _wechat(self, openid: str, text: str, message_id: str, ports: list[int]) -> None:
        msg_id = int(message_id.replace("-", ""))
        callback = plain(fields_of("text", FromUserName=openid, Content=text, MsgId=msg_id))
        seen = len(self.platforms.to(openid))

        async def post(port: int) -> str:
            url = f"http://127.0.0.1:{port}{_WECHAT_PATH}"
            async with self.session.post(url, params=callback.query, data=callback.body.encode()) as answer:
                body = await answer.text()
                assert answer.status == 200, (
                    f"WeChat webhook on :{port} answered {answer.status}: {body[:200]}"
                )
                return body

        for body in await asyncio.gather(*(post(port) for port in ports)):
            # The passive budget is a millisecond: every answer must come through the outbox.
            assert body == "success", f"expected the answer to go by the API, got {read_reply(body)}"
        await self.platforms.wait_for_more(openid, seen, self.reply_timeout)
