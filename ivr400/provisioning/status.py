"""What a row shows an operator, computed from its columns alone (no ORM, no database access).

`effective_status` and `key_path` read only attributes, so they take an ORM object as well as the plain
rows `ivr400.provisioning.listing` reads through the driver alone (`ivr400.db.lite`) for the fast list
commands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ivr400.db.enums import HuntStrategy, WhitelistStatus

#: The longest look-ahead `whitelist expiring --days` takes (100 years; beyond, dates overflow).
MAX_DAYS = 36_500


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


class HasHunt(Protocol):
    """A hunt group (hotline or department): its strategy and the weighted flag of a sequential group."""

    @property
    def hunt_strategy(self) -> str: ...
    @property
    def hunt_weighted(self) -> bool: ...


def effective_hunt(row: HasHunt) -> str:
    """The strategy a hunt group has as the operator set it: ``weighted`` (按比例分配) for a weighted sequential
    group (stored as ``sequential`` + ``hunt_weighted``, migration 0012)."""
    if row.hunt_strategy == HuntStrategy.SEQUENTIAL.value and row.hunt_weighted:
        return HuntStrategy.WEIGHTED.value
    return row.hunt_strategy


_NUMBER_IN_DIAL = re.compile(r"(?:^|/|sip:)(\+?[0-9]{3,20})(?:@|$)")


def seat_number(seat: str | None) -> str | None:
    """The destination number a stored seat dial string rings (``PJSIP/01062345678@ivr400-out`` →
    ``01062345678``), None if it names none."""
    if not seat:
        return None
    m = _NUMBER_IN_DIAL.search(seat)
    return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """A seat's survey result (满意度评价): ``average`` of ``count`` scores (1-5)."""

    average: float
    count: int

    def __str__(self) -> str:
        return f"{self.average:.1f} ({self.count})"

    def to_json(self) -> dict[str, float | int]:
        return {"average": round(self.average, 2), "count": self.count}


def satisfaction_by_number(rows: list[tuple[str | None, int]]) -> dict[str, Satisfaction]:
    """Per destination number, the average of the ``(seat dial string, score)`` rows of one hotline."""
    scores: dict[str, list[int]] = {}
    for seat, score in rows:
        number = seat_number(seat)
        if number is not None:
            scores.setdefault(number, []).append(int(score))
    return {n: Satisfaction(sum(v) / len(v), len(v)) for n, v in scores.items()}
