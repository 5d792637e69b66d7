"""Writing a change: the service call, its audit entry, one commit; a refusal rolls everything back."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ivr400.provisioning import audit
from ivr400.web.context import Principal, WebConfig


def record(session: Session, who: Principal, cfg: WebConfig, action: str, *, enterprise_id: int | None,
           destination_id: int | None = None, reason: str | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           **detail: object) -> None:
    """An audit entry (who, what, before → after) in the same transaction as the change it describes."""
    body: dict[str, Any] = dict(detail)
    if before is not None:
        body["before"] = before
    if after is not None:
        body["after"] = after
    audit.record(session, action, now=cfg.now(), actor=who.actor, enterprise_id=enterprise_id,
                 destination_id=destination_id, reason=reason, detail=body)
