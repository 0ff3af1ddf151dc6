"""Matching a reply against a list the bot showed: numbered options and department names.

The matcher works in stages and stops at the first stage that finds anything: exact label, label inside
the message (or the message inside a label), then typo tolerance.  A stage that finds two different
answers returns None instead of falling through — the citizen named two things and must be asked again.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .fuzzy import closest, preceded_by, scan
from .normalize import compact, normalize, scrub, tokens, variants
from .numbers import parse_number

__all__ = ["LabelIndex", "Option", "Outcome", "match_labels", "match_literally", "match_option", "match_typo"]

T = TypeVar("T")

_MAX_LEN = 40
_FUZZY_MAX_LEN = 20
_NEGATORS = frozenset({"不", "别", "not", "don", "dont", "never"})


@dataclass(frozen=True)
class Option:
    """One entry of a list shown to the citizen, numbered from 1 in the order given."""

    key: str
    labels: tuple[str, ...] = ()


class Outcome(enum.Enum):
    """Results of a literal match that are not an answer."""

    MISS = "miss"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class LabelIndex(Generic[T]):
    """Labels pre-folded for matching, so a department list is prepared once rather than per message."""

    spellings: dict[str, T | Outcome]
    phrases: dict[tuple[str, ...], T | Outcome]
    choices: tuple[tuple[str, T], ...]
    longest: int

    @classmethod
    def build(cls, entries: Iterable[tuple[T, Iterable[str]]]) -> LabelIndex[T]:
        spellings: dict[str, T | Outcome] = {}
        phrases: dict[tuple[str, ...], T | Outcome] = {}
        choices: list[tuple[str, T]] = []
        for owner, labels in entries:
            for label in labels:
                folded = normalize(label)
                spelling = compact(folded)
                if not spelling:
                    continue
                choices.append((spelling, owner))
                if spellings.get(spelling, owner) != owner:
                    spellings[spelling] = Outcome.AMBIGUOUS
                else:
                    spellings[spelling] = owner
                units = tokens(folded)
                # A single Han character ("局", "县") inside a sentence says nothing.
                if len(units) > 1 or (units and units[0].isascii()):
                    if phrases.get(units, owner) != owner:
                        phrases[units] = Outcome.AMBIGUOUS
                    else:
                        phrases[units] = owner
        longest = max((len(units) for units in phrases), default=1)
        return cls(spellings, phrases, tuple(choices), longest)


def _single(owners: set[T | Outcome]) -> T | Outcome:
    if len(owners) != 1:
        return Outcome.AMBIGUOUS
    (owner,) = owners
    return owner


def _exact(forms: Sequence[str], index: LabelIndex[T]) -> T | Outcome:
    for form in forms:
        if form in index.spellings:
            return index.spellings[form]
    return Outcome.MISS


def _is_part(units: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    size = len(units)
    return any(phrase[i : i + size] == units for i in range(len(phrase) - size + 1))


def _contained(text: str, index: LabelIndex[T]) -> T | Outcome:
    units = tokens(text)
    if not units:
        return Outcome.MISS
    found = [
        (size, owner)
        for start, size, owner in scan(units, index.phrases, index.longest)
        if not preceded_by(units, start, _NEGATORS)
    ]
    if found:
        best = max(size for size, _ in found)
        return _single({owner for size, owner in found if size == best})
    # The message is part of a label: "住建" for "住建局", "监管" for "县市场监管局".
    if len(units) >= 2 or (units[0].isascii() and len(units[0]) >= 3):
        owners = {owner for phrase, owner in index.phrases.items() if _is_part(units, phrase)}
        if owners:
            return _single(owners)
    return Outcome.MISS


def match_literally(text: str, index: LabelIndex[T]) -> T | Outcome:
    """Exact label, else label inside the message (or message inside a label); no typo tolerance.

    Returns Outcome.MISS when nothing was named and Outcome.AMBIGUOUS when two different things were.
    """
    s = normalize(text)
    if not s or len(s) > _MAX_LEN:
        return Outcome.MISS
    found = _exact(variants(s), index)
    if found is Outcome.MISS:
        found = _contained(s, index)
    return found


def match_typo(text: str, index: LabelIndex[T]) -> T | None:
    """The label nearest by edit distance, if near enough and clearly nearer than any other meaning."""
    s = normalize(text)
    if not s or len(s) > _MAX_LEN:
        return None
    for form in variants(s):
        if len(form) <= _FUZZY_MAX_LEN:
            hit = closest(form, index.choices)
            if hit is not None:
                return hit
    return None


def match_labels(text: str, index: LabelIndex[T]) -> T | None:
    """Shared staged matcher (exact → contained → typo) over pre-folded labels."""
    found = match_literally(text, index)
    if found is Outcome.AMBIGUOUS:
        return None
    if found is Outcome.MISS:
        return match_typo(text, index)
    return found


@functools.lru_cache(maxsize=256)
def _option_index(options: tuple[Option, ...]) -> LabelIndex[Option]:
    return LabelIndex.build((option, (*option.labels, option.key)) for option in options)


def _index_for(options: tuple[Option, ...]) -> LabelIndex[Option]:
    try:
        return _option_index(options)
    except TypeError:  # labels given as a list: unhashable, so skip the cache
        return LabelIndex.build((option, (*option.labels, option.key)) for option in options)


def match_option(text: str, options: Sequence[Option]) -> Option | None:
    """The option a reply picks: its key (buttons send it), its number in the list, or its label.

    A number outside the list gives None rather than a guess.
    """
    opts = tuple(options)
    if not opts:
        return None
    raw = scrub(text).strip()
    for option in opts:
        if raw and raw == option.key:
            return option
    number = parse_number(text)
    if number is not None:
        return opts[number - 1] if 1 <= number <= len(opts) else None
    return match_labels(text, _index_for(opts))
