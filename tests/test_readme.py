"""The README is what a new user follows: its commands and demo values must be the real ones."""

from __future__ import annotations

import re
from pathlib import Path

from bots import demo

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README)


def test_readme_opens_with_the_run_and_test_commands() -> None:
    run, test = _commands()[:2]
    assert run.endswith("sunshine serve --demo")
    assert test.endswith("pytest")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test = _commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci


def test_demo_values_in_the_readme_are_the_seeded_ones() -> None:
    for person in demo.DEMO_PEOPLE:
        assert f"| {person.id_number} | {person.name} | {person.town} |" in README
    assert demo.DEMO_PHONE in README
    assert demo.DEMO_STAFF_USERNAME in README
