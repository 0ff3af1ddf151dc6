"""Every word the bot says, per language, read from gettext catalogs with symbolic keys.

Texts live in `.po` files rather than in code so that wording can be reviewed and corrected by people who
do not read Python (county staff, translators), and so that the three languages cannot drift apart
unnoticed: `tests/conversations/test_texts.py` checks that every key used in code exists everywhere with
the same placeholders. Simplified Chinese is the source; a missing translation falls back to it rather
than showing a citizen a key.
"""

from __future__ import annotations

import functools
import string
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from babel.dates import format_date as _babel_date
from babel.dates import format_skeleton
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES: tuple[str, ...] = ("zh_Hans", "zh_Hant", "en")
SOURCE_LANGUAGE = "zh_Hans"
SHORT_SUFFIX = ".short"  # the SMS form of a text, where a catalog has one

LOCALE_DIR = Path(__file__).with_name("locale")
# Babel locales for dates and numbers; zh_Hant stays generic (neither Taiwan- nor Hong-Kong-specific).
_BABEL_LOCALES = {"zh_Hans": "zh_Hans_CN", "zh_Hant": "zh_Hant", "en": "en"}


class MissingText(KeyError):
    """A key the source catalog does not have: a bug in code, caught by the catalog tests."""


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


@functools.cache
def catalog(language: str) -> MappingProxyType[str, str]:
    """Key → text for one language, parsed once per process on first use (not at import time)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    with catalog_path(language).open("rb") as handle:
        parsed = read_po(handle, locale=_BABEL_LOCALES[language])
    texts = {str(message.id): str(message.string) for message in parsed if message.id and message.string}
    return MappingProxyType(texts)


def has(language: str, key: str) -> bool:
    return key in catalog(language) or key in catalog(SOURCE_LANGUAGE)


def raw(language: str, key: str, *, concise: bool = False) -> str:
    """The unformatted text; with `concise`, its short form when one exists in either catalog."""
    if concise:
        short = key + SHORT_SUFFIX
        for lang in (language, SOURCE_LANGUAGE):
            found = catalog(lang).get(short)
            if found is not None:
                return found
    for lang in (language, SOURCE_LANGUAGE):
        found = catalog(lang).get(key)
        if found is not None:
            return found
    raise MissingText(key)


def text(language: str, key: str, *, concise: bool = False, **fields: Any) -> str:
    """The text for `key` with `{name}` placeholders filled in.

    Values are inserted as they are, never interpreted: a citizen's "{x}" or "<script>" in a field comes
    out as the same characters, because `str.format` does not re-read substituted values.
    """
    return raw(language, key, concise=concise).format(**fields)


def placeholders(template: str) -> frozenset[str]:
    """The field names a template uses, for the catalog consistency tests."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def babel_locale(language: str) -> str:
    return _BABEL_LOCALES.get(language, _BABEL_LOCALES[SOURCE_LANGUAGE])


def format_day(language: str, day: date) -> str:
    """A date as people in that language write it: 2026年3月23日 / March 23, 2026."""
    return _babel_date(day, format="long", locale=babel_locale(language))


def format_moment(language: str, moment: datetime) -> str:
    """A day and hour for "someone answers at ...": weekday included, since people plan by it."""
    locale = babel_locale(language)
    day = format_skeleton("MMMEd", moment, locale=locale)
    return text(language, "format.moment", day=day, time=format_skeleton("Hm", moment, locale=locale))


def format_time(language: str, moment: datetime) -> str:
    return format_skeleton("Hm", moment, locale=babel_locale(language))


def format_money(language: str, amount: Decimal) -> str:
    """Yuan with thousands separators and fen, wrapped in the catalog's currency pattern (¥1,200.00)."""
    number = format_decimal(amount, format="#,##0.00", locale=babel_locale(language))
    return text(language, "format.money", amount=number)


def language_of(tag: str | None) -> str | None:
    """Map a channel's language tag ("zh-TW", "en-US", "zh_Hans") to one of ours, or None if unknown."""
    if not tag:
        return None
    folded = tag.replace("-", "_").lower()
    if folded.startswith("en"):
        return "en"
    if folded.startswith("zh"):
        parts = set(folded.split("_")[1:])
        if parts & {"hant", "tw", "hk", "mo"}:
            return "zh_Hant"
        return "zh_Hans"
    return None
