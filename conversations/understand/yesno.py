"""Yes / no answers to a confirmation question.

The whole reply must consist of yes/no words and politeness ("好的 谢谢", "不对不对", "yes please"); anything
else ("是不是要交材料") is not a clear answer and gives None.  Longest words are read first, which is what
makes "不是" a no although it contains "是".  Digits are never yes/no: on screens that show numbered
options they mean an option.
"""

from __future__ import annotations

import re

from .normalize import fold, strip_edges, tokens

__all__ = ["parse_yes_no"]

_MAX_LEN = 20

_YES: tuple[str, ...] = (
    "是", "是的", "是滴", "是啊", "对", "对的", "对啊", "对头", "对了", "好", "好的", "好滴", "好啊", "好了",
    "确认", "确定", "可以", "可以的", "行", "行的", "嗯", "嗯嗯", "恩", "没问题", "提交", "确认提交", "同意",
    "要", "需要", "没错", "正确", "成", "中", "妥",
    "ok", "okay", "okey", "yes", "y", "yeah", "yep", "yup", "ya", "sure", "confirm", "confirmed", "correct",
    "right", "submit", "agree", "fine", "no problem", "of course", "go ahead",
)  # fmt: skip
_NO: tuple[str, ...] = (
    "不", "不是", "不是的", "否", "不对", "不要", "不用", "不用了", "错了", "错", "修改", "改", "改一下",
    "不行", "不可以", "不同意", "不需要", "不好", "没有", "不提交", "有错", "不正确", "重新填", "重填",
    "要改", "要修改", "需要修改", "我要改", "我要修改",
    "no", "n", "nope", "nah", "not", "wrong", "incorrect", "change", "edit", "modify",
)  # fmt: skip
_FILLER: tuple[str, ...] = (
    "啊", "吧", "呢", "呀", "啦", "了", "哈", "哦", "噢", "喔", "的", "我", "就", "请", "谢谢", "谢了",
    "麻烦了", "辛苦了", "一下", "please", "pls", "thanks", "thank", "you", "i", "it", "is", "that", "s",
)  # fmt: skip

_TABLE: dict[tuple[str, ...], bool | None] = {
    **{tokens(word): None for word in _FILLER},
    **{tokens(word): True for word in _YES},
    **{tokens(word): False for word in _NO},
}
_LONGEST = max(len(key) for key in _TABLE)
_YES_SYMBOLS = frozenset("👍👌✅✔☑🆗")
_NO_SYMBOLS = frozenset("👎❌✖✗✘❎🙅")
_HESITATION = frozenset({"嗯", "恩", "额", "呃"})
_REPEATS = re.compile(r"([a-z])\1+")


def _symbol_answer(folded: str) -> bool | None:
    """Emoji-only replies: 👍 / ✅ mean yes, 👎 / ❌ mean no; a mix means nothing."""
    yes = any(ch in _YES_SYMBOLS for ch in folded)
    no = any(ch in _NO_SYMBOLS for ch in folded)
    return yes if yes != no else None


def _lookup(key: tuple[str, ...]) -> tuple[bool, bool | None]:
    if key in _TABLE:
        return True, _TABLE[key]
    if len(key) == 1 and key[0].isascii():
        squeezed = _REPEATS.sub(r"\1", key[0])  # "yesss", "okk", "nooo"
        if (squeezed,) in _TABLE:
            return True, _TABLE[(squeezed,)]
    return False, None


def parse_yes_no(text: str) -> bool | None:
    """True for a clear yes, False for a clear no, None for anything else (including mixed answers)."""
    folded = fold(text)
    s = strip_edges(folded)
    if not s:
        return _symbol_answer(folded)
    if len(s) > _MAX_LEN:
        return None
    units = tokens(s)
    while len(units) > 1 and units[0] in _HESITATION:
        units = units[1:]  # "嗯 不对": the 嗯 is thinking aloud, not a yes
    answers: set[bool] = set()
    i = 0
    while i < len(units):
        for size in range(min(_LONGEST, len(units) - i), 0, -1):
            known, value = _lookup(units[i : i + size])
            if known:
                if value is not None:
                    answers.add(value)
                i += size
                break
        else:
            return None
    if len(answers) != 1:
        return None
    return answers.pop()
