"""Duplicate detection measured on the generated labelled set, and its cost with many open cases.

Precision: of the reports linked, how many were linked to a case of their own matter.
Recall: of the reports repeating an earlier one, how many were linked to it. The headline recall is
over the repeats the rule is meant to catch — near-identical text from anyone, and the same person
telling it again in any words; a stranger retelling it in their own words is out of its reach by
design (it would take meaning, not text), and is reported apart. Run with `-s` to see the figures.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import insert

from core import duplicates
from core.backend import Backend
from core.cases import CaseDraft, Contact
from core.clock import FixedClock
from core.duplicate_index import scope_of
from core.likeness import fingerprint
from storage.duplicate_models import CaseGram
from storage.models import Case
from tests.rules.duplicate_corpus import FAMILIES, first_reports, generate

PRECISION_FLOOR = 0.9
RECALL_FLOOR = 0.85
OUT_OF_REACH = frozenset({"retold"})


def _draft(text: str, department: str, kind: str, channel: str, sender: str | None) -> CaseDraft:
    contact = Contact(channel=channel, address=sender, conversation_id=None) if sender else None
    return CaseDraft(
        bot_id="county",
        kind=kind,
        description=text,
        department=department,
        anonymous=contact is None and kind == "tip",
        contact=contact,
    )


async def test_precision_and_recall_on_the_labelled_set(backend: Backend, clock: FixedClock) -> None:
    reports = generate(240)
    start = clock.now()
    matter_of: dict[int, int] = {}
    linked = correct = 0
    repeats: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for report, label in first_reports(reports):
        clock.set(start + timedelta(days=report.day))
        filed = await duplicates.submit(
            backend, _draft(report.text, report.department, report.kind, report.channel, report.sender)
        )
        matter_of[filed.receipt.case_id] = report.matter
        right = filed.linked is not None and matter_of[filed.linked.case_id] == report.matter
        if filed.linked is not None:
            linked += 1
            correct += right
        if label is not None:
            repeats[report.variant] += 1
            caught[report.variant] += right

    precision = correct / linked
    in_reach = [variant for variant in repeats if variant not in OUT_OF_REACH]
    recall = sum(caught[v] for v in in_reach) / sum(repeats[v] for v in in_reach)
    overall = sum(caught.values()) / sum(repeats.values())
    print(f"\nduplicates: {len(reports)} reports, {sum(repeats.values())} repeats, {linked} linked")
    print(f"  precision {precision:.3f}  recall {recall:.3f} (in reach)  recall {overall:.3f} (all repeats)")
    for variant in sorted(repeats):
        share = caught[variant] / repeats[variant]
        print(f"  {variant:20} {caught[variant]:4}/{repeats[variant]:<4} {share:.2f}")
    assert precision >= PRECISION_FLOOR
    assert recall >= RECALL_FLOOR


async def test_candidate_selection_stays_small_with_20000_open_cases(
    backend: Backend, clock: FixedClock
) -> None:
    """Worst case: every case in the same department and kind, all within the window."""
    rng = random.Random(7)
    family = FAMILIES[0]  # street lights: the same wording for thousands of villages and roads
    now = clock.now()
    scope = scope_of("county", family.kind, family.department)
    cases_rows = []
    texts = []
    for index in range(20_000):
        details = family.details(rng)
        details["village"] = f"{rng.choice('东西南北上下前后')}{rng.choice('山河林田湾坪沟岭')}村"
        text = "，".join(sentence.format(**details) for sentence in family.wordings[index % 3])
        texts.append(text)
        cases_rows.append(
            {
                "number": f"{index:012d}",
                "bot_id": "county",
                "kind": family.kind,
                "status": "submitted",
                "department": family.department,
                "description": text,
                "attachments": [],
                "password_hash": "x",
                "anonymous": False,
                "due_on": now.date(),
                "created_at": now,
                "updated_at": now,
            }
        )
    ids = list((await backend.session.execute(insert(Case).returning(Case.id), cases_rows)).scalars())
    grams = [
        {"case_id": case_id, "gram": gram, "scope": scope, "created_at": now}
        for case_id, text in zip(ids, texts, strict=True)
        for gram in fingerprint(text).grams
    ]
    for start in range(0, len(grams), 50_000):
        await backend.session.execute(insert(CaseGram), grams[start : start + 50_000])
    clock.advance(hours=1)

    repeat = "再次反映：" + texts[12_345]
    began = time.perf_counter()
    search = await duplicates.search(
        backend, _draft(repeat, family.department, family.kind, "sms", "+8613700000000")
    )
    took = time.perf_counter() - began
    print(f"\n20000 open cases: {search.examined} scored for one new report in {took * 1000:.0f} ms")
    assert search.examined <= backend.policy.duplicate_candidates
    assert search.match is not None and search.match.case_id == ids[12_345]
