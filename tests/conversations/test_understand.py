"""Tests for conversations.understand: a corpus of real-looking citizen messages plus edge cases."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conversations.understand import (
    DONT_KNOW,
    Intent,
    Option,
    global_intent,
    match_department,
    match_option,
    menu_intent,
    normalize,
    parse_case_number,
    parse_id_number,
    parse_name,
    parse_number,
    parse_password,
    parse_rating,
    parse_yes_no,
)

CORPUS = Path(__file__).with_name("understand_corpus.tsv")

DEPARTMENTS = [
    "县住建局",
    "县人社局",
    "城关镇",
    "县市场监管局",
    "县公安局",
    "县教育局",
    "县卫健局",
    "东坝乡",
    "县民政局",
    "县自然资源局",
]

OPTION_SETS: dict[str, list[Option]] = {
    "kinds": [
        Option("complaint", ("投诉", "complaint")),
        Option("tip", ("举报", "舉報", "tip", "report")),
        Option("suggestion", ("建议", "suggestion")),
        Option("consult", ("咨询", "enquiry")),
    ],
    "grades": [
        Option("very_good", ("满意",)),
        Option("ok", ("基本满意",)),
        Option("bad", ("不满意",)),
        Option("terrible", ("很差",)),
    ],
}


def _option_key(options: list[Option]) -> Callable[[str], str | None]:
    def pick(text: str) -> str | None:
        found = match_option(text, options)
        return None if found is None else found.key

    return pick


FUNCTIONS: dict[str, Callable[[str], Any]] = {
    "normalize": normalize,
    "global_intent": global_intent,
    "menu_intent": menu_intent,
    "parse_number": parse_number,
    "parse_yes_no": parse_yes_no,
    "parse_rating": parse_rating,
    "parse_case_number": parse_case_number,
    "parse_password": parse_password,
    "parse_id_number": parse_id_number,
    "parse_name": parse_name,
    "match_department": lambda text: match_department(text, DEPARTMENTS),
    **{f"match_option:{name}": _option_key(options) for name, options in OPTION_SETS.items()},
}
INT_FUNCTIONS = {"parse_number", "parse_rating"}
INTENT_FUNCTIONS = {"global_intent", "menu_intent"}


def _expected(function: str, raw: str) -> Any:
    if raw == "None":
        return None
    if raw == '""':
        return ""
    if function == "parse_yes_no":
        return {"True": True, "False": False}[raw]
    if function in INT_FUNCTIONS:
        return int(raw)
    if function in INTENT_FUNCTIONS:
        return Intent(raw)
    return raw


def _load_corpus() -> list[Any]:
    cases = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        function, text, raw, *_comment = line.split("\t")
        cases.append(pytest.param(function, text, _expected(function, raw), id=f"L{number}-{function}"))
    return cases


CORPUS_CASES = _load_corpus()


def test_corpus_is_large_and_covers_every_function() -> None:
    assert len(CORPUS_CASES) >= 150
    assert {case.values[0] for case in CORPUS_CASES} == set(FUNCTIONS)


@pytest.mark.parametrize(("function", "text", "expected"), CORPUS_CASES)
def test_corpus(function: str, text: str, expected: Any) -> None:
    result = FUNCTIONS[function](text)
    assert result == expected
    assert type(result) is type(expected)


# --------------------------------------------------------------------------------------- robustness

HOSTILE = [
    "",
    " ",
    "\ud800",
    "\udfff\ud800",
    "\x00",
    "a\x00b",
    "\u200f人工\u200e",
    "\u202e1234\u202c",
    "\ufeff",
    "\u200d",
    "1; DROP TABLE cases;--",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "%s%s%n",
    "{}{0}",
    "\\",
    "\U0010ffff",
    "\U000e0041",
    "\u0301\u0301\u0301",
    "👨‍👩‍👧‍👦🇨🇳",
    "İstanbul ß",
    "١٢٣",
    "a" * 10_000,
    "人工" * 5_000,
    "!" * 9_999 + "a",
    "1 " * 5_000,
    "⭐" * 10_000,
    "\n" * 10_000,
]
ALL_CALLS: dict[str, Callable[[str], Any]] = {
    **FUNCTIONS,
    "match_option:empty": lambda text: match_option(text, []),
    "match_department:empty": lambda text: match_department(text, []),
}


@pytest.mark.parametrize("name", sorted(ALL_CALLS))
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_never_raises(name: str, text: str) -> None:
    ALL_CALLS[name](text)


@pytest.mark.parametrize("name", sorted(ALL_CALLS))
def test_long_text_is_fast(name: str) -> None:
    started = time.perf_counter()
    for text in ("我" * 10_000, "a " * 5_000, "１" * 10_000):
        ALL_CALLS[name](text)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_short_text_is_fast(name: str) -> None:
    samples = ["嗯 我想查一下", "人工!!", "住键局", "1", "不知道", "⭐⭐⭐⭐", "我叫张三", "4831-2207-9154"]
    ALL_CALLS[name]("warm-up")
    started = time.perf_counter()
    for _ in range(20):
        for text in samples:
            ALL_CALLS[name](text)
    per_call = (time.perf_counter() - started) / (20 * len(samples))
    assert per_call < 0.001


def test_long_messages_are_not_global_commands() -> None:
    assert global_intent("人工" * 5_000) is None
    assert global_intent("取消" + "。" * 50 + "我的投诉还没有处理") is None
    assert menu_intent("补贴" * 100) is None


def test_long_prose_is_not_a_number() -> None:
    assert parse_number("我家门口的路灯坏了好几天了，第2盏灯一直不亮，麻烦处理一下") is None


# ---------------------------------------------------------------------------------------- normalize


def test_normalize_removes_invisible_characters() -> None:
    assert normalize("人\u200b工") == "人工"
    assert normalize("\ufeff取消\u200d") == "取消"
    assert normalize("\u202e1234\u202c") == "1234"
    assert normalize("a\x00b") == "ab"
    assert normalize("\ud800取消") == "取消"


def test_normalize_collapses_all_whitespace() -> None:
    assert normalize("转\t\n  人工\u3000服务") == "转 人工 服务"


def test_normalize_is_idempotent() -> None:
    for text in ("  查詢 一下！！ 🙏", "ＣＨＥＣＫ　１２３", "Don't   KNOW...", "【人工服務】"):
        assert normalize(normalize(text)) == normalize(text)


def test_opencc_is_loaded_lazily_and_only_for_non_ascii() -> None:
    code = """
import sys
import conversations.understand as understand
from conversations.understand.normalize import _t2s_converter
assert "opencc" not in sys.modules
assert understand.normalize("HELLO World!") == "hello world"
assert _t2s_converter.cache_info().currsize == 0
assert understand.normalize("查詢") == "查询"
assert understand.normalize("幫助") == "帮助"
assert _t2s_converter.cache_info().currsize == 1
"""
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)


def test_normalize_tolerates_non_str() -> None:
    assert normalize(None) == ""  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ intents


def test_intent_values_are_stable() -> None:
    assert [intent.value for intent in Intent] == [
        "menu",
        "cancel",
        "help",
        "human",
        "submit",
        "lookup",
        "subsidy",
        "rate",
        "lang:zh_Hans",
        "lang:zh_Hant",
        "lang:en",
    ]
    assert Intent("lang:en") is Intent.LANG_EN
    assert Intent.HUMAN == "human"


def test_global_words_do_not_collide() -> None:
    from conversations.understand import intents

    seen: dict[str, Intent] = {}
    for intent, words in intents._GLOBAL_WORDS.items():
        for word in words:
            key = intents.compact(word)
            assert seen.setdefault(key, intent) == intent, word


def test_global_and_menu_vocabularies_are_disjoint() -> None:
    from conversations.understand import intents

    assert not set(intents._GLOBAL) & set(intents._MENU)


def test_question_mark_only_is_help_but_other_punctuation_is_not() -> None:
    assert global_intent("?") is Intent.HELP
    assert global_intent(" ？ ？ ") is Intent.HELP
    assert global_intent("!") is None
    assert global_intent("") is None


def test_menu_intent_ignores_global_words() -> None:
    assert menu_intent("人工") is None
    assert menu_intent("取消") is None


# ------------------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一百", 100),
        ("一百零五", 105),
        ("一百五", 150),
        ("两百", 200),
        ("九十九", 99),
        ("999", 999),
        ("1000", None),
    ],
)
def test_parse_number_larger_numerals(text: str, expected: int | None) -> None:
    assert parse_number(text) == expected


def test_parse_number_rejects_malformed_numerals() -> None:
    assert parse_number("十十") is None
    assert parse_number("百十") == 110
    assert parse_number("二二十") is None


# ------------------------------------------------------------------------------------------ options


def test_match_option_number_picks_by_position() -> None:
    options = [Option("a", ("苹果",)), Option("b", ("香蕉",))]
    assert match_option("2", options) is options[1]
    assert match_option("第一个", options) is options[0]
    assert match_option("3", options) is None


def test_match_option_accepts_key_from_button() -> None:
    options = [Option("dept_housing", ("住建",)), Option("dept_labour", ("人社",))]
    assert match_option("dept_labour", options) is options[1]


def test_match_option_ambiguous_label_is_none() -> None:
    options = [Option("a", ("办理",)), Option("b", ("办理",))]
    assert match_option("办理", options) is None


def test_match_option_fuzzy_requires_clear_margin() -> None:
    options = [Option("a", ("abcdef",)), Option("b", ("abcdeg",))]
    assert match_option("abcdex", options) is None
    assert match_option("abcdeff", options) is options[0]


def test_match_option_with_list_labels_still_works() -> None:
    options = [Option("a", ["苹果"]), Option("b", ["香蕉"])]  # type: ignore[arg-type]
    assert match_option("香蕉", options) is options[1]


def test_match_option_empty_list() -> None:
    assert match_option("1", []) is None


# -------------------------------------------------------------------------------------- departments


def test_match_department_returns_configured_spelling() -> None:
    departments = ["縣住建局", "城關鎮"]
    assert match_department("住建", departments) == "縣住建局"
    assert match_department("城关", departments) == "城關鎮"


def test_match_department_only_uses_synonyms_of_configured_departments() -> None:
    assert match_department("医保", DEPARTMENTS) is None
    assert match_department("医保", [*DEPARTMENTS, "县医疗保障局"]) == "县医疗保障局"


def test_match_department_shared_alias_is_ambiguous() -> None:
    assert match_department("派出所", ["县公安局", "城关派出所"]) is None
    assert match_department("城关派出所", ["县公安局", "城关派出所"]) == "城关派出所"


def test_match_department_dont_know_constant() -> None:
    assert DONT_KNOW == "__dont_know__"
    assert match_department("不知道", []) == DONT_KNOW


def test_match_department_full_county_prefix() -> None:
    assert match_department("住建局", ["平安县住房和城乡建设局", "平安县民政局"]) == "平安县住房和城乡建设局"


# ------------------------------------------------------------------------------------------ ratings


def test_rating_hollow_stars_only_count_filled() -> None:
    assert parse_rating("★★☆☆☆") == 3
    assert parse_rating("★☆☆☆☆") == 4


def test_rating_star_counts_above_five_are_nonsense() -> None:
    assert parse_rating("⭐⭐⭐⭐⭐⭐") is None
    assert parse_rating("6 stars") is None


# -------------------------------------------------------------------------------------- identifiers


def test_identifiers_accept_other_script_digits() -> None:
    assert parse_password("١٢٣٤٥٦٧٨") == "12345678"


def test_identifiers_return_plain_strings() -> None:
    case = parse_case_number("4831-2207-9154")
    assert case == "483122079154"
    assert isinstance(case, str)
    assert parse_id_number("11010119900307451x") == "11010119900307451X"


def test_password_not_taken_from_longer_numbers() -> None:
    assert parse_password("483122079154") is None
    assert parse_password("20240115123") is None


def test_name_keeps_traditional_but_applies_nfkc() -> None:
    assert parse_name("陳　小明") == "陳小明"
    assert parse_name("ＪＯＨＮ") == "JOHN"


def test_name_length_limits() -> None:
    assert parse_name("张" * 6) == "张" * 6
    assert parse_name("张" * 7) is None
    assert parse_name("A" * 41) is None
    assert parse_name("爱新觉罗·溥仪") == "爱新觉罗·溥仪"
