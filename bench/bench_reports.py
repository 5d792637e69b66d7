"""Reports at scale: every report's time on N calls over 90 days, and what keeping the roll-ups current costs.

    python bench/bench_reports.py [--calls 1000000] [--days 90] [--postgres URL | --no-postgres] [--incremental 400]
                                  [--runs 1]

For each database (a fresh SQLite file; a private schema in PostgreSQL, dropped afterwards): N fact rows (each
with its caller's previous call to the hotline, prev_call_at) and their hourly and per-caller roll-ups are
generated with bulk inserts (3 hotlines, 4 departments each, 8 seats per department, callers from a pool of N/4
numbers over 30 regions, a day curve peaking at 10:00 and 15:00), then each report is run over the whole range
for one hotline and for all three, and repeat callers also over the last 30, 7 and 1 days, best of 3 (goal:
under 1 s each). Then the cost of a call's end: --incremental calls written one transaction each as (a) the
fact row alone (the baseline), (b) the fact row with its roll-ups (hourly, the per-caller call_caller rows the
repeat-callers report walks, the previous-call link it reads for shorter ranges) and the callback list
(ivr400.cdr.fact_store.apply_calls, what the CDR listener does); ms per call and the ratio b/a.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr400.cdr.cdr_model import Call  # noqa: E402
from ivr400.cdr.fact_store import apply_calls  # noqa: E402
from ivr400.cdr.metrics import COUNT_FIELDS, Counts, Thresholds, contribution, derive_fact, fact_hour  # noqa: E402
from ivr400.cdr.reports import (  # noqa: E402
    ReportFilter,
    departments,
    heatmap,
    regions,
    repeat_callers,
    seats,
    summary,
    traffic,
)
from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.db.migrate import upgrade  # noqa: E402
from ivr400.db.models import CallCaller, CallFact, CallHour  # noqa: E402

PG_URL = os.environ.get("IVR400_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HOTLINES = ["4008000001", "4008000002", "4008000003"]
REGIONS = [(p, c) for p, cs in {
    "广东": ["广州", "深圳", "东莞", "佛山"], "北京": ["北京"], "上海": ["上海"], "浙江": ["杭州", "宁波", "温州"],
    "江苏": ["南京", "苏州", "无锡"], "山东": ["济南", "青岛"], "四川": ["成都"], "湖北": ["武汉"], "河南": ["郑州"],
    "福建": ["福州", "厦门"], "湖南": ["长沙"], "河北": ["石家庄"], "陕西": ["西安"], "辽宁": ["沈阳", "大连"],
    "安徽": ["合肥"], "重庆": ["重庆"], "天津": ["天津"], "云南": ["昆明"], "广西": ["南宁"], "": [""],
}.items() for c in cs]
TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 30, 16, tzinfo=timezone.utc)  # local midnight


def _hour_weights() -> list[float]:
    curve = [0.2] * 8 + [1.5, 3.0, 4.0, 3.5, 2.0, 2.5, 3.5, 4.0, 3.0, 2.0, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2]
    return curve


def generate(n: int, days: int, seed: int = 7) -> tuple[list[dict[str, Any]], dict[tuple, Counts]]:
    """N fact rows (as dicts) and their roll-ups summed in memory."""
    rnd = random.Random(seed)
    start_day = END - timedelta(days=days)
    weights = _hour_weights()
    callers = [f"13{rnd.randrange(10**9):09d}" for _ in range(max(1, n // 4))]
    regions_of = {c: REGIONS[rnd.randrange(len(REGIONS))] for c in callers}
    t = Thresholds()
    facts: list[dict[str, Any]] = []
    hours: dict[tuple, Counts] = {}
    local_hours = rnd.choices(range(24), weights=weights, k=n)
    for i in range(n):
        hotline = HOTLINES[i % 3]
        day = rnd.randrange(days)
        local = (start_day.astimezone(TZ) + timedelta(days=day)).replace(hour=local_hours[i], minute=0, second=0)
        arrived = local.astimezone(timezone.utc) + timedelta(seconds=rnd.randrange(3600))
        caller = callers[rnd.randrange(len(callers))]
        province, city = regions_of[caller]
        dept = str(1 + rnd.randrange(4))
        seat_pool = [f"PJSIP/0106{hotline[-1]}{dept}{k:05d}@out" for k in range(8)]
        hunt = arrived + timedelta(seconds=rnd.randrange(5, 25))
        r = rnd.random()
        rung = tuple(sorted(rnd.sample(seat_pool, rnd.randrange(1, 3))))
        if r < 0.78:
            wait = rnd.expovariate(1 / 12)
            talk = rnd.expovariate(1 / 150)
            ended = hunt + timedelta(seconds=wait + talk)
            call = Call(uniqueid=f"b{i}", linkedid=f"b{i}", started_at=arrived, disposition="answered", hotline=hotline,
                        caller=caller, caller_province=province or None, caller_city=city or None, ended_at=ended,
                        department=dept, seat=rung[0], hunt_at=hunt,
                        seat_answered_at=hunt + timedelta(seconds=wait), seats_rung=rung,
                        key_path=dept)
        elif r < 0.88:
            ended = hunt + timedelta(seconds=rnd.expovariate(1 / 15))
            call = Call(uniqueid=f"b{i}", linkedid=f"b{i}", started_at=arrived, disposition="abandoned",
                        hotline=hotline, caller=caller, caller_province=province or None, caller_city=city or None,
                        ended_at=ended, department=dept, hunt_at=hunt, seats_rung=rung, key_path=dept)
        elif r < 0.93:
            call = Call(uniqueid=f"b{i}", linkedid=f"b{i}", started_at=arrived, disposition="abandoned",
                        hotline=hotline, caller=caller, caller_province=province or None, caller_city=city or None,
                        ended_at=arrived + timedelta(seconds=rnd.randrange(3, 30)))
        else:
            call = Call(uniqueid=f"b{i}", linkedid=f"b{i}", started_at=arrived,
                        disposition=rnd.choice(["noanswer", "busy", "voicemail"]), hotline=hotline, caller=caller,
                        caller_province=province or None, caller_city=city or None,
                        ended_at=hunt + timedelta(seconds=30), department=dept, hunt_at=hunt, seats_rung=rung,
                        key_path=dept)
        fact = derive_fact(call, 12)
        facts.append(fact)
        hour = fact_hour(arrived)
        keys: list[tuple[str, str, str | None]] = [
            ("hotline", "", None), ("department", dept if call.department else "", None),
            ("region", f"{province}|{city}", None), ("dept_region", f"{dept}|{province}|{city}", None)]
        keys += [("seat", s, s) for s in set(rung) | ({fact["seat"]} if fact["seat"] else set())]
        for dim, key, seat in keys:
            k = (hour, hotline, dim, key)
            hours[k] = hours.get(k, Counts()) + contribution(fact, t, seat=seat)
    # prev_call_at, as ivr400.cdr.fact_store keeps it: the caller's previous call to the hotline (ties by uniqueid)
    last: dict[tuple[str, str], datetime] = {}
    for fact in sorted(facts, key=lambda x: (x["hotline"], x["caller"], x["arrived_at"], x["uniqueid"])):
        pair = (fact["hotline"], fact["caller"])
        fact["prev_call_at"] = last.get(pair)
        last[pair] = fact["arrived_at"]
    return facts, hours


def load(engine: Engine, facts: list[dict[str, Any]], hours: dict[tuple, Counts], chunk: int = 20000) -> float:
    t0 = time.perf_counter()
    with Session(engine) as s, s.begin():
        for i in range(0, len(facts), chunk):
            s.execute(insert(CallFact), facts[i:i + chunk])
        rows = [{"hour": h, "hotline": hl, "dim": d, "key": k, **c.as_dict()} for (h, hl, d, k), c in hours.items()]
        for i in range(0, len(rows), chunk):
            s.execute(insert(CallHour), rows[i:i + chunk])
        per_caller: Counter[tuple[str, str, str, str]] = Counter()  # call_caller, as fact_store keeps it
        for fact in facts:
            per_caller[(fact["hotline"], "hotline", "", fact["caller"])] += 1
            per_caller[(fact["hotline"], "department", fact["department"] or "", fact["caller"])] += 1
        rows = [{"hotline": h, "dim": d, "key": k, "caller": c, "calls": n} for (h, d, k, c), n in per_caller.items()]
        for i in range(0, len(rows), chunk):
            s.execute(insert(CallCaller), rows[i:i + chunk])
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def best_of(fn: Callable[[], Any], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_reports(engine: Engine, days: int) -> list[tuple[str, float, float]]:
    start = END - timedelta(days=days)
    one = ReportFilter(hotlines=[HOTLINES[0]], start=start, end=END, tz=TZ)
    every = ReportFilter(hotlines=None, start=start, end=END, tz=TZ)
    dept = ReportFilter(hotlines=[HOTLINES[0]], start=start, end=END, tz=TZ, department="2")
    reports: list[tuple[str, Callable[[Session, ReportFilter], Any]]] = [
        ("traffic by hour", lambda s, f: traffic(s, f, "hour")),
        ("traffic by day", lambda s, f: traffic(s, f, "day")),
        ("traffic by week", lambda s, f: traffic(s, f, "week")),
        ("traffic by month", lambda s, f: traffic(s, f, "month")),
        ("summary (service level, abandon rate, ASA, talk)", summary),
        ("heatmap hour x weekday", heatmap),
        ("regions (province and city ranked)", regions),
        ("seats", seats),
        ("departments", departments),
        ("repeat callers", lambda s, f: repeat_callers(s, f, 2, 100)),
    ]
    out = []
    with Session(engine) as s:
        for name, fn in reports:
            out.append((name, best_of(lambda fn=fn: fn(s, one)), best_of(lambda fn=fn: fn(s, every))))
        out.append(("regions, one department", best_of(lambda: regions(s, dept)), float("nan")))
        out.append(("repeat callers, one department", best_of(lambda: repeat_callers(s, dept, 2, 100)),
                    float("nan")))
        for span in (30, 7, 1):  # shorter ranges: a looser bound for the walk, or few enough facts to group
            short = [ReportFilter(hotlines=h, start=END - timedelta(days=span), end=END, tz=TZ)
                     for h in ([HOTLINES[0]], None)]
            out.append((f"repeat callers, last {span} days", best_of(lambda f=short[0]: repeat_callers(s, f, 2, 100)),
                        best_of(lambda f=short[1]: repeat_callers(s, f, 2, 100))))
    return out


def incremental(engine: Engine, k: int, seed: int = 11) -> tuple[float, float]:
    """ms per call: the fact row alone, and the fact with roll-ups and callbacks (one transaction per call)."""
    rnd = random.Random(seed)
    base = END - timedelta(days=1)

    def calls(prefix: str) -> list[Call]:
        out = []
        for i in range(k):
            arrived = base + timedelta(seconds=rnd.randrange(86400))
            hunt = arrived + timedelta(seconds=10)
            disp = "answered" if rnd.random() < 0.8 else "noanswer"
            out.append(Call(uniqueid=f"{prefix}{i}", linkedid=f"{prefix}{i}", started_at=arrived, disposition=disp,
                            hotline=HOTLINES[i % 3], caller=f"139{rnd.randrange(10**8):08d}", caller_province="广东",
                            caller_city="深圳", ended_at=hunt + timedelta(seconds=90), department="1",
                            seat="PJSIP/x@out" if disp == "answered" else None, hunt_at=hunt,
                            seat_answered_at=hunt if disp == "answered" else None, seats_rung=("PJSIP/x@out",),
                            key_path="1"))
        return out

    plain, full = calls(f"p{seed}-"), calls(f"f{seed}-")  # fresh uniqueids per run
    times_plain, times_full = [], []
    for a, b in zip(plain, full, strict=True):  # interleaved, so other load on the machine hits both
        t0 = time.perf_counter()
        with Session(engine) as s, s.begin():
            s.add(CallFact(**derive_fact(a, 12)))
        times_plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with Session(engine) as s, s.begin():
            apply_calls(s, [b])
        times_full.append(time.perf_counter() - t0)
    return statistics.median(times_plain) * 1000, statistics.median(times_full) * 1000


def bench(label: str, engine: Engine, facts: list[dict[str, Any]], hours: dict[tuple, Counts], days: int,
          k: int, runs: int = 1) -> None:
    upgrade(engine)
    loaded = load(engine, facts, hours)
    print(f"\n== {label}: {len(facts):,} calls, {len(hours):,} roll-up rows, loaded in {loaded:.1f} s")
    for run in range(1, runs + 1):  # runs on the same loaded data: the load dominates the wall time
        print(f"-- run {run} of {runs} (load average {_load()})")
        print(f"{'report (90 days, best of 3)':<52} {'1 hotline':>10} {'3 hotlines':>11}  goal < 1 s")
        for name, one, every in run_reports(engine, days):
            flag = "ok" if max(one, every if every == every else 0) < 1 else "SLOW"
            every_s = "-" if every != every else f"{every * 1000:.0f} ms"
            print(f"{name:<52} {one * 1000:>7.0f} ms {every_s:>11}  {flag}", flush=True)
        _call_end(engine, k, run)


def _load() -> str:
    """The machine's 1, 5 and 15 min load averages, as uptime prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _call_end(engine: Engine, k: int, run: int) -> None:
    plain, full = incremental(engine, k, seed=11 + run)
    print(f"(load average {_load()})")
    print(f"call end, fact row alone (baseline):     {plain:.2f} ms/call (median of {k})")
    print(f"call end, fact + roll-ups (hour, caller) + callbacks: {full:.2f} ms/call; ratio {full / plain:.2f}x, "
          f"+{full - plain:.2f} ms per call")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--incremental", type=int, default=400)
    ap.add_argument("--postgres", default=PG_URL)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--runs", type=int, default=1, help="Measure the reports and a call's end this many times.")
    args = ap.parse_args()
    t0 = time.perf_counter()
    facts, hours = generate(args.calls, args.days)
    print(f"generated {len(facts):,} calls over {args.days} days in {time.perf_counter() - t0:.1f} s "
          f"({len(COUNT_FIELDS)} counters per roll-up row)")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            try:
                bench("SQLite", engine, facts, hours, args.days, args.incremental, args.runs)
            finally:
                engine.dispose()
    if not args.no_postgres:
        schema = f"bench_reports_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.postgres)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.postgres else "?"
        engine = make_engine(f"{args.postgres}{sep}options=-csearch_path%3D{schema}")
        try:
            bench(f"PostgreSQL (schema {schema})", engine, facts, hours, args.days, args.incremental, args.runs)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
