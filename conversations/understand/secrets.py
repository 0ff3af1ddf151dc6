"""What of a citizen's message may be kept: the words, without the secrets typed into them.

Every inbound message is logged (the retry key, and the history staff read when they take over), but a
query password or a resident ID number typed into it must not sit in the database in clear: the case
keeps only an argon2 hash of the one, the subsidy lookup only a keyed hash and ciphertext of the other.
The conversation itself still gets the message as typed; only the stored copy is masked.

A secret is found the way the parsers find it (`identifiers`): a run of digits with spaces or dashes in
it, judged whole and then split at its spaces, so "4831-2207-9154 1234-5678" keeps the case number and
loses the password. Full-width and other decimal digits count as digits.
"""

from __future__ import annotations

import re
import unicodedata

MASK_CHAR = "•"
_RUN = re.compile(r"\d(?:[ \t\-_\u2010-\u2015\u2212]*[\dXxＸｘ×])*")
_SPACES = re.compile(r"(\s+)")
_PASSWORD = re.compile(r"[0-9]{8}|[0-9]{6}")  # query passwords; one-time codes sent by SMS
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}")  # resident ID, 18 or the old 15 characters


def _compact(piece: str) -> str:
    digits = []
    for ch in piece:
        value = unicodedata.decimal(ch, None)
        if value is not None:
            digits.append(str(value))
        elif ch in "XxＸｘ×":
            digits.append("X")
    return "".join(digits)


def _secret(piece: str) -> bool:
    compact = _compact(piece)
    return bool(_PASSWORD.fullmatch(compact) or _ID_NUMBER.fullmatch(compact))


def _mask(match: re.Match[str]) -> str:
    run = match.group(0)
    if _secret(run):
        return MASK_CHAR * len(_compact(run))
    parts = _SPACES.split(run)
    return "".join(MASK_CHAR * len(_compact(part)) if _secret(part) else part for part in parts)


def without_secrets(text: str) -> str:
    """`text` with every password-, code- or ID-number-shaped run of digits masked."""
    return _RUN.sub(_mask, text)
