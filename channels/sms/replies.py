"""Neutral replies as SMS bodies, and the TwiML that carries them back in the webhook's response.

Several replies to one message are joined into one SMS wherever that costs no more segments than
sending them apart (see `segments.pack`): one SMS arrives whole and in order, while separate <Message>
elements may be shown out of order on the citizen's phone. So a reply goes as several SMS only when
joining would cost more, or when it is longer than MAX_SEGMENTS (then it is cut at line or sentence
boundaries).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from twilio.twiml.messaging_response import MessagingResponse

from channels.sms.segments import compact, pack, split
from core.messages import Capabilities, Outbound, render_text

# Twilio accepts bodies up to 1600 characters; ten segments (1530 GSM-7 or 670 UCS-2 characters) stay
# under it in both encodings, and longer concatenations are reassembled unreliably by handsets.
MAX_SEGMENTS = 10

# Characters XML 1.0 cannot carry (control codes, lone surrogates, U+FFFE/U+FFFF): one in a reply
# would make the whole TwiML document unreadable to Twilio.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sms_text(message: Outbound, capabilities: Capabilities) -> str:
    """One reply as plain SMS text: choices as numbered options, nothing that cannot be sent."""
    return compact(_NOT_XML.sub("", render_text(message, capabilities)))


def bodies(messages: Iterable[Outbound], capabilities: Capabilities) -> list[str]:
    """The SMS bodies for these replies, in order, as few segments as the content allows."""
    parts: list[str] = []
    for message in messages:
        parts.extend(split(sms_text(message, capabilities), MAX_SEGMENTS))
    return pack(parts, MAX_SEGMENTS)


def twiml(texts: Iterable[str]) -> str:
    """A <Response> with one <Message> per body; an empty <Response/> sends nothing."""
    response = MessagingResponse()
    for text in texts:
        response.message(text)
    return str(response.to_xml())
