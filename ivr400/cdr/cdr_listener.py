"""The call-record listener: AMI ``Cdr`` events in, call records out, with a CSV backfill.

    listener = CdrListener(engine, settings.require_ami(), csv_path=settings.cdr_csv, state_path=...)
    await listener.start()                  # connects; panoramisk reconnects on its own
    ...
    await listener.stop()                   # stores what is pending, closes the connection

Live: cdr_manager posts one ``Cdr`` event per CDR. A call's CDRs arrive together (Asterisk posts a
channel's CDRs at its hangup), so events are grouped per linkedid and stored once the call has been
quiet for `flush_delay` seconds; legs already stored are kept for `recent_s` seconds, so a late CDR of
the same call is aggregated with the others rather than alone.

Durable: every (re)login, and every `import_interval` seconds, the listener imports cdr_custom's
ivr400.csv from the remembered offset (ivr400.cdr.cdr_store.import_csv). Calls that ended while
it was down, or whose events were lost (Asterisk drops events for a slow AMI client), are stored then.
Both paths upsert idempotently, so a call seen twice is still one row.

The database going away (a PostgreSQL restart, a network cut): the calls stay pending in memory, the flush
retries every `flush_delay / 2` seconds and stores them once it answers again (the first failure is logged with
its traceback, then one line every 30 s). Memory is bounded by `pending_max` legs; beyond it, legs are
dropped from memory and stored later by the CSV import. What is in memory is never the only copy: Asterisk
has written every CDR to cdr_custom's CSV before posting its event, and the import offset moves only past rows
committed to the database, so a listener killed while the database is down stores those calls from the CSV
at its next login. Rows are keyed by the call's uniqueid (unique in ``call_record``; on a cluster the node's
``systemname`` prefixes it): a replay updates, never doubles. In a cluster, one listener runs per node
(`node` is written to each call record it creates).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timezone, tzinfo
from pathlib import Path
from typing import Any

from panoramisk import Manager
from sqlalchemy import Engine

from ivr400.cdr.cdr_model import CdrParseError, Leg, leg_from_event
from ivr400.cdr.cdr_store import ImportResult, import_csv, store_legs
from ivr400.pbx.asterisk.ami_settings import AmiSettings

__all__ = ["AmiSettings", "CdrListener", "ListenerError", "ListenerStats"]

log = logging.getLogger("ivr400.cdr")


class ListenerError(RuntimeError):
    """Printed by the CLI as `error: FIELD: reason`."""


@dataclass
class ListenerStats:
    connects: int = 0
    logins: int = 0
    disconnects: int = 0
    events: int = 0
    parse_errors: int = 0
    legs_stored: int = 0
    calls_stored: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    store_errors: int = 0
    dropped_legs: int = 0
    ping_timeouts: int = 0
    imports: int = 0
    import_errors: int = 0
    imported_calls: int = 0
    #: Calls held in memory because the database did not answer (the most at once, and now).
    buffered_max: int = 0
    pending_calls: int = 0
    #: Calls stored by a flush that had failed before (the buffer written once the database was back).
    buffered_written: int = 0
    last_error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class _Manager(Manager):
    """panoramisk's Manager, reconnecting on its own, but never again once closed.

    (Its reconnect timers outlive close(), it truncates sub-second timeouts to 0, and a refused login
    is only visible in a callback.)
    """

    def __init__(self, on_login_result: Any = None, **config: Any) -> None:  # noqa: ANN401
        super().__init__(**config)
        # panoramisk int()s these: 0.2 would become 0, a reconnect (or ping) loop without a pause.
        self.reconnect_timeout = max(0.05, float(self.config["reconnect_timeout"]))
        self.ping_delay = max(0.05, float(self.config["ping_delay"]))
        self.ping_interval = max(0.05, float(self.config["ping_interval"]))
        self._closing = False
        self._on_login_result = on_login_result

    def connect(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - panoramisk's signature
        if self._closing:
            return None
        return super().connect(*args, **kwargs)

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if self._closing:
            try:
                transport, _protocol = f.result()
                transport.close()
            except OSError:
                pass
            return None
        return super().connection_made(f)

    def login(self, future: asyncio.Future[Any]) -> bool:
        ok = super().login(future)
        if self._on_login_result is not None:
            try:
                message = future.result()
                reason = message.get("message", "") if hasattr(message, "get") else ""
            except Exception as exc:  # noqa: BLE001 - the connection went away mid-login
                reason = str(exc)
            self._on_login_result(ok, reason)
        return ok

    def ping(self) -> None:
        if self._closing or self.protocol is None:
            return None
        return super().ping()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._closing:
            self._connected = False
            return None
        return super().connection_lost(exc)

    def close(self) -> None:
        self._closing = True
        super().close()


class CdrListener:
    """Stores every call Asterisk reports, live over AMI and from the CSV after any gap."""

    def __init__(
        self,
        engine: Engine,
        ami: AmiSettings,
        *,
        csv_path: Path | str | None = None,
        state_path: Path | str | None = None,
        backfill: bool = True,
        flush_delay: float = 0.5,
        import_interval: float = 60.0,
        recent_s: float = 120.0,
        recent_max: int = 20000,
        reconnect_timeout: float = 2.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        pending_max: int = 100000,
        pbx_tz: tzinfo = timezone.utc,
        node: str | None = None,
        stats_path: Path | str | None = None,
        error_log_interval_s: float = 30.0,
    ) -> None:
        self.engine = engine
        self.ami = ami
        self.csv_path = Path(csv_path) if csv_path is not None else None
        self.state_path = Path(state_path) if state_path is not None else None
        self.backfill = backfill
        self.flush_delay = flush_delay
        self.import_interval = import_interval
        self.recent_s = recent_s
        self.recent_max = recent_max
        self.reconnect_timeout = reconnect_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.pending_max = pending_max
        self.pbx_tz = pbx_tz
        self.node = node
        self.stats_path = Path(stats_path) if stats_path is not None else None
        self.error_log_interval_s = error_log_interval_s
        self._store_failing = False
        #: linkedids of the calls a failed store left in memory (counted as buffered until stored).
        self._buffered: set[str] = set()
        self._last_error_log = 0.0
        self._stats_writer: asyncio.Task | None = None
        self.stats = ListenerStats()
        self.last_import: ImportResult | None = None
        self._manager: _Manager | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, list[Leg]] = {}
        self._last_seen: dict[str, float] = {}
        self._recent: OrderedDict[str, tuple[list[Leg], float]] = OrderedDict()
        self._db_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._flusher: asyncio.Task | None = None
        self._importer: asyncio.Task | None = None
        self._watchdog: asyncio.Task | None = None
        self._pending_legs = 0
        self._logged_in = asyncio.Event()
        self._login_refused: str | None = None
        self._failed = asyncio.Event()
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (returns at once; panoramisk keeps retrying every `reconnect_timeout` s)."""
        self._loop = asyncio.get_running_loop()
        self._manager = _Manager(
            on_login_result=self._login_result,
            loop=self._loop,
            host=self.ami.host,
            port=self.ami.port,
            username=self.ami.username,
            secret=self.ami.secret,
            events="cdr",  # only the cdr event class: nothing else to parse
            reconnect_timeout=self.reconnect_timeout,
            ping_delay=self.ping_interval,
            ping_interval=self.ping_interval,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            log=log,
        )
        self._manager.register_event("Cdr", self._on_cdr)
        self._flusher = asyncio.create_task(self._flush_loop(), name="cdr-flush")
        if self.backfill and self.import_interval > 0:
            self._importer = asyncio.create_task(self._import_loop(), name="cdr-import")
        self._watchdog = asyncio.create_task(self._watch(), name="cdr-ami-watchdog")
        if self.stats_path is not None:
            self._stats_writer = asyncio.create_task(self._write_stats_loop(), name="cdr-stats")
        self._manager.connect()

    async def wait_logged_in(self, timeout: float = 10.0) -> bool:
        """True once logged in to AMI (and the backfill of that login finished, if any)."""
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout)
        except TimeoutError:
            return False
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        return True

    @property
    def connected(self) -> bool:
        return bool(self._manager is not None and self._manager._connected and self._manager.authenticated)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; ListenerError if AMI refuses the login."""
        await self.start()
        try:
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._failed.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        finally:
            await self.stop()
        if self._login_refused is not None:
            raise ListenerError(f"ami: login refused for {self.ami.username!r} ({self._login_refused})")

    async def stop(self, timeout: float = 30.0) -> None:
        """Close the AMI connection and store everything pending."""
        if self._stopped:
            return
        self._stopped = True
        if self._manager is not None:
            self._manager.close()
        for task in (self._flusher, self._importer, self._watchdog, self._stats_writer):
            if task is not None:
                task.cancel()
        for task in (self._flusher, self._importer, self._watchdog, self._stats_writer):
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - already counted
                    pass
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        try:
            await self.flush(everything=True)
        except Exception as exc:  # noqa: BLE001 - the database is away: the CSV import stores them next time
            log.error("stopping with %d call(s) not stored (%s: %s); the CSV import stores them at the next start",
                      len(self._pending), type(exc).__name__, exc)
        self.write_stats()

    def write_stats(self) -> None:
        """The stats as JSON in `stats_path` (atomically; nothing without one)."""
        if self.stats_path is None:
            return
        self.stats.pending_calls = len(self._pending)
        data = {**self.stats.to_dict(), "node": self.node, "pending_legs": self._pending_legs,
                "buffered_calls": len(self._buffered),
                "store_failing": self._store_failing}
        tmp = self.stats_path.with_name(self.stats_path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data, indent=1) + "\n")
            tmp.replace(self.stats_path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.stats_path, exc)

    async def _write_stats_loop(self) -> None:
        while True:
            self.write_stats()
            await asyncio.sleep(1.0)

    # -- AMI callbacks ---------------------------------------------------------------------------
    def _on_connect(self, _manager: Manager) -> None:
        self.stats.connects += 1
        log.info("AMI connected to %s:%s", self.ami.host, self.ami.port)

    def _on_disconnect(self, _manager: Manager, _exc: object) -> None:
        self.stats.disconnects += 1
        self._logged_in.clear()
        log.warning("AMI connection lost; panoramisk reconnects in %ss", self.reconnect_timeout)

    def _login_result(self, ok: bool, reason: str) -> None:
        if not ok:
            self._login_refused = reason or "authentication failed"
            self.stats.last_error = f"ami login refused: {self._login_refused}"
            log.error("AMI login refused for %s: %s", self.ami.username, self._login_refused)
            self._failed.set()
            return
        self.stats.logins += 1
        log.info("AMI logged in as %s", self.ami.username)
        if self.backfill:
            # Calls that ended while we were not listening: from the CSV, before declaring ourselves up.
            self._spawn(self._backfill_then_ready())
        else:
            self._logged_in.set()

    async def _backfill_then_ready(self) -> None:
        try:
            await self.import_now()
        finally:
            self._logged_in.set()

    def _on_cdr(self, _manager: Manager, event: Mapping[str, Any]) -> None:
        self.stats.events += 1
        try:
            leg = leg_from_event(event, self.pbx_tz)
        except CdrParseError as exc:
            self.stats.parse_errors += 1
            self.stats.last_error = f"cdr event: {exc}"
            log.warning("unreadable Cdr event: %s", exc)
            return
        if self._pending_legs >= self.pending_max:
            # The database has been failing for a long while: keep memory bounded. The CSV import
            # (at the next login or interval) stores these calls once the database is back.
            self.stats.dropped_legs += 1
            return
        self._pending.setdefault(leg.linkedid, []).append(leg)
        self._pending_legs += 1
        self._last_seen[leg.linkedid] = time.monotonic()

    def _spawn(self, coro: Any) -> None:  # noqa: ANN401
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- storing -----------------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        interval = max(0.05, self.flush_delay / 2)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - keep listening; the calls stay pending, retried
                self.stats.store_errors += 1
                self.stats.last_error = f"store: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                now = time.monotonic()
                first = not self._store_failing
                self._store_failing = True
                self.stats.buffered_max = max(self.stats.buffered_max, len(self._buffered))
                if first or now - self._last_error_log >= self.error_log_interval_s:
                    self._last_error_log = now
                    log.error("storing call records failed; %d call(s) held in memory, retried every %.2fs: %s",
                              len(self._buffered), max(0.05, self.flush_delay / 2), self.stats.last_error,
                              exc_info=first)

    async def flush(self, everything: bool = False) -> int:
        """Store the calls quiet for `flush_delay` seconds (all pending ones with everything=True).

        Returns the number of calls stored."""
        now = time.monotonic()
        ready = [lid for lid, seen in self._last_seen.items() if everything or now - seen >= self.flush_delay]
        if not ready:
            return 0
        legs: list[Leg] = []
        groups: dict[str, list[Leg]] = {}
        for lid in ready:
            new = self._pending.pop(lid, [])
            self._pending_legs -= len(new)
            self._last_seen.pop(lid, None)
            old = self._recent.pop(lid, ([], 0.0))[0]
            groups[lid] = old + new
            legs.extend(old + new)
        async with self._db_lock:
            try:
                calls, stats = await asyncio.to_thread(store_legs, self.engine, legs, "ami", node=self.node)
            except BaseException:
                for lid, group in groups.items():  # keep them for the next try
                    self._buffered.add(lid)
                    self._pending.setdefault(lid, [])[:0] = group
                    self._pending_legs += len(group)
                    self._last_seen[lid] = now
                raise
        self.stats.legs_stored += len(legs)
        self.stats.calls_stored += len(calls)
        self.stats.inserted += stats.inserted
        self.stats.updated += stats.updated
        self.stats.unchanged += stats.unchanged
        if self._buffered:
            written = self._buffered.intersection(groups)
            self.stats.buffered_written += len(written)
            self._buffered -= written
            if not self._buffered:
                self._store_failing = False
                log.warning("storing call records works again: the %d call(s) held meanwhile are stored",
                            self.stats.buffered_written)
        for lid, group in groups.items():
            self._recent[lid] = (group, now)
        self._expire_recent(now)
        return len(calls)

    def _expire_recent(self, now: float) -> None:
        while self._recent:
            lid, (_legs, stored_at) = next(iter(self._recent.items()))
            if now - stored_at < self.recent_s and len(self._recent) <= self.recent_max:
                break
            self._recent.pop(lid)

    async def import_now(self, from_start: bool = False) -> ImportResult | None:
        """Import the CSV from the remembered offset now (serialized with the live stores)."""
        async with self._db_lock:
            try:
                result = await asyncio.to_thread(
                    import_csv, self.engine, self.csv_path, state_path=self.state_path, from_start=from_start,
                    node=self.node,
                )
            except Exception as exc:  # noqa: BLE001 - reported; the next login/interval retries
                self.stats.import_errors += 1
                self.stats.last_error = f"import: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.error("CSV backfill failed (retried at the next interval): %s", self.stats.last_error)
                return None
        self.stats.imports += 1
        self.stats.imported_calls += result.calls
        self.last_import = result
        if result.errors:
            log.warning("CSV backfill: %d unreadable line(s), first: %s", len(result.errors), result.errors[0])
        log.info("CSV backfill %s: %d call(s) from bytes %d-%d (%d new)", result.path, result.calls,
                 result.start_offset, result.end_offset, result.inserted)
        return result

    async def _watch(self) -> None:
        """Ping AMI every `ping_interval` s; an unanswered ping (a half-open connection, a frozen PBX)
        closes the connection, and panoramisk reconnects (and the login backfills)."""
        while True:
            await asyncio.sleep(self.ping_interval)
            manager = self._manager
            protocol = getattr(manager, "protocol", None)
            if manager is None or not manager.authenticated or protocol is None or protocol.closed:
                continue
            try:
                await asyncio.wait_for(manager.send_action({"Action": "Ping"}), self.ping_timeout)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - timeout or a connection that broke meanwhile
                if protocol is not manager.protocol or protocol.closed:
                    continue
                self.stats.ping_timeouts += 1
                log.warning("AMI ping unanswered within %ss: reconnecting", self.ping_timeout)
                protocol.transport.close()  # → connection_lost → panoramisk reconnects

    async def _import_loop(self) -> None:
        while True:
            await asyncio.sleep(self.import_interval)
            await self.import_now()  # also while AMI is down: Asterisk may still be writing the CSV
