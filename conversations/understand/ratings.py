"""Satisfaction grades: 1 满意, 2 基本满意, 3 不满意, 4 很差 (lower is better, as on the paper form).

Citizens answer with the grade number, a word, stars (shopping apps taught everyone five stars), or an
emoji.  Every signal found in the reply is turned into a grade; the reply counts only when all signals
agree, so "1 不满意" or "满意，但是很差" give None and the bot asks again.

Choices callers should know about:
* A bare number is a grade only from 1 to 4; "5" alone is None (five *stars* must say so: "5星", "5★").
* Stars map 5 → 1, 4 → 2, 3 and 2 → 3, 1 and 0 → 4.
* "很不满意" is 4 (strengthened negative), "不是很满意" is 3, "比较满意"/"还不错" are 2.
* "N分" (points) is None: people disagree on which end of a point scale is good.
"""

from __future__ import annotations

import enum
import re

from .fuzzy import closest, preceded_by, scan
from .normalize import compact, fold, strip_edges, tokens, variants
from .numbers import chinese_numeral, parse_number

__all__ = ["parse_rating"]

_MAX_LEN = 100
_FUZZY_MAX_LEN = 8

_GRADE_WORDS: dict[int, tuple[str, ...]] = {
    1: (
        "满意", "非常满意", "很满意", "十分满意", "特别满意", "挺满意", "超满意", "太满意", "相当满意",
        "好满意", "好", "很好", "非常好", "挺好", "特别好", "太好了", "满分", "好评", "赞", "点赞", "给力",
        "不错", "很不错", "挺不错", "感谢", "非常感谢",
        "satisfied", "very satisfied", "happy", "good", "very good", "great", "excellent", "perfect",
    ),
    2: (
        "基本满意", "比较满意", "还算满意", "还行", "一般", "一般般", "还可以", "凑合", "马马虎虎", "还好",
        "过得去", "中评", "尚可", "勉强", "还不错", "不差", "还凑合",
        "ok", "okay", "fine", "average", "so so", "not bad", "basically satisfied", "fair", "neutral",
        "alright",
    ),
    3: (
        "不满意", "不太满意", "不怎么满意", "不大满意", "不够满意", "不是很满意", "不是太满意", "不算满意",
        "不好", "不太好", "不行", "差", "较差", "比较差", "有点差", "失望", "不咋地", "不怎么样", "有点失望",
        "unsatisfied", "dissatisfied", "not satisfied", "bad", "poor", "not good", "unhappy", "not happy",
        "disappointed",
    ),
    4: (
        "很差", "非常不满意", "很不满意", "太不满意", "极不满意", "十分不满意", "特别不满意", "一点都不满意",
        "太差", "太差了", "差劲", "太差劲", "非常差", "特别差", "极差", "差评", "垃圾", "很烂", "烂", "太烂",
        "非常失望", "很失望", "太失望", "糟糕", "很糟糕", "非常糟糕", "恶劣", "零分", "0分",
        "very bad", "terrible", "awful", "horrible", "worst", "very unsatisfied", "very dissatisfied",
        "very poor", "very disappointed", "extremely bad", "rubbish",
    ),
}  # fmt: skip

_SPELLINGS: dict[str, int] = {compact(word): grade for grade, words in _GRADE_WORDS.items() for word in words}
_CHOICES = tuple(_SPELLINGS.items())
_PHRASES: dict[tuple[str, ...], int] = {
    tokens(word): grade
    for grade, words in _GRADE_WORDS.items()
    for word in words
    if len(tokens(word)) > 1 or word.isascii()
}
_LONGEST = max(len(key) for key in _PHRASES)
_NEGATORS = frozenset({"不", "没", "not", "never", "isn", "wasn"})

# Pinyin input slips of 满意 ("满忆", "基本满义", "瞒意"): too short for edit distance, too common to ignore.
_MANYI_SLIP = re.compile("[满慢蛮瞒漫曼螨][意忆义异以亿易艺议已衣医依仪宜益毅溢逸]")

_FILLED_STARS = "★⭐🌟✭✮✯✰✪"
_HOLLOW_STARS = "☆✩"
_STAR_PHRASE = re.compile(
    r"(?P<n>[0-9]+|[零〇一二两三四五六七八九十]|zero|one|two|three|four|five)[\s-]*(?:颗|个)?\s*"
    rf"(?:星|stars?|[{_FILLED_STARS}])"
)
_ENGLISH_COUNTS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_EMOJI: dict[str, int] = {
    "👍": 1, "👌": 1, "😊": 1, "😀": 1, "😃": 1, "😄": 1, "🙂": 1, "❤": 1, "💯": 1, "👏": 1, "🥰": 1,
    "😐": 2, "😑": 2,
    "🙁": 3, "😞": 3, "😕": 3, "☹": 3,
    "👎": 4, "😡": 4, "😠": 4, "🤬": 4, "💩": 4,
}  # fmt: skip
_SYMBOLS = frozenset(_FILLED_STARS + _HOLLOW_STARS + "".join(_EMOJI))
_LEADING_GRADE = re.compile(r"([1-4])(?![0-9])\s*[.、:)\-]?\s*(.+)")


class _Conflict(enum.Enum):
    """Signals that contradict each other (or a grade out of range): the whole reply means nothing."""

    CONFLICT = "conflict"


def _star_grade(count: int) -> int | None:
    if count > 5 or count < 0:
        return None
    return {5: 1, 4: 2, 3: 3, 2: 3}.get(count, 4)


def _star_count(match: re.Match[str]) -> int | None:
    raw = match.group("n")
    if raw.isdigit():
        return int(raw) if len(raw) <= 2 else None
    if raw in _ENGLISH_COUNTS:
        return _ENGLISH_COUNTS[raw]
    return chinese_numeral(raw)


def _word_grade(text: str) -> int | _Conflict | None:
    """Grade named by words, None if no rating word appears."""
    s = _MANYI_SLIP.sub("满意", text)
    forms = variants(s)
    for form in forms:
        if form in _SPELLINGS:
            return _SPELLINGS[form]
    units = tokens(s)
    grades: set[int] = set()
    for start, _, grade in scan(units, _PHRASES, _LONGEST):
        if preceded_by(units, start, _NEGATORS):
            grade = 3 if grade <= 2 else 2  # "不是特别好" → 3, "没有很差" → 2
        grades.add(grade)
    if len(grades) == 1:
        return grades.pop()
    if grades:
        return _Conflict.CONFLICT
    for form in forms:
        if len(form) <= _FUZZY_MAX_LEN:
            hit = closest(form, _CHOICES)
            if hit is not None:
                return hit
    return None


def _text_grade(text: str) -> int | _Conflict | None:
    number = parse_number(text)
    if number is not None:
        return number if 1 <= number <= 4 else _Conflict.CONFLICT
    leading = _LEADING_GRADE.fullmatch(text)
    if leading is not None:
        # "1 满意", "2.基本满意": the number must agree with the word.
        words = _word_grade(leading.group(2))
        digit = int(leading.group(1))
        if words is None or words == digit:
            return digit if words is not None else None
        return _Conflict.CONFLICT
    return _word_grade(text)


def parse_rating(text: str) -> int | None:
    """The satisfaction grade 1–4 a reply gives, or None."""
    folded = fold(text)
    if not folded or len(folded) > _MAX_LEN:
        return None
    grades: set[int] = set()

    def take_star_phrase(match: re.Match[str]) -> str:
        count = _star_count(match)
        grade = _star_grade(count) if count is not None else None
        grades.add(grade if grade is not None else 0)
        return " "

    rest = _STAR_PHRASE.sub(take_star_phrase, folded)
    filled = sum(rest.count(star) for star in _FILLED_STARS)
    if filled or any(star in rest for star in _HOLLOW_STARS):
        grades.add(_star_grade(filled) or 0)
    grades.update(grade for symbol, grade in _EMOJI.items() if symbol in rest)
    rest = strip_edges("".join(" " if ch in _SYMBOLS else ch for ch in rest))
    if rest:
        words = _text_grade(rest)
        if words is _Conflict.CONFLICT:
            return None
        if isinstance(words, int):
            grades.add(words)
    if len(grades) != 1 or 0 in grades:
        return None
    return grades.pop()
