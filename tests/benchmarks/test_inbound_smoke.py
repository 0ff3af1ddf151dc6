"""The inbound benchmark's load: requests Twilio would accept, citizens who walk in order, and a wrk
checker that notices a wrong answer (a benchmark that cannot see failures would report nonsense)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from benchmarks import load, servers


def _form(request: load.Request) -> dict[str, str]:
    return dict(parse_qsl(request.body, keep_blank_values=True))


def test_every_sms_is_signed_as_twilio_signs_and_has_its_own_message_sid() -> None:
    plan = load.plan(load.Sms(), run=1, lanes=6, threads=2, per_thread=20, submit=True)
    requests = [r for lane in plan.ramp for r in lane] + [r for thread in plan.threads for r in thread]
    validator = RequestValidator(servers.AUTH_TOKEN)

    for request in requests:
        name, signature = request.header
        assert name == "X-Twilio-Signature"
        assert validator.validate(servers.PUBLIC + request.path, _form(request), signature)
    assert len({_form(r)["MessageSid"] for r in requests}) == len(requests)
    tampered = dict(_form(requests[0]), Body="别的内容")
    assert not validator.validate(servers.PUBLIC + requests[0].path, tampered, requests[0].header[1])


def test_lanes_start_at_staggered_steps_and_each_walks_its_steps_in_order() -> None:
    steps = load.walk(submit=True)
    plan = load.plan(load.Sms(), run=2, lanes=10, threads=2, per_thread=30, submit=True)

    assert [len(ramp) for ramp in plan.ramp] == [lane % len(steps) for lane in range(10)]
    for thread in plan.threads:
        seen: dict[str, int] = {}
        for request in thread:
            sender = _form(request)["From"]
            lane = int(sender[-5:])
            position = seen.get(sender, len(plan.ramp[lane]))
            assert request.expect == steps[position % len(steps)].sms_reply
            seen[sender] = position + 1
        assert len(seen) == 5  # thread k owns lanes k, k+2, ...


def test_unstaggered_lanes_have_no_ramp_and_all_start_with_the_greeting() -> None:
    plan = load.plan(load.Sms(), run=5, lanes=4, threads=4, per_thread=3, submit=True, stagger=False)

    assert plan.ramp == [[], [], [], []]
    assert [_form(thread[0])["Body"] for thread in plan.threads] == ["你好"] * 4
    assert [r.expect for r in plan.threads[0]] == [step.sms_reply for step in load.walk(submit=True)[:3]]


def test_telegram_answers_may_be_left_to_the_outbox_and_sms_answers_may_not() -> None:
    telegram = load.plan(load.Telegram(), run=6, lanes=2, threads=2, per_thread=2, submit=True)
    sms = load.plan(load.Sms(), run=6, lanes=2, threads=2, per_thread=2, submit=True)
    request = telegram.threads[0][0]
    result = load.Result("python", 1, 1.0, 0, 0.0, 0.0)

    load._check(result, request, 200, "{}")
    load._check(result, sms.threads[0][0], 200, "")
    assert (result.deferred, result.wrong) == (1, 1)
    assert all(r.deferrable for t in telegram.threads for r in t)
    assert not any(r.deferrable for t in sms.threads for r in t)


def test_telegram_updates_have_unique_ids_and_the_webhook_secret() -> None:
    plan = load.plan(load.Telegram(), run=3, lanes=4, threads=4, per_thread=10, submit=False)
    updates = [json.loads(r.body) for thread in plan.threads for r in thread]

    assert len({u["update_id"] for u in updates}) == len(updates)
    assert all(r.header == ("X-Telegram-Bot-Api-Secret-Token", servers.TELEGRAM_SECRET)
               for thread in plan.threads for r in thread)
    assert {u["message"]["chat"]["type"] for u in updates} == {"private"}


@pytest.fixture(scope="module")
def sms_baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = servers.start_sms_baseline(tmp_path_factory.mktemp("baseline"))
    try:
        servers.ready(server)
        yield server
    finally:
        server.stop()


@pytest.mark.skipif(not load.wrk_available(), reason="wrk is not installed")
def test_wrk_counts_right_and_wrong_answers(sms_baseline: servers.Server) -> None:
    plan = load.plan(load.Sms(), run=4, lanes=2, threads=2, per_thread=50, submit=True, baseline=True)
    url = f"http://127.0.0.1:{sms_baseline.port}"

    good = load.run_wrk(url, plan.threads, 1, cycle=True)
    assert good.answered > 0 and good.errors == 0 and good.wrong == 0

    expecting_other = [[dataclasses.replace(r, expect="请核对") for r in thread] for thread in plan.threads]
    bad = load.run_wrk(url, expecting_other, 1, cycle=True)
    assert bad.answered > 0 and bad.wrong == bad.answered
    assert "<Message>" in bad.samples[0]
