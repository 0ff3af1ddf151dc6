"""How alike two petitions are, 0–100: the scoring half of duplicate detection, pure and database-free.

Two reports of one matter share most of their characters once noise is folded away (Traditional
characters, full-width digits, punctuation), though one may add a sentence ("上次反映后没人管"), drop
one or move one. Two different matters can share almost every character too: a street-light complaint
from 东风村 and one from 红旗村, pasted from the same template. What tells them apart are the details
that name the matter — villages, roads, shops, companies, people, and numbers — so a clash of those
outweighs any amount of shared wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from core.textnorm import scrub, to_simplified

GRAM = 2
MAX_GRAMS = 400  # of a long text, the first ones are enough to find its look-alikes

# A place or party named in the text: two characters before a word that says what it is, grouped by
# kind so that 河西中学 and 青山小学 are two schools. Two characters, not more: Chinese has no spaces,
# and longer prefixes would swallow the verbs before the name ("我们东风村").
_KINDS: dict[str, str] = {
    "村": "village", "社区": "village", "小区": "village",
    "镇": "town", "乡": "town", "街道": "town",
    "大道": "road", "路": "road", "街": "road", "巷": "road",
    "公司": "firm", "厂": "firm", "场": "firm",
    "超市": "shop", "店": "shop", "部": "shop",
    "小学": "school", "中学": "school", "学校": "school",
    "医院": "hospital", "卫生院": "hospital", "保健院": "hospital",
}  # fmt: skip
# A firm's line of business sits between its name and 公司/厂/场 ("星鹤劳务公司", "岗光水泥厂"); every
# labour firm's two characters before 公司 are 劳务, so with a trade the name is the two before it.
_TRADES = (
    "建筑", "劳务", "运输", "物流", "装饰", "装修", "服装", "水泥", "汽修", "养殖", "建材", "化工", "食品",
    "纺织", "机械", "科技", "置业", "房产", "地产", "矿业", "电子", "贸易", "商贸", "实业", "工程", "家具",
    "印刷", "塑料", "钢铁", "木材", "石材", "砂石", "制衣", "鞋业", "药业", "农业", "畜牧", "环保", "物业",
)  # fmt: skip
_FIRMS = [word for word, kind in _KINDS.items() if kind == "firm"]
_NAMED = re.compile(
    r"([\u4e00-\u9fff]{2})"
    + "(?:(?:" + "|".join(_TRADES) + ")(?=" + "|".join(_FIRMS) + "))?"
    + "(" + "|".join(sorted(_KINDS, key=len, reverse=True)) + ")"
)  # fmt: skip
_PERSON = re.compile(r"([\u4e00-\u9fff])某+")
_NUMBER = re.compile(r"\d+")
_NOT_WORD = re.compile(r"[\W_]+")
_PUNCTUATION = re.compile(r"[^\w\s]+|_+")
_SPACE = re.compile(r"\s+")

CLASH_PENALTY = 60.0  # a named detail that differs: two villages are two matters, however alike the words
NUMBER_PENALTY = 30.0  # at most, when no number agrees; numbers drift between retellings, so less
AGREEMENT_BONUS = 8.0  # per kind of detail both name alike (the same village, the same boss), and numbers
MAX_AGREEMENT = 3


@dataclass(frozen=True)
class Fingerprint:
    """A text reduced to what comparing it needs; computed once per text."""

    text: str  # letters and digits only, Simplified, lower-case
    grams: frozenset[str]
    details: dict[str, frozenset[str]]
    numbers: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.text)


def fingerprint(raw: str) -> Fingerprint:
    folded = to_simplified(scrub(raw)).lower()
    text = _NOT_WORD.sub("", folded)
    return Fingerprint(text, frozenset(grams(text)), _details(folded), frozenset(_NUMBER.findall(text)))


def grams(text: str) -> set[str]:
    """Distinct character bigrams of a canonical text: the index terms look-alikes share."""
    if len(text) < GRAM:
        return {text} if text else set()
    found: dict[str, None] = {}
    for start in range(len(text) - GRAM + 1):
        found.setdefault(text[start : start + GRAM], None)
        if len(found) >= MAX_GRAMS:
            break
    return set(found)


def _details(folded: str) -> dict[str, frozenset[str]]:
    """Named places and parties by kind ("village" → {"东风"}), and people by surname ("person" → {"王"}).

    Read per phrase: a name never spans "。", so "保质期。店老板" names no shop. Spaces are dropped
    inside a phrase, since phones and impatient thumbs put them anywhere ("李 某某").
    """
    named: dict[str, set[str]] = {}
    for spaced in _PUNCTUATION.split(folded):
        phrase = _SPACE.sub("", spaced)
        for prefix, word in _NAMED.findall(phrase):
            named.setdefault(_KINDS[word], set()).add(prefix)
        people = {surname for surname in _PERSON.findall(phrase) if surname != "某"}
        if people:
            named.setdefault("person", set()).update(people)
    return {kind: frozenset(names) for kind, names in named.items()}


def _clashes(left: dict[str, frozenset[str]], right: dict[str, frozenset[str]]) -> int:
    """Kinds of detail where each text names one the other does not: 东风村 here, 红旗村 there.

    Only one side naming more is no clash: a retelling adds "幸福路" to "东风村" and stays one matter.
    """
    return sum(
        1 for kind, names in left.items() if kind in right and names - right[kind] and right[kind] - names
    )


def _agreements(left: Fingerprint, right: Fingerprint) -> int:
    """Kinds of detail named alike in both (and all numbers agreeing counts as one): a retelling in
    other words of the same matter shares few phrases but names the same village, boss and sums."""
    named = sum(1 for kind, names in left.details.items() if names & right.details.get(kind, frozenset()))
    numbers = 1 if left.numbers and left.numbers == right.numbers else 0
    return min(named + numbers, MAX_AGREEMENT)


def _number_disagreement(left: frozenset[str], right: frozenset[str]) -> float:
    """0 when one side's numbers include the other's (a hotline number added is no disagreement)."""
    if not (left - right and right - left):
        return 0.0
    return 1.0 - len(left & right) / min(len(left), len(right))


def similarity(left: Fingerprint, right: Fingerprint) -> float:
    """Score two texts; 100 is the same text once noise is folded away.

    The base is the best of three views of shared wording: the edit-distance ratio (typos), the bigram
    overlap (sentences moved around), and, when one text mostly contains the other (a resubmission with
    a sentence added), the partial ratio discounted by how much is extra.
    """
    if not left or not right:
        return 0.0
    whole = fuzz.ratio(left.text, right.text)
    overlap = 200.0 * len(left.grams & right.grams) / (len(left.grams) + len(right.grams))
    short, long = (left.text, right.text) if len(left.text) <= len(right.text) else (right.text, left.text)
    cover = len(short) / len(long)
    contained = fuzz.partial_ratio(short, long) * (0.75 + 0.25 * cover) if cover >= 0.4 else 0.0
    score = max(whole, overlap, contained)
    clashes = _clashes(left.details, right.details)
    # Shared names only vouch for one matter when no other name contradicts it.
    score += -CLASH_PENALTY * clashes if clashes else AGREEMENT_BONUS * _agreements(left, right)
    score -= NUMBER_PENALTY * _number_disagreement(left.numbers, right.numbers)
    return min(max(score, 0.0), 100.0)
