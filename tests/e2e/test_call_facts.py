"""One real menu call on the lab, through the rendered dialplan, into its call record and fact row: the fact's
talk time is the seat's (Dial's ANSWEREDTIME_MS through the ivr400_talk CDR variable), not billsec, which
counts from the IVR's Answer(); the hunt's start (ivr400_hunt) is the first seat rung."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_store import import_csv
from ivr400.db.models import CallFact, CallHour, CallRecord
from ivr400.lab.sipp import call

from .test_calls import _ivr, _no_controller  # noqa: F401  (the autouse fixture: the static plan routes)
from .test_cdr import cdr_csv  # noqa: F401  (the fixture: the shipped CDR mappings loaded)
from .world import HOTLINE
from .world import start_seat as _seat

pytestmark = pytest.mark.pbx


def test_menu_call_fact_has_the_seats_talk_time(world, seats, cdr_csv: Path, tmp_path: Path) -> None:  # noqa: F811
    w = _ivr(world, menu_timeout=3, retries=2)
    _seat(seats, tmp_path, 5082, "answer", answer_after_s=1.0)
    started = time.time()
    result = call(HOTLINE, "13912345678", dtmf="2", dtmf_delay_s=1.5, hold_s=5.0, workdir=tmp_path / "carrier",
                  timeout_s=30)
    assert result.answered, result
    deadline = time.monotonic() + 10
    fact = record = None
    while time.monotonic() < deadline and fact is None:
        import_csv(w.engine, cdr_csv, state_path=tmp_path / "state.json", from_start=True)
        with Session(w.engine) as s:
            record = s.scalars(select(CallRecord).where(CallRecord.hotline == HOTLINE,
                                                        CallRecord.disposition == "answered")
                               .order_by(CallRecord.id.desc())).first()
            if record is not None and record.started_at.timestamp() >= started - 1:
                fact = s.scalars(select(CallFact).where(CallFact.uniqueid == record.uniqueid)).first()
        time.sleep(0.3)
    assert fact is not None and record is not None, "no fact row for the call"
    assert fact.seat and "01062345002" in fact.seat and fact.key_path == "2" and fact.department == "2"
    assert fact.first_rung_at is not None and fact.first_rung_at >= record.started_at.replace(microsecond=0)
    # the seat answered (1 s after ringing) after the hunt began, and well after the IVR's Answer()
    assert fact.answered_at is not None and fact.answered_at > fact.first_rung_at
    assert record.answered_at is not None and (fact.answered_at - record.answered_at).total_seconds() > 1.5
    # talk time: the seat's leg only, shorter than billsec (which counts the menu) by the menu's time at least
    assert fact.talk_s is not None and 0 < fact.talk_s < record.billsec - 1, (fact.talk_s, record.billsec)
    assert fact.wait_s is not None and 0.5 <= fact.wait_s <= 5, fact.wait_s
    # The shared lab CSV holds earlier calls to this number too: the roll-ups count each fact once, also after
    # importing the whole file again.
    def counted() -> tuple[int, int, int, int]:
        with Session(w.engine) as s:
            facts = s.scalars(select(CallFact).where(CallFact.hotline == HOTLINE)).all()
            rows = s.scalars(select(CallHour).where(CallHour.hotline == HOTLINE, CallHour.dim == "hotline")).all()
            return (len(facts), sum(r.offered for r in rows), sum(f.disposition == "answered" for f in facts),
                    sum(r.answered for r in rows))

    first = counted()
    assert first[0] == first[1] and first[2] == first[3], first
    import_csv(w.engine, cdr_csv, state_path=tmp_path / "state.json", from_start=True)
    assert counted() == first
