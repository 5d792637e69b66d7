"""Fixtures of the back-office tests: two enterprises, their accounts, call records, and logged-in clients.

Enterprise A is the sample (``provision_sample``: hotline 4008123456, departments 1 and 2, six seats);
enterprise B has its own hotline, an approved seat, a pending destination with evidence and call records.
Everything goes through the provisioning services; the clients are Starlette TestClients speaking to the
real application (no mocks), on SQLite and on the real PostgreSQL.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_model import Call
from ivr400.cdr.cdr_store import upsert_calls
from ivr400.provisioning import seats, users
from ivr400.provisioning.sample import provision_sample
from ivr400.web.app import create_app
from ivr400.web.context import WebConfig
from tests import factories
from tests.conftest import NOW

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Clock:
    """The application's clock, moved by tests (idle and absolute timeouts, lockout expiry)."""

    now: object = NOW

    def __call__(self) -> object:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now = self.now + delta  # type: ignore[operator]


@dataclass
class Ids:
    """Row ids of each enterprise, for requests that aim at them."""

    enterprise: int
    hotline: int
    hotline_number: str
    seat: int
    department: int | None
    destination: int
    pending_destination: int
    evidence: int
    record: int
    time_rule: int = 0
    block_entry: int = 0
    voicemail: int = 0
    user: int = 0
    region_rule: int = 0
    tone: int = 0
    callback: int = 0
    fax: int = 0


@dataclass
class WebWorld:
    engine: Engine
    config: WebConfig
    clock: Clock
    a: Ids
    b: Ids
    store: Path


def _wav(path: Path, marker: bytes) -> Path:
    """A small 8 kHz mono WAV whose samples carry ``marker`` (so a download can be told apart)."""
    import wave
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(marker * 400)
    return path


def fax_tiff(path: Path, pages: int = 1, text: str = "") -> Path:
    """A G3 fax TIFF (1728 px wide, 204x196 dpi, as res_fax stores one) of ``pages`` pages, via Pillow."""
    from PIL import Image, ImageDraw
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(pages):
        im = Image.new("1", (1728, 2292), 1)
        ImageDraw.Draw(im).text((100, 100 + 40 * i), f"{text} page {i + 1}", fill=0)
        frames.append(im)
    frames[0].save(path, "TIFF", compression="group3", dpi=(204, 196), save_all=True, append_images=frames[1:])
    return path


def _calls(hotline: str, prefix: str, tmp: Path) -> list[Call]:
    start = NOW - timedelta(hours=1)
    recording = _wav(tmp / "recordings" / f"{prefix}.wav", prefix.encode() * 2)
    return [
        Call(uniqueid=f"{prefix}.1", linkedid=f"{prefix}.1", started_at=start, disposition="answered",
             hotline=hotline, caller="13911112222", answered_at=start + timedelta(seconds=5),
             ended_at=start + timedelta(seconds=65), duration_s=65, billsec=60, key_path="1",
             recording_path=str(recording)),
        Call(uniqueid=f"{prefix}.2", linkedid=f"{prefix}.2", started_at=start + timedelta(minutes=5),
             disposition="noanswer", hotline=hotline, caller="02161234567", duration_s=30),
    ]


def build_world(engine: Engine, tmp: Path) -> WebWorld:
    store = tmp / "data" / "evidence"
    with Session(engine, expire_on_commit=False) as s:
        sample = provision_sample(s, store_root=store, now=NOW, actor="test")
        ha = sample.hotline
        wb = factories.world(s, tmp, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
        wb.store = store
        db = factories.approved(s, wb, "021-52345678", NOW, tmp=tmp)
        dept_b = seats.add_department(s, wb.hotline, "1", "客服部")
        seat_b = seats.add_seat(s, wb.hotline, db, department=dept_b, now=NOW)
        pending_b = factories.pending(s, wb, "021-52345679", NOW)
        from ivr400.provisioning import evidence
        ev_b = evidence.add_evidence(s, pending_b, "carrier_bill", factories.doc(tmp, "b-bill.png"), store_root=store,
                                     attributes={"issuer": "unicom"}, valid_from=None, valid_until=None,
                                     long_term=False, now=NOW)
        upsert_calls(s, _calls(ha.number, "a", tmp) + _calls(wb.hotline.number, "b", tmp), "csv")
        from ivr400.provisioning.voicemail import record_voicemail
        mails = {}
        for prefix, number in (("a", ha.number), ("b", wb.hotline.number)):
            wav = _wav(tmp / "voicemail" / f"{prefix}.wav", prefix.encode() * 2)
            row, _ = record_voicemail(s, hotline_number=number, uniqueid=f"17000000{ord(prefix)}.1", file_path=str(wav),
                                      size=wav.stat().st_size, recorded_at=NOW, caller="13911112222",
                                      duration_s=0.1)
            mails[prefix] = row.id
        s.flush()
        from sqlalchemy import select

        from ivr400.db.models import CallRecord, Destination
        rec = {r.uniqueid: r.id for r in s.scalars(select(CallRecord))}
        pending_a = s.scalar(select(Destination).where(Destination.enterprise_id == sample.enterprise.id,
                                                       Destination.status == "pending"))
        a = Ids(sample.enterprise.id, ha.id, ha.number, ha.seats[0].id, ha.departments[0].id,
                ha.seats[0].destination_id, pending_a.id, pending_a.evidence[0].id if pending_a.evidence else
                sample.enterprise.destinations[0].evidence[0].id, rec["a.1"])
        b = Ids(wb.enterprise.id, wb.hotline.id, wb.hotline.number, seat_b.id, dept_b.id, db.id, pending_b.id,
                ev_b.id, rec["b.1"])
        from ivr400.provisioning import blocking, time_rules
        a.voicemail, b.voicemail = mails["a"], mails["b"]
        # A received fax of each hotline (传真), its TIFF where the controller stores one: <spool>/fax/<hotline>/.
        from ivr400.provisioning.fax import record_fax
        for ids_, prefix, number in ((a, "a", ha.number), (b, "b", wb.hotline.number)):
            tiff = fax_tiff(tmp / "spool" / "fax" / number / f"17000001{ord(prefix)}.2.tif", text=f"fax {prefix}")
            fax_row, _ = record_fax(s, hotline_number=number, uniqueid=f"17000001{ord(prefix)}.2",
                                    caller="02155550123", status="SUCCESS", pages=1, error=None,
                                    remote_station=f"station-{prefix}", file_path=str(tiff), received_at=NOW)
            ids_.fax = fax_row.id
        # B only: a time rule would change how A's sample hotline routes (the simulator tests use A).
        from ivr400.provisioning import region_rules
        b.region_rule = region_rules.add_region_rule(s, wb.hotline, province="北京", department="1").id
        b.time_rule = time_rules.add_time_rule(s, wb.hotline, action="department:1", days="workday",
                                               segments="09:00-18:00").id
        for ids, hotline in ((a, ha), (b, wb.hotline)):
            ids.block_entry = blocking.add_block_entry(s, hotline, "13900000000").id
        # A pending ringback tone of each enterprise, stored as the upload would store it (8 kHz WAV by hash).
        from ivr400.audio import sha256_file
        from ivr400.db.models import Tone
        for ids, ent_id, prefix in ((a, sample.enterprise.id, "a"), (b, wb.enterprise.id, "b")):
            wav = _wav(tmp / "tone-src" / f"{prefix}.wav", prefix.encode() * 2)
            sha = sha256_file(wav)
            stored = store.parent / "tones" / f"{sha}.wav"
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.write_bytes(wav.read_bytes())
            tone = Tone(enterprise_id=ent_id, name=f"rb-{prefix}", kind="ringback", original_name=f"{prefix}.wav",
                        sha256=sha, stored_path=f"tones/{sha}.wav", duration_s=0.1, created_at=NOW, status="pending")
            s.add(tone)
            s.flush()
            ids.tone = tone.id
        from ivr400.db.models import CallbackEntry  # the missed call of each hotline is on its callback list
        a.callback = s.scalar(select(CallbackEntry.id).where(CallbackEntry.hotline == ha.number))
        b.callback = s.scalar(select(CallbackEntry.id).where(CallbackEntry.hotline == wb.hotline.number))
        users.add_user(s, "admin", PASSWORD, role="admin", enterprise=None, now=NOW, actor="test")
        a.user = users.add_user(s, "op-a", PASSWORD, role="operator", enterprise=sample.enterprise, now=NOW,
                                actor="test").id
        b.user = users.add_user(s, "op-b", PASSWORD, role="operator", enterprise=wb.enterprise, now=NOW,
                                actor="test").id
        s.commit()
    clock = Clock()
    cfg = WebConfig(engine=engine, store_root=store, now=clock)
    return WebWorld(engine, cfg, clock, a, b, store)


@pytest.fixture
def web(engine: Engine, tmp_path: Path) -> WebWorld:
    return build_world(engine, tmp_path)


class Client(TestClient):
    """A TestClient that knows its CSRF token after login and sends it on every POST."""

    csrf: str = ""

    def form_post(self, url: str, data: dict[str, object] | None = None, **kw: object):
        payload = {"csrf_token": self.csrf, **(data or {})}
        return self.post(url, data=payload, **kw)  # type: ignore[arg-type]


def login(world: WebWorld, username: str, password: str = PASSWORD) -> Client:
    client = Client(create_app(world.config), follow_redirects=False)
    page = client.get("/login")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"csrf_token": token, "username": username, "password": password})
    assert r.status_code == 303, r.text
    home = client.get("/")
    client.csrf = CSRF.search(home.text).group(1)  # type: ignore[union-attr]
    return client


@pytest.fixture
def clients(web: WebWorld) -> Iterator[dict[str, Client]]:
    made = {name: login(web, name) for name in ("admin", "op-a", "op-b")}
    yield made
    for c in made.values():
        c.close()
