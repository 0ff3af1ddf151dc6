"""A labelled stream of petitions for measuring duplicate detection: which report repeats which matter.

Real petitions cannot be put in a repository, so this builds realistic ones: a dozen kinds of matter
(street lights, unpaid wages, subsidised-housing favouritism...) written in several wordings, filled
with places, companies and people, and arriving over a few weeks. The hard part of the set is the
negatives: many different matters use the same wording and differ only in the village, road, shop or
person, exactly like a street-light complaint from two villages of the same town.

Every report carries the matter it belongs to, so the label of a report is simply "the first earlier
report of the same matter", or none. How a repeat was made is kept as `variant`, so results can be
broken down (a copy with Traditional characters is easy, a retelling in other words is not).

Run it to print a sample: `uv run python -m tests.rules.duplicate_corpus`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

TOWNS = ("城关镇", "河西镇", "青山乡", "白沙镇", "石桥镇", "龙泉乡")
VILLAGES = (
    "东风村", "红旗村", "新华村", "永安村", "李家湾村", "张庄村", "柳树村", "高坪村",
    "马家沟村", "杨柳村", "三合村", "团结村", "桃园村", "凤凰村", "石门村", "双河村",
)  # fmt: skip
ROADS = ("幸福路", "解放路", "人民路", "建设路", "胜利街", "文化路", "滨河路", "中山路", "迎宾大道", "育才路")
COMPANIES = (
    "鑫达建筑公司", "宏远物流公司", "华兴服装厂", "金利砖厂", "顺发汽修厂", "盛世装饰公司",
    "永固水泥厂", "恒通运输公司", "兴旺养殖场", "大众劳务公司",
)  # fmt: skip
SHOPS = ("惠民超市", "好又多超市", "佳佳乐超市", "万家福超市", "便民副食店", "金源批发部", "小林便利店")
PRODUCTS = ("牛奶", "面包", "火腿肠", "月饼", "食用油", "奶粉", "方便面", "酱油")
SCHOOLS = (
    "城关一小",
    "河西中学",
    "青山小学",
    "实验中学",
    "白沙小学",
    "县二中",
    "石桥小学",
    "龙泉中学",
    "育英学校",
)
FEES = ("资料费", "补课费", "校服费", "午托费", "班费", "空调费", "保险费", "伙食费")
HOSPITALS = ("县人民医院", "县中医院", "河西镇卫生院", "青山乡卫生院", "县妇幼保健院", "白沙镇卫生院")
WARDS = ("儿科", "内科", "急诊科", "外科", "妇产科")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
TITLES = ("村支书", "村主任", "村会计", "组长")
RELATIVES = ("亲戚", "弟弟", "儿媳妇", "小舅子", "堂哥")
BUSES = ("3路", "5路", "8路", "11路", "12路")
BUSINESSES = ("营业执照", "不动产登记", "社保转移", "医保报销", "户口迁移", "公积金提取")


@dataclass(frozen=True)
class Family:
    """One kind of matter: where it goes, which details tell two matters apart, how people write it."""

    name: str
    department: str
    kind: str
    details: Callable[[random.Random], dict[str, Any]]
    wordings: tuple[tuple[str, ...], ...]  # each a list of sentences with {slots}


def _pick(rng: random.Random, pool: tuple[str, ...]) -> str:
    return pool[rng.randrange(len(pool))]


def _person(rng: random.Random) -> str:
    return SURNAMES[rng.randrange(len(SURNAMES))] + "某某"


FAMILIES: tuple[Family, ...] = (
    Family(
        "street_lights",
        "县住建局",
        "complaint",
        lambda r: {
            "town": _pick(r, TOWNS),
            "village": _pick(r, VILLAGES),
            "road": _pick(r, ROADS),
            "n": r.randint(2, 6),
        },
        (
            (
                "{town}{village}{road}的路灯坏了{n}个星期了",
                "晚上一片漆黑，老人小孩出门很危险",
                "打过村委会电话也没人来修",
                "请住建局尽快派人维修",
            ),
            (
                "我们{town}{village}{road}一带的路灯已经{n}周不亮了",
                "天黑以后根本看不见路，上周还有人摔倒",
                "希望有关部门赶快修好",
            ),
            (
                "反映{town}{village}的路灯问题",
                "{road}那段路灯坏了快{n}个礼拜",
                "村里没人管，晚上走路提心吊胆",
                "请尽快安排修理",
            ),
        ),
    ),
    Family(
        "wages",
        "县人社局",
        "complaint",
        lambda r: {
            "company": _pick(r, COMPANIES),
            "workers": r.randint(3, 40),
            "months": r.randint(2, 8),
            "amount": r.randrange(8, 400) * 1000,
            "boss": _person(r),
        },
        (
            (
                "{company}拖欠我们{workers}个工人{months}个月的工资，一共{amount}元",
                "老板{boss}一直说没钱，现在电话也不接了",
                "快过年了，请人社局帮我们讨回工钱",
            ),
            (
                "我在{company}干活，老板{boss}欠了我们{months}个月工资没发",
                "我们一共{workers}个人，总共{amount}元",
                "找了好几次都说再等等",
                "请政府帮帮我们农民工",
            ),
            (
                "举报{company}恶意欠薪",
                "{workers}名工人{months}个月工资{amount}元至今未付",
                "负责人{boss}躲着不见人",
                "请依法处理",
            ),
        ),
    ),
    Family(
        "dibao",
        "县民政局",
        "tip",
        lambda r: {
            "town": _pick(r, TOWNS),
            "village": _pick(r, VILLAGES),
            "title": _pick(r, TITLES),
            "official": _person(r),
            "relative": _pick(r, RELATIVES),
            "households": r.randint(2, 9),
        },
        (
            (
                "{town}{village}{title}{official}把低保名额给了自己的{relative}",
                "他家有车有房根本不困难",
                "村里真正困难的{households}户人家反而评不上",
                "请民政局调查",
            ),
            (
                "举报{village}（{town}）{title}{official}优亲厚友",
                "他{relative}家条件很好也吃上了低保",
                "我们村有{households}户真困难的没评上",
                "希望上级查一查",
            ),
            (
                "{village}的低保评定不公平",
                "{title}{official}暗箱操作，自己{relative}都有低保",
                "群众意见很大",
                "请派人来{town}核实",
            ),
        ),
    ),
    Family(
        "expired_food",
        "县市场监管局",
        "complaint",
        lambda r: {
            "town": _pick(r, TOWNS),
            "shop": _pick(r, SHOPS),
            "product": _pick(r, PRODUCTS),
            "month": r.randint(1, 12),
            "day": r.randint(1, 28),
            "price": r.randint(5, 120),
        },
        (
            (
                "{month}月{day}日在{town}{shop}买的{product}已经过期了",
                "花了{price}元，孩子吃了还拉肚子",
                "找店家理论，店家不肯退换",
                "请市场监管局查处",
            ),
            (
                "{town}的{shop}卖过期{product}",
                "我{month}月{day}号买的，回家一看生产日期早就过了保质期",
                "店老板态度还很差",
                "希望你们去检查一下",
            ),
            (
                "投诉{shop}（{town}）",
                "出售过期{product}，价格{price}元",
                "购买日期{month}月{day}日",
                "要求退款赔偿",
            ),
        ),
    ),
    Family(
        "land",
        "县自然资源局",
        "tip",
        lambda r: {
            "town": _pick(r, TOWNS),
            "village": _pick(r, VILLAGES),
            "person": _person(r),
            "mu": r.randint(1, 12),
        },
        (
            (
                "{town}{village}的{person}在基本农田上违法盖房",
                "占地大约{mu}亩，已经打了地基",
                "村干部知道了也不管",
                "请自然资源局尽快制止",
            ),
            (
                "举报{village}（{town}）村民{person}非法占用耕地",
                "面积有{mu}亩多，现在还在施工",
                "希望有关部门马上来看看",
            ),
            (
                "{village}有人违法占地建房",
                "是{person}家，在农田里盖了{mu}亩地的厂房",
                "已经好几个月了没人管",
                "请{town}和国土部门处理",
            ),
        ),
    ),
    Family(
        "school_fees",
        "县教育局",
        "complaint",
        lambda r: {
            "school": _pick(r, SCHOOLS),
            "fee": _pick(r, FEES),
            "grade": r.randint(1, 6),
            "amount": r.randrange(5, 60) * 10,
        },
        (
            (
                "{school}{grade}年级每个学生要交{amount}元{fee}",
                "老师说不交就不给发书",
                "这是乱收费，请教育局管一管",
            ),
            (
                "反映{school}乱收费问题",
                "{grade}年级班主任让每人交{fee}{amount}元，没有任何收据",
                "家长都敢怒不敢言",
            ),
            (
                "我孩子在{school}读{grade}年级",
                "学校又要收{amount}元的{fee}",
                "上学期已经收过一次了",
                "请问这合理吗，请查一查",
            ),
        ),
    ),
    Family(
        "hospital",
        "县卫健委",
        "complaint",
        lambda r: {
            "hospital": _pick(r, HOSPITALS),
            "ward": _pick(r, WARDS),
            "doctor": _person(r),
            "hours": r.randint(2, 6),
            "month": r.randint(1, 12),
            "day": r.randint(1, 28),
        },
        (
            (
                "{month}月{day}日带孩子去{hospital}{ward}看病",
                "等了{hours}个小时都没人管",
                "医生{doctor}态度恶劣还骂人",
                "请卫健委严肃处理",
            ),
            (
                "投诉{hospital}{ward}的{doctor}医生",
                "{month}月{day}号看病时对病人大吼大叫",
                "让我们白白等了{hours}小时",
                "希望医院给个说法",
            ),
            (
                "{hospital}服务太差",
                "{ward}{doctor}推诿病人，排队{hours}个小时",
                "时间是{month}月{day}日",
                "请上级部门调查",
            ),
        ),
    ),
    Family(
        "road",
        "县交通运输局",
        "complaint",
        lambda r: {
            "town": _pick(r, TOWNS),
            "village": _pick(r, VILLAGES),
            "km": r.randint(1, 9),
            "months": r.randint(2, 12),
        },
        (
            (
                "{town}到{village}的村道有{km}公里全是大坑",
                "下雨天车根本过不去，已经坏了{months}个月",
                "学生上学很不安全",
                "请交通局尽快修路",
            ),
            (
                "反映{village}通村公路问题",
                "从{town}过来那{km}公里路面坑坑洼洼",
                "{months}个月前就反映过没人修",
                "希望早日修好",
            ),
            ("{village}的路烂了{months}个月了", "大约{km}公里，三轮车经常翻", "请交通部门和{town}管一管"),
        ),
    ),
    Family(
        "noise",
        "县住建局",
        "complaint",
        lambda r: {
            "town": _pick(r, TOWNS),
            "road": _pick(r, ROADS),
            "company": _pick(r, COMPANIES),
            "hour": r.randint(22, 23),
            "floor": r.randint(2, 30),
        },
        (
            (
                "{town}{road}的工地每天晚上{hour}点以后还在施工",
                "是{company}承建的{floor}层楼",
                "噪音大得根本睡不着",
                "请住建局管一管",
            ),
            (
                "投诉{road}工地夜间施工扰民",
                "{company}的工地半夜{hour}点还在打桩",
                "附近居民休息不好",
                "希望{town}有关部门处理",
            ),
            (
                "{road}那个{floor}层的工地太吵了",
                "每天干到晚上{hour}点多",
                "施工单位{company}不理睬",
                "请尽快处理",
            ),
        ),
    ),
    Family(
        "service_window",
        "县政务服务中心",
        "complaint",
        lambda r: {
            "business": _pick(r, BUSINESSES),
            "window": r.randint(1, 30),
            "times": r.randint(2, 5),
            "clerk": _person(r),
        },
        (
            (
                "办理{business}跑了{times}趟都没办成",
                "{window}号窗口的{clerk}每次都说缺不同的材料",
                "不能一次性告知吗",
                "请政务服务中心改进",
            ),
            (
                "投诉政务服务中心{window}号窗口",
                "工作人员{clerk}办{business}推三阻四",
                "让我来回跑了{times}次",
            ),
            (
                "为了{business}来回跑{times}次",
                "{window}号窗口态度很差",
                "工作人员{clerk}玩手机不理人",
                "希望整改",
            ),
        ),
    ),
    Family(
        "bus_suggestion",
        "县交通运输局",
        "suggestion",
        lambda r: {
            "bus": _pick(r, BUSES),
            "village": _pick(r, VILLAGES),
            "town": _pick(r, TOWNS),
            "minutes": r.randrange(20, 90, 10),
        },
        (
            (
                "建议{bus}公交车延伸到{town}{village}",
                "村里老人去县城看病要走很远的路",
                "现在一趟要{minutes}分钟",
            ),
            ("希望开通县城到{village}的公交", "可以把{bus}车延长几站", "{town}这边很多学生需要"),
            ("{village}（{town}）没有公交车", "建议{bus}线路增加站点", "每{minutes}分钟一班就够了"),
        ),
    ),
    Family(
        "pension_question",
        "县人社局",
        "question",
        lambda r: {
            "town": _pick(r, TOWNS),
            "village": _pick(r, VILLAGES),
            "age": r.randint(60, 80),
            "years": r.randint(5, 15),
        },
        (
            (
                "我今年{age}岁，是{town}{village}的",
                "交了{years}年新农保",
                "为什么养老金还没有发到卡上",
                "请问怎么查",
            ),
            ("咨询养老金问题", "{village}村民，{age}岁，缴费{years}年", "这个月的养老金没到账是什么原因"),
            ("请问{age}岁交满{years}年能领多少养老金", "我在{town}{village}", "去哪里办领取手续"),
        ),
    ),
)

# What people put around a repeated report, and how they add to it.
_PREFIXES = ("再次反映：", "第二次反映，", "又来反映一下，", "【重复反映】", "紧急！", "")
_SUFFIXES = ("请尽快处理！！", "谢谢！", "急急急", "上次反映到现在没有回音。", "🙏🙏", "")
_ADDED = (
    "上次反映后一直没有人联系我",
    "现在情况越来越严重了",
    "村里很多人都有意见",
    "已经打过12345热线了",
    "希望这次能有个答复",
)
_TYPOS = {"坏": "怀", "修": "休", "请": "情", "理": "里", "工": "公", "路": "露", "钱": "前", "管": "官"}
_PUNCTUATION = ("，", "。", "！", "；", " ", "，，", "...", "、")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@cache
def _s2t() -> Any:
    import opencc

    return opencc.OpenCC("s2t")


@dataclass(frozen=True)
class Report:
    id: int
    matter: int
    family: str
    variant: str  # original, copy, traditional, edited, extended, retold, retold_same_sender, ...
    department: str
    kind: str
    channel: str
    sender: str | None  # None: a fully anonymous tip
    text: str
    day: float  # days after the start of the stream


def _join(rng: random.Random, sentences: list[str]) -> str:
    out: list[str] = []
    for index, sentence in enumerate(sentences):
        out.append(sentence)
        out.append(
            rng.choice(("，", "。", "！")) if index < len(sentences) - 1 else rng.choice(("。", "！", ""))
        )
    return "".join(out)


def _fill(wording: tuple[str, ...], details: dict[str, Any]) -> list[str]:
    return [sentence.format(**details) for sentence in wording]


def _noise(rng: random.Random, text: str) -> str:
    """What a phone does to a retyped or pasted text: other punctuation, full-width digits, spaces."""
    chars = []
    for char in text:
        if char in "，。！；":
            chars.append(rng.choice(_PUNCTUATION))
        else:
            chars.append(char)
    text = "".join(chars)
    if rng.random() < 0.5:
        text = text.translate(_FULLWIDTH)
    if rng.random() < 0.3:
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, len(text) // 10)))
        text = " ".join(text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True))
    return text


def _typo(rng: random.Random, sentences: list[str]) -> list[str]:
    index = rng.randrange(len(sentences))
    sentence = sentences[index]
    spots = [i for i, ch in enumerate(sentence) if ch in _TYPOS]
    if spots:
        spot = rng.choice(spots)
        sentence = sentence[:spot] + _TYPOS[sentence[spot]] + sentence[spot + 1 :]
    return [*sentences[:index], sentence, *sentences[index + 1 :]]


def _repeat(
    rng: random.Random, family: Family, wording: int, details: dict[str, Any]
) -> tuple[str, list[str]]:
    """A later report of the same matter: (variant, sentences)."""
    sentences = _fill(family.wordings[wording], details)
    roll = rng.random()
    if roll < 0.22:
        return "copy", sentences
    if roll < 0.40:
        return "traditional", [_s2t().convert(sentence) for sentence in sentences]
    if roll < 0.58:
        edited = _typo(rng, sentences)
        if len(edited) > 2 and rng.random() < 0.5:
            drop = rng.randrange(1, len(edited))
            edited = edited[:drop] + edited[drop + 1 :]
        elif len(edited) > 2:
            first, second = rng.sample(range(len(edited)), 2)
            edited[first], edited[second] = edited[second], edited[first]
        return "edited", edited
    if roll < 0.76:
        extended = [*sentences]
        extended.insert(rng.randrange(len(extended) + 1), rng.choice(_ADDED))
        if rng.random() < 0.5:
            extended.append(rng.choice(_ADDED))
        return "extended", extended
    if roll < 0.92:
        return "retold_same_sender", _fill(family.wordings[(wording + 1) % len(family.wordings)], details)
    return "retold", _fill(family.wordings[(wording + 2) % len(family.wordings)], details)


def _dress(rng: random.Random, text: str, variant: str) -> str:
    if variant == "original":
        return text
    text = rng.choice(_PREFIXES) + text + rng.choice(_SUFFIXES)
    return _noise(rng, text) if rng.random() < 0.7 else text


def _distinct_details(rng: random.Random, family: Family, taken: set[tuple[Any, ...]]) -> dict[str, Any]:
    """Details of a new matter: two matters of one family never share every place, company or person."""
    for _ in range(200):
        details = family.details(rng)
        key = tuple(sorted((k, v) for k, v in details.items() if isinstance(v, str)))
        if key not in taken:
            taken.add(key)
            return details
    raise RuntimeError(f"ran out of distinct {family.name} matters")


def generate(matters: int = 320, *, seed: int = 20260302, days: float = 30.0) -> list[Report]:
    """Reports in arrival order. About half the matters are reported more than once."""
    rng = random.Random(seed)
    taken: dict[str, set[tuple[Any, ...]]] = {family.name: set() for family in FAMILIES}
    channels = ("sms", "wechat", "telegram", "webchat")
    pending: list[tuple[float, int, str, str, str | None, str, Family]] = []
    people = iter(range(10**6))
    for matter in range(matters):
        family = FAMILIES[rng.randrange(len(FAMILIES))]
        details = _distinct_details(rng, family, taken[family.name])
        wording = rng.randrange(len(family.wordings))
        first_day = rng.uniform(0, days * 0.7)
        channel = rng.choice(channels)
        anonymous = family.kind == "tip" and rng.random() < 0.4
        author = None if anonymous else f"person-{next(people)}"
        text = _dress(rng, _join(rng, _fill(family.wordings[wording], details)), "original")
        pending.append((first_day, matter, "original", channel, author, text, family))
        repeats = rng.choice((0, 0, 0, 1, 1, 2, 3))
        for _ in range(repeats):
            variant, sentences = _repeat(rng, family, wording, details)
            same_sender = variant in ("retold_same_sender",) or (author is not None and rng.random() < 0.3)
            if variant == "retold_same_sender" and author is None:
                variant = "retold"  # an anonymous reporter cannot be recognised
            sender = author if same_sender else (None if anonymous else f"person-{next(people)}")
            repeat_channel = rng.choice(channels) if sender != author else channel
            text = _dress(rng, _join(rng, sentences), variant)
            later = first_day + rng.uniform(0.05, days * 0.3)
            pending.append((later, matter, variant, repeat_channel, sender, text, family))
        # A person who writes about one matter sometimes writes about another, unrelated one.
        if author is not None and rng.random() < 0.08:
            other = FAMILIES[rng.randrange(len(FAMILIES))]
            other_details = _distinct_details(rng, other, taken[other.name])
            other_text = _join(rng, _fill(other.wordings[rng.randrange(len(other.wordings))], other_details))
            pending.append(
                (
                    first_day + rng.uniform(0.1, 5),
                    matters + matter,
                    "original",
                    channel,
                    author,
                    other_text,
                    other,
                )
            )
    pending.sort(key=lambda item: item[0])
    return [
        Report(
            id=index,
            matter=matter,
            family=family.name,
            variant=variant,
            department=family.department,
            kind=family.kind,
            channel=channel,
            sender=sender,
            text=text,
            day=day,
        )
        for index, (day, matter, variant, channel, sender, text, family) in enumerate(pending)
    ]


def first_reports(reports: list[Report]) -> Iterator[tuple[Report, int | None]]:
    """Each report with the id of the first earlier report of its matter (the label), or None."""
    first: dict[int, int] = {}
    for report in reports:
        yield report, first.get(report.matter)
        first.setdefault(report.matter, report.id)


if __name__ == "__main__":
    sample = generate(40)
    for report, label in first_reports(sample):
        print(
            f"{report.id:3} {report.matter:3} {label!s:>4} {report.variant:20} {report.sender!s:12}",
            report.text,
        )
