"""The SMS control words: a message that is nothing but STOP / 退订, START or HELP.

Carriers and Twilio treat these words specially on every SMS number, so the channel answers them itself,
before any conversation sees them: they must not start one or move one along. Only a message that is
the word alone counts (case, full-width letters, spaces and punctuation around it do not matter);
"请不要STOP我的补贴" is an ordinary message, and digits are never control words, so a survey answer
can never be taken for one.

CANCEL, QUIT and END are opt-out words on SMS even though "cancel" and "quit" mean "back to the menu"
in a conversation: carriers and Twilio stop delivery for them anyway, so answering them as a menu word
would promise messages the citizen then never gets.
"""

from __future__ import annotations

import enum
import re
import unicodedata


class Keyword(enum.Enum):
    STOP = "stop"  # no more messages the citizen did not ask for
    START = "start"  # allow them again
    YES = "yes"  # START, but only for an opted-out number; otherwise an ordinary "yes"
    HELP = "help"


WORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        ("stop", "stopall", "unsubscribe", "end", "quit", "revoke", "optout", "cancel", "td", "退订", "退訂"),
        Keyword.STOP,
    ),
    **dict.fromkeys(("start", "unstop"), Keyword.START),
    "yes": Keyword.YES,
    "help": Keyword.HELP,
}

# Chinese keywords are answered in Chinese; "TD" is the Chinese carriers' short form of 退订.
_LANGUAGE_OF = {"退订": "zh_Hans", "td": "zh_Hans", "退訂": "zh_Hant"}

_JOINERS = re.compile(r"[\s\-_]+")  # "STOP ALL", "opt-out"


def _folded(text: str) -> str:
    normal = unicodedata.normalize("NFKC", text)
    # Invisible format characters (zero-width spaces, BOM) and punctuation or spaces around the word.
    visible = "".join(ch for ch in normal if unicodedata.category(ch) != "Cf")
    start, end = 0, len(visible)
    while start < end and _is_padding(visible[start]):
        start += 1
    while end > start and _is_padding(visible[end - 1]):
        end -= 1
    return _JOINERS.sub("", visible[start:end]).casefold()


def _is_padding(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PZS"


def keyword(text: str) -> Keyword | None:
    """The control word `text` consists of, or None for an ordinary message."""
    if len(text) > 40:  # far longer than any keyword with padding: an ordinary message
        return None
    return WORDS.get(_folded(text))


def language_of(text: str) -> str:
    """The language to confirm a keyword in: Chinese for the Chinese words, else English."""
    return _LANGUAGE_OF.get(_folded(text), "en")
