"""The controller over FreeSWITCH's event socket: the same routes, the same decisions, FreeSWITCH dial strings.

FreeSWITCH's ``socket`` application (``<host>:<port> async full``) connects to :func:`esl_server`'s port once
per hook; the session (``ivr400.pbx.freeswitch.esl.OutboundSession``) is a ``CallSession`` like the FastAGI
one, so ``route``, ``department`` and ``voicemail_saved`` run unchanged with the
:data:`~ivr400.controller.routes.dialect.FREESWITCH` dialect bound (``sofia/gateway/...`` targets, ringback
files). The controller (:class:`~ivr400.controller.app.Controller`: configuration cache, clock, round-robin
counter, voicemail insert, metrics) is the same object the FastAGI server uses, so both PBXs can be served
by one process side by side.

    controller = Controller(engine)
    await controller.start()
    async with esl_server(controller, port=0) as server: ...   # server.port
    await controller.stop()

:func:`run_esl_controller` is what ``ivr400 serve --pbx freeswitch`` runs: until SIGTERM, then drain. Given the
event socket's address and password it also follows FreeSWITCH's events (:func:`follow_events`: call records
from ``CHANNEL_HANGUP_COMPLETE``, voicemail rows from ``CUSTOM ivr400::voicemail``), reconnecting while
FreeSWITCH is away.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ivr400.controller.app import Controller
from ivr400.controller.esl_events import FreeSwitchEvents
from ivr400.controller.metrics import MetricsServer
from ivr400.controller.routes import FREESWITCH, bind
from ivr400.pbx.freeswitch.esl import ESLAuthError, ESLError, InboundClient, OutboundServer, serve_outbound

__all__ = ["esl_server", "follow_events", "run_esl_controller"]

_log = logging.getLogger("ivr400.esl.events")


async def follow_events(engine: Engine, controller: Controller, host: str, port: int, password: str, *,
                        stop: asyncio.Event, retry: float = 5.0, timeout: float = 5.0) -> FreeSwitchEvents:
    """Follow FreeSWITCH's events at ``host:port`` until ``stop`` is set, reconnecting every ``retry`` seconds
    while it cannot be reached or closes. Returns the follower (its ``counts``). The password is never logged."""
    follower = FreeSwitchEvents(engine, controller, logger=_log)
    while not stop.is_set():
        try:
            client = await InboundClient.open(host, port, password, timeout=timeout, logger=_log)
        except ESLAuthError as exc:
            _log.error("FreeSWITCH's event socket refused freeswitch.esl_password: %s", exc)
        except (ESLError, OSError) as exc:
            _log.warning("cannot follow FreeSWITCH's events at %s:%s (%s); retrying in %s s", host, port, exc, retry)
        else:
            _log.info("following FreeSWITCH's events at %s:%s", host, port)
            running = asyncio.ensure_future(follower.run(client))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            await client.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(running, 2.0)
            if stop.is_set():
                break
            _log.warning("FreeSWITCH's event socket at %s:%s closed; reconnecting in %s s", host, port, retry)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), retry)
    return follower


def esl_server(controller: Controller, host: str = "127.0.0.1", port: int = 8084, **options: Any) -> OutboundServer:  # noqa: ANN401
    """An outbound-socket server with the routes bound to ``controller`` in the FreeSWITCH dialect and the
    controller's metrics observing (not started). ``options``: :class:`OutboundServer`'s keywords
    (``max_sessions``, ``connect_timeout``, ``command_timeout``, ``session_timeout``...)."""
    return OutboundServer(bind(controller, FREESWITCH), host, port, observer=controller.metrics,
                          logger=logging.getLogger("ivr400.esl"), **options)


async def run_esl_controller(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 8084,
    *,
    now: Callable[[], datetime] | None = None,
    grace: float = 10.0,
    on_started: Callable[[OutboundServer, MetricsServer | None], None] | None = None,
    freeswitch_root: Path | None = None,
    poll_interval: float = 0.2,
    metrics_address: tuple[str, int] | None = None,
    events: tuple[str, int, str] | None = None,
    **options: Any,  # noqa: ANN401
) -> OutboundServer:
    """Start a controller and serve FreeSWITCH hooks until SIGTERM/SIGINT (sessions in flight get ``grace``).
    ``metrics_address`` as for ``run_controller``; ``events`` (host, port, password of the event socket):
    follow its events meanwhile (None: do not). OSError when a port cannot be bound."""
    controller = Controller(engine, now=now, asterisk_root=freeswitch_root, poll_interval=poll_interval)
    http = MetricsServer(controller.metrics, *metrics_address).start() if metrics_address is not None else None
    try:
        await controller.start()
        stop = asyncio.Event()
        following = (asyncio.ensure_future(follow_events(engine, controller, *events, stop=stop))
                     if events is not None else None)
        try:
            server = esl_server(controller, host, port, **options)
            return await serve_outbound(server, grace=grace,
                                        on_started=(lambda srv: on_started(srv, http)) if on_started else None)
        finally:
            stop.set()
            if following is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(following, 10.0)
            await controller.stop()
    finally:
        if http is not None:
            http.stop()
