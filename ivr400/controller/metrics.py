"""The controller's Prometheus metrics and health check (监控), served on a port of their own.

    metrics = ControllerMetrics()                     # a private CollectorRegistry
    controller = Controller(engine, metrics=metrics)  # (the default makes one) watches cache and server
    http = MetricsServer(metrics, "127.0.0.1", 9400).start()   # GET /metrics, GET /healthz; own thread
                                                      # (ivr400 serve's defaults)
    ...
    http.stop()

How the metrics learn what happened: a decision route returns ``Decided`` (the dialplan was sent a
decision) or ``StaticPlan`` (the route deliberately set nothing, so the dialplan runs its static plan; both
in ``ivr400.controller.routes.context``); the FastAGI server hands that return value, with the session's
outcome as *it* saw it (``ok``, ``hangup``, ``error``, ``timeout``...), to
:meth:`ControllerMetrics.session_ended` (the metrics are the server's ``observer``). The configuration
cache calls :meth:`ControllerMetrics.config_reloaded`; its poll state, and the round-robin fallbacks, are
read at scrape time.

Metrics (``route`` is a registered route name, else ``other``; times in seconds):

* ``ivr400_agi_sessions_total{route,outcome}`` — sessions whose request header was read, by the
  server's outcome (ok, hangup, unknown_route, error, timeout, protocol_error, cancelled);
* ``ivr400_agi_sessions_in_flight`` — sessions between their header and their end;
* ``ivr400_agi_rejected_total{reason}`` — connections closed before a request was read (capacity,
  closing, header_timeout, header_eof, bad_header, no_request: closed before sending a byte, a port probe);
* ``ivr400_decisions_total{route,outcome}`` — decisions delivered: the route returned ``Decided`` and
  the session ended ``ok``. ``outcome`` is the action (menu, department, voicemail, announcement,
  refuse) or ``unknown_number`` (a 400 number that is not an active hotline);
* ``ivr400_decision_latency_seconds{route}`` — histogram of those sessions, from the end of the request
  header to the last reply (what the call waits for once connected);
* ``ivr400_static_plan_handoffs_total{route,reason}`` — decision hooks **the controller saw** end without
  a decision, so the dialplan took its static plan: the route's reason (no_config, malformed_request,
  skipped_hotline, invalid_rules), ``no_decision`` (returned nothing), or the server's outcome (error,
  timeout, protocol_error, cancelled, unknown_route); and rejected connections as ``route="unknown"``,
  ``reason="rejected_<reason>"`` (the route was never read: voicemail_saved hooks may be among them),
  except port probes (no_request: Asterisk sends its request at once).
  Not counted, because the controller never hears of them: calls whose hook could not connect
  (controller down, connect timeout) and the later hooks such a call skips. A caller who hangs up during
  a hook is not a handoff either;
* ``ivr400_config_generation``, ``ivr400_config_loaded`` (1/0), ``ivr400_config_reloads_total`` (of which
  ``ivr400_config_incremental_reloads_total`` read only the changed hotlines),
  ``ivr400_config_load_seconds`` (histogram, the loader's own timing), ``ivr400_config_last_reload_timestamp_seconds``
  (Unix time), ``ivr400_config_poll_failures_total``, ``ivr400_config_last_poll_age_seconds`` (since the
  database last answered a poll; NaN before the first);
* ``ivr400_rotation_local_fallbacks_total`` — round-robin positions taken from a process-local counter
  because the database did not answer in time.

The FreeSWITCH outbound-socket server (``ivr400.pbx.freeswitch.esl.OutboundServer``, ``serve --pbx freeswitch``)
reports to the same observer interface, so its hooks count in the same ``ivr400_agi_*`` / ``ivr400_decisions``
series (same route names); its rejections add the reasons ``connect_timeout``, ``connect_eof`` (FreeSWITCH
closed before answering ``connect``), ``bad_connect`` and ``bad_hook`` (no valid ``IVR400_HOOK``).

``GET /healthz`` (JSON, see :meth:`ControllerMetrics.health`): 200 while calls are decided from a loaded
configuration — ``"database": "reachable"`` when it is fresh, else ``"serving from cache"`` with why and
since when; 503 when no configuration is loaded (every call takes the static plan) or the event loop does
not answer within a second.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from ivr400.controller.routes.context import Decided, StaticPlan
from ivr400.pbx.asterisk import dialplan_variables as v

if TYPE_CHECKING:
    from ivr400.controller.cache import ConfigCache
    from ivr400.controller.loader import LoadedConfig
    from ivr400.pbx.asterisk.fastagi import AGISession

__all__ = [
    "ControllerMetrics",
    "MetricsAddressError",
    "MetricsServer",
]

#: Decision latency buckets (s): a decision takes 1-5 ms on loopback; Asterisk gives up after 2 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
LOAD_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: A configuration whose last successful poll is older than this is reported as served from cache.
STALE_AFTER_S = 10.0
#: Server outcomes that, for a decision hook, leave the call to the static plan.
_FAILED = frozenset({"error", "timeout", "protocol_error", "cancelled", "unknown_route"})
_REJECT_REASONS = ("capacity", "closing", "header_timeout", "header_eof", "bad_header")
#: Connections closed before sending a byte: port probes (health checks, `nc -z`), not Asterisk.
_PROBE = "no_request"
_ROUTE_REASONS = ("no_config", "malformed_request", "skipped_hotline", "invalid_rules", "no_decision")

_log = logging.getLogger("ivr400.controller.metrics")


class ControllerMetrics:
    """The metrics of one controller, in their own registry (several controllers may live in one process).

    It is the FastAGI server's observer (:meth:`session_started`, :meth:`session_ended`,
    :meth:`rejected`); :meth:`watch` attaches the configuration cache and the event loop (for
    :meth:`health`). ``routes`` are the registered route names, ``decision_routes`` those whose failure
    sends the call to the static plan.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        routes: Iterable[str] = (v.ROUTE_CALL, v.ROUTE_DEPARTMENT, v.ROUTE_VOICEMAIL),
        decision_routes: Iterable[str] = (v.ROUTE_CALL, v.ROUTE_DEPARTMENT),
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.routes = frozenset(routes)
        self.decision_routes = frozenset(decision_routes)
        self.stale_after_s = stale_after_s
        self.cache: ConfigCache | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._rotation_fallbacks: Callable[[], int] = lambda: 0
        self._reloaded_at: float | None = None  # time.monotonic() of the last install
        r = self.registry
        self.sessions = Counter("ivr400_agi_sessions", "FastAGI sessions whose request header was read, by "
                                "route and by the outcome the server saw.", ["route", "outcome"], registry=r)
        self.in_flight = Gauge("ivr400_agi_sessions_in_flight", "FastAGI sessions between their request header "
                               "and their end.", registry=r)
        self.rejected_total = Counter("ivr400_agi_rejected", "FastAGI connections closed before a request was "
                                      "read.", ["reason"], registry=r)
        self.decisions = Counter("ivr400_decisions", "Decisions delivered to the dialplan, by route and outcome "
                                 "(the action, or unknown_number).", ["route", "outcome"], registry=r)
        self.latency = Histogram("ivr400_decision_latency_seconds", "Seconds from the end of the request header "
                                 "to the last reply, for sessions that delivered a decision.", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.static_plan = Counter(
            "ivr400_static_plan_handoffs", "Decision hooks the controller saw end without a decision, so the "
            "dialplan took its static plan (hooks that never reached the controller are not counted).",
            ["route", "reason"], registry=r)
        self.reloads = Counter("ivr400_config_reloads", "Routing configurations loaded and installed.",
                               registry=r)
        self.incremental_reloads = Counter(
            "ivr400_config_incremental_reloads", "Of those, the loads that read only the hotlines the change log "
            "named (the rest were full loads).", registry=r)
        self.load_seconds = Histogram("ivr400_config_load_seconds", "Seconds a routing configuration took to "
                                      "load from the database.", buckets=LOAD_BUCKETS, registry=r)
        self.reload_timestamp = Gauge("ivr400_config_last_reload_timestamp_seconds", "Unix time the routing "
                                      "configuration in force was installed.", registry=r)
        for route in self.decision_routes:
            for reason in (*_ROUTE_REASONS, *sorted(_FAILED)):
                self.static_plan.labels(route, reason)
        for reason in _REJECT_REASONS:
            self.rejected_total.labels(reason)
            self.static_plan.labels("unknown", f"rejected_{reason}")
        self.rejected_total.labels(_PROBE)
        r.register(_StateCollector(self))

    # ---- wiring
    def watch(self, cache: ConfigCache, *, loop: asyncio.AbstractEventLoop | None = None,
              rotation_fallbacks: Callable[[], int] | None = None) -> None:
        """Read ``cache``'s state at scrape time; ``loop`` is the controller's event loop (health probes
        it); ``rotation_fallbacks`` returns the controller's count of local round-robin positions."""
        self.cache = cache
        self.loop = loop
        if rotation_fallbacks is not None:
            self._rotation_fallbacks = rotation_fallbacks
        if cache.config is not None and self._reloaded_at is None:
            self.config_reloaded(cache.config)

    def _route(self, name: str) -> str:
        return name if name in self.routes else "other"

    # ---- the FastAGI server's observer
    def session_started(self, session: AGISession) -> None:
        self.in_flight.inc()

    def session_ended(self, session: AGISession, outcome: str, result: object, seconds: float) -> None:
        self.in_flight.dec()
        route = self._route(session.route)
        self.sessions.labels(route, outcome).inc()
        if route not in self.decision_routes:
            return
        if outcome == "ok":
            if isinstance(result, Decided):
                self.decisions.labels(route, result.outcome).inc()
                self.latency.labels(route).observe(seconds)
            elif isinstance(result, StaticPlan):
                self.static_plan.labels(route, result.reason).inc()
            else:
                self.static_plan.labels(route, "no_decision").inc()
        elif outcome in _FAILED:
            self.static_plan.labels(route, outcome).inc()

    def rejected(self, reason: str) -> None:
        self.rejected_total.labels(reason).inc()
        if reason != _PROBE:
            self.static_plan.labels("unknown", f"rejected_{reason}").inc()

    # ---- the configuration cache's callback
    def config_reloaded(self, config: LoadedConfig) -> None:
        self._reloaded_at = time.monotonic()
        self.reloads.inc()
        if config.reloaded is not None:
            self.incremental_reloads.inc()
        self.load_seconds.observe(config.load_seconds)
        self.reload_timestamp.set(time.time())

    # ---- health
    def health(self, *, loop_timeout_s: float = 1.0) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body). Safe to call from any thread.

        200 ``"status": "ok"`` — a configuration is loaded and the database answered a poll within
        ``stale_after_s``; 200 ``"degraded"`` — calls are decided from the configuration in cache while
        the database fails or does not answer (``database`` says which, since when); 503
        ``"unavailable"`` — no configuration (every call takes the static plan), or the event loop did
        not run a no-op within ``loop_timeout_s`` (the controller is wedged).
        """
        cache = self.cache
        if self.loop is not None and not _loop_answers(self.loop, loop_timeout_s):
            return 503, {"status": "unavailable",
                         "reason": f"the controller's event loop did not answer within {loop_timeout_s:g} s"}
        if cache is None:
            return 503, {"status": "unavailable", "reason": "the controller has not started"}
        now = time.monotonic()
        last_ok = None if cache.last_ok is None else round(now - cache.last_ok, 3)
        failing = cache.failing_since
        config = cache.config
        if failing is not None:
            database = f"unreachable: polls failing for {now - failing:.1f} s"
        elif last_ok is None or last_ok > self.stale_after_s:
            database = ("not answering: no poll answered yet" if last_ok is None
                        else f"not answering: last poll answered {last_ok:.1f} s ago")
        else:
            database = "reachable"
        body: dict[str, Any] = {"database": database, "last_poll_s_ago": last_ok}
        if config is None:
            return 503, {"status": "unavailable",
                         "reason": "no configuration loaded: every call takes the static plan", **body}
        body["config"] = {
            "generation": config.generation,
            "hotlines": len(config.hotlines),
            "skipped": len(config.skipped),
            "installed_s_ago": None if self._reloaded_at is None else round(now - self._reloaded_at, 3),
        }
        if database == "reachable":
            return 200, {"status": "ok", **body}
        body["serving"] = f"from cache: generation {config.generation}"
        return 200, {"status": "degraded", **body}


def _loop_answers(loop: asyncio.AbstractEventLoop, timeout: float) -> bool:
    if loop.is_closed() or not loop.is_running():
        return False
    try:
        if asyncio.get_running_loop() is loop:  # called from the loop itself: it answers by definition
            return True
    except RuntimeError:  # no loop in this thread: the usual case (the HTTP thread)
        pass
    try:
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout)
    except Exception:  # noqa: BLE001 - timeout, or the loop stopped
        return False
    return True


class _StateCollector(Collector):
    """Values that already live in the cache and the controller, read at scrape time."""

    def __init__(self, metrics: ControllerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # collected lazily: no registration-time collect()

    def collect(self) -> Iterator[Metric]:
        cache = self.metrics.cache
        config = cache.config if cache is not None else None
        generation = config.generation if config is not None else None
        yield GaugeMetricFamily("ivr400_config_generation", "The config_generation value of the routing "
                                "configuration in force (NaN before the first load).",
                                value=math.nan if generation is None else float(generation))
        yield GaugeMetricFamily("ivr400_config_loaded", "1 when a routing configuration is loaded, else 0 (every "
                                "call then takes the static plan).", value=0.0 if config is None else 1.0)
        yield CounterMetricFamily("ivr400_config_poll_failures", "Polls of config_generation (or loads) that "
                                  "failed.", value=0 if cache is None else cache.failures)
        last_ok = None if cache is None else cache.last_ok
        yield GaugeMetricFamily("ivr400_config_last_poll_age_seconds", "Seconds since the database last answered "
                                "a poll (NaN before the first).",
                                value=math.nan if last_ok is None else time.monotonic() - last_ok)
        yield CounterMetricFamily("ivr400_rotation_local_fallbacks", "Round-robin positions taken from a "
                                  "process-local counter because the database did not answer in time.",
                                  value=self.metrics._rotation_fallbacks())


# --------------------------------------------------------------------------- HTTP


class MetricsAddressError(OSError):
    """The metrics address cannot be listened on (taken, not local, bad host)."""


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        _log.debug("metrics http: " + format, *args)


class MetricsServer:
    """``GET /metrics`` (Prometheus text format, prometheus_client's WSGI app) and ``GET /healthz`` on
    ``host:port`` (0: any free port), served by a thread per request outside the event loop, so a scrape
    never delays a call. :meth:`start` raises :class:`MetricsAddressError` if it cannot listen."""

    def __init__(self, metrics: ControllerMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self._requested_port = port
        self._prometheus = make_wsgi_app(metrics.registry)
        self._httpd: ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._prometheus(environ, start_response)
        if path == "/healthz":
            if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
                start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
                return [b""]
            status, body = self.metrics.health()
            data = (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode()
            reason = "OK" if status == 200 else "Service Unavailable"
            start_response(f"{status} {reason}", [("Content-Type", "application/json; charset=utf-8"),
                                                   ("Cache-Control", "no-store")])
            return [data]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"ivr400 controller: GET /metrics or /healthz\n"]

    def start(self) -> MetricsServer:
        try:
            family = socket.getaddrinfo(self.host, self._requested_port, type=socket.SOCK_STREAM)[0][0]
            server_class = type("_MetricsHTTPServer", (ThreadingWSGIServer,), {"address_family": family})
            self._httpd = make_server(self.host, self._requested_port, self._app, server_class,
                                      handler_class=_QuietHandler)
        except OSError as exc:
            raise MetricsAddressError(exc.errno, f"cannot listen on {self.host}:{self._requested_port}: "
                                                 f"{exc.strerror or exc}") from exc
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ivr400-metrics", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self._httpd.server_port if self._httpd is not None else self._requested_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
