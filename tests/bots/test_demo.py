"""The demo county is seeded idempotently, with valid ID numbers and a survey waiting for the demo phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bots import demo
from bots.bootstrap import Deployment, bootstrap
from bots.pipeline import UnknownBot
from bots.settings import Settings
from core import subsidies
from core.clock import FixedClock
from core.idcard import check_id_number
from core.messages import Inbound
from core.subsidies import SubsidyOutcome
from storage.database import Database
from storage.models import OutboxMessage, Staff, SubsidyRecord, Survey
from tests.conftest import TEST_SECRET


@pytest.fixture
async def deployment(database: Database, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Deployment]:
    # The same database as the shared fixture, so these run on SQLite and on PostgreSQL.
    url = database.url.render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, database_url=url)
    built = bootstrap(settings, demo_mode=True, password_cost="fast", clock=clock)
    await built.services.database.upgrade()
    yield built
    await built.close()


async def count(deployment: Deployment, model: type) -> int:
    async with deployment.services.database.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_demo_people_have_valid_id_numbers() -> None:
    assert len(demo.DEMO_PEOPLE) == 3
    for person in demo.DEMO_PEOPLE:
        assert check_id_number(person.id_number) is None, person


async def test_seeding_twice_adds_nothing_but_a_new_password(deployment: Deployment) -> None:
    first = await demo.seed(deployment.services)
    tables = (SubsidyRecord, Survey, OutboxMessage, Staff)
    counts = [await count(deployment, model) for model in tables]
    second = await demo.seed(deployment.services)

    assert [await count(deployment, model) for model in tables] == counts
    assert counts == [11, 1, 1, 1]
    assert (first.survey_created, second.survey_created) == (True, False)
    assert first.staff_password and second.staff_password and first.staff_password != second.staff_password
    keyring = deployment.services.keyring
    async with deployment.services.database.reading() as session:
        staff = (await session.scalars(select(Staff))).one()
    assert (staff.username, staff.role) == (demo.DEMO_STAFF_USERNAME, "admin")
    assert keyring.verify_password(staff.password_hash, second.staff_password)
    assert not keyring.verify_password(staff.password_hash, first.staff_password)

    kept = await demo.seed(deployment.services, reset_password=False)
    assert kept.staff_password is None
    async with deployment.services.database.reading() as session:
        unchanged = (await session.scalars(select(Staff))).one()
    assert unchanged.password_hash == staff.password_hash


async def test_the_demo_people_find_their_payments(deployment: Deployment) -> None:
    await demo.seed(deployment.services)
    async with deployment.services.database.transaction() as session:
        b = deployment.services.backend(session)
        for person in demo.DEMO_PEOPLE:
            result = await subsidies.query(b, person.id_number, person.name, sender_key="test")
            assert result.outcome is SubsidyOutcome.FOUND
            assert len(result.payments) >= 3
            assert all(p.status == "已发放" and p.account_masked for p in result.payments)


async def test_the_survey_sms_waits_in_the_demo_phones_conversation(deployment: Deployment) -> None:
    await demo.seed(deployment.services)
    [(row_id, message)] = await deployment.mailbox.fetch(demo.DEMO_BOT_ID, "sms", demo.DEMO_PHONE, 0)
    assert demo.DEMO_SURVEY["service"] in message.text
    assert [choice.key for choice in message.choices] == ["1", "2", "3", "4"]
    async with deployment.services.database.reading() as session:
        row = await session.get(OutboxMessage, row_id)
    assert row is not None and (row.kind, row.channel, row.status) == ("survey", "sms", "delivered")


async def test_a_bot_answers_only_on_its_own_channels(deployment: Deployment) -> None:
    with pytest.raises(UnknownBot):
        await deployment.handle(Inbound("telegram", demo.DEMO_BOT_ID, "someone", "m1", "你好"))
    with pytest.raises(UnknownBot):
        await deployment.handle(Inbound("webchat", "elsewhere", "someone", "m1", "你好"))
