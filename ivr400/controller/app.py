"""The FastAGI controller: the config cache, the clock, the round-robin counter and the routes, wired.

:class:`Controller` is what every route receives as ``ctx`` (it implements
``ivr400.controller.routes.RouteContext``). It keeps no per-call state: the routing configuration is a
per-process cache invalidated from the database (``ivr400.controller.cache``), the round-robin position
lives in the ``hunt_rotation`` table, and everything a later hook needs travels in channel variables.
Several controllers may therefore serve one PBX (or several) side by side.

Per call the database is touched only for a hotline with a caller cap (one count of the caller's call
records this month, bounded like the counter below), a round-robin department with two or more routable seats
(one ``UPDATE ... RETURNING`` in a worker thread, bounded by ``rotation_timeout``; if the database does
not answer in time the controller rotates with a process-local counter and says so in the log) and by
the ``voicemail_saved`` and ``survey_saved`` hooks (one insert each). Decisions are computed from memory.

Run it with :func:`run_controller` (what ``ivr400 serve`` does) or, in tests::

    controller = Controller(engine, now=lambda: FIXED)
    await controller.start()
    async with controller.server(port=0) as server: ...
    await controller.stop()

Its Prometheus metrics (``controller.metrics``, see ``ivr400.controller.metrics``) observe the server's
sessions and the configuration cache; :func:`run_controller` serves them with ``/healthz`` on a port of
their own.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import itertools
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Unpack

from sqlalchemy import Engine, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr400.controller.cache import ConfigCache
from ivr400.controller.loader import HotlineEntry, LoadedConfig
from ivr400.controller.metrics import ControllerMetrics, MetricsServer
from ivr400.controller.routes import bind
from ivr400.db.models import BalanceFlag, BalanceTopup, CallFact, CallHour, CallRecord, HuntRotation, SurveyResponse
from ivr400.numbers import normalize_caller
from ivr400.pbx.asterisk.fastagi import FastAGIServer, Handler, ServerOptions, serve
from ivr400.provisioning.fax import record_fax
from ivr400.provisioning.voicemail import record_voicemail, wav_duration
from ivr400.routing.decide import hunt_order
from ivr400.routing.model import ActionKind, Decision, HuntStrategy
from ivr400.routing.region import geocode

__all__ = ["Controller", "run_controller"]

_log = logging.getLogger("ivr400.controller")

#: The rotation column is a 32-bit integer: wrap well before it overflows.
_ROTATION_WRAP = 1_000_000_000


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Controller:
    """Shared state of the routes (see the module docstring).

    ``now``: the clock (aware datetimes; injectable for tests). ``asterisk_root``: where Asterisk's file
    system is seen from this host (the lab chroot), to measure voicemail files; None records them with
    size 0. ``db_workers`` threads run per-call database work (round-robin counter, voicemail rows).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        now: Callable[[], datetime] | None = None,
        poll_interval: float = 0.2,
        rotation_timeout: float = 0.5,
        db_workers: int = 4,
        asterisk_root: Path | None = None,
        logger: logging.Logger | None = None,
        cache: ConfigCache | None = None,
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self.engine = engine
        self._now = now or _utcnow
        self.log = logger or _log
        self.metrics = metrics or ControllerMetrics()
        self.cache = cache or ConfigCache(engine, now=self._now, poll_interval=poll_interval,
                                          logger=logging.getLogger("ivr400.controller.cache"))
        if self.cache.on_reload is None:
            self.cache.on_reload = self.metrics.config_reloaded
        self.rotation_timeout = rotation_timeout
        self.asterisk_root = Path(asterisk_root) if asterisk_root is not None else None
        self._db = concurrent.futures.ThreadPoolExecutor(max(1, db_workers), thread_name_prefix="ivr400-db")
        self._local_rotation: dict[tuple[int, str], itertools.count[int]] = {}
        self.decisions = 0
        self.rotation_fallbacks = 0

    # ---- what the routes use (ivr400.controller.routes.RouteContext)
    def now(self) -> datetime:
        return self._now()

    def count_decision(self) -> None:
        self.decisions += 1

    @property
    def config(self) -> LoadedConfig | None:
        return self.cache.config

    async def rotate(self, entry: HotlineEntry, decision: Decision, now: datetime) -> Decision:
        """For a round-robin department with two or more routable seats: take the next position from the
        database and return the decision with its targets rotated; any other decision as it is."""
        if decision.action is not ActionKind.DEPARTMENT or decision.hunt_strategy is not HuntStrategy.ROUND_ROBIN:
            return decision
        dept = entry.routing.department(decision.department) if decision.department is not None else None
        if dept is None or sum(1 for t in dept.targets if t.routable_at(now)) < 2:
            return decision
        position = await self.next_rotation(entry.hotline_id, dept.key)
        return dataclasses.replace(decision, targets=hunt_order(dept, now, position))

    async def next_rotation(self, hotline_id: int, department_key: str) -> int:
        """The round-robin position to use now (then incremented in the database)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._db, self._next_rotation_sync, hotline_id, department_key)
        try:
            return await asyncio.wait_for(future, self.rotation_timeout)
        except Exception as exc:  # noqa: BLE001 - timeout or database error: rotate locally
            self.rotation_fallbacks += 1
            self.log.warning("round-robin counter of hotline %s department %s unavailable (%s: %s); "
                             "rotating with a local counter", hotline_id, department_key, type(exc).__name__, exc)
            counter = self._local_rotation.setdefault((hotline_id, department_key), itertools.count())
            return next(counter)

    def _next_rotation_sync(self, hotline_id: int, department_key: str) -> int:
        where = (HuntRotation.hotline_id == hotline_id, HuntRotation.department_key == department_key)
        bump = (
            update(HuntRotation).where(*where)
            .values(position=case((HuntRotation.position >= _ROTATION_WRAP, 1), else_=HuntRotation.position + 1))
            .returning(HuntRotation.position)
        )
        for _ in range(3):
            with self.engine.begin() as conn:
                new = conn.execute(bump).scalar()
            if new is not None:
                return int(new) - 1
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(HuntRotation).values(hotline_id=hotline_id, department_key=department_key,
                                                             position=1))
                return 0
            except IntegrityError:  # another controller inserted it first (or the hotline is gone)
                continue
        raise RuntimeError("could not read or create the hunt_rotation row")

    async def count_caller_calls(self, *, hotline: str, caller: str, since: datetime) -> int | None:
        """呼叫限制: the number of ``call_record`` rows of ``caller`` (normalized, as the call records store it)
        to ``hotline`` that started at or after ``since``; None if the database does not answer within
        ``rotation_timeout`` (the cap then lets the call through)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._db, self._count_caller_calls_sync, hotline, caller, since)
        try:
            return await asyncio.wait_for(future, self.rotation_timeout)
        except Exception as exc:  # noqa: BLE001 - timeout or database error: the cap lets the call through
            self.log.warning("caller cap of %s: the call records could not be counted (%s: %s)", hotline,
                             type(exc).__name__, exc)
            return None

    def _count_caller_calls_sync(self, hotline: str, caller: str, since: datetime) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(
                select(func.count()).select_from(CallRecord).where(
                    CallRecord.hotline == hotline, CallRecord.caller == caller, CallRecord.started_at >= since)
            ).scalar_one())

    async def hotline_balance(self, *, hotline_id: int, hotline: str) -> int | None:
        """话费余额: the hotline's top-ups minus the charges of its calls (fen, as ivr400.cdr.billing.balance);
        None if the database does not answer within ``rotation_timeout`` (the call is then routed)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._db, self._hotline_balance_sync, hotline_id, hotline)
        try:
            return await asyncio.wait_for(future, self.rotation_timeout)
        except Exception as exc:  # noqa: BLE001 - timeout or database error: routed, unflagged
            self.log.warning("balance of %s could not be read (%s: %s)", hotline, type(exc).__name__, exc)
            return None

    def _hotline_balance_sync(self, hotline_id: int, hotline: str) -> int:
        with self.engine.connect() as conn:
            topups = conn.execute(select(func.coalesce(func.sum(BalanceTopup.amount_fen), 0))
                                  .where(BalanceTopup.hotline_id == hotline_id)).scalar_one()
            charged = conn.execute(select(func.coalesce(func.sum(CallHour.charge_fen), 0))
                                   .where(CallHour.dim == "hotline", CallHour.hotline == hotline)).scalar_one()
        return int(topups) - int(charged)

    async def flag_balance(self, *, hotline: str, uniqueid: str, balance_fen: int | None) -> bool:
        """话费余额: insert the call's ``balance_flag`` row (and flag its call record and fact row should they
        already be there); False if the call was flagged already, or the database did not answer within
        ``rotation_timeout`` (logged: the call stays routed, the controller's WARNING line still names it)."""
        loop = asyncio.get_running_loop()
        at = self.now()
        future = loop.run_in_executor(self._db, self._flag_balance_sync, hotline, uniqueid, balance_fen, at)
        try:
            return await asyncio.wait_for(future, self.rotation_timeout)
        except Exception as exc:  # noqa: BLE001 - timeout or database error: routed, the flag only logged
            self.log.warning("balance flag of %s on %s could not be stored (%s: %s)", uniqueid, hotline,
                             type(exc).__name__, exc)
            return False

    def _flag_balance_sync(self, hotline: str, uniqueid: str, balance_fen: int | None, at: datetime) -> bool:
        try:
            with Session(self.engine) as session, session.begin():
                session.add(BalanceFlag(uniqueid=uniqueid, hotline=hotline, balance_fen=balance_fen, at=at))
                session.flush()
                for model in (CallRecord, CallFact):  # written before the flag: only if the hangup raced ahead
                    session.execute(update(model).where(model.uniqueid == uniqueid).values(balance_flagged=True))
        except IntegrityError:  # this call was flagged already
            return False
        return True

    async def save_survey(self, *, hotline: str, uniqueid: str, seat: str | None, score: int) -> bool:
        """满意度评价: insert one ``survey_response`` (``score`` 1-5, ValueError otherwise) for the call
        ``uniqueid``; False if the call already has one."""
        if not 1 <= score <= 5:
            raise ValueError(f"score: {score} is not 1-5")
        loop = asyncio.get_running_loop()
        at = self.now()
        return await asyncio.wait_for(
            loop.run_in_executor(self._db, self._save_survey_sync, hotline, uniqueid, seat, score, at), timeout=10.0)

    def _save_survey_sync(self, hotline: str, uniqueid: str, seat: str | None, score: int, at: datetime) -> bool:
        try:
            with Session(self.engine) as session, session.begin():
                session.add(SurveyResponse(uniqueid=uniqueid, hotline=hotline, seat=seat, score=score, at=at))
        except IntegrityError:  # this call already has its score
            return False
        return True

    async def save_voicemail(self, *, hotline: str, dept: str, uniqueid: str, caller: str | None,
                             file_path: str) -> bool:
        """Record a voicemail row through ``ivr400.provisioning.voicemail.record_voicemail`` (the insert the
        spool sync uses too; idempotent on ``uniqueid``). True if a row was created."""
        loop = asyncio.get_running_loop()
        recorded_at = self.now()
        return await asyncio.wait_for(
            loop.run_in_executor(self._db, self._save_voicemail_sync, hotline, dept, uniqueid, caller, file_path,
                                 recorded_at),
            timeout=10.0,
        )

    async def save_fax(self, *, hotline: str, uniqueid: str, caller: str | None, status: str, pages: int,
                       error: str | None, remote_station: str | None, file_path: str) -> bool:
        """Record a fax row through ``ivr400.provisioning.fax.record_fax`` (idempotent on ``uniqueid``; the host
        path stored when Asterisk's root is known). True if a row was created."""
        loop = asyncio.get_running_loop()
        received_at = self.now()
        stored = str(self.asterisk_root / file_path.lstrip("/")) if self.asterisk_root is not None else file_path

        def save() -> bool:
            try:
                with Session(self.engine) as session, session.begin():
                    _, created = record_fax(session, hotline_number=hotline, uniqueid=uniqueid, caller=caller,
                                            status=status, pages=pages, error=error, remote_station=remote_station,
                                            file_path=stored, received_at=received_at)
            except IntegrityError:  # recorded meanwhile by another controller
                return False
            return created

        return await asyncio.wait_for(loop.run_in_executor(self._db, save), timeout=10.0)

    def _host_file(self, file_path: str) -> tuple[str, int, float | None]:
        """(path to store, size, duration): the host path when Asterisk's root is known (as the spool sync
        stores it), else Asterisk's own path with size 0 (the next sync fills it in)."""
        if self.asterisk_root is None:
            return file_path, 0, None
        host_path = self.asterisk_root / file_path.lstrip("/")
        try:
            size = host_path.stat().st_size
        except OSError:
            return file_path, 0, None
        return str(host_path), size, wav_duration(host_path)

    def _save_voicemail_sync(self, hotline: str, dept: str, uniqueid: str, caller: str | None, file_path: str,
                             recorded_at: datetime) -> bool:
        stored, size, duration = self._host_file(file_path)
        try:
            with Session(self.engine) as session, session.begin():
                _, created = record_voicemail(session, hotline_number=hotline, uniqueid=uniqueid, file_path=stored,
                                              size=size, recorded_at=recorded_at, caller=caller,
                                              duration_s=duration, dept_path=dept or None)
        except IntegrityError:  # recorded meanwhile by another controller or the spool sync
            return False
        return created

    # ---- lifecycle
    async def start(self) -> None:
        """Warm the geocoder, load the configuration, start polling. Never raises for the database."""
        loop = asyncio.get_running_loop()
        self.metrics.watch(self.cache, loop=loop, rotation_fallbacks=lambda: self.rotation_fallbacks)
        await loop.run_in_executor(self._db, _warm_geocoder)
        await self.cache.start()

    async def stop(self) -> None:
        await self.cache.stop()
        self._db.shutdown(wait=False, cancel_futures=True)

    def routes(self) -> Mapping[str, Handler]:
        return bind(self)

    def server(self, host: str = "127.0.0.1", port: int = 4573, **options: Unpack[ServerOptions]) -> FastAGIServer:
        """A FastAGI server with the routes bound to this controller and its metrics observing (not started)."""
        return FastAGIServer(self.routes(), host, port, observer=self.metrics, **options)


def _warm_geocoder() -> None:
    """The first lookup loads phonenumbers' Chinese geocoding data, the first caller ID sent without its
    0 (1062345678) the area-code table; do both before the first call."""
    for number in ("01062345678", "13800138000"):
        geocode(number)
    normalize_caller("1062345678")


async def run_controller(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 4573,
    *,
    now: Callable[[], datetime] | None = None,
    grace: float = 10.0,
    on_started: Callable[[FastAGIServer, MetricsServer | None], None] | None = None,
    asterisk_root: Path | None = None,
    poll_interval: float = 0.2,
    metrics_address: tuple[str, int] | None = None,
    **options: Unpack[ServerOptions],
) -> FastAGIServer:
    """Start a controller and serve until SIGTERM/SIGINT (graceful: sessions in flight get ``grace``).

    ``metrics_address`` (host, port; port 0 = any free one): where ``/metrics`` and ``/healthz`` are
    served (None: not served); OSError if it cannot be bound, before the FastAGI port is opened.
    ``on_started(server, metrics_server)`` runs once both listen.
    """
    controller = Controller(engine, now=now, asterisk_root=asterisk_root, poll_interval=poll_interval)
    http = MetricsServer(controller.metrics, *metrics_address).start() if metrics_address is not None else None
    try:
        await controller.start()
        try:
            return await serve(controller.routes(), host, port, grace=grace,
                               on_started=(lambda srv: on_started(srv, http)) if on_started else None,
                               logger=logging.getLogger("ivr400.fastagi"), observer=controller.metrics, **options)
        finally:
            await controller.stop()
    finally:
        if http is not None:
            http.stop()
