"""The whitelist audit trail (白名单审计): every decision with who, what, when and why."""
from __future__ import annotations

import getpass
import os
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ivr400.db.models import WhitelistEvent


def current_actor() -> str:
    """Who is acting: IVR400_ACTOR (set by a web front end or a wrapper) or the login name."""
    explicit = os.environ.get("IVR400_ACTOR")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def record(
    session: Session,
    action: str,
    *,
    now: datetime,
    actor: str,
    destination_id: int | None = None,
    enterprise_id: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> WhitelistEvent:
    event = WhitelistEvent(
        destination_id=destination_id,
        enterprise_id=enterprise_id,
        action=action,
        actor=actor,
        reason=reason,
        detail=detail or {},
        at=now,
    )
    session.add(event)
    return event
