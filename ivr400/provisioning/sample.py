"""The sample enterprise the demo provisions: every whitelist path exercised once, through the services."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Enterprise, Hotline
from ivr400.provisioning import destinations, evidence, seats
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.hotlines import add_hotline

ENTERPRISE = "北京示例科技有限公司"
HOTLINE = "4008123456"


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF standing in for a scanned document."""
    body = f"BT /F1 12 Tf 40 780 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclass
class SampleResult:
    enterprise: Enterprise
    hotline: Hotline
    refused: dict[str, str] = field(default_factory=dict)


def provision_sample(session: Session, *, store_root: Path, now: datetime, actor: str) -> SampleResult:
    """Enterprise, hotline with two menu keys, five destinations (four approved, one refused) and seats."""
    if session.scalar(select(Hotline).where(Hotline.number == HOTLINE)) is not None:
        raise ProvisioningError("demo", f"hotline {HOTLINE} already exists in this database")
    ent = add_enterprise(session, ENTERPRISE, "010", now=now)
    hotline = add_hotline(session, HOTLINE, ent, name="客服热线", now=now)
    sales = seats.add_department(session, hotline, "1", "销售部")
    service = seats.add_department(session, hotline, "2", "售后服务部", hunt="simultaneous")
    result = SampleResult(ent, hotline)

    with tempfile.TemporaryDirectory() as tmp:
        def doc(name: str, text: str) -> Path:
            path = Path(tmp) / name
            path.write_bytes(_pdf(text))
            return path

        bill = {"issuer": "telecom", "shows_number": True, "shows_owner": True}
        own = []
        for number in ("010-62345678", "010-62345679", "010-62345680"):
            d = destinations.add_destination(session, ent, number, owner_name=ENTERPRISE, owner_kind="company",
                                             now=now, actor=actor)
            evidence.add_evidence(session, d, "carrier_bill", doc(f"bill-{number}.pdf", f"China Telecom bill {number}"),
                                  store_root=store_root, attributes=bill, valid_from=None, valid_until=None,
                                  long_term=False, now=now)
            destinations.approve(session, d, now=now, actor=actor)
            own.append(d)

        # Shanghai branch, owned by an affiliate: R4 letter sealed by both, R6 branch proof, R7 validity.
        branch = destinations.add_destination(session, ent, "021-61234567", owner_name="上海示例科技有限公司",
                                              owner_kind="company", relationship="关联公司", now=now, actor=actor)
        until = date(now.year + 1, 12, 31)
        for kind, attrs in (
            ("carrier_bill", {"issuer": "unicom", "shows_number": True, "shows_owner": True}),
            ("authorization_letter", {"sealed_by_owner": True, "sealed_by_enterprise": True,
                                      "relationship": "关联公司"}),
            ("branch_licence", {}),
            ("office_lease", {}),
        ):
            evidence.add_evidence(session, branch, kind, doc(f"{kind}.pdf", f"Shanghai {kind}"), store_root=store_root,
                                  attributes=attrs, valid_from=None,
                                  valid_until=until if kind != "carrier_bill" else None,
                                  long_term=False, now=now)
        destinations.approve(session, branch, now=now, actor=actor)

        # A mobile with no evidence: stays pending; the demo shows why it cannot be approved.
        mobile = destinations.add_destination(session, ent, "13800138000", owner_name="张三", owner_kind="person",
                                              relationship="员工", now=now, actor=actor)
        checklist = destinations.checklist(session, mobile, now)
        result.refused[mobile.number] = "; ".join(f"{i.rule} {i.message}" for i in checklist.missing)

    seats.add_seat(session, hotline, own[0], now=now)
    seats.add_seat(session, hotline, own[1], now=now)
    seats.add_seat(session, hotline, own[0], department=sales, now=now)
    seats.add_seat(session, hotline, branch, department=sales, now=now)
    seats.add_seat(session, hotline, own[1], department=service, now=now)
    seats.add_seat(session, hotline, own[2], department=service, now=now)
    return result
