"""Reading one cell of a payment list: amounts, dates, years and numbers as finance staff type them.

Each reader returns the value or raises `BadCell` with a reason an operator can act on. XLSX cells
arrive typed (numbers, datetimes), CSV cells as text; both are accepted wherever they make sense.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_AMOUNT = Decimal("10000000")  # ten million yuan in one payment is a typo, and overflows the column
_EXCEL_EPOCH = date(1899, 12, 30)  # serial day 0 of Excel's 1900 date system (with its leap-day bug)
_EXCEL_SERIALS = (25_000, 80_000)  # 1968 … 2119: a bare number in that range in a date column is a date
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_YEAR = re.compile(r"(\d{4})\s*年?(?:度)?")
_MONEY_NOISE = re.compile(r"[,，\s¥￥]|元$|RMB|CNY", re.IGNORECASE)
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")


class BadCell(ValueError):
    """A cell that cannot be read as what its column holds; the message says why."""


def text(value: Any) -> str:
    """A cell as text: NFKC (full-width digits and letters), whole numbers without ".0", trimmed."""
    if value is None:
        return ""
    if isinstance(value, str) and value.isascii():
        return value.strip()  # NFKC changes nothing in ASCII; most cells are
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    return unicodedata.normalize("NFKC", str(value)).strip()


def long_number(value: Any, what: str) -> str:
    """ID, account and phone numbers: refuse ones Excel has stored as numbers and so rounded."""
    if isinstance(value, float) and abs(value) >= 1e15:
        raise BadCell(
            f"{what} is stored as a number, so Excel kept only 15 digits: format the column as text"
        )
    return "".join(text(value).split())


def amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise BadCell("amount is not a number")
    # A float's shortest repr is what the cell showed; Decimal(value) would show binary noise.
    raw = repr(value) if isinstance(value, int | float) else _MONEY_NOISE.sub("", text(value))
    if not raw:
        raise BadCell("amount is empty")
    try:
        parsed = Decimal(raw)
    except InvalidOperation:
        raise BadCell(f"amount {raw!r} is not a number") from None
    if not parsed.is_finite() or parsed <= 0:
        raise BadCell(f"amount {raw} must be more than 0")
    if parsed >= MAX_AMOUNT:  # first: quantizing 1e400 to cents overflows the context (InvalidOperation)
        raise BadCell(f"amount {raw} is implausibly large")
    if parsed != parsed.quantize(Decimal("0.01")):
        raise BadCell(f"amount {raw} has more than 2 decimals")
    return parsed


def day(value: Any, *, today: date) -> date | None:
    """A payment date, or None for an empty cell (not paid yet)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        found = value.date()
    elif isinstance(value, date):
        found = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found = _excel_serial(value)
    else:
        found = _day_from_text(text(value))
    if found.year < 1990 or found > today + timedelta(days=366):
        raise BadCell(f"date {found.isoformat()} is out of range")
    return found


def _excel_serial(number: float) -> date:
    if not _EXCEL_SERIALS[0] <= number <= _EXCEL_SERIALS[1]:
        raise BadCell(f"date {number} is neither a date nor an Excel date number")
    return _EXCEL_EPOCH + timedelta(days=int(number))


def _day_from_text(raw: str) -> date:
    if not raw:
        raise BadCell("date is empty")
    match = _DATE.match(raw) or _COMPACT_DATE.fullmatch(raw)
    if match is None:
        try:
            return _excel_serial(float(raw))  # a date column exported as its numbers
        except ValueError:
            pass
        raise BadCell(f"date {raw!r} is not a date (write 2024-03-05, 2024/3/5 or 2024年3月5日)")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise BadCell(f"date {raw!r} does not exist") from None


def year(value: Any, *, today: date) -> int | None:
    raw = text(value)
    if not raw:
        return None
    match = _YEAR.fullmatch(raw)
    if match is None:
        raise BadCell(f"year {raw!r} is not a year")
    found = int(match.group(1))
    if not 1990 <= found <= today.year + 1:
        raise BadCell(f"year {found} is out of range")
    return found


def phone(value: Any) -> str | None:
    raw = long_number(value, "phone")
    if not raw:
        return None
    compact = raw.replace("(", "").replace(")", "")
    mobile = _MOBILE.fullmatch(compact.replace("-", ""))
    if mobile:
        return mobile.group(1)
    if _LANDLINE.fullmatch(compact):
        return compact
    raise BadCell(f"phone {raw!r} is not a mobile or landline number")
