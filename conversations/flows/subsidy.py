"""Subsidy query: ID number and name → the payments made, and "有疑问" to complain about one of them.

The ID number is checked before anything is looked up, so a typo gets a precise hint ("the birth
date part is wrong") instead of a "not found" that would send an old man to the township office for
nothing. While the conversation waits for the name, the ID number sits in the state encrypted.
"""

from __future__ import annotations

import re

from conversations import texts
from conversations.flows import words
from conversations.flows.machine import IDLE, Flow, Move, Said, Step, Talk, go, not_understood, stay
from conversations.flows.submit import receipt_lines
from conversations.understand import normalize, parse_id_number, parse_name, parse_number, parse_yes_no
from core import cases, onetime, subsidies, subsidy_otp
from core.backend import Backend
from core.idcard import IdProblem, check_id_number, normalize_id_number
from core.messages import Choice, Outbound
from core.textnorm import scrub
from storage.models import SubsidyRecord

NAME = "subsidy"
COMPLAINT_KIND = "complaint"
MAX_PROBLEM = 5000  # the same cap as a submitted description

ID_PROBLEMS: dict[IdProblem, str] = {
    IdProblem.LENGTH: "subsidy.id_problem.length",
    IdProblem.CHARACTERS: "subsidy.id_problem.characters",
    IdProblem.BIRTHDATE: "subsidy.id_problem.birthdate",
    IdProblem.CHECKSUM: "subsidy.id_problem.checksum",
}


# ---------------------------------------------------------------- ID number and name


async def _ask_id(talk: Talk) -> list[Outbound]:
    return [talk.msg("subsidy.ask_id")]


async def _on_id(talk: Talk, said: Said) -> Move:
    today = talk.local_now().date()
    number = parse_id_number(said.text)
    problem = check_id_number(number if number else normalize_id_number(said.text), today=today)
    if problem is not None or number is None:
        return not_understood(talk.msg(ID_PROBLEMS[problem or IdProblem.LENGTH]))
    talk.data["id_enc"] = talk.backend.keyring.encrypt(number)
    return go("name")


async def _ask_name(talk: Talk) -> list[Outbound]:
    return [talk.msg("subsidy.ask_name")]


async def _on_name(talk: Talk, said: Said) -> Move:
    name = parse_name(said.text)
    if name is None:
        return not_understood(talk.msg("subsidy.name_unclear"))
    token = talk.data.pop("id_enc", None)
    if not isinstance(token, str):
        return go("id_number")
    b = talk.backend
    result = await subsidies.query(b, b.keyring.decrypt(token), name, sender_key=talk.ctx.sender_key)
    if result.outcome is subsidies.SubsidyOutcome.FOUND:
        ids = [payment.id for payment in result.payments]
        if talk.profile.subsidy_otp:
            phone = await subsidy_otp.phone_for(b, ids)
            if phone is not None:
                return await _send_code(talk, phone, ids, result.masked_id or "")
        talk.data["payments"] = ids
        return go("payments", *payment_list(talk, result))
    if result.outcome is subsidies.SubsidyOutcome.INVALID_ID and result.problem is not None:
        return go("id_number", talk.msg(ID_PROBLEMS[result.problem]))
    if result.outcome is subsidies.SubsidyOutcome.LOCKED:
        return go(IDLE, talk.msg("subsidy.locked", minutes=b.policy.lookup_lock_minutes))
    return go(IDLE, talk.msg("subsidy.not_found"))


# ---------------------------------------------------------------- one-time code (when the bot asks for it)

_CODE_MINUTES = int(onetime.VALID_FOR.total_seconds() // 60)
_NOT_DIGIT = re.compile(r"\D")


async def _send_code(talk: Talk, phone: str, ids: list[int], masked_id: str) -> Move:
    """ID and name matched; the amounts wait until the code sent to the record's phone comes back."""
    b = talk.backend

    def message(code: str) -> str:
        # An SMS whatever channel the query came on: always the short form, in the citizen's language.
        return texts.text(
            talk.lang,
            "subsidy.otp_sms",
            concise=True,
            name=talk.profile.name,
            code=code,
            minutes=_CODE_MINUTES,
        )

    sent = await subsidy_otp.send_code(
        b, bot_id=talk.profile.bot_id, owner=talk.ctx.sender_key, phone=phone, message=message
    )
    if sent is None:
        return go(IDLE, talk.msg("subsidy.otp_too_many", minutes=60))
    talk.data.update(otp=sent.code_id, pending=ids, masked_id=masked_id)
    return go("otp", talk.msg("subsidy.otp_sent", tail=sent.phone_tail, minutes=_CODE_MINUTES))


async def _ask_code(talk: Talk) -> list[Outbound]:
    return [talk.msg("subsidy.otp_ask")]


async def _on_code(talk: Talk, said: Said) -> Move:
    typed = _NOT_DIGIT.sub("", scrub(said.text))
    if len(typed) != onetime.CODE_DIGITS:
        return not_understood(talk.msg("subsidy.otp_unclear"))
    code_id, pending = talk.data.get("otp"), talk.data.get("pending")
    if not isinstance(code_id, int) or not isinstance(pending, list):
        talk.data.clear()
        return go(IDLE, talk.msg("subsidy.otp_expired"))
    b = talk.backend
    checked = await onetime.check(b, code_id, owner=talk.ctx.sender_key, attempt=typed)
    if checked.verdict is onetime.Verdict.WRONG:
        # Read but wrong: not a reason to offer 人工, and "1" must stay a digit of the code.
        return stay(talk.msg("subsidy.otp_wrong", left=checked.tries_left))
    masked_id = str(talk.data.get("masked_id", ""))
    talk.data.clear()
    if checked.verdict is onetime.Verdict.EXHAUSTED:
        return go(IDLE, talk.msg("subsidy.otp_failed"))
    if checked.verdict is onetime.Verdict.EXPIRED:
        return go(IDLE, talk.msg("subsidy.otp_expired"))
    payments = [
        payment for payment_id in pending if (payment := await subsidies.get_payment(b, int(payment_id)))
    ]
    talk.data["payments"] = [payment.id for payment in payments]
    result = subsidies.SubsidyResult(subsidies.SubsidyOutcome.FOUND, payments, masked_id, None)
    return go("payments", *payment_list(talk, result))


def payment_list(talk: Talk, result: subsidies.SubsidyResult) -> list[Outbound]:
    """Numbered payments, one block each, so a long list splits cleanly between payments."""
    lines = [talk.text("subsidy.found", masked_id=result.masked_id or "", count=len(result.payments))]
    for position, payment in enumerate(result.payments, start=1):
        lines.append(
            talk.text(
                "subsidy.payment",
                n=position,
                programme=payment.programme,
                year=payment.year,
                standard=payment.standard,
                amount=talk.money(payment.amount),
                date=talk.day(payment.paid_on) if payment.paid_on else talk.text("subsidy.not_paid"),
                method=payment.method,
                status=payment.status,
                account=payment.account_masked or talk.text("subsidy.no_account"),
            )
        )
    return [Outbound("\n".join(lines))]


# ---------------------------------------------------------------- 有疑问: which payment, what is wrong


def _payments(talk: Talk) -> list[int]:
    ids = talk.data.get("payments")
    return [int(i) for i in ids] if isinstance(ids, list) else []


def _question_choices(talk: Talk) -> tuple[Choice, ...]:
    return tuple(
        talk.choice(f"question:{n}", "subsidy.choice.question", n=n)
        for n in range(1, len(_payments(talk)) + 1)
    )


def _picked(talk: Talk, said: Said, number: int | None) -> int | None:
    """Position (from 1) of the payment the citizen means, if it is one of those listed."""
    count = len(_payments(talk))
    if said.choice and said.choice.startswith("question:"):
        number = int(said.choice.removeprefix("question:"))
    return number if number is not None and 1 <= number <= count else None


async def _ask_payments(talk: Talk) -> list[Outbound]:
    return [talk.msg("subsidy.ask_question", choices=_question_choices(talk))]


async def _on_payments(talk: Talk, said: Said) -> Move:
    position = _picked(talk, said, None)
    if position is None:
        if words.contains_word(said.text, "words.no_question") is not None:
            return go(IDLE, talk.msg("subsidy.no_question"))
        rest = words.contains_word(said.text, "words.question")
        if rest is not None:
            position = _picked(talk, said, parse_number(rest) if rest else None)
            if position is None and not rest and len(_payments(talk)) == 1:
                position = 1
            if position is None:
                return go("question_which")
        elif parse_yes_no(said.text) is False:
            return go(IDLE, talk.msg("subsidy.no_question"))
        else:
            return not_understood()
    talk.data["position"] = position
    return go("question_text")


async def _ask_which(talk: Talk) -> list[Outbound]:
    return [talk.msg("subsidy.ask_which", choices=_question_choices(talk))]


async def _on_which(talk: Talk, said: Said) -> Move:
    position = _picked(talk, said, parse_number(said.text))
    if position is None:
        return not_understood()
    talk.data["position"] = position
    return go("question_text")


async def _ask_problem(talk: Talk) -> list[Outbound]:
    return [talk.msg("subsidy.ask_problem", n=talk.data.get("position", 1))]


async def _on_problem(talk: Talk, said: Said) -> Move:
    description = said.text.strip()
    if not normalize(description):
        return not_understood(talk.msg("subsidy.problem_empty"))
    payments = _payments(talk)
    position = int(talk.data.get("position", 0))
    if not 1 <= position <= len(payments):
        return go("question_which")
    payment_id = payments[position - 1]
    b = talk.backend
    draft = cases.CaseDraft(
        bot_id=talk.profile.bot_id,
        kind=COMPLAINT_KIND,
        description=description[:MAX_PROBLEM],
        department=await _payment_department(b, payment_id),
        attachments=[a.to_json() for a in said.attachments],
        contact=talk.ctx.contact,
        subject={"type": "subsidy_payment", "payment_id": payment_id},
    )
    receipt = await cases.submit(b, draft)
    talk.data.clear()
    return go(IDLE, talk.msg("subsidy.question_submitted"), *receipt_lines(talk, receipt, anonymous=False))


async def _payment_department(b: Backend, payment_id: int) -> str | None:
    """The department that made the payment, so the complaint reaches it without being routed by hand.

    `core.subsidies.Payment` does not carry the department (yet), so it is read from the record itself.
    """
    record = await b.session.get(SubsidyRecord, payment_id)
    return record.department if record is not None else None


FLOW = Flow(
    name=NAME,
    entry="id_number",
    steps={
        "id_number": Step(_ask_id, _on_id, "subsidy.help.id_number"),
        "name": Step(_ask_name, _on_name, "subsidy.help.name"),
        "otp": Step(_ask_code, _on_code, "subsidy.help.otp"),
        "payments": Step(_ask_payments, _on_payments, "subsidy.help.payments"),
        "question_which": Step(_ask_which, _on_which, "subsidy.help.question_which"),
        "question_text": Step(_ask_problem, _on_problem, "subsidy.help.question_text"),
    },
    graph={
        "id_number": frozenset({"name"}),
        "name": frozenset({"payments", "otp", "id_number", IDLE}),
        "otp": frozenset({"payments", IDLE}),
        "payments": frozenset({"question_which", "question_text", IDLE}),
        "question_which": frozenset({"question_text"}),
        "question_text": frozenset({"question_which", IDLE}),
    },
)
