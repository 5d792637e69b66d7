"""Database → the hotline tree: hotline → department → routable seats → tones and trunks, read once.

The one reader both the renderer (``ivr400.render.load``: the static fail-safe plan) and the controller
(``ivr400.controller.loader``: the decisions) map from, so they cannot disagree on who rings, in which
order, for how long, with which ringback tone. Every rule that decides that lives here, once:

* seats come only from the routable-now statement of :mod:`ivr400.db.routable` (approved, inside the
  validity window at ``now``, own enterprise, hotline active), in hunt order (position, then seat id);
* a seat dials through its destination's trunk, else the hotline's, else :data:`DEFAULT_DIAL_TEMPLATE`;
  a seat whose dial string is not allowed (:func:`ivr400.validators.dial_string`) is left out;
* ring timeouts are clamped to [:data:`MIN_RING_S`, :data:`MAX_RING_S`] s (default
  :data:`DEFAULT_RING_TIMEOUT_S`), transfer caps to [0, :data:`MAX_ATTEMPTS_CAP`], seat weights to
  [0, :data:`MAX_WEIGHT`] (default 1); an unknown hunt strategy is sequential; a sequential group with its
  ``hunt_weighted`` flag is ``weighted`` (按比例分配);
* a tone is used only if it exists, belongs to the hotline's enterprise (or to nobody), has a safe
  stored path and was approved by the platform admin (彩铃审核, ``tone.status``: a pending or rejected tone
  is treated as absent, with a warning, even with ``strict``: it is a normal state, not a bad row); a
  department's ringback is its own usable tone, else its parent's, else the hotline's, else ordinary
  ringing, and a hotline without a usable welcome tone plays none;
* the department tree is walked from the top menu: keys must be one digit, the first of duplicate keys
  wins, a department is never visited twice (parent loops are cut), and departments not reachable from
  the top menu and their seats are reported;
* fax (传真): ``fax_mode`` is ``off``, ``detect`` or ``key``; a key mode needs one digit that no top-menu
  department uses and a top menu to press it in, else the hotline takes no fax (with a warning: an unknown
  mode or a bad key is a bad row; a department that took the key, or no menu, is a normal state).

Bad rows (raw SQL past the services) never crash the read: each is left out with a warning in
:attr:`HotlineTree.warnings` (or raises :class:`~ivr400.validators.UnsafeValueError` with ``strict``).
A hotline whose number is not a 400 number is left out whole and listed in :attr:`HotlineTree.skipped`.
Everything is read as plain columns, one query per table whatever the number of hotlines.
"""
from __future__ import annotations

import gc
import re
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.enums import FaxMode, HuntStrategy, ToneStatus
from ivr400.db.models import Department, Destination, Enterprise, Hotline, Seat, Tone, Trunk
from ivr400.db.routable import routable_seats_query
from ivr400.pbx.asterisk.prompts import SURVEY, tone_moh_class, tone_sound
from ivr400.validators import UnsafeValueError, check_hotline_number, check_key, clamp, dial_string

__all__ = [
    "DEFAULT_DIAL_TEMPLATE",
    "DEFAULT_RING_TIMEOUT_S",
    "HUNT_STRATEGIES",
    "MAX_ATTEMPTS_CAP",
    "MAX_RING_S",
    "MIN_RING_S",
    "DepartmentNode",
    "HotlineNode",
    "HotlineTree",
    "SeatNode",
    "SkippedHotline",
    "ToneRow",
    "TrunkRow",
    "read_tree",
]

#: Dial template used for a seat whose destination and hotline name no trunk.
DEFAULT_DIAL_TEMPLATE = "PJSIP/{number}@ivr400-out"
#: Ring seconds per seat when nothing says otherwise (the carriers' "15 s then the next seat").
DEFAULT_RING_TIMEOUT_S = 15
MIN_RING_S, MAX_RING_S = 5, 120
#: Largest transfer cap (seats tried in turn); 0 = all.
MAX_ATTEMPTS_CAP = 200
#: Largest seat weight (按比例分配); the routing model enforces the same bound.
MAX_WEIGHT = 1000
_SOUND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,119}")
HUNT_STRATEGIES: tuple[str, ...] = tuple(h.value for h in HuntStrategy)


@dataclass(frozen=True, slots=True)
class ToneRow:
    """A stored tone that passed the checks; ``source`` is ``Tone.stored_path`` (relative to the data dir)."""

    id: int
    enterprise_id: int | None
    name: object
    kind: object
    sha256: object
    source: str

    @property
    def sound(self) -> str:
        return tone_sound(self.id)

    @property
    def moh_class(self) -> str:
        return tone_moh_class(self.id)


@dataclass(frozen=True, slots=True)
class TrunkRow:
    """An outbound route a seat dials through; ``id`` None is the default template (no trunk row)."""

    id: int | None
    name: object
    template: str

    @property
    def is_default(self) -> bool:
        return self.id is None


@dataclass(frozen=True, slots=True)
class SeatNode:
    """A seat (坐席) routable now: its destination (目的码), the dial string and how long it rings (s).

    ``valid_from``/``valid_until`` (UTC, aware) are the destination's whitelist validity (R7), for a
    caller that keeps the tree longer than an instant (the controller re-checks them per call).
    """

    seat_id: int
    destination_id: int
    number: str
    dial: str
    ring_timeout_s: int
    position: int
    trunk: TrunkRow
    valid_from: datetime | None
    valid_until: datetime | None
    weight: int = 1


@dataclass(frozen=True)
class DepartmentNode:
    """A hunt group: the switchboard (总机, ``path`` "", ``id`` None) or a department (部门) at a key path
    (``"2"``, ``"2.1"``), with its seats in hunt order and its sub-menu.

    ``name`` is the raw database text (each consumer formats it). ``ringback`` is the effective ringback
    tone (彩铃: own, else the nearest parent's, else the hotline's; None = ordinary ringing); ``prompt`` is
    the department's own sub-menu prompt tone, if any.
    """

    id: int | None
    path: str
    key: str
    name: object
    hunt: str
    max_attempts: int
    ringback: ToneRow | None
    prompt: ToneRow | None
    seats: tuple[SeatNode, ...] = ()
    children: tuple[DepartmentNode, ...] = ()

    @property
    def is_switchboard(self) -> bool:
        return self.path == ""

    def walk(self) -> Iterator[DepartmentNode]:
        """This department and every descendant, depth first, in key order."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class HotlineNode:
    """An active 400 number (400电话) and its tree. ``timezone`` is the enterprise's raw column (the
    controller validates it); ``menu_timeout_s`` (1-60 s) and ``menu_retries`` (1-10) are clamped."""

    id: int
    number: str
    name: object
    enterprise_id: int
    enterprise_name: object
    timezone: object
    welcome: ToneRow | None
    ringback: ToneRow | None
    menu_timeout_s: int
    menu_retries: int
    voicemail: bool
    record_calls: bool
    switchboard: DepartmentNode
    departments: tuple[DepartmentNode, ...] = ()
    #: 满意度评价: the survey prompt (Asterisk sound name) when the hotline surveys its callers, else None.
    survey: str | None = None
    #: 传真: ``off``, ``detect`` or ``key`` (then ``fax_key``, a top-menu digit no department uses).
    fax_mode: str = FaxMode.OFF.value
    fax_key: str | None = None

    def hunts(self) -> tuple[DepartmentNode, ...]:
        """The switchboard then every department, depth first in key order."""
        out = [self.switchboard]
        for dept in self.departments:
            out.extend(dept.walk())
        return tuple(out)


@dataclass(frozen=True)
class SkippedHotline:
    """An active hotline left out whole (its number is not a 400 number): ``number`` as stored."""

    id: int
    number: object
    reason: str


@dataclass(frozen=True)
class HotlineTree:
    """Every active hotline by number, the tones and trunks they use (by id; the default trunk last)."""

    hotlines: tuple[HotlineNode, ...]
    tones: tuple[ToneRow, ...]
    trunks: tuple[TrunkRow, ...]
    skipped: tuple[SkippedHotline, ...] = ()
    warnings: tuple[str, ...] = ()


class _Reader:
    """Holds the rows of one read and the warnings; the build methods apply the rules of the module doc."""

    def __init__(self, strict: bool, tones: dict[int, ToneRow], tone_rows: dict[int, tuple[object, ...]],
                 trunks: dict[int, tuple[object, str]]) -> None:
        self.strict = strict
        self.warnings: list[str] = []
        self.tone_rows = tone_rows
        self.trunk_rows = trunks
        self.used_tones = tones
        self.used_trunks: dict[int | None, TrunkRow] = {}

    def warn(self, message: str) -> None:
        if self.strict:
            raise UnsafeValueError(message)
        self.warnings.append(message)

    def survey(self, enabled: object, prompt: object, where: str) -> str | None:
        """The survey prompt of a hotline that surveys (its own sound name, else :data:`SURVEY`), else None."""
        if not enabled:
            return None
        if prompt is None or prompt == "":
            return SURVEY
        if not isinstance(prompt, str) or not _SOUND.fullmatch(prompt) or ".." in prompt:
            self.warn(f"{where}: survey prompt {prompt!r} is not a sound name; using the default")
            return SURVEY
        return prompt

    def fax(self, mode: object, key: object, top: tuple[DepartmentNode, ...], where: str) -> tuple[str, str | None]:
        """(fax mode, key) as the call path uses them (see the module doc); ``("off", None)`` when unusable."""
        if mode is None or mode == FaxMode.OFF.value:
            return FaxMode.OFF.value, None
        if mode == FaxMode.DETECT.value:
            return FaxMode.DETECT.value, None
        if mode != FaxMode.KEY.value:
            self.warn(f"{where}: fax mode {mode!r} unknown; no fax")
            return FaxMode.OFF.value, None
        try:
            digit = check_key(key)
        except UnsafeValueError as exc:
            self.warn(f"{where}: fax key left out: {exc}")
            return FaxMode.OFF.value, None
        if not top:
            self.warnings.append(f"{where}: fax key {digit} but no menu to press it in; no fax")
            return FaxMode.OFF.value, None
        if any(d.key == digit for d in top):
            self.warnings.append(f"{where}: fax key {digit} opens a department of the top menu; no fax")
            return FaxMode.OFF.value, None
        return FaxMode.KEY.value, digit

    def tone(self, tone_id: int | None, enterprise_id: int, what: str) -> ToneRow | None:
        if tone_id is None:
            return None
        row = self.tone_rows.get(tone_id)
        if row is None:
            self.warn(f"{what}: tone {tone_id} does not exist; using the default")
            return None
        owner, name, kind, sha256, stored_path, status = row
        if owner is not None and owner != enterprise_id:
            self.warn(f"{what}: tone {tone_id} belongs to another enterprise; using the default")
            return None
        if status != ToneStatus.APPROVED.value:
            # Not a bad row: a tone waiting for review (or refused by it) is simply not deployed yet.
            self.warnings.append(f"{what}: tone {tone_id} is {status} (not approved); using the default")
            return None
        source = stored_path if isinstance(stored_path, str) else ""
        if not source or source.startswith(("/", "\\")) or ".." in source.replace("\\", "/").split("/"):
            self.warn(f"{what}: tone {tone_id} has an unsafe stored path {source!r}; using the default")
            return None
        tone = self.used_tones.get(tone_id)
        if tone is None:
            tone = self.used_tones[tone_id] = ToneRow(tone_id, owner if isinstance(owner, int) else None, name, kind,
                                                      sha256, source)
        return tone

    def trunk(self, trunk_id: int | None) -> TrunkRow:
        row = self.trunk_rows.get(trunk_id) if trunk_id is not None else None
        if row is None:
            return TrunkRow(None, None, DEFAULT_DIAL_TEMPLATE)
        return TrunkRow(trunk_id, row[0], row[1])

    def seats(self, rows: list[_SeatRow], where: str) -> tuple[SeatNode, ...]:
        out: list[SeatNode] = []
        for row in rows:
            trunk = self.trunk(row.trunk_id)
            try:
                dial = dial_string(trunk.template, row.number)
            except UnsafeValueError as exc:
                self.warn(f"{where}: seat {row.seat_id} left out: {exc}")
                continue
            self.used_trunks.setdefault(trunk.id, trunk)
            out.append(SeatNode(
                seat_id=row.seat_id, destination_id=row.destination_id, number=row.number, dial=dial,
                ring_timeout_s=clamp(row.ring_timeout_s, MIN_RING_S, MAX_RING_S, DEFAULT_RING_TIMEOUT_S),
                position=row.position, trunk=trunk, valid_from=row.valid_from, valid_until=row.valid_until,
                weight=clamp(row.weight, 0, MAX_WEIGHT, 1),
            ))
        return tuple(out)

    def hunt(self, value: object, where: str, weighted: object = False) -> str:
        if value == HuntStrategy.SEQUENTIAL.value and weighted:
            return HuntStrategy.WEIGHTED.value
        if isinstance(value, str) and value in HUNT_STRATEGIES and value != HuntStrategy.WEIGHTED.value:
            return value
        self.warn(f"{where}: hunt strategy {value!r} unknown; using sequential")
        return HuntStrategy.SEQUENTIAL.value


@dataclass(slots=True)
class _SeatRow:
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
    weight: object = 1

    @property
    def trunk_id(self) -> int | None:
        """The destination's trunk, else the hotline's (as ``RoutableSeat.trunk_id``)."""
        return self.dest_trunk_id if self.dest_trunk_id is not None else self.hotline_trunk_id


@dataclass(slots=True)
class _DepartmentRow:
    id: int
    hotline_id: int
    parent_id: int | None
    key: object
    name: object
    hunt: object
    max_attempts: object
    ringback_tone_id: int | None
    prompt_tone_id: int | None
    weighted: object = False


class _Walk:
    """One hotline's department tree from the top menu down; anything unreachable is reported."""

    def __init__(self, rd: _Reader, where: str, enterprise_id: int, depts: list[_DepartmentRow],
                 seats_by_dept: dict[int | None, list[_SeatRow]]) -> None:
        self.rd, self.where, self.enterprise_id = rd, where, enterprise_id
        self.depts = depts
        self.children: dict[int | None, list[_DepartmentRow]] = defaultdict(list)
        for dept in depts:
            self.children[dept.parent_id].append(dept)
        self.seats_by_dept = seats_by_dept
        self.handled: set[int] = set()  # built, or refused with a warning
        self.built: set[int] = set()

    def level(self, parent_id: int | None, parent_path: str, ringback: ToneRow | None,
              where: str) -> tuple[DepartmentNode, ...]:
        out: list[DepartmentNode] = []
        seen: set[object] = set()
        for dept in self.children.get(parent_id, ()):
            if dept.id in self.handled:  # a parent loop: never visit a department twice
                continue
            self.handled.add(dept.id)
            if dept.key in seen:
                self.rd.warn(f"{where}: department {dept.id} repeats key {dept.key!r}; left out")
                continue
            seen.add(dept.key)
            node = self.department(dept, parent_path, ringback)
            if node is not None:
                out.append(node)
        return tuple(out)

    def department(self, dept: _DepartmentRow, parent_path: str, parent_ringback: ToneRow | None,
                   ) -> DepartmentNode | None:
        where = f"{self.where} department {dept.id}"
        try:
            key = check_key(dept.key)
        except UnsafeValueError as exc:
            self.rd.warn(f"{where}: left out with its sub-menus: {exc}")
            return None
        path = f"{parent_path}.{key}" if parent_path else key
        own = self.rd.tone(dept.ringback_tone_id, self.enterprise_id, f"{where} ringback")
        ringback = own or parent_ringback
        prompt = self.rd.tone(dept.prompt_tone_id, self.enterprise_id, f"{where} prompt")
        self.built.add(dept.id)
        return DepartmentNode(
            id=dept.id, path=path, key=key, name=dept.name, hunt=self.rd.hunt(dept.hunt, where, dept.weighted),
            max_attempts=clamp(dept.max_attempts, 0, MAX_ATTEMPTS_CAP, 0), ringback=ringback, prompt=prompt,
            seats=self.rd.seats(self.seats_by_dept.get(dept.id, []), where),
            children=self.level(dept.id, path, ringback, where),
        )

    def report_leftovers(self) -> None:
        for dept in self.depts:
            if dept.id not in self.handled:
                self.rd.warn(f"{self.where}: department {dept.id} is not reachable from the top menu "
                             f"(parent outside this hotline or a loop); left out")
        orphans = sorted(seat.seat_id for dept_id, seats in self.seats_by_dept.items()
                         if dept_id is not None and dept_id not in self.built for seat in seats)
        if orphans:
            self.rd.warn(f"{self.where}: seats {orphans} belong to departments left out of the menu; not routed")


def read_tree(session: Session, now: datetime, *, strict: bool = False,
              hotline_ids: Collection[int] | None = None) -> HotlineTree:
    """Read every active hotline with its menus, seats routable at ``now`` (aware), tones and trunks.

    With ``strict``, the first bad row raises :class:`~ivr400.validators.UnsafeValueError` instead of
    being left out with a warning. With ``hotline_ids``, only those hotlines (the ids of the active ones
    among them) are read, by the same rules: what a controller's incremental reload needs after an edit.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now: must be timezone-aware")
    # Hundreds of thousands of small objects, none cyclic: the cyclic GC would only rescan them over and
    # over (about 40% of the read at 10,000 hotlines).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read(session, now, strict, None if hotline_ids is None else sorted(set(hotline_ids)))
    finally:
        if gc_was_enabled:
            gc.enable()


def _read(session: Session, now: datetime, strict: bool, only: list[int] | None) -> HotlineTree:
    active = Hotline.active.is_(True) if only is None else Hotline.active.is_(True) & Hotline.id.in_(only)
    hotline_rows = session.execute(
        select(Hotline.id, Hotline.number, Hotline.name, Hotline.enterprise_id, Enterprise.name, Enterprise.timezone,
               Hotline.welcome_tone_id, Hotline.ringback_tone_id, Hotline.hunt_strategy, Hotline.max_attempts,
               Hotline.menu_timeout_s, Hotline.menu_retries, Hotline.voicemail, Hotline.record_calls,
               Hotline.hunt_weighted, Hotline.survey_enabled, Hotline.survey_prompt, Hotline.fax_mode,
               Hotline.fax_key)
        .join(Enterprise, Enterprise.id == Hotline.enterprise_id)
        .where(active)
        .order_by(Hotline.number, Hotline.id)
    ).all()

    depts_by_hotline: dict[int, list[_DepartmentRow]] = defaultdict(list)
    for row in session.execute(
        select(Department.id, Department.hotline_id, Department.parent_id, Department.key, Department.name,
               Department.hunt_strategy, Department.max_attempts, Department.ringback_tone_id,
               Department.prompt_tone_id, Department.hunt_weighted)
        .join(Hotline, Hotline.id == Department.hotline_id)
        .where(active)
        .order_by(Department.hotline_id, Department.key, Department.id)
    ):
        depts_by_hotline[row[1]].append(_DepartmentRow(*row))

    # routable_seats(session, now) as plain columns (no ORM entities: ~10x faster on 200,000 seats), plus
    # each destination's validity window.
    seats_by_hotline: dict[int, list[_SeatRow]] = defaultdict(list)
    seat_query = routable_seats_query(now).with_only_columns(
        Seat.id, Seat.hotline_id, Seat.department_id, Seat.position, Seat.ring_timeout_s, Destination.id,
        Destination.number, Destination.trunk_id, Hotline.trunk_id, Destination.valid_from, Destination.valid_until,
        Seat.weight,
    )
    if only is not None:
        seat_query = seat_query.where(Seat.hotline_id.in_(only))
    for row in session.execute(seat_query):
        seats_by_hotline[row[1]].append(_SeatRow(*row))

    tone_rows: dict[int, tuple[object, ...]] = {
        row[0]: tuple(row[1:])
        for row in session.execute(select(Tone.id, Tone.enterprise_id, Tone.name, Tone.kind, Tone.sha256,
                                          Tone.stored_path, Tone.status).order_by(Tone.id))
    }
    trunk_rows: dict[int, tuple[object, str]] = {
        row[0]: (row[1], row[2])
        for row in session.execute(select(Trunk.id, Trunk.name, Trunk.dial_template).order_by(Trunk.id))
    }
    rd = _Reader(strict, {}, tone_rows, trunk_rows)

    hotlines: list[HotlineNode] = []
    skipped: list[SkippedHotline] = []
    for (hid, number, name, ent_id, ent_name, timezone, welcome_id, ringback_id, hunt, max_attempts, menu_timeout,
         menu_retries, voicemail, record_calls, weighted, survey_enabled, survey_prompt, fax_mode,
         fax_key) in hotline_rows:
        try:
            check_hotline_number(number)
        except UnsafeValueError as exc:
            rd.warn(f"hotline {hid}: left out: {exc}")
            skipped.append(SkippedHotline(hid, number, str(exc)))
            continue
        where = f"hotline {number}"
        welcome = rd.tone(welcome_id, ent_id, f"{where} welcome")
        ringback = rd.tone(ringback_id, ent_id, f"{where} ringback")
        seats_by_dept: dict[int | None, list[_SeatRow]] = defaultdict(list)
        for seat in seats_by_hotline.get(hid, ()):
            seats_by_dept[seat.department_id].append(seat)
        walk = _Walk(rd, where, ent_id, depts_by_hotline.get(hid, []), seats_by_dept)
        top = walk.level(None, "", ringback, where)
        walk.report_leftovers()
        switchboard = DepartmentNode(
            id=None, path="", key="", name="switchboard", hunt=rd.hunt(hunt, where, weighted),
            max_attempts=clamp(max_attempts, 0, MAX_ATTEMPTS_CAP, 0), ringback=ringback, prompt=None,
            seats=rd.seats(seats_by_dept.get(None, []), f"{where} switchboard"),
        )
        fax = rd.fax(fax_mode, fax_key, top, where)
        hotlines.append(HotlineNode(
            id=hid, number=number, name=name, enterprise_id=ent_id, enterprise_name=ent_name, timezone=timezone,
            welcome=welcome, ringback=ringback, menu_timeout_s=clamp(menu_timeout, 1, 60, 5),
            menu_retries=clamp(menu_retries, 1, 10, 3), voicemail=bool(voicemail), record_calls=bool(record_calls),
            switchboard=switchboard, departments=top, survey=rd.survey(survey_enabled, survey_prompt, where),
            fax_mode=fax[0], fax_key=fax[1],
        ))

    return HotlineTree(
        hotlines=tuple(hotlines),
        tones=tuple(sorted(rd.used_tones.values(), key=lambda t: t.id)),
        trunks=tuple(sorted(rd.used_trunks.values(), key=lambda t: (t.is_default, t.id or 0))),
        skipped=tuple(skipped),
        warnings=tuple(rd.warnings),
    )
