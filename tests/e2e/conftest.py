"""Fixtures for the end-to-end tests: the real Asterisk lab and sipp.

`lab` (session): brings the lab up (building the chroot if needed) and yields the `Lab`. If the PBX
cannot start, the e2e tests are skipped with the reason, or fail when CI=true. A lab that was already
running before the session is left running; one this session started is stopped at the end
(unless IVR400_LAB_KEEP=1).
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ivr400.lab import Lab, LabError, lab_down, lab_status, lab_up
from ivr400.lab.core import calls_lock

from .controller import ControllerProcess
from .sipp import SeatUas
from .world import World, fastagi_listening, make_world


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> None:
    message = f"PBX lab unavailable: {reason}"
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        _unavailable("needs root (chroot, mount)")
    if shutil.which("sipp") is None:
        _unavailable("sipp is not installed (apt-get install -y sip-tester)")
    try:
        was_running = lab_status().running
        started = lab_up()
    except (LabError, OSError) as exc:
        _unavailable(str(exc))
    yield started
    keep = os.environ.get("IVR400_LAB_KEEP", "").strip().lower() in ("1", "true", "yes")
    if not was_running and not keep:
        lab_down()


@pytest.fixture(autouse=True)
def _exclusive_lab() -> Iterator[None]:
    """One e2e test at a time on this machine: the lab's ports, includes and dialplan are shared."""
    with calls_lock():
        yield


@pytest.fixture
def lab_dialplan(lab: Lab) -> Iterator[Callable[[str], None]]:
    """Write a dialplan snippet into the lab-test include (`dialplan reload`); emptied afterwards."""

    def write(text: str) -> None:
        lab.set_test_dialplan(text)

    yield write
    lab.clear_test_dialplan()


@pytest.fixture
def seats() -> Iterator[Callable[..., SeatUas]]:
    """Start seats (sipp UAS) with `seats(port, behaviour=..., ...)`; all stopped at teardown."""
    started: list[SeatUas] = []

    def start(port: int, **kwargs: object) -> SeatUas:
        seat = SeatUas(port, **kwargs).start()  # type: ignore[arg-type]
        started.append(seat)
        return seat

    yield start
    for seat in started:
        seat.stop()


@pytest.fixture
def world(lab: Lab, tmp_path: Path) -> Iterator[Callable[..., World]]:
    """`world(**kwargs)` provisions a database world into the lab (see tests/e2e/world.py)."""
    made: list[World] = []

    def make(**kwargs: object) -> World:
        w = make_world(lab, tmp_path, **kwargs)  # type: ignore[arg-type]
        made.append(w)
        return w

    yield make
    for w in made:
        w.engine.dispose()


@pytest.fixture
def controller(lab: Lab, tmp_path: Path) -> Iterator[Callable[..., ControllerProcess]]:
    """`controller(world, fixed_now=ISO or None, log_level=...)` starts `ivr400 serve`; all are stopped at teardown."""
    if fastagi_listening():
        pytest.fail("something already listens on 127.0.0.1:4573: stop it before these tests")
    started: list[ControllerProcess] = []

    def start(world: World, fixed_now: str | None = None, log_level: str = "debug") -> ControllerProcess:
        for c in started:  # one at a time on the port
            c.stop()
        c = ControllerProcess(str(world.engine.url), lab.root, tmp_path / "controller", fixed_now, log_level)
        started.append(c)
        return c.start()

    try:
        yield start
    finally:
        for c in started:
            c.stop()
        deadline = time.monotonic() + 5
        while fastagi_listening() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not fastagi_listening(), "the controller still listens on 4573 after the test"
