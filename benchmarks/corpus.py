"""Petitions and tips by the million, with labelled repeats, for measuring duplicate detection at scale.

The labelled generator the tests use (`tests.rules.duplicate_corpus`) draws places, companies and
schools from small fixed lists: a few hundred distinct matters per kind is all it can make, and a
county with a million open cases has far more. This keeps its kinds of matter, wordings and ways of
repeating (copies, Traditional characters, typos, added sentences, retellings) and only widens the
names: a village is any two common characters before 村, a company any two before 建筑公司. The hard
negatives stay hard — thousands of street-light complaints share every word but the village.

`background(n)` is n distinct matters, each reported once (the open cases); `probes(...)` is the
stream of new submissions to check against them: most repeat one background matter (the label),
the rest are matters never seen before.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.rules.duplicate_corpus import FAMILIES, Family, _dress, _fill, _join, _repeat

# Bump when anything below changes what is generated: cached databases are keyed on it.
VERSION = "corpus-1"

CHANNELS = ("sms", "wechat", "telegram", "webchat")
# Characters that make plausible place and company names; two of them give 7,000+ names per kind.
_NAME_CHARS = (
    "东西南北中上下前后新老大小高低长平安宁康泰和兴旺福寿金银玉石山河湖海江溪泉林松柏桃李梅竹兰"
    "花草田园坪岭沟湾塘坝桥庄店铺家营堡寨岗峰龙凤鹤鹿马牛羊云霞星月日光明阳春夏秋冬红黄绿青白紫"
    "华荣昌盛隆丰裕富贵吉祥瑞德仁义礼信忠孝永久恒远振宏鑫源通达顺利发展"
)
# Details that name a place or party: widened so a million matters can all be distinct.
_WIDENED = frozenset({"town", "village", "road", "company", "shop", "school", "hospital"})


@dataclass(frozen=True)
class Filing:
    """One submission as a channel hands it over."""

    matter: int
    family: str
    variant: str  # "original" for a first report; otherwise how the repeat was made
    department: str
    kind: str
    channel: str
    sender: str | None  # None: a fully anonymous tip
    text: str
    age_days: float  # how long before "now" it was submitted


@dataclass(frozen=True)
class Probe:
    """A new submission and the background case (by index) whose matter it repeats, if any."""

    filing: Filing
    repeats: int | None


@dataclass(frozen=True)
class _Matter:
    family: Family
    wording: int
    details: dict[str, Any]
    author: str | None
    channel: str


def _widen(rng: random.Random, value: str) -> str:
    """Swap a name's first two characters for two random ones, keeping the word that says what it is."""
    if len(value) < 3:
        return value
    return rng.choice(_NAME_CHARS) + rng.choice(_NAME_CHARS) + value[2:]


def _new_matter(rng: random.Random, index: int, taken: set[tuple[Any, ...]]) -> _Matter:
    """A matter no earlier one shares every detail with. A kind whose names are used up (a service
    window has only six kinds of business and twenty surnames) hands over to another kind."""
    family = FAMILIES[rng.randrange(len(FAMILIES))]
    for attempt in range(1, 10_000):
        details = {
            key: _widen(rng, value) if key in _WIDENED and isinstance(value, str) else value
            for key, value in family.details(rng).items()
        }
        key = (family.name, *sorted((k, str(v)) for k, v in details.items()))
        if key not in taken:
            taken.add(key)
            break
        if attempt % 100 == 0:
            family = FAMILIES[rng.randrange(len(FAMILIES))]
    else:  # pragma: no cover - every kind used up: millions of matters past what the benchmarks build
        raise RuntimeError("ran out of distinct matters")
    anonymous = family.kind == "tip" and rng.random() < 0.4
    return _Matter(
        family,
        rng.randrange(len(family.wordings)),
        details,
        None if anonymous else f"person-{index}",
        rng.choice(CHANNELS),
    )


def _original(matter: int, found: _Matter, text: str, age_days: float) -> Filing:
    return Filing(
        matter=matter,
        family=found.family.name,
        variant="original",
        department=found.family.department,
        kind=found.family.kind,
        channel=found.channel,
        sender=found.author,
        text=text,
        age_days=age_days,
    )


class Corpus:
    """A seeded source of matters: the background and the probes come from one, so they never collide."""

    def __init__(self, seed: int = 20261122, *, window_days: float = 55.0) -> None:
        self._rng = random.Random(seed)
        self._taken: set[tuple[Any, ...]] = set()
        self._matters: list[_Matter] = []
        self.window_days = window_days

    def _fresh(self) -> tuple[int, _Matter]:
        index = len(self._matters)
        found = _new_matter(self._rng, index, self._taken)
        self._matters.append(found)
        return index, found

    def background(self, n: int) -> list[Filing]:
        """n distinct matters, one open case each, submitted over the last `window_days`, oldest first
        (the order they were filed in, so case ids follow it as they would in service)."""
        rng = self._rng
        out: list[Filing] = []
        for _ in range(n):
            index, found = self._fresh()
            text = _join(rng, _fill(found.family.wordings[found.wording], found.details))
            out.append(_original(index, found, text, rng.uniform(0.01, self.window_days)))
        out.sort(key=lambda filing: -filing.age_days)
        return out

    def probes(self, background: Sequence[Filing], count: int, *, repeat_share: float = 0.7) -> list[Probe]:
        """New submissions: `repeat_share` of them repeat a random background matter, the rest are new."""
        rng = self._rng
        out: list[Probe] = []
        for _ in range(count):
            if background and rng.random() < repeat_share:
                target = rng.randrange(len(background))
                original = background[target]
                found = self._matters[original.matter]
                variant, sentences = _repeat(rng, found.family, found.wording, found.details)
                same_sender = variant == "retold_same_sender" or (
                    found.author is not None and rng.random() < 0.3
                )
                if variant == "retold_same_sender" and found.author is None:
                    variant = "retold"  # an anonymous reporter cannot be recognised
                stranger = None if found.author is None else f"other-{target}"
                sender = found.author if same_sender else stranger
                channel = found.channel if sender == found.author else rng.choice(CHANNELS)
                filing = Filing(
                    matter=original.matter,
                    family=found.family.name,
                    variant=variant,
                    department=found.family.department,
                    kind=found.family.kind,
                    channel=channel,
                    sender=sender,
                    text=_dress(rng, _join(rng, sentences), variant),
                    age_days=0.0,
                )
                out.append(Probe(filing, target))
            else:
                index, found = self._fresh()
                text = _join(rng, _fill(found.family.wordings[found.wording], found.details))
                out.append(Probe(_original(index, found, text, 0.0), None))
        return out
