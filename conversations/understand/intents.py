"""Recognising what a citizen wants to do: the words that work at every step and the main-menu entries.

Global words (menu, cancel, help, human, language) interrupt whatever step the conversation is in, so they
must only fire when the message *is* the command — a complaint that says "人工服务太差" must stay a
complaint.  Main-menu words are looser: "我想查一下补贴" is plainly a subsidy query.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from .fuzzy import closest, preceded_by, scan
from .normalize import compact, fold, normalize, strip_edges, tokens, variants

__all__ = ["GLOBAL_MAX_LEN", "MENU_MAX_LEN", "Intent", "command_word", "global_intent", "menu_intent"]


class Intent(enum.StrEnum):
    """What the citizen wants.  Values are stable strings because flows store them and buttons send them."""

    MENU = "menu"
    CANCEL = "cancel"
    HELP = "help"
    HUMAN = "human"
    SUBMIT = "submit"
    LOOKUP = "lookup"
    SUBSIDY = "subsidy"
    RATE = "rate"
    LANG_ZH_HANS = "lang:zh_Hans"
    LANG_ZH_HANT = "lang:zh_Hant"
    LANG_EN = "lang:en"


#: Longer messages (after normalisation) are never global commands.
GLOBAL_MAX_LEN = 12
_GLOBAL_MAX_ASCII_LEN = 40
_GLOBAL_MAX_WORDS = 9
#: Longer messages are prose, not a menu choice.
MENU_MAX_LEN = 30
_MENU_FUZZY_MAX_LEN = 12

# All vocabulary is written in Simplified Chinese and lower case: input is folded before lookup.
# A few frequent pinyin-IME slips of the two-character words are listed explicitly, because two-character
# words are too short for edit distance to tell a typo from a different word.
_GLOBAL_WORDS: dict[Intent, tuple[str, ...]] = {
    Intent.MENU: (
        "菜单", "主菜单", "目录", "返回菜单", "回到菜单", "回菜单", "返回主菜单", "回主菜单", "选单",
        "主选单", "首页", "回首页", "返回首页", "重新开始", "彩单", "菜丹",
        "main menu", "menu", "back to menu",
    ),
    Intent.CANCEL: (
        "取消", "退出", "算了", "不办了", "不弄了", "不查了", "不用办了", "结束", "取消办理", "取销",
        "cancel", "quit", "exit",
    ),
    Intent.HELP: (
        "帮助", "帮忙", "帮帮忙", "帮帮我", "帮我", "求助", "怎么用", "怎么弄", "怎么操作", "怎么办",
        "使用说明", "说明", "不会用", "看不懂", "help",
    ),
    Intent.HUMAN: (
        "人工", "转人工", "人工服务", "人工客服", "客服", "转客服", "找客服", "找人", "真人", "找真人",
        "真人客服", "工作人员", "找工作人员", "接线员", "坐席", "人公", "转人公",
        "human", "agent", "operator", "real person", "customer service", "live agent",
    ),
    Intent.LANG_EN: ("english", "英文", "英语", "英文版", "in english"),
    Intent.LANG_ZH_HANS: (
        "中文", "简体", "简体中文", "简体字", "中文版", "汉语", "chinese", "simplified chinese",
    ),
    Intent.LANG_ZH_HANT: ("繁体", "繁体中文", "繁体字", "正体", "正体中文", "繁中", "traditional chinese"),
}  # fmt: skip

# Main-menu words.  "Strong" words name the service; "weak" ones (咨询, 建议, 查...) only count when no
# strong word is present, so "咨询补贴" is a subsidy query and "查一下投诉进度" a progress lookup.
_MENU_STRONG: dict[Intent, tuple[str, ...]] = {
    Intent.SUBMIT: (
        "投诉", "举报", "信访", "上访", "反映", "反映问题", "我要投诉", "我要举报", "检举", "揭发", "诉求",
        "complaint", "complain", "report", "tip", "tipoff", "tip off", "petition",
    ),
    Intent.LOOKUP: (
        "查询", "查进度", "进度", "查询进度", "查结果", "受理情况", "办理进度", "处理进度", "办理情况",
        "处理情况", "处理结果", "查案件", "案件查询", "查回复",
        "lookup", "look up", "status", "progress", "track",
    ),
    Intent.SUBSIDY: (
        "补贴", "补助", "惠民资金", "查补贴", "补贴查询", "惠农", "惠民惠农", "一卡通", "资金", "补偿款",
        "低保", "养老金", "救助金", "subsidy", "subsidies", "benefit", "benefits", "allowance",
    ),
    Intent.RATE: ("评价", "打分", "满意度", "评分", "服务评价", "rate", "rating", "feedback", "review"),
}  # fmt: skip
_MENU_WEAK: dict[Intent, tuple[str, ...]] = {
    Intent.SUBMIT: ("建议", "咨询", "意见", "提建议", "留言", "suggestion", "suggest", "enquiry", "inquiry"),
    Intent.LOOKUP: ("查", "查一下", "查看", "查查", "check", "query"),
}  # fmt: skip

_NEGATORS = frozenset({"不", "别", "not", "don", "never", "dont"})
_NEGATED_START = ("不", "别", "没", "not ", "don", "no ", "never")
_QUESTION_MARKS = frozenset("?¿؟")


def _by_spelling(groups: Mapping[Intent, Iterable[str]]) -> dict[str, Intent]:
    return {compact(word): intent for intent, words in groups.items() for word in words}


def _by_units(groups: Mapping[Intent, Iterable[str]]) -> dict[tuple[str, ...], Intent]:
    """Phrase table for spotting words inside sentences.  Single Han characters are left out: "查" inside
    "检查" must not count."""
    table: dict[tuple[str, ...], Intent] = {}
    for intent, words in groups.items():
        for word in words:
            units = tokens(word)
            if len(units) > 1 or word.isascii():
                table[units] = intent
    return table


_GLOBAL = _by_spelling(_GLOBAL_WORDS)
_GLOBAL_CHOICES = tuple(_GLOBAL.items())
_MENU = {**_by_spelling(_MENU_WEAK), **_by_spelling(_MENU_STRONG)}
_MENU_CHOICES = tuple(_MENU.items())
_MENU_STRONG_UNITS = _by_units(_MENU_STRONG)
_MENU_WEAK_UNITS = _by_units(_MENU_WEAK)
_LONGEST_UNITS = max(len(units) for units in (*_MENU_STRONG_UNITS, *_MENU_WEAK_UNITS))


def _short_enough(s: str) -> bool:
    """Commands are short.  English needs more letters for the same thing ("talk to a human please"), so
    plain-ASCII messages are measured in words instead."""
    if len(s) <= GLOBAL_MAX_LEN:
        return True
    return s.isascii() and len(s) <= _GLOBAL_MAX_ASCII_LEN and len(s.split()) <= _GLOBAL_MAX_WORDS


def _only_question_marks(folded: str) -> bool:
    marks = folded.replace(" ", "")
    return bool(marks) and set(marks) <= _QUESTION_MARKS


def global_intent(text: str) -> Intent | None:
    """The command a short message amounts to, wherever the conversation is.

    Exact words (after filler like "嗯", "请", "谢谢" is peeled off) win; otherwise a typo of a word of three
    or more characters ("转人公", "cancle").  Messages starting with a negation ("不要取消") are never
    guessed at.  A message made only of question marks asks for help.
    """
    folded = fold(text)
    s = strip_edges(folded)
    if not s:
        return Intent.HELP if _only_question_marks(folded) else None
    if not _short_enough(s):
        return None
    forms = variants(s)
    for form in forms:
        if form in _GLOBAL:
            return _GLOBAL[form]
    if any(form.startswith(_NEGATED_START) for form in (s, *forms)):
        return None
    for form in forms:
        hit = closest(form, _GLOBAL_CHOICES)
        if hit is not None:
            return hit
    return None


def command_word(text: str) -> Intent | None:
    """Exact-only variant of global_intent, for callers that must not guess (a name like "赵人工" is not a
    typo of "转人工" when the bot just asked for a name)."""
    s = normalize(text)
    if not s or not _short_enough(s):
        return None
    for form in variants(s):
        if form in _GLOBAL:
            return _GLOBAL[form]
    return None


def _resolve(found: set[Intent]) -> Intent | None:
    """Pick one intent when a sentence names several services."""
    if len(found) == 1:
        return next(iter(found))
    if Intent.RATE in found:
        return Intent.RATE  # "对投诉的处理结果评价一下"
    if found == {Intent.LOOKUP, Intent.SUBSIDY}:
        return Intent.SUBSIDY  # "查询补贴"
    if found == {Intent.LOOKUP, Intent.SUBMIT}:
        return Intent.LOOKUP  # "查一下我投诉的进度"
    if found == {Intent.SUBMIT, Intent.SUBSIDY}:
        return Intent.SUBMIT  # "举报有人冒领补贴"
    return None


def _spot(units: tuple[str, ...], table: Mapping[tuple[str, ...], Intent]) -> set[Intent]:
    return {
        intent
        for start, _, intent in scan(units, table, _LONGEST_UNITS)
        if not preceded_by(units, start, _NEGATORS)
    }


def menu_intent(text: str) -> Intent | None:
    """The main-menu service a message asks for, or None for anything else (including numbers, which the
    caller resolves against the options it displayed)."""
    s = normalize(text)
    if not s or len(s) > MENU_MAX_LEN:
        return None
    forms = variants(s)
    for form in forms:
        if form in _MENU:
            return _MENU[form]
    units = tokens(s)
    found = _spot(units, _MENU_STRONG_UNITS) or _spot(units, _MENU_WEAK_UNITS)
    if found:
        return _resolve(found)
    if any(form.startswith(_NEGATED_START) for form in (s, *forms)):
        return None
    for form in forms:
        if len(form) <= _MENU_FUZZY_MAX_LEN:
            hit = closest(form, _MENU_CHOICES)
            if hit is not None:
                return hit
    return None
