"""Load for the inbound benchmark: citizens walking real conversations, as signed Twilio webhooks and as
Telegram updates, sent by Debian's wrk (or, without it, by a Python generator) from the load core.

A run is a number of *lanes*, each one citizen's phone or chat who walks the conversation over and over.
Lanes start staggered (lane L first walks L mod 8 steps, unmeasured: the *ramp*), so the measured part
has every step of the walk in equal share from its first request, and with as many lanes as messages a
second or more, no citizen writes faster than a person types; that matters on Telegram, which lets a
bot send one message a second to a chat, and the webhook waits for that turn.

wrk replays pre-built requests: every SMS carries Twilio's signature (HMAC-SHA1 over the public URL and
the sorted fields, computed with twilio's own RequestValidator) and a unique MessageSid; every update a
unique update_id and the webhook's secret header. Each wrk thread has one connection and owns its lanes,
so one citizen's messages go out in order, each after the answer to the one before. wrk checks every
answer against the text that step must produce and reports what did not match.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from benchmarks import servers

WRK = shutil.which("wrk")
TASKSET = shutil.which("taskset")


@dataclass(frozen=True)
class Step:
    """One message of the walk and a piece of the answer it must get (SMS wording, Telegram wording)."""

    text: str
    sms_reply: str
    telegram_reply: str


_DESCRIPTIONS = (
    "{n}号村道的路灯坏了三个星期，晚上出门很危险",
    "第{n}组的低保名额分给了村干部的亲戚",
    "集市{n}号摊位占道经营，消防通道被堵住了",
    "河西第{n}排的自来水连续两天停水，没有通知",
    "村委会公布的第{n}期修路账目和实际花费对不上",
)
WALK = (
    Step("你好", "请回复数字", "请回复数字选择"),
    Step("1", "请选类别", "请问您要办理哪一类"),
    Step("2", "请说明举报的人和事", "请说说您要举报的情况"),
    Step("{description}", "已记下", "已记下"),
    Step("完成", "涉及哪个部门或乡镇", "这件事涉及哪个部门或乡镇"),
    Step("城关镇", "匿名还是留姓名电话", "您可以匿名举报"),
    Step("1", "请核对", "请核对"),
)
SUBMIT = Step("1", "已提交", "")  # on Telegram the answer is several messages: the outbox sends them
DISCARD = Step("3", "", "")


def walk(submit: bool) -> tuple[Step, ...]:
    """The tip walk; `submit` confirms it (a case is written, its password hashed), else it is dropped."""
    if submit:
        return (*WALK, SUBMIT)
    # On Telegram the answer to "不提交" is two messages, which the outbox sends: any 2xx will do.
    discard = Step(DISCARD.text, _discarded("sms"), "")
    return (*WALK, discard)


def _discarded(channel: str) -> str:
    """The answer to "不提交", as the catalog words it, so the check follows the texts."""
    from conversations import texts

    return texts.text("zh_Hans", "submit.discarded", concise=channel == "sms")



@dataclass(frozen=True)
class Request:
    path: str
    header: tuple[str, str]  # the one header that authenticates it
    content_type: str
    body: str
    expect: str  # a substring the answer must contain ("" = any 2xx answer)
    # The service may answer with an empty body and leave the answer to the outbox (Telegram, when the
    # step outlasts its reply budget or the reply does not fit a webhook response): counted apart.
    deferrable: bool = False


# ---------------------------------------------------------------- the two platforms' requests


class Sms:
    name = "sms"
    path = f"/webhooks/sms/{servers.BOT}"
    content_type = "application/x-www-form-urlencoded"

    def __init__(self) -> None:
        self.validator = RequestValidator(servers.AUTH_TOKEN)

    def request(self, run: int, lane: int, seq: int, text: str, expect: str) -> Request:
        sid = f"SM{run:04x}{lane:08x}{seq:020x}"
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": text,
            "To": servers.SMS_NUMBER,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": servers.ACCOUNT_SID,
            "From": f"+1555{run % 100:02d}{lane:05d}",
            "ApiVersion": "2010-04-01",
        }
        signature = self.validator.compute_signature(servers.PUBLIC + self.path, params)
        return Request(self.path, ("X-Twilio-Signature", signature), self.content_type, urlencode(params),
                       expect)

    def expect(self, step: Step, baseline: bool) -> str:
        return "<Message>" if baseline else step.sms_reply


class Telegram:
    name = "telegram"
    path = f"/webhooks/telegram/{servers.BOT}"
    content_type = "application/json"

    def request(self, run: int, lane: int, seq: int, text: str, expect: str) -> Request:
        chat = 10_000_000 + run * 100_000 + lane
        person = {"id": chat, "is_bot": False, "first_name": "村民"}
        update = {
            "update_id": (run * 100_000 + lane) * 100_000 + seq,
            "message": {
                "message_id": seq + 1,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private", "first_name": "村民"},
                "from": person,
                "text": text,
            },
        }
        return Request(self.path, ("X-Telegram-Bot-Api-Secret-Token", servers.TELEGRAM_SECRET),
                       self.content_type, json.dumps(update), expect, deferrable=True)

    def expect(self, step: Step, baseline: bool) -> str:
        if baseline:
            return "sendMessage"
        # The service answers in JSON with non-ASCII escaped; match the escaped form.
        return json.dumps(step.telegram_reply)[1:-1] if step.telegram_reply else ""


Platform = Sms | Telegram


@dataclass
class Plan:
    """Every lane's messages: the unmeasured ramp and the measured part, split by wrk thread."""

    ramp: list[list[Request]]  # per lane, sent in order before the measurement
    threads: list[list[Request]]  # per wrk thread, in sending order


def plan(platform: Platform, *, run: int, lanes: int, threads: int, per_thread: int, submit: bool,
         baseline: bool = False, stagger: bool = True) -> Plan:
    """Lanes staggered by their number; thread k owns lanes k, k+threads, ... and takes them in turn.

    Without `stagger` every lane starts at the walk's first step and there is no ramp: the smoke run's
    answers are checked all the same, without the seconds a Telegram ramp waits for each chat's turn.
    """
    steps = walk(submit)
    ramp: list[list[Request]] = []
    cursors = []
    for lane in range(lanes):
        offset = lane % len(steps) if stagger and not baseline else 0
        ramp.append([_request(platform, steps, run, lane, seq, baseline) for seq in range(offset)])
        cursors.append(offset)
    owned = [[lane for lane in range(lanes) if lane % threads == k] for k in range(threads)]
    out: list[list[Request]] = []
    for mine in owned:
        sequence: list[Request] = []
        while len(sequence) < per_thread:
            for lane in mine:
                sequence.append(_request(platform, steps, run, lane, cursors[lane], baseline))
                cursors[lane] += 1
        out.append(sequence[:per_thread])
    return Plan(ramp, out)


def _request(platform: Platform, steps: Sequence[Step], run: int, lane: int, seq: int,
             baseline: bool) -> Request:
    step = steps[seq % len(steps)]
    round_ = seq // len(steps)
    text = step.text.format(description=_DESCRIPTIONS[(lane + round_) % len(_DESCRIPTIONS)].format(
        n=f"{run}{lane}{round_}"))
    return platform.request(run, lane, seq, text, platform.expect(step, baseline))


# ---------------------------------------------------------------- results


@dataclass
class Result:
    """One load run, as the client saw it."""

    generator: str
    connections: int
    seconds: float
    answered: int  # answers to planned messages
    p50_ms: float
    p99_ms: float
    errors: int = 0  # non-2xx, socket errors, timeouts
    wrong: int = 0  # 2xx whose body lacked the step's answer
    deferred: int = 0  # empty 2xx answers whose replies the outbox sends (see Request.deferrable)
    overrun: int = 0  # requests beyond the plan (wrk kept going): health checks, not counted
    samples: list[str] = field(default_factory=list)  # bodies that did not match, for the notes

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- wrk


_LUA = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split(line)
  local out = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do out[#out + 1] = field end
  return out
end

function init(args)
  reqs, expect, deferrable = {}, {}, {}
  answered, wrong, bad, overrun, deferred = 0, 0, 0, 0, 0
  sample = ""
  for line in io.lines(args[1] .. "/t" .. id .. ".tsv") do
    local f = split(line)
    reqs[#reqs + 1] = wrk.format("POST", f[1], {["Content-Type"] = f[4], [f[2]] = f[3]}, f[5])
    expect[#expect + 1] = f[6]
    deferrable[#deferrable + 1] = f[7] == "1"
  end
  idle = wrk.format("GET", "/healthz")
  cycle = args[2] == "cycle"
  planned = cycle and math.huge or #reqs
end

function request()
  -- One connection, no pipelining: the request on the wire is always the one after the last answered.
  -- (wrk sometimes builds a first request it never sends, so counting calls would skew by one.)
  if cycle then return reqs[answered % #reqs + 1] end
  if answered >= #reqs then return idle end
  return reqs[answered + 1]
end

function response(status, headers, body)
  answered = answered + 1
  if answered > planned then
    overrun = overrun + 1
    return
  end
  local at = (answered - 1) % #reqs + 1
  local wanted = expect[at]
  if status < 200 or status > 299 then
    bad = bad + 1
  elseif deferrable[at] and body == "{}" then
    deferred = deferred + 1
  elseif wanted ~= "" and not string.find(body, wanted, 1, true) then
    wrong = wrong + 1
    if sample == "" then
      sample = string.gsub("wanted " .. wanted .. ", got " .. string.sub(body, 1, 160), '[%c"\\]', " ")
    end
  end
end

function done(summary, latency, requests)
  local answered, wrong, bad, overrun, deferred, sample = 0, 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    local o = t:get("overrun")
    answered = answered + math.min(t:get("answered"), t:get("planned"))
    wrong = wrong + t:get("wrong")
    bad = bad + t:get("bad")
    deferred = deferred + t:get("deferred")
    overrun = overrun + o
    if sample == "" then sample = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"duration_us": %d, "requests": %d, "answered": %d, "wrong": %d, "bad": %d, "overrun": %d, '
    .. '"deferred": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, "sample": "%s"}\n',
    summary.duration, summary.requests, answered, wrong, bad, overrun, deferred,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99), sample))
end
"""


def wrk_available() -> bool:
    return WRK is not None


def run_wrk(base_url: str, threads: list[list[Request]], seconds: float, *, cycle: bool = False) -> Result:
    """One wrk thread and connection per list in `threads`, for `seconds`, pinned to the load core.

    `cycle` replays each list from its start when it runs out (for a stateless baseline only: the real
    service would take a repeated message id as a provider's retry).
    """
    if WRK is None:
        raise RuntimeError("wrk is not installed")
    with tempfile.TemporaryDirectory(prefix="sunshine-wrk-") as name:
        folder = Path(name)
        for k, sequence in enumerate(threads):
            lines = ["\t".join((r.path, *r.header, r.content_type, r.body, r.expect, str(int(r.deferrable))))
                     for r in sequence]
            (folder / f"t{k}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        script = folder / "walk.lua"
        script.write_text(_LUA, encoding="utf-8")
        count = len(threads)
        command = [WRK, "-t", str(count), "-c", str(count), "-d", f"{max(1, round(seconds))}s",
                   "--timeout", "10s", "-s", str(script), base_url,
                   "--", str(folder), "cycle" if cycle else "once"]
        if TASKSET is not None and servers.pinnable():
            command = [TASKSET, "-c", str(servers.LOAD_CPU), *command]
        done = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace",
                              timeout=seconds + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("RESULT "))
    socket_errors = data["socket_errors"]
    return Result(
        generator="wrk",
        connections=count,
        seconds=data["duration_us"] / 1e6,
        answered=data["answered"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["bad"] + socket_errors,
        wrong=data["wrong"],
        deferred=data["deferred"],
        overrun=data["overrun"],
        samples=[data["sample"]] if data["sample"] else [],
    )


# ---------------------------------------------------------------- the Python generator


async def _send(session, base_url: str, request: Request) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    headers = {"Content-Type": request.content_type, request.header[0]: request.header[1]}
    async with session.post(base_url + request.path, data=request.body.encode("utf-8"),
                            headers=headers) as response:
        return response.status, await response.text()


def _check(result: Result, request: Request, status: int, body: str) -> None:
    if not 200 <= status <= 299:
        result.errors += 1
    elif request.deferrable and body == "{}":
        result.deferred += 1
    elif request.expect and request.expect not in body:
        result.wrong += 1
        if not result.samples:
            result.samples.append(f"wanted {request.expect}, got {body[:160]}")


async def _ramp(base_url: str, lanes: list[list[Request]], concurrency: int = 16) -> Result:
    import aiohttp

    result = Result("python", concurrency, 0.0, 0, 0.0, 0.0)
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def lane(requests: list[Request]) -> None:
            for request in requests:
                async with gate:
                    status, body = await _send(session, base_url, request)
                _check(result, request, status, body)
                result.answered += 1

        await asyncio.gather(*(lane(r) for r in lanes if r))
    return result


def ramp(base_url: str, lanes: list[list[Request]]) -> Result:
    """Walk every lane to its starting step (not measured); the answers are checked all the same."""
    return asyncio.run(_ramp(base_url, lanes))


async def _closed_loop(base_url: str, threads: list[list[Request]], seconds: float) -> Result:
    import aiohttp

    result = Result("python", len(threads), seconds, 0, 0.0, 0.0)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession() as session:

        async def connection(requests: list[Request]) -> None:
            for request in requests:
                if time.perf_counter() >= deadline:
                    return
                began = time.perf_counter()
                status, body = await _send(session, base_url, request)
                latencies.append(time.perf_counter() - began)
                _check(result, request, status, body)
                result.answered += 1

        started = time.perf_counter()
        await asyncio.gather(*(connection(r) for r in threads))
        result.seconds = time.perf_counter() - started
    result.p50_ms, result.p99_ms = _percentiles(latencies)
    return result


def run_python(base_url: str, threads: list[list[Request]], seconds: float) -> Result:
    """The fallback when wrk is missing: one sequential sender per list, as wrk's threads are."""
    return asyncio.run(_closed_loop(base_url, threads, seconds))


async def _paced(base_url: str, lanes: list[list[Request]], rate: float, seconds: float) -> Result:
    """Open loop: message i is due at start + i/rate whatever happened before; latency counts from the
    due time, so a server that falls behind is charged for the wait (no coordinated omission)."""
    import aiohttp

    total = int(rate * seconds)
    result = Result("python-paced", len(lanes), seconds, 0, 0.0, 0.0)
    latencies: list[float] = []
    order = [(i % len(lanes), i // len(lanes)) for i in range(total)]
    if any(position >= len(lanes[lane]) for lane, position in order):
        raise ValueError("the plan is shorter than the paced run")
    previous: dict[int, asyncio.Future[None]] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter() + 0.05

        async def one(i: int, lane: int, position: int, before: asyncio.Future[None] | None,
                      mine: asyncio.Future[None]) -> None:
            due = start + i / rate
            try:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if before is not None:
                    await before  # a citizen's next message follows the answer to the last
                request = lanes[lane][position]
                status, body = await _send(session, base_url, request)
                latencies.append(time.perf_counter() - due)
                _check(result, request, status, body)
                result.answered += 1
            finally:
                mine.set_result(None)

        tasks = []
        loop = asyncio.get_running_loop()
        for i, (lane, position) in enumerate(order):
            mine = loop.create_future()
            tasks.append(asyncio.create_task(one(i, lane, position, previous.get(lane), mine)))
            previous[lane] = mine
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - start
    result.p50_ms, result.p99_ms = _percentiles(latencies)
    return result


def run_paced(base_url: str, lanes: list[list[Request]], rate: float, seconds: float) -> Result:
    return asyncio.run(_paced(base_url, lanes, rate, seconds))


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return 0.0, 0.0
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000

    return at(0.50), at(0.99)


def pinned(function: Callable[[], Result]) -> Result:
    """Run the Python generator on the load core (this process moves there and back)."""
    import os

    if not servers.pinnable():
        return function()
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {servers.LOAD_CPU})
    try:
        return function()
    finally:
        os.sched_setaffinity(0, before)
