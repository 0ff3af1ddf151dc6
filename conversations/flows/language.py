"""Guessing a new citizen's language from the first thing they write.

Only for a conversation's very first message, and only when the channel did not say: a villager who
writes "查詢進度" reads Traditional characters, someone who writes "hello, subsidy" reads English.
Anyone can switch later by typing 中文 / 繁體 / English.
"""

from __future__ import annotations

import re

from conversations.understand.normalize import scrub, to_simplified

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_LETTERS = re.compile(r"[A-Za-z]")
_MIN_LATIN_LETTERS = 3  # "ok" and "hi" say too little; "hello" and "help" say enough


def guess_language(text: str) -> str | None:
    s = scrub(text)
    if _HAN.search(s):
        return "zh_Hant" if to_simplified(s) != s else None
    if len(_LATIN_LETTERS.findall(s)) >= _MIN_LATIN_LETTERS:
        return "en"
    return None
