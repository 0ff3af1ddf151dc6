"""Delivery reports: Twilio's signed status callbacks move the outbox row the dispatcher sent."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bots.dispatcher import Dispatcher
from core import optout, outbox
from core.messages import Outbound
from storage.models import OutboxMessage
from tests.channels.sms.conftest import BOT, CITIZEN, FROM_NUMBER, STATUS_PATH, Harness, sign
from tests.fakes.twilio_api import ACCOUNT_SID


async def _sent_notice(sms: Harness) -> tuple[int, str]:
    """An outbox notice sent through the dispatcher and the fake Twilio: its row id and message SID."""
    async with sms.backend() as b:
        row = await outbox.enqueue(
            b,
            bot_id=BOT,
            channel="sms",
            address=CITIZEN,
            kind="notice",
            outbound=Outbound("您的案件已受理。"),
        )
        assert row.id is not None
        row_id = row.id
    assert await Dispatcher(sms.services, {"sms": sms.channel}).run_once() == 1
    return row_id, sms.fake.created[-1]


def callback(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    form = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": CITIZEN,
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": FROM_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    if error_code is not None:
        form["ErrorCode"] = error_code
    return form


async def _row(sms: Harness, row_id: int) -> OutboxMessage:
    async with sms.backend() as b:
        row = await b.session.get(OutboxMessage, row_id)
        assert row is not None
        return row


@dataclass(frozen=True)
class Reports:
    name: str
    reports: tuple[tuple[str, str | None], ...]  # (MessageStatus, ErrorCode)
    status: str
    error: str | None = None


REPORTS = [
    Reports("queued says nothing new", (("queued", None),), "sent"),
    Reports("sent", (("sent", None),), "sent"),
    Reports("delivered", (("sent", None), ("delivered", None)), "delivered"),
    Reports("a late sent never overturns delivered", (("delivered", None), ("sent", None)), "delivered"),
    Reports("read counts as delivered", (("read", None),), "delivered"),
    Reports(
        "undelivered with its reason", (("undelivered", "30003"),), "undelivered", "30003 unreachable handset"
    ),
    Reports(
        "failed with its reason",
        (("sent", None), ("failed", "30007")),
        "failed",
        "30007 filtered by the carrier",
    ),
    Reports("an unknown code is kept as a code", (("failed", "30999"),), "failed", "30999"),
]


@pytest.mark.parametrize("case", REPORTS, ids=lambda case: case.name)
async def test_status_callbacks_update_the_outbox_row(sms: Harness, case: Reports) -> None:
    row_id, sid = await _sent_notice(sms)
    # The callback URL Twilio was given is the one it signs.
    status_url = sms.fake.requests[0].fields["StatusCallback"]

    for status, code in case.reports:
        form = callback(sid, status, code)
        response = await sms.post(form, path=STATUS_PATH, signed_url=status_url)
        assert response.status == 204

    row = await _row(sms, row_id)
    assert (row.status, row.error) == (case.status, case.error)


async def test_an_unsigned_callback_changes_nothing(sms: Harness) -> None:
    row_id, sid = await _sent_notice(sms)

    unsigned = await sms.post(callback(sid, "failed", "30003"), path=STATUS_PATH, signature="")
    forged = await sms.post(callback(sid, "failed", "30003"), path=STATUS_PATH, signature=sign("x", {}))
    other_body = await sms.client.post(
        STATUS_PATH,
        data=callback(sid, "failed", "30003"),
        headers={
            "X-Twilio-Signature": sign(sms.fake.requests[0].fields["StatusCallback"], callback(sid, "sent"))
        },
    )

    assert (unsigned.status, forged.status, other_body.status) == (403, 403, 403)
    assert (await _row(sms, row_id)).status == "sent"


async def test_a_callback_for_a_message_we_do_not_know_is_acknowledged(sms: Harness) -> None:
    response = await sms.post(callback("SM" + "f" * 32, "delivered"), path=STATUS_PATH)
    assert response.status == 204


@pytest.mark.parametrize(
    "form",
    [
        {"MessageSid": "SM" + "f" * 32},
        {"MessageStatus": "delivered"},
        {"MessageSid": "not a sid", "MessageStatus": "delivered"},
        {"MessageSid": "SM" + "f" * 32, "MessageStatus": "failed", "ErrorCode": "thirty"},
    ],
)
async def test_a_malformed_callback_is_refused(sms: Harness, form: dict[str, str]) -> None:
    response = await sms.post(form, path=STATUS_PATH)
    assert response.status == 400


async def test_a_callback_for_an_unknown_bot_is_not_found(sms: Harness) -> None:
    response = await sms.post(callback("SM" + "f" * 32, "delivered"), path="/webhooks/sms/nobody/status")
    assert response.status == 404


async def test_an_unsubscribed_failure_records_the_opt_out(sms: Harness) -> None:
    row_id, sid = await _sent_notice(sms)

    response = await sms.post(callback(sid, "failed", "21610"), path=STATUS_PATH)

    assert response.status == 204
    assert (await _row(sms, row_id)).status == "failed"
    async with sms.backend() as b:
        assert await optout.is_opted_out(b, BOT, "sms", CITIZEN)
