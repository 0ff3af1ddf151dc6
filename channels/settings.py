"""Reading a channel's per-bot settings table: one wording for every channel's mistakes."""

from __future__ import annotations

from pydantic import ValidationError


def describe_problems(exc: ValidationError) -> str:
    """Every mistake in a settings table, "key: what is wrong", never the values (they may be secrets)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "(table)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (misspelt?)"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)
