"""The inbound ESL client and the event follower against a fake FreeSWITCH event socket (:8021 side).

No FreeSWITCH binary is reachable from this project's package registries: this is protocol-level proof only.
Frames follow mod_event_socket.c (``auth/request`` greeting, ``-ERR invalid`` then a disconnect notice for a
bad password, ``api/response`` with Content-Length, ``bgapi`` Job-UUID then a ``BACKGROUND_JOB`` event); the
``CHANNEL_HANGUP_COMPLETE`` fixture carries the channel timestamps ``switch_channel_set_timestamps`` sets
(``start_uepoch``, ``bridge_uepoch``, ``end_uepoch``...) and the ivr400 channel variables the dialplan sets.
"""
from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ivr400.cdr.fs_events import call_from_hangup  # noqa: E402
from ivr400.controller import Controller  # noqa: E402
from ivr400.controller.esl_events import FreeSwitchEvents  # noqa: E402
from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.db.migrate import upgrade  # noqa: E402
from ivr400.db.models import CallRecord, Voicemail  # noqa: E402
from ivr400.pbx.freeswitch import esl_contract  # noqa: E402
from ivr400.pbx.freeswitch.esl import ESLAuthError, ESLCommandError, ESLTimeout, InboundClient  # noqa: E402
from tests.fakes.fake_freeswitch import FakeEventSocket  # noqa: E402
from tests.unit.test_routes import HOTLINE, Lab, provision, run  # noqa: E402

UUID = "0f3a1c52-8b1e-4c1e-9a57-6d0e8a2b7f10"
T0 = 1_780_279_200_000_000  # 2026-06-01 02:00:00 UTC in µs



@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A migrated SQLite database (as tests/unit/test_routes.py builds it) and the operator's edit helpers."""
    eng = make_engine(f"sqlite:///{tmp_path / 'esl.db'}")
    upgrade(eng)
    yield Lab(eng, tmp_path)
    eng.dispose()

def hangup(uuid: str = UUID, *, direction: str = "inbound", bridged: bool = True, disposition: str = "SUCCESS",
           disp: str = "answered", **variables: str) -> list[tuple[str, str]]:
    """A CHANNEL_HANGUP_COMPLETE of the caller's channel: rang a seat, which answered 7 s in, 60 s call."""
    headers = [
        ("Event-Name", "CHANNEL_HANGUP_COMPLETE"), ("Core-UUID", "6cd7d004-e3c9-11e7-b0f3-73bec77e82ec"),
        ("Event-Date-Timestamp", str(T0 + 60_000_000)), ("Channel-State", "CS_REPORTING"),
        ("Channel-Name", "sofia/external/13800138000@203.0.113.7"), ("Unique-ID", uuid),
        ("Call-Direction", direction), ("Answer-State", "hangup"), ("Hangup-Cause", "NORMAL_CLEARING"),
        ("Caller-Caller-ID-Name", "13800138000"), ("Caller-Caller-ID-Number", "13800138000"),
        ("Caller-Destination-Number", HOTLINE), ("Caller-Context", "public"),
        ("variable_start_uepoch", str(T0)), ("variable_answer_uepoch", str(T0 + 1_000_000)),
        ("variable_bridge_uepoch", str(T0 + 7_000_000) if bridged else "0"),
        ("variable_end_uepoch", str(T0 + 60_000_000)), ("variable_originate_disposition", disposition),
        ("variable_ivr400_hotline", HOTLINE), ("variable_ivr400_keys", "2"), ("variable_ivr400_dept", "2"),
        ("variable_ivr400_disp", disp), ("variable_ivr400_decided_by", "controller"),
    ]
    if bridged:
        headers += [("variable_bridge_channel", "sofia/gateway/ivr400-out/01062345670"),
                    ("variable_ivr400_seat", "sofia/gateway/ivr400-out/01062345670")]
    return headers + [(f"variable_{k}", val) for k, val in variables.items()]


# --------------------------------------------------------------------------- the client


def test_auth_api_and_bgapi_frames() -> None:
    async def scenario() -> tuple[str, tuple[str, str | None], FakeEventSocket]:
        fake = await FakeEventSocket(api_replies={"reloadxml": "+OK [Success]\n", "status": "UP 0 years\n"}).start()
        try:
            client = await InboundClient.open("127.0.0.1", fake.port, "ClueCon", timeout=2)
            out = await client.api("reloadxml")
            job = await client.bgapi("status", wait=2)
            await client.reloadxml()
            await client.close()
            return out, job, fake
        finally:
            await fake.close()

    out, (job_uuid, job_out), fake = run(scenario)
    assert out == "+OK [Success]\n" and job_out == "UP 0 years\n" and len(job_uuid) == 36
    assert [c.raw for c in fake.commands] == [b"auth ClueCon\n\n", b"api reloadxml\n\n", b"bgapi status\n\n",
                                             b"api reloadxml\n\n"]


def test_verifying_a_deploy_reads_the_context_back_with_xml_locate() -> None:
    located = '<context name="public"><extension name="ivr400-4008000001"/></context>\n'

    async def scenario() -> tuple[str, list[bytes]]:
        fake = await FakeEventSocket(api_replies={"xml_locate dialplan context name public": located}).start()
        try:
            client = await InboundClient.open("127.0.0.1", fake.port, "ClueCon", timeout=2)
            out = await client.locate_context("public")
            with pytest.raises(ValueError, match="context"):
                await client.locate_context("public\napi system")
            await client.close()
            return out, [c.raw for c in fake.commands]
        finally:
            await fake.close()

    out, commands = run(scenario)
    assert out == located and commands[1:] == [b"api xml_locate dialplan context name public\n\n"]


def test_a_wrong_password_is_refused_without_echoing_it() -> None:
    async def scenario() -> None:
        fake = await FakeEventSocket(password="right").start()
        try:
            await InboundClient.open("127.0.0.1", fake.port, "wrong-secret", timeout=2)
        finally:
            await fake.close()

    with pytest.raises(ESLAuthError) as info:
        run(scenario)
    assert "wrong-secret" not in str(info.value)


def test_a_rude_rejection_or_a_silent_socket() -> None:
    async def rejected() -> None:
        message = b"Access Denied, go away.\n"
        fake = await FakeEventSocket(greet=b"Content-Type: text/rude-rejection\nContent-Length: "
                                     + str(len(message)).encode() + b"\n\n" + message).start()
        try:
            await InboundClient.open("127.0.0.1", fake.port, "ClueCon", timeout=2)
        finally:
            await fake.close()

    async def silent() -> None:
        fake = await FakeEventSocket(greet=b"").start()
        try:
            await InboundClient.open("127.0.0.1", fake.port, "ClueCon", timeout=0.3)
        finally:
            await fake.close()

    with pytest.raises(ESLAuthError, match="Access Denied"):
        run(rejected)
    with pytest.raises(ESLTimeout, match="auth/request"):
        run(silent)


def test_an_api_error_and_an_unsafe_api_argument() -> None:
    async def scenario() -> list[str]:
        fake = await FakeEventSocket().start()
        errors = []
        try:
            client = await InboundClient.open("127.0.0.1", fake.port, "ClueCon", timeout=2)
            with pytest.raises(ESLCommandError, match="Command not found"):
                await client.api("nosuch")
            with pytest.raises(ValueError, match="command"):
                await client.api("status\n\napi system reboot")
            errors = [c.line for c in fake.commands]
            await client.close()
        finally:
            await fake.close()
        return errors

    assert run(scenario) == ["auth ClueCon", "api nosuch"]


# --------------------------------------------------------------------------- events → rows


def test_the_hangup_of_an_answered_call_is_the_record_the_asterisk_path_writes() -> None:
    call = call_from_hangup(dict(hangup()))
    assert call is not None
    start = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
    assert (call.uniqueid, call.hotline, call.caller, call.disposition) == (UUID, HOTLINE, "13800138000", "answered")
    assert call.started_at == start and call.answered_at == datetime(2026, 6, 1, 2, 0, 7, tzinfo=timezone.utc)
    assert (call.duration_s, call.billsec, call.key_path, call.department) == (60, 53, "2", "2")
    assert call.seat == "sofia/gateway/ivr400-out/01062345670" and call.decided_by == "controller"


@pytest.mark.parametrize("disposition, expected", [("USER_BUSY", "busy"), ("NO_ANSWER", "noanswer"), ("", "abandoned")])
def test_unanswered_calls_derive_their_disposition_like_asterisk_legs(disposition: str, expected: str) -> None:
    call = call_from_hangup(dict(hangup(bridged=False, disposition=disposition, disp="")))
    assert call is not None and call.disposition == expected and call.answered_at is None and call.billsec == 0


def test_seat_legs_and_other_events_are_not_call_records() -> None:
    assert call_from_hangup(dict(hangup(direction="outbound"))) is None
    assert call_from_hangup({"Event-Name": "CHANNEL_CREATE", "Unique-ID": UUID}) is None


def test_events_become_call_records_and_voicemail_rows(lab: Lab) -> None:
    provision(lab, departments=True)
    vm_uuid = "0f3a1c52-8b1e-4c1e-9a57-6d0e8a2b7f11"
    good_vm = [("Event-Name", "CUSTOM"), ("Event-Subclass", esl_contract.VOICEMAIL_EVENT), ("Unique-ID", vm_uuid),
               ("Caller-Caller-ID-Number", "13800138000"), ("IVR400-Hotline", HOTLINE), ("IVR400-Dept", "2"),
               ("IVR400-File", f"{esl_contract.VOICEMAIL_SPOOL}/{HOTLINE}/{vm_uuid}.wav")]
    bad_vm = [*good_vm[:-1], ("IVR400-File", f"{esl_contract.VOICEMAIL_SPOOL}/{HOTLINE}/../../etc/passwd.wav")]

    async def scenario() -> tuple[dict[str, int], list[bytes]]:
        fake = await FakeEventSocket().start()
        ctl = Controller(lab.engine, now=lab.now)
        await ctl.start()
        follower = FreeSwitchEvents(lab.engine, ctl)
        client = await InboundClient.open("127.0.0.1", fake.port, "ClueCon", timeout=2)
        task = asyncio.create_task(follower.run(client))
        try:
            await asyncio.wait_for(fake.subscribed.wait(), 2)
            for headers in (hangup(), hangup(direction="outbound"), good_vm, bad_vm, good_vm,
                            [("Event-Name", "HEARTBEAT")]):
                await fake.emit(headers)
            while sum(follower.counts.values()) < 6:
                await asyncio.sleep(0.02)
        finally:
            await client.close()
            await asyncio.wait_for(task, 2)
            await fake.close()
            await ctl.stop()
        return follower.counts, [c.raw for c in fake.commands]

    counts, commands = run(scenario)
    assert counts == {"call": 1, "ignored": 2, "voicemail": 2, "bad": 1}
    subscribe = b"event plain CHANNEL_HANGUP_COMPLETE CUSTOM ivr400::voicemail\n\n"
    with Session(lab.engine) as s:
        [record] = s.scalars(select(CallRecord)).all()
        [voicemail] = s.scalars(select(Voicemail)).all()
    assert (record.uniqueid, record.source, record.disposition, record.billsec) == (UUID, "esl", "answered", 53)
    assert voicemail.uniqueid == vm_uuid and voicemail.caller == "13800138000"
    assert commands == [b"auth ClueCon\n\n", subscribe]


def test_follow_events_reconnects_and_never_logs_the_password(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    from ivr400.controller.esl import follow_events

    provision(lab)
    second = "0f3a1c52-8b1e-4c1e-9a57-6d0e8a2b7f12"

    async def until(condition, timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)

    async def scenario() -> dict[str, int]:
        fake = await FakeEventSocket(password="s3cret").start()
        ctl = Controller(lab.engine, now=lab.now)
        await ctl.start()
        stop = asyncio.Event()
        task = asyncio.create_task(follow_events(lab.engine, ctl, "127.0.0.1", fake.port, "s3cret", stop=stop,
                                                 retry=0.05, timeout=1))
        try:
            await asyncio.wait_for(fake.subscribed.wait(), 5)
            await fake.emit(hangup())
            await until(lambda: len(fake.commands) >= 2 and _records(lab) == 1)
            fake.subscribed.clear()
            for w in list(fake._writers):  # FreeSWITCH restarts: the connection drops
                w.close()
            await asyncio.wait_for(fake.subscribed.wait(), 5)
            await fake.emit(hangup(second))
            await until(lambda: _records(lab) == 2)
        finally:
            stop.set()
            follower = await asyncio.wait_for(task, 5)
            await fake.close()
            await ctl.stop()
        return follower.counts

    async def refused() -> None:
        fake = await FakeEventSocket(password="right").start()
        stop = asyncio.Event()
        ctl = Controller(lab.engine, now=lab.now)
        task = asyncio.create_task(follow_events(lab.engine, ctl, "127.0.0.1", fake.port, "wrong-pw-xyz", stop=stop,
                                                 retry=0.05, timeout=1))
        await until(lambda: len(fake.commands) >= 2)  # it keeps trying
        stop.set()
        await asyncio.wait_for(task, 5)
        await fake.close()

    assert run(scenario) == {"call": 2}
    with caplog.at_level(logging.INFO):
        run(refused)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "refused freeswitch.esl_password" in messages and "wrong-pw-xyz" not in messages


def _records(lab: Lab) -> int:
    with Session(lab.engine) as s:
        return len(s.scalars(select(CallRecord)).all())
