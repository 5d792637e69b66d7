"""Every form with its bad values: `FIELD: reason` beside the field, HTTP 4xx, nothing written, never a 500."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr400.db.models import Destination, Evidence, Seat, WhitelistEvent

from .conftest import WebWorld


def _state(web: WebWorld) -> tuple[object, ...]:
    with Session(web.engine) as s:
        return (tuple(s.execute(select(Seat.id, Seat.position, Seat.ring_timeout_s).order_by(Seat.id)).all()),
                s.scalar(select(func.count(Destination.id))), s.scalar(select(func.count(Evidence.id))),
                s.scalar(select(func.count(WhitelistEvent.id))))


# (url template, form, field expected beside the input, who)
CASES = [
    ("/hotlines/{a.hotline}/seats", {"destination": "", "ring-timeout": "15"}, "destination"),
    ("/hotlines/{a.hotline}/seats", {"destination": "abc", "ring-timeout": "15"}, "destination"),
    ("/hotlines/{a.hotline}/seats", {"destination": "{a.destination}", "ring-timeout": "15"}, "destination"),
    ("/hotlines/{a.hotline}/seats", {"destination": "{a.pending_destination}", "ring-timeout": "15"}, "destination"),
    ("/hotlines/{a.hotline}/seats", {"destination": "{a.destination}", "department": "x", "ring-timeout": "15"},
     "department"),
    ("/hotlines/{a.hotline}/seats", {"destination": "{a.destination}", "department": "{a.department}",
                                     "ring-timeout": "500"}, "ring-timeout"),
    ("/hotlines/{a.hotline}/seats", {"destination": "{a.destination}", "ring-timeout": "1e9"}, "ring-timeout"),
    ("/hotlines/{a.hotline}/hunt", {"hunt": "random"}, "hunt"),
    ("/hotlines/{a.hotline}/hunt", {"hunt": "sequential", "department": "-1"}, "department"),
    ("/seats/{a.seat}/move", {"direction": "sideways"}, "direction"),
    ("/seats/{a.seat}/move", {"position": "0"}, "position"),
    ("/seats/{a.seat}/move", {"position": "99999999999"}, "position"),
    ("/seats/{a.seat}/timeout", {"ring-timeout": "4"}, "ring-timeout"),
    ("/seats/{a.seat}/timeout", {"ring-timeout": "十五"}, "ring-timeout"),
    ("/seats/{a.seat}/weight", {"weight": "1001"}, "weight"),
    ("/seats/{a.seat}/weight", {"weight": "-1"}, "weight"),
    ("/seats/{a.seat}/weight", {"weight": "a lot"}, "weight"),
    ("/destinations", {"number": "12345", "owner": "北京示例科技有限公司"}, "number"),
    ("/destinations", {"number": "010-62345678", "owner": "北京示例科技有限公司"}, "number"),
    ("/destinations", {"number": "010-62340000", "owner": "  "}, "owner"),
    ("/destinations", {"number": "010-62340000", "owner": "x", "owner-kind": "robot"}, "owner-kind"),
]


@pytest.mark.parametrize("url, form, field", CASES)
def test_bad_input_is_refused_beside_the_field(web: WebWorld, clients, url: str, form: dict[str, str],
                                               field: str) -> None:
    c = clients["op-a"]
    before = _state(web)
    resolved = {k: v.format(a=web.a) for k, v in form.items()}
    r = c.form_post(url.format(a=web.a), resolved)
    assert r.status_code == 400, r.text[-500:]
    assert f'data-field="{field}">{field}: ' in r.text
    assert _state(web) == before


def test_evidence_form_bad_values(web: WebWorld, clients) -> None:
    c = clients["op-b"]
    url = f"/destinations/{web.b.pending_destination}/evidence"
    before = _state(web)
    png = ("b.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png")
    for data, field in (({"kind": "selfie"}, "kind"), ({"kind": "carrier_bill", "issuer": "att"}, "issuer"),
                        ({"kind": "carrier_bill", "valid-until": "2026-13-01"}, "valid-until"),
                        ({"kind": "carrier_bill", "valid-from": "2027-01-01", "valid-until": "2026-01-01"},
                         "valid-until"),
                        ({"kind": "carrier_bill", "valid-until": "2027-01-01", "long-term": "1"}, "valid-until")):
        r = c.post(url, data={"csrf_token": c.csrf, **data}, files={"file": png})
        assert r.status_code == 400 and f'data-field="{field}">{field}: ' in r.text, (data, r.text[-400:])
    r = c.post(url, data={"csrf_token": c.csrf, "kind": "carrier_bill"})
    assert r.status_code == 400 and 'data-field="file">file: ' in r.text
    empty = c.post(url, data={"csrf_token": c.csrf, "kind": "carrier_bill"},
                   files={"file": ("e.png", b"", "image/png")})
    assert empty.status_code == 400 and "file: empty file" in empty.text
    assert _state(web) == before


def test_review_and_filter_forms_bad_values(web: WebWorld, clients) -> None:
    admin = clients["admin"]
    r = admin.form_post(f"/destinations/{web.a.pending_destination}/reject", {"reason": " "})
    assert r.status_code == 400 and 'data-field="reason">reason: ' in r.text
    r = admin.form_post(f"/destinations/{web.a.pending_destination}/reject", {"reason": "x" * 501})
    assert r.status_code == 400 and 'data-field="reason">reason: ' in r.text
    r = admin.form_post("/destinations", {"number": "010-62340000", "owner": "x"})
    assert r.status_code == 400 and 'data-field="enterprise">enterprise: ' in r.text
    c = clients["op-a"]
    for params, field in (({"hotline": "12345"}, "hotline"), ({"caller": "abc"}, "caller"),
                          ({"since": "yesterday"}, "since"), ({"since": "2026-06-02", "until": "2026-06-01"}, "until"),
                          ({"disposition": "lost"}, "disposition")):
        page = c.get("/records", params=params)
        assert page.status_code == 400 and f'data-field="{field}">{field}: ' in page.text, params
        assert c.get("/records.csv", params=params).status_code == 400
    for params, field in (({"hotline": "abc"}, "hotline"), ({"hotline": web.a.hotline_number, "keys": "1#"}, "keys"),
                          ({"hotline": web.a.hotline_number, "at": "noon"}, "at")):
        page = c.get("/simulator", params=params)
        assert page.status_code == 400 and f'data-field="{field}">{field}: ' in page.text, params
    login = clients["op-a"].get("/login")
    assert login.status_code == 303  # already signed in


def test_ids_that_are_not_numbers_are_404_not_500(web: WebWorld, clients) -> None:
    c = clients["op-a"]
    assert c.get("/hotlines/abc/seats").status_code in (400, 404)
    assert c.form_post("/seats/abc/move", {"direction": "up"}).status_code in (400, 404)
    assert c.get("/destinations/99999999").status_code == 404


RULE_CASES = [
    ("/hotlines/{a.hotline}/departments", {"key": "12", "name": "x"}, "key"),
    ("/hotlines/{a.hotline}/departments", {"key": "1", "name": "重复"}, "key"),
    ("/hotlines/{a.hotline}/departments", {"key": "7", "name": " "}, "name"),
    ("/hotlines/{a.hotline}/departments", {"key": "7", "name": "x", "hunt": "all"}, "hunt"),
    ("/hotlines/{a.hotline}/departments", {"key": "7", "name": "x", "parent": "abc"}, "parent"),
    ("/hotlines/{a.hotline}/time-rules", {"action": "menu", "segments": "25:00-26:00"}, "segments"),
    ("/hotlines/{a.hotline}/time-rules", {"action": "menu", "days": "someday"}, "days"),
    ("/hotlines/{a.hotline}/time-rules", {"action": "menu", "weekdays": "8"}, "weekdays"),
    ("/hotlines/{a.hotline}/time-rules", {"action": "department:9"}, "action"),
    ("/hotlines/{a.hotline}/time-rules", {"action": "dance"}, "action"),
    ("/hotlines/{a.hotline}/time-rules", {"action": "menu", "priority": "high"}, "priority"),
    ("/hotlines/{a.hotline}/after-hours", {"action": "voicemail:9"}, "action"),
    ("/hotlines/{a.hotline}/region-rules", {"province": "火星", "department": "1"}, "province"),
    ("/hotlines/{a.hotline}/region-rules", {"province": "上海", "department": "9"}, "department"),
    ("/hotlines/{a.hotline}/region-rules", {"province": "上海", "department": "1", "priority": "x"}, "priority"),
    ("/hotlines/{a.hotline}/block-mode", {"mode": "everyone"}, "mode"),
    ("/hotlines/{a.hotline}/block-mode", {"mode": "blacklist", "anonymous": "maybe"}, "anonymous"),
    ("/hotlines/{a.hotline}/block-entries", {"number": "abc"}, "number"),
    ("/hotlines/{a.hotline}/block-entries", {"number": "13900000000"}, "number"),
    ("/hotlines/{a.hotline}/fax", {"fax": "sometimes"}, "fax"),
    ("/hotlines/{a.hotline}/fax", {"fax": "key:1"}, "fax"),  # department 1 of the sample's top menu
]


@pytest.mark.parametrize("url, form, field", RULE_CASES)
def test_rule_forms_bad_input(web: WebWorld, clients, url: str, form: dict[str, str], field: str) -> None:
    test_bad_input_is_refused_beside_the_field(web, clients, url, form, field)


def _tone_state(web: WebWorld) -> tuple[object, ...]:
    from ivr400.db.models import Hotline, Tone
    with Session(web.engine) as s:
        return (tuple(s.execute(select(Tone.id, Tone.name, Tone.status, Tone.status_reason).order_by(Tone.id)).all()),
                tuple(s.execute(select(Hotline.id, Hotline.welcome_tone_id, Hotline.ringback_tone_id)
                                .order_by(Hotline.id)).all()),
                s.scalar(select(func.count(WhitelistEvent.id))),
                tuple(sorted(p.name for p in (web.store.parent / "tones").glob("*"))))


def _sox_file(path, *effect: str, rate: str = "44100", channels: str = "2") -> bytes:  # noqa: ANN001
    import subprocess
    subprocess.run(["sox", "-n", "-r", rate, "-c", channels, str(path), *effect], check=True, capture_output=True)
    return path.read_bytes()


def test_tone_upload_bad_values(web: WebWorld, clients, tmp_path) -> None:  # noqa: ANN001
    """Empty, not audio, too big, too long, a bad or taken name, an unknown kind: refused beside the field."""
    c = clients["op-a"]
    good = _sox_file(tmp_path / "ok.wav", "synth", "1", "sine", "440")
    long_welcome = _sox_file(tmp_path / "long.mp3", "synth", "61", "sine", "440", rate="8000", channels="1")
    before = _tone_state(web)
    cases = [
        ({"name": "x"}, ("e.wav", b"", "audio/wav"), "file", "file: empty file"),
        ({"name": "x"}, ("fake.mp3", b"<html>not audio</html>" * 10, "audio/mpeg"), "file",
         "file: not a WAV or MP3 file by its content"),
        ({"name": "x"}, ("broken.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", "audio/wav"), "file",
         "file: not a readable audio file"),
        ({"name": "x", "kind": "welcome"}, ("long.mp3", long_welcome, "audio/mpeg"), "file", "longer than the 60 s"),
        ({"name": "Bad Name!"}, ("ok.wav", good, "audio/wav"), "name", "name: use 1-48 characters"),
        ({"name": "../../etc/passwd"}, ("ok.wav", good, "audio/wav"), "name", "name: use 1-48 characters"),
        ({"name": "rb-a"}, ("ok.wav", good, "audio/wav"), "name", "rb-a&#39; already exists"),
        ({"name": "x", "kind": "anthem"}, ("ok.wav", good, "audio/wav"), "kind", "anthem&#39; is not one of"),
        ({"name": "x"}, None, "file", "file: choose a WAV or MP3 file"),
    ]
    for data, upload, field, message in cases:
        files = {"file": upload} if upload else None
        r = c.post("/tones", data={"csrf_token": c.csrf, "kind": "ringback", **data}, files=files)
        assert r.status_code == 400, (data, r.status_code, r.text[-300:])
        assert f'data-field="{field}">' in r.text and message in r.text, (data, r.text[-600:])
        assert str(web.store) not in r.text  # never the server's file names
    web.config.max_upload_bytes = 1024
    big = c.post("/tones", data={"csrf_token": c.csrf, "name": "big", "kind": "ringback"},
                 files={"file": ("big.wav", good, "audio/wav")})
    assert big.status_code == 400 and "file: larger than" in big.text
    assert _tone_state(web) == before
    assert not list(web.store.glob(".incoming-web/*"))


def test_tone_review_and_choice_bad_values(web: WebWorld, clients) -> None:
    admin, op_a = clients["admin"], clients["op-a"]
    before = _tone_state(web)
    for reason in ("", "   ", "x" * 501):
        r = admin.form_post(f"/tones/{web.a.tone}/reject", {"reason": reason})
        assert r.status_code == 400 and 'data-field="reason">reason: ' in r.text
    # The operator's hotline form: a tone of the wrong kind, not a number, unknown.
    for data, field, message in (({"welcome": str(web.a.tone)}, "welcome", "is a ringback tone, not welcome"),
                                 ({"ringback": "abc"}, "ringback", "abc&#39; is not a whole number"),
                                 ({"ringback": "999999"}, "ringback", "no tone #999999")):
        r = op_a.form_post(f"/hotlines/{web.a.hotline}/tones", data)
        assert r.status_code == 400 and f'data-field="{field}">{field}: ' in r.text and message in r.text, data
    assert op_a.form_post(f"/tones/{web.a.tone}/approve").status_code == 403  # the admin's decision
    assert _tone_state(web) == before
