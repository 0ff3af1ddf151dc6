"""The catalogs: complete in every language, consistent placeholders, and every key the code uses exists.

Keys used in code are found by reading the conversation modules' string literals: any literal shaped
like a catalog key ("submit.ask_kind") must be in the catalogs, and every catalog entry must be used.
That is why code never builds a key from pieces (except the ".short" suffix, which texts.py adds).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from conversations import texts

ROOT = Path(texts.__file__).resolve().parents[1]
# Conversations use the texts; bots also send a few (the handoff-closed notice, the survey question).
CODE = (ROOT / "conversations", ROOT / "bots", ROOT / "channels")
_KEY = re.compile(r"[a-z][a-z_]*(?:\.[a-z0-9_]+)+")
_NAMESPACES = frozenset(
    {"common", "lang", "format", "menu", "submit", "lookup", "status", "subsidy", "rate", "handoff", "words"}
)
_HAN = re.compile(r"[\u3400-\u9fff]")
# Values of the right shape for filling every placeholder in a test render.
_SAMPLE = {
    "name": "阳光县政务服务",
    "count": 3,
    "limit": 5000,
    "minutes": 60,
    "n": 2,
    "year": 2025,
    "time": "11:00",
    "when": "3月9日周一 08:30",
}


def _sample(field: str) -> object:
    return _SAMPLE.get(field, "X")


@functools.cache
def _keys_in_code() -> frozenset[str]:
    found: set[str] = set()
    for path in (path for folder in CODE for path in folder.rglob("*.py")):
        if "understand" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and _KEY.fullmatch(value) and value.split(".")[0] in _NAMESPACES:
                found.add(value)
    return frozenset(found)


def _raw_entries(language: str) -> list[tuple[str, str]]:
    with texts.catalog_path(language).open("rb") as handle:
        catalog = read_po(handle)
    return [(str(message.id), str(message.string)) for message in catalog if message.id]


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_no_empty_or_fuzzy_translations(language: str) -> None:
    with texts.catalog_path(language).open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if not message.id:
            continue
        assert message.string and str(message.string).strip(), f"{language}: {message.id} is empty"
        assert not message.fuzzy, f"{language}: {message.id} is marked fuzzy"


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_language_has_the_same_keys(language: str) -> None:
    source = set(texts.catalog(texts.SOURCE_LANGUAGE))
    assert set(texts.catalog(language)) == source
    assert len(_raw_entries(language)) == len(source), "a key appears twice"


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_placeholders_match_the_source(language: str) -> None:
    source = texts.catalog(texts.SOURCE_LANGUAGE)
    for key, template in texts.catalog(language).items():
        assert texts.placeholders(template) == texts.placeholders(source[key]), f"{language}: {key}"


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_text_renders(language: str) -> None:
    for key, template in texts.catalog(language).items():
        fields = {name: _sample(name) for name in texts.placeholders(template)}
        assert template.format(**fields), key


def test_short_forms_need_nothing_the_long_form_does_not_have() -> None:
    catalog = texts.catalog(texts.SOURCE_LANGUAGE)
    for key, template in catalog.items():
        if key.endswith(texts.SHORT_SUFFIX):
            long_key = key.removesuffix(texts.SHORT_SUFFIX)
            assert long_key in catalog, f"{key} has no long form"
            assert texts.placeholders(template) <= texts.placeholders(catalog[long_key]), key


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_short_forms_stay_short(language: str) -> None:
    """One SMS segment's worth of template: 70 UCS-2 characters, or 160 for all-ASCII English."""
    for key, template in texts.catalog(language).items():
        if key.endswith(texts.SHORT_SUFFIX):
            limit = 160 if template.isascii() else 70
            assert len(template) <= limit, f"{language}: {key} is {len(template)} characters"


def test_every_key_used_in_code_exists() -> None:
    catalog = texts.catalog(texts.SOURCE_LANGUAGE)
    missing = sorted(key for key in _keys_in_code() if key not in catalog)
    assert not missing, f"keys used in code but missing from the catalogs: {missing}"


def test_every_catalog_entry_is_used() -> None:
    used = _keys_in_code()
    unused = sorted(
        key
        for key in texts.catalog(texts.SOURCE_LANGUAGE)
        if key.removesuffix(texts.SHORT_SUFFIX) not in used
    )
    assert not unused, f"catalog entries no code uses: {unused}"


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
def test_chinese_catalogs_keep_to_their_script(language: str) -> None:
    """No Simplified-only character in zh_Hant, no Traditional-only one in zh_Hans."""
    import opencc

    to_traditional = opencc.OpenCC("s2t")
    to_simplified = opencc.OpenCC("t2s")
    for key, template in texts.catalog(language).items():
        for char in set(_HAN.findall(template)):
            if language == "zh_Hant":
                wrong = to_simplified.convert(char) == char and to_traditional.convert(char) != char
            else:
                wrong = to_traditional.convert(char) == char and to_simplified.convert(char) != char
            assert not wrong, f"{language}: {key} uses {char!r}"


def test_english_catalog_has_no_chinese() -> None:
    for key, template in texts.catalog("en").items():
        assert not _HAN.search(template), key


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("zh-TW", "zh_Hant"),
        ("zh_Hant_HK", "zh_Hant"),
        ("zh-CN", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("en-US", "en"),
        ("fr", None),
        (None, None),
    ],
)
def test_channel_language_tags(tag: str | None, language: str | None) -> None:
    assert texts.language_of(tag) == language


def test_missing_key_is_an_error() -> None:
    with pytest.raises(texts.MissingText):
        texts.text("en", "no.such.key")


def test_inserted_values_are_not_read_as_templates() -> None:
    assert texts.text("zh_Hans", "menu.greeting", name="{0}<script>") == "您好，这里是{0}<script>。"
