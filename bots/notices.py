"""What a citizen is told when staff act: case status notices, the handoff-closed line, a desk-made receipt.

A notice is written to the outbox in the same transaction as the staff action it reports, so a
citizen is never told about a change that was rolled back, and a committed change is never left
untold. It goes to the channel and address the case was submitted from, in the language of that
conversation, in the short form on SMS. A fully anonymous tip kept no way back to its reporter, so
it gets nothing; internal notes and merges are staff business and get nothing either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from conversations import texts
from conversations.engine import BotProfile
from core import outbox
from core.backend import Backend
from core.cases import Receipt
from core.messages import Outbound
from core.receipts import format_case_number
from core.survey_rows import normalize_phone
from storage.models import Case, Conversation, OutboxMessage

WECHAT_WINDOW = timedelta(hours=48)

# New status → what the citizen reads. Literal keys, so the catalog tests see every one of them used.
CASE_NOTICE_KEYS: Mapping[str, str] = {
    "accepted": "status.notice.accepted",
    "declined": "status.notice.declined",
    "assigned": "status.notice.assigned",
    "in_progress": "status.notice.in_progress",
    "replied": "status.notice.replied",
    "closed": "status.notice.closed",
}


@dataclass(frozen=True)
class Recipient:
    """Where and how to speak to one citizen."""

    bot_id: str
    channel: str
    address: str
    conversation_id: int | None
    language: str
    concise: bool


class Notifier:
    """Renders and queues citizen notices; built once per deployment by the desk."""

    def __init__(
        self,
        profiles: Mapping[str, BotProfile],
        concise: Callable[[str], bool],
        *,
        sms_bots: frozenset[str] = frozenset(),
    ) -> None:
        self._profiles = profiles
        self._concise = concise
        self._sms_bots = sms_bots  # bots that can reach a citizen by SMS when their own channel cannot

    async def case_status(self, b: Backend, case: Case, *, text: str | None = None) -> OutboxMessage | None:
        """Tell the submitter the case's new status; `text` is the decline reason or the official reply.

        None when there is nobody to tell (a fully anonymous tip, or a case that kept no contact).
        """
        key = CASE_NOTICE_KEYS.get(case.status)
        if key is None:
            raise ValueError(f"no notice for status {case.status!r}")
        if case.status in ("declined", "replied") and not (text and text.strip()):
            raise ValueError(f"a {case.status} notice needs its text")
        recipient = await self.case_recipient(b, case)
        if recipient is None:
            return None
        language = recipient.language
        fields: dict[str, Any] = {
            "number": format_case_number(case.number),
            "due": texts.format_day(language, case.due_on),
            "department": case.department or texts.text(language, "lookup.department_pending"),
            "reason": text or "",
            "reply": text or "",
        }
        message = Outbound(text=texts.text(language, key, concise=recipient.concise, **fields))
        return await self._enqueue(b, recipient, message)

    async def case_opened(self, b: Backend, conversation: Conversation, receipt: Receipt) -> OutboxMessage:
        """The receipt for a case staff opened from a handoff: number, password (its only showing) and due
        date, as if the citizen had submitted it themselves."""
        recipient = await self.conversation_recipient(b, conversation)
        language = recipient.language
        lines = [
            texts.text(
                language,
                "submit.receipt",
                concise=recipient.concise,
                number=receipt.number,
                password=receipt.password,
                due=texts.format_day(language, receipt.due_on),
            ),
            texts.text(language, "submit.receipt_notices", concise=recipient.concise),
        ]
        return await self._enqueue(b, recipient, Outbound(text="\n".join(lines)))

    async def handoff_closed(self, b: Backend, conversation: Conversation) -> Outbound:
        """The line that tells a citizen the bot has the conversation again; `core.handoff` queues it."""
        recipient = await self.conversation_recipient(b, conversation)
        return Outbound(text=texts.text(recipient.language, "handoff.closed", concise=recipient.concise))

    async def case_recipient(self, b: Backend, case: Case) -> Recipient | None:
        if case.anonymous or not case.contact_enc:
            return None
        contact = b.keyring.decrypt_json(case.contact_enc)
        channel, address = str(contact["channel"]), str(contact["address"])
        language = None
        last_heard: datetime | None = None
        if case.conversation_id is not None:
            row = (
                await b.session.execute(
                    select(Conversation.language, Conversation.last_inbound_at).where(
                        Conversation.id == case.conversation_id
                    )
                )
            ).first()
            if row is not None:
                language, last_heard = row
        language = self._language(case.bot_id, language)
        phone = self._sms_fallback(b, case, channel, last_heard)
        if phone is not None:
            return Recipient(case.bot_id, "sms", phone, None, language, self._concise("sms"))
        return Recipient(
            bot_id=case.bot_id,
            channel=channel,
            address=address,
            conversation_id=case.conversation_id,
            language=language,
            concise=self._concise(channel),
        )

    def _sms_fallback(self, b: Backend, case: Case, channel: str, last_heard: datetime | None) -> str | None:
        """WeChat lets an official account write to a user only within 48 hours of the user's last
        message; past that, a reporter who left a phone number is told by SMS instead."""
        if channel != "wechat" or case.bot_id not in self._sms_bots or not case.reporter_enc:
            return None
        if last_heard is not None and b.clock.now() - last_heard < WECHAT_WINDOW:
            return None
        reporter = b.keyring.decrypt_json(case.reporter_enc)
        raw = reporter.get("phone") if isinstance(reporter, dict) else None
        return normalize_phone(str(raw)) if raw else None

    async def conversation_recipient(self, b: Backend, conversation: Conversation) -> Recipient:
        return Recipient(
            bot_id=conversation.bot_id,
            channel=conversation.channel,
            address=b.keyring.decrypt(conversation.address_enc),
            conversation_id=conversation.id,
            language=self._language(conversation.bot_id, conversation.language),
            concise=self._concise(conversation.channel),
        )

    def _language(self, bot_id: str, chosen: str | None) -> str:
        if chosen in texts.LANGUAGES:
            return str(chosen)
        profile = self._profiles.get(bot_id)
        if profile is not None and profile.default_language in texts.LANGUAGES:
            return profile.default_language
        return texts.SOURCE_LANGUAGE

    @staticmethod
    async def _enqueue(b: Backend, recipient: Recipient, message: Outbound) -> OutboxMessage:
        return await outbox.enqueue(
            b,
            bot_id=recipient.bot_id,
            channel=recipient.channel,
            address=recipient.address,
            outbound=message,
            kind="notice",
            conversation_id=recipient.conversation_id,
        )
