"""Reports (统计报表) read from the hourly roll-ups (call_hour), so their cost follows hours, not calls.

    f = ReportFilter(hotlines=["4008001234"], start=..., end=..., tz=ZoneInfo("Asia/Shanghai"))
    traffic(session, f, "day")      # [{"period": "2026-11-26", "offered": .., "service_level": .., ...}]
    heatmap(session, f)             # {"weekdays": [...], "hours": [0..23], "cells": [[weekday, hour, offered]]}
    regions(session, f)             # callers by province and city, ranked
    seats(session, f); departments(session, f); repeat_callers(session, f)   # the last via call_caller

Periods are in the filter's zone (the enterprise's): an hour row (a UTC hour) falls in the local day, week
(ISO, from Monday), month or weekday of its local start; zones whose offset is not whole hours would split
an hour across two local days, and the row goes to its start's. `start`/`end` are aware datetimes
(end exclusive); the measures follow ivr400.cdr.metrics and docs/reports.md.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from ivr400.cdr.metrics import COUNT_FIELDS, Counts, measures
from ivr400.db.models import CallCaller, CallFact, CallHour, Department, Hotline

__all__ = [
    "BUCKETS",
    "REPORTS",
    "ReportFilter",
    "departments",
    "heatmap",
    "known_filter",
    "regions",
    "repeat_callers",
    "repeat_from_chain",
    "repeat_from_facts",
    "repeat_from_rollup",
    "seats",
    "summary",
    "traffic",
]

BUCKETS = ("hour", "day", "week", "month")
#: Report names (CLI subcommands and web tables).
REPORTS = ("traffic", "heatmap", "regions", "service", "seats", "departments", "repeat")
_FLOAT_FIELDS = frozenset({"wait_sum_s", "talk_sum_s"})
WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")


@dataclass(frozen=True)
class ReportFilter:
    """What a report covers: hotline numbers (None = all; an empty list = none, e.g. an enterprise without
    hotlines), [start, end) as aware datetimes (None = open), one department path, the zone periods are in."""

    hotlines: Sequence[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    department: str | None = None
    tz: tzinfo = field(default=timezone.utc)


def known_filter(session: Session, hotline: str | None, department: str | None) -> str | None:
    """Why a report filter names nothing, else None: ``"hotline: no hotline 4009999999"`` when `hotline` is neither
    a hotline nor in any counted call; ``"department: no department 9 …"`` when `department` (a key path) is not
    a department of the hotline (of any hotline without one) now and no counted call went to it."""
    if hotline is not None:
        exists = session.scalar(select(Hotline.id).where(Hotline.number == hotline).limit(1))
        if exists is None and session.scalar(select(CallHour.hour).where(CallHour.hotline == hotline).limit(1)) is None:
            return f"hotline: no hotline {hotline}"
    if department is None:
        return None
    counted = select(CallHour.hour).where(CallHour.dim == "department", CallHour.key == department)
    rows = select(Department.id, Department.parent_id, Department.key)
    if hotline is not None:
        counted = counted.where(CallHour.hotline == hotline)
        rows = rows.join(Hotline, Hotline.id == Department.hotline_id).where(Hotline.number == hotline)
    if session.scalar(counted.limit(1)) is not None:
        return None
    tree = {ident: (parent, key) for ident, parent, key in session.execute(rows)}

    def path(ident: int) -> str:
        parent, key = tree[ident]
        return key if parent is None or parent not in tree else f"{path(parent)}.{key}"

    if department in {path(ident) for ident in tree}:
        return None
    return f"department: no department {department}" + (f" on {hotline}" if hotline else "")


def _sums(f: ReportFilter, dim: str, *group: Any, key: str | None = None) -> Select[Any]:  # noqa: ANN401
    """SELECT group columns, SUM(counter) for every counter FROM call_hour for `dim` within the filter,
    GROUP BY the group columns: the database adds, Python reads a few rows."""
    stmt = select(*group, *[func.sum(getattr(CallHour, name)) for name in COUNT_FIELDS]).where(CallHour.dim == dim)
    if f.hotlines is not None:
        stmt = stmt.where(CallHour.hotline.in_(list(f.hotlines) or [""]))
    if f.start is not None:
        stmt = stmt.where(CallHour.hour >= f.start.astimezone(timezone.utc).replace(minute=0, second=0,
                                                                                     microsecond=0))
    if f.end is not None:
        stmt = stmt.where(CallHour.hour < f.end)
    if key is not None:
        stmt = stmt.where(CallHour.key == key)
    return stmt.group_by(*group) if group else stmt


def _read(session: Session, stmt: Select[Any], ngroup: int) -> list[tuple[tuple[Any, ...], Counts]]:
    out = []
    for row in session.execute(stmt):
        values = row[ngroup:]
        if values[0] is None:  # no rows at all
            continue
        c = Counts()
        for name, v in zip(COUNT_FIELDS, values, strict=True):
            setattr(c, name, float(v) if name in _FLOAT_FIELDS else int(v))
        out.append((tuple(row[:ngroup]), c))
    return out


def _totals(session: Session, f: ReportFilter, *group: Any) -> list[tuple[tuple[Any, ...], Counts]]:  # noqa: ANN401
    """Whole-call totals grouped by `group`: the hotline rows, or the department's rows with a department filter."""
    if f.department is not None:
        return _read(session, _sums(f, "department", *group, key=f.department), len(group))
    return _read(session, _sums(f, "hotline", *group), len(group))


def _hour_of(value: Any) -> datetime:  # noqa: ANN401
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _period(hour: datetime, tz: tzinfo, bucket: str) -> str:
    local = hour.astimezone(tz)
    if bucket == "hour":
        return local.strftime("%Y-%m-%d %H:00")
    if bucket == "day":
        return local.strftime("%Y-%m-%d")
    if bucket == "week":
        monday = local.date() - timedelta(days=local.weekday())
        return f"{monday.isoformat()} (W{local.isocalendar()[1]:02d})"
    if bucket == "month":
        return local.strftime("%Y-%m")
    raise ValueError(f"bucket: {bucket!r} is not one of {', '.join(BUCKETS)}")


def traffic(session: Session, f: ReportFilter, bucket: str = "day") -> list[dict[str, Any]]:
    """Calls per local hour/day/week/month with every measure (traffic curve, service level and abandon rate over
    time), oldest first. Raises ValueError('bucket: ...') for an unknown bucket."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket: {bucket!r} is not one of {', '.join(BUCKETS)}")
    sums: dict[str, Counts] = {}
    for (hour,), c in _totals(session, f, CallHour.hour):
        period = _period(_hour_of(hour), f.tz, bucket)
        sums[period] = sums.get(period, Counts()) + c
    return [{"period": p, **measures(c)} for p, c in sorted(sums.items())]


def summary(session: Session, f: ReportFilter) -> dict[str, Any]:
    """Every measure over the whole filter."""
    return measures(Counts.sum(c for _, c in _totals(session, f)))


def heatmap(session: Session, f: ReportFilter) -> dict[str, Any]:
    """Calls offered per local weekday (0 = Monday) × hour (通话热力图): cells [weekday, hour, offered]."""
    grid = [[0] * 24 for _ in range(7)]
    for (hour,), c in _totals(session, f, CallHour.hour):
        local = _hour_of(hour).astimezone(f.tz)
        grid[local.weekday()][local.hour] += c.offered
    cells = [[d, h, grid[d][h]] for d in range(7) for h in range(24)]
    return {"weekdays": [f"周{w}" for w in WEEKDAYS], "hours": list(range(24)), "cells": cells,
            "max": max((c[2] for c in cells), default=0)}


def _split_region(key: str) -> tuple[str, str]:
    province, _, city = key.partition("|")
    return province, city


def regions(session: Session, f: ReportFilter) -> dict[str, list[dict[str, Any]]]:
    """Callers by province and by city (来电地区分析), most calls first: {"provinces": [...], "cities": [...]}.
    Unknown regions are '未知'. With a department filter, from the department × region roll-ups."""
    by_city: dict[tuple[str, str], list[int]] = {}
    if f.department is None:
        stmt = _sums(f, "region", CallHour.key)
    else:
        prefix = f"{f.department}|"
        stmt = _sums(f, "dept_region", CallHour.key).where(CallHour.key.startswith(prefix, autoescape=True))
    for (key,), c in _read(session, stmt, 1):
        if f.department is not None:
            key = key.split("|", 1)[1]
        province, city = _split_region(key)
        acc = by_city.setdefault((province, city), [0, 0])
        acc[0] += c.offered
        acc[1] += c.answered
    provinces: dict[str, list[int]] = {}
    for (province, _city), (offered, answered) in by_city.items():
        acc = provinces.setdefault(province, [0, 0])
        acc[0] += offered
        acc[1] += answered
    total = sum(v[0] for v in provinces.values()) or 1

    def rank(items: Iterable[tuple[Any, list[int]]], make: Any) -> list[dict[str, Any]]:  # noqa: ANN401
        ordered = sorted(items, key=lambda kv: (-kv[1][0], str(kv[0])))
        return [{"rank": i + 1, **make(k), "calls": v[0], "answered": v[1], "share": round(v[0] / total, 4)}
                for i, (k, v) in enumerate(ordered) if v[0] > 0]

    return {
        "provinces": rank(provinces.items(), lambda p: {"province": p or "未知"}),
        "cities": rank(by_city.items(), lambda pc: {"province": pc[0] or "未知", "city": pc[1] or "未知"}),
    }


def _int_type() -> Any:  # noqa: ANN401
    from sqlalchemy import Integer

    return Integer()


def _fact_where(stmt: Select[Any], f: ReportFilter) -> Select[Any]:
    if f.hotlines is not None:
        stmt = stmt.where(CallFact.hotline.in_(list(f.hotlines) or [""]))
    if f.start is not None:
        stmt = stmt.where(CallFact.arrived_at >= f.start)
    if f.end is not None:
        stmt = stmt.where(CallFact.arrived_at < f.end)
    if f.department is not None:
        stmt = stmt.where(CallFact.department == f.department)
    return stmt


def _by_key(session: Session, f: ReportFilter, dim: str) -> dict[tuple[str, str], Counts]:
    return {(h, k): c for (h, k), c in _read(session, _sums(f, dim, CallHour.hotline, CallHour.key), 2)}


def seats(session: Session, f: ReportFilter) -> list[dict[str, Any]]:
    """Per seat (坐席统计): offered (rung), answered, missed, average ring time before answering (s), talk time
    (total and average, s), satisfaction (average survey score); most offered first."""
    out = []
    for (hotline, seat), c in _by_key(session, f, "seat").items():
        m = measures(c)
        out.append({"hotline": hotline, "seat": seat, "offered": c.offered, "answered": c.answered,
                    "missed": c.offered - c.answered, "avg_ring_s": m["asa_s"], "talk_s": round(c.talk_sum_s, 1),
                    "avg_talk_s": m["avg_talk_s"], "satisfaction": m["satisfaction"],
                    "surveys": c.survey_count})
    return sorted(out, key=lambda r: (-r["offered"], r["hotline"], r["seat"]))


def departments(session: Session, f: ReportFilter) -> list[dict[str, Any]]:
    """Per department (部门统计, '' = the switchboard) with every measure; most offered first."""
    out = [{"hotline": h, "department": key or "(总机)", **measures(c)}
           for (h, key), c in _by_key(session, f, "department").items()
           if f.department is None or key == f.department]
    return sorted(out, key=lambda r: (-r["offered"], r["hotline"], r["department"]))


#: Below this many calls in the range (read from the hourly roll-ups) the fact rows are grouped directly.
REPEAT_DIRECT_MAX = 20_000
#: Candidates the per-caller walk may look at before it gives up and groups the fact rows.
REPEAT_WALK_MAX = 20_000
#: Grouped fact rows that cost about as much as one candidate of the walk (measured: bench/bench_reports.py).
REPEAT_FACTS_PER_CANDIDATE = 12
#: A range with at least this share of the hotlines' calls (all time) walks the per-caller roll-up first (the
#: callers' totals are then a tight bound); a smaller one reads the previous-call chain (measured:
#: bench/bench_reports.py, 1,000,000 calls over 90 days: the walk wins only over most of the data).
REPEAT_WALK_SHARE = 0.8


def _offered(session: Session, f: ReportFilter) -> tuple[int, int, list[str]]:
    """(calls in the filter's range, calls of all time, the hotlines that had calls) of its hotlines (or
    department) by the hourly roll-ups."""
    in_range: Any = CallHour.offered
    if f.start is not None or f.end is not None:
        conditions = []
        if f.start is not None:
            conditions.append(CallHour.hour >= f.start.astimezone(timezone.utc).replace(minute=0, second=0,
                                                                                          microsecond=0))
        if f.end is not None:
            conditions.append(CallHour.hour < f.end)
        in_range = case((and_(*conditions), CallHour.offered), else_=0)
    dim, key = ("hotline", None) if f.department is None else ("department", f.department)
    stmt = (select(CallHour.hotline, func.sum(in_range), func.sum(CallHour.offered)).where(CallHour.dim == dim)
            .group_by(CallHour.hotline).order_by(CallHour.hotline))
    if key is not None:
        stmt = stmt.where(CallHour.key == key)
    if f.hotlines is not None:
        stmt = stmt.where(CallHour.hotline.in_(list(f.hotlines) or [""]))
    rows = session.execute(stmt).all()
    return (sum(int(r[1] or 0) for r in rows), sum(int(r[2] or 0) for r in rows),
            [r[0] for r in rows if r[2]])


def repeat_callers(session: Session, f: ReportFilter, min_calls: int = 2, limit: int = 100) -> list[dict[str, Any]]:
    """Callers who called at least `min_calls` times in the range (重复来电), most calls first (then caller,
    hotline): their calls, answered ones, first and last call (aware UTC), region of their last call.

    Counts the calls with a hotline and a caller (not `unknown_number`). Three paths, the same answer, chosen
    by the hourly roll-ups' count of the calls in the range: a range with less than REPEAT_WALK_SHARE of the
    hotlines' calls reads the previous-call chain (:func:`repeat_from_chain`: the calls of returning callers
    only); otherwise, or with a department filter or `min_calls` < 2, a range with few calls
    (≤ REPEAT_DIRECT_MAX) groups its fact rows, and a larger one walks the per-caller roll-up (call_caller: each
    caller's calls in all, an upper bound of its calls in any range) from the most calls down, counts the
    candidates' facts in the range exactly, and stops when no caller left can reach the list; a walk that
    looked at more than estimate / REPEAT_FACTS_PER_CANDIDATE candidates (at least 2,000, at most
    REPEAT_WALK_MAX) gives up for the chain, or for grouping the facts where the chain cannot answer."""
    if f.hotlines is not None and not f.hotlines:
        return []
    chain = f.department is None and min_calls >= 2
    estimate, whole, hotlines = _offered(session, f)
    rows = None
    if chain and estimate < REPEAT_WALK_SHARE * whole:
        rows = repeat_from_chain(session, f, min_calls, limit, hotlines=hotlines)
    elif estimate > REPEAT_DIRECT_MAX:
        # A candidate costs about as much as REPEAT_FACTS_PER_CANDIDATE grouped facts: the walk gives up
        # before it has cost more than grouping the range would.
        budget = max(2000, estimate // REPEAT_FACTS_PER_CANDIDATE)
        rows = _repeat_walk(session, f, min_calls, limit, min(budget, REPEAT_WALK_MAX))
        if rows is None and chain:
            rows = repeat_from_chain(session, f, min_calls, limit, hotlines=hotlines)
    if rows is None:
        rows = repeat_from_facts(session, f, min_calls, limit)
    _regions_of(session, rows)
    return rows


def repeat_from_chain(session: Session, f: ReportFilter, min_calls: int = 2, limit: int = 100, *,
                      hotlines: Sequence[str] | None = None) -> list[dict[str, Any]] | None:
    """Repeat callers from the calls of returning callers only (no region): a caller's calls in [start, end) are
    F, R2 .. Rn in arrival order, and exactly R2 .. Rn have a previous call (prev_call_at) at or after `start`,
    so the callers with such calls in the range are the repeat callers and their calls there the count of them
    + 1, their first call the earliest prev_call_at. Reads the partial index ix_call_fact_repeat (hotline,
    arrival, previous call, caller of the facts with a previous call) one hotline after the other: `hotlines`
    (those of the filter that had calls), or the filter's, or every hotline of the hourly roll-ups; then the
    answered calls of the listed callers. None with a department filter (the chain is per hotline) or
    `min_calls` < 2."""
    if f.department is not None or min_calls < 2:
        return None
    if hotlines is None:
        hotlines = f.hotlines if f.hotlines is not None else session.scalars(
            select(CallHour.hotline).where(CallHour.dim == "hotline").distinct()).all()
    if not hotlines:
        return []
    n = func.count() + 1
    stmt = (select(CallFact.hotline, CallFact.caller, n, func.min(CallFact.prev_call_at), func.max(CallFact.arrived_at))
            .where(CallFact.prev_call_at.is_not(None)))
    stmt = stmt.where(CallFact.hotline.in_(list(hotlines)))
    if f.start is not None:
        stmt = stmt.where(CallFact.arrived_at >= f.start, CallFact.prev_call_at >= f.start)
    if f.end is not None:
        stmt = stmt.where(CallFact.arrived_at < f.end)
    stmt = (stmt.group_by(CallFact.hotline, CallFact.caller).having(n >= min_calls)
            .order_by(n.desc(), CallFact.caller, CallFact.hotline).limit(limit))
    rows = [_row(hotline, caller, calls, 0, first, last)
            for hotline, caller, calls, first, last in session.execute(stmt)]
    by_hotline: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_hotline.setdefault(r["hotline"], []).append(r)
    for hotline, listed in by_hotline.items():  # answered: the listed callers' facts in the range (ix_call_fact_caller)
        for i in range(0, len(listed), 500):
            chunk = {r["caller"]: r for r in listed[i:i + 500]}
            answered = (select(CallFact.caller, func.count())
                        .where(CallFact.hotline == hotline, CallFact.caller.in_(list(chunk)),
                               CallFact.disposition == "answered").group_by(CallFact.caller))
            for caller, count in session.execute(_fact_where(answered, f)):
                chunk[caller]["answered"] = int(count)
    return rows


def _counted_facts(stmt: Select[Any]) -> Select[Any]:
    return stmt.where(CallFact.caller.is_not(None), CallFact.hotline.is_not(None),
                      CallFact.disposition != "unknown_number")


def _answered() -> Any:  # noqa: ANN401
    return func.sum((CallFact.disposition == "answered").cast(_int_type()))


def _row(hotline: str, caller: str, n: Any, ans: Any, first: Any, last: Any) -> dict[str, Any]:  # noqa: ANN401
    return {"hotline": hotline, "caller": caller, "calls": int(n), "answered": int(ans or 0),
            "first_call": _aware(first), "last_call": _aware(last), "province": None, "city": None}


def _order(r: dict[str, Any]) -> tuple[int, str, str]:
    return -r["calls"], r["caller"], r["hotline"]


def repeat_from_facts(session: Session, f: ReportFilter, min_calls: int = 2, limit: int = 100
                      ) -> list[dict[str, Any]]:
    """Repeat callers by grouping the fact rows of the range (no region): the reference the roll-up walk must
    agree with, and the path for a range with few calls."""
    stmt = (select(CallFact.hotline, CallFact.caller, func.count().label("n"), _answered(),
                   func.min(CallFact.arrived_at), func.max(CallFact.arrived_at))
            .group_by(CallFact.hotline, CallFact.caller)
            .having(func.count() >= min_calls)
            .order_by(func.count().desc(), CallFact.caller, CallFact.hotline).limit(limit))
    return [_row(*r) for r in session.execute(_fact_where(_counted_facts(stmt), f))]


def repeat_from_rollup(session: Session, f: ReportFilter, min_calls: int = 2, limit: int = 100,
                       walk_max: int | None = None) -> list[dict[str, Any]] | None:
    """Repeat callers by walking call_caller from the most calls down (no region); None when more than
    `walk_max` candidates (default REPEAT_WALK_MAX) had to be looked at."""
    return _repeat_walk(session, f, min_calls, limit, REPEAT_WALK_MAX if walk_max is None else walk_max)


def _repeat_walk(session: Session, f: ReportFilter, min_calls: int, limit: int,
                 walk_max: int = REPEAT_WALK_MAX) -> list[dict[str, Any]] | None:
    dim, key = ("hotline", "") if f.department is None else ("department", f.department)
    base = select(CallCaller.hotline, CallCaller.caller).where(CallCaller.dim == dim, CallCaller.key == key)
    top = select(func.max(CallCaller.calls)).where(CallCaller.dim == dim, CallCaller.key == key)
    if f.hotlines is not None:
        base = base.where(CallCaller.hotline.in_(list(f.hotlines)))
        top = top.where(CallCaller.hotline.in_(list(f.hotlines)))
    found: list[dict[str, Any]] = []
    seen = 0
    level = session.scalar(top)
    while level is not None and level >= min_calls:
        if len(found) >= limit and level < found[limit - 1]["calls"]:
            break  # nobody left can reach the list: a caller's calls in the range are at most its calls in all
        by_hotline: dict[str, list[str]] = {}
        for hotline, caller in session.execute(base.where(CallCaller.calls == level)):
            by_hotline.setdefault(hotline, []).append(caller)
            seen += 1
        if seen > walk_max:
            return None
        for hotline, numbers in sorted(by_hotline.items()):
            for i in range(0, len(numbers), 500):  # one index range per caller: (hotline, caller, arrived_at)
                stmt = (select(CallFact.hotline, CallFact.caller, func.count(), _answered(),
                               func.min(CallFact.arrived_at), func.max(CallFact.arrived_at))
                        .where(CallFact.hotline == hotline, CallFact.caller.in_(numbers[i:i + 500]))
                        .group_by(CallFact.hotline, CallFact.caller).having(func.count() >= min_calls))
                found.extend(_row(*r) for r in session.execute(_fact_where(_counted_facts(stmt), f)))
        found.sort(key=_order)
        del found[limit:]
        level = session.scalar(top.where(CallCaller.calls < level))
    return found


def _regions_of(session: Session, rows: list[dict[str, Any]]) -> None:
    for r in rows:  # the region of the listed callers only
        region = session.execute(select(CallFact.caller_province, CallFact.caller_city)
                                 .where(CallFact.hotline == r["hotline"], CallFact.caller == r["caller"])
                                 .order_by(CallFact.arrived_at.desc()).limit(1)).first()
        if region is not None:
            r["province"], r["city"] = region


def _aware(value: Any) -> datetime | None:  # noqa: ANN401
    """An aggregate (min/max) skips the column type: naive UTC (or text on SQLite) → aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
