"""The hotlines' data in Asterisk's database (AstDB): what a deploy writes, in which order, and checking it.

The rendered plan (ivr400.render.asterisk) keeps every hotline's data out of the dialplan text, in
``ivr400/astdb.txt`` (``<key><TAB><value>`` lines, family ``ivr400``; dialplans/asterisk/_hotline.j2). A deploy
installs that file and brings AstDB to the same content through AMI (DBPut/DBDel): a data change costs a few
writes and no ``dialplan reload``. AstDB is Asterisk's own SQLite file, so the data survives an Asterisk restart
and needs neither the controller nor ivr400's database to route a call (the fail-safe).

Which keys: a deploy reads back what AstDB really holds (``database show ivr400``) and writes the difference,
so a key changed, added or removed behind ivr400's back (by hand, by another tool, a wiped astdb.sqlite3) is
put right by the next deploy, and a resync never empties the family: calls keep finding every hotline while
it runs. The installed file is the record of what was written; AstDB's marker key ``deployed`` holds its
sha256, written last by every sync (`full` in the report when AstDB did not hold the installed file before).
Only when AstDB cannot be read is the family cleared and written again.

In which order (:func:`plan_sync`, pure), so that no call ever dials a seat the new data no longer binds and a
new hotline's first call finds all of its data:

1. the seats bound to each department (``h/<n>/b<id>``), removed ones first: the hunt engine reads them before
   every Dial;
2. the settings of hotlines that are gone (``h/<n>/s``): no new call enters them;
3. everything else written (hunt lists, menus), then everything else removed;
4. the settings of new or changed hotlines; then the marker.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr400.pbx.asterisk.ami import AmiError, AmiLike
from ivr400.pbx.asterisk.dialplan_variables import ASTDB_FAMILY

#: The marker key: sha256 of the astdb.txt whose content AstDB holds.
MARKER = "deployed"
#: The follower's key: a token it writes at its start and reads at every poll (gone: AstDB was wiped).
FOLLOWER = "follower"

_MARKS = re.compile(r"^h/[0-9]+/b[0-9]+$")
_SETTINGS = re.compile(r"^h/[0-9]+/s$")


def digest(text: str | bytes | None) -> str:
    """sha256 hex of an astdb.txt text ("" for none)."""
    if text is None:
        return ""
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


@dataclass(frozen=True)
class SyncPlan:
    """The AMI writes bringing AstDB from one content to another, in order: `deletes` go before `puts` within
    each step (see the module docstring), so they are kept as one ordered list of steps."""

    steps: tuple[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], ...]
    clear: bool = False

    @property
    def writes(self) -> int:
        return sum(len(d) + len(p) for d, p in self.steps)

    @property
    def deleted(self) -> int:
        return sum(len(d) for d, _ in self.steps)

    @property
    def put(self) -> int:
        return sum(len(p) for _, p in self.steps)


def plan_sync(old: Mapping[str, str] | None, new: Mapping[str, str]) -> SyncPlan:
    """The writes taking AstDB from `old` (None: unknown, so clear it and write everything) to `new`."""
    clear = old is None
    before: Mapping[str, str] = {} if old is None else old
    gone = [k for k in before if k not in new]
    changed = [(k, v) for k, v in new.items() if before.get(k) != v]
    steps: list[tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = [
        (tuple(k for k in gone if _MARKS.match(k)), tuple((k, v) for k, v in changed if _MARKS.match(k))),
        (tuple(k for k in gone if _SETTINGS.match(k)), ()),
        ((), tuple((k, v) for k, v in changed if not _MARKS.match(k) and not _SETTINGS.match(k))),
        (tuple(k for k in gone if not _MARKS.match(k) and not _SETTINGS.match(k)), ()),
        ((), tuple((k, v) for k, v in changed if _SETTINGS.match(k))),
    ]
    return SyncPlan(steps=tuple(s for s in steps if s[0] or s[1]), clear=clear)


@dataclass
class SyncReport:
    """What a sync did: `full` when AstDB did not hold the installed file (cleared and rewritten)."""

    full: bool = False
    put: int = 0
    deleted: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def read_marker(conn: AmiLike, key: str = MARKER) -> str:
    """The marker (or another bookkeeping key) AstDB holds ("" when none), through the CLI's ``database get``."""
    try:
        out = conn.command(f"database get {ASTDB_FAMILY} {key}")
    except AmiError:
        return ""
    m = re.search(r"^Value:\s*([0-9a-f]{32,64})\s*$", out, re.MULTILINE)
    return m.group(1) if m else ""


def read_all(conn: AmiLike) -> dict[str, str] | None:
    """Every data key of the family and its value as AstDB holds them now (bookkeeping keys, those without a
    ``/`` — MARKER, FOLLOWER — left out), from the CLI's
    ``database show`` (``%-50s: %-25s`` per key: our keys and values hold no blank, so both are stripped);
    None when it cannot be read."""
    try:
        out = conn.command(f"database show {ASTDB_FAMILY}", timeout=600)
    except AmiError:
        return None
    prefix = f"/{ASTDB_FAMILY}/"
    data: dict[str, str] = {}
    for line in out.splitlines():
        if not line.startswith(prefix):
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            return None
        key = key.rstrip()[len(prefix):]
        if "/" in key:
            data[key] = value.rstrip()
    return data


def sync(conn: AmiLike, installed: Mapping[str, str] | None, installed_text: str | bytes | None,
         wanted: Mapping[str, str], wanted_text: str) -> SyncReport:
    """Bring AstDB to `wanted`: the difference from what it really holds (read back), else from `installed`
    (the astdb.txt on disk, parsed, and its text) when the marker says AstDB holds it, else cleared and written.
    `full` in the report when AstDB did not hold the installed file.

    Raises AmiError when a write is refused or AMI fails (the marker is then not written, so the next deploy
    resyncs)."""
    started = time.monotonic()
    holds_installed = installed is not None and read_marker(conn) == digest(installed_text)
    actual = read_all(conn)
    plan = plan_sync(actual if actual is not None else installed if holds_installed else None, wanted)
    report = SyncReport(full=not holds_installed, put=plan.put, deleted=plan.deleted)
    if not holds_installed:
        conn.db_write(ASTDB_FAMILY, [], [MARKER])  # none while AstDB and the file may differ
    first = True
    for deletes, puts in plan.steps:
        conn.db_write(ASTDB_FAMILY, list(puts), list(deletes), clear=plan.clear and first)
        first = False
    if plan.clear and first:  # nothing to write at all, but the family must still be emptied
        conn.db_write(ASTDB_FAMILY, [], [], clear=True)
    conn.db_write(ASTDB_FAMILY, [(MARKER, digest(wanted_text))])
    report.seconds = time.monotonic() - started
    return report


def check(conn: AmiLike, wanted_text: str) -> list[str]:
    """Problems with AstDB after a sync: the marker must name `wanted_text` (written only after every key)."""
    marker = read_marker(conn)
    if marker != digest(wanted_text):
        return [f"AstDB {ASTDB_FAMILY}/{MARKER} is {marker[:12] or 'missing'}, not the deployed data's "
                f"{digest(wanted_text)[:12]}"]
    return []
