"""Call records in SQLite and PostgreSQL: idempotent upserts, the CSV backfill with its offset (growth,
partial lines, truncation, rotation), and the AMI listener against a wire-level fake AMI server
(live events, reconnect + backfill, refused login)."""
from __future__ import annotations

import asyncio
import json
import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_listener import AmiSettings, CdrListener, ListenerError
from ivr400.cdr.cdr_model import aggregate, call_from_legs, leg_from_event
from ivr400.cdr.cdr_store import (
    call_from_row,
    import_csv,
    missed_callers,
    region_lookup,
    store_calls,
    store_legs,
    upsert_calls,
)
from ivr400.db.models import CallFact, CallRecord, RegionOverride
from tests.unit.test_cdr_model import CSV_TEXT, EVENTS

LINES = CSV_TEXT.splitlines(keepends=True)
IDS = ["1795655789.34", "1795655792.44", "1795655793.47", "1795655795.54"]


def rows(engine: Engine) -> dict[str, CallRecord]:
    with Session(engine) as s:
        return {r.uniqueid: r for r in s.scalars(select(CallRecord))}


def count(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(CallRecord)) or 0


def snapshot(engine: Engine) -> list[tuple]:
    with Session(engine) as s:
        return sorted(tuple(r.values()) + (r_.source,) for r_ in s.scalars(select(CallRecord))
                      for r in [call_from_row(r_)])


# -- upserts -------------------------------------------------------------------------------------------
def test_upsert_inserts_then_replays_unchanged_and_keeps_the_first_source(session: Session) -> None:
    calls = aggregate([leg_from_event(e) for e in EVENTS])
    stats = upsert_calls(session, calls, "ami")
    session.commit()
    assert (stats.inserted, stats.updated, stats.unchanged) == (4, 0, 0)
    again = upsert_calls(session, calls + calls, "csv")
    session.commit()
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    stored = {r.uniqueid: r for r in session.scalars(select(CallRecord))}
    assert set(stored) == set(IDS)
    hunt = stored["1795655789.34"]
    assert hunt.source == "ami" and hunt.disposition == "answered" and hunt.seat.endswith(":5071")
    assert call_from_row(hunt).values() == calls[0].values()  # microsecond-exact round trip
    assert hunt.started_at.tzinfo is not None
    with pytest.raises(ValueError):
        upsert_calls(session, calls, "manual")


def test_partial_views_join_into_the_full_call(engine: Engine) -> None:
    legs = [leg_from_event(e) for e in EVENTS[:3]]
    store_calls(engine, [call_from_legs(legs[2:])], "ami")
    assert store_calls(engine, [call_from_legs(legs[:1])], "ami").updated == 1  # starts earlier
    # adds nothing to the record, a seat to the fact's rung seats (a fact is written when it changes: "updated")
    assert store_calls(engine, [call_from_legs(legs[1:2])], "ami").updated == 1
    with Session(engine) as s:
        rung = s.scalars(select(CallFact.seats_rung)).one()
    assert rung == "&".join(call_from_legs(legs).seats_rung)
    assert store_calls(engine, [call_from_legs(legs[1:2])], "ami").unchanged == 1  # now nothing new anywhere
    stored = call_from_row(rows(engine)["1795655789.34"])
    assert stored.values() == replace(call_from_legs(legs), caller_province="广东", caller_city="深圳").values()


def test_caller_region_uses_the_override_table(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.add(RegionOverride(prefix="0755123", province="海南", city="三亚"))
    store_legs(engine, [leg_from_event(EVENTS[3])], "ami")
    row = rows(engine)["1795655792.44"]
    assert (row.caller, row.caller_province, row.caller_city) == ("075512345678", "海南", "三亚")
    plain = replace(leg_from_event(EVENTS[6]), src="13800138000")
    store_legs(engine, [plain], "ami")
    assert rows(engine)["1795655795.54"].caller_province is not None  # the geocoder, offline


def test_concurrent_writers_of_the_same_calls_leave_one_row_each(engine: Engine) -> None:
    calls = aggregate([leg_from_event(e) for e in EVENTS])
    errors: list[BaseException] = []

    def worker(source: str) -> None:
        try:
            for _ in range(3):
                store_calls(engine, calls, source)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(src,)) for src in ("ami", "csv", "ami", "csv")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert count(engine) == 4


# -- the CSV backfill ----------------------------------------------------------------------------------
@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    return tmp_path / "cdr-custom" / "ivr400.csv"


def write(path: Path, text: str, mode: str = "a") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, encoding="utf-8") as fh:
        fh.write(text)


def test_import_reads_from_the_remembered_offset(engine: Engine, csv_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    missing = import_csv(engine, csv_file, state_path=state)
    assert (missing.calls, missing.reset) == (0, None)

    write(csv_file, "".join(LINES[:3]))
    first = import_csv(engine, csv_file, state_path=state)
    assert (first.legs, first.calls, first.inserted, first.start_offset) == (3, 1, 1, 0)
    assert first.end_offset == csv_file.stat().st_size
    saved = json.loads(state.read_text())
    assert [v["offset"] for v in saved["files"].values()] == [first.end_offset]
    assert os.stat(state).st_mode & 0o777 == 0o600

    nothing = import_csv(engine, csv_file, state_path=state)
    assert (nothing.bytes_read, nothing.legs) == (0, 0)

    # A line still being written is left for the next import.
    write(csv_file, "".join(LINES[3:6]) + LINES[6][:40])
    second = import_csv(engine, csv_file, state_path=state)
    assert (second.start_offset, second.legs, second.calls, second.inserted) == (first.end_offset, 3, 2, 2)
    assert second.end_offset == csv_file.stat().st_size - 40
    write(csv_file, LINES[6][40:] + LINES[7])
    third = import_csv(engine, csv_file, state_path=state)
    assert (third.legs, third.inserted) == (2, 1)
    assert count(engine) == 4

    before = snapshot(engine)
    again = import_csv(engine, csv_file, state_path=state, from_start=True)
    assert (again.legs, again.inserted, again.updated, again.unchanged) == (8, 0, 0, 4)
    assert snapshot(engine) == before


def test_import_after_truncation_and_rotation(engine: Engine, csv_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    write(csv_file, "".join(LINES[:4]))
    import_csv(engine, csv_file, state_path=state)
    assert count(engine) == 2

    # logrotate: the file is renamed (with two more lines written to it first), a new one starts.
    write(csv_file, "".join(LINES[4:6]))
    csv_file.rename(csv_file.with_name("ivr400.csv.1"))
    write(csv_file, "".join(LINES[6:8]))
    rotated = import_csv(engine, csv_file, state_path=state)
    assert rotated.reset == "rotated" and rotated.rotated_tail_from.endswith("ivr400.csv.1")
    assert (rotated.legs, rotated.inserted) == (4, 2)
    assert count(engine) == 4

    # Truncated in place (copytruncate) and shorter than the offset: start over.
    write(csv_file, LINES[0], mode="w")
    truncated = import_csv(engine, csv_file, state_path=state)
    assert truncated.reset == "truncated" and truncated.legs == 1 and truncated.unchanged == 1

    # Replaced in place by other content longer than the offset: the first bytes differ.
    write(csv_file, "".join(LINES[3:8]), mode="w")
    replaced = import_csv(engine, csv_file, state_path=state)
    assert replaced.reset == "rotated" and replaced.legs == 5
    assert count(engine) == 4


def test_import_reports_bad_lines_and_keeps_going(engine: Engine, csv_file: Path, tmp_path: Path) -> None:
    write(csv_file, LINES[0] + "not,a,cdr\n" + "ivr400/1,broken\n" + "".join(LINES[1:3]))
    result = import_csv(engine, csv_file, state_path=tmp_path / "s.json")
    assert result.legs == 3 and result.calls == 1 and len(result.errors) == 2
    assert "format" in result.errors[0] and "columns" in result.errors[1]
    # A line longer than a whole chunk is skipped as one error, the lines after it still count.
    write(csv_file, "x" * 5000 + "\n" + LINES[3], mode="w")
    long = import_csv(engine, csv_file, state_path=tmp_path / "s2.json", chunk_bytes=4096)
    assert long.legs == 1 and len(long.errors) == 1 and "5001 bytes" in long.errors[0]


def test_import_state_is_per_database(engine: Engine, csv_file: Path, tmp_path: Path) -> None:
    from ivr400.db.engine import make_engine
    from ivr400.db.migrate import upgrade

    state = tmp_path / "state.json"
    write(csv_file, CSV_TEXT)
    assert import_csv(engine, csv_file, state_path=state).inserted == 4
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        upgrade(other)
        assert import_csv(other, csv_file, state_path=state).inserted == 4  # its own offset: from 0
    finally:
        other.dispose()


def test_small_chunks_split_calls_and_still_store_the_whole_call(engine: Engine, csv_file: Path,
                                                                 tmp_path: Path) -> None:
    write(csv_file, CSV_TEXT)
    longest = max(len(line.encode()) for line in LINES)
    result = import_csv(engine, csv_file, state_path=tmp_path / "s.json", chunk_bytes=longest + 10)
    assert result.legs == 8 and result.errors == [] and count(engine) == 4
    with Session(engine) as session:
        full = aggregate([leg_from_event(e) for e in EVENTS], region_lookup(session))
    assert {k: call_from_row(r).values() for k, r in rows(engine).items()} == {c.uniqueid: c.values() for c in full}


def test_missed_callers_on_both_databases(engine: Engine, csv_file: Path, tmp_path: Path) -> None:
    from tests.cli.test_cdr_cli import STORY

    write(csv_file, CSV_TEXT + "".join(STORY))
    import_csv(engine, csv_file, state_path=tmp_path / "s.json")
    with Session(engine) as s:
        data = missed_callers(s)
        assert [(c["caller"], c["missed"]) for c in data["callers"]] == [
            ("13800000004", 1), ("13800000002", 2), ("13800000003", 1), ("075512345678", 1)]
        assert (data["missed_calls"], data["anonymous_calls"]) == (5, 1)
        answered = data["callers"][2]["last_answered"]
        assert answered.tzinfo is not None and answered < data["callers"][2]["last_missed"]
        assert [c["caller"] for c in missed_callers(s, hotline="4006001111")["callers"]] == ["13800000004"]


# -- the listener, against a fake AMI server --------------------------------------------------------------
class FakeAmi:
    """Speaks enough AMI for panoramisk: banner, Login (accept or refuse), Ping, and pushed events."""

    def __init__(self, secret: str = "s3cret") -> None:
        self.secret = secret
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0
        self.mute = False  # stop answering pings (a half-open connection)
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> FakeAmi:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                headers = dict(line.split(": ", 1) for line in block.decode().strip().split("\r\n") if ": " in line)
                action, action_id = headers.get("Action", "").lower(), headers.get("ActionID", "")
                if action == "login":
                    ok = headers.get("Secret") == self.secret
                    status = "Success" if ok else "Error"
                    msg = "Authentication accepted" if ok else "Authentication failed"
                    writer.write(f"Response: {status}\r\nActionID: {action_id}\r\nMessage: {msg}\r\n\r\n".encode())
                    if ok:
                        self.logins += 1
                        self.writers.append(writer)
                        writer.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
                elif not self.mute:
                    writer.write(f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()

    async def push(self, event: dict[str, str]) -> None:
        text = "".join(f"{k}: {v}\r\n" for k, v in event.items() if k != "content") + "\r\n"
        for w in list(self.writers):
            w.write(text.encode())
            await w.drain()

    async def drop(self) -> None:
        """The PBX goes away: close every client and stop listening."""
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.close()
        self.writers.clear()
        await self.server.wait_closed()


async def until(predicate, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def test_listener_stores_live_events_reconnects_and_backfills(engine: Engine, csv_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"

    async def scenario() -> CdrListener:
        ami = await FakeAmi().start()
        listener = CdrListener(engine, AmiSettings(port=ami.port, username="ivr400", secret="s3cret"),
                               csv_path=csv_file, state_path=state, flush_delay=0.2, reconnect_timeout=0.2,
                               import_interval=0)
        await listener.start()
        assert await listener.wait_logged_in(10)
        # Live: the three CDRs of the hunted call arrive at its hangup, then the IVR-only call.
        write(csv_file, "".join(LINES[:4]))
        for e in EVENTS[:4]:
            await ami.push(e)
        await until(lambda: count(engine) == 2)
        assert rows(engine)["1795655789.34"].disposition == "answered"
        assert listener.stats.updated == 0  # the three legs were stored together, once

        # Asterisk restarts: calls end while nobody listens, only the CSV has them.
        port = ami.port
        await ami.drop()
        await until(lambda: listener.stats.disconnects >= 1)
        write(csv_file, "".join(LINES[4:8]))
        ami = await FakeAmi().start(port)
        await until(lambda: listener.stats.logins >= 2, timeout=15)
        assert await listener.wait_logged_in(15)  # includes the backfill of that login
        assert count(engine) == 4
        assert listener.stats.imports >= 2 and listener.stats.connects >= 2
        # Events for calls already imported are harmless.
        for e in EVENTS:
            await ami.push(e)
        await until(lambda: listener.stats.events == 12)
        await listener.flush(everything=True)
        await listener.stop()
        await ami.drop()
        return listener

    listener = asyncio.run(scenario())
    assert count(engine) == 4
    assert rows(engine)["1795655795.54"].disposition == "voicemail"
    assert rows(engine)["1795655793.47"].source == "csv"
    assert listener.stats.parse_errors == 0 and listener.stats.store_errors == 0


def test_listener_stop_stores_what_is_pending(engine: Engine, tmp_path: Path) -> None:
    async def scenario() -> None:
        ami = await FakeAmi().start()
        listener = CdrListener(engine, AmiSettings(port=ami.port, username="u", secret="s3cret"),
                               backfill=False, flush_delay=30)
        await listener.start()
        assert await listener.wait_logged_in(10)
        for e in EVENTS[:3]:
            await ami.push(e)
        await ami.push({"Event": "Cdr", "UniqueID": ""})  # unreadable: counted, not fatal
        await until(lambda: listener.stats.events == 4)
        assert count(engine) == 0
        await listener.stop()
        assert listener.stats.parse_errors == 1
        await ami.drop()

    asyncio.run(scenario())
    assert list(rows(engine)) == ["1795655789.34"]


def test_listener_refused_login_is_an_error(engine: Engine) -> None:
    async def scenario() -> None:
        ami = await FakeAmi().start()
        listener = CdrListener(engine, AmiSettings(port=ami.port, username="u", secret="wrong"), backfill=False)
        stop = asyncio.Event()
        try:
            with pytest.raises(ListenerError, match="ami: login refused"):
                await asyncio.wait_for(listener.run(stop), 10)
        finally:
            await ami.drop()

    asyncio.run(scenario())


def test_listener_waits_for_a_pbx_that_is_not_up_yet(engine: Engine, tmp_path: Path) -> None:
    async def scenario() -> None:
        probe = await FakeAmi().start()
        port = probe.port
        await probe.drop()
        listener = CdrListener(engine, AmiSettings(port=port, username="u", secret="s3cret"), backfill=False,
                               reconnect_timeout=0.2)
        await listener.start()
        assert not await listener.wait_logged_in(0.5)
        ami = await FakeAmi().start(port)
        assert await listener.wait_logged_in(10)
        await ami.push(EVENTS[3])
        await until(lambda: listener.stats.events == 1)
        await listener.stop()
        await ami.drop()
        logins = ami.logins
        await asyncio.sleep(0.5)  # closed for good: no reconnect after stop
        assert ami.logins == logins

    asyncio.run(scenario())
    assert count(engine) == 1


def test_listener_reconnects_when_pings_go_unanswered(engine: Engine) -> None:
    async def scenario() -> CdrListener:
        ami = await FakeAmi().start()
        listener = CdrListener(engine, AmiSettings(port=ami.port, username="u", secret="s3cret"), backfill=False,
                               reconnect_timeout=0.2, ping_interval=0.2, ping_timeout=0.3)
        await listener.start()
        assert await listener.wait_logged_in(10)
        ami.mute = True
        await until(lambda: listener.stats.ping_timeouts >= 1 and ami.logins >= 2)
        ami.mute = False
        assert await listener.wait_logged_in(10)
        await ami.push(EVENTS[3])
        await until(lambda: listener.stats.events == 1)
        await listener.stop()
        await ami.drop()
        return listener

    listener = asyncio.run(scenario())
    assert listener.stats.logins >= 2 and count(engine) == 1


def test_listener_holds_calls_while_the_database_is_away_then_stores_them_once(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses every store for a while (as during a PostgreSQL restart): the calls stay in memory,
    counted as held; once it answers they are stored, once, with the listener's node, and counted as written."""
    from sqlalchemy.exc import OperationalError

    import ivr400.cdr.cdr_listener as listener_module

    real = listener_module.store_legs
    away = threading.Event()
    away.set()

    def store(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if away.is_set():
            raise OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))
        return real(*args, **kwargs)

    monkeypatch.setattr(listener_module, "store_legs", store)
    stats_file = tmp_path / "stats.json"

    async def scenario() -> CdrListener:
        ami = await FakeAmi().start()
        listener = CdrListener(engine, AmiSettings(port=ami.port, username="u", secret="s3cret"), backfill=False,
                               flush_delay=0.1, node="node2", stats_path=stats_file)
        await listener.start()
        assert await listener.wait_logged_in(10)
        for e in EVENTS:
            await ami.push(e)
        await until(lambda: listener.stats.store_errors >= 3)
        await until(lambda: json.loads(stats_file.read_text()).get("store_failing") is True, timeout=5)
        assert count(engine) == 0
        held = json.loads(stats_file.read_text())
        away.clear()
        await until(lambda: count(engine) == 4 and listener.stats.buffered_written == 4)
        for e in EVENTS:  # replayed (a reconnect, the CSV): still one row per call
            await ami.push(e)
        await until(lambda: listener.stats.events == 2 * len(EVENTS))
        await listener.flush(everything=True)
        await listener.stop()
        await ami.drop()
        assert held["buffered_calls"] == 4 and held["node"] == "node2"
        return listener

    listener = asyncio.run(scenario())
    assert sorted(rows(engine)) == sorted(IDS)
    assert {r.node for r in rows(engine).values()} == {"node2"}
    assert listener.stats.buffered_max == 4 and listener.stats.dropped_legs == 0
    final = json.loads(stats_file.read_text())
    assert final["store_failing"] is False and final["buffered_calls"] == 0
