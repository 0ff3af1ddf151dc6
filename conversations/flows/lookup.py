"""Progress lookup: case number, then password, then where the case stands and the latest official reply.

Whatever is wrong — an unknown number or a wrong password — the citizen reads the same sentence, so
the bot never confirms that a case number exists. The backend counts the failures; this flow only
explains the limit once someone gets close to it, so an honest citizen is not locked out by surprise.
"""

from __future__ import annotations

from conversations.flows.machine import (
    IDLE,
    MENU,
    Flow,
    Move,
    Said,
    Step,
    Talk,
    forward,
    go,
    not_understood,
    stay,
)
from conversations.understand import parse_case_number, parse_password
from core import cases
from core.messages import Choice, Outbound
from core.receipts import is_well_formed_case_number

NAME = "lookup"

STATUS_LABELS: dict[str, str] = {
    "submitted": "status.submitted",
    "accepted": "status.accepted",
    "declined": "status.declined",
    "assigned": "status.assigned",
    "in_progress": "status.in_progress",
    "replied": "status.replied",
    "closed": "status.closed",
}


async def _ask_number(talk: Talk) -> list[Outbound]:
    return [talk.msg("lookup.ask_number")]


async def _on_number(talk: Talk, said: Said) -> Move:
    number = parse_case_number(said.text)
    if number is None or not is_well_formed_case_number(number):
        return not_understood(talk.msg("lookup.number_malformed"))
    talk.data["number"] = number
    if parse_password(said.text) is not None:
        return forward("password")  # both in one message ("4831-2207-9154 12345678"): no need to ask
    return go("password")


async def _ask_password(talk: Talk) -> list[Outbound]:
    return [talk.msg("lookup.ask_password")]


def _renumber(talk: Talk) -> tuple[Choice, ...]:
    return (talk.choice("renumber", "lookup.choice.renumber"),)


async def _on_password(talk: Talk, said: Said) -> Move:
    if said.choice == "renumber":
        return go("case_number")
    number = str(talk.data.get("number", ""))
    password = parse_password(said.text)
    if password is None:
        return not_understood(talk.msg("lookup.password_format"))
    b = talk.backend
    result = await cases.lookup(b, number, password, sender_key=talk.ctx.sender_key)
    if result.outcome is cases.LookupOutcome.FOUND and result.case is not None:
        return go(IDLE, *status_lines(talk, result.case), ask=False)
    if result.outcome is cases.LookupOutcome.LOCKED:
        until = result.locked_until or b.clock.now()
        return go(MENU, talk.msg("lookup.locked", time=talk.time(until)))
    if result.outcome is cases.LookupOutcome.MALFORMED:
        return go("case_number", talk.msg("lookup.number_malformed"))
    lines = [talk.text("lookup.wrong")]
    if result.failures >= b.policy.lookup_hint_after:
        lines.append(
            talk.text(
                "lookup.limit_hint", limit=b.policy.lookup_lock_after, minutes=b.policy.lookup_lock_minutes
            )
        )
    return stay(Outbound("\n".join(lines), _renumber(talk)), ask=False)


def status_lines(talk: Talk, case: cases.CaseStatus) -> list[Outbound]:
    status = talk.text(STATUS_LABELS[case.status]) if case.status in STATUS_LABELS else case.status
    lines = [
        talk.text(
            "lookup.status",
            number=case.number,
            status=status,
            department=case.department or talk.text("lookup.department_pending"),
            submitted=talk.day(case.submitted_on),
            due=talk.day(case.due_on),
        )
    ]
    if case.latest_reply:
        replied = talk.day(case.replied_on) if case.replied_on else ""
        lines.append(talk.text("lookup.reply", date=replied, reply=case.latest_reply))
    else:
        lines.append(talk.text("lookup.no_reply"))
    if case.merged:
        lines.append(talk.text("lookup.merged"))
    return [Outbound("\n".join(lines))]


FLOW = Flow(
    name=NAME,
    entry="case_number",
    steps={
        "case_number": Step(_ask_number, _on_number, "lookup.help.case_number"),
        "password": Step(_ask_password, _on_password, "lookup.help.password"),
    },
    graph={
        "case_number": frozenset({"password"}),
        "password": frozenset({"case_number", IDLE, MENU}),
    },
)
