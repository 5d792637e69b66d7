"""Tenant isolation: every route of the application, as operator A, aimed at enterprise B's rows.

The routes are enumerated from the application itself, so a route added later is walked too: a route with
path parameters is called with B's ids (read, write, download, export) and must answer 403 or 404 and leave
B's rows as they were; a route without path parameters must be listed in ``UNPARAMETERIZED`` with the
probe that aims it at B (query or form fields) and must not show B's data. A path parameter this test does
not know fails the test, so it cannot silently skip a new kind of row.
"""
from __future__ import annotations

import re

import fastapi.routing
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import (
    BlockEntry,
    CallbackEntry,
    Department,
    Destination,
    Evidence,
    Hotline,
    RegionRule,
    Seat,
    TimeRule,
    Tone,
    Voicemail,
    WebUser,
    WhitelistEvent,
)
from ivr400.web.app import create_app

from .conftest import Ids, WebWorld

PARAM = re.compile(r"{(\w+)}")


def _ids(ids: Ids) -> dict[str, list[int]]:
    """Values of each path parameter that name rows of one enterprise."""
    return {
        "hotline_id": [ids.hotline],
        "seat_id": [ids.seat],
        "dest_id": [ids.destination, ids.pending_destination],
        "evidence_id": [ids.evidence],
        "rule_id": [ids.time_rule],
        "entry_id": [ids.block_entry],
        "voicemail_id": [ids.voicemail],
        "record_id": [ids.record],
        "user_id": [ids.user],
        "region_rule_id": [ids.region_rule],
        "tone_id": [ids.tone],
        "token": ["not-a-click-to-call-token"],  # WEB呼叫's public endpoint: an unknown token is a 404
        "callback_id": [ids.callback],
        "fax_id": [ids.fax],
        "department_id": [ids.department] if ids.department else [],
    }


def _form(ids: Ids) -> dict[str, object]:
    """A form that would be valid for enterprise B's rows (so only the scope can refuse it)."""
    return {"destination": ids.destination, "department": ids.department or "", "ring-timeout": "20",
            "direction": "down", "position": "1", "hunt": "simultaneous", "reason": "probe", "kind": "carrier_bill",
            "enterprise": ids.enterprise, "number": "021-52349999", "owner": "上海乙贸易有限公司",
            "key": "5", "name": "probe", "action": "voicemail", "segments": "00:00-23:59", "mode": "blacklist",
            "welcome": "", "ringback": ids.tone, "status": "called_back", "note": "probe", "fax": "detect"}


def routes(app) -> list[tuple[str, str]]:
    return [(method, ctx.path) for ctx in fastapi.routing.iter_route_contexts(app.routes)
            for method in sorted(ctx.methods or ()) if method != "HEAD"]


def _call(client, method: str, url: str, data: dict[str, object]):
    if method == "GET":
        return client.get(url)
    return client.form_post(url, data)


def _snapshot(web: WebWorld, ids: Ids) -> tuple[object, ...]:
    with Session(web.engine) as s:
        seats = [(x.id, x.position, x.ring_timeout_s)
                 for x in s.scalars(select(Seat).where(Seat.hotline_id == ids.hotline))]
        dests = [(d.id, d.status)
                 for d in s.scalars(select(Destination).where(Destination.enterprise_id == ids.enterprise))]
        evidence = s.scalar(select(Evidence.id).order_by(Evidence.id.desc()))
        accounts = s.execute(select(WebUser.id, WebUser.disabled).order_by(WebUser.id)).all()
        heard = s.execute(select(Voicemail.id, Voicemail.heard).order_by(Voicemail.id)).all()
        rules = s.execute(select(TimeRule.id, TimeRule.action_kind).where(TimeRule.hotline_id == ids.hotline)).all()
        rules += s.execute(select(RegionRule.id, RegionRule.province).where(RegionRule.hotline_id == ids.hotline)).all()
        entries = s.execute(select(BlockEntry.id, BlockEntry.number).where(BlockEntry.hotline_id == ids.hotline)).all()
        departments = s.execute(select(Department.id, Department.key, Department.ringback_tone_id)
                                .where(Department.hotline_id == ids.hotline)).all()
        hotline = s.execute(select(Hotline.block_mode, Hotline.after_hours_kind, Hotline.hunt_strategy,
                                   Hotline.fax_mode)
                            .where(Hotline.id == ids.hotline)).one()
        tones = s.execute(select(Tone.id, Tone.status, Tone.status_reason).order_by(Tone.id)).all()
        hotline_tones = s.execute(select(Hotline.welcome_tone_id, Hotline.ringback_tone_id)
                                  .where(Hotline.id == ids.hotline)).one()
        events = s.scalar(select(WhitelistEvent.id).where(WhitelistEvent.enterprise_id == ids.enterprise)
                          .order_by(WhitelistEvent.id.desc()))
        callbacks = s.execute(select(CallbackEntry.id, CallbackEntry.status, CallbackEntry.handled_by)
                              .order_by(CallbackEntry.id)).all()
    return (tuple(seats), tuple(dests), evidence, events, tuple(rules), tuple(entries), tuple(departments),
            tuple(hotline), tuple(heard), tuple(accounts), tuple(tones), tuple(hotline_tones), tuple(callbacks))


#: Routes without path parameters: how each is aimed at B, and what of B must not appear in the answer.
UNPARAMETERIZED = {
    ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/"), ("GET", "/hotlines"),
    ("GET", "/destinations"), ("POST", "/destinations"), ("GET", "/review"), ("GET", "/simulator"),
    ("GET", "/records"), ("GET", "/records.csv"), ("GET", "/audit"), ("GET", "/voicemail"),
    ("GET", "/accounts"), ("POST", "/accounts"), ("GET", "/password"), ("POST", "/password"),
    ("GET", "/tones"), ("POST", "/tones"), ("GET", "/fax"),
    ("GET", "/reports"), ("GET", "/reports.csv"), ("GET", "/callbacks"), ("GET", "/callbacks.csv"), ("GET", "/billing"),
}


def test_every_parameterized_route_refuses_another_enterprises_rows(web: WebWorld, clients) -> None:
    app = create_app(web.config)
    op_a = clients["op-a"]
    before = _snapshot(web, web.b)
    walked = 0
    for method, path in routes(app):
        params = PARAM.findall(path)
        if path.startswith("/static"):
            continue
        if not params:
            assert (method, path) in UNPARAMETERIZED, f"new route {method} {path}: add its probe to this test"
            continue
        known = _ids(web.b)
        assert all(p in known for p in params), f"{method} {path}: unknown path parameter in {params}"
        for value_set in zip(*(known[p] for p in params), strict=False):
            url = path
            for p, v in zip(params, value_set, strict=True):
                url = url.replace("{" + p + "}", str(v))
            r = _call(op_a, method, url, _form(web.b))
            assert r.status_code in (403, 404), f"{method} {url} as operator A: {r.status_code}"
            walked += 1
    assert walked >= 15
    assert _snapshot(web, web.b) == before


def test_the_same_routes_work_for_their_own_enterprise(web: WebWorld, clients) -> None:
    """The control: with A's own ids the GET routes answer 200, so the refusals above are the scope's."""
    app = create_app(web.config)
    for method, path in routes(app):
        params = PARAM.findall(path)
        if method != "GET" or not params:
            continue
        url = path
        for p in params:
            url = url.replace("{" + p + "}", str(_ids(web.a)[p][0]))
        r = clients["op-a"].get(url)
        if path.endswith("/letter"):  # A's own destination needs no letter (R2): refused, but not as "not found"
            assert r.status_code == 400 and "no authorization letter is needed" in r.text, url
            continue
        assert r.status_code == 200, url


def test_unparameterized_routes_aimed_at_b_show_nothing_of_b(web: WebWorld, clients) -> None:
    op_a = clients["op-a"]
    b_marks = [web.b.hotline_number, "02152345678", "上海乙贸易有限公司", "station-b"]
    report_csvs = [f"/reports.csv?table={t}" for t in ("traffic", "provinces", "cities", "seats", "departments",
                                                        "repeat", "heatmap")]
    for url in ("/", "/hotlines", "/destinations", "/audit", "/records", "/records.csv", "/voicemail", "/tones", "/fax",
                "/reports", "/callbacks", "/callbacks.csv?status=", "/billing", *report_csvs):
        text = op_a.get(url).text
        assert not any(m in text for m in b_marks), f"{url} shows B's data"
    # The reports count A's calls only: A has two (one answered, one missed), B's two are not counted.
    assert "来电 <b>2</b>" in op_a.get("/reports").text
    assert "来电 <b>4</b>" in clients["admin"].get("/reports").text
    page = op_a.get("/reports", params={"hotline": web.b.hotline_number})
    assert page.status_code == 400 and f"no hotline {web.b.hotline_number}" in page.text and "来电 <b>" not in page.text
    assert op_a.get("/reports.csv", params={"table": "traffic", "hotline": web.b.hotline_number}).status_code == 400
    # Filters naming B's hotline: refused like an unknown hotline, no rows (the typed value is echoed back).
    page = op_a.get("/records", params={"hotline": web.b.hotline_number})
    assert page.status_code == 400 and "data-record=" not in page.text
    assert f"no hotline {web.b.hotline_number}" in page.text
    assert op_a.get("/records.csv", params={"hotline": web.b.hotline_number}).status_code == 400
    assert op_a.get("/records.csv", params={"caller": "13911112222"}).text.count(web.b.hotline_number) == 0
    sim = op_a.get("/simulator", params={"hotline": web.b.hotline_number, "caller": "13911112222"})
    assert sim.status_code == 400 and f"no hotline {web.b.hotline_number}" in sim.text
    assert op_a.get("/review").status_code == 403
    assert op_a.get("/accounts").status_code == 403
    assert op_a.form_post("/accounts", {"username": "intruder", "enterprise": web.b.enterprise}).status_code == 403
    assert "rb-b" not in op_a.get("/tones").text and "rb-a" in op_a.get("/tones").text
    # Uploading a tone "for B" as operator A stores it for A (the enterprise field is the admin's).
    wav = ("t.wav", _wav_bytes(), "audio/wav")
    r = op_a.post("/tones", data={"csrf_token": op_a.csrf, "enterprise": web.b.enterprise, "name": "probe-b",
                                  "kind": "ringback"}, files={"file": wav})
    assert r.status_code == 303, r.text[-400:]
    with Session(web.engine) as s:
        assert s.scalar(select(Tone.enterprise_id).where(Tone.name == "probe-b")) == web.a.enterprise
    # Giving A's hotline B's tone: refused as an unknown tone.
    r = op_a.form_post(f"/hotlines/{web.a.hotline}/tones", {"welcome": "", "ringback": web.b.tone})
    assert r.status_code == 400 and f"ringback: no tone #{web.b.tone}" in r.text
    # Registering a destination "for B" as operator A registers it for A (the enterprise field is the admin's).
    r = op_a.form_post("/destinations", {"enterprise": web.b.enterprise, "number": "010-62349999",
                                         "owner": "北京示例科技有限公司", "owner-kind": "company"})
    assert r.status_code == 303
    with Session(web.engine) as s:
        row = s.scalar(select(Destination).where(Destination.number == "01062349999"))
        assert row is not None and row.enterprise_id == web.a.enterprise


def _wav_bytes() -> bytes:
    import io
    import wave
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x02" * 4000)
    return buf.getvalue()


def test_the_admin_reaches_every_enterprise(web: WebWorld, clients) -> None:
    admin = clients["admin"]
    assert admin.get(f"/tones/{web.b.tone}/audio").status_code == 200
    assert admin.get(f"/hotlines/{web.b.hotline}/seats").status_code == 200
    assert admin.get(f"/evidence/{web.b.evidence}/file").status_code == 200
    assert web.b.hotline_number in admin.get("/records.csv").text


def test_an_account_without_scope_sees_nothing(web: WebWorld) -> None:
    """Fail closed: an operator row whose enterprise is gone (scope empty) gets no rows, not all rows."""
    from ivr400.web.scope import NOBODY, Repository
    with Session(web.engine) as s:
        repo = Repository(s, NOBODY)
        assert repo.hotlines() == [] and repo.destinations() == [] and repo.events() == []
        assert repo.call_records(__import__("ivr400.web.scope", fromlist=["RecordFilter"]).RecordFilter()) == []
