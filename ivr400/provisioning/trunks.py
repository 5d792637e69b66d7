"""Outbound trunks: a dial-string template per route to the PSTN."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Trunk
from ivr400.provisioning.errors import ProvisioningError
from ivr400.validators import UnsafeValueError, check_dial_template

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def add_trunk(session: Session, name: str, template: str) -> Trunk:
    if not _NAME.fullmatch(name):
        raise ProvisioningError("name", "use letters, digits, _ and -")
    if "{number}" not in template:
        raise ProvisioningError("template", "must contain {number}")
    try:  # the renderer's and the tree reader's own check, so whatever is accepted here also dials
        check_dial_template(template)
    except UnsafeValueError as exc:
        raise ProvisioningError("template", f"{exc} (e.g. PJSIP/{{number}}@carrier-out)") from exc
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
