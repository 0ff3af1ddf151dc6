"""Reading the number a citizen picked from a numbered list.

A choice is only accepted when the whole message is the number plus words that merely frame it ("第二个",
"选3", "3号", "我选二吧", "option two").  Anything else left over ("查一下", "统一", "2号窗口坏了") means
the digits were part of a sentence, not a choice, and we return None rather than guess.
"""

from __future__ import annotations

import re

from .normalize import normalize

__all__ = ["MAX_CHOICE", "chinese_numeral", "parse_number"]

#: Larger numbers are not menu choices; they are phone numbers, years, case numbers...
MAX_CHOICE = 999
_MAX_LEN = 24

_DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "0": 0,
    "一": 1, "壹": 1, "幺": 1,
    "二": 2, "贰": 2, "两": 2, "俩": 2,
    "三": 3, "叁": 3, "参": 3, "仨": 3,
    "四": 4, "肆": 4,
    "五": 5, "伍": 5,
    "六": 6, "陆": 6,
    "七": 7, "柒": 7,
    "八": 8, "捌": 8,
    "九": 9, "玖": 9,
}  # fmt: skip
_UNITS: dict[str, int] = {"十": 10, "拾": 10, "百": 100, "佰": 100}
_NUMERAL_CHARS = "".join(ch for ch in (*_DIGITS, *_UNITS) if not ch.isdigit())

_ENGLISH: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
_ENGLISH_FRAME_WORDS = (
    "i", "choose", "chose", "pick", "picked", "select", "want", "option", "options", "number", "no",
    "nr", "num", "choice", "answer", "is", "it", "it's", "my", "the", "please", "pls", "plz", "go",
    "with", "ok", "okay",
)  # fmt: skip
_ENGLISH_FRAME = frozenset(_ENGLISH_FRAME_WORDS)
# Chinese framing words, removed before looking at what is left.  Longest first so "选项" wins over "选".
_ZH_FRAME_WORDS = (
    "第", "个", "号", "项", "条", "选项", "选择", "选", "我选", "我要", "我想", "我", "想", "要",
    "就", "是", "吧", "呢", "了", "啊", "呀", "啦", "的", "嗯", "哦", "那个", "这个", "按", "请", "谢谢",
    "好的", "好", "输入", "回复", "就是", "数字", "序号", "编号",
)  # fmt: skip
_ZH_FRAME = sorted(_ZH_FRAME_WORDS, key=len, reverse=True)
_ZH_FRAME_RE = re.compile("|".join(map(re.escape, _ZH_FRAME)))
_PIECE = re.compile(
    rf"(?P<digits>[0-9]+)(?:st|nd|rd|th)?|(?P<word>[a-z']+)|(?P<zh>[{_NUMERAL_CHARS}]+)|(?P<other>[^\W_])"
)


def chinese_numeral(run: str) -> int | None:
    """Value of a run of Chinese numerals: "三" 3, "十二" 12, "二十" 20, "一百零五" 105, "两百" 200.

    A run of bare digits without units ("一二") is ambiguous (12? one or two?) and gives None.
    """
    if not run:
        return None
    if not any(ch in _UNITS for ch in run):
        return _DIGITS.get(run) if len(run) == 1 else None
    total = 0
    pending: int | None = None
    last_unit = 1000
    saw_zero = False
    for ch in run:
        if ch in _UNITS:
            unit = _UNITS[ch]
            if unit >= last_unit:
                return None
            total += (1 if pending is None else pending) * unit
            pending, last_unit = None, unit
        elif ch in _DIGITS:
            digit = _DIGITS[ch]
            if digit == 0:
                saw_zero = True
                continue
            if pending is not None:
                return None
            pending = digit
        else:
            return None
    if pending is not None:
        # "一百五" is colloquial for 150; "一百零五" is 105.
        total += pending * (last_unit // 10 if not saw_zero and last_unit > 10 else 1)
    return total


def parse_number(text: str) -> int | None:
    """The non-negative integer (≤ MAX_CHOICE) the message names, or None.

    None when there is no number, when two different numbers appear ("1或2"), or when anything besides
    framing words surrounds it.
    """
    s = normalize(text)
    if not s or len(s) > _MAX_LEN:
        return None
    s = _ZH_FRAME_RE.sub(" ", s)
    values: set[int] = set()
    for match in _PIECE.finditer(s):
        kind = match.lastgroup
        piece = match.group(kind or 0)
        value: int | None
        if kind == "digits":
            value = int(piece)
        elif kind == "zh":
            value = chinese_numeral(piece)
            if value is None:
                return None
        elif kind == "word":
            if piece in _ENGLISH:
                value = _ENGLISH[piece]
            elif piece in _ENGLISH_FRAME:
                continue
            else:
                return None
        else:
            return None
        values.add(value)
    if len(values) != 1:
        return None
    (value,) = values
    return value if value <= MAX_CHOICE else None
