"""WEB呼叫: place_callback end to end on the database with a recording AMI peer, and the public endpoint."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr400.controller.loader import load_config
from ivr400.db.models import ClickToCallAttempt, WhitelistEvent
from ivr400.provisioning import blocking, lookup
from ivr400.provisioning.clicktocall import configure, place_callback
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.seats import add_seat
from ivr400.web.app import create_app
from ivr400.web.context import WebConfig
from tests.conftest import NOW
from tests.factories import approved, world

HOTLINE = "4008000001"


class Recorder:
    """Stands in for the AMI connection: records each action (the real Originate runs in the e2e test)."""

    def __init__(self, fail: bool = False) -> None:
        self.actions: list[tuple[str, dict[str, str]]] = []
        self.fail = fail

    def action(self, name: str, timeout: float | None = None, **fields: str) -> Any:  # noqa: ANN401
        if self.fail:
            raise ConnectionRefusedError("AMI down")
        self.actions.append((name, fields))
        return {"Response": "Success"}


@pytest.fixture
def hotline(engine: Engine, tmp_path: Path) -> Engine:
    with Session(engine) as s:
        w = world(s, tmp_path, NOW, hotline=HOTLINE)
        add_seat(s, w.hotline, approved(s, w, "01062345678", NOW, tmp=tmp_path), now=NOW)
        configure(s, w.hotline, caller_id="010-62345678", enabled=True, origins="https://www.example.com")
        s.commit()
    return engine


def place(engine: Engine, ami: Recorder | None, target: str, now: dt.datetime, **kw: Any) -> Any:  # noqa: ANN401
    with Session(engine) as s:
        h = lookup.hotline(s, HOTLINE)
        entry = load_config(s, now).get(HOTLINE)
        assert entry is not None
        result = place_callback(s, ami, hotline=h, target=target, now=now, block=entry.routing.block,
                                time_rules=entry.routing.time_rules, calendar=entry.calendar,
                                zone=entry.routing.zone, **kw)
        s.commit()
        return result


def test_an_accepted_callback_originates_to_the_visitor_with_the_enterprise_number(hotline: Engine) -> None:
    ami = Recorder()
    result = place(hotline, ami, "138 0013 8000", NOW, client_ip="127.0.0.9")
    assert result.accepted and result.outcome == "accepted"
    [(name, fields)] = ami.actions
    assert name == "Originate"
    assert fields["Channel"] == "PJSIP/13800138000@ivr400-out"
    assert (fields["Context"], fields["Exten"], fields["Priority"]) == ("ivr400-clicktocall", HOTLINE, "1")
    assert fields["CallerID"] == "01062345678" and fields["Async"] == "true"
    assert fields["ChannelId"] == result.channel_id and fields["Variable"] == "IVR400_C2C_TARGET=13800138000"
    with Session(hotline) as s:
        row = s.scalars(select(ClickToCallAttempt)).one()
        assert (row.target, row.outcome, row.client_ip, row.channel_id) == ("13800138000", "accepted", "127.0.0.9",
                                                                           result.channel_id)
        event = s.scalars(select(WhitelistEvent).where(WhitelistEvent.action == "clicktocall")).one()
        assert event.detail["outcome"] == "accepted"


def test_every_refusal_is_recorded_and_nothing_is_dialled(hotline: Engine) -> None:
    ami = Recorder()
    with Session(hotline) as s:
        blocking.set_block_mode(s, lookup.hotline(s, HOTLINE), "blacklist")
        blocking.add_block_entry(s, lookup.hotline(s, HOTLINE), "13900139000")
        s.commit()
    outcomes = [place(hotline, ami, n, NOW, client_ip="127.0.0.8").outcome
                for n in ("+1 212 555 0100", "95588", "13900139000")]
    assert outcomes == ["refused_number", "refused_number", "refused_blocked"]
    assert place(hotline, ami, "13800138000", NOW, client_ip="127.0.0.8").accepted
    again = place(hotline, ami, "13800138000", NOW + dt.timedelta(seconds=30), client_ip="127.0.0.7")
    assert again.outcome == "refused_rate_number"
    fifth = place(hotline, ami, "13700137000", NOW + dt.timedelta(seconds=40), client_ip="127.0.0.8")
    assert fifth.accepted  # the fifth request of 127.0.0.8 in ten minutes
    ip = place(hotline, ami, "13300133000", NOW + dt.timedelta(seconds=45), client_ip="127.0.0.8")
    assert ip.outcome == "refused_rate_ip"  # the sixth
    # An operator's callback has no IP limit, but the hotline's concurrency: two callbacks in progress.
    busy = place(hotline, ami, "13600136000", NOW + dt.timedelta(seconds=50), source="operator")
    assert busy.outcome == "refused_busy"
    assert [f["Channel"] for _, f in ami.actions] == ["PJSIP/13800138000@ivr400-out", "PJSIP/13700137000@ivr400-out"]
    # (the two callbacks are still in flight: no CDR closed them; a third slot for the AMI failure)
    from ivr400.routing.clicktocall import Limits

    failed = place(hotline, Recorder(fail=True), "13400134000", NOW + dt.timedelta(minutes=5), source="operator",
                   limits=Limits(max_concurrent=3))
    assert failed.outcome == "failed" and not failed.accepted
    with Session(hotline) as s:
        assert len(s.scalars(select(ClickToCallAttempt)).all()) == 9


def test_configure_refuses_bad_values(hotline: Engine) -> None:
    with Session(hotline) as s:
        h = lookup.hotline(s, HOTLINE)
        for kw, field in (({"caller_id": "4008001234"}, "caller-id"), ({"origins": "www.example.com"}, "origins"),
                          ({"max_concurrent": 0}, "max-concurrent")):
            with pytest.raises(ProvisioningError) as exc:
                configure(s, h, **kw)
            assert exc.value.field == field


def test_the_public_endpoint(hotline: Engine, tmp_path: Path) -> None:
    ami = Recorder()
    app = create_app(WebConfig(engine=hotline, store_root=tmp_path / "store", now=lambda: NOW,
                               originator=lambda: ami))
    with Session(hotline) as s:
        from ivr400.db.models import ClickToCallSetting

        token = s.scalars(select(ClickToCallSetting.token)).one()
    client = TestClient(app, client=("127.0.0.5", 50000))
    ok = client.post(f"/c2c/{token}", data={"number": "13800138000"}, headers={"Origin": "https://www.example.com"})
    assert ok.status_code == 202 and ok.json()["accepted"] is True
    assert ok.headers["access-control-allow-origin"] == "https://www.example.com"
    assert len(ami.actions) == 1
    other = client.post(f"/c2c/{token}", data={"number": "13700137000"}, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403 and other.json()["outcome"] == "refused_origin"
    bad = client.post(f"/c2c/{token}", data={"number": "95588"}, headers={"Origin": "https://www.example.com"})
    assert bad.status_code == 400 and bad.json()["outcome"] == "refused_number"
    assert client.post("/c2c/not-a-token", data={"number": "13800138000"}).status_code == 404
    assert len(ami.actions) == 1


def test_concurrency_counts_callbacks_in_flight_until_their_cdr_closes_them(hotline: Engine) -> None:
    """N concurrent per hotline: a placed callback counts until the CDR of its originated channel (uniqueid =
    ChannelId) arrives through the CDR listener's path, however long the call lasts; then the next is placed."""
    from ivr400.cdr.cdr_model import Leg
    from ivr400.cdr.cdr_store import store_legs

    ami = Recorder()
    first = place(hotline, ami, "13800138000", NOW, source="operator")
    second = place(hotline, ami, "13700137000", NOW + dt.timedelta(seconds=5), source="operator")
    assert first.accepted and second.accepted
    # Twenty minutes later both calls still go on (no CDR yet): the hotline is busy (max_concurrent 2).
    later = NOW + dt.timedelta(minutes=20)
    assert place(hotline, ami, "13600136000", later, source="operator").outcome == "refused_busy"
    # A CDR of some other channel closes nothing.
    other = Leg(linkedid="1.1", uniqueid="1700000000.1", sequence=1, start=NOW, answer=None, end=later,
                disposition="NO ANSWER", src="13800138000", dst="s", channel="PJSIP/x-1")
    store_legs(hotline, [other], "ami")
    assert place(hotline, ami, "13600136000", later + dt.timedelta(seconds=1), source="operator").outcome == \
        "refused_busy"
    # The first callback's channel ends: its CDR (answered, 19 min) closes the attempt; one is in flight.
    ended = later + dt.timedelta(seconds=2)
    leg = Leg(linkedid=str(first.channel_id), uniqueid=str(first.channel_id), sequence=2, start=NOW,
              answer=NOW + dt.timedelta(seconds=8), end=ended, disposition="ANSWERED", src="13800138000",
              dst=HOTLINE, channel="PJSIP/ivr400-out-00000001", billsec=1130, duration=1142)
    store_legs(hotline, [leg], "ami")
    store_legs(hotline, [leg], "ami")  # replayed: nothing changes
    with Session(hotline) as s:
        row = s.scalars(select(ClickToCallAttempt).where(ClickToCallAttempt.channel_id == first.channel_id)).one()
        assert (row.ended_at, row.final) == (ended, "answered")
        assert s.scalars(select(ClickToCallAttempt).where(
            ClickToCallAttempt.channel_id == second.channel_id)).one().ended_at is None
    third = place(hotline, ami, "13600136000", ended + dt.timedelta(seconds=1), source="operator")
    assert third.accepted, third
    assert place(hotline, ami, "13500135000", ended + dt.timedelta(seconds=2), source="operator").outcome == \
        "refused_busy"
