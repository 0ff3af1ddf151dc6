"""Every desk route × every kind of visitor, as one table.

Rules the table pins down:
- anonymous: a page (GET) redirects to the login (302); anything else is 401 (with a valid CSRF token
  from the login page, so it is the missing login that refuses it);
- department staff: their own department's cases and any handoff without a department work; another
  department's case or handoff is 404 — the same as one that does not exist, so ids reveal nothing;
- supervisor-only and admin-only routes are 403 for roles below;
- actions answer 303 (post/redirect/get) whether they changed something or explained why not;
  the reveal, the admin's password pages and the exports answer 200 with their content.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.desk.conftest import DEPT_A, Desk, World

ROLES = ("anonymous", "alice", "bob", "sue", "ada")  # anonymous, staff of A, staff of B, supervisor, admin
PAGE = {"anonymous": 302, "alice": 200, "bob": 200, "sue": 200, "ada": 200}
CASE_A_PAGE = {"anonymous": 302, "alice": 200, "bob": 404, "sue": 200, "ada": 200}
CASE_A_ACTION = {"anonymous": 401, "alice": 303, "bob": 404, "sue": 303, "ada": 303}
SUPERVISOR_PAGE = {"anonymous": 302, "alice": 403, "bob": 403, "sue": 200, "ada": 200}
SUPERVISOR_ACTION = {"anonymous": 401, "alice": 403, "bob": 403, "sue": 303, "ada": 303}
ADMIN_PAGE = {"anonymous": 302, "alice": 403, "bob": 403, "sue": 403, "ada": 200}
HANDOFF_OPEN_ACTION = {"anonymous": 401, "alice": 303, "bob": 303, "sue": 303, "ada": 303}
HANDOFF_B_PAGE = {"anonymous": 302, "alice": 404, "bob": 200, "sue": 200, "ada": 200}
HANDOFF_B_ACTION = {"anonymous": 401, "alice": 404, "bob": 303, "sue": 303, "ada": 303}

# (method, path, form, expected status per role). Paths name the world's rows in {braces}.
MATRIX: list[tuple[str, str, dict[str, str], dict[str, int]]] = [
    ("GET", "/desk/login", {}, {"anonymous": 200, "alice": 302, "bob": 302, "sue": 302, "ada": 302}),
    ("GET", "/desk/static/desk.css", {}, dict.fromkeys(ROLES, 200)),
    ("GET", "/desk/static/desk.js", {}, dict.fromkeys(ROLES, 200)),
    ("GET", "/desk/static/nothing.js", {}, dict.fromkeys(ROLES, 404)),
    ("GET", "/desk/", {}, {"anonymous": 302, "alice": 302, "bob": 302, "sue": 302, "ada": 302}),
    ("GET", "/desk/queue", {}, PAGE),
    ("GET", "/desk/events", {}, PAGE),
    ("GET", "/desk/events?handoff={handoff_b}", {}, HANDOFF_B_PAGE),
    ("GET", "/desk/handoffs/{handoff_open}", {}, PAGE),
    ("GET", "/desk/handoffs/{handoff_b}", {}, HANDOFF_B_PAGE),
    (
        "GET",
        "/desk/handoffs/999999",
        {},
        {"anonymous": 302, "alice": 404, "bob": 404, "sue": 404, "ada": 404},
    ),
    ("POST", "/desk/handoffs/{handoff_open}/claim", {}, HANDOFF_OPEN_ACTION),
    ("POST", "/desk/handoffs/{handoff_open}/reply", {"text": "您好"}, HANDOFF_OPEN_ACTION),
    (
        "POST",
        "/desk/handoffs/{handoff_open}/case",
        {"kind": "complaint", "description": "低保"},
        HANDOFF_OPEN_ACTION,
    ),
    ("POST", "/desk/handoffs/{handoff_open}/close", {}, HANDOFF_OPEN_ACTION),
    ("POST", "/desk/handoffs/{handoff_b}/claim", {}, HANDOFF_B_ACTION),
    ("POST", "/desk/handoffs/{handoff_b}/reply", {"text": "您好"}, HANDOFF_B_ACTION),
    ("POST", "/desk/handoffs/{handoff_b}/close", {}, HANDOFF_B_ACTION),
    ("GET", "/desk/cases", {}, PAGE),
    ("GET", "/desk/cases?status=open&kind=tip&overdue=1&q=低保", {}, PAGE),
    ("GET", "/desk/cases/{case_a}", {}, CASE_A_PAGE),
    ("GET", "/desk/cases/{case_b}", {}, {"anonymous": 302, "alice": 404, "bob": 200, "sue": 200, "ada": 200}),
    ("GET", "/desk/cases/999999", {}, {"anonymous": 302, "alice": 404, "bob": 404, "sue": 404, "ada": 404}),
    ("POST", "/desk/cases/{case_a}/accept", {}, CASE_A_ACTION),
    ("POST", "/desk/cases/{case_a}/start", {}, CASE_A_ACTION),
    ("POST", "/desk/cases/{case_a}/assign", {"department": DEPT_A}, CASE_A_ACTION),
    ("POST", "/desk/cases/{case_a}/reply", {"text": "已恢复发放。"}, CASE_A_ACTION),
    ("POST", "/desk/cases/{case_a}/close", {}, CASE_A_ACTION),
    ("POST", "/desk/cases/{case_a2}/decline", {"reason": "重复反映"}, CASE_A_ACTION | {"alice": 303}),
    ("POST", "/desk/cases/{case_a}/note", {"text": "已电话联系"}, CASE_A_ACTION),
    ("POST", "/desk/cases/{case_a2}/merge", {"into": "{number_a}"}, CASE_A_ACTION),
    ("POST", "/desk/cases/{case_a2}/split", {}, CASE_A_ACTION),
    (
        "POST",
        "/desk/cases/{case_a}/nonsense",
        {},
        {"anonymous": 401, "alice": 404, "bob": 404, "sue": 404, "ada": 404},
    ),
    (
        "POST",
        "/desk/cases/{tip}/reveal",
        {"reason": "核实举报"},
        {"anonymous": 401, "alice": 403, "bob": 403, "sue": 200, "ada": 200},
    ),
    ("GET", "/desk/warnings", {}, SUPERVISOR_PAGE),
    ("POST", "/desk/warnings/{warning}/resolve", {}, SUPERVISOR_ACTION),
    ("GET", "/desk/ratings", {}, SUPERVISOR_PAGE),
    ("GET", "/desk/surveys", {}, SUPERVISOR_PAGE),
    ("POST", "/desk/surveys", {}, SUPERVISOR_ACTION | {"sue": 400, "ada": 400}),  # no file: a clear error
    ("GET", "/desk/export/cases.csv", {}, SUPERVISOR_PAGE),
    ("GET", "/desk/export/ratings.csv", {}, SUPERVISOR_PAGE),
    ("GET", "/desk/export/satisfaction.csv", {}, SUPERVISOR_PAGE),
    ("GET", "/desk/export/warnings.csv", {}, SUPERVISOR_PAGE),
    ("GET", "/desk/staff", {}, ADMIN_PAGE),
    (
        "POST",
        "/desk/staff",
        {"username": "dora", "role": "staff", "department": DEPT_A},
        ADMIN_PAGE | {"anonymous": 401},
    ),
    ("POST", "/desk/staff/{carol}/active", {"active": "0"}, ADMIN_PAGE | {"anonymous": 401, "ada": 303}),
    ("POST", "/desk/staff/{carol}/password", {}, ADMIN_PAGE | {"anonymous": 401}),
]


def _fill(text: str, world: World) -> str:
    return text.format(
        handoff_open=world.handoff_open,
        handoff_b=world.handoff_b,
        case_a=world.case_a,
        case_a2=world.case_a2,
        case_b=world.case_b,
        tip=world.tip,
        warning=world.warning,
        carol=world.carol,
        number_a=world.numbers[world.case_a],
    )


@pytest.mark.parametrize(
    ("method", "path", "form", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
async def test_route_by_role(
    world: World, desk_as: Any, method: str, path: str, form: dict[str, str], expected: dict[str, int]
) -> None:
    assert set(expected) == set(ROLES)
    got = {}
    for role in ROLES:
        desk: Desk = await desk_as(None if role == "anonymous" else role)
        target = _fill(path, world)
        if method == "GET":
            response = await desk.get(target)
        else:
            response = await desk.post(target, {key: _fill(value, world) for key, value in form.items()})
        got[role] = response.status
        if response.status == 302 and role == "anonymous" and method == "GET" and "login" not in path:
            assert response.headers["Location"].startswith("/desk/login?next=")
        response.close()
    assert got == expected
