"""`ivr400 fax list`: what the hotlines received, newest first, one hotline's with --hotline."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.provisioning.fax import record_fax

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)


def test_fax_list(cli) -> None:  # noqa: ANN001
    cli("demo")  # a database with the sample hotline 4008123456
    engine = make_engine(cli.db)
    with Session(engine) as s, s.begin():
        for i, (number, status, pages) in enumerate([("4008123456", "SUCCESS", 1), ("4009999999", "FAILED", 0)]):
            record_fax(s, hotline_number=number, uniqueid=f"1700000000.{i}", caller="13800138000", status=status,
                       pages=pages, error=None if pages else "NO_FAX", remote_station="SENDER",
                       file_path=f"/spool/{number}/1700000000.{i}.tif", received_at=NOW + timedelta(minutes=i))
    engine.dispose()
    rows = json.loads(cli("fax", "list", "--json").output)
    assert [(r["uniqueid"], r["hotline"], r["status"], r["pages"], r["caller"]) for r in rows] == [
        ("1700000000.1", None, "FAILED", 0, "13800138000"), ("1700000000.0", "4008123456", "SUCCESS", 1, "13800138000")]
    one = json.loads(cli("fax", "list", "--hotline", "4008123456", "--json").output)
    assert [r["uniqueid"] for r in one] == ["1700000000.0"]
    table = cli("fax", "list").output
    assert "SUCCESS" in table and "4008123456" in table
