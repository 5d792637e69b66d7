"""A small provisioned world for the e2e call tests: temp SQLite database, one enterprise and hotline,
destinations approved through the services, each with its own trunk pointing at a sipp seat port,
and deploy into the running lab through ivr400.deploy.asterisk (the real AMI).
"""
from __future__ import annotations

import socket
import struct
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.db.models import Department, Destination, Enterprise, Hotline, Seat
from ivr400.deploy.asterisk import DeployReport, deploy_from_db
from ivr400.lab import Lab
from ivr400.lab.targets import lab_target
from ivr400.provisioning import destinations, evidence, seats, tones, trunks
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.hotlines import add_hotline

ACTOR = "e2e"
ENTERPRISE = "北京甲科技有限公司"
HOTLINE = "4008000001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FASTAGI = ("127.0.0.1", 4573)


def fastagi_listening() -> bool:
    """Whether something accepts connections on the controller's port (these tests want nobody there)."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(FASTAGI) == 0


def write_wav(path: Path, seconds: float, freq: float = 0.0) -> Path:
    """8 kHz mono 16-bit: silence, or a sine at `freq`."""
    import math
    frames = bytearray()
    for n in range(int(seconds * 8000)):
        v = int(6000 * math.sin(2 * math.pi * freq * n / 8000)) if freq else 0
        frames += struct.pack("<h", v)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(frames))
    return path


@dataclass
class World:
    lab: Lab
    tmp: Path
    engine: Engine
    now: datetime
    hotline_id: int
    enterprise_id: int
    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)  # destination number -> seat port

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s
            s.commit()

    def hotline(self, s: Session, hotline: int | None = None) -> Hotline:
        """The world's first hotline, or the one whose id is `hotline`."""
        return s.get(Hotline, hotline or self.hotline_id)  # type: ignore[return-value]

    def add_hotline(self, number: str, **attrs: object) -> int:
        """Another hotline of the enterprise, with the first one's welcome tone; returns its id."""
        with self.session() as s:
            h = add_hotline(s, number, s.get(Enterprise, self.enterprise_id), name=f"e2e {number}", now=self.now)
            h.welcome_tone_id = self.hotline(s).welcome_tone_id
            for key, value in attrs.items():
                setattr(h, key, value)
            s.flush()
            return h.id

    def set_hotline(self, hotline: int | None = None, **attrs: object) -> None:
        with self.session() as s:
            h = self.hotline(s, hotline)
            for key, value in attrs.items():
                setattr(h, key, value)

    def department(self, key: str, name: str, hunt: str = "sequential", *, hotline: int | None = None) -> int:
        with self.session() as s:
            return seats.add_department(s, self.hotline(s, hotline), key, name, hunt=hunt).id

    def set_department(self, department: int, **attrs: object) -> None:
        with self.session() as s:
            dept = s.get(Department, department)
            for key, value in attrs.items():
                setattr(dept, key, value)

    def remove_seat(self, seat: int) -> None:
        with self.session() as s:
            seats.remove_seat(s, s.get(Seat, seat))  # type: ignore[arg-type]

    def move_seat(self, seat: int, position: int) -> None:
        with self.session() as s:
            seats.move_seat(s, s.get(Seat, seat), position=position)  # type: ignore[arg-type]

    def seat(self, number: str, port: int, *, department: int | None = None, ring_timeout: int = 5,
             hotline: int | None = None) -> int:
        """An approved destination `number` dialled through its own trunk to 127.0.0.1:`port`, bound as a seat
        (of the world's first hotline unless `hotline` names another)."""
        with self.session() as s:
            h = self.hotline(s, hotline)
            dest = s.query(Destination).filter_by(enterprise_id=self.enterprise_id, number=number).one_or_none()
            if dest is None:
                dest = destinations.add_destination(s, h.enterprise, number, owner_name=ENTERPRISE,
                                                    owner_kind="company", now=self.now, actor=ACTOR)
                bill = self.tmp / f"bill-{number}.png"
                bill.write_bytes(PNG + number.encode())
                evidence.add_evidence(s, dest, "carrier_bill", bill, store_root=self.data_dir / "evidence",
                                      attributes={"issuer": "telecom", "shows_number": True, "shows_owner": True},
                                      valid_from=None, valid_until=None, long_term=False, now=self.now)
                destinations.approve(s, dest, now=self.now, actor=ACTOR)
                dest.trunk = trunks.add_trunk(s, f"seat-{port}", f"PJSIP/pstn/sip:{{number}}@127.0.0.1:{port}")
                self.ports[dest.number] = port
            dept = s.get(Department, department) if department is not None else None
            return seats.add_seat(s, h, dest, department=dept, ring_timeout=ring_timeout, now=self.now).id

    def revoke(self, number: str) -> None:
        with self.session() as s:
            dest = s.query(Destination).filter_by(enterprise_id=self.enterprise_id, number=number).one()
            destinations.revoke(s, dest, reason="e2e: authorization withdrawn", now=self.now, actor=ACTOR)

    def deploy(self, template_dirs: tuple[Path, ...] = ()) -> DeployReport:
        with self.session() as s:
            return deploy_from_db(s, self.now, lab_target(self.lab), template_dirs=template_dirs,
                                  data_root=self.data_dir)

    def seat_count(self) -> int:
        with self.session() as s:
            return s.query(Seat).count()


def make_world(lab: Lab, tmp: Path, *, hunt: str = "sequential", welcome_s: float = 0.5) -> World:
    """Enterprise + hotline 4008000001 with a short welcome tone (so the static plan dials at once)."""
    now = datetime.now(timezone.utc)
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{tmp / 'ivr400.db'}")
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as s:
        ent = add_enterprise(s, ENTERPRISE, "010", now=now)
        h = add_hotline(s, HOTLINE, ent, name="e2e", hunt=hunt, now=now)
        if welcome_s:
            tone = tones.add_tone(s, write_wav(tmp / "welcome-src.wav", welcome_s, 440.0), name="e2e-welcome",
                                  kind="welcome", enterprise=ent, store_root=data / "tones", now=now,
                                  approved=True)
            h.welcome_tone = tone
        s.commit()
        return World(lab=lab, tmp=tmp, engine=engine, now=now, hotline_id=h.id, enterprise_id=ent.id, data_dir=data)


def start_seat(seats, tmp: Path, port: int, behaviour: str, **kw: object):  # noqa: ANN001, ANN201
    """A sipp seat on `port` with its own work directory under the test's tmp dir."""
    return seats(port, behaviour=behaviour, workdir=tmp / f"seat-{port}", **kw)
