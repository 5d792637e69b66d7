"""Benchmark: load + render the Asterisk include files for N hotlines × M seats.

    python bench/bench_render.py                        # SQLite, 10,000 × 20, baseline 1,000 × 20
    python bench/bench_render.py --hotlines 2000 --baseline 200
    python bench/bench_render.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

The fixture is bulk-inserted (no services), but through the real migrations: the seat triggers that
refuse non-whitelisted destinations run for every seat, so destinations are inserted pending, each gets
a carrier bill (the database refuses an approval without one), then all are approved in one UPDATE.
Each hotline: its own enterprise, 2 menu keys (1: round robin, 2: simultaneous), seats split between
the switchboard and the two departments; every 10th hotline has a ringback tone.

PostgreSQL: the fixture goes into a database of its own (default ivr400_bench, created and dropped
by this script); the server's other databases and schemas are never touched.
Prints figures; asserts nothing (the goal is < 10 s for 10,000 × 20).
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, insert, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.db.models import Department, Destination, Enterprise, Evidence, Hotline, Seat, Tone
from ivr400.render.asterisk import render_model
from ivr400.render.load import load_model

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
BILL = {"issuer": "telecom", "shows_number": True, "shows_owner": True}
CHUNK = 2000  # rows per INSERT (SQLite allows 32,766 bind parameters per statement)


def _chunks(rows: list[dict], size: int = CHUNK) -> Iterator[list[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def populate(engine, hotlines: int, seats: int, data_root: Path, menu_every: int = 1) -> float:  # noqa: ANN001
    """Bulk-insert the fixture; return seconds spent. Hotlines whose id is not a multiple of `menu_every`
    have no menu: all their seats on the switchboard (bench_controller_reload: menus on a tenth)."""
    started = time.perf_counter()
    (data_root / "tones").mkdir(parents=True, exist_ok=True)
    tone_file = data_root / "tones" / ("0" * 64 + ".wav")
    tone_file.write_bytes(b"RIFF")
    postgres = engine.dialect.name == "postgresql"
    sb = max(1, seats // 5)
    d1 = (seats - sb) // 2
    with Session(engine) as session:
        session.execute(insert(Tone), [{
            "id": 1, "enterprise_id": None, "name": "bench-ringback", "kind": "ringback", "original_name": "r.wav",
            "sha256": "0" * 64, "stored_path": f"tones/{'0' * 64}.wav", "duration_s": 1.0, "created_at": NOW,
            "status": "approved"}])
        ents, hls, depts, dests, bills, seat_rows = [], [], [], [], [], []
        for h in range(1, hotlines + 1):
            ents.append({"id": h, "name": f"企业{h}有限公司", "name_key": f"e{h}", "area_code": "010",
                         "created_at": NOW})
            hls.append({"id": h, "number": f"400{h:07d}", "carrier": "telecom", "enterprise_id": h,
                        "name": f"热线{h}", "max_bound": max(20, seats), "active": True, "hunt_strategy": "sequential",
                        "max_attempts": 0, "menu_timeout_s": 5, "menu_retries": 3, "voicemail": True,
                        "record_calls": False, "created_at": NOW, "ringback_tone_id": 1 if h % 10 == 0 else None})
            menu = h % menu_every == 0
            if menu:
                depts.append({"id": 2 * h - 1, "hotline_id": h, "parent_id": None, "key": "1", "name": "销售部",
                              "hunt_strategy": "round_robin", "max_attempts": 3})
                depts.append({"id": 2 * h, "hotline_id": h, "parent_id": None, "key": "2", "name": "售后服务部",
                              "hunt_strategy": "simultaneous", "max_attempts": 0})
            for s in range(seats):
                did = (h - 1) * seats + s + 1
                dests.append({"id": did, "enterprise_id": h, "number": f"010{60000000 + did:08d}"[:11],
                              "kind": "landline", "area_code": "010", "owner_name": f"企业{h}有限公司",
                              "owner_kind": "company", "status": "pending", "long_term": True,
                              "created_at": NOW})
                bills.append({"destination_id": did, "kind": "carrier_bill", "original_name": "bill.png",
                              "media_type": "image/png", "size": 1, "sha256": "0" * 64,
                              "stored_path": "evidence/00/bill", "attributes": BILL, "long_term": False,
                              "created_at": NOW})
                if s < sb or not menu:
                    dept, pos = None, s + 1
                elif s < sb + d1:
                    dept, pos = 2 * h - 1, s - sb + 1
                else:
                    dept, pos = 2 * h, s - sb - d1 + 1
                seat_rows.append({"hotline_id": h, "department_id": dept, "destination_id": did, "position": pos,
                                  "ring_timeout_s": 15 + (s % 3) * 5, "created_at": NOW})
        for model, rows in ((Enterprise, ents), (Hotline, hls), (Department, depts), (Destination, dests),
                            (Evidence, bills), (Seat, seat_rows)):
            if model is Seat:
                session.execute(update(Destination).values(status="approved", approved_at=NOW, approved_by="bench"))
                session.commit()
                analyze(session)  # the seat trigger's lookups need statistics on PostgreSQL
            for chunk in _chunks(rows):
                if postgres:
                    # One multi-row INSERT per chunk (psycopg's executemany sends a statement per row, and
                    # statement-level triggers fire per statement).
                    session.execute(insert(model.__table__).values(chunk))
                else:
                    session.execute(insert(model.__table__), chunk)  # sqlite3 executemany: fastest there
            session.commit()
        analyze(session)
    return time.perf_counter() - started


def analyze(session: Session) -> None:
    """PostgreSQL plans from statistics; a freshly bulk-filled table has none until autovacuum runs."""
    if session.get_bind().dialect.name == "postgresql":
        session.commit()
        session.execute(text("ANALYZE"))
        session.commit()


def measure(engine, data_root: Path, *, memory: bool) -> dict[str, float]:  # noqa: ANN001
    gc.collect()
    if memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    with Session(engine) as session:
        model = load_model(session, NOW)
    t1 = time.perf_counter()
    cfg = render_model(model, data_root=data_root)
    t2 = time.perf_counter()
    out = {"load_s": t1 - t0, "render_s": t2 - t1, "total_s": t2 - t0,
           "bytes": sum(len(v.encode()) for v in cfg.files.values()), "contexts": len(cfg.contexts),
           "hotlines": len(model.hotlines), "seats": sum(len(d.targets) for h in model.hotlines for d in h.hunts()),
           "warnings": len(cfg.warnings)}
    if memory:
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def sqlite_engine(tmp: Path, name: str):  # noqa: ANN201
    engine = make_engine(f"sqlite:///{tmp / name}.db")
    upgrade(engine)
    return engine


class PostgresDatabase:
    """A database of our own on the server at `url` (created fresh, dropped at the end)."""

    def __init__(self, url: str, name: str) -> None:
        self.admin_url = make_url(url).set(drivername="postgresql+psycopg")
        self.name = name
        self.url = self.admin_url.set(database=name)

    def __enter__(self):  # noqa: ANN204
        self._admin("DROP DATABASE IF EXISTS {name}")
        self._admin("CREATE DATABASE {name}")
        engine = make_engine(self.url.render_as_string(hide_password=False))
        upgrade(engine)
        self.engine = engine
        return engine

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()
        self._admin("DROP DATABASE IF EXISTS {name}")

    def _admin(self, sql: str) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        try:
            with admin.connect() as conn:
                conn.execute(text(sql.format(name=self.name)))
        finally:
            admin.dispose()


def run(label: str, make, hotlines: int, seats: int, data_root: Path, repeat: int) -> dict[str, float]:  # noqa: ANN001
    engine = make()
    try:
        fill = populate(engine, hotlines, seats, data_root)
        runs = [measure(engine, data_root, memory=False) for _ in range(repeat)]
        best = min(runs, key=lambda r: r["total_s"])
        mem = measure(engine, data_root, memory=True)
    finally:
        engine.dispose()
    best["traced_peak_mb"] = mem["traced_peak_mb"]
    best["fill_s"] = fill
    print(f"{label:<30} {hotlines:>6} × {seats:<3} fill {fill:6.1f} s | load {best['load_s']:6.2f} s "
          f"render {best['render_s']:6.2f} s total {best['total_s']:6.2f} s | "
          f"{best['bytes'] / 2**20:6.1f} MiB, {best['contexts']} contexts, {best['seats']} seats rendered | "
          f"traced peak {best['traced_peak_mb']:6.0f} MiB", flush=True)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hotlines", type=int, default=10_000)
    ap.add_argument("--seats", type=int, default=20)
    ap.add_argument("--baseline", type=int, default=1_000, help="hotlines in the baseline run (0: none)")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per size (best is reported)")
    ap.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (a database of its own is created)")
    ap.add_argument("--pg-database", default="ivr400_bench")
    args = ap.parse_args(argv)

    print(f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
          f"{os.cpu_count()} CPU(s) "
          f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable), "
          f"Python {platform.python_version()}")
    sizes = ([args.baseline] if args.baseline else []) + [args.hotlines]
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ivr400-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for n in sizes:
            results[("sqlite", n)] = run("sqlite", lambda n=n: sqlite_engine(tmp, f"bench{n}"), n, args.seats,
                                         tmp / f"data{n}", args.repeat)
        if args.postgres:
            for n in sizes:
                db = PostgresDatabase(args.postgres, args.pg_database)
                engine = db.__enter__()
                try:
                    results[("postgresql", n)] = run("postgresql", lambda engine=engine: engine, n, args.seats,
                                                     tmp / f"pgdata{n}", args.repeat)
                finally:
                    db.__exit__()
    print(f"max RSS of this process: {maxrss_mb():.0f} MiB (includes the fixtures)")
    if args.baseline:
        for backend in ("sqlite", "postgresql"):
            base, big = results.get((backend, args.baseline)), results.get((backend, args.hotlines))
            if base and big:
                ratio = big["total_s"] / base["total_s"]
                print(f"{backend}: {args.hotlines} / {args.baseline} hotlines = {args.hotlines / args.baseline:.0f}× "
                      f"the data, {ratio:.1f}× the time (load {big['load_s'] / base['load_s']:.1f}×, "
                      f"render {big['render_s'] / base['render_s']:.1f}×)")
    for (backend, n), r in results.items():
        if n == args.hotlines:
            verdict = "OK" if r["total_s"] < 10 else "OVER"
            print(f"{backend}: goal < 10 s for {n} × {args.seats}: {r['total_s']:.2f} s {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
