"""Input vocabulary kept in the catalogs: the words a citizen may type to pick a choice.

A choice is recognised by the label the bot showed in any of our languages (someone chatting in
Traditional Chinese may still type Simplified, an English speaker may paste "举报") plus the
synonyms listed under `words.<key>` ("完成|好了|说完了"), separated by "|". Keeping them next to the
labels lets a translator add the words people really use without touching code; the matching itself
is done by `conversations.understand`.
"""

from __future__ import annotations

import functools

from conversations import texts
from conversations.understand import Option, normalize

SEPARATOR = "|"


@functools.cache
def vocabulary(*keys: str) -> tuple[str, ...]:
    """Every catalog entry under `keys`, in every language, split into single words."""
    found: list[str] = []
    for language in texts.LANGUAGES:
        for key in keys:
            entry = texts.catalog(language).get(key)
            if entry is None:
                continue
            for word in entry.split(SEPARATOR):
                word = word.strip()
                if word and word not in found:
                    found.append(word)
    return tuple(found)


def option(key: str, label_key: str, words_key: str | None = None) -> Option:
    """An understand.Option recognised by its label in all languages and the listed synonyms."""
    keys = (label_key, words_key) if words_key else (label_key,)
    return Option(key, vocabulary(*keys))


@functools.cache
def _folded(words_key: str) -> frozenset[str]:
    return frozenset(normalize(word).replace(" ", "") for word in vocabulary(words_key))


def is_exactly(text: str, words_key: str) -> bool:
    """The whole message is one of the words, nothing more.

    Used where a word inside a sentence must not count: "完成" ends a description, but "工程没有完成"
    is part of one.
    """
    folded = normalize(text).replace(" ", "")
    return bool(folded) and folded in _folded(words_key)


def contains_word(text: str, words_key: str) -> str | None:
    """What is left of the message once one of the words is taken out, or None if none is in it.

    For replies that combine a word and a value ("有疑问 2"): the caller parses what is left. Longer
    words are tried first, so "没有疑问" is found before "有疑问" inside it.
    """
    compact = normalize(text).replace(" ", "")
    for word in sorted(_folded(words_key), key=len, reverse=True):
        if word and word in compact:
            return compact.replace(word, " ", 1).strip()
    return None
