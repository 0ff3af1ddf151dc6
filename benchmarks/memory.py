"""Benchmark 5b: the memory of a serving process, on an empty database and with a million cases stored.

A real `sunshine serve` (configured as `benchmarks.servers` configures it: SMS and Telegram on one
bot) is started on a copy of the benchmark's database of open cases, and its resident set is read
from /proc/<pid>/status — VmRSS now, VmHWM the peak — when idle and after a few hundred complaints
filed by SMS, each of which runs the duplicate check against the stored cases. The baseline is the
same process on an empty database, measured the same way in the same run.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks import casebase, servers
from benchmarks.corpus import Corpus
from benchmarks.load import Sms
from benchmarks.report import Row, Section

SIZES = {"smoke": 200, "full": 1_000_000}
SUBMISSIONS = {"smoke": 3, "full": 200}
TARGET_MB = 200.0
READY_SECONDS = 300.0
DEPARTMENT = "县住建局"  # one of the configured departments that the corpus's complaints also go to


@dataclass(frozen=True)
class Memory:
    rss_mb: float
    peak_mb: float


def _status(pid: int) -> Memory:
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB → MB
    return Memory(fields["VmRSS"], fields["VmHWM"])


def _cases(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM cases").fetchone()[0])


def _import_floor_mb(module: str) -> float:
    """Peak RSS of a fresh interpreter that imports `module` and nothing else."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report its parent's peak.
    code = f"import os, {module}; print(os.getpid())"
    script = f"{code}\nprint(open('/proc/self/status').read())"
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    peak = next(line for line in found.stdout.splitlines() if line.startswith("VmHWM:"))
    return int(peak.split()[1]) / 1024  # kB → MB


def _walk(text: str) -> list[str]:
    """A complaint by SMS, from greeting to confirmation: menu, complaint, the text, department, send."""
    return ["你好", "1", "1", text, "完成", DEPARTMENT, "1"]


def _post(server: servers.Server, sms: Sms, lane: int, seq: int, text: str) -> None:
    request = sms.request(run=7, lane=lane, seq=seq, text=text, expect="")
    sent = urllib.request.Request(
        server.url(request.path),
        data=request.body.encode("utf-8"),
        headers={"Content-Type": request.content_type, request.header[0]: request.header[1]},
        method="POST",
    )
    with urllib.request.urlopen(sent, timeout=60) as response:
        if response.status != 200:
            raise RuntimeError(f"SMS webhook answered {response.status}")


def _wait(server: servers.Server, path: str) -> None:
    """Like `servers.ready`, with more patience: on a busy machine importing everything takes a while."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n{server.log_text()}")
        try:
            with urllib.request.urlopen(server.url(path), timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer {path}:\n{server.log_text()}")


def _start(root: Path, sink: servers.Server) -> servers.Server:
    """`sunshine serve` (which upgrades the schema as it starts) on root/data/sunshine.db."""
    config = servers.sunshine_config(root, sink.url(""))
    env = servers._clean_env()
    env["SUNSHINE_SECRET_KEY"] = casebase.SECRET  # the key the stored cases were written with
    port = servers.free_port()
    argv = [*servers._sunshine(), "serve", "--config", str(config), "--port", str(port)]
    server = servers._spawn("sunshine", argv, root, port, servers.SERVER_CPU, env)
    _wait(server, server.health)
    return server


def _measure(root: Path, texts: list[str]) -> tuple[Memory, Memory, float, int]:
    """(idle, after the submissions, seconds per submission, cases written) of one serving process."""
    sink = servers.start_sink(root)
    server: servers.Server | None = None
    try:
        _wait(sink, sink.health)
        database = root / "data" / "sunshine.db"
        before = _cases(database) if database.exists() else 0
        server = _start(root, sink)
        time.sleep(2.0)  # let start-up work (the scheduler's first pass) settle
        idle = _status(server.pid)
        sms = Sms()
        began = time.perf_counter()
        for lane, text in enumerate(texts):
            for seq, said in enumerate(_walk(text)):
                _post(server, sms, lane, seq, said)
        seconds = (time.perf_counter() - began) / max(1, len(texts))
        loaded = _status(server.pid)
        written = _cases(database) - before
        return idle, loaded, seconds, written
    finally:
        if server is not None:
            server.stop()
        sink.stop()


def run(size: str) -> Section:
    n, count = SIZES[size], SUBMISSIONS[size]
    corpus = Corpus()
    background = corpus.background(n)
    # New complaints to the department the walk names: repeats of stored ones and new matters alike.
    texts = [
        probe.filing.text
        for probe in corpus.probes(background, count * 20)
        if probe.filing.department == DEPARTMENT and probe.filing.kind == "complaint"
    ][:count]
    section = Section("Memory of a serving process")
    with tempfile.TemporaryDirectory(prefix="sunshine-mem-") as scratch:
        empty_root = Path(scratch) / "empty"
        (empty_root / "data").mkdir(parents=True)
        base_idle, base_loaded, base_seconds, base_written = _measure(empty_root, texts)
        full_root = Path(scratch) / "full"
        (full_root / "data").mkdir(parents=True)
        stored = full_root / "data" / "sunshine.db"
        if size == "full":
            shutil.copyfile(casebase.cached(n, background), stored)
        else:
            casebase.build(stored, background)
        idle, loaded, seconds, written = _measure(full_root, texts)
    if written != len(texts) or base_written != len(texts):
        print(f"   memory: {written} and {base_written} cases written for {len(texts)} complaints",
              file=sys.stderr)
    area = f"memory, {n:,} cases stored"
    rows = [
        Row(area, "VmRSS idle", f"{idle.rss_mb:.0f} MB",
            baseline=f"{base_idle.rss_mb:.0f} MB empty database",
            ratio=f"{idle.rss_mb / base_idle.rss_mb:.2f}× (measured/baseline)",
            target=f"<= {TARGET_MB:.0f} MB", met=idle.rss_mb <= TARGET_MB),
        Row(area, f"VmRSS after {len(texts)} SMS complaints", f"{loaded.rss_mb:.0f} MB",
            baseline=f"{base_loaded.rss_mb:.0f} MB empty database",
            ratio=f"{loaded.rss_mb / base_loaded.rss_mb:.2f}× (measured/baseline)",
            target=f"<= {TARGET_MB:.0f} MB", met=loaded.rss_mb <= TARGET_MB,
            notes=f"{written} cases written, each after a duplicate check"),
        Row(area, "VmHWM (peak) after the complaints", f"{loaded.peak_mb:.0f} MB",
            baseline=f"{base_loaded.peak_mb:.0f} MB empty database",
            ratio=f"{loaded.peak_mb / base_loaded.peak_mb:.2f}× (measured/baseline)",
            target=f"<= {TARGET_MB:.0f} MB", met=loaded.peak_mb <= TARGET_MB),
        Row(area, "seconds per complaint (7 SMS turns, sequential)", f"{seconds:.2f} s",
            baseline=f"{base_seconds:.2f} s empty database",
            ratio=f"{seconds / base_seconds:.2f}× (measured/baseline)"),
    ]
    floor = _import_floor_mb("aiogram.types")
    rows.append(
        Row("memory", "VmHWM of a bare Python that only imports aiogram.types", f"{floor:.0f} MB",
            baseline=f"{_import_floor_mb('sys'):.0f} MB bare Python",
            notes="the floor of any process that reads Telegram updates with aiogram's models")
    )
    section.rows = rows
    section.method = f"""
`sunshine serve` with the configuration `benchmarks.servers` writes (SMS and Telegram on one bot,
SQLite), once on an empty database and once on a copy of the {n:,}-case database built by
`benchmarks.casebase` (the duplicate benchmark's). Memory is read from /proc/<pid>/status: VmRSS two
seconds after the health check answers, then VmRSS and VmHWM after {len(texts)} complaints to
{DEPARTMENT} were filed by SMS one after another (each seven signed Twilio webhooks; the corpus's
repeats and new matters, so each submission's duplicate check searches the stored cases).
The duplicate index lives in the database, not in the process: nothing is loaded per case at start.
"""
    return section
