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


def test_hotline_fax_setting_and_its_errors(cli) -> None:  # noqa: ANN001
    """`ivr400 hotline set --fax off|detect|key:N`: shown by `hotline show`; a bad value or a key a top-menu
    department uses is refused naming the field, and nothing is written; a department cannot take the fax key."""
    from tests.cli.test_routing_cli import H, base

    base(cli)  # hotline H with departments 1 and 2 (and 2.1)
    assert json.loads(cli("hotline", "show", H, "--json").output)["fax"] == "off"
    assert json.loads(cli("hotline", "set", H, "--fax", "detect", "--json").output)["fax"] == "detect"
    assert json.loads(cli("hotline", "set", H, "--fax", "KEY:9", "--json").output)["fax"] == "key:9"
    before = cli.snapshot()
    for value, reason in (("sometimes", "is not a fax setting"), ("key:12", "is not a fax setting"),
                          ("key:*", "is not a fax setting"), ("key:1", "already opens department")):
        result = cli("hotline", "set", H, "--fax", value, ok=False)
        assert result.exit_code != 0 and "fax: " in result.output and reason in result.output, (value, result.output)
    result = cli("department", "add", H, "9", "传真部", ok=False)
    assert result.exit_code != 0 and "key: " in result.output and "fax key" in result.output
    assert cli.snapshot() == before
    cli("department", "add", H, "9", "子菜单九", "--parent", "2")  # a sub-menu may use 9: the fax key is the top's
    assert json.loads(cli("hotline", "set", H, "--fax", "off", "--json").output)["fax"] == "off"
