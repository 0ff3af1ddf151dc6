"""The audit trail: every staff action leaves who, what, when and from where.

The trail is read by supervisors and kept for years, so it must never become a second copy of the
secrets it describes. `record` refuses details that look like a password or a resident ID number:
a caller that tries is a bug, and failing loudly in its tests beats leaking quietly in production.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.backend import Backend
from core.idcard import check_id_number
from storage.models import AuditEvent

_SECRET_KEY_WORDS = ("password", "passwd", "secret", "token", "id_number")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


async def record(
    b: Backend,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | None,
    detail: dict[str, Any] | None = None,
    source: str = "",
) -> None:
    """Add one audit event to the current unit of work, so it commits with the action it describes."""
    detail = dict(detail or {})
    _refuse_secrets(detail)
    b.session.add(
        AuditEvent(
            at=b.clock.now(),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=detail,
            source=source,
        )
    )


def _refuse_secrets(value: Any, path: str = "detail") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            lowered = str(key).lower()
            if any(word in lowered for word in _SECRET_KEY_WORDS):
                raise ValueError(
                    f"audit {path}.{key}: secrets and ID numbers do not belong in the audit trail"
                )
            _refuse_secrets(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_secrets(item, f"{path}[{index}]")
    elif isinstance(value, str):
        for match in _ID_NUMBER.finditer(value):
            if check_id_number(match.group().upper()) is None:
                raise ValueError(f"audit {path}: looks like a resident ID number; mask it first")
