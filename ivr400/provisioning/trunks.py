"""Outbound trunks: a dial-string template per route to the PSTN."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Trunk
from ivr400.provisioning.errors import ProvisioningError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: Characters a dial string may hold besides {number}: no `,` `&` `(` `)` `$` that would change Dial's arguments.
_TEMPLATE = re.compile(r"(?:PJSIP|SIP|IAX2|DAHDI|Local)/[A-Za-z0-9_.:@/+={}\-]+")


def add_trunk(session: Session, name: str, template: str) -> Trunk:
    if not _NAME.fullmatch(name):
        raise ProvisioningError("name", "use letters, digits, _ and -")
    if "{number}" not in template:
        raise ProvisioningError("template", "must contain {number}")
    if not _TEMPLATE.fullmatch(template):
        raise ProvisioningError("template", "must be TECH/... with no , & ( ) $ or spaces (e.g. PJSIP/{number}@carrier-out)")
    if session.scalar(select(Trunk.id).where(Trunk.name == name)) is not None:
        raise ProvisioningError("name", f"trunk {name!r} already exists")
    row = Trunk(name=name, dial_template=template)
    session.add(row)
    session.flush()
    return row


def find_trunk(session: Session, name: str) -> Trunk:
    row = session.scalar(select(Trunk).where(Trunk.name == name))
    if row is None:
        raise ProvisioningError("trunk", f"no trunk {name!r}")
    return row


def dial_string(template: str, number: str) -> str:
    return template.replace("{number}", number)
