"""Benchmark 1: inbound messages through the whole service, against bare handlers doing only the HTTP part.

For SMS and Telegram in turn: the real `sunshine serve` (fresh SQLite database) and a baseline server,
each pinned to core 0, are driven by wrk pinned to core 1 at rising concurrency. Citizens walk a tip
from the menu to the end, so every message runs the signature check, the inbound log, a conversation
step, the outbox and the platform's answer; one walk in eight confirms (a case is written and its
query password hashed with argon2id), the others are plain steps. The same walk ending in "不提交"
measures plain steps alone. Then an open-loop run at half the highest rate gives the latency a citizen
sees when the service is busy but not saturated, and the server's memory is read from /proc.

`python -m benchmarks.inbound --profile sms` runs the service under pyinstrument instead and prints
where its time went.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import load, servers
from benchmarks.report import Row, Section

BASELINE_RATIO_TARGETS = {"sms": 0.25, "telegram": 1.0}
P99_TARGET_MS = 50.0
RSS_TARGET_MB = 200.0


@dataclass(frozen=True)
class Size:
    levels: tuple[int, ...]  # concurrent connections
    seconds: int  # per measured wrk run (wrk takes whole seconds)
    lanes: int  # citizens per run: at most one message a second each on Telegram needs many
    paced_seconds: float
    plain_levels: tuple[int, ...]  # levels for the walk without submissions
    cap: float  # the most messages a second a run is planned for (wrk sends health checks beyond)
    stagger: bool = True  # lanes start at different steps (see load.plan); smoke starts them together


SIZES = {
    "smoke": Size(levels=(4,), seconds=1, lanes=8, paced_seconds=1.0, plain_levels=(), cap=400.0,
                  stagger=False),
    "full": Size(levels=(1, 4, 16, 64), seconds=8, lanes=128, paced_seconds=10.0, plain_levels=(16,),
                 cap=600.0),
}
_PROFILE_WRITE_SECONDS = 300.0  # pyinstrument renders its report as the server exits; slow when loaded
_SEND_WAIT_SECONDS = 60.0  # Telegram lets a bot send one message a second to a chat
_BASELINE_PER_THREAD = 2000  # the baselines keep no state: wrk replays these in a loop


@dataclass
class Measured:
    result: load.Result
    cpu_percent: float
    rss_mb: float


class Stats:
    """CPU time and memory of one process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.hz = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.hz  # utime + stime, all threads

    def memory_mb(self, key: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0


def _measure(server: servers.Server, threads: list[list[load.Request]], seconds: float, *,
             cycle: bool = False) -> Measured:
    stats = Stats(server.pid)
    before, began = stats.cpu_seconds(), time.perf_counter()
    if load.wrk_available():
        result = load.run_wrk(f"http://127.0.0.1:{server.port}", threads, seconds, cycle=cycle)
    else:
        result = load.pinned(lambda: load.run_python(f"http://127.0.0.1:{server.port}", threads, seconds))
    wall = time.perf_counter() - began
    cpu = (stats.cpu_seconds() - before) / wall * 100 if wall else 0.0
    measured = Measured(result, cpu, stats.memory_mb())
    _progress(f"{server.name} {result.connections} conn: {result.rate:.0f}/s p50 {result.p50_ms:.1f} ms "
              f"p99 {result.p99_ms:.1f} ms CPU {cpu:.0f}% RSS {measured.rss_mb:.0f} MB; {_checked(result)}")
    return measured


def _progress(line: str) -> None:
    print(f"   {time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _per_thread(cap: float, seconds: float, connections: int) -> int:
    return math.ceil(cap * seconds * 1.2 / connections) + 8


class Runs:
    """Numbers each run so that every run's citizens and message ids are new to the database."""

    def __init__(self) -> None:
        self.next = 1

    def take(self) -> int:
        self.next += 1
        return self.next - 1


def _sunshine_run(server: servers.Server, platform: load.Platform, runs: Runs, size: Size, connections: int,
                  *, submit: bool, problems: list[str]) -> Measured:
    lanes = max(size.lanes, connections)
    plan = load.plan(platform, run=runs.take(), lanes=lanes, threads=connections,
                     per_thread=_per_thread(size.cap, size.seconds, connections), submit=submit,
                     stagger=size.stagger)
    ramped = load.pinned(lambda: load.ramp(f"http://127.0.0.1:{server.port}", plan.ramp))
    if ramped.errors or ramped.wrong:
        problems.append(f"ramp: {ramped.errors} errors, {ramped.wrong} wrong answers {ramped.samples[:1]}")
    return _measure(server, plan.threads, size.seconds)


def _baseline_run(server: servers.Server, platform: load.Platform, runs: Runs, size: Size,
                  connections: int) -> Measured:
    plan = load.plan(platform, run=runs.take(), lanes=max(size.lanes, connections), threads=connections,
                     per_thread=_BASELINE_PER_THREAD, submit=True, baseline=True)
    return _measure(server, plan.threads, size.seconds, cycle=load.wrk_available())


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _checked(result: load.Result) -> str:
    parts = [f"{result.answered} answered"]
    parts.append(f"{result.errors} non-2xx/errors, {result.wrong} wrong replies")
    if result.deferred:
        parts.append(f"{result.deferred} answered through the outbox")
    if result.overrun:
        parts.append(f"{result.overrun} beyond the plan (not counted)")
    if result.samples:
        parts.append(f"e.g. {result.samples[0][:80]!r}")
    return "; ".join(parts)


def _channel(name: str, size: Size, server: servers.Server, baseline: servers.Server, runs: Runs,
             rows: list[Row]) -> list[str]:
    """Measure one platform's path against its baseline; the rows go to `rows`, problems are returned."""
    platform: load.Platform = load.Sms() if name == "sms" else load.Telegram()
    label = "SMS (Twilio)" if name == "sms" else "Telegram"
    target = BASELINE_RATIO_TARGETS[name]
    problems: list[str] = []
    stats = Stats(server.pid)

    baselines = {c: _baseline_run(baseline, platform, runs, size, c) for c in size.levels}
    full = {c: _sunshine_run(server, platform, runs, size, c, submit=True, problems=problems)
            for c in size.levels}
    plain = {c: _sunshine_run(server, platform, runs, size, c, submit=False, problems=problems)
             for c in size.plain_levels}
    best = max(m.result.rate for m in full.values())
    lanes = max(size.lanes, 4)
    paced_plan = load.plan(platform, run=runs.take(), lanes=lanes, threads=lanes,
                           per_thread=math.ceil(best / 2 * size.paced_seconds / lanes) + 2, submit=True,
                           stagger=size.stagger)
    url = f"http://127.0.0.1:{server.port}"
    load.pinned(lambda: load.ramp(url, paced_plan.ramp))
    before, began = stats.cpu_seconds(), time.perf_counter()
    paced = load.pinned(lambda: load.run_paced(url, paced_plan.threads, best / 2, size.paced_seconds))
    paced_cpu = (stats.cpu_seconds() - before) / (time.perf_counter() - began) * 100
    _progress(f"paced {best / 2:.0f}/s: p50 {paced.p50_ms:.1f} ms p99 {paced.p99_ms:.1f} ms; "
              f"{_checked(paced)}")

    for c in size.levels:
        m, b = full[c], baselines[c]
        ratio = m.result.rate / b.result.rate if b.result.rate else 0.0
        rows.append(Row(
            area=f"Inbound {label}",
            measure=f"msgs/s, walk with 1 in 8 submitting, {c} conn (ratio = full/baseline)",
            value=f"{m.result.rate:.0f}/s p50 {_ms(m.result.p50_ms)} p99 {_ms(m.result.p99_ms)} "
                  f"CPU {m.cpu_percent:.0f}%",
            baseline=f"{b.result.rate:.0f}/s p50 {_ms(b.result.p50_ms)} p99 {_ms(b.result.p99_ms)} "
                     f"CPU {b.cpu_percent:.0f}%",
            ratio=f"{ratio:.3f}",
            target=f">= {target:g}x",
            met=ratio >= target,
            notes=_checked(m.result),
        ))
    for c in size.plain_levels:
        m, b = plain[c], baselines[c]
        ratio = m.result.rate / b.result.rate if b.result.rate else 0.0
        rows.append(Row(
            area=f"Inbound {label}",
            measure=f"msgs/s, plain steps only (walk ends in 不提交), {c} conn",
            value=f"{m.result.rate:.0f}/s p50 {_ms(m.result.p50_ms)} p99 {_ms(m.result.p99_ms)} "
                  f"CPU {m.cpu_percent:.0f}%",
            baseline=f"{b.result.rate:.0f}/s",
            ratio=f"{ratio:.3f}",
            target=f">= {target:g}x",
            met=ratio >= target,
            notes=_checked(m.result),
        ))
    rows.append(Row(
        area=f"Inbound {label}",
        measure=f"p99 latency, open loop at half the highest rate ({best / 2:.0f}/s)",
        value=f"p99 {_ms(paced.p99_ms)}, p50 {_ms(paced.p50_ms)}, CPU {paced_cpu:.0f}%",
        target=f"<= {P99_TARGET_MS:g} ms",
        met=paced.p99_ms <= P99_TARGET_MS and not paced.errors,
        notes=_checked(paced),
    ))
    rows.append(Row(
        area="Memory",
        measure=f"RSS of `sunshine serve` after the {label} runs (now / peak so far)",
        value=f"{stats.memory_mb():.0f} MB / {stats.memory_mb('VmHWM'):.0f} MB",
        baseline=f"{Stats(baseline.pid).memory_mb():.0f} MB ({baseline.name})",
        target=f"<= {RSS_TARGET_MB:g} MB",
        met=stats.memory_mb("VmHWM") <= RSS_TARGET_MB,
    ))
    return [f"{label}: {p}" for p in problems]


def _count(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        one = lambda sql: int(db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "cases": one("SELECT count(*) FROM cases"),
            "inbound": one("SELECT count(*) FROM inbound_messages"),
            "outbox": one("SELECT count(*) FROM outbox"),
            "unsent": one("SELECT count(*) FROM outbox WHERE status NOT IN ('sent', 'delivered')"),
        }


def _wait_sent(database: Path, seconds: float) -> int:
    """Wait for the dispatcher to send what the runs left in the outbox; the rows still unsent."""
    deadline = time.monotonic() + seconds
    while (unsent := _count(database)["unsent"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return unsent


def run(size: str) -> Section:
    chosen = SIZES[size]
    rows: list[Row] = []
    problems: list[str] = []
    runs = Runs()
    with servers.workdir() as root:
        sink = servers.start_sink(root)
        (root / "sunshine").mkdir()
        started = [
            sink,
            servers.start_sunshine(root / "sunshine", sink.url("")),
            servers.start_sms_baseline(root),
            servers.start_telegram_baseline(root),
        ]
        try:
            servers.ready(*started)
            _, server, sms_baseline, telegram_baseline = started
            problems += _channel("sms", chosen, server, sms_baseline, runs, rows)
            problems += _channel("telegram", chosen, server, telegram_baseline, runs, rows)
            # Answers left to the outbox count as answered only once the dispatcher has sent them.
            unsent = _wait_sent(root / "sunshine" / "data" / "sunshine.db", _SEND_WAIT_SECONDS)
            if unsent:
                problems.append(f"{unsent} outbox rows still unsent {_SEND_WAIT_SECONDS:g} s after the runs")
        finally:
            for process in started:
                process.stop()
        written = _count(root / "sunshine" / "data" / "sunshine.db")
    notes = (f"After the runs the database held {written['cases']} cases, {written['inbound']} inbound "
             f"messages and {written['outbox']} outbox rows, {written['unsent']} of them not sent."
             + (f" Problems: {'; '.join(problems)}." if problems else " No answer was missing or wrong."))
    generator = (
        "Debian's wrk 4.1 (one thread per connection)" if load.wrk_available()
        else "a Python aiohttp generator (wrk is not installed)"
    )
    pinning = (f"server and baselines pinned to core {servers.SERVER_CPU}, load generator to core "
               f"{servers.LOAD_CPU} (sched_setaffinity / taskset)") if servers.pinnable() \
        else "not pinned (fewer than two cores available): server and load share the CPU"
    method = f"""
Load: {generator}, {pinning}. Each level runs {chosen.seconds:g} s; citizens ({chosen.lanes} per run)
walk a tip from the menu (你好 → 1 → 2 → description → 完成 → 城关镇 → 1 → 1) over and over, each
lane starting at a different step (walked there first, unmeasured) so every step has its share from the
start. SMS requests are signed as Twilio signs them, with unique MessageSids; Telegram updates carry the
webhook secret and unique update ids. Every answer is checked for the text its step must produce.
Baselines, in their own processes on the same core: a bare aiohttp handler that parses the same form
and returns a TwiML message of the menu's length; aiogram's SimpleRequestHandler with an echo handler
answering in the webhook response. The latency row is an open-loop Python generator on the load core,
latency counted from each message's due time. CPU is the server process's utime+stime over wall time
(/proc/PID/stat; 100% = the one core it has); memory is VmRSS / VmHWM. Submitting costs an argon2id hash
of the query password (19 MiB, t=2, p=1, ~35 ms of CPU), deliberately slow, which is why plain steps are
reported apart. A Telegram answer with an empty body left its replies to the outbox (counted apart, and
the run waits for the dispatcher to send every outbox row). The service keeps to Telegram's limits (one
message a second per chat, 30 a second per bot: channels/telegram/limits.py), webhook answers included;
the echo baseline does not, so Telegram's rate cannot pass 30/s and its ratio says more about that cap
than about the service's CPU (see the CPU column).
{notes}
"""
    return Section(title="Inbound pipeline (SMS and Telegram webhooks)", rows=rows, method=method)


def profile(channel: str, seconds: float, connections: int, submit: bool, output: Path) -> None:
    """Run one channel's walk against the service under pyinstrument, which writes its report to `output`."""
    size = SIZES["full"]
    platform: load.Platform = load.Sms() if channel == "sms" else load.Telegram()
    with servers.workdir() as root:
        sink = servers.start_sink(root)
        server = servers.start_sunshine(root, sink.url(""), profile=output)
        try:
            servers.ready(sink, server)
            sized = Size(levels=(connections,), seconds=seconds, lanes=size.lanes, paced_seconds=0,
                         plain_levels=(), cap=size.cap)
            measured = _sunshine_run(server, platform, Runs(), sized, connections, submit=submit, problems=[])
        finally:
            server.stop(grace=_PROFILE_WRITE_SECONDS)
            sink.stop()
    print(f"{measured.result.rate:.0f}/s, CPU {measured.cpu_percent:.0f}%; profile written to {output}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inbound")
    parser.add_argument("--profile", choices=("sms", "telegram"), required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--plain", action="store_true", help="the walk without submissions")
    parser.add_argument("--output", type=Path, default=Path("inbound-profile.txt"))
    args = parser.parse_args(argv)
    profile(args.profile, args.seconds, args.connections, not args.plain, args.output.resolve())


if __name__ == "__main__":
    main()
