"""Fact rows and hourly roll-ups in the database, kept current in the transaction that stores a call record.

    apply_calls(session, calls)            # from cdr_store.upsert_calls: facts, roll-ups, the callback list
    record_survey_score(session, uniqueid, 4)   # the survey route's entry point (满意度评价)
    rebuild(session)                       # every fact and roll-up again from call_record

Besides the hourly roll-ups (call_hour), each call counts once in its caller's rows of call_caller (per hotline
and per department), and each counted fact notes the arrival of its caller's previous call to the hotline
(``prev_call_at``, a chain per hotline and caller ordered by arrival, then uniqueid): the repeat-callers report
reads both. A call's flag from the controller (``balance_flag``: routed at zero balance, choice ``keep``) is
copied onto its fact row and call record.

A call's fact is written once per change: the old fact's contribution is taken out of its roll-up rows and
the new one's added (see ivr400.cdr.metrics), so replaying CDRs any number of times changes nothing. The
thresholds of a hotline (T, A) and its tariff apply as they are when the call is written; a later change of
them applies to later calls (``rebuild`` recomputes the past with the settings of now).
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, literal, or_, select, text, union_all, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.selectable import CompoundSelect

from ivr400.cdr.cdr_model import CALLBACK_STATUSES, MISSED_DISPOSITIONS, Call
from ivr400.cdr.metrics import COUNT_FIELDS, Counts, Thresholds, contribution, derive_fact, fact_hour
from ivr400.db.models import (
    BalanceFlag,
    CallbackEntry,
    CallCaller,
    CallFact,
    CallHour,
    CallRecord,
    Hotline,
    HotlineAccount,
    SurveyResponse,
    WhitelistEvent,
)

__all__ = [
    "CALLBACK_STATUSES",
    "AccountSettings",
    "CallbackError",
    "account_settings",
    "apply_calls",
    "mark_called_back",
    "rebuild",
    "record_survey_score",
    "relink_all",
    "set_callback_status",
]

#: Actor of the callback entries the platform closes itself (the caller got through on a later call).
SYSTEM_ACTOR = "system"


class CallbackError(ValueError):
    """A callback list change refused: ``FIELD: reason``."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name


class AccountSettings:
    """A hotline's report settings as the fact writer needs them."""

    __slots__ = ("enterprise_id", "tariff_fen_per_min", "thresholds")

    def __init__(self, thresholds: Thresholds, tariff_fen_per_min: int, enterprise_id: int | None) -> None:
        self.thresholds = thresholds
        self.tariff_fen_per_min = tariff_fen_per_min
        self.enterprise_id = enterprise_id


_DEFAULT = AccountSettings(Thresholds(), 0, None)


def account_settings(session: Session, hotlines: Iterable[str | None]) -> dict[str, AccountSettings]:
    """Hotline number → its settings (defaults T=20, A=5, tariff 0 for a hotline without a hotline_account)."""
    numbers = sorted({h for h in hotlines if h})
    if not numbers:
        return {}
    stmt = (select(Hotline.number, Hotline.enterprise_id, HotlineAccount)
            .outerjoin(HotlineAccount, HotlineAccount.hotline_id == Hotline.id).where(Hotline.number.in_(numbers)))
    found: dict[str, AccountSettings] = {}
    for number, enterprise_id, acct in session.execute(stmt):
        if acct is None:
            found[number] = AccountSettings(Thresholds(), 0, enterprise_id)
        else:
            found[number] = AccountSettings(Thresholds(acct.service_level_s, acct.abandon_ignore_s),
                                            acct.tariff_fen_per_min, enterprise_id)
    return found


def _fact_values(row: CallFact) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ("uniqueid", "hotline", "caller", "caller_province", "caller_city",
                                                 "arrived_at", "ivr_done_at", "first_rung_at", "answered_at",
                                                 "ended_at", "disposition", "abandoned_in", "seat", "seats_rung",
                                                 "department", "key_path", "wait_s", "talk_s", "billed_min",
                                                 "charge_fen")}


def _rows_of(fact: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(dim, key, seat-or-None) of every roll-up row a fact counts in."""
    rows: list[tuple[str, str, str | None]] = [
        ("hotline", "", None),
        ("department", fact.get("department") or "", None),
        ("region", f"{fact.get('caller_province') or ''}|{fact.get('caller_city') or ''}", None),
        ("dept_region", f"{fact.get('department') or ''}|{fact.get('caller_province') or ''}|"
                        f"{fact.get('caller_city') or ''}"[:255], None),
    ]
    seats = set((fact.get("seats_rung") or "").split("&")) - {""}
    if fact.get("seat"):
        seats.add(fact["seat"])
    rows.extend(("seat", s[:255], s) for s in sorted(seats))
    return rows


def _counted(fact: dict[str, Any]) -> bool:
    return bool(fact.get("hotline")) and fact["disposition"] != "unknown_number"


Deltas = dict[tuple[datetime, str, str, str], Counts]
#: (hotline, dim, key, caller) → change of call_caller.calls
CallerDeltas = dict[tuple[str, str, str, str], int]


def _caller_rows(fact: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The call_caller rows (hotline, dim, key, caller) a fact counts in: none without a caller."""
    if not _counted(fact) or not fact.get("caller"):
        return []
    hotline, caller = fact["hotline"], fact["caller"]
    return [(hotline, "hotline", "", caller), (hotline, "department", fact.get("department") or "", caller)]


def _add(deltas: Deltas, fact: dict[str, Any], thresholds: Thresholds, survey: int | None, sign: int,
         callers: CallerDeltas | None = None) -> None:
    """Add (sign +1) or take out (-1) a fact's contribution to its roll-up rows, in `deltas` (written by _flush),
    and, with `callers`, to its per-caller rows (written by _flush_callers)."""
    if not _counted(fact):
        return
    if callers is not None:
        for row_key in _caller_rows(fact):
            callers[row_key] = callers.get(row_key, 0) + sign
    hour = fact_hour(fact["arrived_at"])
    for dim, key, seat in _rows_of(fact):
        delta = contribution(fact, thresholds, survey, seat=seat)
        pk = (hour, fact["hotline"], dim, key)
        deltas[pk] = deltas.get(pk, Counts()) + (delta if sign > 0 else -delta)


def _flush(session: Session, deltas: Deltas) -> None:
    """Apply summed deltas to call_hour: one INSERT .. ON CONFLICT DO UPDATE (counter = counter + delta) for all
    rows, so concurrent writers add up instead of overwriting each other."""
    rows = [{"hour": h, "hotline": hl, "dim": d, "key": k, **c.as_dict()} for (h, hl, d, k), c in deltas.items()
            if any(c.as_dict().values())]
    deltas.clear()
    if not rows:
        return
    stmt = _dialect_insert(session)(CallHour)
    stmt = stmt.on_conflict_do_update(
        index_elements=["hour", "hotline", "dim", "key"],
        set_={name: getattr(CallHour, name) + getattr(stmt.excluded, name) for name in COUNT_FIELDS},
    )
    rows.sort(key=lambda r: (r["hour"], r["hotline"], r["dim"], r["key"]))  # one lock order: no deadlocks
    session.execute(stmt, rows)


def _flush_callers(session: Session, callers: CallerDeltas) -> None:
    """Apply per-caller deltas to call_caller (calls = calls + delta, one statement), in one lock order."""
    rows = [{"hotline": h, "dim": d, "key": k, "caller": c, "calls": n}
            for (h, d, k, c), n in sorted(callers.items()) if n]
    callers.clear()
    if not rows:
        return
    stmt = _dialect_insert(session)(CallCaller)
    stmt = stmt.on_conflict_do_update(index_elements=["hotline", "dim", "key", "caller"],
                                      set_={"calls": CallCaller.calls + stmt.excluded.calls})
    session.execute(stmt, rows)


#: A counted fact's place in its chain (hotline, caller, arrived_at, uniqueid); None: in no chain.
Position = tuple[str, str, datetime, str]


def _position(fact: dict[str, Any] | None) -> Position | None:
    if fact is None or not _counted(fact) or not fact.get("caller"):
        return None
    return fact["hotline"], fact["caller"], fact["arrived_at"], fact["uniqueid"]


def _neighbours_stmt() -> Any:  # noqa: ANN401
    """SELECT (arrival of the fact before), (uniqueid of the fact after) a place (:h, :c, :t, :u) in a chain, the
    fact :u itself left out: two seeks of ix_call_fact_caller (hotline, caller, arrived_at) in one round trip."""
    h, c = bindparam("h", type_=CallFact.hotline.type), bindparam("c", type_=CallFact.caller.type)
    t, u = bindparam("t", type_=CallFact.arrived_at.type), bindparam("u", type_=CallFact.uniqueid.type)
    chain = and_(CallFact.hotline == h, CallFact.caller == c, CallFact.disposition != "unknown_number",
                 CallFact.uniqueid != u)
    before = (select(CallFact.arrived_at).where(chain, CallFact.arrived_at <= t,
                                                or_(CallFact.arrived_at < t, CallFact.uniqueid < u))
              .order_by(CallFact.arrived_at.desc(), CallFact.uniqueid.desc()).limit(1).scalar_subquery())
    after = (select(CallFact.uniqueid).where(chain, CallFact.arrived_at >= t,
                                             or_(CallFact.arrived_at > t, CallFact.uniqueid > u))
             .order_by(CallFact.arrived_at, CallFact.uniqueid).limit(1).scalar_subquery())
    return select(before, after)


_NEIGHBOURS = _neighbours_stmt()


def _neighbours(session: Session, pos: Position) -> tuple[datetime | None, str | None]:
    """(arrival of the fact before `pos` in its chain, uniqueid of the fact after it), as stored now; None where
    there is none."""
    before, after = session.execute(_NEIGHBOURS, {"h": pos[0], "c": pos[1], "t": pos[2], "u": pos[3]}).one()
    return before, after


def _relink(session: Session, moves: list[tuple[Position | None, Position | None]],
            rows: dict[str, CallFact]) -> None:
    """Keep prev_call_at true after facts were written (flushed): `moves` are (old, new) positions of the facts
    written, `rows` their ORM rows by uniqueid. A fact at a new place gets its predecessor's arrival and its
    successor gets the fact's; the successor of a place left gets that place's predecessor's (nothing lies
    between them). Reads the facts as stored, so a batch with several facts of one caller ends right whatever
    its order (a new place's values win over a left place's): one query per place, an UPDATE only for what
    changed."""
    prev: dict[str, datetime | None] = {}
    left: dict[str, datetime | None] = {}
    for old, new in moves:
        if old == new:
            continue
        if new is not None:
            prev[new[3]], after = _neighbours(session, new)
            if after is not None:
                prev[after] = new[2]
        elif old is not None:
            prev[old[3]] = None  # no longer counted: in no chain
        if old is not None:
            before, after = _neighbours(session, old)
            if after is not None:
                left[after] = before
    changes = []
    for uid, value in (left | prev).items():
        row = rows.get(uid)
        if row is not None:
            if row.prev_call_at == value:
                continue
            set_committed_value(row, "prev_call_at", value)
        changes.append({"u": uid, "p": value})
    if changes:
        table = CallFact.metadata.tables["call_fact"]
        session.execute(update(table).where(table.c.uniqueid == bindparam("u")).values(prev_call_at=bindparam("p")),
                        changes)


def relink_all(session: Session) -> None:
    """Set prev_call_at of every fact from scratch (what migration 0018 fills in): LAG over each chain."""
    session.flush()
    session.execute(update(CallFact).values(prev_call_at=None).where(CallFact.prev_call_at.is_not(None))
                    .execution_options(synchronize_session=False))
    session.execute(text(
        "UPDATE call_fact SET prev_call_at = chain.prev FROM ("
        "SELECT id, LAG(arrived_at) OVER (PARTITION BY hotline, caller ORDER BY arrived_at, uniqueid) AS prev "
        "FROM call_fact WHERE hotline IS NOT NULL AND caller IS NOT NULL AND disposition <> 'unknown_number'"
        ") AS chain WHERE call_fact.id = chain.id AND chain.prev IS NOT NULL"))


def _dialect_insert(session: Session) -> Any:  # noqa: ANN401
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - the two supported databases
        raise RuntimeError(f"database: {dialect} is not supported for roll-ups")
    module = "postgresql" if dialect == "postgresql" else "sqlite"
    return importlib.import_module(f"sqlalchemy.dialects.{module}").insert


def _audit(session: Session, entry: CallbackEntry, action: str, actor: str, now: datetime, enterprise_id: int | None,
           note: str | None, before: str | None) -> None:
    session.add(WhitelistEvent(
        action=action, actor=actor[:100], reason=note, at=now, enterprise_id=enterprise_id,
        detail={"callback_entry": entry.id, "hotline": entry.hotline, "caller": entry.caller,
                "from": before, "to": entry.status},
    ))


def _callbacks(session: Session, old: dict[str, Any] | None, new: dict[str, Any], enterprise_id: int | None) -> None:
    hotline, caller = new.get("hotline"), new.get("caller")
    if not hotline or not caller:
        return
    was_missed = old is not None and old["disposition"] in MISSED_DISPOSITIONS
    was_answered = old is not None and old["disposition"] == "answered"
    stmt = select(CallbackEntry).where(CallbackEntry.hotline == hotline, CallbackEntry.caller == caller,
                                       CallbackEntry.status == "pending")
    if new["disposition"] in MISSED_DISPOSITIONS and not was_missed:
        entry = session.scalars(stmt.order_by(CallbackEntry.id.desc()).limit(1)).first()
        when = new["arrived_at"]
        if entry is None:
            later = session.scalar(select(CallFact.id).where(
                CallFact.hotline == hotline, CallFact.caller == caller, CallFact.disposition == "answered",
                CallFact.arrived_at > when).limit(1))
            if later is None:  # a missed call replayed after the caller already got through needs no entry
                session.add(CallbackEntry(hotline=hotline, caller=caller, first_missed_at=when, last_missed_at=when,
                                          missed=1, last_uniqueid=new["uniqueid"], status="pending"))
        else:
            entry.missed += 1
            entry.first_missed_at = min(entry.first_missed_at, when)
            if when >= entry.last_missed_at:
                entry.last_missed_at, entry.last_uniqueid = when, new["uniqueid"]
    elif new["disposition"] == "answered" and not was_answered:
        for entry in session.scalars(stmt.where(CallbackEntry.last_missed_at < new["arrived_at"])):
            entry.status, entry.handled_by, entry.handled_at = "not_needed", SYSTEM_ACTOR, new["arrived_at"]
            entry.note = f"reached on answered call {new['uniqueid']}"
            _audit(session, entry, "callback_status", SYSTEM_ACTOR, new["arrived_at"], enterprise_id, entry.note,
                   "pending")


#: The calls' survey scores (满意度评价) and zero-balance flags (话费余额, score NULL), in one round trip.
_NOTED: CompoundSelect = union_all(
    select(SurveyResponse.uniqueid, SurveyResponse.score)
    .where(SurveyResponse.uniqueid.in_(bindparam("uids", expanding=True))),
    select(BalanceFlag.uniqueid, literal(None)).where(BalanceFlag.uniqueid.in_(bindparam("uids", expanding=True))))


def apply_calls(session: Session, calls: Iterable[Call],
                settings: dict[str, AccountSettings] | None = None, changed_ids: set[str] | None = None) -> int:
    """Write (or rewrite) the fact row of each call and move its roll-ups; flushes, no commit.

    A fact already stored keeps its hunt start and talk time when the new view lacks them (a call record read
    back from the database has none), the seats it rang (a view adds seats, never drops any) and, once charged,
    the tariff it was charged at. Returns the
    number of facts written or changed; their uniqueids are added to `changed_ids` when given.
    """
    calls = list(calls)
    if settings is None:
        settings = account_settings(session, (c.hotline for c in calls))
    uids = [c.uniqueid for c in calls]
    existing: dict[str, CallFact] = {}
    for i in range(0, len(uids), 500):
        existing.update({r.uniqueid: r for r in session.scalars(
            select(CallFact).where(CallFact.uniqueid.in_(uids[i:i + 500])))})
    # 满意度评价: the survey_saved hook stored the caller's score before the hangup that posts the call record;
    # 话费余额: the route hook noted a call routed at zero balance (keep) at call entry. One query for both.
    scores: dict[str, int] = {}
    flagged: set[str] = set()
    for i in range(0, len(uids), 500):
        for uid, score in session.execute(_NOTED, {"uids": uids[i:i + 500]}):
            if score is None:
                flagged.add(uid)
            else:
                scores[uid] = score
    changed = 0
    deltas: Deltas = {}
    callers: CallerDeltas = {}
    moves: list[tuple[Position | None, Position | None]] = []
    for call in calls:
        acct = settings.get(call.hotline or "", _DEFAULT)
        row = existing.get(call.uniqueid)
        old = _fact_values(row) if row is not None else None
        if old is not None:  # what a call record alone cannot say comes from the stored fact
            if call.hunt_at is None and old["first_rung_at"] is not None:
                call = _with(call, hunt_at=old["first_rung_at"])
            if call.seat_answered_at is None and old["first_rung_at"] is not None and old["answered_at"] is not None \
                    and call.disposition == "answered" and old["disposition"] == "answered":
                # a fact with the hunt's start came from the dialplan that also notes the seat's answer
                call = _with(call, seat_answered_at=old["answered_at"])
            if old["seats_rung"]:  # a partial view (one CDR leg of several) adds seats, never drops any
                known = tuple(old["seats_rung"].split("&"))
                if not set(known) <= set(call.seats_rung):
                    call = _with(call, seats_rung=known + tuple(x for x in call.seats_rung if x not in known))
        # A call already charged keeps the tariff it was charged at (replaying CDRs after a tariff change is not a
        # re-charge; `rebuild` is): only a call billed for the first time takes the tariff of now.
        tariff = old["charge_fen"] // old["billed_min"] if old is not None and old["billed_min"] else \
            acct.tariff_fen_per_min
        new = derive_fact(call, tariff)
        flag = call.uniqueid in flagged
        if old == new:
            if row is not None and flag and not row.balance_flagged:
                row.balance_flagged = True
                changed += 1
                if changed_ids is not None:
                    changed_ids.add(call.uniqueid)
            continue
        survey = row.survey_score if row is not None else None
        if old is not None and row is not None:
            _add(deltas, old, acct.thresholds, survey, -1, callers)
            for name, value in new.items():
                setattr(row, name, value)
        else:
            row = CallFact(**new)
            session.add(row)
            existing[call.uniqueid] = row
        survey = scores.get(call.uniqueid, survey)
        row.survey_score = survey
        if flag:
            row.balance_flagged = True
        moves.append((_position(old), _position(new)))
        _add(deltas, new, acct.thresholds, survey, +1, callers)
        _callbacks(session, old, new, acct.enterprise_id)
        changed += 1
        if changed_ids is not None:
            changed_ids.add(call.uniqueid)
    session.flush()
    _flush(session, deltas)
    _flush_callers(session, callers)
    # After the per-caller upserts: on PostgreSQL they hold the (hotline, caller) row until commit, so two
    # listeners writing calls of one caller link them one after the other, each seeing the other's fact.
    _relink(session, moves, existing)
    if flagged:  # the call record shows the flag too (rare: only hotlines at zero balance with keep)
        session.execute(update(CallRecord).where(CallRecord.uniqueid.in_(sorted(flagged)),
                                                 CallRecord.balance_flagged.is_(False))
                        .values(balance_flagged=True).execution_options(synchronize_session="fetch"))
    return changed


def _with(call: Call, **changes: Any) -> Call:  # noqa: ANN401
    from dataclasses import replace

    return replace(call, **changes)


def record_survey_score(session: Session, uniqueid: str, score: int | None) -> None:
    """Set (or clear, with None) the survey score (1–5) of a call's fact and move its roll-ups; flushes.

    Raises LookupError when the call has no fact row yet, ValueError('survey_score: ...') outside 1–5.
    """
    if score is not None and not 1 <= score <= 5:
        raise ValueError(f"survey_score: {score} is not 1 to 5")
    row = session.scalars(select(CallFact).where(CallFact.uniqueid == uniqueid)).first()
    if row is None:
        raise LookupError(f"uniqueid: no call fact {uniqueid!r}")
    acct = account_settings(session, [row.hotline]).get(row.hotline or "", _DEFAULT)
    fact = _fact_values(row)
    deltas: Deltas = {}
    _add(deltas, fact, acct.thresholds, row.survey_score, -1)
    row.survey_score = score
    _add(deltas, fact, acct.thresholds, score, +1)
    session.flush()
    _flush(session, deltas)


def set_callback_status(session: Session, entry_id: int, status: str, by: str, now: datetime,
                        note: str | None = None, *, enterprise_id: int | None = None) -> CallbackEntry:
    """Change a callback entry's status (pending | called_back | not_needed), with who and when; writes an audit
    row (action 'callback_status'). Raises CallbackError('status' | 'entry' | 'by' | 'note', reason)."""
    if status not in CALLBACK_STATUSES:
        raise CallbackError("status", f"{status!r} is not one of {', '.join(CALLBACK_STATUSES)}")
    if not by.strip():
        raise CallbackError("by", "who handled it is required")
    if note is not None and len(note) > 200:
        raise CallbackError("note", f"{len(note)} characters; at most 200")
    entry = session.get(CallbackEntry, entry_id)
    if entry is None:
        raise CallbackError("entry", f"no callback entry {entry_id}")
    before = entry.status
    entry.status = status
    entry.handled_by, entry.handled_at = (None, None) if status == "pending" else (by.strip(), now)
    entry.note = note
    if enterprise_id is None:
        enterprise_id = session.scalar(select(Hotline.enterprise_id).where(Hotline.number == entry.hotline))
    _audit(session, entry, "callback_status", by.strip(), now, enterprise_id, note, before)
    session.flush()
    return entry


def mark_called_back(session: Session, entry_id: int, by: str, now: datetime, note: str | None = None
                     ) -> CallbackEntry:
    """The click-to-call helper's entry point: the entry was called back (已回拨) by `by` at `now`."""
    return set_callback_status(session, entry_id, "called_back", by, now, note)


def rebuild(session: Session, *, batch: int = 2000) -> int:
    """Drop every fact and roll-up and derive them again from call_record (survey scores are kept, the
    callback list is kept as it is). Returns the number of facts written."""
    from ivr400.cdr.cdr_store import call_from_row

    scores = dict(session.execute(select(CallFact.uniqueid, CallFact.survey_score)
                                  .where(CallFact.survey_score.is_not(None))).tuples().all())
    extras = {r.uniqueid: r for r in session.scalars(select(CallFact))}
    kept = {uid: (r.first_rung_at, r.answered_at, r.seats_rung, r.disposition) for uid, r in extras.items()}
    session.execute(delete(CallHour))
    session.execute(delete(CallCaller))
    session.execute(delete(CallFact))
    session.flush()
    session.expunge_all()
    settings = account_settings(session, session.scalars(select(Hotline.number)))
    written = 0
    offset = 0
    deltas: Deltas = {}
    callers: CallerDeltas = {}
    while True:
        rows = list(session.scalars(select(CallRecord).order_by(CallRecord.id).offset(offset).limit(batch)))
        if not rows:
            break
        offset += len(rows)
        calls = []
        for r in rows:
            call = call_from_row(r)
            prior = kept.get(r.uniqueid)
            if prior is not None:
                hunt, answered, rung, disposition = prior
                seat_answer = answered if (hunt is not None and disposition == "answered"
                                           and call.disposition == "answered") else None
                call = _with(call, hunt_at=hunt, seat_answered_at=seat_answer,
                             seats_rung=tuple((rung or "").split("&")) if rung else ())
            calls.append(call)
        for call, record in zip(calls, rows, strict=True):
            acct = settings.get(call.hotline or "", _DEFAULT)
            fact = derive_fact(call, acct.tariff_fen_per_min)
            score = scores.get(call.uniqueid)
            session.add(CallFact(**fact, survey_score=score, balance_flagged=record.balance_flagged))
            _add(deltas, fact, acct.thresholds, score, +1, callers)
            written += 1
        session.flush()
    _flush(session, deltas)
    _flush_callers(session, callers)
    relink_all(session)
    return written
