"""Fold whatever a phone, keyboard or IME produced into one canonical shape.

Every other parser in this package reads folded text, so that "查詢", "查询", "ＣＨＥＣＫ" and "check 🙏" all
look alike.  Nothing here may raise: channels hand us raw bytes-turned-text from feature phones, and a
crash on a stray surrogate would drop a citizen's message on the floor.
"""

from __future__ import annotations

import re

from core.textnorm import _t2s_converter, scrub, to_simplified  # noqa: F401  (re-exported)

__all__ = [
    "compact",
    "filler_stages",
    "fold",
    "normalize",
    "scrub",
    "strip_edges",
    "strip_fillers",
    "to_simplified",
    "tokens",
    "variants",
]

_ALNUM = re.compile(r"[^\W_]")
_NON_ALNUM = re.compile(r"[\W_]+")
_TOKEN = re.compile(r"[a-z]+|[0-9]+|[^\W_]")


def fold(text: object) -> str:
    """Everything normalize() does except trimming the edges.

    Callers that need to see punctuation or emoji standing on their own ("?" is a request for help,
    "👍" is a rating) start from here.
    """
    scrubbed = scrub(text)
    if not scrubbed:
        return ""
    return " ".join(to_simplified(scrubbed).lower().split())


def strip_edges(text: str) -> str:
    """Trim anything that is not a letter or digit from both ends, leaving inner punctuation alone so that
    "4831-2207-9154" and "don't know" survive."""
    first = _ALNUM.search(text)
    if first is None:
        return ""
    last = _ALNUM.search(text[::-1])
    end = len(text) - last.start() if last is not None else len(text)
    return text[first.start() : end]


def normalize(text: str) -> str:
    """The canonical form every comparison in the package is made on.

    NFKC (full-width → ASCII), Traditional → Simplified, lower-case, single spaces, and no punctuation or
    emoji around the content.  Never raises.
    """
    return strip_edges(fold(text))


def compact(text: str) -> str:
    """Remove spaces and punctuation entirely: citizens write "转 人工", "转-人工" and "转人工" alike."""
    return _NON_ALNUM.sub("", text)


def tokens(text: str) -> tuple[str, ...]:
    """Split into matchable units: whole ASCII words and digit runs, but one unit per Han character,
    since Chinese has no spaces and phrases must be found inside sentences."""
    return tuple(_TOKEN.findall(text))


# Words people wrap around what they actually mean.  Stripping them lets "嗯 我想转人工 谢谢" match the
# same vocabulary entry as "转人工".  Longest first, so "我想要" goes before "我想" and "我".
_PREFIX_WORDS = (
    "嗯", "恩", "啊", "哦", "噢", "喔", "喂", "哎", "唉", "那个", "这个", "你好", "您好", "请问",
    "请", "麻烦你", "麻烦", "帮我", "给我", "我想要", "我想", "我要", "我需要", "我", "想", "要",
    "就", "那", "还是", "现在", "能不能", "可不可以", "可以",
)  # fmt: skip
_SUFFIX_WORDS = (
    "一下", "吧", "呢", "呀", "啊", "啦", "了", "哈", "嘛", "哦", "谢谢", "谢谢你", "谢了",
    "好吗", "可以吗", "行吗", "好不好", "行不行", "可不可以", "吗", "的",
)  # fmt: skip
_ZH_FILLER_PREFIXES: tuple[str, ...] = tuple(sorted(_PREFIX_WORDS, key=len, reverse=True))
_ZH_FILLER_SUFFIXES: tuple[str, ...] = tuple(sorted(_SUFFIX_WORDS, key=len, reverse=True))
_EN_FILLERS = re.compile(
    r"\b(?:please|pls|plz|i'm|im|i|want|wanna|need|would|like|to|a|an|the|me|my|can|could|you|go|"
    r"hi|hello|hey|thanks|thank|just|let's|lets|let|us|some|talk|speak|with|get|back|now|ok|okay)\b"
)


def _peel(text: str) -> list[str]:
    """Every stage of peeling filler off both ends, one word at a time ("嗯嗯我想要查一下吧" needs several
    passes, and "算了吧" must stop at "算了" before "了" is peeled too)."""
    stages = [text]
    for _ in range(12):
        peeled = text
        for prefix in _ZH_FILLER_PREFIXES:
            if peeled.startswith(prefix) and len(peeled) > len(prefix):
                peeled = peeled[len(prefix) :]
                break
        else:
            for suffix in _ZH_FILLER_SUFFIXES:
                if peeled.endswith(suffix) and len(peeled) > len(suffix):
                    peeled = peeled[: -len(suffix)]
                    break
        if peeled == text:
            break
        text = peeled
        stages.append(text)
    return stages


def filler_stages(text: str) -> list[str]:
    """Compact forms of normalised text with polite and hesitation words removed from the edges, from
    least to most stripped.

    Never strips a message down to nothing: a lone "好" or "要" is an answer, not filler.
    """
    english_free = compact(_EN_FILLERS.sub(" ", text)) or compact(text)
    return _peel(english_free)


def strip_fillers(text: str) -> str:
    """The most stripped of filler_stages()."""
    return filler_stages(text)[-1]


def _collapse_repeat(text: str) -> str:
    """Saying "人工人工人工" or "嗯嗯" means the same as saying it once."""
    n = len(text)
    for size in range(1, n // 2 + 1):
        if n % size == 0 and text[:size] * (n // size) == text:
            return text[:size]
    return text


def variants(text: str) -> tuple[str, ...]:
    """The compact spellings worth an exact vocabulary lookup, most literal first."""
    candidates: list[str] = []
    for candidate in (compact(text), *filler_stages(text)):
        for form in (candidate, _collapse_repeat(candidate)):
            if form and form not in candidates:
                candidates.append(form)
    return tuple(candidates)
