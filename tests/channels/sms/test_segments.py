"""Segment counting as the network bills it, and cutting and joining texts to cost as little as possible."""

from __future__ import annotations

import random

import pytest

from channels.sms.segments import compact, is_gsm7, pack, segments, split

EMOJI = "😀"  # outside the BMP: two UTF-16 code units
FAMILY = "👨\u200d👩\u200d👧"  # one picture made of three emoji joined by ZWJ


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 1),
        # GSM-7: 160 in one SMS, 153 per part after that
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà" * 3, 1),
        # extension characters take two septets
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("[" * 80, 1),
        ("a" * 159 + "~", 2),
        ("a" * 158 + "|", 1),
        # an extension character never straddles two parts: 152 + (2) + 152 is 306 septets, yet 3 parts
        ("a" * 152 + "€" + "a" * 152, 3),
        # UCS-2: one character outside GSM-7 turns the whole text into UCS-2
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("a" * 69 + "中", 1),
        ("a" * 70 + "中", 2),
        ("a" * 100 + "`", 2),  # the backtick is not in GSM-7
        ("您好，这里是阳光县政务服务。", 1),
        # emoji take two code units, and a surrogate pair is never cut
        (EMOJI * 35, 1),
        (EMOJI * 36, 2),
        (EMOJI + "中" * 68, 1),
        (EMOJI + "中" * 69, 2),
        ("中" * 66 + EMOJI + "中" * 66, 3),  # 134 units, but the pair moves whole to the second part
    ],
)
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_gsm7_alphabet_edges() -> None:
    assert is_gsm7("Hello, world! 100% (ok) @home")
    assert is_gsm7("€[]{}^~|\\\f")
    assert not is_gsm7("naïve")  # ï is not in the GSM alphabet
    assert not is_gsm7("“quoted”")
    assert not is_gsm7("１２３")  # full-width digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Don’t forget — reply “menu”…", 'Don\'t forget - reply "menu"...'),
        ("line one  \r\n\r\n\nline two\n", "line one\nline two"),
        ("请回复“菜单”。", "请回复“菜单”。"),  # Chinese stays UCS-2 anyway: nothing to gain, nothing changed
        ("Café ’x’ 中", "Café ’x’ 中"),  # still UCS-2 after replacing the quotes: left as it was
    ],
)
def test_compact(text: str, expected: str) -> None:
    assert compact(text) == expected


def test_compact_saves_segments_for_english_with_smart_quotes() -> None:
    text = "We’ve received your request. " * 5
    assert segments(text) == 3
    assert segments(compact(text)) == 1


def _assert_split(text: str, max_segments: int, parts: list[str]) -> None:
    assert all(1 <= segments(part) <= max_segments for part in parts)
    # nothing lost or reordered but the whitespace at the cuts
    assert "".join("".join(part.split()) for part in parts) == "".join(text.split())


def test_a_text_that_fits_is_not_split() -> None:
    assert split("短消息", 1) == ["短消息"]
    assert split("", 1) == []


def test_split_prefers_line_ends() -> None:
    lines = [f"第{i}条：您反映的问题已转交县民政局办理，请耐心等待答复。" for i in range(1, 6)]
    text = "\n".join(lines)
    parts = split(text, 1)
    _assert_split(text, 1, parts)
    assert len(parts) == 3
    assert all(set(part.split("\n")) <= set(lines) for part in parts)  # whole lines only


def test_split_falls_back_to_sentences_then_clauses() -> None:
    sentence = "经核查，已取消相关人员低保资格，并对王某某立案调查。"
    text = sentence * 6  # one long line
    parts = split(text, 1)
    _assert_split(text, 1, parts)
    assert all(part.endswith("。") or part.endswith("，") for part in parts[:-1])


def test_split_never_cuts_a_number() -> None:
    text = "您的查询密码是" + "中" * 60 + "20849858 请抄下。"
    parts = split(text, 1)
    _assert_split(text, 1, parts)
    assert any("20849858" in part for part in parts)


def test_split_never_cuts_an_emoji_or_a_joined_emoji() -> None:
    text = (EMOJI + "中" * 10 + FAMILY) * 10
    parts = split(text, 1)
    _assert_split(text, 1, parts)
    assert sum(part.count(FAMILY) for part in parts) == 10
    assert sum(part.count(EMOJI) for part in parts) == 10
    assert all(not part.endswith("\u200d") and not part.startswith("\u200d") for part in parts)


def test_split_uses_the_cheaper_encoding_per_part() -> None:
    text = "a" * 150 + "\n" + "中" * 60
    parts = split(text, 1)
    assert parts == ["a" * 150, "中" * 60]


def test_split_into_several_segments_each() -> None:
    text = "。".join(f"第{i}句话说明办理情况" for i in range(100))
    parts = split(text, 10)
    _assert_split(text, 10, parts)
    assert len(parts) == 2


def test_split_rejects_zero_segments() -> None:
    with pytest.raises(ValueError):
        split("x", 0)


@pytest.mark.parametrize(
    ("bodies", "expected"),
    [
        # two short replies go as one SMS
        (["已记下。", "1 完成"], ["已记下。\n1 完成"]),
        # a tie is joined: 40 + 1 + 40 = 81 units is 2 segments, like 1 + 1 apart
        (["中" * 40, "文" * 40], ["中" * 40 + "\n" + "文" * 40]),
        # 70 + 70 apart is 2 segments, joined 141 units would be 3: kept apart
        (["中" * 70, "文" * 70], ["中" * 70, "文" * 70]),
        # an English reply after a Chinese one would become UCS-2 and cost more: kept apart
        (["中" * 60, "a" * 150], ["中" * 60, "a" * 150]),
        ([], []),
        (["", "x"], ["x"]),
    ],
)
def test_pack(bodies: list[str], expected: list[str]) -> None:
    assert pack(bodies, 10) == expected


def test_pack_never_exceeds_the_cap() -> None:
    bodies = ["中" * 60] * 20
    packed = pack(bodies, 3)
    assert all(segments(body) <= 3 for body in packed)
    assert sum(segments(body) for body in packed) <= sum(segments(body) for body in bodies)


def test_odd_unicode_never_breaks_counting_or_cutting() -> None:
    rng = random.Random(20260302)
    alphabet = [
        *"aZ09 \n\t.,。！？，€[~",
        "中",
        "文",
        EMOJI,
        "\u200d",
        "\ufe0f",
        "\u0301",
        "\ud800",  # a lone surrogate, as a broken client might produce
        "\U0010fffd",
        "\x00",
        "１",
        "🏽",
    ]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        count = segments(text)
        assert count >= (1 if text else 0)
        for cap in (1, 3):
            parts = split(text, cap)
            assert all(segments(part) <= cap for part in parts)
            assert "".join("".join(p.split()) for p in parts) == "".join(text.split())
        segments(compact(text))
        pack([text, text], 10)
