"""Which cases and handoffs a viewer may see. One place, so every page, export and event stream agrees.

- Supervisors and admins see everything.
- Department staff see the cases whose department is theirs; a case nobody has assigned yet is a
  supervisor's to route. Another department's case answers 404, exactly like a case that does not
  exist, so ids reveal nothing.
- Handoffs are conversations, not cases: a waiting conversation is visible to staff of every
  department (whoever is free answers), unless the conversation was handed over while it was about
  a particular department, in which case only that department (and supervisors) see it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_, true

from bots.desk.context import Viewer
from storage.models import Case, Handoff


def case_filter(viewer: Viewer) -> Any:
    """A WHERE clause limiting `Case` rows to those the viewer may see."""
    if viewer.sees_all:
        return true()
    if not viewer.department:
        return false()
    return Case.department == viewer.department


def may_see_case(viewer: Viewer, case: Case) -> bool:
    return viewer.sees_all or (bool(viewer.department) and case.department == viewer.department)


def handoff_filter(viewer: Viewer) -> Any:
    if viewer.sees_all:
        return true()
    if not viewer.department:
        return Handoff.department.is_(None)
    return or_(Handoff.department.is_(None), Handoff.department == viewer.department)


def may_see_handoff(viewer: Viewer, handoff: Handoff) -> bool:
    return viewer.sees_all or handoff.department is None or handoff.department == viewer.department


def identity_is_secret(case: Case) -> bool:
    """A tip's reporter and channel are shown to nobody, supervisors included, until one reveals them
    on purpose (with a reason, audited); other cases show their channel but never the address."""
    return case.kind == "tip"
