"""What a row shows an operator, computed from its columns alone (no ORM, no database access).

`effective_status` and `key_path` read only attributes, so they take an ORM object as well as the plain
rows `ivr400.provisioning.listing` builds with SQLAlchemy Core for the fast list commands.
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ivr400.db.enums import WhitelistStatus


class HasValidity(Protocol):
    """A destination's status (a `WhitelistStatus` value) and its validity window (aware datetimes or None)."""

    @property
    def status(self) -> str: ...
    @property
    def valid_from(self) -> datetime | None: ...
    @property
    def valid_until(self) -> datetime | None: ...


class HasKeyPath(Protocol):
    """A department: its menu key (one digit) and its parent department (None at the top)."""

    @property
    def key(self) -> str: ...
    @property
    def parent(self) -> HasKeyPath | None: ...


def effective_status(dest: HasValidity, now: datetime) -> str:
    """What an operator needs to see: approved but outside its window shows as expired / not yet valid."""
    if dest.status != WhitelistStatus.APPROVED.value:
        return dest.status
    if dest.valid_until is not None and now >= dest.valid_until:
        return "expired"
    if dest.valid_from is not None and now < dest.valid_from:
        return "not_yet_valid"
    return "approved"


def key_path(dept: HasKeyPath) -> str:
    """The menu keys from the top department down to `dept`, dot-separated (`"2.1"`)."""
    keys = []
    node: HasKeyPath | None = dept
    while node is not None:
        keys.append(node.key)
        node = node.parent
    return ".".join(reversed(keys))
