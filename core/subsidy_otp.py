"""The stronger subsidy check: amounts only after a code sent to the phone the finance bureau recorded.

ID number and name are written on every form in a village, so a neighbour may know both; the phone
on the payment record is something only its holder has. The code goes out as an ordinary outbox row
on the SMS channel, kind "otp", to that phone; it is sent whatever channel the query came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from core import onetime, outbox
from core.backend import Backend
from core.messages import Outbound
from storage.models import SubsidyRecord

PURPOSE = "subsidy"
SMS_CHANNEL = "sms"
OUTBOX_KIND = "otp"
_MAINLAND_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")


@dataclass(frozen=True)
class Sent:
    code_id: int
    phone_tail: str  # the last four digits, so the citizen knows which phone to look at


async def phone_for(b: Backend, payment_ids: Sequence[int]) -> str | None:
    """The phone of the first listed payment (newest first) that has one, or None."""
    if not payment_ids:
        return None
    statement = select(SubsidyRecord.id, SubsidyRecord.phone_enc).where(
        col(SubsidyRecord.id).in_(payment_ids), col(SubsidyRecord.phone_enc).is_not(None)
    )
    phones = {row_id: token for row_id, token in (await b.session.execute(statement)).all()}
    for payment_id in payment_ids:
        token = phones.get(payment_id)
        if token:
            return b.keyring.decrypt(token)
    return None


def sms_address(phone: str) -> str:
    """Mainland mobiles in the international form an SMS provider needs; anything else as recorded."""
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    mobile = _MAINLAND_MOBILE.fullmatch(digits)
    return f"+86{mobile.group(1)}" if mobile else digits


async def send_code(
    b: Backend, *, bot_id: str, owner: str, phone: str, message: Callable[[str], str]
) -> Sent | None:
    """Issue a code and queue the SMS carrying it; None when this phone has had too many codes."""
    address = sms_address(phone)
    issued = await onetime.issue(b, purpose=PURPOSE, owner=owner, phone=address)
    if issued is None:
        return None
    await outbox.enqueue(
        b,
        bot_id=bot_id,
        channel=SMS_CHANNEL,
        address=address,
        outbound=Outbound(message(issued.code)),
        kind=OUTBOX_KIND,
    )
    return Sent(issued.code_id, address[-4:])
