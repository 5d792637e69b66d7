"""The controller's in-memory routing configuration, invalidated from the database.

One :class:`LoadedConfig` (see ``ivr400.controller.loader``) is served to every call. A background task
reads ``config_generation`` every ``poll_interval`` (200 ms) in a worker thread; when the value moved (any
insert/update/delete on a routing-relevant table, whoever made it: CLI, web or raw SQL) or a
destination's ``valid_from`` has just passed, it loads a new configuration in the same worker thread and
swaps the reference. Calls keep being decided from the old configuration meanwhile: the event loop never
waits for the database. So an edit is seen by calls starting about ``poll_interval + load time`` later.

The load is **incremental** when it can be: the triggers of migration 0014 log, in ``config_change``, the
hotline each changed row may reroute. After the last change id it applied, the cache reads the new rows
and reloads only those hotlines (``load_config(only=…, base=…)``), so one edit costs one hotline's read
whatever the number of hotlines. It loads in full instead when a row names no hotline (a shared table:
tones, trunks, calendar, region overrides, carrier policy), when more than :data:`MAX_INCREMENTAL`
hotlines changed, when the generation moved without a new change row, when a time-bound change
(``next_change_at``) is due, and every :data:`FULL_RELOAD_S` seconds as a safety net. Change ids are
applied in order: an id missing below a newer one (a PostgreSQL writer that has not committed yet) holds
the applied id back, the newer rows are applied meanwhile, and after :data:`GAP_WAIT_S` seconds the gap
is taken for a rolled-back transaction and passed with a full load.

Failures never stop the controller: a failed initial load leaves :attr:`ConfigCache.config` None (the
routes then leave every call to the dialplan's static plan), a failed poll or reload keeps the previous
configuration; both are logged (rate-limited) and retried at the next tick. Nothing here is shared
between processes: each controller keeps its own cache (stateless controllers, docs/architecture.md).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr400.controller.loader import LoadedConfig, load_config
from ivr400.db.changes import MAX_INCREMENTAL, changes_after, last_change_id, plan_reload
from ivr400.db.models import ConfigGeneration

__all__ = ["FULL_RELOAD_S", "GAP_WAIT_S", "MAX_INCREMENTAL", "ConfigCache", "plan_reload"]

_log = logging.getLogger(__name__)

Loader = Callable[..., LoadedConfig]

#: A change id missing for this long below newer ones is a rolled-back transaction's (seconds).
GAP_WAIT_S = 10.0
#: A full load at least this often, whatever the change log says (seconds).
FULL_RELOAD_S = 300.0


class ConfigCache:
    """Holds the current :class:`LoadedConfig`; :meth:`start` loads it and begins polling.

    ``now`` is the controller's clock (injectable for tests); ``loader`` defaults to
    :func:`~ivr400.controller.loader.load_config`. ``executor`` runs the database work (a private
    single-thread pool by default, so polls and loads never pile up). ``on_reload(config)`` is called in
    the event loop each time a configuration is installed (the controller's metrics; an exception there
    is logged, never raised).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        now: Callable[[], datetime],
        poll_interval: float = 0.2,
        loader: Loader = load_config,
        executor: concurrent.futures.Executor | None = None,
        logger: logging.Logger | None = None,
        slow_warning_s: float = 2.0,
        error_log_interval_s: float = 30.0,
        on_reload: Callable[[LoadedConfig], None] | None = None,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0")
        self.engine = engine
        self.now = now
        self.poll_interval = poll_interval
        self._loader = loader
        self._own_executor = executor is None
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ivr400-config")
        self.log = logger or _log
        self.slow_warning_s = slow_warning_s
        self.error_log_interval_s = error_log_interval_s
        self._config: LoadedConfig | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None
        self._last_error_log = 0.0
        #: Counters for logs and tests.
        self.polls = 0
        self.reloads = 0
        self.failures = 0
        #: time.monotonic() of the last poll that reached the database.
        self.last_ok: float | None = None
        self.on_reload = on_reload
        #: The config_change id every change up to which the installed configuration includes (None: the
        #: table is missing, an older schema: every reload is full).
        self.change_id: int | None = None
        self.incremental_reloads = 0
        self._gap_since: float | None = None
        self._full_at = 0.0

    # ---- what the routes read
    @property
    def config(self) -> LoadedConfig | None:
        """The configuration in force (None until a load succeeded)."""
        return self._config

    @property
    def generation(self) -> int | None:
        return None if self._config is None else self._config.generation

    @property
    def failing_since(self) -> float | None:
        """time.monotonic() since when polls fail (None while the database answers)."""
        return self._failing_since

    # ---- synchronous work, run in the worker thread
    def read_generation(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(ConfigGeneration.value).where(ConfigGeneration.id == 1)).scalar()
        return None if value is None else int(value)

    def load(self) -> LoadedConfig:
        """Load a configuration now (blocking, in full) and install it; returns it."""
        loaded = self._poll_sync(True)
        assert loaded is not None
        self._install(*loaded)
        return loaded[0]

    def _last_change(self, session: Session) -> int | None:
        return last_change_id(session)

    def _poll_sync(self, force: bool) -> tuple[LoadedConfig, int | None] | None:
        """One tick: read the generation; load when it moved, when forced, or when a validity starts.

        Returns the new configuration with the change id it includes, or None when nothing is due.
        """
        generation = self.read_generation()
        current = self._config
        clock = time.monotonic()
        full = (
            force
            or current is None
            or self.change_id is None
            or (current.next_change_at is not None and self.now() >= current.next_change_at)
            or clock - self._full_at >= FULL_RELOAD_S
        )
        if not full and generation == current.generation and self._gap_since is None:  # type: ignore[union-attr]
            return None
        with Session(self.engine) as session:
            if not full:
                assert current is not None and self.change_id is not None
                rows = changes_after(session, self.change_id)
                applied, hotlines, gap = plan_reload(self.change_id, rows)
                if gap:
                    self._gap_since = self._gap_since or clock
                    if clock - self._gap_since >= GAP_WAIT_S:  # a rolled-back writer's ids: go past them
                        self.log.warning("config_change ids missing for %.0f s: reloading in full", GAP_WAIT_S)
                        full = True
                else:
                    self._gap_since = None
                if not rows and generation != current.generation:
                    full = True  # the generation moved with no change row seen: trust nothing, read all
                if not full and hotlines is not None:
                    if not hotlines:
                        return (current if generation == current.generation
                                else replace(current, generation=generation)), applied
                    config = self._loader(session, self.now(), only=hotlines, base=current)
                    return replace(config, generation=generation), applied
                full = True
            top = self._last_change(session)  # before the read: a later change is applied next time
            config = self._loader(session, self.now())
            self._full_at = clock
            self._gap_since = None
            return config, top

    def _install(self, config: LoadedConfig, change_id: int | None) -> None:
        previous = self._config
        self.change_id = change_id
        if config is previous:
            return
        self._config = config
        self.reloads += 1
        if config.reloaded is not None:
            self.incremental_reloads += 1
        if previous is None:
            self.log.info("configuration loaded: %s", config.summary())
        else:
            self.log.info("configuration reloaded (generation %s -> %s): %s", previous.generation,
                          config.generation, config.summary())
        if self.on_reload is not None:
            try:
                self.on_reload(config)
            except Exception:  # noqa: BLE001 - metrics must never cost the configuration
                self.log.exception("on_reload callback failed")

    # ---- async API
    async def refresh(self, *, force: bool = False) -> bool:
        """Poll once (in the worker thread); True if a new configuration was installed. Never raises
        for database errors: they are logged and the previous configuration stays."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._poll_sync, force)
        started = time.monotonic()
        warned = False
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=self.slow_warning_s)
                if done:
                    break
                if not warned:
                    warned = True
                    self.log.warning("configuration poll has taken %.1fs (database slow or locked?); "
                                     "calls use the configuration loaded before", time.monotonic() - started)
            config = future.result()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any database or loader failure
            self._failed(exc)
            return False
        self.polls += 1
        self.last_ok = time.monotonic()
        if self._failing_since is not None:
            self.log.info("configuration poll works again after %.1fs", time.monotonic() - self._failing_since)
            self._failing_since = None
        if config is None:
            return False
        installed = self._config
        self._install(*config)
        return self._config is not installed

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        first = self._failing_since is None
        if first:
            self._failing_since = now
        if first or now - self._last_error_log >= self.error_log_interval_s:
            self._last_error_log = now
            state = ("no configuration yet: calls take the static plan" if self._config is None
                     else f"still serving generation {self._config.generation}")
            self.log.error("configuration poll failed (%s): %s: %s", state, type(exc).__name__, exc,
                           exc_info=first)

    async def start(self) -> None:
        """Load once (a failure is logged, not raised) and start polling."""
        await self.refresh(force=True)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ivr400-config-poll")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep polling whatever happens
                self._failed(exc)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
