"""pip-audit on the locked dependencies: a release with a published vulnerability fails the build.

The lock file is what gets deployed, so that is what is audited: `uv export` turns uv.lock into pinned
requirements and pip-audit looks each pin up in the PyPI advisory data, without resolving or installing
anything. When the advisory service cannot be reached (no network, a mirror without the per-release
JSON API) pip-audit says every package "could not be audited" and still exits 0: that must not read as
a clean bill, so the test is skipped — loudly, in the terminal summary — instead of passing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NO_AUDIT

ROOT = Path(__file__).resolve().parents[1]
AUDIT_TIMEOUT = 600  # seconds; pip-audit asks once per package (about 90 of them)
BY_HAND = (
    ".tools/bin/uv export --locked --format requirements-txt --no-hashes --no-emit-project -o /tmp/req.txt"
    " && .tools/bin/uv run --locked pip-audit -r /tmp/req.txt --no-deps --disable-pip"
    " --progress-spinner off"
)


@dataclass
class Verdict:
    audited: int = 0
    vulnerable: list[str] = field(default_factory=list)  # "name version: id (fixed in ...)"
    unaudited: list[str] = field(default_factory=list)  # "name: why"

    @property
    def service_unreachable(self) -> bool:
        """Nothing at all could be looked up: the advisory service did not answer, not the packages."""
        return self.audited == 0 and bool(self.unaudited)


def read_report(report: dict[str, Any]) -> Verdict:
    """pip-audit's JSON report (`-f json`) as what the build cares about."""
    verdict = Verdict()
    for dependency in report.get("dependencies", []):
        name = str(dependency.get("name", "?"))
        if "skip_reason" in dependency:
            verdict.unaudited.append(f"{name}: {dependency['skip_reason']}")
            continue
        verdict.audited += 1
        for vulnerability in dependency.get("vulns", []):
            fixed = ", ".join(vulnerability.get("fix_versions") or []) or "no fixed release"
            aliases = ", ".join(vulnerability.get("aliases") or [])
            also = f" ({aliases})" if aliases else ""
            verdict.vulnerable.append(
                f"{name} {dependency.get('version', '?')}: {vulnerability.get('id', '?')}{also}"
                f" — fixed in {fixed}"
            )
    return verdict


def find_uv() -> str | None:
    """The uv that runs the tests (it sets $UV), the checkout's own, or one on the PATH."""
    candidates = [
        os.environ.get("UV"),
        str(ROOT / ".tools" / "bin" / "uv"),
        str(Path(sys.executable).parent / "uv"),
        shutil.which("uv"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _skip_loudly(message: str) -> None:
    """Skipped, and said again at the end of the run (tests/conftest.py repeats skips of this kind)."""
    print(f"\n!!! {message}", file=sys.stderr)
    pytest.skip(message)


def test_a_report_with_a_vulnerability_is_listed_by_package_and_advisory() -> None:
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "3.1.2", "vulns": [
                {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"]}
            ]},
            {"name": "aiohttp", "version": "3.14.5", "vulns": []},
            {"name": "sunshine-bots", "skip_reason": "Dependency not found on PyPI and could not be audited"},
        ],
        "fixes": [],
    }  # fmt: skip
    verdict = read_report(report)
    assert verdict.vulnerable == ["jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195) — fixed in 3.1.3"]
    assert verdict.audited == 2 and not verdict.service_unreachable


def test_a_report_where_nothing_could_be_audited_means_the_service_was_unreachable() -> None:
    report = {
        "dependencies": [
            {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name}"}
            for name in ("aiohttp", "jinja2")
        ]
    }
    verdict = read_report(report)
    assert verdict.service_unreachable and verdict.vulnerable == [] and len(verdict.unaudited) == 2
    assert not read_report({"dependencies": []}).service_unreachable  # an empty lock is not "unreachable"


def test_no_locked_dependency_has_a_known_vulnerability(tmp_path: Path) -> None:
    uv = find_uv()
    if uv is None:
        pytest.fail("uv not found ($UV, .tools/bin/uv, next to python, PATH): cannot export the lock file")
    requirements = tmp_path / "requirements.txt"
    export = subprocess.run(
        [uv, "export", "--locked", "--format", "requirements-txt", "--no-hashes", "--no-emit-project",
         "--quiet", "-o", str(requirements)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert export.returncode == 0, f"uv export failed:\n{export.stderr}"
    pins = [line for line in requirements.read_text().splitlines() if line and line[0] not in "# "]
    assert len(pins) > 20, pins  # the export really holds the lock's pins

    audit = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps", "--disable-pip",
         "--progress-spinner", "off", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=AUDIT_TIMEOUT, check=False,
    )  # fmt: skip
    try:
        report = json.loads(audit.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pip-audit failed (exit {audit.returncode}) without a report:\n{audit.stderr[-4000:]}")
    verdict = read_report(report)
    assert verdict.vulnerable == [], (
        f"{len(verdict.vulnerable)} known vulnerabilit(y/ies) in the locked dependencies — upgrade them "
        "in pyproject.toml / uv.lock:\n" + "\n".join(verdict.vulnerable)
    )
    if verdict.service_unreachable:
        _skip_loudly(
            f"{NO_AUDIT} the vulnerability service: none of the {len(verdict.unaudited)} "
            f"locked dependencies was audited (first: {verdict.unaudited[0]}). Run it by hand where "
            f"pypi.org answers: {BY_HAND}",
        )
    assert audit.returncode == 0, f"pip-audit failed (exit {audit.returncode}):\n{audit.stderr[-4000:]}"
    assert verdict.unaudited == [], (
        "some locked dependencies could not be audited although the service answered for others:\n"
        + "\n".join(verdict.unaudited)
    )
