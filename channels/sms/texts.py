"""What the SMS channel says by itself (keyword answers), per language, from its own small catalogs.

The channel answers STOP, START and HELP before any conversation sees them, so it cannot borrow the
conversations' texts; its own `.po` files keep the wording reviewable by the same people and in the
same format.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import MappingProxyType

from babel.messages.pofile import read_po

LANGUAGES: tuple[str, ...] = ("zh_Hans", "zh_Hant", "en")
SOURCE_LANGUAGE = "zh_Hans"
LOCALE_DIR = Path(__file__).with_name("locale")
KEYS: tuple[str, ...] = ("sms.stopped", "sms.started", "sms.help")


@functools.cache
def catalog(language: str) -> MappingProxyType[str, str]:
    """Key → text for one language, read once per process on first use."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    with (LOCALE_DIR / f"{language}.po").open("rb") as handle:
        parsed = read_po(handle)
    return MappingProxyType(
        {str(message.id): str(message.string) for message in parsed if message.id and message.string}
    )


def text(language: str, key: str) -> str:
    """The text for `key`, falling back to Simplified Chinese rather than showing a citizen a key."""
    for lang in (language if language in LANGUAGES else SOURCE_LANGUAGE, SOURCE_LANGUAGE):
        found = catalog(lang).get(key)
        if found is not None:
            return found
    raise KeyError(key)
