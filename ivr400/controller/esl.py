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

:func:`run_esl_controller` is what ``ivr400 serve --pbx freeswitch`` runs: until SIGTERM, then drain.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ivr400.controller.app import Controller
from ivr400.controller.metrics import MetricsServer
from ivr400.controller.routes import FREESWITCH, bind
from ivr400.pbx.freeswitch.esl import OutboundServer, serve_outbound

__all__ = ["esl_server", "run_esl_controller"]


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
    **options: Any,  # noqa: ANN401
) -> OutboundServer:
    """Start a controller and serve FreeSWITCH hooks until SIGTERM/SIGINT (sessions in flight get ``grace``).
    ``metrics_address`` as for ``run_controller``; OSError when a port cannot be bound."""
    controller = Controller(engine, now=now, asterisk_root=freeswitch_root, poll_interval=poll_interval)
    http = MetricsServer(controller.metrics, *metrics_address).start() if metrics_address is not None else None
    try:
        await controller.start()
        try:
            server = esl_server(controller, host, port, **options)
            return await serve_outbound(server, grace=grace,
                                        on_started=(lambda srv: on_started(srv, http)) if on_started else None)
        finally:
            await controller.stop()
    finally:
        if http is not None:
            http.stop()
