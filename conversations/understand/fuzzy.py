"""Typo tolerance and phrase spotting shared by the word-based parsers.

Edit distance is a blunt tool on Chinese: one wrong character in a two-character word ("取笑" for "取消") is
already a different word, so short Chinese words are only ever matched exactly and the tolerance grows
with length.  Whatever wins must also win clearly — guessing wrong is worse than asking again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from rapidfuzz import process
from rapidfuzz.distance import OSA

__all__ = ["MARGIN", "close_enough", "closest", "preceded_by", "scan"]

T = TypeVar("T")

#: How much better (in normalised similarity) the winner must be than the best candidate that means
#: something else.  With the short words involved this amounts to "at least one edit closer".
MARGIN = 0.1
#: Scores below this are not even considered as runner-up.
_FLOOR = 0.5


def close_enough(query: str, candidate: str, score: float) -> bool:
    """Whether a fuzzy score is good enough to act on, given how short the words are.

    Chinese: both words need ≥3 characters and one edit per three characters is allowed ("住键局" →
    "住建局"; but "满意" is not a typo of "满意度").
    ASCII: words of 4 letters accept only a swap of two letters ("hlep", "mneu" but not "exit" → "edit");
    longer words accept one edit per five letters ("cancle", "humna", "subsidys").
    """
    if candidate.isascii():
        if len(candidate) < 4:
            return False
        if max(len(query), len(candidate)) <= 4:
            return score >= 0.75 and sorted(query) == sorted(candidate)
        return score >= 0.8
    if len(candidate) < 3 or len(query) < 3:
        return False
    return score >= 0.66


def closest(query: str, choices: Sequence[tuple[str, T]], *, margin: float = MARGIN) -> T | None:
    """The value whose spelling is nearest to ``query``, or None if nothing is near or two meanings tie.

    ``choices`` pairs a compact spelling with what it means; several spellings may share a meaning.
    """
    if len(query) < 2 or not choices:
        return None
    spellings = [spelling for spelling, _ in choices]
    try:
        hits = process.extract(
            query, spellings, scorer=OSA.normalized_similarity, score_cutoff=_FLOOR, limit=None
        )
    except Exception:
        return None
    best_score = -1.0
    winners: list[T] = []
    for spelling, score, index in hits:
        if not close_enough(query, spelling, score):
            continue
        value = choices[index][1]
        if score > best_score:
            best_score, winners = score, [value]
        elif score == best_score and value not in winners:
            winners.append(value)
    if len(winners) != 1:
        return None
    winner = winners[0]
    runner_up = max((score for _, score, index in hits if choices[index][1] != winner), default=0.0)
    if runner_up > best_score - margin:
        return None
    return winner


def scan(
    units: Sequence[str], phrases: Mapping[tuple[str, ...], T], longest: int
) -> list[tuple[int, int, T]]:
    """Leftmost-longest, non-overlapping phrase matches as (start, length, value).

    Longest-first is what keeps "不满意" from also counting as "满意", and "很不满意" from counting as
    "不满意".
    """
    found: list[tuple[int, int, T]] = []
    i = 0
    n = len(units)
    while i < n:
        for size in range(min(longest, n - i), 0, -1):
            key = tuple(units[i : i + size])
            if key in phrases:
                found.append((i, size, phrases[key]))
                i += size
                break
        else:
            i += 1
    return found


def preceded_by(units: Sequence[str], start: int, negators: frozenset[str], window: int = 2) -> bool:
    """Whether one of ``negators`` occurs just before position ``start`` ("不想投诉了", "not satisfied")."""
    return any(unit in negators for unit in units[max(0, start - window) : start])
