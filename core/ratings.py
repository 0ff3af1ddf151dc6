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
) -> SurveyView:
    """Record a survey question; the caller puts the question text in the outbox."""
    now = b.clock.now()
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
        .where(*mine, Survey.status == "pending")
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
    warning_id: int | None = None
    if low:
        warning = DepartmentWarning(
            bot_id=bot_id,
            department=department,
            kind="low_rating",
            level="red" if grade >= 4 else "yellow",
            case_id=case_id,
            rating_id=rating.id,
            detail={
                "service": service,
                "window": window,
                "staff": staff_name,
                "grade": grade,
                "grade_key": GRADE_KEYS[grade],
                "channel": channel,
            },
            created_at=now,
        )
        b.session.add(warning)
        await b.session.flush()
        warning_id = warning.id
    return RatingView(id=_id(rating.id), grade=grade, low=low, department=department, warning_id=warning_id)


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
