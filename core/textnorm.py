"""Folding Chinese text typed on any phone into one shape, for comparing texts.

The conversation layer (`conversations.understand.normalize`) and the duplicate detector both compare
what citizens typed; this is the one place that knows how to make "查詢 １２３" and "查询 123" equal.
Nothing here raises: input comes straight from channels, and a stray surrogate must not lose a message.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

# Code points that carry no visible content but break matching: controls (keeping tab/newline/CR, which
# str.split() treats as whitespace), lone surrogates (OpenCC cannot encode them), bidi and zero-width
# marks, variation selectors and the keycap combiner (so "1️⃣" reads as "1"), tag characters and
# private-use code points some feature phones use for their own emoji.
_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\ud800-\udfff"
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff0-\ufffb\ufffe\uffff"
    "\ufe00-\ufe0f\u20e3"
    "\ue000-\uf8ff"
    "\U000e0000-\U000e0fff"
    "\U000f0000-\U0010ffff"
    "]"
)
_NOT_WORD = re.compile(r"[\W_]+")


@functools.cache
def _t2s_converter() -> Any:
    """Build the OpenCC converter on first use: loading its dictionaries costs milliseconds we do not
    want to pay when a worker merely imports the package."""
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → Simplified, falling back to the input if OpenCC is unavailable or chokes, because
    a half-understood message is better than an exception."""
    if text.isascii():
        return text
    try:
        converted = _t2s_converter().convert(text)
    except Exception:
        return text
    return converted if isinstance(converted, str) else text


def scrub(text: object) -> str:
    """Drop invisible code points and apply NFKC, so full-width "１２３" and "ＡＢＣ" become ASCII.

    Non-str input (a channel that forwarded None for a picture message) is treated as empty text.
    """
    if not isinstance(text, str) or not text:
        return ""
    cleaned = _INVISIBLE.sub("", text)
    try:
        return unicodedata.normalize("NFKC", cleaned)
    except Exception:
        return cleaned


def content(text: object) -> str:
    """Only the letters and digits, Simplified and lower-case: what two reports of one matter share.

    Punctuation, spaces and emoji vary with the phone and the mood, never with the matter reported.
    """
    return _NOT_WORD.sub("", to_simplified(scrub(text)).lower())
