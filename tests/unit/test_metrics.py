"""The controller's /metrics and /healthz, scraped over HTTP after real decisions through the fake Asterisk.

A controller on a real SQLite database (provisioned with the services, as in test_routes.py) serves
FastAGI on a free port and its metrics on another; the fake Asterisk plays each kind of session once
and the test checks every counter moved by exactly the expected amount, and nothing else moved.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ivr400.controller import Controller  # noqa: E402
from ivr400.controller.metrics import MetricsServer  # noqa: E402
from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.db.migrate import upgrade  # noqa: E402
from ivr400.pbx.asterisk import dialplan_variables as v  # noqa: E402
from ivr400.pbx.asterisk.fastagi import UniqueidLogFilter, current_uniqueid  # noqa: E402
from ivr400.provisioning import time_rules  # noqa: E402
from ivr400.provisioning.hotlines import add_hotline  # noqa: E402
from tests.fakes.fake_asterisk import NO_REPLY, FakeAsterisk  # noqa: E402
from tests.scrape import Samples, delta, key  # noqa: E402
from tests.scrape import healthz as healthz_sync  # noqa: E402
from tests.scrape import http_get as _get  # noqa: E402
from tests.scrape import scrape as scrape_sync  # noqa: E402
from tests.unit.test_routes import HOTLINE, NOW, Lab, _hotline, provision, run  # noqa: E402


async def scrape(base: str) -> Samples:
    """Fetched from a thread: the event loop keeps serving (and answers the health check's probe)."""
    return await asyncio.to_thread(scrape_sync, base)


async def healthz(base: str) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(healthz_sync, base)


@contextlib.asynccontextmanager
async def serving(lab: Lab, **server_options: Any) -> AsyncIterator[tuple[Controller, int, str]]:  # noqa: ANN401
    ctl = Controller(lab.engine, now=lab.now)
    await ctl.start()
    server = ctl.server("127.0.0.1", 0, **server_options)
    await server.start()
    http = MetricsServer(ctl.metrics, "127.0.0.1", 0).start()
    try:
        yield ctl, server.port, http.url
    finally:
        http.stop()
        await server.close(grace=1.0)
        await ctl.stop()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    eng = make_engine(f"sqlite:///{tmp_path / 'metrics.db'}")
    upgrade(eng)
    yield Lab(eng, tmp_path)
    eng.dispose()


def test_counters_move_by_exactly_the_sessions_played(lab: Lab) -> None:
    provision(lab, departments=True)
    # A second hotline whose rules are invalid (a raw-SQL row): its entry hook leaves the call to the static plan.
    lab.edit(lambda s: add_hotline(s, "4008000002", _hotline(s).enterprise, now=NOW))
    lab.edit(lambda s: s.execute(text(
        "INSERT INTO time_rule (hotline_id, priority, days, weekdays, segments, action_kind) "
        "SELECT id, 1, '[\"someday\"]', '[]', '[]', 'menu' FROM hotline WHERE number = '4008000002'")))

    async def scenario() -> tuple[Samples, Samples, Samples, list[FakeAsterisk]]:
        async with serving(lab, command_timeout=0.3) as (ctl, port, base):
            assert ctl.config is not None and not ctl.config.get("4008000002").rules_ok
            before = await scrape(base)

            async def play(route: str, query: str, **kw: Any) -> FakeAsterisk:  # noqa: ANN401
                return await FakeAsterisk(port, route=route, query=query, **kw).run()

            fakes = [
                await play(v.ROUTE_CALL, f"hotline={HOTLINE}"),                        # menu
                await play(v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=1"),           # two seats ring
                await play(v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=9"),           # unknown key: nobody
                await play(v.ROUTE_CALL, "hotline=4008999999"),                        # not a hotline
                await play(v.ROUTE_CALL, "hotline=4008000002"),                        # invalid rules
                await play(v.ROUTE_CALL, "hotline=12345"),                             # malformed
                await play(v.ROUTE_CALL, f"hotline={HOTLINE}",                         # caller hangs up
                           script={"EXEC": "511 Command Not Permitted on a dead channel"}),
                await play(v.ROUTE_CALL, f"hotline={HOTLINE}", script={"EXEC": NO_REPLY}),  # no reply
                await play("nosuch", ""),                                               # unknown route
            ]
            await FakeAsterisk(port).close_mid_header(lines=3)                          # early EOF
            _, probe = await asyncio.open_connection("127.0.0.1", port)                 # a port probe
            probe.close()
            deadline = time.monotonic() + 5
            sample = ctl.metrics.registry.get_sample_value
            while sample("ivr400_agi_sessions_in_flight") != 0 or sample(
                    "ivr400_agi_rejected_total", {"reason": "header_eof"}) != 1 or sample(
                    "ivr400_agi_rejected_total", {"reason": "no_request"}) != 1:
                assert time.monotonic() < deadline, "sessions still in flight"
                await asyncio.sleep(0.01)
            after = await scrape(base)
            return before, after, await scrape(base), fakes

    before, after, again, fakes = run(scenario)
    assert fakes[0].variables[v.ACTION] == "menu" and fakes[1].variables[v.TARGET_COUNT] == "2"
    assert fakes[2].variables[v.TARGET_COUNT] == "0" and v.ACTION not in fakes[4].variables
    assert delta(after, before) == {
        key("ivr400_agi_sessions_total", route="route", outcome="ok"): 4,
        key("ivr400_agi_sessions_total", route="route", outcome="hangup"): 1,
        key("ivr400_agi_sessions_total", route="route", outcome="timeout"): 1,
        key("ivr400_agi_sessions_total", route="department", outcome="ok"): 2,
        key("ivr400_agi_sessions_total", route="other", outcome="unknown_route"): 1,
        key("ivr400_agi_rejected_total", reason="header_eof"): 1,
        key("ivr400_agi_rejected_total", reason="no_request"): 1,  # counted, but not as a handoff
        key("ivr400_decisions_total", route="route", outcome="menu"): 1,
        key("ivr400_decisions_total", route="route", outcome="unknown_number"): 1,
        key("ivr400_decisions_total", route="department", outcome="department"): 1,
        key("ivr400_decisions_total", route="department", outcome="announcement"): 1,
        key("ivr400_decision_latency_seconds_count", route="route"): 2,
        key("ivr400_decision_latency_seconds_count", route="department"): 2,
        key("ivr400_static_plan_handoffs_total", route="route", reason="invalid_rules"): 1,
        key("ivr400_static_plan_handoffs_total", route="route", reason="malformed_request"): 1,
        key("ivr400_static_plan_handoffs_total", route="route", reason="timeout"): 1,
        key("ivr400_static_plan_handoffs_total", route="unknown", reason="rejected_header_eof"): 1,
    }
    # The latency histogram is consistent: every observation is in the +Inf bucket, the sum is positive.
    for route in ("route", "department"):
        assert after[key("ivr400_decision_latency_seconds_bucket", route=route, le="+Inf")] == \
            after[key("ivr400_decision_latency_seconds_count", route=route)]
        assert after[key("ivr400_decision_latency_seconds_sum", route=route)] > 0
    assert after[key("ivr400_agi_sessions_in_flight")] == 0
    assert delta(again, after) == {}  # scraping moves nothing


def test_configuration_metrics_follow_reloads(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> tuple[Samples, Samples, int, int]:
        async with serving(lab) as (ctl, _port, base):
            first = await scrape(base)
            generation = ctl.cache.generation
            lab.edit(lambda s: time_rules.add_time_rule(s, _hotline(s), action="announcement:ivr400-closed"))
            deadline = time.monotonic() + 5
            while ctl.cache.generation == generation:
                assert time.monotonic() < deadline, "no reload"
                await asyncio.sleep(0.01)
            return first, await scrape(base), generation, ctl.cache.generation

    first, second, gen1, gen2 = run(scenario)
    with Session(lab.engine) as s:
        assert s.execute(text("SELECT value FROM config_generation")).scalar() == gen2
    assert first[key("ivr400_config_generation")] == gen1 and second[key("ivr400_config_generation")] == gen2
    assert first[key("ivr400_config_loaded")] == 1
    assert first[key("ivr400_config_reloads_total")] == 1 and second[key("ivr400_config_reloads_total")] == 2
    assert first[key("ivr400_config_load_seconds_count")] == 1 and second[key("ivr400_config_load_seconds_count")] == 2
    assert second[key("ivr400_config_load_seconds_sum")] > 0
    assert second[key("ivr400_config_last_reload_timestamp_seconds")] >= first[
        key("ivr400_config_last_reload_timestamp_seconds")] > 0
    assert second[key("ivr400_config_poll_failures_total")] == 0


class Breaker:
    """Makes every statement on an engine fail while ``broken`` (the database 'goes away')."""

    def __init__(self, eng: Engine) -> None:
        self.broken = False
        event.listen(eng, "before_cursor_execute", self._check)

    def _check(self, *_args: Any) -> None:  # noqa: ANN401
        if self.broken:
            raise OperationalError("SELECT", {}, Exception("database is gone (test)"))


def test_healthz_ok_then_serving_from_cache_when_the_database_goes_away(lab: Lab) -> None:
    provision(lab, departments=True)
    breaker = Breaker(lab.engine)

    async def scenario() -> tuple[Any, ...]:
        async with serving(lab) as (ctl, port, base):
            ok = await healthz(base)
            failures = ctl.cache.failures
            breaker.broken = True
            deadline = time.monotonic() + 5
            while ctl.cache.failures == failures:
                assert time.monotonic() < deadline, "no failed poll"
                await asyncio.sleep(0.01)
            cached = await healthz(base)
            samples = await scrape(base)
            entry = await FakeAsterisk(port, route=v.ROUTE_CALL, query=f"hotline={HOTLINE}").run()
            breaker.broken = False
            deadline = time.monotonic() + 5
            while ctl.cache.failing_since is not None:
                assert time.monotonic() < deadline, "the database did not come back"
                await asyncio.sleep(0.01)
            back = await healthz(base)
            return ok, cached, samples, entry, back

    ok, cached, samples, entry, back = run(scenario)
    assert ok[0] == 200 and ok[1]["status"] == "ok" and ok[1]["database"] == "reachable"
    assert ok[1]["config"]["hotlines"] == 1 and ok[1]["config"]["generation"] is not None
    status, body = cached
    assert status == 200 and body["status"] == "degraded"
    assert body["database"].startswith("unreachable: polls failing for")
    assert body["serving"] == f"from cache: generation {ok[1]['config']['generation']}"
    assert samples[key("ivr400_config_poll_failures_total")] >= 1
    assert entry.variables[v.ACTION] == "menu"  # still decided, from the cache
    assert back[0] == 200 and back[1]["status"] == "ok"


def test_healthz_unavailable_without_a_configuration_and_calls_counted_as_static_plan(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no schema: every load fails
    lab = Lab(eng, tmp_path)

    async def scenario() -> tuple[Any, Samples]:
        async with serving(lab) as (ctl, port, base):
            assert ctl.config is None
            await FakeAsterisk(port, route=v.ROUTE_CALL, query=f"hotline={HOTLINE}").run()
            await FakeAsterisk(port, route=v.ROUTE_DEPARTMENT, query=f"hotline={HOTLINE}&dept=").run()
            return await healthz(base), await scrape(base)

    (status, body), samples = run(scenario)
    eng.dispose()
    assert status == 503 and body["status"] == "unavailable"
    assert body["reason"] == "no configuration loaded: every call takes the static plan"
    assert body["database"].startswith("unreachable")
    assert samples[key("ivr400_config_loaded")] == 0 and math.isnan(samples[key("ivr400_config_generation")])
    assert samples[key("ivr400_static_plan_handoffs_total", route="route", reason="no_config")] == 1
    assert samples[key("ivr400_static_plan_handoffs_total", route="department", reason="no_config")] == 1
    assert samples[key("ivr400_config_reloads_total")] == 0


def test_healthz_unavailable_while_the_event_loop_is_blocked(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
        async with serving(lab) as (_ctl, _port, base):
            result: list[tuple[int, str]] = []
            probe = threading.Thread(target=lambda: result.append(_get(base + "/healthz")))
            probe.start()  # the loop does not run again until the sleep below ends
            time.sleep(3.0)  # the loop is wedged: no call could be decided now
            probe.join(10)
            status, body = result[0]
            return (status, json.loads(body)), await healthz(base)

    wedged, fine = run(scenario)
    assert wedged[0] == 503 and "event loop did not answer" in wedged[1]["reason"]
    assert fine[0] == 200


def test_unknown_paths_and_methods(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> tuple[int, int]:
        async with serving(lab) as (_ctl, _port, base):
            missing = await asyncio.to_thread(_get, base + "/nope")

            def post() -> int:
                req = urllib.request.Request(base + "/healthz", data=b"x", method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        return resp.status
                except urllib.error.HTTPError as exc:
                    return exc.code

            return missing[0], await asyncio.to_thread(post)

    assert run(scenario) == (404, 405)


def test_every_log_line_of_a_session_carries_its_uniqueid(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    """The route's own lines and lines of other loggers during the session (here the controller's)."""
    provision(lab)
    handler_filter = UniqueidLogFilter()

    async def scenario() -> None:
        async with serving(lab) as (ctl, port, _base):
            original = ctl.rotate

            async def rotate(*args: Any) -> Any:  # noqa: ANN401
                logging.getLogger("ivr400.controller").info("rotating for the test")
                return await original(*args)

            ctl.rotate = rotate  # type: ignore[method-assign]
            await FakeAsterisk(port, route=v.ROUTE_CALL, query=f"hotline={HOTLINE}", uniqueid="1764000000.42").run()

    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO):
            run(scenario)
    finally:
        caplog.handler.removeFilter(handler_filter)
    by_message = {r.getMessage(): r.uniqueid for r in caplog.records}
    decision = [m for m in by_message if m.startswith(f"route: {HOTLINE} -> ")]
    assert decision and by_message[decision[0]] == "1764000000.42"
    assert by_message["rotating for the test"] == "1764000000.42"
    loaded = [m for m in by_message if m.startswith("configuration loaded")]
    assert loaded and by_message[loaded[0]] == "-"  # not a call's line
    assert current_uniqueid.get() == ""  # nothing leaked into the test's context
