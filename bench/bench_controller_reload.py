"""How fast a database edit reaches the controller at N hotlines: the incremental reload against a full one.

    python bench/bench_controller_reload.py                         # SQLite, 100,000 hotlines × 10 seats
    python bench/bench_controller_reload.py --hotlines 10000 --postgres postgresql://postgres@127.0.0.1:5432/postgres

The fixture is bench_render's (bulk-inserted through the real migrations and triggers), with menus (two
keys) on every `--menu-every`-th hotline (default: a tenth) and the other hotlines' seats all on the
switchboard. The controller's own configuration cache (`ivr400.controller.cache.ConfigCache`, polling every
200 ms as `ivr400 serve` does) loads it in full once; then each edit the issue names is committed through
the provisioning services — a seat moved to the top, a destination revoked, a new menu key with a seat, a
new hotline with a seat — and the benchmark measures, per edit, the time from the commit to the cache
serving a configuration with the edit (what the next call sees: poll wait + reload), the reload's own
time and how many hotlines it read, against the full load measured in the same run. It then checks that
the incrementally maintained configuration equals a full load of the same database, and prints the
resident memory of the process before and after the full load (the controller's cost of N hotlines).

Goals (issue 11): the controller's reload after an edit < 100 ms at 100,000 hotlines, and the edit live on
the next call in < 1 s. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_render import NOW, PostgresDatabase, populate, sqlite_engine  # noqa: E402

from ivr400.controller.cache import ConfigCache  # noqa: E402
from ivr400.controller.loader import LoadedConfig, load_config  # noqa: E402
from ivr400.db.models import Destination, Hotline, Seat  # noqa: E402
from ivr400.provisioning import destinations  # noqa: E402
from ivr400.provisioning.hotlines import add_hotline  # noqa: E402
from ivr400.provisioning.seats import add_department, add_seat, move_seat  # noqa: E402

Edit = Callable[[Session], str]


def rss_mib() -> float:
    """Resident set size of this process now, MiB (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def edits(hotlines: int, menu_every: int, round_no: int) -> list[tuple[str, Edit]]:
    """The four edits of the issue, each on its own hotline (different ones each round)."""
    def hotline(s: Session, hid: int) -> Hotline:
        row = s.get(Hotline, hid)
        assert row is not None
        return row

    base = hotlines // 2 + 10 * round_no

    def seat_order(s: Session) -> str:
        h = hotline(s, base + 1)
        last = s.scalars(select(Seat).where(Seat.hotline_id == h.id, Seat.department_id.is_(None))
                         .order_by(Seat.position.desc())).first()
        assert last is not None
        move_seat(s, last, position=1)
        return h.number

    def revoked(s: Session) -> str:
        h = hotline(s, base + 2)
        first = s.scalars(select(Seat).where(Seat.hotline_id == h.id).order_by(Seat.position)).first()
        assert first is not None
        dest = s.get(Destination, first.destination_id)
        assert dest is not None
        destinations.revoke(s, dest, reason="benchmark: number returned", now=NOW, actor="bench")
        return h.number

    def menu_key(s: Session) -> str:
        h = hotline(s, (base // menu_every + 1) * menu_every)  # one with a menu
        dept = add_department(s, h, "3", "投诉")
        seat = s.scalars(select(Seat).where(Seat.hotline_id == h.id).order_by(Seat.id)).first()
        assert seat is not None
        add_seat(s, h, s.get(Destination, seat.destination_id), department=dept, now=NOW)  # type: ignore[arg-type]
        return h.number

    def new_hotline(s: Session) -> str:
        owner = hotline(s, base + 4)
        h = add_hotline(s, f"4009{round_no:02d}{hotlines % 10000:04d}", owner.enterprise, now=NOW)
        seat = s.scalars(select(Seat).where(Seat.hotline_id == owner.id).order_by(Seat.id)).first()
        assert seat is not None
        add_seat(s, h, s.get(Destination, seat.destination_id), now=NOW)  # type: ignore[arg-type]
        return h.number

    return [("seat moved to the top", seat_order), ("destination revoked", revoked),
            ("new menu key with a seat", menu_key), ("new hotline with a seat", new_hotline)]


def project(config: LoadedConfig) -> tuple[dict[str, object], dict[str, str]]:
    return dict(config.hotlines), dict(config.skipped)


async def measure(engine, hotlines: int, menu_every: int, rounds: int) -> dict[str, list[float]]:  # noqa: ANN001
    cache = ConfigCache(engine, now=lambda: NOW, poll_interval=0.2)
    before = rss_mib()
    started = time.perf_counter()
    await cache.start()
    full_s = time.perf_counter() - started
    assert cache.config is not None
    after = rss_mib()
    full = cache.config
    print(f"  full load: {full.load_seconds * 1000:7.0f} ms ({len(full.hotlines):,} hotlines, "
          f"{sum(len(e.dials) for e in full.hotlines.values()):,} seats), first start {full_s:.2f} s; "
          f"RSS {before:.0f} -> {after:.0f} MiB (+{after - before:.0f} MiB)", flush=True)
    figures: dict[str, list[float]] = {"full_load_ms": [full.load_seconds * 1000]}
    try:
        for round_no in range(rounds):
            for name, edit in edits(hotlines, menu_every, round_no):
                previous = cache.config
                with Session(engine) as s:
                    number = edit(s)
                    s.commit()
                committed = time.perf_counter()
                while cache.config is previous:
                    await asyncio.sleep(0.002)
                live = (time.perf_counter() - committed) * 1000
                config = cache.config
                assert config is not None
                figures.setdefault(f"{name}: live after (ms)", []).append(live)
                figures.setdefault(f"{name}: reload (ms)", []).append(config.load_seconds * 1000)
                print(f"  round {round_no + 1}, {name:<26} on {number}: live on the next call after {live:6.0f} ms; "
                      f"reload {config.load_seconds * 1000:6.1f} ms reading {config.reloaded} hotline(s) "
                      f"({'incremental' if config.reloaded is not None else 'FULL'})", flush=True)
        forced = time.perf_counter()
        await cache.refresh(force=True)
        figures["full_load_ms"].append((time.perf_counter() - forced) * 1000)
        config = cache.config
        assert config is not None
        with Session(engine) as s:
            fresh = load_config(s, NOW)
        figures["full_load_ms"].append(fresh.load_seconds * 1000)
    finally:
        await cache.stop()
    return figures


async def check_equal(engine, hotlines: int, menu_every: int) -> bool:  # noqa: ANN001
    """One more round of edits applied incrementally; the result against a full load of the same rows."""
    cache = ConfigCache(engine, now=lambda: NOW, poll_interval=0.05)
    await cache.start()
    try:
        for _, edit in edits(hotlines, menu_every, 99):
            with Session(engine) as s:
                edit(s)
                s.commit()
            await cache.refresh()
        assert cache.config is not None
        with Session(engine) as s:
            return project(cache.config) == project(load_config(s, NOW))
    finally:
        await cache.stop()


def run(label: str, engine, args: argparse.Namespace, data_root: Path) -> None:  # noqa: ANN001
    fill = populate(engine, args.hotlines, args.seats, data_root, menu_every=args.menu_every)
    print(f"{label}: {args.hotlines:,} hotlines × {args.seats} seats, menus on every {args.menu_every}th; "
          f"filled in {fill:.0f} s", flush=True)
    figures = asyncio.run(measure(engine, args.hotlines, args.menu_every, args.rounds))
    full_ms = statistics.median(figures["full_load_ms"])
    print(f"  {label} summary (medians over {args.rounds} round(s); full load median {full_ms:.0f} ms of "
          f"{len(figures['full_load_ms'])}):")
    for key, values in figures.items():
        if key.endswith("reload (ms)"):
            med = statistics.median(values)
            goal = "OK" if med < 100 else "OVER"
            print(f"    {key:<42} {med:7.1f} ms  ({min(values):.1f}–{max(values):.1f}; "
                  f"{med / full_ms:.4f}× the full load)  goal < 100 ms: {goal}")
        elif key.endswith("live after (ms)"):
            med = statistics.median(values)
            print(f"    {key:<42} {med:7.0f} ms  ({min(values):.0f}–{max(values):.0f})  goal < 1000 ms: "
                  f"{'OK' if max(values) < 1000 else 'OVER'}")
    same = asyncio.run(check_equal(engine, args.hotlines, args.menu_every))
    print(f"  incremental configuration equals a full load of the same database: {'yes' if same else 'NO'}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hotlines", type=int, default=100_000)
    ap.add_argument("--seats", type=int, default=10)
    ap.add_argument("--menu-every", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the four edits")
    ap.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (a database of its own is created)")
    ap.add_argument("--pg-database", default="ivr400_bench_reload")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPU(s), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"Python {platform.python_version()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ivr400-bench-reload-") as tmpdir:
        tmp = Path(tmpdir)
        engine = sqlite_engine(tmp, "reload")
        try:
            run("sqlite", engine, args, tmp / "data")
        finally:
            engine.dispose()
        if args.postgres:
            db = PostgresDatabase(args.postgres, args.pg_database)
            engine = db.__enter__()
            try:
                run("postgresql", engine, args, tmp / "pgdata")
            finally:
                db.__exit__()
    return 0


if __name__ == "__main__":
    sys.exit(main())
