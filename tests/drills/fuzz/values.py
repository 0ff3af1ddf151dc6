"""Field values every channel's strategies draw from: citizens' words that walk the conversations (so
cases really get submitted and looked up) and the odd ones (NULs, lone surrogates, bidi marks, huge)."""

from __future__ import annotations

from hypothesis import strategies as st

# Words of the flows, so a run of examples from the same few senders submits cases, looks them up,
# asks for subsidies, hands off to a person and comes back: the paths that write more than one row.
WORDS = (
    "你好", "菜单", "1", "2", "3", "4", "5", "0", "我要投诉", "举报", "建议", "咨询", "完成", "说完了",
    "不知道",
    "匿名", "是的", "确认", "不提交", "取消", "人工", "帮助", "查询进度", "补贴", "评价", "English", "繁體",
    "县住建局", "县民政局", "张三 13800138000", "110101199003077777", "4", "非常满意", "STOP", "START",
    "HELP", "退订", "/start", "镇上的路灯坏了三个月了，晚上老人摔倒了好几次。",
    "村支书王某某把低保名额给了自己亲戚。", "123456789012", "1234 5678 9012 3456", "12345678",
)  # fmt: skip

ODD = (
    "\x00", "\ud800", "\udfff", "\ud83d", "\ufffe", "\uffff", "\ufeff", "\u202e", "\u200b", "\r", "\n",
    "\t", "\x1b[31m", "]]>", "<![CDATA[", "&", "&amp;", "<", "%", "%00", "\\", '"', "'", "\u0085",
    "\u2028", "🙂", "𠀀", "é", "İ", "ß", "ﬁ", "Ⅻ", "１２３",
)  # fmt: skip

# Text is drawn with `st.text`, which hypothesis draws as one choice whatever its length: a list of
# characters joined would cost a choice per character, and at a hundred thousand cases that is minutes.
_ODD_ALPHABET = st.sampled_from(sorted({c for c in ODD if len(c) == 1}))
_SURROGATE = st.characters(categories=["Cs"])  # lone surrogates: valid in JSON escapes, never in UTF-8
odd_text = st.one_of(
    st.text(max_size=24),  # any Unicode but surrogates: CJK, astral, combining, bidi, controls
    st.text(max_size=24),
    st.text(_ODD_ALPHABET, max_size=8),
    st.tuples(st.text(max_size=6), _SURROGATE, st.text(max_size=6)).map("".join),
)
huge_text = st.builds(
    lambda n, piece: piece * n,
    st.sampled_from([2_000, 9_999, 10_001, 21_000, 70_000]),
    st.sampled_from(["字", "a", "\x00", "🙂"]),
)


def words() -> st.SearchStrategy[str]:
    return st.sampled_from(WORDS)


def message_text() -> st.SearchStrategy[str]:
    """What a citizen might send: mostly the flows' own words, often odd text (huge ones are drawn apart)."""
    return st.one_of(
        words(),
        words(),
        odd_text,
        st.builds(lambda a, b: a + b, words(), odd_text),
        st.text(max_size=300),
    )


def clean(value: str) -> bool:
    """True for text every wire can carry as UTF-8 (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
