"""The controller's in-memory routing configuration, invalidated from the database.

One :class:`LoadedConfig` (see ``ivr400.controller.loader``) is served to every call. A background task
reads ``config_generation`` every ``poll_interval`` (200 ms) in a worker thread; when the value moved (any
insert/update/delete on a routing-relevant table, whoever made it: CLI, web or raw SQL) or a
destination's ``valid_from`` has just passed, it loads a new configuration in the same worker thread and
swaps the reference. Calls keep being decided from the old configuration meanwhile: the event loop never
waits for the database. So an edit is seen by calls starting about ``poll_interval + load time`` later.

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
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr400.controller.loader import LoadedConfig, load_config
from ivr400.db.models import ConfigGeneration

__all__ = ["ConfigCache"]

_log = logging.getLogger(__name__)

Loader = Callable[[Session, datetime], LoadedConfig]


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
        """Load a configuration now (blocking) and install it; returns it."""
        with Session(self.engine) as session:
            config = self._loader(session, self.now())
        self._install(config)
        return config

    def _poll_sync(self, force: bool) -> LoadedConfig | None:
        """One tick: read the generation; load when it moved, when forced, or when a validity starts."""
        generation = self.read_generation()
        current = self._config
        due = (
            force
            or current is None
            or generation != current.generation
            or (current.next_change_at is not None and self.now() >= current.next_change_at)
        )
        if not due:
            return None
        with Session(self.engine) as session:
            return self._loader(session, self.now())

    def _install(self, config: LoadedConfig) -> None:
        previous = self._config
        self._config = config
        self.reloads += 1
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
        self._install(config)
        return True

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
