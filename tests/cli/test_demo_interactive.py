"""`ivr400 demo --call` on a terminal: between calls, Enter asks for another call, q / end of input / Ctrl-C
stop. (The calls themselves, and the non-interactive path, run on the real lab in tests/e2e/test_calls.py.)"""
from __future__ import annotations

import io

import pytest

from ivr400.cli import demo
from ivr400.lab.demo_call import DemoCallReport, SeatInfo


def _report() -> DemoCallReport:
    return DemoCallReport(hotline="4008123456", caller="13800138000", key="1", department="销售部",
                          expected_seat="02161234567", seats=[SeatInfo("02161234567", "021-61234567", 5094)],
                          reused_sample=True, deploy={}, ok=True, web={"url": "http://127.0.0.1:8400/"})


@pytest.mark.parametrize("typed, again", [("\n", True), ("q\n", False), ("Q\n", False), ("quit\n", False),
                                          ("", False), ("anything\n", True)])
def test_enter_places_another_call_q_or_end_of_input_stops(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], typed: str,
                                                           again: bool) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    ask = demo._Interactive()
    ask.first = False  # the login is printed once, with the database (see the e2e test)
    assert ask(_report()) is again
    out = capsys.readouterr().out
    assert "OK: answered by the expected seat 021-61234567" in out  # the path of every call is printed
    assert "press Enter to place another demo call (pressing 1)" in out and ask.last is not None


def test_ctrl_c_at_the_prompt_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    class Interrupted(io.StringIO):
        def readline(self, *args: object) -> str:  # type: ignore[override]
            raise KeyboardInterrupt

    monkeypatch.setattr("sys.stdin", Interrupted())
    ask = demo._Interactive()
    ask.first = False
    assert ask(_report()) is False
