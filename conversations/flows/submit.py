"""Submitting a complaint, tip, suggestion or question: the citizen leaves with a case number and password.

Nothing reaches the backend before the citizen confirms the summary: a half-told story, cancelled or
abandoned, leaves no case behind. A reporter's name and phone wait in the conversation state only
encrypted, and a fully anonymous tip keeps no way back to the reporter at all: no contact, no notices.
"""

from __future__ import annotations

import re

from conversations.flows import words
from conversations.flows.machine import IDLE, MENU, Flow, Move, Said, Step, Talk, go, not_understood, stay
from conversations.understand import (
    DONT_KNOW,
    Option,
    match_department,
    match_option,
    normalize,
    parse_name,
    parse_yes_no,
)
from conversations.understand.normalize import scrub
from core import cases, duplicates
from core.messages import Choice, Outbound
from core.policy import CASE_KINDS

NAME = "submit"
MAX_DESCRIPTION = 5000  # characters kept of one submission; the rest is dropped and the citizen told so
EXCERPT = 60  # characters of the description repeated in the summary
LISTED_DEPARTMENTS = 6  # departments offered as numbered choices when a name was not recognised

KIND_LABELS: dict[str, str] = {
    "complaint": "submit.kind.complaint",
    "tip": "submit.kind.tip",
    "suggestion": "submit.kind.suggestion",
    "question": "submit.kind.question",
}
KIND_WORDS: dict[str, str] = {
    "complaint": "words.kind.complaint",
    "tip": "words.kind.tip",
    "suggestion": "words.kind.suggestion",
    "question": "words.kind.question",
}
_DESCRIPTION_ASKS: dict[str, str] = {
    "complaint": "submit.ask_description.complaint",
    "tip": "submit.ask_description.tip",
    "suggestion": "submit.ask_description.suggestion",
    "question": "submit.ask_description.question",
}

_MOBILE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})")
_PHONE_NOISE = re.compile(r"[\s\-()（）]")


def _kind_options() -> tuple[Option, ...]:
    return tuple(words.option(kind, KIND_LABELS[kind], KIND_WORDS[kind]) for kind in CASE_KINDS)


def kind_in(text: str) -> str | None:
    """The kind a free sentence names ("我要举报" → tip), for starting the flow with it chosen."""
    found = match_option(text, _kind_options())
    return found.key if found is not None else None


# ---------------------------------------------------------------- kind


async def _ask_kind(talk: Talk) -> list[Outbound]:
    kinds = tuple(talk.choice(kind, KIND_LABELS[kind]) for kind in CASE_KINDS)
    return [talk.msg("submit.ask_kind", choices=kinds)]


async def _on_kind(talk: Talk, said: Said) -> Move:
    kind = said.choice if said.choice in KIND_LABELS else kind_in(said.text)
    if kind is None:
        return not_understood()
    talk.data.clear()
    talk.data["kind"] = kind
    return go("description")


# ---------------------------------------------------------------- description


def _done_choice(talk: Talk) -> tuple[Choice, ...]:
    return (talk.choice("done", "submit.choice.done"),)


async def _ask_description(talk: Talk) -> list[Outbound]:
    kind = talk.data.get("kind", "complaint")
    return [talk.msg(_DESCRIPTION_ASKS.get(kind, _DESCRIPTION_ASKS["complaint"]), choices=_done_choice(talk))]


def _parts(talk: Talk) -> list[str]:
    return talk.data.setdefault("parts", [])


async def _on_description(talk: Talk, said: Said) -> Move:
    parts = _parts(talk)
    if said.choice == "done" or words.is_exactly(said.text, "words.done"):
        if not parts:
            return not_understood(talk.msg("submit.description_empty"))
        return go(_after_description(talk))
    content = said.text.strip()
    if not content:
        content = " ".join(a.transcript for a in said.attachments if a.kind == "voice" and a.transcript)
    attachments = talk.data.setdefault("attachments", [])
    attachments.extend(a.to_json() for a in said.attachments)
    if not parts and not normalize(content):
        if said.attachments:
            return stay(talk.msg("submit.attachment_received", count=len(attachments)), ask=False)
        # Nothing to act on yet (an emoji, a sticker, an empty message): ask for words.
        return not_understood(talk.msg("submit.description_too_short"))
    notes: list[Outbound] = []
    if content:
        room = MAX_DESCRIPTION - len("\n".join(parts)) - (1 if parts else 0)
        if len(content) > room:
            content = content[: max(room, 0)]
            notes.append(talk.msg("submit.description_truncated", limit=MAX_DESCRIPTION))
            talk.data["truncated"] = True
        if content:
            parts.append(content)
    if not notes:
        added = said.attachments and not content
        key = "submit.attachment_added" if added else "submit.description_received"
        notes.append(talk.msg(key, count=len(attachments)))
    return stay(*notes[:-1], Outbound(notes[-1].text, _done_choice(talk)), ask=False)


def _after_description(talk: Talk) -> str:
    if talk.profile.departments:
        return "department"
    talk.data["department"] = None
    return _after_department(talk)


def _after_department(talk: Talk) -> str:
    return "anonymity" if talk.data.get("kind") == "tip" else "confirm"


# ---------------------------------------------------------------- department


def department_list(talk: Talk) -> tuple[Choice, ...]:
    """A few configured departments as numbered choices, then "不知道"."""
    listed = tuple(
        Choice(f"dept:{index}", name)
        for index, name in enumerate(talk.profile.departments[:LISTED_DEPARTMENTS])
    )
    return (*listed, talk.choice("dont_know", "submit.choice.dont_know"))


def department_from(talk: Talk, said: Said) -> tuple[bool, str | None]:
    """(understood, department): a listed choice, a name, or "不知道" (understood, no department)."""
    departments = talk.profile.departments
    if said.choice == "dont_know":
        return True, None
    if said.choice and said.choice.startswith("dept:"):
        index = int(said.choice.removeprefix("dept:"))
        if 0 <= index < len(departments):
            return True, departments[index]
    found = match_department(said.text, departments)
    if found is None:
        return False, None
    return True, (None if found == DONT_KNOW else found)


async def _ask_department(talk: Talk) -> list[Outbound]:
    return [talk.msg("submit.ask_department", choices=(talk.choice("dont_know", "submit.choice.dont_know"),))]


async def _on_department(talk: Talk, said: Said) -> Move:
    understood, department = department_from(talk, said)
    if not understood:
        return Move(
            None,
            (talk.msg("submit.department_unmatched", choices=department_list(talk)),),
            unknown=True,
            ask=False,
        )
    talk.data["department"] = department
    return go(_after_department(talk))


# ---------------------------------------------------------------- anonymity, name, phone (tips only)


async def _ask_anonymity(talk: Talk) -> list[Outbound]:
    options = (
        talk.choice("anonymous", "submit.choice.anonymous"),
        talk.choice("named", "submit.choice.named"),
    )
    return [talk.msg("submit.ask_anonymity", choices=options)]


async def _on_anonymity(talk: Talk, said: Said) -> Move:
    picked = said.choice
    if picked not in ("anonymous", "named"):
        options = (
            words.option("anonymous", "submit.choice.anonymous", "words.anonymous"),
            words.option("named", "submit.choice.named", "words.named"),
        )
        found = match_option(said.text, options)
        picked = found.key if found is not None else None
    if picked == "anonymous":
        talk.data["anonymous"] = True
        talk.data.pop("reporter_enc", None)
        return go("confirm")
    if picked == "named":
        talk.data["anonymous"] = False
        return go("name")
    return not_understood()


async def _ask_name(talk: Talk) -> list[Outbound]:
    return [talk.msg("submit.ask_name")]


async def _on_name(talk: Talk, said: Said) -> Move:
    name = parse_name(said.text)
    if name is None:
        return not_understood(talk.msg("submit.name_unclear"))
    _store_reporter(talk, {"name": name})
    return go("phone")


async def _ask_phone(talk: Talk) -> list[Outbound]:
    return [talk.msg("submit.ask_phone")]


def mobile_number(text: str) -> str | None:
    """An 11-digit mainland mobile number, however it was typed (full-width, spaced, +86)."""
    compact = _PHONE_NOISE.sub("", scrub(text))
    found = _MOBILE.fullmatch(compact)
    return found.group(1) if found else None


async def _on_phone(talk: Talk, said: Said) -> Move:
    phone = mobile_number(said.text)
    if phone is None:
        return not_understood(talk.msg("submit.phone_invalid"))
    _store_reporter(talk, {**_reporter(talk), "phone": phone})
    return go("confirm")


def _store_reporter(talk: Talk, reporter: dict[str, str]) -> None:
    talk.data["reporter_enc"] = talk.backend.keyring.encrypt_json(reporter)


def _reporter(talk: Talk) -> dict[str, str]:
    token = talk.data.get("reporter_enc")
    return talk.backend.keyring.decrypt_json(token) if isinstance(token, str) else {}


def _masked_phone(phone: str) -> str:
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else phone


# ---------------------------------------------------------------- confirm and submit


def excerpt(talk: Talk, description: str) -> str:
    flat = " ".join(description.split())
    if len(flat) <= EXCERPT:
        return flat
    return talk.text("submit.excerpt", start=flat[:EXCERPT])


async def _ask_confirm(talk: Talk) -> list[Outbound]:
    data = talk.data
    department = data.get("department")
    lines = [
        talk.text(
            "submit.summary",
            kind=talk.text(KIND_LABELS[data["kind"]]),
            department=department or talk.text("submit.department_none"),
            excerpt=excerpt(talk, "\n".join(_parts(talk))),
        ),
    ]
    attachments = data.get("attachments") or []
    if attachments:
        lines.append(talk.text("submit.summary_attachments", count=len(attachments)))
    if data.get("kind") == "tip":
        if data.get("anonymous"):
            lines.append(talk.text("submit.summary_anonymous"))
        else:
            reporter = _reporter(talk)
            lines.append(
                talk.text(
                    "submit.summary_named",
                    name=reporter.get("name", ""),
                    phone=_masked_phone(reporter.get("phone", "")),
                )
            )
    lines.append(talk.text("submit.ask_confirm"))
    options = (
        talk.choice("confirm", "submit.choice.confirm"),
        talk.choice("restart", "submit.choice.restart"),
        talk.choice("discard", "submit.choice.discard"),
    )
    return [Outbound("\n".join(lines), options)]


async def _on_confirm(talk: Talk, said: Said) -> Move:
    picked = said.choice if said.choice in ("confirm", "restart", "discard") else None
    if picked is None and words.is_exactly(said.text, "words.restart"):
        picked = "restart"
    if picked is None:
        answer = parse_yes_no(said.text)
        picked = None if answer is None else ("confirm" if answer else "discard")
    if picked == "restart":
        talk.data.clear()
        return go("kind", talk.msg("submit.restarting"))
    if picked == "discard":
        talk.data.clear()
        return go(MENU, talk.msg("submit.discarded"))
    if picked == "confirm":
        return go(IDLE, *await _submit(talk), ask=False)
    return not_understood()


async def _submit(talk: Talk) -> list[Outbound]:
    data = talk.data
    kind = data["kind"]
    anonymous = kind == "tip" and bool(data.get("anonymous"))
    reporter = _reporter(talk) if kind == "tip" and not anonymous else None
    draft = cases.CaseDraft(
        bot_id=talk.profile.bot_id,
        kind=kind,
        description="\n".join(_parts(talk)),
        department=data.get("department"),
        attachments=list(data.get("attachments") or []),
        anonymous=anonymous,
        reporter=reporter or None,
        contact=None if anonymous else talk.ctx.contact,
    )
    filed = await duplicates.submit(talk.backend, draft)
    data.clear()
    return receipt_lines(talk, filed.receipt, anonymous=anonymous, linked=filed.linked)


def receipt_lines(
    talk: Talk, receipt: cases.Receipt, *, anonymous: bool, linked: duplicates.Match | None = None
) -> list[Outbound]:
    """The one and only time the password is shown: say so, and say how to use it.

    A repeat of an open matter still gets its own number and password; it is told the matter is
    handled together with the earlier report. That report's number is named only when it was this
    citizen's own: anyone else's case number is none of their business.
    """
    follow = "submit.receipt_anonymous" if anonymous else "submit.receipt_notices"
    lines = [
        talk.msg(
            "submit.receipt", number=receipt.number, password=receipt.password, due=talk.day(receipt.due_on)
        ),
    ]
    if linked is not None:
        lines.append(
            talk.msg("submit.linked_own", number=linked.number)
            if linked.same_person
            else talk.msg("submit.linked")
        )
    lines.append(talk.msg(follow))
    return lines


FLOW = Flow(
    name=NAME,
    entry="kind",
    steps={
        "kind": Step(_ask_kind, _on_kind, "submit.help.kind"),
        "description": Step(
            _ask_description, _on_description, "submit.help.description", claims="words.done"
        ),
        "department": Step(_ask_department, _on_department, "submit.help.department"),
        "anonymity": Step(_ask_anonymity, _on_anonymity, "submit.help.anonymity"),
        "name": Step(_ask_name, _on_name, "submit.help.name"),
        "phone": Step(_ask_phone, _on_phone, "submit.help.phone"),
        "confirm": Step(_ask_confirm, _on_confirm, "submit.help.confirm"),
    },
    graph={
        "kind": frozenset({"description"}),
        "description": frozenset({"department", "anonymity", "confirm"}),
        "department": frozenset({"anonymity", "confirm"}),
        "anonymity": frozenset({"name", "confirm"}),
        "name": frozenset({"phone"}),
        "phone": frozenset({"confirm"}),
        "confirm": frozenset({IDLE, MENU, "kind"}),
    },
)
