"""The database of record under load: call records from both nodes, and a PostgreSQL restart.

Same carrier as test_failover.py (IVR400_CLUSTER_RATE calls/s for IVR400_CLUSTER_SECONDS, each held 2 s, in turn
to a hotline on node2 and one on node3). The cluster lab runs a PostgreSQL of its own (127.0.0.6:5432, see
conftest.py) and one `ivr400 cdr listen` per node, so these tests may stop the database and kill a listener.

Every call is counted three ways: by sipp (placed, failed), by each node (`calls processed`), and by the rows
in ``call_record`` (with the node that stored them): the rows of a run must be exactly the calls the nodes
processed, once each.
"""
from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.models import CallRecord
from ivr400.lab.cluster import ClusterLab

from .conftest import ON_NODE2, ON_NODE3, PROXY
from .load import CarrierLoad, LoadReport
from .test_failover import HOLD_MS, RATE, SECONDS

pytestmark = [pytest.mark.pbx, pytest.mark.postgres, pytest.mark.slow]


def _metric(host: str, name: str) -> float:
    """The sum of metric `name` (all labels) of the controller on `host` (its /metrics on port 9400)."""
    with urllib.request.urlopen(f"http://{host}:9400/metrics", timeout=5) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((name + " ", name + "{")))


def _rows(engine: Engine) -> dict[str, list[tuple[str, str | None]]]:
    """{node: [(uniqueid, hotline), ...]} of every call record (node "" when none)."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    with Session(engine) as s:
        for uid, hotline, node in s.execute(select(CallRecord.uniqueid, CallRecord.hotline, CallRecord.node)):
            out.setdefault(node or "", []).append((uid, hotline))
    return out


def _count(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(CallRecord)).scalar_one())


Rows = dict[str, list[tuple[str, str | None]]]


def _new_rows(engine: Engine, before: Rows) -> Rows:
    now = _rows(engine)
    return {node: [r for r in rows if r not in set(before.get(node, []))] for node, rows in now.items()}


def _settle(engine: Engine, expected: int, timeout: float = 60.0) -> tuple[int, float]:
    """Wait until the table holds `expected` rows (the listeners flush 0.5 s after a call; the CSV backfill runs
    every 5 s) and stays so for 6 s (one more backfill: a late double would show); (rows, seconds until the
    count first reached `expected`)."""
    t0 = time.monotonic()
    stable_since: float | None = None
    reached: float | None = None
    last = -1
    while time.monotonic() - t0 < timeout:
        n = _count(engine)
        if n >= expected and reached is None:
            reached = time.monotonic() - t0
        if n != last:
            last, stable_since = n, time.monotonic()
        elif n >= expected and stable_since is not None and time.monotonic() - stable_since >= 6:
            break
        time.sleep(0.2)
    return last, reached if reached is not None else time.monotonic() - t0


def _quiet(engine: Engine) -> None:
    """Wait until the rows of an earlier test are all in (no change for 6 s: one CSV backfill interval)."""
    _settle(engine, 0)


def _load(tmp_path: Path, name: str, rate: float = RATE, seconds: float = SECONDS) -> CarrierLoad:
    return CarrierLoad(PROXY, [ON_NODE2, ON_NODE3], rate=rate, calls=int(rate * seconds), workdir=tmp_path / name,
                       hold_ms=HOLD_MS)


def _processed(cl: ClusterLab) -> dict[str, int]:
    return {n.name: cl.calls_processed(n.name) for n in cl.nodes}


def _check_once_each(cl: ClusterLab, report: LoadReport, new: dict[str, list[tuple[str, str | None]]],
                     processed: dict[str, int]) -> None:
    """Each node's new rows are exactly its processed calls, each prefixed by its systemname; the hotlines are
    the ones sipp called, as many times as it called them."""
    for node in ("node2", "node3"):
        rows = new.get(node, [])
        assert len(rows) == processed[node], (node, len(rows), processed[node])
        assert all(uid.startswith(f"{node}-") for uid, _ in rows), rows[:3]
    assert not new.get(""), f"rows without a node: {new.get('')[:3]}"
    hotlines = sorted(h or "" for rows in new.values() for _, h in rows)
    called = sorted(c.called for c in report.calls)
    assert hotlines == called


def test_call_records_of_both_nodes_land_once_each(cluster: ClusterLab, tmp_path: Path) -> None:
    cl = cluster
    engine = make_engine(cl.database_url)
    try:
        _quiet(engine)
        before, start = _rows(engine), _processed(cl)
        rate, seconds = min(RATE, 10.0), 10.0
        with _load(tmp_path, "records", rate, seconds) as load:
            load.wait(timeout=seconds + 60)
        report = load.report()
        processed = {k: v - start[k] for k, v in _processed(cl).items()}
        expected = sum(len(v) for v in before.values()) + report.placed
        total, waited = _settle(engine, expected)
        new = _new_rows(engine, before)
    finally:
        engine.dispose()
    print()
    print(report.figures(f"call records of both nodes, {rate:g} calls/s for {seconds:g} s"))
    print(f"  processed: {processed}; new call records per node: "
          f"{ {k: len(v) for k, v in sorted(new.items())} } (all stored {waited:.1f} s after the last call ended)")
    assert report.placed == report.asked and not report.failed, load.errors()
    assert processed["node2"] > 0 and processed["node3"] > 0
    assert sum(processed.values()) == report.placed
    assert total == expected
    _check_once_each(cl, report, new, processed)


def test_restart_postgres_under_load(cluster: ClusterLab, tmp_path: Path) -> None:
    """PostgreSQL stops for a third of the run, then starts again: no call fails (the controllers decide from
    their cache), every call record is stored once (node2's listener holds its calls in memory and writes them
    once the database is back; node3's listener is killed meanwhile and its calls come back from node3's CSV)."""
    cl = cluster
    engine = make_engine(cl.database_url)
    down_s = max(5.0, SECONDS * 0.3)
    try:
        _quiet(engine)
        before, start = _rows(engine), _processed(cl)
        failures_before = {c.host: _metric(c.host, "ivr400_config_poll_failures_total") for c in cl.controllers}
        handoffs_before = sum(_metric(c.host, "ivr400_static_plan_handoffs_total") for c in cl.controllers)
        stats_before = cl.listener_stats("node2")
        with _load(tmp_path, "restart-postgres") as load:
            time.sleep(SECONDS * 0.3)
            stopped = load.mark("postgres stopped")
            cl.stop_database()
            stop_took = time.time() - stopped
            time.sleep(down_s / 2)
            cl.kill_listener("node3")  # its calls in memory are lost: the CSV has them
            time.sleep(down_s / 2)
            held = cl.listener_stats("node2")
            restarted = load.mark("postgres started")
            cl.start_database()
            start_took = time.time() - restarted
            t_back = time.monotonic()
            recovered: float | None = None
            polling: float | None = None
            while time.monotonic() - t_back < 30 and (recovered is None or polling is None):
                st = cl.listener_stats("node2")
                if recovered is None and not st.get("store_failing") and int(st.get("buffered_written", 0)) > 0:
                    recovered = time.monotonic() - t_back
                if polling is None and all(_metric(c.host, "ivr400_config_last_poll_age_seconds") < 0.5
                                           for c in cl.controllers):
                    polling = time.monotonic() - t_back
                time.sleep(0.1)
            cl.start_listener("node3")
            load.mark("node3's listener back")
            load.wait(timeout=SECONDS + 60)
        report = load.report()
        processed = {k: v - start[k] for k, v in _processed(cl).items()}
        expected = sum(len(v) for v in before.values()) + report.placed
        total, waited = _settle(engine, expected)
        new = _new_rows(engine, before)
        poll_failures = {c.host: _metric(c.host, "ivr400_config_poll_failures_total") - failures_before[c.host]
                         for c in cl.controllers}
        handoffs = sum(_metric(c.host, "ivr400_static_plan_handoffs_total") for c in cl.controllers) - handoffs_before
        after = cl.listener_stats("node2")
        node3 = cl.listener_stats("node3")
    finally:
        engine.dispose()
    buffered = int(held.get("buffered_calls", 0))
    written = int(after.get("buffered_written", 0)) - int(stats_before.get("buffered_written", 0))
    print()
    print(report.figures(f"restart PostgreSQL at {RATE:g} calls/s (down {down_s:g} s)"))
    print(f"  pg_ctl stop took {stop_took:.2f} s, start {start_took:.2f} s; controllers' failed config polls while "
          f"it was down: {poll_failures}; calls left to the static plan: {handoffs:g}")
    took = "never" if recovered is None else f"{recovered:.2f}"
    print(f"  node2's listener held {buffered} calls in memory at the restart (most at once "
          f"{after.get('buffered_max')}), wrote {written} of them {took}"
          f" s after PostgreSQL was back; node3's listener, killed while it was down, imported "
          f"{node3.get('imported_calls')} calls from node3's CSV at its restart; both controllers polled the "
          f"database again {'never' if polling is None else f'{polling:.2f}'} s after it was back")
    print(f"  processed per node {processed}; new call records per node "
          f"{ {k: len(v) for k, v in sorted(new.items())} }; all stored {waited:.1f} s after the last call ended")
    assert report.placed == report.asked
    assert not report.failed, load.errors()
    assert polling is not None, "the controllers poll the database again"
    assert handoffs == 0, "every call was decided from the controllers' cache"
    assert all(n > 0 for n in poll_failures.values()), "the controllers did see the database go"
    assert buffered > 0 and recovered is not None and written >= buffered
    assert sum(processed.values()) == report.placed
    assert total == expected, (total, expected)
    _check_once_each(cl, report, new, processed)
