"""The AstDB follower (`ivr400 deploy --follow`): every database edit reaches Asterisk's static plan within a
poll, by writing only the edited hotlines' keys, without a deploy of everything.

A full deploy (ivr400.deploy.asterisk.deploy) renders every hotline: seconds at 10,000 hotlines, a minute at
100,000. The follower does it once at start, then polls the change log (``config_change``, the controller's
too: ivr400.db.changes) every ``poll_interval`` seconds (200 ms) and, for the hotlines named since the last
id it applied, reads only those hotlines (``load_model(hotline_ids=…)``), renders only their data
(``render_data``) and writes the difference into AstDB through AMI in the order that keeps the whitelist
(ivr400.deploy.astdb.plan_sync). A new hotline, a revoked destination, a new menu key or a reordered hunt
is then live for the static plan within about ``poll_interval`` + a few ms, however many hotlines the node
carries. Destinations whose validity window opens or closes need no row to change: the follower keeps the
next such instant and, once it has passed, re-renders the hotlines bound to a destination whose ``valid_from``
or ``valid_until`` passed since its last poll.

It falls back to a full deploy (everything rendered, files, sounds, reloads, verification, AstDB read back
and put right) when a change names no hotline (a shared table: tones, trunks, calendar...), when more than
MAX_INCREMENTAL hotlines changed at once, when a change id stays missing for GAP_WAIT_S seconds, when a poll
failed, when AstDB lost the token key the follower wrote at its start (``ivr400/follower``: a wiped or restored
astdb.sqlite3), and every ``full_every_s``.

AstDB's marker key (ivr400.deploy.astdb.MARKER) is removed before the first incremental write, and the installed
``astdb.txt`` (the whole file: a second at 100,000 hotlines) is rewritten with the marker only at the first poll
that finds nothing new, so a burst of edits costs one file write, after them. Until then, and if the follower
dies in between, a deploy finds no marker and resyncs from what AstDB really holds rather than trust a file
AstDB no longer matches.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from ivr400.db.changes import changes_after, last_change_id, plan_reload
from ivr400.db.enums import WhitelistStatus
from ivr400.db.models import Destination, Seat
from ivr400.deploy import astdb
from ivr400.deploy.asterisk import LOCK_FILE, DeployReport, DeployTarget, deploy, render_for_deploy
from ivr400.fsutil import atomic_write, file_lock
from ivr400.pbx.asterisk.ami import AmiLike
from ivr400.pbx.asterisk.dialplan_variables import ASTDB_FAMILY
from ivr400.render.asterisk import ASTDB_FILE, make_environment, parse_astdb, render_data
from ivr400.render.load import load_model

__all__ = ["GAP_WAIT_S", "DataFollower", "FollowStep", "hotline_of"]

_log = logging.getLogger(__name__)

#: A change id missing for this long below newer ones is a rolled-back transaction's (seconds).
GAP_WAIT_S = 10.0


def hotline_of(key: str) -> str | None:
    """The hotline number an AstDB key belongs to (``h/<n>/…``, ``m/<n>[-<digits>]/…``), else None."""
    parts = key.split("/", 2)
    if len(parts) < 3 or parts[0] not in ("h", "m"):
        return None
    return parts[1].split("-", 1)[0]


@dataclass(frozen=True)
class FollowStep:
    """What one poll did: `kind` none | incremental | saved (astdb.txt and the marker written after a burst of
    edits) | full; hotlines re-read; keys put and deleted; the
    seconds from the poll's start to the last AstDB write (what a call waits for), and in all."""

    kind: str
    hotlines: int = 0
    put: int = 0
    deleted: int = 0
    live_s: float = 0.0
    seconds: float = 0.0


class DataFollower:
    """Keeps one Asterisk's AstDB in step with the database; see the module docstring.

    ``ami`` is a connected AMI (kept for the follower's life), ``now`` the clock (aware), the rest as
    ivr400.deploy.asterisk.deploy_from_db. :meth:`start` deploys in full; :meth:`poll` does one tick.
    """

    def __init__(self, engine: Engine, target: DeployTarget, ami: AmiLike, *, now: Callable[[], datetime],
                 template_dirs: Iterable[str] = (), agi_url: str | None = None, data_root: Path | None = None,
                 full_every_s: float = 3600.0, logger: logging.Logger | None = None, allow_empty: bool = False) -> None:
        self.engine = engine
        self.target = target
        self.ami = ami
        self.now = now
        self.template_dirs = list(template_dirs)
        self.agi_url = agi_url
        self.data_root = data_root
        self.full_every_s = full_every_s
        self.allow_empty = allow_empty
        self.log = logger or _log
        self.data: dict[str, str] = {}
        self._by_hotline: dict[str, set[str]] = {}
        self._numbers: dict[int, str] = {}
        self.applied: int | None = None
        self._checked_at: datetime | None = None
        self._full_at = 0.0
        self._gap_since: float | None = None
        self._env: jinja2.Environment | None = None
        self._token = ""
        #: The next instant a bound destination's validity window opens or closes (None: none ahead).
        self._next_validity: datetime | None = None
        #: AstDB holds writes the installed astdb.txt does not (the marker is gone until save()).
        self.dirty = False

    # ---- full
    def start(self) -> DeployReport:
        """Deploy everything (the normal deploy), and remember what AstDB now holds."""
        return self._full()

    def _full(self) -> DeployReport:
        now = self.now()
        with Session(self.engine) as session:
            top = last_change_id(session)  # before the read: a later change is applied next time
            rendered = render_for_deploy(session, now, template_dirs=self.template_dirs, agi_url=self.agi_url,
                                         data_root=self.data_root)
        report = deploy(rendered, self.target, ami=self.ami, allow_empty=self.allow_empty)
        self.dirty = False
        self._index(rendered.astdb)
        self._numbers = {h.id: h.number for h in rendered.model.hotlines} if rendered.model is not None else {}
        with Session(self.engine) as session:
            self._next_validity = self._validity_after(session, now)
        self._token = uuid.uuid4().hex  # AstDB wiped while we follow: this key goes too (see poll)
        self.ami.db_write(ASTDB_FAMILY, [(astdb.FOLLOWER, self._token)])
        self._env = make_environment(self.template_dirs)  # templates as the full deploy read them,
        self._env.get_template("astdb.j2")  # compiled now: not on the first edit's clock
        self.applied, self._checked_at, self._full_at, self._gap_since = top, now, time.monotonic(), None
        return report

    def _full_step(self, started: float) -> FollowStep:
        report = self._full()
        synced = report.astdb or {}
        return FollowStep("full", hotlines=len(self._numbers), put=synced.get("put", 0),
                          deleted=synced.get("deleted", 0), seconds=time.monotonic() - started)

    def _index(self, data: dict[str, str]) -> None:
        self.data = data
        self._by_hotline = {}
        for key in data:
            number = hotline_of(key)
            if number is not None:
                self._by_hotline.setdefault(number, set()).add(key)

    # ---- one tick
    def poll(self) -> FollowStep:
        """Apply what changed since the last poll; raises what the database, the renderer or AMI raise
        (the caller logs it and polls again; the next successful poll catches up)."""
        started = time.monotonic()
        if self.applied is not None and astdb.read_marker(self.ami, astdb.FOLLOWER) != self._token:
            self.log.warning("AstDB follower: AstDB lost the follower's key (wiped or restored?): deploying in full")
            self.applied = None
        if self.applied is None or started - self._full_at >= self.full_every_s:
            return self._full_step(started)
        now = self.now()
        with Session(self.engine) as session:
            rows = changes_after(session, self.applied)
            applied, hotlines, gap = plan_reload(self.applied, rows)
            if gap:
                self._gap_since = self._gap_since or started
                if started - self._gap_since >= GAP_WAIT_S:
                    self.log.warning("config_change ids missing for %.0f s: deploying in full", GAP_WAIT_S)
                    hotlines = None
            else:
                self._gap_since = None
            if hotlines is None:
                session.close()
                return self._full_step(started)
            ids = set(hotlines)
            if self._next_validity is not None and now >= self._next_validity:
                ids |= self._validity_passed(session, now)
                self._next_validity = self._validity_after(session, now)
            if ids:  # an edited hotline may bring a validity instant of its own
                ahead = self._validity_after(session, now, ids)
                if ahead is not None and (self._next_validity is None or ahead < self._next_validity):
                    self._next_validity = ahead
            if not ids:
                self.applied, self._checked_at = applied, now
                if self.dirty:
                    self.save()
                    return FollowStep("saved", seconds=time.monotonic() - started)
                return FollowStep("none", seconds=time.monotonic() - started)
            model = load_model(session, now, hotline_ids=ids)
        text = render_data(model, env=self._env)
        new = parse_astdb(text)
        numbers = {h.id: h.number for h in model.hotlines}
        affected = {self._numbers[i] for i in ids if i in self._numbers} | set(numbers.values())
        old = {k: self.data[k] for n in affected for k in self._by_hotline.get(n, ())}
        plan = astdb.plan_sync(old, new)
        live = 0.0
        if plan.steps:
            with file_lock(self.target.config_dir / LOCK_FILE):
                if not self.dirty:  # from here on AstDB and the installed file differ: no marker
                    self.ami.db_write(ASTDB_FAMILY, [], [astdb.MARKER])
                    self.dirty = True
                for deletes, puts in plan.steps:
                    self.ami.db_write(ASTDB_FAMILY, list(puts), list(deletes))
            live = time.monotonic() - started
            for key in old:
                self.data.pop(key, None)
            self.data.update(new)
            for n in affected:
                self._by_hotline.pop(n, None)
            for key in new:
                number = hotline_of(key)
                if number is not None:
                    self._by_hotline.setdefault(number, set()).add(key)
        for i in ids:
            self._numbers.pop(i, None)
        self._numbers.update(numbers)
        self.applied, self._checked_at = applied, now
        return FollowStep("incremental", hotlines=len(ids), put=plan.put, deleted=plan.deleted, live_s=live,
                          seconds=time.monotonic() - started)

    def save(self) -> None:
        """Write the installed astdb.txt from what AstDB now holds, then the marker naming it."""
        with file_lock(self.target.config_dir / LOCK_FILE):
            installed = serialize(self.data)
            atomic_write(self.target.config_dir / ASTDB_FILE, installed)
            self.ami.db_write(ASTDB_FAMILY, [(astdb.MARKER, astdb.digest(installed))])
            self.dirty = False

    @staticmethod
    def _validity_after(session: Session, now: datetime, ids: Iterable[int] | None = None) -> datetime | None:
        """The earliest instant after `now` at which an approved destination bound to a seat (of hotlines
        `ids`, else of any) becomes routable (valid_from) or stops being so (valid_until)."""
        instants = []
        for column in (Destination.valid_from, Destination.valid_until):
            query = (select(func.min(column)).join(Seat, Seat.destination_id == Destination.id)
                     .where(Destination.status == WhitelistStatus.APPROVED.value, column > now))
            if ids is not None:
                query = query.where(Seat.hotline_id.in_(list(ids)))
            instants.append(session.scalar(query))
        return min((i for i in instants if i is not None), default=None)

    def _validity_passed(self, session: Session, now: datetime) -> set[int]:
        """Hotlines with a seat bound to an approved destination whose validity window opened or closed in
        (last poll, now]: routable or not without any row changing."""
        since = self._checked_at or now
        if since >= now:
            return set()
        passed = or_(and_(Destination.valid_from > since, Destination.valid_from <= now),
                     and_(Destination.valid_until > since, Destination.valid_until <= now))
        rows = session.scalars(select(Seat.hotline_id).join(Destination, Destination.id == Seat.destination_id)
                               .where(Destination.status == WhitelistStatus.APPROVED.value, passed).distinct())
        return {int(r) for r in rows}

    def run(self, stop: Callable[[], bool], poll_interval: float = 0.2,
            on_step: Callable[[FollowStep], None] | None = None) -> None:
        """Poll until ``stop()`` is true. A failed poll is logged (at most every 30 s) and followed by a full
        deploy at the next tick, retried every tick until one succeeds: after a failure nothing is assumed
        about what AstDB holds."""
        logged = 0.0
        while not stop():
            try:
                step = self.poll()
            except Exception as exc:  # noqa: BLE001 - keep following; the next tick deploys in full
                if time.monotonic() - logged >= 30.0:
                    self.log.error("AstDB follower: poll failed (%s: %s); deploying in full at the next tick",
                                   type(exc).__name__, exc)
                    logged = time.monotonic()
                self.applied = None  # what AstDB holds is unknown now: never save() it, deploy in full
                self.dirty = False
                step = None
            if step is not None and step.kind != "none" and on_step is not None:
                on_step(step)
            time.sleep(poll_interval)
        if self.dirty:
            try:
                self.save()
            except Exception as exc:  # noqa: BLE001 - the next deploy resyncs (no marker)
                self.log.error("AstDB follower: could not save astdb.txt on the way out (%s)", exc)


def serialize(data: dict[str, str]) -> str:
    """The astdb.txt text of `data` (what the follower installs after an incremental write)."""
    return ("# ivr400/astdb.txt: written by `ivr400 deploy --follow`; the next deploy rewrites it.\n"
            + "".join(f"{k}\t{v}\n" for k, v in data.items()))
