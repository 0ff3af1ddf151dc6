"""What an SMS costs: segments, counted the way the network bills them, and texts cut to fit.

A message goes out in one of two encodings. GSM-7 when every character is in the GSM 03.38 alphabet:
160 septets in a single SMS, 153 per part once it must be concatenated (the rest carries the header),
and the extension-table characters (€ [ ] { } ^ ~ | \\ and form feed) take two septets each. Otherwise
UCS-2 (all Chinese text): 70 UTF-16 code units in a single SMS, 67 per part, and a character outside
the Basic Multilingual Plane (most emoji) takes two units. A part never ends between the two septets of
an extension character or the two units of a surrogate pair, so such a character at a boundary moves
whole to the next part, as the network does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# GSM 03.38 basic table (the escape code 0x1B itself is not a character) and its extension table.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

# Look-alikes that alone would force a whole English text into UCS-2 (a smart quote costs a message
# 70 instead of 160 characters per SMS); replaced only when the result is then entirely GSM-7.
_GSM_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\t": " ",
    }
)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def _costs(text: str) -> tuple[list[int], int, int]:
    """Each character's cost in its encoding's units, and that encoding's single and per-part size."""
    if is_gsm7(text):
        return [2 if ch in GSM_EXTENSION else 1 for ch in text], GSM_SINGLE, GSM_PART
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text], UCS2_SINGLE, UCS2_PART


def segments(text: str) -> int:
    """How many SMS the network bills for `text`; 0 for an empty text, which is never sent."""
    costs, single, part = _costs(text)
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count


def compact(text: str) -> str:
    """The same message in fewer characters where that changes nothing for the reader.

    Line ends unified, spaces before line ends and blank lines dropped (each costs like a character),
    and typographic quotes and dashes replaced by plain ones when that lets the whole text go as GSM-7.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = "\n".join(stripped for line in lines if (stripped := line.rstrip()))
    if not is_gsm7(kept):
        plain = kept.translate(_GSM_LOOKALIKES)
        if is_gsm7(plain):
            return plain.strip()
    return kept.strip()


# Where a long text may be cut, best first: after a line, after a sentence, after a clause or a space.
_BOUNDARIES = (
    re.compile(r"(?<=\n)"),
    re.compile(r"(?<=[。！？；!?;…])|(?<=\.)(?=\s)"),
    re.compile(r"(?<=[，、,：:\s])"),
)
# Last resort inside one overlong clause: single characters, but never inside a run of letters and
# digits (a case number, a password, an amount) while a shorter cut exists.
_TOKENS = re.compile(r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]+(?:[-./:][0-9A-Za-z０-９Ａ-Ｚａ-ｚ]+)*|\s+|.", re.DOTALL)
_ZWJ = "\u200d"


def split(text: str, max_segments: int) -> list[str]:
    """`text` as consecutive messages of at most `max_segments` segments each, as few as possible.

    Cuts fall after a line if one is near enough, else after a sentence, a clause or a word; numbers
    stay whole and no character is cut in two. The parts lose only the whitespace at the cuts.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")

    def fits(part: str) -> bool:
        return segments(part) <= max_segments

    if fits(text):
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, 0, fits):
        if fits(current + piece):
            current += piece
        else:
            parts.append(current)
            current = piece
    parts.append(current)
    return [stripped for part in parts if (stripped := part.strip())]


def pack(bodies: Iterable[str], max_segments: int) -> list[str]:
    """Consecutive messages joined into one wherever that costs no more segments than sending them apart.

    A tie is joined: one SMS arrives in order and whole, while separate ones may be shown out of order.
    """
    packed: list[str] = []
    for body in bodies:
        if not body:
            continue
        if packed:
            joined = f"{packed[-1]}\n{body}"
            cost = segments(joined)
            if cost <= max_segments and cost <= segments(packed[-1]) + segments(body):
                packed[-1] = joined
                continue
        packed.append(body)
    return packed


def _pieces(text: str, level: int, fits: Callable[[str], bool]) -> list[str]:
    """`text` cut at the best boundaries that give pieces which each fit; only an overlong piece is cut
    again at the next, weaker kind of boundary."""
    if fits(text):
        return [text]
    if level == len(_BOUNDARIES):
        return _smallest_pieces(text, fits)
    pieces: list[str] = []
    for chunk in _BOUNDARIES[level].split(text):
        if chunk:
            pieces.extend(_pieces(chunk, level + 1, fits))
    return pieces


def _smallest_pieces(text: str, fits: Callable[[str], bool]) -> list[str]:
    pieces: list[str] = []
    for token in _TOKENS.findall(text):
        if pieces and _continues(token, pieces[-1]) and fits(pieces[-1] + token):
            # a combining mark, a variation selector or a ZWJ sequence stays whole (unless absurdly long)
            pieces[-1] += token
        elif fits(token) or len(token) == 1:
            pieces.append(token)
        else:  # a "number" longer than a whole message: only characters are left to cut at
            pieces.extend(token)
    return pieces


def _continues(token: str, previous: str) -> bool:
    first = token[0]
    return (
        previous.endswith(_ZWJ)
        or first == _ZWJ
        or unicodedata.category(first) in ("Mn", "Me", "Mc")
        or 0xFE00 <= ord(first) <= 0xFE0F
        or 0x1F3FB <= ord(first) <= 0x1F3FF  # skin tones
    )
