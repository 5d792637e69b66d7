"""Database → the routing configuration of every active hotline, in one pass.

:func:`load_config` reads everything the FastAGI routes need with a fixed handful of queries (one per
table, whatever the number of hotlines) and builds, per 400 number, a
:class:`~ivr400.routing.model.HotlineRouting` plus the :class:`~ivr400.routing.calendar.Calendar` of its
enterprise (national days + that enterprise's overrides). Calls are then decided from memory; the
database is not touched per call (except the round-robin counter, see ``ivr400.controller.app``).

Targets come only from the routable-now statement of :mod:`ivr400.db.routable` (``routable_seats_query``,
what ``routable_seats`` runs, read as plain columns plus the validity window: approved, inside the validity
window, own enterprise, hotline active) and are dialled exactly as the renderer's static plan dials them: the
same template choice (destination's trunk, else the hotline's, else ``DEFAULT_DIAL_TEMPLATE``), the same
``dial_string`` validation, the same ring-timeout clamp, the same department tree walk (digit keys,
first of duplicate keys, loops cut) and the same ringback inheritance (own tone, else the parent's, else
the hotline's). So a controller answer and the static fallback never disagree on *how* a number is dialled.

Bad rows (raw SQL past the services) never crash a load:

* a seat, tone or department the renderer would leave out is left out here too, with a warning;
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr400.db.enums import WhitelistStatus
from ivr400.db.models import (
    BlockEntry as BlockEntryRow,
)
from ivr400.db.models import (
    CalendarDay,
    ConfigGeneration,
    Destination,
    Enterprise,
    Hotline,
    Seat,
    Tone,
    Trunk,
)
from ivr400.db.models import (
    RegionOverride as RegionOverrideRow,
)
from ivr400.db.models import (
    RegionRule as RegionRuleRow,
)
from ivr400.db.models import (
    TimeRule as TimeRuleRow,
)
from ivr400.db.routable import routable_seats_query
from ivr400.render.load import DepartmentRow, active_departments
from ivr400.render.model import (
    DEFAULT_DIAL_TEMPLATE,
    DEFAULT_RING_TIMEOUT_S,
    HUNT_STRATEGIES,
    MAX_RING_S,
    MIN_RING_S,
    RenderValueError,
    check_hotline_number,
    check_key,
    clamp,
    dial_string,
    tone_moh_class,
)
from ivr400.routing.calendar import Calendar, CalendarEntry
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
from ivr400.validators import strip_unsafe_text

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

    def get(self, number: str) -> HotlineEntry | None:
        return self.hotlines.get(number)

    def summary(self) -> str:
        partial = sum(1 for e in self.hotlines.values() if not e.rules_ok)
        return (f"generation {self.generation}: {len(self.hotlines)} hotline(s)"
                f"{f' ({partial} with invalid rules)' if partial else ''}, {len(self.skipped)} skipped, "
                f"{len(self.warnings)} warning(s), {self.load_seconds * 1000:.0f} ms")


def read_generation(session: Session) -> int | None:
    """The value of ``config_generation`` (bumped by triggers on every routing-relevant table)."""
    value = session.scalar(select(ConfigGeneration.value).where(ConfigGeneration.id == 1))
    return None if value is None else int(value)


@dataclass(slots=True)
class _Seat:
    """A routable seat row (the columns of ``RoutableSeat`` plus the destination's validity window)."""

    seat_id: int
    hotline_id: int
    department_id: int | None
    position: int
    ring_timeout_s: int
    destination_id: int
    number: str
    dest_trunk_id: int | None
    hotline_trunk_id: int | None
    valid_from: datetime | None
    valid_until: datetime | None

    @property
    def trunk_id(self) -> int | None:
        """The destination's trunk, else the hotline's (as ``RoutableSeat.trunk_id``)."""
        return self.dest_trunk_id if self.dest_trunk_id is not None else self.hotline_trunk_id


class _Problems:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        log.warning("config: %s", message)
        self.warnings.append(message)


def load_config(session: Session, now: datetime) -> LoadedConfig:
    """Read the routing configuration of every active hotline at ``now`` (aware)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now: must be timezone-aware")
    started = time.perf_counter()
    pb = _Problems()
    # The generation first: an edit committed while we read makes the next poll reload again, never
    # the reverse (stale data labelled with a newer generation).
    generation = read_generation(session)

    hotline_rows = session.execute(
        select(Hotline.id, Hotline.number, Hotline.enterprise_id, Enterprise.timezone, Hotline.ringback_tone_id,
               Hotline.hunt_strategy, Hotline.max_attempts, Hotline.voicemail, Hotline.block_mode,
               Hotline.anonymous_policy, Hotline.refuse_with, Hotline.refuse_prompt, Hotline.after_hours_kind,
               Hotline.after_hours_department_id, Hotline.after_hours_prompt)
        .join(Enterprise, Enterprise.id == Hotline.enterprise_id)
        .where(Hotline.active.is_(True))
        .order_by(Hotline.number, Hotline.id)
    ).all()

    depts_by_hotline = active_departments(session)

    # routable_seats(session, now), as plain columns (no ORM entities: ~10x faster on 200,000 seats) plus
    # each destination's validity window, which targets carry so a decision re-checks R7 at call time.
    seats_by_hotline: dict[int, list[_Seat]] = defaultdict(list)
    for row in session.execute(routable_seats_query(now).with_only_columns(
        Seat.id, Seat.hotline_id, Seat.department_id, Seat.position, Seat.ring_timeout_s, Destination.id,
        Destination.number, Destination.trunk_id, Hotline.trunk_id, Destination.valid_from, Destination.valid_until,
    )):
        seats_by_hotline[row[1]].append(_Seat(*row))
    # A destination approved with a future valid_from becomes routable without any row changing: reload then.
    next_change_at = session.scalar(
        select(func.min(Destination.valid_from)).where(
            Destination.status == WhitelistStatus.APPROVED.value, Destination.valid_from > now,
            Destination.id.in_(select(Seat.destination_id)))
    )

    tones = {row.id: row for row in session.execute(select(Tone.id, Tone.enterprise_id, Tone.stored_path))}
    trunks = {row.id: row.dial_template for row in session.execute(select(Trunk.id, Trunk.dial_template))}

    time_rules: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
        select(TimeRuleRow.id, TimeRuleRow.hotline_id, TimeRuleRow.priority, TimeRuleRow.name, TimeRuleRow.days,
               TimeRuleRow.weekdays, TimeRuleRow.segments, TimeRuleRow.action_kind,
               TimeRuleRow.action_department_id, TimeRuleRow.action_prompt).order_by(TimeRuleRow.id)
    ):
        time_rules[row.hotline_id].append(row)
    region_rules: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
        select(RegionRuleRow.id, RegionRuleRow.hotline_id, RegionRuleRow.priority, RegionRuleRow.province,
               RegionRuleRow.city, RegionRuleRow.department_id).order_by(RegionRuleRow.id)
    ):
        region_rules[row.hotline_id].append(row)
    block_entries: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
        select(BlockEntryRow.id, BlockEntryRow.hotline_id, BlockEntryRow.number, BlockEntryRow.prefix)
        .order_by(BlockEntryRow.id)
    ):
        block_entries[row.hotline_id].append(row)

    overrides: list[RegionOverride] = []
    seen_prefixes: set[str] = set()
    for row in session.execute(
        select(RegionOverrideRow.id, RegionOverrideRow.prefix, RegionOverrideRow.province, RegionOverrideRow.city)
        .order_by(RegionOverrideRow.id)
    ):
        try:
            override = RegionOverride(row.prefix, row.province, row.city or None)
        except (ValueError, TypeError) as exc:
            pb.warn(f"region override {row.id}: dropped: {exc}")
            continue
        if override.prefix in seen_prefixes:
            pb.warn(f"region override {row.id}: prefix {override.prefix} repeats another row; dropped")
            continue
        seen_prefixes.add(override.prefix)
        overrides.append(override)

    national_entries: list[CalendarEntry] = []
    enterprise_entries: dict[int, list[CalendarEntry]] = defaultdict(list)
    bad_calendars: dict[int, str] = {}
    for row in session.execute(
        select(CalendarDay.id, CalendarDay.enterprise_id, CalendarDay.day, CalendarDay.kind, CalendarDay.name)
        .order_by(CalendarDay.day, CalendarDay.id)
    ):
        try:
            entry = _calendar_entry(row.day, row.kind, row.name)
        except (ValueError, TypeError) as exc:
            if row.enterprise_id is None:
                pb.warn(f"calendar day {row.id}: national row dropped: {exc}")
            else:
                bad_calendars.setdefault(row.enterprise_id, f"calendar day {row.id}: {exc}")
            continue
        if row.enterprise_id is None:
            national_entries.append(entry)
        else:
            enterprise_entries[row.enterprise_id].append(entry)
    national = _build_national(national_entries, pb)
    calendars: dict[int, Calendar] = {}

    def calendar_for(enterprise_id: int) -> Calendar:
        cal = calendars.get(enterprise_id)
        if cal is None:
            entries = enterprise_entries.get(enterprise_id)
            cal = calendars[enterprise_id] = national.with_overrides(entries) if entries else national
        return cal

    hotlines: dict[str, HotlineEntry] = {}
    skipped: dict[str, str] = {}
    for h in hotline_rows:
        builder = _HotlineBuilder(h, depts_by_hotline.get(h.id, []), seats_by_hotline.get(h.id, []), tones, trunks,
                                  pb)
        try:
            check_hotline_number(h.number)
            base = builder.base()
        except (ValueError, TypeError) as exc:
            reason = f"hotline {h.number!r} (id {h.id}): left to the static plan: {exc}"
            pb.warn(reason)
            if isinstance(h.number, str):
                skipped[h.number] = str(exc)
            continue
        problem: str | None = bad_calendars.get(h.enterprise_id)
        routing = base
        calendar = national
        if problem is None:
            try:
                calendar = calendar_for(h.enterprise_id)
                routing = builder.with_rules(base, time_rules.get(h.id, []), region_rules.get(h.id, []),
                                             block_entries.get(h.id, []), overrides)
            except (ValueError, TypeError, KeyError) as exc:
                problem = str(exc)
                routing, calendar = base, national
        if problem is not None:
            pb.warn(f"hotline {h.number}: rules invalid, the route hook leaves calls to the static plan: {problem}")
        hotlines[h.number] = HotlineEntry(
            hotline_id=h.id, number=h.number, enterprise_id=h.enterprise_id, routing=routing, calendar=calendar,
            dials=MappingProxyType(builder.dials), department_ids=MappingProxyType(builder.path_ids),
            rules_ok=problem is None, problem=problem,
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
    )


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
    """Builds one hotline: the department tree and targets (``base``), then the rules (``with_rules``)."""

    def __init__(self, h: Any, depts: list[DepartmentRow], seats: list[_Seat], tones: Mapping[int, Any],  # noqa: ANN401
                 trunks: Mapping[int, str], pb: _Problems) -> None:
        self.h = h
        self.where = f"hotline {h.number}"
        self.depts = depts
        self.tones = tones
        self.trunks = trunks
        self.pb = pb
        self.seats_by_dept: dict[int | None, list[_Seat]] = defaultdict(list)
        for seat in seats:
            self.seats_by_dept[seat.department_id].append(seat)
        self.children: dict[int | None, list[DepartmentRow]] = defaultdict(list)
        for dept in depts:
            self.children[dept.parent_id].append(dept)
        self.dials: dict[int, str] = {}
        self.path_ids: dict[str, int | None] = {"": None}
        self.id_paths: dict[int, str] = {}
        self.handled: set[int] = set()
        self.timezone_problem: str | None = None

    # ---- tones, hunt, targets: the renderer's rules
    def moh_for(self, tone_id: int | None, what: str) -> str | None:
        if tone_id is None:
            return None
        row = self.tones.get(tone_id)
        if row is None:
            self.pb.warn(f"{what}: tone {tone_id} does not exist; using the default")
            return None
        if row.enterprise_id is not None and row.enterprise_id != self.h.enterprise_id:
            self.pb.warn(f"{what}: tone {tone_id} belongs to another enterprise; using the default")
            return None
        source = row.stored_path or ""
        if not source or source.startswith(("/", "\\")) or ".." in source.replace("\\", "/").split("/"):
            self.pb.warn(f"{what}: tone {tone_id} has an unsafe stored path; using the default")
            return None
        return tone_moh_class(tone_id)

    def hunt_of(self, value: object, where: str) -> str:
        if value in HUNT_STRATEGIES:
            return str(value)
        self.pb.warn(f"{where}: hunt strategy {value!r} unknown; using sequential")
        return "sequential"

    def targets(self, dept_id: int | None, where: str) -> tuple[Target, ...]:
        out: list[Target] = []
        for seat in self.seats_by_dept.get(dept_id, ()):
            template = self.trunks.get(seat.trunk_id) if seat.trunk_id is not None else None
            try:
                dial = dial_string(template if template is not None else DEFAULT_DIAL_TEMPLATE, seat.number)
                target = Target(
                    destination=seat.number,
                    dial=seat.number,
                    ring_timeout_s=clamp(seat.ring_timeout_s, MIN_RING_S, MAX_RING_S, DEFAULT_RING_TIMEOUT_S),
                    position=clamp(seat.position, 1, 10_000, 1),
                    destination_id=seat.destination_id,
                    valid_from=seat.valid_from,
                    valid_until=seat.valid_until,
                    seat_id=seat.seat_id,
                    trunk_id=seat.trunk_id,
                )
            except (RenderValueError, ValueError, TypeError) as exc:
                self.pb.warn(f"{where}: seat {seat.seat_id} left out: {exc}")
                continue
            self.dials[seat.seat_id] = dial
            out.append(target)
        return tuple(out)

    # ---- the department tree, walked like ivr400.render.load
    def level(self, parent_id: int | None, parent_path: str, moh: str | None, out: list[DepartmentRouting]) -> None:
        seen: set[str] = set()
        for dept in self.children.get(parent_id, ()):
            if dept.id in self.handled:
                continue
            self.handled.add(dept.id)
            where = f"{self.where} department {dept.id}"
            if dept.key in seen:
                self.pb.warn(f"{where}: repeats key {dept.key!r}; left out")
                continue
            seen.add(dept.key)
            try:
                key = check_key(dept.key)
            except RenderValueError as exc:
                self.pb.warn(f"{where}: left out with its sub-menus: {exc}")
                continue
            path = f"{parent_path}.{key}" if parent_path else key
            own = self.moh_for(dept.ringback_tone_id, f"{where} ringback")
            dept_moh = own or moh
            out.append(DepartmentRouting(
                key=path,
                name=strip_unsafe_text(dept.name or ""),
                hunt_strategy=self.hunt_of(dept.hunt, where),
                max_attempts=clamp(dept.max_attempts, 0, 200, 0),
                targets=self.targets(dept.id, where),
                ringback=dept_moh or None,
            ))
            self.path_ids[path] = dept.id
            self.id_paths[dept.id] = path
            self.level(dept.id, path, dept_moh, out)

    def base(self) -> HotlineRouting:
        h = self.h
        hotline_moh = self.moh_for(h.ringback_tone_id, f"{self.where} ringback")
        departments: list[DepartmentRouting] = []
        self.level(None, "", hotline_moh, departments)
        for dept in self.depts:
            if dept.id not in self.handled:
                self.pb.warn(f"{self.where}: department {dept.id} is not reachable from the top menu; left out")
        orphans = sorted(s.seat_id for d, seats in self.seats_by_dept.items()
                         if d is not None and d not in self.id_paths for s in seats)
        if orphans:
            self.pb.warn(f"{self.where}: seats {orphans} belong to departments left out of the menu")
        switchboard = DepartmentRouting(
            key=SWITCHBOARD_KEY,
            name="switchboard",
            hunt_strategy=self.hunt_of(h.hunt_strategy, self.where),
            max_attempts=clamp(h.max_attempts, 0, 200, 0),
            targets=self.targets(None, f"{self.where} switchboard"),
            ringback=hotline_moh,
        )
        timezone = h.timezone or DEFAULT_TIMEZONE
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            # Targets do not depend on the zone; the rules do, so they are refused in with_rules.
            self.timezone_problem = f"enterprise time zone {timezone!r} is not an IANA time zone"
            timezone = DEFAULT_TIMEZONE
        return HotlineRouting(
            hotline=h.number,
            timezone=timezone,
            departments=tuple(departments),
            switchboard=switchboard,
            voicemail_enabled=bool(h.voicemail),
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

    def action(self, kind: object, department_id: int | None, prompt: object, what: str) -> Action:
        kind = ActionKind(kind)
        department: str | None = None
        if kind is ActionKind.DEPARTMENT:
            department = self.key_of(department_id, what)
        elif kind is ActionKind.VOICEMAIL and department_id is not None:
            department = self.key_of(department_id, what)
        elif department_id is not None:
            raise ValueError(f"{what}: a {kind.value} action names no department")
        return Action(kind, department, prompt or None)  # type: ignore[arg-type]

    def with_rules(self, base: HotlineRouting, time_rows: Iterable[Any], region_rows: Iterable[Any],
                   block_rows: Iterable[Any], overrides: Iterable[RegionOverride]) -> HotlineRouting:
        h = self.h
        if self.timezone_problem is not None:
            raise ValueError(self.timezone_problem)
        rules = []
        for row in time_rows:
            what = f"time rule {row.id}"
            try:
                rules.append(TimeRule(
                    id=row.id,
                    action=self.action(row.action_kind, row.action_department_id, row.action_prompt, what),
                    segments=tuple(TimeSegment.from_dict(s) for s in _list(row.segments, what)),
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
        )


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected a JSON list, got {value!r}")
    return value

