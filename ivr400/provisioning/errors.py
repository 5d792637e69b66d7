"""Errors the provisioning layer raises: always naming the field and the reason."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type here: `ivr400 GROUP --help` imports this module without loading SQLAlchemy
    from sqlalchemy.exc import IntegrityError


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
