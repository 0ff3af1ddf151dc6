"""Satisfaction surveys and ratings: 1 满意, 2 基本满意, 3 不满意, 4 很差, per department, window and staff.

A survey waits for one answer from one address for a limited time: an answer days later can no
longer be tied to the visit it was about. A low grade is not just a number in a statistic: it raises
a warning card to the supervisors of the department at once, carrying what they need to follow up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from core.backend import Backend
from core.inbox import address_hash
from storage.models import DepartmentWarning, Rating, Survey

GRADE_KEYS = {1: "satisfied", 2: "basically_satisfied", 3: "dissatisfied", 4: "very_poor"}
SATISFIED_GRADES = frozenset({1, 2})


@dataclass(frozen=True)
class SurveyView:
    id: int
    service: str
    department: str
    window: str | None
    staff_name: str | None
    expires_at: datetime
    case_id: int | None


@dataclass(frozen=True)
class RatingView:
    id: int
    grade: int
    low: bool
    department: str
    warning_id: int | None


@dataclass(frozen=True)
class Satisfaction:
    total: int
    by_grade: dict[int, int]
    rate: float | None  # (满意 + 基本满意) / all; None when nobody rated yet


async def create_survey(
    b: Backend,
    *,
    bot_id: str,
    channel: str,
    address: str,
    service: str,
    department: str,
    window: str | None = None,
    staff_name: str | None = None,
    served_at: datetime | None = None,
    case_id: int | None = None,
    sent_at: datetime | None = None,
) -> SurveyView:
    """Record a survey question; the caller puts the question text in the outbox.

    `sent_at` is when the question goes out, later than now when quiet hours or pacing hold it: the
    survey answers nothing before then, and its time to answer counts from then.
    """
    now = sent_at or b.clock.now()
    survey = Survey(
        bot_id=bot_id,
        channel=channel,
        address_hash=address_hash(b, channel, address),
        address_enc=b.keyring.encrypt(address),
        service=service,
        department=department,
        window=window,
        staff_name=staff_name,
        served_at=served_at,
        case_id=case_id,
        sent_at=now,
        expires_at=now + timedelta(hours=b.policy.survey_expiry_hours),
        status="pending",
    )
    b.session.add(survey)
    await b.session.flush()
    return _survey_view(survey)


async def open_survey(b: Backend, *, bot_id: str, channel: str, address: str) -> SurveyView | None:
    """The survey a reply like "1" answers: the newest one still pending and not yet expired."""
    now = b.clock.now()
    key = address_hash(b, channel, address)
    mine = (Survey.bot_id == bot_id, Survey.channel == channel, Survey.address_hash == key)
    await b.session.execute(
        update(Survey)
        .where(*mine, Survey.status == "pending", Survey.expires_at <= now)
        .values(status="expired")
        .execution_options(synchronize_session="fetch")
    )
    query = (
        select(Survey)
        .where(*mine, Survey.status == "pending", Survey.sent_at <= now)
        .order_by(Survey.sent_at.desc(), Survey.id.desc())
        .limit(1)
    )
    survey = (await b.session.scalars(query)).first()
    return _survey_view(survey) if survey is not None else None


async def latest_expired_survey(b: Backend, *, bot_id: str, channel: str, address: str) -> SurveyView | None:
    """The survey an answer came too late for, so the reply can say so politely instead of "what?"."""
    now = b.clock.now()
    key = address_hash(b, channel, address)
    query = (
        select(Survey)
        .where(
            Survey.bot_id == bot_id,
            Survey.channel == channel,
            Survey.address_hash == key,
            Survey.expires_at <= now,
            Survey.status.in_(("pending", "expired")),
        )
        .order_by(Survey.expires_at.desc(), Survey.id.desc())
        .limit(1)
    )
    survey = (await b.session.scalars(query)).first()
    return _survey_view(survey) if survey is not None else None


async def record(
    b: Backend,
    *,
    bot_id: str,
    channel: str,
    grade: int,
    department: str,
    survey_id: int | None = None,
    window: str | None = None,
    staff_name: str | None = None,
    case_id: int | None = None,
) -> RatingView:
    """Store a rating; a low grade also raises a warning card (yellow for 3, red for 4).

    With a survey, what the caller leaves out (window, staff, case) comes from the survey, so a
    rating is always attributed to the visit it was asked about.
    """
    if isinstance(grade, bool) or grade not in GRADE_KEYS:
        raise ValueError(f"a grade is 1..4, not {grade!r}")
    now = b.clock.now()
    service: str | None = None
    if survey_id is not None:
        survey = await b.session.get(Survey, survey_id, with_for_update=True, populate_existing=True)
        if survey is None:
            raise LookupError(f"no survey {survey_id}")
        survey.status = "answered"
        service = survey.service
        window = window if window is not None else survey.window
        staff_name = staff_name if staff_name is not None else survey.staff_name
        case_id = case_id if case_id is not None else survey.case_id
    rating = Rating(
        bot_id=bot_id,
        survey_id=survey_id,
        case_id=case_id,
        department=department,
        window=window,
        staff_name=staff_name,
        grade=grade,
        channel=channel,
        created_at=now,
        updated_at=now,
    )
    b.session.add(rating)
    await b.session.flush()
    low = grade in b.policy.low_grades
    warning_id = await _warn(b, rating, service) if low else None
    return RatingView(id=_id(rating.id), grade=grade, low=low, department=department, warning_id=warning_id)


async def _warn(b: Backend, rating: Rating, service: str | None, **extra: object) -> int:
    """The warning card a low grade raises: yellow for 不满意, red for 很差."""
    detail: dict[str, object] = {
        "service": service,
        "window": rating.window,
        "staff": rating.staff_name,
        "grade": rating.grade,
        "grade_key": GRADE_KEYS[rating.grade],
        "channel": rating.channel,
        **extra,
    }
    if rating.reason:
        detail["reason"] = rating.reason
    warning = DepartmentWarning(
        bot_id=rating.bot_id,
        department=rating.department,
        kind="low_rating",
        level="red" if rating.grade >= 4 else "yellow",
        case_id=rating.case_id,
        rating_id=rating.id,
        detail=detail,
        created_at=b.clock.now(),
    )
    b.session.add(warning)
    await b.session.flush()
    return _id(warning.id)


async def add_reason(b: Backend, rating_id: int, reason: str) -> None:
    """Why the citizen was unhappy: kept with the rating and copied onto its warning for supervisors."""
    reason = reason.strip()
    if not reason:
        raise ValueError("an empty reason")
    rating = await b.session.get(Rating, rating_id, with_for_update=True, populate_existing=True)
    if rating is None:
        raise LookupError(f"no rating {rating_id}")
    now = b.clock.now()
    rating.reason = reason
    rating.updated_at = now
    query = (
        select(DepartmentWarning)
        .where(DepartmentWarning.rating_id == rating_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for warning in await b.session.scalars(query):
        warning.detail = {**warning.detail, "reason": reason}  # a new dict: JSON columns see assignment only


@dataclass(frozen=True)
class RecentRating:
    """A survey answer still open to correction: the citizen may have pressed the wrong digit."""

    id: int
    grade: int
    department: str
    has_reason: bool
    answered_at: datetime
    correctable_until: datetime


class CorrectionClosed(ValueError):
    """The correction window is over: the first answer stands."""


async def correctable_rating(b: Backend, *, bot_id: str, channel: str, address: str) -> RecentRating | None:
    """The newest survey answer from this address still within the correction window."""
    now = b.clock.now()
    window = timedelta(minutes=b.policy.rating_correction_minutes)
    query = (
        select(Rating)
        .join(Survey, Rating.survey_id == Survey.id)
        .where(
            Survey.bot_id == bot_id,
            Survey.channel == channel,
            Survey.address_hash == address_hash(b, channel, address),
            Rating.created_at > now - window,
        )
        .order_by(Rating.created_at.desc(), Rating.id.desc())
        .limit(1)
    )
    rating = (await b.session.scalars(query)).first()
    if rating is None:
        return None
    return RecentRating(
        id=_id(rating.id),
        grade=rating.grade,
        department=rating.department,
        has_reason=bool(rating.reason),
        answered_at=rating.created_at,
        correctable_until=rating.created_at + window,
    )


async def correct(b: Backend, rating_id: int, grade: int) -> RatingView:
    """Replace a grade given moments ago; its warning follows the new grade.

    The old warning is resolved rather than deleted (supervisors may already have seen it), and a
    low new grade raises a fresh one carrying the reason already given, if any.
    """
    if isinstance(grade, bool) or grade not in GRADE_KEYS:
        raise ValueError(f"a grade is 1..4, not {grade!r}")
    rating = await b.session.get(Rating, rating_id, with_for_update=True, populate_existing=True)
    if rating is None:
        raise LookupError(f"no rating {rating_id}")
    now = b.clock.now()
    if now > rating.created_at + timedelta(minutes=b.policy.rating_correction_minutes):
        raise CorrectionClosed(f"rating {rating_id} can no longer be corrected")
    query = (
        select(DepartmentWarning)
        .where(DepartmentWarning.rating_id == rating_id, DepartmentWarning.resolved_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    open_warnings = list(await b.session.scalars(query))
    low = grade in b.policy.low_grades
    if grade == rating.grade:
        current = open_warnings[-1].id if open_warnings else None
        return RatingView(rating_id, grade, low, rating.department, current)
    previous = rating.grade
    rating.grade = grade
    rating.updated_at = now
    for warning in open_warnings:
        warning.resolved_at = now
        warning.detail = {**warning.detail, "corrected_to": grade}
    warning_id: int | None = None
    if low:
        service: str | None = None
        if rating.survey_id is not None:
            service = await b.session.scalar(select(Survey.service).where(Survey.id == rating.survey_id))
        warning_id = await _warn(b, rating, service, corrected_from=previous)
    await b.session.flush()
    return RatingView(id=rating_id, grade=grade, low=low, department=rating.department, warning_id=warning_id)


async def satisfaction(
    b: Backend, *, department: str | None = None, since: datetime | None = None
) -> Satisfaction:
    query = select(Rating.grade, func.count()).group_by(Rating.grade)
    if department is not None:
        query = query.where(Rating.department == department)
    if since is not None:
        query = query.where(Rating.created_at >= since)
    by_grade = dict.fromkeys(GRADE_KEYS, 0)
    for grade, count in await b.session.execute(query):
        by_grade[grade] = count
    total = sum(by_grade.values())
    satisfied = sum(by_grade[g] for g in SATISFIED_GRADES)
    return Satisfaction(total=total, by_grade=by_grade, rate=satisfied / total if total else None)


async def warnings(
    b: Backend, *, department: str | None = None, open_only: bool = True, kind: str | None = None
) -> list[DepartmentWarning]:
    """Warning cards, newest first; `kind` narrows to "low_rating" or "overdue", None shows all."""
    query = select(DepartmentWarning)
    if department is not None:
        query = query.where(DepartmentWarning.department == department)
    if open_only:
        query = query.where(DepartmentWarning.resolved_at.is_(None))
    if kind is not None:
        query = query.where(DepartmentWarning.kind == kind)
    query = query.order_by(DepartmentWarning.created_at.desc(), DepartmentWarning.id.desc())
    return list(await b.session.scalars(query))


def _survey_view(survey: Survey) -> SurveyView:
    return SurveyView(
        id=_id(survey.id),
        service=survey.service,
        department=survey.department,
        window=survey.window,
        staff_name=survey.staff_name,
        expires_at=survey.expires_at,
        case_id=survey.case_id,
    )


def _id(value: int | None) -> int:
    if value is None:
        raise RuntimeError("row has no id; it was not flushed")
    return value
