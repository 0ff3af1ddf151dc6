"""Which department or town a citizen means.

Configured names are formal ("县住房和城乡建设局", "县市场监管局", "城关镇"); people say "住建", "工商",
"城关".  Aliases are derived from the configured names — administrative prefix and institutional suffix
removed, plus a small table of well-known short and old names — and only for departments actually
configured, so a county without a 医保局 never matches "医保".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Final

from .choices import LabelIndex, Outcome, match_literally, match_typo
from .normalize import normalize

__all__ = ["DONT_KNOW", "department_aliases", "match_department", "says_dont_know"]

DONT_KNOW: Final = "__dont_know__"

_DONT_KNOW_WORDS: tuple[str, ...] = (
    "不知道", "不清楚", "不确定", "不晓得", "不了解", "不懂", "不太清楚", "不太确定", "不太知道", "搞不清",
    "搞不清楚", "说不清", "说不清楚", "不记得", "记不清", "忘了", "不知", "不明白", "没数", "不知道是哪个",
    "don't know", "dont know", "do not know", "not sure", "unknown", "idk", "no idea", "dunno", "not certain",
)  # fmt: skip

# Leading county / banner name: "县住建局", "平安县住建局", "区民政局".
_ADMIN_PREFIX = re.compile(r"^(?:[^县旗]{1,4}[县旗]|[县区旗])(?=..)")
_SUFFIXES: tuple[str, ...] = (
    "街道办事处", "委员会", "办公室", "办事处", "街道办", "管理局", "服务中心", "中心", "分局", "街道",
    "社区", "局", "委", "办", "镇", "乡", "所", "院", "站", "队", "厅", "处", "科", "村",
)  # fmt: skip
# Each group lists names for the same body; if a configured name contains one of them, all become aliases.
_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("住建", "住房和城乡建设", "住房城乡建设", "住房建设", "建设局", "住建委"),
    ("人社", "人力资源和社会保障", "人力资源社会保障", "人力社保", "社保局", "劳动局"),
    ("市场监管", "市场监督管理", "工商局", "工商", "质监局", "食药监"),
    ("卫健", "卫生健康", "卫生和健康", "卫生局", "卫计委"),
    ("自然资源", "国土局", "国土资源"),
    ("农业农村", "农业局", "农委"),
    ("生态环境", "环保局", "环保"),
    ("发改", "发展和改革", "发展改革", "发改委"),
    ("交通运输", "交通局", "运管"),
    ("教体", "教育和体育", "教育体育"),
    ("医保", "医疗保障"),
    ("应急管理", "应急局", "安监局"),
    ("公安", "警察", "派出所"),
    ("城管", "城市管理", "综合执法", "综合行政执法"),
    ("水利", "水务"),
    ("信访", "信访办"),
)


@functools.lru_cache(maxsize=256)
def _alias_tiers(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(aliases derived from the name itself, aliases from the synonym table)."""
    folded = normalize(name)
    stems = [folded]
    short = _ADMIN_PREFIX.sub("", folded)
    if short != folded:
        stems.append(short)
    for stem in tuple(stems):
        for suffix in _SUFFIXES:
            if stem.endswith(suffix) and len(stem) - len(suffix) >= 2:
                stems.append(stem[: -len(suffix)])
    own = tuple(dict.fromkeys(stem for stem in (name, *stems) if len(stem) >= 2))
    borrowed = [
        form
        for group in _SYNONYMS
        if any(form in stem for form in group for stem in stems)
        for form in group
        if form not in own
    ]
    return own, tuple(dict.fromkeys(borrowed))


def department_aliases(name: str) -> tuple[str, ...]:
    """Every spelling under which ``name`` may be recognised (the name itself first)."""
    own, borrowed = _alias_tiers(name)
    return own + borrowed


@functools.lru_cache(maxsize=64)
def _index(departments: tuple[str, ...]) -> LabelIndex[str]:
    return LabelIndex.build((name, department_aliases(name)) for name in departments)


@functools.cache
def _dont_know_index() -> LabelIndex[str]:
    return LabelIndex.build([(DONT_KNOW, _DONT_KNOW_WORDS)])


@functools.lru_cache(maxsize=64)
def _typo_indexes(departments: tuple[str, ...]) -> tuple[LabelIndex[str], LabelIndex[str]]:
    """Typos are first matched against the departments' own names only: "人设局" is one edit from both
    "人社局" and the 住建 synonym "建设局", and the real name should win."""
    own = LabelIndex.build(
        [*((name, _alias_tiers(name)[0]) for name in departments), (DONT_KNOW, _DONT_KNOW_WORDS)]
    )
    everything = LabelIndex.build(
        [*((name, department_aliases(name)) for name in departments), (DONT_KNOW, _DONT_KNOW_WORDS)]
    )
    return own, everything


def says_dont_know(text: str) -> bool:
    """Whether the reply literally says "I don't know" (no typo tolerance)."""
    return match_literally(text, _dont_know_index()) == DONT_KNOW


def match_department(text: str, departments: Sequence[str]) -> str | None:
    """The configured department name a reply refers to, DONT_KNOW, or None.

    A department named alongside "不知道" wins ("不知道，可能是住建局" → the 住建局): the guess is more
    useful to staff than nothing.  Typos are only considered once neither a department nor a
    don't-know phrase was found literally.
    """
    try:
        names = tuple(dict.fromkeys(name for name in departments if isinstance(name, str) and name.strip()))
    except TypeError:
        return None
    found = match_literally(text, _index(names)) if names else Outcome.MISS
    if found is Outcome.AMBIGUOUS:
        return None
    if found is not Outcome.MISS:
        return found
    if says_dont_know(text):
        return DONT_KNOW
    own, everything = _typo_indexes(names)
    return match_typo(text, own) or match_typo(text, everything)
