"""The candidate look-up with many look-alike open cases: found by what names the matter, read cheaply.

Hundreds of complaints share one template and differ only in the village and road; the look-up must
still put the case of the same village and road first, without counting every case behind "路灯".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from core import duplicate_index, duplicates
from core.backend import Backend
from core.cases import CaseDraft, Contact
from core.clock import FixedClock
from core.duplicate_index import COMMON_AT, scope_of, sharing_grams
from core.likeness import fingerprint
from storage.duplicate_models import CaseGram
from storage.models import Case

TEMPLATE = (
    "城关镇{village}村{road}路的路灯坏了三个星期了，晚上一片漆黑，老人小孩出门很危险，请住建局尽快派人维修。"
)
CHARS = "东西南北中上下前后新老大小高低长平安宁康泰和兴旺福寿金银玉石山河湖海江溪泉林松柏桃李梅竹兰"


def _village(index: int) -> str:
    """Two characters, different for every index below len(CHARS)²."""
    return CHARS[index // len(CHARS) % len(CHARS)] + CHARS[index % len(CHARS)]


def _road(index: int) -> str:
    return CHARS[index * 5 % len(CHARS)] + CHARS[(index * 11 + 7) % len(CHARS)]


async def _open_cases(backend: Backend, texts: list[str]) -> list[int]:
    now = backend.clock.now()
    rows: list[dict[str, Any]] = [
        {
            "number": f"{index:012d}", "bot_id": "county", "kind": "complaint", "status": "submitted",
            "department": "县住建局", "description": text, "attachments": [], "password_hash": "x",
            "anonymous": False, "due_on": now.date(), "created_at": now, "updated_at": now,
        }
        for index, text in enumerate(texts)
    ]  # fmt: skip
    ids = list((await backend.session.execute(insert(Case).returning(Case.id), rows)).scalars())
    scope = scope_of("county", "complaint", "县住建局")
    grams = [
        {"case_id": case_id, "gram": gram, "scope": scope, "created_at": now}
        for case_id, text in zip(ids, texts, strict=True)
        for gram in fingerprint(text).grams
    ]
    await backend.session.execute(insert(CaseGram), grams)
    return ids


def _draft(text: str) -> CaseDraft:
    return CaseDraft(
        bot_id="county", kind="complaint", description=text, department="县住建局",
        contact=Contact(channel="wechat", address="oWx-neighbour", conversation_id=None),
    )  # fmt: skip


async def test_the_repeat_is_found_by_its_village_and_road_among_hundreds_of_look_alikes(
    backend: Backend, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [TEMPLATE.format(village=_village(i), road=_road(i)) for i in range(COMMON_AT * 2)]
    ids = await _open_cases(backend, texts)
    clock.advance(hours=1)

    async def counted_in_full(*args: Any, **kwargs: Any) -> list[tuple[int, int]]:
        raise AssertionError("a text naming its village and road needs no full count")

    monkeypatch.setattr(duplicate_index, "_sharing_all", counted_in_full)
    target = 123
    repeat = "再次反映：" + texts[target] + "到现在没人管"
    shared = await sharing_grams(
        backend,
        scope=scope_of("county", "complaint", "县住建局"),
        grams=fingerprint(repeat).grams,
        since=clock.now() - timedelta(days=1),
        min_share=duplicates.MIN_SHARED_GRAMS,
        limit=50,
    )
    assert shared[0][0] == ids[target] and shared[1][1] < shared[0][1]
    # Only the telling bigrams were counted: the template's own are in every case.
    assert shared[0][1] < len(fingerprint(texts[target]).grams) / 2
    search = await duplicates.search(backend, _draft(repeat))
    assert search.match is not None and search.match.case_id == ids[target]


async def test_a_text_of_common_bigrams_only_is_found_by_its_least_common_ones(
    backend: Backend, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three villages and three roads, each in hundreds of cases: no bigram is rare, but together the
    least common few single out the nine matters."""
    villages = [_village(i) for i in (100, 200, 300)]
    roads = [_road(i) for i in (1, 2, 3)]
    texts = [TEMPLATE.format(village=villages[i % 3], road=roads[(i // 3) % 3]) for i in range(COMMON_AT * 5)]
    ids = await _open_cases(backend, texts)
    clock.advance(hours=1)
    counted: list[int] = []
    full_count = duplicate_index._sharing_all

    async def spy(*args: Any, **kwargs: Any) -> list[tuple[int, int]]:
        counted.append(len(kwargs["grams"]))
        return await full_count(*args, **kwargs)

    monkeypatch.setattr(duplicate_index, "_sharing_all", spy)
    target = 700
    search = await duplicates.search(backend, _draft("【重复反映】" + texts[target]))
    assert counted == [duplicate_index.LEAST_COMMON]
    assert search.examined <= backend.policy.duplicate_candidates
    assert search.match is not None
    assert texts[ids.index(search.match.case_id)] == texts[target]


async def test_cases_are_ranked_by_shared_bigrams_ties_by_age_and_the_weakest_are_cut(
    backend: Backend, clock: FixedClock
) -> None:
    """The database counts and ranks: most shared first, the older case first on a tie, none below
    `min_share` of the bigrams the index knows, and no more than `limit`."""
    # The new text's nine bigrams 一二 … 九十 are all in the index, so at least int(9 × 0.3) = 2 count.
    first, second, third, weakest = await _open_cases(
        backend, ["一二三四五六七", "四五六七八九十", "八九十", "五六"]
    )
    clock.advance(hours=1)

    async def look_up(text: str, limit: int) -> list[tuple[int, int]]:
        return await sharing_grams(
            backend,
            scope=scope_of("county", "complaint", "县住建局"),
            grams=fingerprint(text).grams,
            since=clock.now() - timedelta(days=1),
            min_share=0.3,
            limit=limit,
        )

    assert await look_up("一二三四五六七八九十", 50) == [(first, 6), (second, 6), (third, 2)]
    assert await look_up("一二三四五六七八九十", 2) == [(first, 6), (second, 6)]
    assert weakest not in dict(await look_up("一二三四五六七八九十", 50))
    assert await look_up("甲乙丙丁戊己庚辛", 50) == []
