"""Satisfaction rating: 1 满意, 2 基本满意, 3 不满意, 4 很差 — for a surveyed visit or a department.

A survey SMS names the visit, so its answer needs no questions; a rating from the menu first asks
which department it is for. A low grade asks why, once: the reason goes to the supervisors with the
warning the backend raises, and is what makes a low grade actionable rather than a number.

A second grade soon after a survey answer (within `rating_correction_minutes`) corrects the first:
a citizen who typed 3 for 1 on a small keypad should not leave a red card behind.
"""

from __future__ import annotations

from conversations.flows.machine import IDLE, Flow, Move, Said, Step, Talk, go, not_understood, stay
from conversations.understand import DONT_KNOW, match_department, normalize, parse_rating
from core import ratings
from core.messages import Choice, Outbound

NAME = "rate"
GRADE_LABELS: dict[int, str] = {1: "rate.grade.1", 2: "rate.grade.2", 3: "rate.grade.3", 4: "rate.grade.4"}
LISTED_DEPARTMENTS = 8


def _grades(talk: Talk) -> tuple[Choice, ...]:
    return tuple(talk.choice(f"grade:{grade}", label) for grade, label in GRADE_LABELS.items())


def _grade(said: Said) -> int | None:
    if said.choice and said.choice.startswith("grade:"):
        grade = int(said.choice.removeprefix("grade:"))
        return grade if grade in GRADE_LABELS else None
    return parse_rating(said.text)


async def _survey(talk: Talk) -> ratings.SurveyView | None:
    contact = talk.ctx.contact
    return await ratings.open_survey(
        talk.backend, bot_id=talk.profile.bot_id, channel=contact.channel, address=contact.address
    )


async def _after_grade(talk: Talk, rating: ratings.RatingView) -> Move:
    if rating.low:
        talk.data["rating_id"] = rating.id
        return go("reason")
    return go(IDLE, talk.msg("rate.thanks"))


# ---------------------------------------------------------------- answering a survey


async def _ask_survey(talk: Talk) -> list[Outbound]:
    survey = await _survey(talk)
    if survey is None:  # expired between the menu and now: the handler will say so
        return [talk.msg("rate.ask_grade_plain", choices=_grades(talk))]
    where = " ".join(part for part in (survey.department, survey.window) if part)
    return [talk.msg("rate.ask_survey", service=survey.service, where=where, choices=_grades(talk))]


async def _on_survey(talk: Talk, said: Said) -> Move:
    survey = await _survey(talk)
    if survey is None:
        contact = talk.ctx.contact
        expired = await ratings.latest_expired_survey(
            talk.backend, bot_id=talk.profile.bot_id, channel=contact.channel, address=contact.address
        )
        if expired is not None:
            return go(IDLE, talk.msg("rate.survey_closed", service=expired.service))
        return go("department")
    grade = _grade(said)
    if grade is None:
        return not_understood()
    rating = await ratings.record(
        talk.backend,
        bot_id=talk.profile.bot_id,
        channel=talk.ctx.contact.channel,
        grade=grade,
        department=survey.department,
        survey_id=survey.id,
    )
    return await _after_grade(talk, rating)


# ---------------------------------------------------------------- correcting a survey answer


async def correctable(talk: Talk) -> ratings.RecentRating | None:
    """The survey answer this citizen may still correct; the menu sends a bare grade here when one exists."""
    contact = talk.ctx.contact
    return await ratings.correctable_rating(
        talk.backend, bot_id=talk.profile.bot_id, channel=contact.channel, address=contact.address
    )


async def _correct(talk: Talk, recent: ratings.RecentRating, grade: int, *, here: str) -> Move:
    try:
        rating = await ratings.correct(talk.backend, recent.id, grade)
    except ratings.CorrectionClosed:
        return go(IDLE, talk.msg("rate.thanks"))
    label = talk.text(GRADE_LABELS[grade])
    if rating.low and not recent.has_reason:
        talk.data["rating_id"] = rating.id
        said = talk.msg("rate.corrected_low", grade=label)
        return stay(said) if here == "reason" else go("reason", said)
    return go(IDLE, talk.msg("rate.corrected", grade=label))


async def _ask_correction(talk: Talk) -> list[Outbound]:
    return [talk.msg("rate.ask_grade_plain", choices=_grades(talk))]


async def _on_correction(talk: Talk, said: Said) -> Move:
    grade = _grade(said)
    if grade is None:
        return not_understood()
    recent = await correctable(talk)
    if recent is None or grade == recent.grade:  # too late, or the same answer again: it stands
        return go(IDLE, talk.msg("rate.thanks"))
    return await _correct(talk, recent, grade, here="correct")


# ---------------------------------------------------------------- rating a department from the menu


def _departments(talk: Talk) -> tuple[Choice, ...]:
    names = talk.profile.departments[:LISTED_DEPARTMENTS]
    return tuple(Choice(f"dept:{index}", name) for index, name in enumerate(names))


async def _ask_department(talk: Talk) -> list[Outbound]:
    return [talk.msg("rate.ask_department", choices=_departments(talk))]


async def _on_department(talk: Talk, said: Said) -> Move:
    departments = talk.profile.departments
    department: str | None = None
    if said.choice and said.choice.startswith("dept:"):
        index = int(said.choice.removeprefix("dept:"))
        department = departments[index] if 0 <= index < len(departments) else None
    else:
        found = match_department(said.text, departments)
        department = found if found not in (None, DONT_KNOW) else None
    if department is None:
        return not_understood(talk.msg("rate.department_unmatched"))
    talk.data["department"] = department
    return go("grade")


async def _ask_grade(talk: Talk) -> list[Outbound]:
    return [talk.msg("rate.ask_grade", department=talk.data.get("department", ""), choices=_grades(talk))]


async def _on_grade(talk: Talk, said: Said) -> Move:
    grade = _grade(said)
    department = talk.data.get("department")
    if not isinstance(department, str):
        return go("department")
    if grade is None:
        return not_understood()
    rating = await ratings.record(
        talk.backend,
        bot_id=talk.profile.bot_id,
        channel=talk.ctx.contact.channel,
        grade=grade,
        department=department,
    )
    return await _after_grade(talk, rating)


# ---------------------------------------------------------------- why a low grade


async def _ask_reason(talk: Talk) -> list[Outbound]:
    return [talk.msg("rate.ask_reason")]


async def _on_reason(talk: Talk, said: Said) -> Move:
    reason = said.text.strip()
    if not normalize(reason):
        return not_understood(talk.msg("rate.reason_empty"))
    rating_id = talk.data.get("rating_id")
    grade = parse_rating(reason)
    if grade is not None:  # a bare grade is no reason: the citizen is changing their answer
        recent = await correctable(talk)
        if recent is not None and recent.id == rating_id and grade != recent.grade:
            return await _correct(talk, recent, grade, here="reason")
    if isinstance(rating_id, int):
        await ratings.add_reason(talk.backend, rating_id, reason)
    return go(IDLE, talk.msg("rate.reason_thanks"))


FLOW = Flow(
    name=NAME,
    entry="department",
    steps={
        "survey": Step(_ask_survey, _on_survey, "rate.help.grade"),
        "correct": Step(_ask_correction, _on_correction, "rate.help.grade"),
        "department": Step(_ask_department, _on_department, "rate.help.department"),
        "grade": Step(_ask_grade, _on_grade, "rate.help.grade"),
        # The grade is already recorded (and the supervisors warned); only the reason is left out.
        "reason": Step(_ask_reason, _on_reason, "rate.help.reason", cancelled="rate.reason_skipped"),
    },
    graph={
        "survey": frozenset({"reason", "department", IDLE}),
        "correct": frozenset({"reason", IDLE}),
        "department": frozenset({"grade"}),
        "grade": frozenset({"reason", "department", IDLE}),
        "reason": frozenset({IDLE}),
    },
)
