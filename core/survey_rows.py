"""One row of a survey spreadsheet, checked: who to ask (a mobile number), about what, and where.

Service centres export these lists from whatever system they queue visitors with, so the values come
in many shapes: numbers with +86, spaces or full-width digits, times as Excel dates or as text. A row
is accepted only when the survey it makes can reach a phone and be attributed to a department; every
other row is reported back with the reason, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

FIELDS = ("phone", "service", "window", "staff", "department", "time")
# Column widths of the `surveys` table: a longer value is a wrong column, not a long service name.
_LIMITS = {"service": 128, "window": 64, "staff": 64, "department": 128}
_TO_ASCII = str.maketrans("０１２３４５６７８９＋－（）　", "0123456789+-() ")
_SEPARATORS = re.compile(r"[\s\-().]")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_INTERNATIONAL = re.compile(r"\+[1-9]\d{7,14}")
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y年%m月%d日",
)


@dataclass(frozen=True)
class SurveyRow:
    line: int
    phone: str  # E.164, as SMS platforms report the sender, so the reply finds this survey
    service: str
    department: str
    window: str | None
    staff_name: str | None
    served_at: datetime | None


@dataclass(frozen=True)
class RowProblem:
    """Why a row makes no survey; the message names no phone number, since summaries get pasted around."""

    line: int
    reason: str
    message: str


def normalize_phone(raw: str) -> str | None:
    """A mobile number in E.164 ("+8613800138000"), or None for anything an SMS cannot reach.

    Mainland numbers come with or without +86 / 0086; landlines (区号-号码) are refused, since they
    cannot receive the survey. Other countries' numbers are accepted when written with their "+".
    """
    text = _SEPARATORS.sub("", raw.translate(_TO_ASCII))
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    if _CN_MOBILE.fullmatch(text):
        return "+86" + text
    if _INTERNATIONAL.fullmatch(text):
        return text
    return None


def parse_time(value: object, zone: ZoneInfo) -> datetime | None:
    """A service time from a spreadsheet cell (datetime, date or local text); ValueError if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, datetime.min.time())
    else:
        moment = _parse_text_time(str(value).strip().translate(_TO_ASCII))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _parse_text_time(text: str) -> datetime:
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return datetime.fromisoformat(text)  # raises ValueError with its own message


def validate_row(
    line: int,
    values: Mapping[str, object],
    *,
    zone: ZoneInfo,
    now: datetime,
    departments: Collection[str] = (),
) -> SurveyRow | RowProblem:
    """The survey a row asks for, or the first thing wrong with it.

    With `departments` configured, a department must be one of them: a misspelt name would file the
    ratings, and any warning, under a department no supervisor watches.
    """
    text = {name: _text(values.get(name)) for name in FIELDS if name != "time"}
    phone_raw = text["phone"]
    if not phone_raw:
        return RowProblem(line, "missing_phone", "no phone number")
    phone = normalize_phone(phone_raw)
    if phone is None:
        return RowProblem(line, "invalid_phone", "not a mobile number")
    for required in ("service", "department"):
        if not text[required]:
            return RowProblem(line, f"missing_{required}", f"no {required}")
    for name, limit in _LIMITS.items():
        if len(text[name] or "") > limit:
            return RowProblem(line, f"long_{name}", f"{name} is longer than {limit} characters")
    department = text["department"] or ""
    if departments and department not in departments:
        return RowProblem(line, "unknown_department", f"department {department!r} is not configured")
    try:
        served_at = parse_time(values.get("time"), zone)
    except (ValueError, OverflowError):
        return RowProblem(line, "invalid_time", "the time cannot be read (use 2026-03-02 09:30)")
    if served_at is not None and served_at > now:
        return RowProblem(line, "future_time", "the service time is in the future")
    return SurveyRow(
        line=line,
        phone=phone,
        service=text["service"] or "",
        department=department,
        window=text["window"] or None,
        staff_name=text["staff"] or None,
        served_at=served_at,
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone number Excel stored as a number
    stripped = str(value).strip()
    return stripped or None
