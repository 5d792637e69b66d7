"""Tenant scoping (租户隔离) in one place: every row a page reads or changes comes through :class:`Repository`.

A :class:`Scope` is the set of enterprises the signed-in account may see: one for an operator, every one
for the platform admin. It fails closed: an empty scope matches no row (``WHERE false``), so forgetting to
grant yields nothing rather than everything. A row outside the scope is *not found* (404), exactly like a
row that does not exist, so ids of other enterprises cannot be probed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr400.db.enums import WhitelistStatus
from ivr400.db.models import (
    BlockEntry,
    CallRecord,
    Department,
    Destination,
    Enterprise,
    Evidence,
    Fax,
    Hotline,
    RegionRule,
    Seat,
    TimeRule,
    Tone,
    Voicemail,
    WhitelistEvent,
)

R = TypeVar("R")


class NotFound(LookupError):
    """The row does not exist or is outside the scope (the two are indistinguishable on purpose)."""

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} #{ident}")
        self.what = what


@dataclass(frozen=True)
class Scope:
    """``enterprise_ids`` an account may see; ``everything`` only for the platform admin."""

    enterprise_ids: frozenset[int] = frozenset()
    everything: bool = False

    def where(self, column: InstrumentedAttribute[int] | InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
        """The filter on an enterprise id column: true (admin), false (empty scope) or IN (...)."""
        if self.everything:
            return true()
        if not self.enterprise_ids:
            return false()
        return column.in_(sorted(self.enterprise_ids))


NOBODY = Scope()


@dataclass(frozen=True)
class RecordFilter:
    """Call-record filters, already parsed: times are UTC-aware, numbers normalized."""

    hotline: str | None = None
    caller: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    dispositions: tuple[str, ...] = ()
    limit: int = 200


class Repository:
    """Scoped reads: lists filter by the scope, single rows raise :class:`NotFound` outside it."""

    def __init__(self, session: Session, scope: Scope) -> None:
        self.session = session
        self.scope = scope

    def _one(self, stmt: Select[tuple[R]], what: str, ident: object) -> R:
        row = self.session.scalar(stmt)
        if row is None:
            raise NotFound(what, ident)
        return row

    # -- enterprises and hotlines
    def enterprises(self) -> list[Enterprise]:
        return list(self.session.scalars(select(Enterprise).where(self.scope.where(Enterprise.id))
                                         .order_by(Enterprise.id)))

    def enterprise(self, enterprise_id: int) -> Enterprise:
        stmt = select(Enterprise).where(Enterprise.id == enterprise_id, self.scope.where(Enterprise.id))
        return self._one(stmt, "enterprise", enterprise_id)

    def hotlines(self) -> list[Hotline]:
        return list(self.session.scalars(select(Hotline).where(self.scope.where(Hotline.enterprise_id))
                                         .order_by(Hotline.number)))

    def hotline(self, hotline_id: int) -> Hotline:
        stmt = select(Hotline).where(Hotline.id == hotline_id, self.scope.where(Hotline.enterprise_id))
        return self._one(stmt, "hotline", hotline_id)

    def hotline_numbers(self) -> list[str]:
        return list(self.session.scalars(select(Hotline.number).where(self.scope.where(Hotline.enterprise_id))))

    def department(self, department_id: int) -> Department:
        stmt = (select(Department).join(Hotline, Hotline.id == Department.hotline_id)
                .where(Department.id == department_id, self.scope.where(Hotline.enterprise_id)))
        return self._one(stmt, "department", department_id)

    def seat(self, seat_id: int) -> Seat:
        stmt = (select(Seat).join(Hotline, Hotline.id == Seat.hotline_id)
                .where(Seat.id == seat_id, self.scope.where(Hotline.enterprise_id)))
        return self._one(stmt, "seat", seat_id)

    def time_rule(self, rule_id: int) -> TimeRule:
        stmt = (select(TimeRule).join(Hotline, Hotline.id == TimeRule.hotline_id)
                .where(TimeRule.id == rule_id, self.scope.where(Hotline.enterprise_id)))
        return self._one(stmt, "time rule", rule_id)

    def region_rule(self, rule_id: int) -> RegionRule:
        stmt = (select(RegionRule).join(Hotline, Hotline.id == RegionRule.hotline_id)
                .where(RegionRule.id == rule_id, self.scope.where(Hotline.enterprise_id)))
        return self._one(stmt, "region rule", rule_id)

    def block_entry(self, entry_id: int) -> BlockEntry:
        stmt = (select(BlockEntry).join(Hotline, Hotline.id == BlockEntry.hotline_id)
                .where(BlockEntry.id == entry_id, self.scope.where(Hotline.enterprise_id)))
        return self._one(stmt, "block entry", entry_id)

    # -- destinations and evidence
    def destinations(self, *, statuses: Sequence[str] = ()) -> list[Destination]:
        stmt = select(Destination).where(self.scope.where(Destination.enterprise_id))
        if statuses:
            stmt = stmt.where(Destination.status.in_(list(statuses)))
        return list(self.session.scalars(stmt.order_by(Destination.enterprise_id, Destination.number)))

    def destination(self, destination_id: int) -> Destination:
        stmt = select(Destination).where(Destination.id == destination_id,
                                         self.scope.where(Destination.enterprise_id))
        return self._one(stmt, "destination", destination_id)

    def evidence(self, evidence_id: int) -> Evidence:
        stmt = (select(Evidence).join(Destination, Destination.id == Evidence.destination_id)
                .where(Evidence.id == evidence_id, self.scope.where(Destination.enterprise_id)))
        return self._one(stmt, "evidence", evidence_id)

    def pending_review(self) -> list[Destination]:
        return self.destinations(statuses=[WhitelistStatus.PENDING.value])

    def expiring(self, now: datetime, days: int = 30) -> list[Destination]:
        stmt = (select(Destination)
                .where(self.scope.where(Destination.enterprise_id),
                       Destination.status == WhitelistStatus.APPROVED.value,
                       Destination.valid_until.is_not(None),
                       Destination.valid_until <= now + timedelta(days=days))
                .order_by(Destination.valid_until, Destination.id))
        return list(self.session.scalars(stmt))

    # -- tones (彩铃): an operator sees its enterprise's own tones (not the shared ones of root)
    def tones(self, *, statuses: Sequence[str] = ()) -> list[Tone]:
        stmt = select(Tone).where(self.scope.where(Tone.enterprise_id))
        if statuses:
            stmt = stmt.where(Tone.status.in_(list(statuses)))
        return list(self.session.scalars(stmt.order_by(Tone.enterprise_id, Tone.name, Tone.id)))

    def tone(self, tone_id: int) -> Tone:
        stmt = select(Tone).where(Tone.id == tone_id, self.scope.where(Tone.enterprise_id))
        return self._one(stmt, "tone", tone_id)

    # -- call records and the audit trail
    def _record_scope(self) -> ColumnElement[bool]:
        if self.scope.everything:
            return true()
        numbers = select(Hotline.number).where(self.scope.where(Hotline.enterprise_id))
        return CallRecord.hotline.in_(numbers.scalar_subquery())

    def call_records(self, f: RecordFilter) -> list[CallRecord]:
        stmt = select(CallRecord).where(self._record_scope())
        if f.hotline:
            stmt = stmt.where(CallRecord.hotline == f.hotline)
        if f.caller:
            stmt = stmt.where(CallRecord.caller == f.caller)
        if f.since:
            stmt = stmt.where(CallRecord.started_at >= f.since)
        if f.until:
            stmt = stmt.where(CallRecord.started_at < f.until)
        if f.dispositions:
            stmt = stmt.where(CallRecord.disposition.in_(list(f.dispositions)))
        stmt = stmt.order_by(CallRecord.started_at.desc(), CallRecord.id.desc()).limit(f.limit)
        return list(self.session.scalars(stmt))

    def call_record(self, record_id: int) -> CallRecord:
        stmt = select(CallRecord).where(CallRecord.id == record_id, self._record_scope())
        return self._one(stmt, "call record", record_id)

    def _voicemail_query(self) -> Select[tuple[Voicemail]]:
        stmt = select(Voicemail)
        if self.scope.everything:
            return stmt
        return stmt.join(Hotline, Hotline.id == Voicemail.hotline_id).where(self.scope.where(Hotline.enterprise_id))

    def voicemails(self, *, limit: int = 200) -> list[Voicemail]:
        stmt = self._voicemail_query().order_by(Voicemail.recorded_at.desc(), Voicemail.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))

    def voicemail(self, voicemail_id: int) -> Voicemail:
        return self._one(self._voicemail_query().where(Voicemail.id == voicemail_id), "voicemail", voicemail_id)

    def _fax_query(self) -> Select[tuple[Fax]]:
        """Faxes to the scope's hotlines; a fax whose hotline is gone (hotline_id NULL) is the admin's only."""
        stmt = select(Fax)
        if self.scope.everything:
            return stmt
        return stmt.join(Hotline, Hotline.id == Fax.hotline_id).where(self.scope.where(Hotline.enterprise_id))

    def faxes(self, *, limit: int = 200) -> list[Fax]:
        """传真: newest first."""
        stmt = self._fax_query().order_by(Fax.received_at.desc(), Fax.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))

    def fax(self, fax_id: int) -> Fax:
        return self._one(self._fax_query().where(Fax.id == fax_id), "fax", fax_id)

    def events(self, *, limit: int = 200) -> list[WhitelistEvent]:
        stmt = (select(WhitelistEvent).where(self.scope.where(WhitelistEvent.enterprise_id))
                .order_by(WhitelistEvent.at.desc(), WhitelistEvent.id.desc()).limit(limit))
        return list(self.session.scalars(stmt))
