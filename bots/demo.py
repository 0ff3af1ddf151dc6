"""The demo county: a bot, departments, subsidy payments for three villagers, a survey SMS, a staff login.

Seeding is idempotent, so `serve --demo` can run it on every start: payments are keyed by their
content, the staff account is updated in place, and a survey is only added when the demo phone has
none open. The people and the phone are exported so the README and the tests use the same values.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from bots.pipeline import Services
from bots.settings import BotSettings, OfficeHoursSettings
from conversations import texts
from core import outbox, ratings, subsidies
from core.backend import Backend
from core.idcard import make_id_number
from core.inbox import address_hash
from core.messages import Choice, Outbound
from storage.models import Conversation, Staff

DEMO_BOT_ID = "demo"
DEMO_BOT_NAME = "阳光县政务服务"
DEMO_DEPARTMENTS: tuple[str, ...] = (
    "县住建局",
    "县人社局",
    "县民政局",
    "县农业农村局",
    "县市场监管局",
    "县自然资源局",
    "县教育局",
    "县卫健委",
    "县交通运输局",
    "县政务服务中心",
    "城关镇",
    "河西镇",
    "青山乡",
)
DEMO_PHONE = "+8613800138000"
DEMO_PERSONA = "demo-phone"  # the web chat's `?persona=` that speaks as the demo phone
DEMO_STAFF_USERNAME = "demo-admin"
DEMO_SURVEY = {
    "service": "不动产登记",
    "window": "3号窗口",
    "department": "县政务服务中心",
    "staff_name": "李敏",
}

_AREA = "430721"  # the first six digits of a county's resident ID numbers


@dataclass(frozen=True)
class DemoPerson:
    name: str
    id_number: str
    town: str


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("王秀英", make_id_number(_AREA, date(1952, 4, 18), 124), "河西镇"),
    DemoPerson("李建国", make_id_number(_AREA, date(1961, 9, 3), 135), "城关镇"),
    DemoPerson("张桂兰", make_id_number(_AREA, date(1948, 12, 25), 26), "青山乡"),
)


@dataclass(frozen=True)
class _Payment:
    programme: str
    year: int
    standard: str
    amount: str
    paid_on: date
    method: str
    department: str


_ACCOUNTS = ("6230901234567812345", "6217995540001234567", "6230901234560098765")

_PAYMENTS: tuple[tuple[_Payment, ...], ...] = (
    (  # 王秀英
        _Payment(
            "耕地地力保护补贴",
            2025,
            "125元/亩 × 6.2亩",
            "775.00",
            date(2025, 5, 20),
            "一卡通",
            "县农业农村局",
        ),
        _Payment(
            "城乡居民基本养老保险", 2025, "每月213元", "213.00", date(2025, 12, 5), "社保卡", "县人社局"
        ),
        _Payment("城乡居民基本养老保险", 2026, "每月223元", "223.00", date(2026, 1, 5), "社保卡", "县人社局"),
        _Payment("城乡居民基本养老保险", 2026, "每月223元", "223.00", date(2026, 2, 5), "社保卡", "县人社局"),
    ),
    (  # 李建国
        _Payment(
            "危房改造补助", 2025, "C级危房 1.5万元/户", "15000.00", date(2025, 8, 12), "一卡通", "县住建局"
        ),
        _Payment(
            "耕地地力保护补贴",
            2025,
            "125元/亩 × 4.8亩",
            "600.00",
            date(2025, 5, 20),
            "一卡通",
            "县农业农村局",
        ),
        _Payment("城乡居民基本养老保险", 2026, "每月223元", "223.00", date(2026, 2, 5), "社保卡", "县人社局"),
    ),
    (  # 张桂兰
        _Payment("农村低保", 2026, "每月480元", "480.00", date(2026, 1, 10), "一卡通", "县民政局"),
        _Payment("农村低保", 2026, "每月480元", "480.00", date(2026, 2, 10), "一卡通", "县民政局"),
        _Payment("高龄津贴", 2026, "80–89周岁 每月100元", "100.00", date(2026, 2, 10), "一卡通", "县民政局"),
        _Payment("城乡居民基本养老保险", 2026, "每月223元", "223.00", date(2026, 2, 5), "社保卡", "县人社局"),
    ),
)


@dataclass(frozen=True)
class DemoSeed:
    staff_password: str | None  # set when (re)generated: only its hash is stored, it cannot be shown later
    survey_created: bool


def demo_bot_settings() -> BotSettings:
    return BotSettings(
        name=DEMO_BOT_NAME,
        language="zh_Hans",
        channels=["webchat", "console"],
        departments=list(DEMO_DEPARTMENTS),
        office_hours=OfficeHoursSettings(),
    )


async def seed(services: Services, *, reset_password: bool = True) -> DemoSeed:
    """Add whatever of the demo data is missing.

    `reset_password` gives the demo staff account a new password to print (serve does, on every
    start); without it an existing account is left alone, so a terminal chat does not log out the
    desk of a running demo.
    """
    password = secrets.token_urlsafe(12)
    async with services.database.transaction() as session:
        b = services.backend(session)
        await _add_payments(b)
        changed = await _set_staff(b, password, reset=reset_password)
        created = await _ensure_survey(b)
    return DemoSeed(staff_password=password if changed else None, survey_created=created)


async def _add_payments(b: Backend) -> None:
    for person, account, payments in zip(DEMO_PEOPLE, _ACCOUNTS, _PAYMENTS, strict=True):
        for payment in payments:
            await subsidies.add_record(
                b,
                id_number=person.id_number,
                name=person.name,
                programme=payment.programme,
                year=payment.year,
                standard=payment.standard,
                amount=Decimal(payment.amount),
                paid_on=payment.paid_on,
                method=payment.method,
                status="已发放",
                account=account,
                town=person.town,
                department=payment.department,
            )


async def _set_staff(b: Backend, password: str, *, reset: bool) -> bool:
    """Create or re-key the demo admin; True when `password` is now its password."""
    staff = (await b.session.scalars(select(Staff).where(Staff.username == DEMO_STAFF_USERNAME))).first()
    if staff is not None and not reset:
        return False
    hashed = b.keyring.hash_password(password)
    if staff is None:
        b.session.add(
            Staff(
                username=DEMO_STAFF_USERNAME,
                display_name="演示管理员",
                password_hash=hashed,
                role="admin",
                department=None,
                active=True,
                created_at=b.clock.now(),
            )
        )
    else:
        staff.password_hash = hashed
        staff.active = True
    return True


async def _ensure_survey(b: Backend) -> bool:
    """A survey SMS waiting for the demo phone's answer, unless one is still open."""
    if await ratings.open_survey(b, bot_id=DEMO_BOT_ID, channel="sms", address=DEMO_PHONE) is not None:
        return False
    now = b.clock.now()
    survey = await ratings.create_survey(
        b,
        bot_id=DEMO_BOT_ID,
        channel="sms",
        address=DEMO_PHONE,
        served_at=now - timedelta(hours=1),
        **DEMO_SURVEY,
    )
    conversation = await _conversation(b, "sms", DEMO_PHONE)
    await outbox.enqueue(
        b,
        bot_id=DEMO_BOT_ID,
        channel="sms",
        address=DEMO_PHONE,
        outbound=_survey_sms(survey),
        kind="survey",
        conversation_id=conversation.id,
    )
    return True


def _survey_sms(survey: ratings.SurveyView) -> Outbound:
    """The survey question as the SMS platform sends it: the service, then the four grades to reply with."""
    language = texts.SOURCE_LANGUAGE
    where = survey.department + (survey.window or "")
    question = texts.text(language, "rate.ask_survey", concise=True, service=survey.service, where=where)
    grades = tuple(Choice(str(grade), texts.text(language, f"rate.grade.{grade}")) for grade in range(1, 5))
    return Outbound(text=question, choices=grades)


async def _conversation(b: Backend, channel: str, address: str) -> Conversation:
    """The demo phone's conversation, so the survey SMS shows in its history like any sent message."""
    key = address_hash(b, channel, address)
    found = (
        await b.session.scalars(
            select(Conversation).where(
                Conversation.bot_id == DEMO_BOT_ID,
                Conversation.channel == channel,
                Conversation.address_hash == key,
            )
        )
    ).first()
    if found is not None:
        return found
    now = b.clock.now()
    conversation = Conversation(
        bot_id=DEMO_BOT_ID,
        channel=channel,
        address_hash=key,
        address_enc=b.keyring.encrypt(address),
        state={},
        mode="bot",
        created_at=now,
        updated_at=now,
    )
    b.session.add(conversation)
    await b.session.flush()
    return conversation
