"""Merging duplicates into their primary case and splitting a wrong link."""

from __future__ import annotations

from typing import Any

import pytest

from core import cases
from core.backend import Backend
from core.cases import CaseDraft, CaseStateError, LookupOutcome, Receipt
from storage.models import Case


def draft(**changes: Any) -> CaseDraft:
    values: dict[str, Any] = {
        "bot_id": "county",
        "kind": "complaint",
        "description": "路灯坏了三个星期",
        "department": "县住建局",
    }
    values.update(changes)
    return CaseDraft(**values)


async def new_case(backend: Backend, text: str = "路灯坏了三个星期") -> Receipt:
    return await cases.submit(backend, draft(description=text))


async def row(backend: Backend, receipt: Receipt) -> Case:
    case = await backend.session.get(Case, receipt.case_id)
    assert case is not None
    return case


async def events(backend: Backend, receipt: Receipt, action: str) -> list[dict[str, Any]]:
    return [e.detail for e in await cases.timeline(backend, receipt.case_id) if e.action == action]


async def test_merge_links_the_duplicate_and_records_both_sides(backend: Backend) -> None:
    primary, duplicate = await new_case(backend), await new_case(backend, "路灯还是坏的")
    merged = await cases.merge(backend, duplicate.case_id, into_id=primary.case_id, actor="staff:li")
    assert merged.primary_id == primary.case_id
    assert await events(backend, duplicate, "merged") == [{"role": "duplicate", "primary": primary.number}]
    assert await events(backend, primary, "merged") == [{"role": "primary", "duplicate": duplicate.number}]
    assert (await row(backend, primary)).primary_id is None


async def test_lookup_of_a_merged_case_shows_the_primary_progress(backend: Backend) -> None:
    primary, duplicate = await new_case(backend), await new_case(backend)
    await cases.merge(backend, duplicate.case_id, into_id=primary.case_id, actor="staff:li")
    await cases.accept(backend, primary.case_id, "staff:li")
    await cases.reply(backend, primary.case_id, "staff:li", "已安排维修")

    result = await cases.lookup(
        backend, duplicate.number.replace("-", ""), duplicate.password, sender_key="t"
    )
    assert result.outcome is LookupOutcome.FOUND and result.case is not None
    assert result.case.number == duplicate.number  # the citizen's own number
    assert result.case.merged and result.case.status == "replied"
    assert result.case.latest_reply == "已安排维修"
    # The primary's own password does not open the duplicate, nor the other way round.
    wrong = await cases.lookup(backend, duplicate.number.replace("-", ""), primary.password, sender_key="t")
    assert wrong.outcome is LookupOutcome.WRONG


async def test_merging_into_a_duplicate_links_to_its_primary(backend: Backend) -> None:
    first, second, third = await new_case(backend), await new_case(backend), await new_case(backend)
    await cases.merge(backend, second.case_id, into_id=first.case_id, actor="staff:li")
    await cases.merge(backend, third.case_id, into_id=second.case_id, actor="staff:li")
    assert (await row(backend, third)).primary_id == first.case_id


async def test_merging_a_primary_moves_its_duplicates_along(backend: Backend) -> None:
    a, b_, c = await new_case(backend), await new_case(backend), await new_case(backend)
    await cases.merge(backend, b_.case_id, into_id=a.case_id, actor="staff:li")
    await cases.merge(backend, a.case_id, into_id=c.case_id, actor="staff:li")
    assert (await row(backend, a)).primary_id == c.case_id
    assert (await row(backend, b_)).primary_id == c.case_id  # no chain b → a → c
    assert (await events(backend, b_, "merged"))[-1] == {
        "role": "duplicate",
        "primary": c.number,
        "via": a.number,
    }
    assert await events(backend, c, "merged") == [
        {"role": "primary", "duplicate": a.number, "with": [b_.number]}
    ]


async def test_merge_refusals(backend: Backend) -> None:
    a, b_, c = await new_case(backend), await new_case(backend), await new_case(backend)
    with pytest.raises(CaseStateError):
        await cases.merge(backend, a.case_id, into_id=a.case_id, actor="staff:li")
    await cases.merge(backend, b_.case_id, into_id=a.case_id, actor="staff:li")
    with pytest.raises(CaseStateError):  # a cycle a → b → a
        await cases.merge(backend, a.case_id, into_id=b_.case_id, actor="staff:li")
    with pytest.raises(CaseStateError):  # already linked elsewhere: split first
        await cases.merge(backend, b_.case_id, into_id=c.case_id, actor="staff:li")
    # Twice into the same primary changes nothing and records nothing more.
    await cases.merge(backend, b_.case_id, into_id=a.case_id, actor="staff:li")
    assert len(await events(backend, b_, "merged")) == 1

    await cases.decline(backend, c.case_id, "staff:li", "不属于本部门职责")
    await cases.close(backend, c.case_id, "staff:li")
    d = await new_case(backend)
    with pytest.raises(CaseStateError):
        await cases.merge(backend, d.case_id, into_id=c.case_id, actor="staff:li")
    with pytest.raises(CaseStateError):
        await cases.merge(backend, c.case_id, into_id=d.case_id, actor="staff:li")
    with pytest.raises(cases.CaseNotFound):
        await cases.merge(backend, d.case_id, into_id=999_999, actor="staff:li")
    with pytest.raises(ValueError):
        await cases.merge(backend, d.case_id, into_id=a.case_id, actor=" ")


async def test_split_undoes_the_link_with_events_on_both(backend: Backend) -> None:
    primary, duplicate = await new_case(backend), await new_case(backend)
    await cases.merge(backend, duplicate.case_id, into_id=primary.case_id, actor="staff:li")
    await cases.accept(backend, primary.case_id, "staff:li")
    split = await cases.split(backend, duplicate.case_id, actor="staff:wang")
    assert split.primary_id is None and split.status == "submitted"
    assert await events(backend, duplicate, "split") == [{"role": "duplicate", "primary": primary.number}]
    assert await events(backend, primary, "split") == [{"role": "primary", "duplicate": duplicate.number}]
    result = await cases.lookup(
        backend, duplicate.number.replace("-", ""), duplicate.password, sender_key="t"
    )
    assert result.case is not None and not result.case.merged and result.case.status == "submitted"
    with pytest.raises(CaseStateError):
        await cases.split(backend, duplicate.case_id, actor="staff:wang")
