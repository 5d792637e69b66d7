"""Call blocking (呼叫阻截) of a hotline: the mode (off, blacklist, whitelist_only), the anonymous-caller
policy, how a refused caller is told, and the list of numbers and prefixes: ``ivr400 block``.

Rows are written in the caller's transaction; the tables bump ``config_generation`` through their triggers.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr400.db.models import BlockEntry as BlockEntryRow
from ivr400.db.models import Hotline
from ivr400.provisioning.actions import optional_text, resolve_prompt
from ivr400.provisioning.errors import ProvisioningError, from_integrity_error
from ivr400.provisioning.views import block_entry_view
from ivr400.routing.model import AnonymousPolicy, BlockEntry, BlockMode, RefuseWith

__all__ = [
    "add_block_entry",
    "list_block_entries",
    "remove_block_entry",
    "set_block_mode",
]


def set_block_mode(session: Session, hotline: Hotline, mode: str, *, anonymous: str | None = None,
                   refuse_with: str | None = None, refuse_prompt: str | None = None) -> Hotline:
    """呼叫阻截: off, blacklist (listed callers refused) or whitelist_only (only listed callers get in)."""
    choices = {"mode": (BlockMode, mode), "anonymous": (AnonymousPolicy, anonymous),
               "refuse-with": (RefuseWith, refuse_with)}
    values: dict[str, str | None] = {}
    for field, (enum, value) in choices.items():
        if value is None:
            values[field] = None
            continue
        try:
            values[field] = enum(value.strip().lower().replace("-", "_")).value
        except ValueError:
            raise ProvisioningError(field, f"{value!r} is not one of {', '.join(m.value for m in enum)}") from None
    prompt = resolve_prompt(session, hotline, refuse_prompt, "prompt") if refuse_prompt else None
    hotline.block_mode = values["mode"] or hotline.block_mode
    if values["anonymous"] is not None:
        hotline.anonymous_policy = values["anonymous"]
    if values["refuse-with"] is not None:
        hotline.refuse_with = values["refuse-with"]
    if prompt is not None:
        hotline.refuse_prompt = prompt
    session.flush()
    return hotline


def _block_entry(number: str, prefix: bool) -> BlockEntry:
    try:
        entry = BlockEntry(number, bool(prefix))
    except ValueError as exc:
        raise ProvisioningError("number", str(exc).removeprefix("block entry: ")) from None
    if len(entry.number) > 20:
        raise ProvisioningError("number", "at most 20 digits")
    return entry


def add_block_entry(session: Session, hotline: Hotline, number: str, *, prefix: bool = False,
                    note: str | None = None) -> BlockEntryRow:
    """Add a caller number (or, with ``prefix``, an area code / number prefix) to the hotline's list."""
    entry = _block_entry(number, prefix)
    note = optional_text(note, "note", 200)
    exists = select(BlockEntryRow.id).where(BlockEntryRow.hotline_id == hotline.id,
                                            BlockEntryRow.number == entry.number, BlockEntryRow.prefix == entry.prefix)
    if session.scalar(exists) is not None:
        raise ProvisioningError("number", f"{entry} is already on the list of {hotline.number}")
    row = BlockEntryRow(hotline_id=hotline.id, number=entry.number, prefix=entry.prefix, note=note)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise from_integrity_error(exc, "number") from exc
    return row


def remove_block_entry(session: Session, hotline: Hotline, number: str, *, prefix: bool = False) -> str:
    entry = _block_entry(number, prefix)
    row = session.scalar(select(BlockEntryRow).where(BlockEntryRow.hotline_id == hotline.id,
                                                     BlockEntryRow.number == entry.number,
                                                     BlockEntryRow.prefix == entry.prefix))
    if row is None:
        raise ProvisioningError("number", f"{entry} is not on the list of {hotline.number}")
    session.delete(row)
    session.flush()
    return str(entry)


def list_block_entries(session: Session, hotline: Hotline | None = None) -> list[dict[str, Any]]:
    stmt = (select(BlockEntryRow, Hotline.number).join(Hotline, Hotline.id == BlockEntryRow.hotline_id)
            .order_by(Hotline.number, BlockEntryRow.prefix, BlockEntryRow.number))
    if hotline is not None:
        stmt = stmt.where(BlockEntryRow.hotline_id == hotline.id)
    return [block_entry_view(row, number) for row, number in session.execute(stmt)]
