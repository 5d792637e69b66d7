"""Errors the provisioning layer raises, always naming the field and the reason, and the checks of typed
references the ORM services and the driver-only list commands (`ivr400.provisioning.listing`) share."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # only a type here: `ivr400 GROUP --help` imports this module without loading SQLAlchemy
    from sqlalchemy.exc import IntegrityError

T = TypeVar("T")


class ProvisioningError(ValueError):
    """Bad input or a refused change; `field` is what the operator typed wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


#: What an enterprise reference (`--enterprise`) is.
ENTERPRISE_REFERENCE = "an enterprise id or registered name"


def check_reference(ref: str, field: str, what: str) -> str:
    """`ref` as typed, refused when blank (`--enterprise ''`): a reference must name something, and an empty
    one is neither "not given" nor a match. Raises ProvisioningError(field, reason)."""
    if not ref.strip():
        raise ProvisioningError(field, f"empty; give {what}")
    return ref


def check_calendar_year(year: int) -> int:
    """A year the holiday calendar can hold (1900-2200); ProvisioningError("year") otherwise."""
    if not 1900 <= year <= 2200:
        raise ProvisioningError("year", f"{year} is not a year between 1900 and 2200")
    return year


def destination_id_reference(ref: str) -> str | None:
    """The digits of a destination reference that names an id (`#12`, or `12` when shorter than a number
    could be), else None (a number)."""
    plain = ref.lstrip("#")
    return plain if plain.isdecimal() and (ref.startswith("#") or len(plain) < 7) else None


def match_destination_number(ref: str, by_number: Callable[[str], list[T]], field: str = "destination") -> T:
    """The one row `by_number` (number in stored form → the rows holding it) finds for the number `ref`.

    Typed as stored or as displayed (01062345678, 010-62345678, 138 0013 8000): a stored number is already in
    the canonical form parsing would give, so an exact match needs no parsing, and no geocoder (whose data
    takes longer to load than the rest of a command). Any other form is parsed. Raises ProvisioningError(field)
    for an unparseable number, none found, or several (a number held by several enterprises).
    """
    compact = ref.translate(_SPACES_AND_DASHES)
    matches = by_number(compact) if compact.isascii() and compact.isdecimal() else []
    number = compact
    if not matches:
        from ivr400.numbers import NumberError, parse_destination

        try:
            number = parse_destination(ref).number
        except NumberError as exc:
            raise ProvisioningError(field, str(exc)) from exc
        matches = by_number(number)
    if not matches:
        raise ProvisioningError(field, f"no destination {number}")
    if len(matches) > 1:
        raise ProvisioningError(field, f"{number} is registered by {len(matches)} enterprises; give --enterprise")
    return matches[0]


_SPACES_AND_DASHES = str.maketrans("", "", " -")


#: Trigger messages (see the 0001, 0004 and 0008 migrations) → the field they are about.
_TRIGGER_FIELDS = {
    "whitelist:": "destination",
    "audit:": "audit",
    "limit:": "hotline",
    "evidence:": "evidence",
}


def from_integrity_error(exc: IntegrityError, default_field: str) -> ProvisioningError:
    """Turn a database refusal (trigger, unique or check constraint) into an operator message."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else "refused by the database"
    for prefix, field in _TRIGGER_FIELDS.items():
        if prefix in first:
            return ProvisioningError(field, "refused by the database: " + first[first.index(prefix):])
    lowered = first.lower()
    if "unique" in lowered or "duplicate key" in lowered:
        return ProvisioningError(default_field, "already exists")
    return ProvisioningError(default_field, "refused by the database: " + first)
