"""The fax_received hook (传真): the path guard, res_fax's outcome read over AGI, the record, the refusals."""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy.orm import Session

from ivr400.controller.routes import bind
from ivr400.controller.routes.fax_received import fax_file_ok
from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.asterisk.fastagi import FastAGIServer
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.fax import list_faxes, record_fax
from tests.fakes.fake_asterisk import FakeAsterisk

HOTLINE = "4008000003"
SPOOL = f"{v.FAX_SPOOL}/{HOTLINE}"
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.timezone.utc)


class FaxContext:
    """A RouteContext that records the faxes the route asks it to save."""

    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    @property
    def config(self) -> None:
        return None

    def now(self) -> dt.datetime:
        return NOW

    async def rotate(self, entry: object, decision: object, now: dt.datetime) -> object:
        return decision

    def count_decision(self) -> None:
        pass

    async def save_voicemail(self, **kwargs: object) -> bool:
        return True

    async def save_fax(self, **kwargs: Any) -> bool:  # noqa: ANN401
        self.saved.append(kwargs)
        return True


@pytest.mark.parametrize("path", [f"{SPOOL}/../x.tif", f"{v.FAX_SPOOL}/4008999999/1.2.tif", f"{SPOOL}/a/b.tif",
                                  f"{SPOOL}/x.wav", "/etc/passwd", f"{SPOOL}/.tif", ""])
def test_fax_file_guard_refuses(path: str) -> None:
    assert not fax_file_ok(path, HOTLINE)


def test_fax_received_reads_the_outcome_and_guards_the_path() -> None:
    ctx = FaxContext()
    outcome = {"FAXOPT(status)": "SUCCESS", "FAXOPT(pages)": "1", "FAXOPT(error)": "OK",
               "FAXOPT(remotestationid)": "SENDER 01"}

    async def scenario() -> None:
        server = FastAGIServer(bind(ctx), "127.0.0.1", 0)  # type: ignore[arg-type]
        await server.start()
        try:
            for i, path in enumerate([f"{SPOOL}/../../etc/x.tif", f"{SPOOL}/1700000000.{1}.tif"]):
                await FakeAsterisk(server.port, route=v.ROUTE_FAX, query=f"hotline={HOTLINE}",
                                   uniqueid=f"1700000000.{i}", callerid="13800138000",
                                   variables={v.FAX_FILE: path, **outcome}).run()
        finally:
            await server.close(grace=1.0)

    asyncio.run(scenario())
    assert ctx.saved == [{"hotline": HOTLINE, "uniqueid": "1700000000.1", "caller": "13800138000",
                          "status": "SUCCESS", "pages": 1, "error": "OK", "remote_station": "SENDER 01",
                          "file_path": f"{SPOOL}/1700000000.1.tif"}]


def test_record_fax_once_per_call_and_list(tmp_path) -> None:  # noqa: ANN001
    engine = make_engine(f"sqlite:///{tmp_path}/f.db")
    upgrade(engine)
    with Session(engine) as s:
        row, created = record_fax(s, hotline_number=HOTLINE, uniqueid="1.1", caller="anonymous", status="SUCCESS",
                                  pages=1, error="OK", remote_station="X\x00Y", file_path="/spool/1.1.tif",
                                  received_at=NOW)
        again, created_again = record_fax(s, hotline_number=HOTLINE, uniqueid="1.1", caller=None, status="FAILED",
                                          pages=0, error=None, remote_station=None, file_path="/x", received_at=NOW)
        assert created and not created_again and again.id == row.id and again.status == "SUCCESS"
        with pytest.raises(ProvisioningError, match="uniqueid"):
            record_fax(s, hotline_number=HOTLINE, uniqueid="x", caller=None, status="SUCCESS", pages=1, error=None,
                       remote_station=None, file_path="/x", received_at=NOW)
        with pytest.raises(ProvisioningError, match="status"):
            record_fax(s, hotline_number=HOTLINE, uniqueid="1.2", caller=None, status="ok; drop", pages=1,
                       error=None, remote_station=None, file_path="/x", received_at=NOW)
        faxes = list_faxes(s)
    engine.dispose()
    assert [(f.uniqueid, f.hotline, f.caller, f.status, f.pages, f.remote_station) for f in faxes] == [
        ("1.1", None, None, "SUCCESS", 1, "X?Y")]
