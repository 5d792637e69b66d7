"""The whitelist audit trail (白名单审计): every decision with who, what, when and why.

Status changes, and validity changes of an approved destination, are written by the database itself
(triggers of migrations 0004 and 0008, actor `database`), so a change made with raw SQL leaves a trace
too; the services complete that row with who and why (`complete_status_event`, `complete_or_record`)
instead of writing a second one. Decisions that change nothing in the destination (a refused approval,
a renewal with the same window) are written here with `record`. The rows cannot be deleted or rewritten
afterwards (0008): only a row with actor `database` may be completed, once.
"""
from __future__ import annotations

import getpass
import os
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Destination, WhitelistEvent
from ivr400.provisioning.errors import ProvisioningError

#: Actor of the rows the database writes by itself (a change nobody told it about).
DATABASE_ACTOR = "database"


#: Longest actor the audit trail holds (whitelist_events.actor).
ACTOR_MAX = 100


def current_actor() -> str:
    """Who is acting: IVR400_ACTOR (set by a web front end or a wrapper) or the login name.

    Raises ProvisioningError('actor') when IVR400_ACTOR holds a line break or another control
    character (it would forge rows in every listing of the trail) or is longer than ACTOR_MAX.
    """
    explicit = os.environ.get("IVR400_ACTOR")
    if explicit:
        bad = next((ch for ch in explicit if ch.isprintable() is False), None)
        if bad is not None:
            raise ProvisioningError("actor", f"$IVR400_ACTOR contains control character {bad!r}; "
                                             "an actor is one line of printable text")
        if len(explicit) > ACTOR_MAX:
            raise ProvisioningError("actor", f"$IVR400_ACTOR is {len(explicit)} characters long; "
                                             f"at most {ACTOR_MAX}")
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


def complete_or_record(
    session: Session,
    dest: Destination,
    action: str,
    *,
    now: datetime,
    actor: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> WhitelistEvent:
    """Flush `dest`'s pending change; complete the audit row the database wrote for it, or write one.

    For a change that may or may not make a trigger write a row (a renewal of an approved destination
    writes one only when its validity window moves, migration 0008). Returns the row.
    """
    newest = select(WhitelistEvent.id).where(WhitelistEvent.destination_id == dest.id) \
        .order_by(WhitelistEvent.id.desc()).limit(1)
    with session.no_autoflush:
        before = session.scalar(newest)
    session.flush()
    after = session.scalar(newest)
    if after is not None and after != before:
        return complete_status_event(session, dest, action, now=now, actor=actor, reason=reason, detail=detail)
    event = record(session, action, now=now, actor=actor, destination_id=dest.id,
                   enterprise_id=dest.enterprise_id, reason=reason, detail=detail)
    session.flush()
    return event
