"""The two endpoints Twilio calls: incoming messages (answered with TwiML) and delivery reports.

Every request is checked in the same order, and nothing is done before its signature is verified:
unknown bot → 404; body too large → 413; not a UTF-8 form → 400; signature → 403; fields → 400.
Control words (STOP, START, HELP) are answered here, before the pipeline, so they neither start nor
move a conversation; everything else goes through the pipeline and its replies come back inline.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiDict

from channels.base import ChannelContext
from channels.sms import keywords, texts
from channels.sms.client import REASONS, UNSUBSCRIBED
from channels.sms.form import Rejected, read_form, verify
from channels.sms.inbound import CHANNEL, SID, parse_inbound
from channels.sms.replies import bodies, twiml
from channels.sms.segments import compact
from core import optout
from core.messages import Inbound

if TYPE_CHECKING:
    from channels.sms.channel import SmsChannel

log = logging.getLogger(__name__)

# Twilio's message statuses → the outbox's delivery statuses; the ones in between (accepted, queued,
# sending, scheduled) say nothing the outbox records.
STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
_ERROR_CODE = re.compile(r"^[0-9]{1,6}$")


class SmsWebhooks:
    def __init__(self, channel: SmsChannel, context: ChannelContext) -> None:
        self.channel = channel
        self.context = context

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/webhooks/sms/{bot_id}", self.incoming),
            web.post("/webhooks/sms/{bot_id}/status", self.status),
        ]

    async def _authenticated(self, request: web.Request) -> tuple[str, MultiDict[str]]:
        bot_id = request.match_info["bot_id"]
        settings = self.channel.settings_for(bot_id)
        if settings is None:
            raise web.HTTPNotFound()
        form = await read_form(request)
        verify(request, form, settings.auth_token.get_secret_value(), self.channel.public_base(bot_id))
        return bot_id, form

    async def incoming(self, request: web.Request) -> web.StreamResponse:
        try:
            bot_id, form = await self._authenticated(request)
            inbound = parse_inbound(bot_id, form)
        except Rejected as exc:
            return exc.response()
        answer = await self._keyword_answer(inbound)
        if answer is not None:
            return _twiml_response([compact(answer)])
        replies = await self.context.handle(inbound)
        return _twiml_response(bodies(replies, self.channel.capabilities))

    async def _keyword_answer(self, inbound: Inbound) -> str | None:
        """The channel's own answer to a control word, or None for a message the pipeline should get.

        A retry of a keyword message already handled answers as the first time and changes nothing.
        """
        if inbound.attachments:
            return None
        word = keywords.keyword(inbound.text)
        if word is None:
            return None
        language = keywords.language_of(inbound.text)
        if word is keywords.Keyword.HELP:
            return texts.text(language, "sms.help")
        args = (inbound.bot_id, CHANNEL, inbound.sender)
        async with self.channel.unit_of_work() as b:
            done = await optout.handled(b, *args, inbound.message_id)
            if done is None:
                if word is keywords.Keyword.STOP:
                    await optout.opt_out(b, *args, message_id=inbound.message_id)
                    done = "out"
                elif word is keywords.Keyword.START or await optout.is_opted_out(b, *args):
                    await optout.opt_in(b, *args, message_id=inbound.message_id)
                    done = "in"
                else:
                    return None  # "yes" from a number that never opted out: an ordinary answer
        return texts.text(language, "sms.stopped" if done == "out" else "sms.started")

    async def status(self, request: web.Request) -> web.StreamResponse:
        try:
            bot_id, form = await self._authenticated(request)
            sid = form.get("MessageSid") or form.get("SmsSid") or ""
            reported = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
            code = (form.get("ErrorCode") or "").strip()
            if not SID.match(sid) or not reported or (code and not _ERROR_CODE.match(code)):
                raise Rejected(400, "MessageSid, MessageStatus or ErrorCode missing or malformed")
        except Rejected as exc:
            return exc.response()
        status = STATUSES.get(reported)
        if status is not None and self.context.report_status is not None:
            error = _describe(code) if code and code != "0" else None
            if not await self.context.report_status(sid, status, error):
                log.info("sms status %s for a message the outbox does not know (yet)", status)
        recipient = (form.get("To") or "").strip()
        if code == str(UNSUBSCRIBED) and recipient:
            async with self.channel.unit_of_work() as b:
                await optout.opt_out(b, bot_id, CHANNEL, recipient, source="provider")
        return web.Response(status=204)


def _describe(code: str) -> str:
    reason = REASONS.get(int(code))
    return f"{code} {reason}" if reason else code


def _twiml_response(texts: list[str]) -> web.Response:
    return web.Response(text=twiml(texts), content_type="text/xml", charset="utf-8")
