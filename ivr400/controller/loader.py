"""Database → the routing configuration of every active hotline, in one pass.

:func:`load_config` reads everything the FastAGI routes need with a fixed handful of queries (one per
table, whatever the number of hotlines) and builds, per 400 number, a
:class:`~ivr400.routing.model.HotlineRouting` plus the :class:`~ivr400.routing.calendar.Calendar` of its
enterprise (national days + that enterprise's overrides). Calls are then decided from memory; the
database is not touched per call (except the round-robin counter, see ``ivr400.controller.app``).

Departments, targets, their order, ring timeouts and ringback tones come from the hotline tree
(:func:`ivr400.tree.read_tree`), the one reader the renderer's static plan is made from too, so a controller
answer and the static fallback never disagree on who rings, in which order, for how long, nor on *how* a
number is dialled. Targets carry their destination's validity window, so a decision re-checks R7 at call
time; their ``position`` is their rank in the tree's hunt order.

Bad rows (raw SQL past the services) never crash a load:

* a seat, tone or department the tree reader leaves out is left out of both, with a warning;
* a row that makes the hotline's *rules* invalid (a time rule naming a department of another hotline, an
  unknown day kind, a bad segment, a bad block entry, a bad enterprise calendar override...) marks the
  hotline ``rules_ok=False``: the ``route`` hook then answers nothing, so the dialplan runs its static plan,
  while the ``department`` hook still serves current targets (they do not depend on the rules);
* a hotline whose departments/targets cannot be built at all (bad number, unknown time zone) is
  ``skipped``: every hook leaves the static plan in charge;
* a global row (region override, national calendar day) that is invalid is dropped with a warning, since
  skipping every hotline for it would do more harm than the row could.

Every problem is logged (``ivr400.controller.loader``) and listed in :attr:`LoadedConfig.warnings`.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from ivr400.db.enums import HuntStrategy, WhitelistStatus
from ivr400.db.models import BlockEntry as BlockEntryRow
from ivr400.db.models import CalendarDay, ConfigGeneration, Destination, Hotline, HotlineAccount, Seat
from ivr400.db.models import RegionOverride as RegionOverrideRow
from ivr400.db.models import RegionRule as RegionRuleRow
from ivr400.db.models import TimeRule as TimeRuleRow
from ivr400.routing.calendar import Calendar, CalendarEntry
from ivr400.routing.limits import billing_choice
from ivr400.routing.model import (
    SWITCHBOARD_KEY,
    Action,
    ActionKind,
    BlockEntry,
    BlockPolicy,
    DepartmentRouting,
    HotlineRouting,
    RegionOverride,
    RegionRule,
    Target,
    TimeRule,
    TimeSegment,
)
from ivr400.tree import DEFAULT_DIAL_TEMPLATE, DepartmentNode, HotlineNode, SeatNode, read_tree
from ivr400.validators import dial_string, strip_unsafe_text

__all__ = [
    "HotlineEntry",
    "LoadedConfig",
    "dept_key",
    "dept_path",
    "load_config",
    "read_generation",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"


def dept_key(path: str) -> str:
    """The routing key of a department key path: ``""`` (the dialplan's switchboard) → ``switchboard``."""
    return path if path else SWITCHBOARD_KEY


def dept_path(key: str | None) -> str:
    """The dialplan's key path of a routing key: ``switchboard`` → ``""``, ``2.1`` → ``2.1``."""
    return "" if key in (None, SWITCHBOARD_KEY) else str(key)


@dataclass(frozen=True)
class HotlineEntry:
    """One hotline as the routes use it.

    ``dials`` maps a seat id to the Asterisk dial string of its target (``PJSIP/0106...@ivr400-out``);
    ``department_ids`` maps a key path (``""`` = switchboard) to the department row id (None for the
    switchboard), for the round-robin counter and voicemail rows. ``rules_ok`` False: the rules could not
    be built (``problem`` says why) and ``routing`` carries departments and targets only.
    """

    hotline_id: int
    number: str
    enterprise_id: int
    routing: HotlineRouting
    calendar: Calendar
    dials: Mapping[int, str]
    department_ids: Mapping[str, int | None]
    rules_ok: bool = True
    problem: str | None = None
    #: seat id → its trunk's Asterisk dial template (``PJSIP/{number}@carrier-b``), for other PBXs' dialects.
    templates: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    #: 传真: off | detect | key, as the tree reader says (the static plan's ``IVR400_FAX_MODE``).
    fax_mode: str = "off"

    def dial_for(self, target: Target) -> str:
        """The dial string of a target of this hotline (falls back to the default trunk template)."""
        dial = self.dials.get(target.seat_id) if target.seat_id is not None else None
        return dial if dial is not None else dial_string(DEFAULT_DIAL_TEMPLATE, target.dial)


@dataclass(frozen=True)
class LoadedConfig:
    """Everything loaded at one instant. ``skipped`` maps a 400 number to why it is left to the static plan.

    ``next_change_at`` is the earliest future ``valid_from`` of an approved destination bound to a seat:
    such a destination becomes routable without any row changing, so the cache reloads at that instant.
    """

    generation: int | None
    loaded_at: datetime
    hotlines: Mapping[str, HotlineEntry]
    national: Calendar
    skipped: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()
    next_change_at: datetime | None = None
    load_seconds: float = 0.0
    #: number -> hotline id of every hotline read (served or skipped): what an incremental load replaces.
    hotline_ids: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: The reverse: hotline id -> its number.
    hotline_numbers: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    #: How many hotlines this load read: None for a full load, else the size of ``only``.
    reloaded: int | None = None

    def get(self, number: str) -> HotlineEntry | None:
        return self.hotlines.get(number)

    def summary(self) -> str:
        partial = sum(1 for e in self.hotlines.values() if not e.rules_ok)
        scope = "" if self.reloaded is None else f" ({self.reloaded} reloaded)"
        return (f"generation {self.generation}: {len(self.hotlines)} hotline(s){scope}"
                f"{f' ({partial} with invalid rules)' if partial else ''}, {len(self.skipped)} skipped, "
                f"{len(self.warnings)} warning(s), {self.load_seconds * 1000:.0f} ms")


def read_generation(session: Session) -> int | None:
    """The value of ``config_generation`` (bumped by triggers on every routing-relevant table)."""
    value = session.scalar(select(ConfigGeneration.value).where(ConfigGeneration.id == 1))
    return None if value is None else int(value)


class _Problems:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        log.warning("config: %s", message)
        self.warnings.append(message)


def load_config(session: Session, now: datetime, *, only: Collection[int] | None = None,
                base: LoadedConfig | None = None) -> LoadedConfig:
    """Read the routing configuration of every active hotline at ``now`` (aware).

    Incremental (``only`` and ``base`` both given): read only the hotlines whose ids are in ``only`` and
    return ``base`` with those replaced (added, changed, or dropped when no longer active); every other
    hotline keeps its entry from ``base``. The shared tables (calendar, region overrides) are read in full
    either way; a change to them must come with a full load (the controller's change log says so,
    migration 0014). Raises ValueError for a naive ``now`` or ``only`` without ``base``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now: must be timezone-aware")
    if only is not None and base is None:
        raise ValueError("only: an incremental load needs the base configuration")
    started = time.perf_counter()
    pb = _Problems()
    ids = None if only is None else sorted(set(only))
    # The generation first: an edit committed while we read makes the next poll reload again, never
    # the reverse (stale data labelled with a newer generation).
    generation = read_generation(session)

    tree = read_tree(session, now, hotline_ids=ids)
    for message in tree.warnings:
        pb.warn(message)

    def of_changed(column: Any, stmt: Any) -> Any:  # noqa: ANN401 - a Core column and select
        return stmt if ids is None else stmt.where(column.in_(ids))

    # What the rules need of each hotline, beside the tree.
    rule_columns: dict[int, Row[Any]] = {
        row.id: row for row in session.execute(of_changed(Hotline.id,
            select(Hotline.id, Hotline.block_mode, Hotline.anonymous_policy, Hotline.refuse_with,
                   Hotline.refuse_prompt, Hotline.after_hours_kind, Hotline.after_hours_department_id,
                   Hotline.after_hours_prompt, Hotline.caller_cap_per_month, HotlineAccount.zero_balance,
                   HotlineAccount.tariff_fen_per_min)
            .outerjoin(HotlineAccount, HotlineAccount.hotline_id == Hotline.id).where(Hotline.active.is_(True))))
    }
    # A destination approved with a future valid_from becomes routable without any row changing: reload then.
    # (Incremental: the earlier of the base's instant and the changed hotlines' own; one too early only
    # costs a reload at that instant.)
    bound = select(Seat.destination_id) if ids is None else select(Seat.destination_id).where(Seat.hotline_id.in_(ids))
    next_change_at = session.scalar(
        select(func.min(Destination.valid_from)).where(
            Destination.status == WhitelistStatus.APPROVED.value, Destination.valid_from > now,
            Destination.id.in_(bound))
    )
    if base is not None and base.next_change_at is not None and base.next_change_at > now:
        next_change_at = min(filter(None, (next_change_at, base.next_change_at)))

    time_rules: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in session.execute(of_changed(TimeRuleRow.hotline_id,
        select(TimeRuleRow.id, TimeRuleRow.hotline_id, TimeRuleRow.priority, TimeRuleRow.name, TimeRuleRow.days,
               TimeRuleRow.weekdays, TimeRuleRow.segments, TimeRuleRow.action_kind,
               TimeRuleRow.action_department_id, TimeRuleRow.action_prompt).order_by(TimeRuleRow.id))
    ):
        time_rules[row.hotline_id].append(row)
    region_rules: dict[int, list[Row[Any]]] = defaultdict(list)
    for region_row in session.execute(of_changed(RegionRuleRow.hotline_id,
        select(RegionRuleRow.id, RegionRuleRow.hotline_id, RegionRuleRow.priority, RegionRuleRow.province,
               RegionRuleRow.city, RegionRuleRow.department_id).order_by(RegionRuleRow.id))
    ):
        region_rules[region_row.hotline_id].append(region_row)
    block_entries: dict[int, list[Row[Any]]] = defaultdict(list)
    for block_row in session.execute(of_changed(BlockEntryRow.hotline_id,
        select(BlockEntryRow.id, BlockEntryRow.hotline_id, BlockEntryRow.number, BlockEntryRow.prefix)
        .order_by(BlockEntryRow.id))
    ):
        block_entries[block_row.hotline_id].append(block_row)

    overrides: list[RegionOverride] = []
    seen_prefixes: set[str] = set()
    for override_row in session.execute(
        select(RegionOverrideRow.id, RegionOverrideRow.prefix, RegionOverrideRow.province, RegionOverrideRow.city)
        .order_by(RegionOverrideRow.id)
    ):
        try:
            override = RegionOverride(override_row.prefix, override_row.province, override_row.city or None)
        except (ValueError, TypeError) as exc:
            pb.warn(f"region override {override_row.id}: dropped: {exc}")
            continue
        if override.prefix in seen_prefixes:
            pb.warn(f"region override {override_row.id}: prefix {override.prefix} repeats another row; dropped")
            continue
        seen_prefixes.add(override.prefix)
        overrides.append(override)

    national_entries: list[CalendarEntry] = []
    enterprise_entries: dict[int, list[CalendarEntry]] = defaultdict(list)
    bad_calendars: dict[int, str] = {}
    for day_row in session.execute(
        select(CalendarDay.id, CalendarDay.enterprise_id, CalendarDay.day, CalendarDay.kind, CalendarDay.name)
        .order_by(CalendarDay.day, CalendarDay.id)
    ):
        try:
            entry = _calendar_entry(day_row.day, day_row.kind, day_row.name)
        except (ValueError, TypeError) as exc:
            if day_row.enterprise_id is None:
                pb.warn(f"calendar day {day_row.id}: national row dropped: {exc}")
            else:
                bad_calendars.setdefault(day_row.enterprise_id, f"calendar day {day_row.id}: {exc}")
            continue
        if day_row.enterprise_id is None:
            national_entries.append(entry)
        else:
            enterprise_entries[day_row.enterprise_id].append(entry)
    national = _build_national(national_entries, pb)
    calendars: dict[int, Calendar] = {}

    def calendar_for(enterprise_id: int) -> Calendar:
        cal = calendars.get(enterprise_id)
        if cal is None:
            entries = enterprise_entries.get(enterprise_id)
            cal = calendars[enterprise_id] = national.with_overrides(entries) if entries else national
        return cal

    hotlines: dict[str, HotlineEntry] = {}
    skipped: dict[str, str] = {s.number: s.reason for s in tree.skipped if isinstance(s.number, str)}
    hotline_ids: dict[str, int] = {s.number: s.id for s in tree.skipped if isinstance(s.number, str)}
    hotline_numbers: dict[int, str] = {s.id: s.number for s in tree.skipped if isinstance(s.number, str)}
    if base is not None and ids is not None:  # keep every hotline the load did not read (copies, then removals:
        # the cost is a few C-level dict copies, not a Python loop over every hotline: MappingProxyType.copy()
        # copies the dict underneath; dict(proxy) would go through the mapping protocol key by key)
        fresh_skipped, fresh_ids = skipped, hotline_ids
        hotlines, skipped = _copy(base.hotlines), _copy(base.skipped)
        hotline_ids, numbers = _copy(base.hotline_ids), _copy(base.hotline_numbers)
        for hid in ids:
            number = numbers.pop(hid, None)
            if number is not None:
                hotlines.pop(number, None)
                skipped.pop(number, None)
                hotline_ids.pop(number, None)
        skipped.update(fresh_skipped)
        hotline_ids.update(fresh_ids)
        numbers.update(hotline_numbers)
        hotline_numbers = numbers
    for node in tree.hotlines:
        hotline_ids[node.number] = node.id
        hotline_numbers[node.id] = node.number
        h = rule_columns.get(node.id)
        builder = _HotlineBuilder(node, pb)
        try:
            plain = builder.base()
        except (ValueError, TypeError) as exc:
            pb.warn(f"hotline {node.number} (id {node.id}): left to the static plan: {exc}")
            skipped[node.number] = str(exc)
            continue
        problem: str | None = bad_calendars.get(node.enterprise_id)
        if h is None:  # activated between the two reads: its edit bumped the generation, the next poll reloads
            problem = "hotline changed while the configuration was read"
        routing = plain
        calendar = national
        if problem is None and h is not None:
            try:
                calendar = calendar_for(node.enterprise_id)
                routing = builder.with_rules(plain, h, time_rules.get(node.id, []), region_rules.get(node.id, []),
                                             block_entries.get(node.id, []), overrides)
            except (ValueError, TypeError, KeyError) as exc:
                problem = str(exc)
                routing, calendar = plain, national
        if problem is not None:
            pb.warn(f"hotline {node.number}: rules invalid, the route hook leaves calls to the static plan: {problem}")
        hotlines[node.number] = HotlineEntry(
            hotline_id=node.id, number=node.number, enterprise_id=node.enterprise_id, routing=routing,
            calendar=calendar, dials=MappingProxyType(builder.dials), department_ids=MappingProxyType(builder.path_ids),
            templates=MappingProxyType(builder.templates),
            rules_ok=problem is None, problem=problem, fax_mode=node.fax_mode,
        )

    return LoadedConfig(
        generation=generation,
        loaded_at=now,
        hotlines=MappingProxyType(hotlines),
        national=national,
        skipped=MappingProxyType(skipped),
        warnings=tuple(pb.warnings),
        next_change_at=next_change_at,
        load_seconds=time.perf_counter() - started,
        hotline_ids=MappingProxyType(hotline_ids),
        hotline_numbers=MappingProxyType(hotline_numbers),
        reloaded=None if ids is None else len(ids),
    )


K = TypeVar("K")
V = TypeVar("V")


def _copy(mapping: Mapping[K, V]) -> dict[K, V]:
    """A dict copy of `mapping`: C-level for a dict or a MappingProxyType over one."""
    copy = getattr(mapping, "copy", None)
    out = copy() if copy is not None else dict(mapping)
    return out if isinstance(out, dict) else dict(out)


def _calendar_entry(day: object, kind: object, name: object) -> CalendarEntry:
    if isinstance(day, str):
        day = date.fromisoformat(day)
    if isinstance(name, str):
        name = strip_unsafe_text(name) or None
    return CalendarEntry(day, kind, name)  # type: ignore[arg-type]


def _build_national(entries: list[CalendarEntry], pb: _Problems) -> Calendar:
    unique: dict[date, CalendarEntry] = {}
    for entry in entries:
        if entry.day in unique and unique[entry.day] != entry:
            pb.warn(f"calendar: two national rows for {entry.day.isoformat()}; keeping the first")
            continue
        unique[entry.day] = entry
    return Calendar.build(unique.values())


class _HotlineBuilder:
    """Maps one hotline of the tree: departments and targets (``base``), then the rules (``with_rules``)."""

    def __init__(self, node: HotlineNode, pb: _Problems) -> None:
        self.node = node
        self.pb = pb
        self.dials: dict[int, str] = {}
        self.templates: dict[int, str] = {}
        self.path_ids: dict[str, int | None] = {"": None}
        self.id_paths: dict[int, str] = {}
        self.timezone_problem: str | None = None

    def targets(self, seats: tuple[SeatNode, ...]) -> tuple[Target, ...]:
        """The tree's seats in its hunt order; ``position`` is the rank in that order (1 = first)."""
        out: list[Target] = []
        for rank, seat in enumerate(seats, start=1):
            out.append(Target(
                destination=seat.number, dial=seat.number, ring_timeout_s=seat.ring_timeout_s, position=rank,
                destination_id=seat.destination_id, valid_from=seat.valid_from, valid_until=seat.valid_until,
                seat_id=seat.seat_id, trunk_id=seat.trunk.id, weight=seat.weight,
            ))
            self.dials[seat.seat_id] = seat.dial
            self.templates[seat.seat_id] = seat.trunk.template
        return tuple(out)

    def department(self, dept: DepartmentNode, key: str) -> DepartmentRouting:
        return DepartmentRouting(
            key=key,
            name=strip_unsafe_text(dept.name) if isinstance(dept.name, str) else "",
            hunt_strategy=HuntStrategy(dept.hunt),
            max_attempts=dept.max_attempts,
            targets=self.targets(dept.seats),
            ringback=dept.ringback.moh_class if dept.ringback else None,
        )

    def base(self) -> HotlineRouting:
        node = self.node
        departments: list[DepartmentRouting] = []
        for top in node.departments:
            for dept in top.walk():
                assert dept.id is not None  # only the switchboard has none
                departments.append(self.department(dept, dept.path))
                self.path_ids[dept.path] = dept.id
                self.id_paths[dept.id] = dept.path
        switchboard = self.department(node.switchboard, SWITCHBOARD_KEY)
        timezone = node.timezone or DEFAULT_TIMEZONE
        try:
            if not isinstance(timezone, str):
                raise TypeError(timezone)
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            # Targets do not depend on the zone; the rules do, so they are refused in with_rules.
            self.timezone_problem = f"enterprise time zone {timezone!r} is not an IANA time zone"
            timezone = DEFAULT_TIMEZONE
        return HotlineRouting(
            hotline=node.number,
            timezone=timezone,
            departments=tuple(departments),
            switchboard=switchboard,
            voicemail_enabled=node.voicemail,
        )

    # ---- rules
    def key_of(self, department_id: int | None, what: str) -> str:
        """Routing key of a department row id (None = the switchboard); KeyError-free ValueError."""
        if department_id is None:
            return SWITCHBOARD_KEY
        path = self.id_paths.get(department_id)
        if path is None:
            raise ValueError(f"{what} names department {department_id}, which is not in this hotline's menu")
        return path

    def action(self, kind_value: object, department_id: int | None, prompt: object, what: str) -> Action:
        if not isinstance(kind_value, str):
            raise ValueError(f"{what}: action kind {kind_value!r} is not text")
        kind = ActionKind(kind_value)
        department: str | None = None
        if kind is ActionKind.DEPARTMENT:
            department = self.key_of(department_id, what)
        elif kind is ActionKind.VOICEMAIL and department_id is not None:
            department = self.key_of(department_id, what)
        elif department_id is not None:
            raise ValueError(f"{what}: a {kind.value} action names no department")
        return Action(kind, department, prompt or None)  # type: ignore[arg-type]

    def with_rules(self, base: HotlineRouting, h: Row[Any], time_rows: Iterable[Row[Any]],
                   region_rows: Iterable[Row[Any]], block_rows: Iterable[Row[Any]],
                   overrides: Iterable[RegionOverride]) -> HotlineRouting:
        if self.timezone_problem is not None:
            raise ValueError(self.timezone_problem)
        rules = []
        for row in time_rows:
            what = f"time rule {row.id}"
            try:
                rules.append(TimeRule(
                    id=row.id,
                    action=self.action(row.action_kind, row.action_department_id, row.action_prompt, what),
                    segments=tuple(TimeSegment.parse(s) for s in _list(row.segments, what)),
                    days=frozenset(_list(row.days, what)),
                    weekdays=frozenset(_list(row.weekdays, what)),
                    priority=row.priority if row.priority is not None else 100,
                    name=(row.name.strip() or None) if isinstance(row.name, str) else None,
                ))
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"{what}: {exc}") from None
        regions = []
        for row in region_rows:
            what = f"region rule {row.id}"
            try:
                regions.append(RegionRule(id=row.id, department=self.key_of(row.department_id, what),
                                          province=row.province, city=row.city or None,
                                          priority=row.priority if row.priority is not None else 100))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{what}: {exc}") from None
        entries = []
        for row in block_rows:
            try:
                entries.append(BlockEntry(row.number, bool(row.prefix)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"block entry {row.id}: {exc}") from None
        block = BlockPolicy(mode=h.block_mode, entries=tuple(entries), anonymous=h.anonymous_policy,
                            refuse_with=h.refuse_with, refuse_prompt=h.refuse_prompt or None)
        after_hours = self.action(h.after_hours_kind, h.after_hours_department_id, h.after_hours_prompt,
                                  "after-hours action")
        return HotlineRouting(
            hotline=base.hotline,
            timezone=base.timezone,
            departments=base.departments,
            switchboard=base.switchboard,
            time_rules=tuple(rules),
            after_hours=after_hours,
            region_rules=tuple(regions),
            region_overrides=tuple(overrides),
            block=block,
            voicemail_enabled=base.voicemail_enabled,
            caller_cap_per_month=h.caller_cap_per_month or 0,
            # None: billing off (no tariff set), the balance is not looked at
            zero_balance=billing_choice(h.zero_balance, h.tariff_fen_per_min),
        )


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected a JSON list, got {value!r}")
    return value

