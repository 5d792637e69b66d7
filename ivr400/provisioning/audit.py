"""The whitelist audit trail (白名单审计): every decision with who, what, when and why.

Status changes are written by the database itself (trigger of migration 0004, actor `database`), so a
change made with raw SQL leaves a trace too; the services complete that row with who and why
(`complete_status_event`) instead of writing a second one. Decisions that change no status (a refused
approval, a renewal) are written here with `record`.
"""
from __future__ import annotations

import getpass
import os
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Destination, WhitelistEvent

#: Actor of the rows the database writes by itself (a change nobody told it about).
DATABASE_ACTOR = "database"


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


def complete_status_event(
    session: Session,
    dest: Destination,
    action: str,
    *,
    now: datetime,
    actor: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> WhitelistEvent:
    """Flush `dest`'s pending insert or status change, then fill in the audit row its trigger wrote.

    Returns that row: `action`, `actor`, `reason`, `detail` and `at` (UTC) become the application's,
    `from_status`/`to_status` stay as the database saw them. Raises RuntimeError when the database
    wrote no row for the change (a schema without migration 0004's triggers).
    """
    session.flush()
    event = session.scalar(
        select(WhitelistEvent).where(WhitelistEvent.destination_id == dest.id).order_by(WhitelistEvent.id.desc())
        .limit(1)
    )
    if event is None or event.actor != DATABASE_ACTOR or event.to_status != dest.status:
        raise RuntimeError(f"no audit row from the database for destination #{dest.id} becoming {dest.status}")
    event.action = action
    event.actor = actor
    event.reason = reason
    event.detail = detail or {}
    event.at = now
    session.flush()
    return event
