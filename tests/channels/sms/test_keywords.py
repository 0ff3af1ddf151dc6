"""Which messages are SMS control words: the word alone, however it is typed, and nothing else."""

from __future__ import annotations

import pytest

from channels.sms import texts
from channels.sms.keywords import Keyword, keyword, language_of
from channels.sms.segments import segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", Keyword.STOP),
        ("stop", Keyword.STOP),
        ("  Stop. ", Keyword.STOP),
        ("ＳＴＯＰ", Keyword.STOP),  # full-width letters
        ("ｓｔｏｐ！", Keyword.STOP),
        ("\u200bSTOP\ufeff", Keyword.STOP),  # invisible characters around it
        ("STOPALL", Keyword.STOP),
        ("Stop all", Keyword.STOP),
        ("UNSUBSCRIBE", Keyword.STOP),
        ("END", Keyword.STOP),
        ("QUIT", Keyword.STOP),
        ("REVOKE", Keyword.STOP),
        ("OPTOUT", Keyword.STOP),
        ("opt-out", Keyword.STOP),
        ("CANCEL", Keyword.STOP),
        ("退订", Keyword.STOP),
        ("退订。", Keyword.STOP),
        ("退訂", Keyword.STOP),
        ("TD", Keyword.STOP),
        ("td", Keyword.STOP),
        ("ＴＤ", Keyword.STOP),
        ("START", Keyword.START),
        ("unstop", Keyword.START),
        ("YES", Keyword.YES),
        ("Yes!", Keyword.YES),
        ("HELP", Keyword.HELP),
        ("help?", Keyword.HELP),
        # ordinary messages
        ("请不要STOP我的补贴", None),
        ("STOP it please", None),
        ("don't stop", None),
        ("退订短信怎么弄", None),
        ("1", None),
        ("１", None),
        ("4", None),
        ("满意", None),
        ("帮助", None),  # the conversation's own help word, answered in context by the engine
        ("取消", None),
        ("菜单", None),
        ("", None),
        ("STOP" * 20, None),
    ],
)
def test_keyword(text: str, expected: Keyword | None) -> None:
    assert keyword(text) is expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("退订", "zh_Hans"),
        ("TD", "zh_Hans"),
        ("ｔｄ", "zh_Hans"),
        ("退訂", "zh_Hant"),
        ("STOP", "en"),
        ("help", "en"),
    ],
)
def test_language_of_the_answer(text: str, language: str) -> None:
    assert language_of(text) == language


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_answer_exists_in_every_language_and_fits_one_sms(language: str) -> None:
    catalog = texts.catalog(language)
    for key in texts.KEYS:
        assert catalog.get(key), f"{language}: {key} is missing"
        assert segments(catalog[key]) == 1, f"{language}: {key} costs more than one SMS"
    assert set(catalog) == set(texts.KEYS)
