"""A Twilio "incoming message" form as a neutral `Inbound`: sender, message SID, text and media."""

from __future__ import annotations

import re
import unicodedata

from multidict import MultiDict

from channels.sms.form import Rejected
from core.messages import Attachment, Inbound

CHANNEL = "sms"
MAX_MEDIA = 10  # Twilio's own limit per message
SID = re.compile(r"^[A-Za-z0-9]{2,64}$")  # Twilio SIDs: two letters and 32 hex digits
_MAX_ADDRESS = 64
_MAX_URL = 2048


def parse_inbound(bot_id: str, form: MultiDict[str]) -> Inbound:
    """Rejected (400) when a field the message cannot do without is missing or malformed."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    if not SID.match(sid):
        raise Rejected(400, "MessageSid missing or malformed")
    sender = form.get("From", "").strip()
    if not sender or len(sender) > _MAX_ADDRESS or not sender.isprintable():
        raise Rejected(400, "From missing or malformed")
    return Inbound(
        channel=CHANNEL,
        bot_id=bot_id,
        sender=sender,
        message_id=sid,
        text=clean_text(form.get("Body", "")),
        attachments=_media(form),
    )


def clean_text(text: str) -> str:
    """The citizen's words without control characters (a NUL cannot even be stored in PostgreSQL)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()


def _media(form: MultiDict[str]) -> tuple[Attachment, ...]:
    raw = form.get("NumMedia", "0").strip() or "0"
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise Rejected(400, "NumMedia malformed")
    attachments = []
    for index in range(min(int(raw), MAX_MEDIA)):
        url = form.get(f"MediaUrl{index}", "").strip()
        if not url.startswith(("https://", "http://")) or len(url) > _MAX_URL or not url.isprintable():
            continue
        content_type = form.get(f"MediaContentType{index}", "").strip().lower()
        attachments.append(Attachment(kind="image" if content_type.startswith("image/") else "file", url=url))
    return tuple(attachments)
