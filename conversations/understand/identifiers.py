"""Pulling identifiers and names out of what was typed.

Digits are found as runs that may contain spaces and dashes ("4831-2207-9154", "1234 5678"); a run
whose digit count is wrong is retried split at its spaces, so one message carrying both case number and
password ("4831-2207-9154 1234-5678") still works.  Only the length is checked: checksums belong to the
backend, which can say *why* a number is wrong.
"""

from __future__ import annotations

import re
import unicodedata

from .departments import says_dont_know
from .intents import command_word
from .normalize import compact, scrub, strip_edges, to_simplified
from .yesno import parse_yes_no

__all__ = ["parse_case_number", "parse_id_number", "parse_name", "parse_password"]

CASE_NUMBER_DIGITS = 12
PASSWORD_DIGITS = 8

_MAX_LEN = 2000
# Dots and slashes are not accepted inside a number: "2024.01.15" is a date, not a password.
_SEPARATORS = r"[ \t\-_\u2010-\u2015\u2212]"
_DIGIT_RUN = re.compile(rf"[0-9](?:{_SEPARATORS}*[0-9])*")
_ID_RUN = re.compile(r"[0-9](?:[ \t\-]*[0-9X])*")
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_SPACES = re.compile(r"\s+")
_NON_ASCII_DIGIT = re.compile(r"(?![0-9])\d")


def _to_ascii_digit(match: re.Match[str]) -> str:
    value = unicodedata.decimal(match.group(0), None)
    return match.group(0) if value is None else str(value)


def _ascii_digits(text: str) -> str:
    """NFKC leaves Arabic-Indic, Devanagari... digits alone; turn every decimal digit into ASCII."""
    return _NON_ASCII_DIGIT.sub(_to_ascii_digit, text)


def _prepared(text: str) -> str:
    s = scrub(text)
    if len(s) > _MAX_LEN:
        return ""
    return _ascii_digits(s)


def _runs_of(text: str, pattern: re.Pattern[str], accept: re.Pattern[str]) -> set[str]:
    found: set[str] = set()
    for run in pattern.findall(text):
        whole = compact(run).upper()
        if accept.fullmatch(whole):
            found.add(whole)
            continue
        for part in _SPACES.split(run):
            piece = compact(part).upper()
            if accept.fullmatch(piece):
                found.add(piece)
    return found


def _one(found: set[str]) -> str | None:
    return next(iter(found)) if len(found) == 1 else None


_CASE_SHAPE = re.compile(rf"[0-9]{{{CASE_NUMBER_DIGITS}}}")
_PASSWORD_SHAPE = re.compile(rf"[0-9]{{{PASSWORD_DIGITS}}}")


def parse_case_number(text: str) -> str | None:
    """The 12-digit case number in the message, digits only, or None if there is none or several."""
    return _one(_runs_of(_prepared(text), _DIGIT_RUN, _CASE_SHAPE))


def parse_password(text: str) -> str | None:
    """The 8-digit query password in the message, or None if there is none or several."""
    return _one(_runs_of(_prepared(text), _DIGIT_RUN, _PASSWORD_SHAPE))


def parse_id_number(text: str) -> str | None:
    """An 18-character resident ID (17 digits + digit or X), upper-cased, or None."""
    s = _prepared(text)
    s = s.translate(str.maketrans({"×": "X", "✕": "X", "✖": "X", "╳": "X", "x": "X", "χ": "X", "х": "X"}))
    return _one(_runs_of(s, _ID_RUN, _ID_SHAPE))


# ---------------------------------------------------------------------------------------------- names

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_NAME = re.compile(rf"[{_HAN}]+(?:·[{_HAN}]+)*")
_DOTS = re.compile(r"\s*[·•・‧∙⋅.]\s*")
_LATIN_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|[ '\-.’])*")
_NAME_PREFIX = re.compile(
    r"^(?:(?:我的名字叫|我的名字是|我的姓名是|我的姓名|我的名字|名字叫做|名字叫|名字是|姓名是|姓名叫|我叫做|我叫|"
    r"我是|本人叫|本人是|本人|叫做|叫|姓名|名字)"
    r"|(?:my name is|my name's|my name|name is|name|i am|i'm|im|this is|it's|it is)\b)\s*[:：]?\s*",
    re.IGNORECASE,
)
_NAME_SUFFIX = re.compile(r"[\s,，。.!！]*(?:谢谢你|谢谢|谢了|thanks|thank you)$", re.IGNORECASE)
_HONORIFIC = re.compile(rf"(?<=[{_HAN}]{{2}})\s*(?:先生|女士|小姐)$")
_NOT_NAMES = frozenset(
    {
        "匿名", "不想说", "保密", "不告诉你", "无", "没有", "你好", "您好", "谢谢", "测试", "不知道", "名字",
        "姓名", "本人", "不方便", "不愿意", "不愿透露",
        "anonymous", "hello", "hi", "thanks", "test", "name", "none", "no name", "unknown", "secret",
    }
)  # fmt: skip


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and ord(ch) < 0x250


def _is_reply_word(name: str) -> bool:
    """Short replies that are commands or answers, not names: the bot asked for a name, the citizen
    typed "取消" or "好的"."""
    folded = to_simplified(name).lower()
    if folded in _NOT_NAMES or compact(folded) in _NOT_NAMES:
        return True
    return command_word(name) is not None or parse_yes_no(name) is not None or says_dont_know(name)


def parse_name(text: str) -> str | None:
    """The name as typed — Traditional characters stay Traditional, because the registered name is what
    it is — or None for digits, emoji, prose and replies like "取消" / "好的" / "匿名"."""
    s = strip_edges(" ".join(scrub(text).split()))
    if not s or len(s) > 60:
        return None
    for _ in range(2):
        s = strip_edges(_HONORIFIC.sub("", _NAME_SUFFIX.sub("", _NAME_PREFIX.sub("", s))))
    if not s:
        return None
    if re.search(f"[{_HAN}]", s):
        name = _DOTS.sub("·", _SPACES.sub("", s))
        if not _HAN_NAME.fullmatch(name):
            return None
        han = len(name) - name.count("·")
        limit = 20 if "·" in name else 6
        if not 2 <= han <= limit or name.count("·") > 3:
            return None
    else:
        name = s
        if not _LATIN_NAME.fullmatch(name) or not 2 <= len(name) <= 40:
            return None
        if not all(_is_latin_letter(ch) for ch in name if ch.isalpha()):
            return None
        if sum(ch.isalpha() for ch in name) < 2:
            return None
    if _is_reply_word(name):
        return None
    return name
