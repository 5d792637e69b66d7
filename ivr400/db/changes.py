"""The change log of routing-relevant rows (``config_change``, migration 0014): which hotlines changed since a
given id. Read by every process that keeps a copy of the routing data up to date incrementally: the
controller's configuration cache (ivr400.controller.cache) and the AstDB follower (ivr400.deploy.follow).
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr400.db.models import ConfigChange

__all__ = ["MAX_INCREMENTAL", "changes_after", "last_change_id", "plan_reload"]

#: More changed hotlines than this in one poll: a full load (cheaper than a long IN list, and rare).
MAX_INCREMENTAL = 500


def plan_reload(applied: int, changes: list[tuple[int, int | None]]) -> tuple[int, frozenset[int] | None, bool]:
    """What a poll does with the change rows after id ``applied`` (``changes``: (id, hotline_id) by id).

    Returns ``(new_applied, hotlines, gap)``: the highest id up to which every id was seen (contiguous from
    ``applied``); the hotline ids to reload, or None when the load must be full (a row naming no hotline,
    more than MAX_INCREMENTAL hotlines); whether an id is missing below a seen one. Pure.
    """
    new_applied, gap = applied, False
    for change_id, _ in changes:
        if change_id == new_applied + 1 and not gap:
            new_applied = change_id
        elif change_id > new_applied + 1:
            gap = True
    named = {hotline for _, hotline in changes}
    if None in named or len(named) > MAX_INCREMENTAL:
        return new_applied, None, gap
    return new_applied, frozenset(h for h in named if h is not None), gap


def last_change_id(session: Session) -> int | None:
    """The newest change id (0: none yet; None: no config_change table, a schema before 0014)."""
    try:
        with session.begin_nested():
            return int(session.scalar(select(func.coalesce(func.max(ConfigChange.id), 0))) or 0)
    except Exception:  # noqa: BLE001 - no config_change table: full loads only
        return None


def changes_after(session: Session, applied: int) -> list[tuple[int, int | None]]:
    """The change rows after id ``applied``, as (id, hotline_id), by id."""
    rows = session.execute(select(ConfigChange.id, ConfigChange.hotline_id)
                           .where(ConfigChange.id > applied).order_by(ConfigChange.id)).all()
    return [(int(r[0]), r[1]) for r in rows]
