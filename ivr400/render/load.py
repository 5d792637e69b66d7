"""Database → render model, in one query per table whatever the number of hotlines.

Destinations come only from the routable-now definition (`ivr400.db.routable`): approved, inside
their validity window at `now`, owned by the hotline's enterprise, hotline active. Everything is read
as plain columns (no ORM entities), so 10,000 hotlines × 20 seats load in a couple of seconds.

Bad values that slipped into the database past the services (raw SQL): a seat whose dial string is
not allowed, a department with a key that is not a digit, a tone of another enterprise... are left
out of the render with a warning (`RenderModel.warnings`), or raise `RenderValueError` when
`strict=True`. A dropped seat can only make the static plan ring fewer numbers, never other ones.
"""
from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Department, Enterprise, Hotline, Tone, Trunk
from ivr400.db.routable import RoutableSeat, routable_seats
from ivr400.render.model import (
    DEFAULT_DIAL_TEMPLATE,
    DEFAULT_RING_TIMEOUT_S,
    HUNT_STRATEGIES,
    MAX_RING_S,
    MIN_RING_S,
    WELCOME,
    RenderDepartment,
    RenderHotline,
    RenderModel,
    RenderTarget,
    RenderTone,
    RenderTrunk,
    RenderValueError,
    check_dial_template,
    check_hotline_number,
    check_key,
    check_sha256,
    check_tone_name,
    clamp,
    comment_text,
    dial_string,
    pjsip_endpoint,
)


@dataclass
class DepartmentRow:
    """A department as read for the renderer and the controller (plain columns, no ORM entity)."""

    id: int
    hotline_id: int
    parent_id: int | None
    key: str
    name: str
    hunt: str
    max_attempts: int
    ringback_tone_id: int | None
    prompt_tone_id: int | None


class _Loader:
    """Collects warnings about values left out of the render (or raises them when strict)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        if self.strict:
            raise RenderValueError(message)
        self.warnings.append(message)


def active_departments(session: Session) -> dict[int, list[DepartmentRow]]:
    """Departments of active hotlines by hotline id, in key order: one query for every hotline."""
    by_hotline: dict[int, list[DepartmentRow]] = defaultdict(list)
    for row in session.execute(
        select(Department.id, Department.hotline_id, Department.parent_id, Department.key, Department.name,
               Department.hunt_strategy, Department.max_attempts, Department.ringback_tone_id,
               Department.prompt_tone_id)
        .join(Hotline, Hotline.id == Department.hotline_id)
        .where(Hotline.active.is_(True))
        .order_by(Department.hotline_id, Department.key, Department.id)
    ):
        by_hotline[row[1]].append(DepartmentRow(*row))
    return by_hotline


def load_model(session: Session, now: datetime, *, strict: bool = False) -> RenderModel:
    """Read every active hotline with its menus, routable seats, tones and trunks at `now`."""
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    # Hundreds of thousands of small objects, none cyclic: the cyclic GC would only rescan them
    # over and over (about 40% of the load time at 10,000 hotlines).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(session, now, _Loader(strict))
    finally:
        if gc_was_enabled:
            gc.enable()


def _load(session: Session, now: datetime, ld: _Loader) -> RenderModel:
    # One query per table, whatever the number of hotlines.
    hotline_rows = session.execute(
        select(Hotline.id, Hotline.number, Hotline.name, Hotline.enterprise_id, Enterprise.name,
               Hotline.welcome_tone_id, Hotline.ringback_tone_id, Hotline.hunt_strategy, Hotline.max_attempts,
               Hotline.menu_timeout_s, Hotline.menu_retries, Hotline.voicemail, Hotline.record_calls)
        .join(Enterprise, Enterprise.id == Hotline.enterprise_id)
        .where(Hotline.active.is_(True))
        .order_by(Hotline.number, Hotline.id)
    ).all()

    depts_by_hotline = active_departments(session)

    seats_by_hotline: dict[int, list[RoutableSeat]] = defaultdict(list)
    for seat in routable_seats(session, now):
        seats_by_hotline[seat.hotline_id].append(seat)

    tones = {
        row.id: row
        for row in session.execute(
            select(Tone.id, Tone.enterprise_id, Tone.name, Tone.kind, Tone.sha256, Tone.stored_path).order_by(Tone.id)
        )
    }
    trunks = {row.id: row for row in session.execute(select(Trunk.id, Trunk.name, Trunk.dial_template).order_by(Trunk.id))}

    used_tones: dict[int, RenderTone] = {}
    used_trunks: dict[int | None, RenderTrunk] = {}

    def tone_for(tone_id: int | None, enterprise_id: int, what: str) -> RenderTone | None:
        if tone_id is None:
            return None
        row = tones.get(tone_id)
        if row is None:
            ld.warn(f"{what}: tone {tone_id} does not exist; using the default")
            return None
        if row.enterprise_id is not None and row.enterprise_id != enterprise_id:
            ld.warn(f"{what}: tone {tone_id} belongs to another enterprise; using the default")
            return None
        source = row.stored_path or ""
        if not source or source.startswith(("/", "\\")) or ".." in source.replace("\\", "/").split("/"):
            ld.warn(f"{what}: tone {tone_id} has an unsafe stored path {source!r}; using the default")
            return None
        tone = used_tones.get(tone_id)
        if tone is None:
            tone = used_tones[tone_id] = RenderTone(row.id, check_tone_name(row.name), comment_text(row.kind, 16),
                                                    check_sha256(row.sha256), source)
        return tone

    def dial_for(seat: RoutableSeat, where: str) -> str | None:
        trunk = trunks.get(seat.trunk_id) if seat.trunk_id is not None else None
        template = trunk.dial_template if trunk is not None else DEFAULT_DIAL_TEMPLATE
        try:
            dial = dial_string(template, seat.number)
        except RenderValueError as exc:
            ld.warn(f"{where}: seat {seat.seat_id} left out: {exc}")
            return None
        key = trunk.id if trunk is not None else None
        if key not in used_trunks:
            used_trunks[key] = (RenderTrunk(comment_text(trunk.name, 64), template, pjsip_endpoint(template))
                                if trunk is not None else
                                RenderTrunk("(default)", template, pjsip_endpoint(template), is_default=True))
        return dial

    def targets_for(seats: list[RoutableSeat], where: str) -> tuple[RenderTarget, ...]:
        out = []
        for seat in seats:
            dial = dial_for(seat, where)
            if dial is not None:
                out.append(RenderTarget(dial, clamp(seat.ring_timeout_s, MIN_RING_S, MAX_RING_S, DEFAULT_RING_TIMEOUT_S),
                                        seat.number, seat.seat_id, seat.position))
        return tuple(out)

    def hunt_of(value: object, where: str) -> str:
        if value in HUNT_STRATEGIES:
            return str(value)
        ld.warn(f"{where}: hunt strategy {value!r} unknown; using sequential")
        return "sequential"

    hotlines: list[RenderHotline] = []
    for (hid, number, name, ent_id, ent_name, welcome_id, ringback_id, hunt, max_attempts, menu_timeout,
         menu_retries, voicemail, record_calls) in hotline_rows:
        try:
            check_hotline_number(number)
        except RenderValueError as exc:
            ld.warn(f"hotline {hid}: left out: {exc}")
            continue
        where = f"hotline {number}"
        welcome_tone = tone_for(welcome_id, ent_id, f"{where} welcome")
        welcome = welcome_tone.sound if welcome_tone else WELCOME
        ringback_tone = tone_for(ringback_id, ent_id, f"{where} ringback")
        hotline_moh = ringback_tone.moh_class if ringback_tone else ""

        seats_by_dept: dict[int | None, list[RoutableSeat]] = defaultdict(list)
        for seat in seats_by_hotline.get(hid, ()):
            seats_by_dept[seat.department_id].append(seat)
        tree = _Tree(number, ent_id, welcome, where, depts_by_hotline.get(hid, []), seats_by_dept, ld, tone_for,
                     targets_for, hunt_of)
        top = tree.level(None, "", hotline_moh, where)
        tree.report_leftovers()

        switchboard = RenderDepartment(
            hotline_number=number, id=None, path="", key="", name="switchboard",
            hunt=hunt_of(hunt, where), max_attempts=clamp(max_attempts, 0, 200, 0), moh_class=hotline_moh,
            prompt=welcome, targets=targets_for(seats_by_dept.get(None, []), f"{where} switchboard"),
        )
        hotlines.append(RenderHotline(
            id=hid, number=number, name=comment_text(name), enterprise=comment_text(ent_name), welcome=welcome,
            menu_timeout_s=clamp(menu_timeout, 1, 60, 5), menu_retries=clamp(menu_retries, 1, 10, 3),
            voicemail=bool(voicemail), switchboard=switchboard, departments=top, record_calls=bool(record_calls),
        ))

    for trunk in used_trunks.values():
        if not trunk.is_default:
            check_dial_template(trunk.template)
    return RenderModel(
        hotlines=tuple(hotlines),
        tones=tuple(sorted(used_tones.values(), key=lambda t: t.id)),
        trunks=tuple(sorted(used_trunks.values(), key=lambda t: (t.is_default, t.name))),
        warnings=tuple(ld.warnings),
    )


class _Tree:
    """Builds one hotline's department tree from the top menu down; anything unreachable is reported."""

    def __init__(self, number: str, enterprise_id: int, welcome: str, where: str, depts: list[DepartmentRow],
                 seats_by_dept: dict[int | None, list[RoutableSeat]], ld: _Loader,
                 tone_for: Callable[[int | None, int, str], RenderTone | None],
                 targets_for: Callable[[list[RoutableSeat], str], tuple[RenderTarget, ...]],
                 hunt_of: Callable[[object, str], str]) -> None:
        self.number, self.enterprise_id, self.welcome, self.where = number, enterprise_id, welcome, where
        self.depts = depts
        self.children: dict[int | None, list[DepartmentRow]] = defaultdict(list)
        for dept in depts:
            self.children[dept.parent_id].append(dept)
        self.seats_by_dept = seats_by_dept
        self.ld, self.tone_for, self.targets_for, self.hunt_of = ld, tone_for, targets_for, hunt_of
        self.handled: set[int] = set()  # built, or refused with a warning
        self.built: set[int] = set()

    def level(self, parent_id: int | None, path: str, moh: str, where: str) -> tuple[RenderDepartment, ...]:
        out: list[RenderDepartment] = []
        seen: set[str] = set()
        for dept in self.children.get(parent_id, ()):
            if dept.id in self.handled:  # a parent loop: never visit a department twice
                continue
            self.handled.add(dept.id)
            if dept.key in seen:
                self.ld.warn(f"{where}: department {dept.id} repeats key {dept.key!r}; left out")
                continue
            seen.add(dept.key)
            built = self.department(dept, path, moh)
            if built is not None:
                out.append(built)
        return tuple(out)

    def department(self, dept: DepartmentRow, parent_path: str, parent_moh: str) -> RenderDepartment | None:
        where = f"{self.where} department {dept.id}"
        try:
            key = check_key(dept.key)
        except RenderValueError as exc:
            self.ld.warn(f"{where}: left out with its sub-menus: {exc}")
            return None
        path = f"{parent_path}.{key}" if parent_path else key
        tone = self.tone_for(dept.ringback_tone_id, self.enterprise_id, f"{where} ringback")
        moh = tone.moh_class if tone else parent_moh  # own tone, else the nearest parent's, else the hotline's
        prompt_tone = self.tone_for(dept.prompt_tone_id, self.enterprise_id, f"{where} prompt")
        self.built.add(dept.id)
        return RenderDepartment(
            hotline_number=self.number, id=dept.id, path=path, key=key, name=comment_text(dept.name),
            hunt=self.hunt_of(dept.hunt, where), max_attempts=clamp(dept.max_attempts, 0, 200, 0),
            moh_class=moh, prompt=prompt_tone.sound if prompt_tone else self.welcome,
            targets=self.targets_for(self.seats_by_dept.get(dept.id, []), where),
            children=self.level(dept.id, path, moh, where),
        )

    def report_leftovers(self) -> None:
        for dept in self.depts:
            if dept.id not in self.handled:
                self.ld.warn(f"{self.where}: department {dept.id} is not reachable from the top menu "
                             f"(parent outside this hotline or a loop); left out")
        orphans = sorted(seat.seat_id for dept_id, seats in self.seats_by_dept.items()
                         if dept_id is not None and dept_id not in self.built for seat in seats)
        if orphans:
            self.ld.warn(f"{self.where}: seats {orphans} belong to departments left out of the menu; not rendered")
