"""The ESL controller and the FastAGI controller make the same decision for the same request, on the rich
fixture of ``test_tree_agreement`` (three-level menu, round robin, simultaneous ringing with a cap, trunks,
ringback tones, tied positions, rows only raw SQL can write), on SQLite and the real PostgreSQL.

Both sides are asked over their own wire: a fake Asterisk over FastAGI, a fake FreeSWITCH over the outbound
event socket (no FreeSWITCH binary is reachable here: the FreeSWITCH side is proven at the protocol level).
Same requests in the same order on each side, the round-robin counter reset in between, so round robin is
at the same position. They must agree on every variable, in the same order, the dial-string dialect aside:
``PJSIP/<n>@<endpoint>`` ↔ ``sofia/gateway/<endpoint>/<n>`` (other Asterisk templates ↔ the default gateway)
and ringback class ↔ ringback file.
"""
from __future__ import annotations

import asyncio
import re

from sqlalchemy import Engine, text

from ivr400.controller.app import Controller
from ivr400.controller.esl import esl_server
from ivr400.pbx.asterisk import dialplan_variables as v
from tests.conftest import NOW
from tests.db.test_tree_agreement import CALLS, FLAT, MENU, TIED, rich  # noqa: F401 - the fixture
from tests.fakes.fake_asterisk import FakeAsterisk
from tests.fakes.fake_freeswitch import FakeChannel

MENU_PATHS = ("", "1", "2", "2.1", "2.2", "2.2.1", "2.2.2", "3", "7", "8", "9")
CALLERS = ("13800138000", "01062345678", "", "anonymous")


def requests() -> list[tuple[str, str, str]]:
    """(route, query, caller): every hunt of the menu hotline CALLS times (round robin rotates), the route hook
    of every hotline for several callers, a hotline that does not exist."""
    out = [(v.ROUTE_DEPARTMENT, f"hotline={MENU}&dept={path}", "13800138000") for path in MENU_PATHS
           for _ in range(CALLS)]
    out += [(v.ROUTE_CALL, f"hotline={h}", caller) for h in (MENU, FLAT, TIED) for caller in CALLERS
            for _ in range(2)]
    out.append((v.ROUTE_CALL, "hotline=4009999999", "13800138000"))
    return out


def asterisk_side(engine: Engine, reqs: list[tuple[str, str, str]]) -> list[list[tuple[str, str]]]:
    async def scenario() -> list[list[tuple[str, str]]]:
        ctl = Controller(engine, now=lambda: NOW)
        await ctl.start()
        server = ctl.server("127.0.0.1", 0)
        await server.start()
        try:
            out = []
            for route, query, caller in reqs:
                fake = await FakeAsterisk(server.port, route=route, query=query, callerid=caller).run()
                out.append([(n, val) for n, val in fake.sets if n != v.AGI_STATUS])
            return out
        finally:
            await server.close(grace=1.0)
            await ctl.stop()

    return asyncio.run(asyncio.wait_for(scenario(), 120))


def freeswitch_side(engine: Engine, reqs: list[tuple[str, str, str]]) -> list[list[tuple[str, str]]]:
    async def scenario() -> list[list[tuple[str, str]]]:
        ctl = Controller(engine, now=lambda: NOW)
        await ctl.start()
        server = esl_server(ctl, "127.0.0.1", 0)
        await server.start()
        try:
            out = []
            for route, query, caller in reqs:
                fake = await FakeChannel(server.port, hook=f"{route}?{query}", caller=caller).run()
                assert fake.sets[-1] == ("IVR400_HOOK_STATUS", "OK"), fake.sets
                out.append(fake.sets[:-1])
            return out
        finally:
            await server.close(grace=1.0)
            await ctl.stop()

    return asyncio.run(asyncio.wait_for(scenario(), 120))


def in_freeswitch_dialect(name: str, value: str) -> str:
    """What the FreeSWITCH side must send where the Asterisk side sent ``value``."""
    if name.startswith(v.TARGET_PREFIX) and name != v.TARGET_COUNT:
        m = re.fullmatch(r"PJSIP/([0-9+*#]+)@([A-Za-z0-9_.-]+)", value)
        if m:
            return f"sofia/gateway/{m.group(2)}/{m.group(1)}"
        number = re.search(r"[0-9]{5,}", value)
        assert number is not None, value
        return f"sofia/gateway/ivr400-out/{number.group(0)}"
    if name == v.MOH_CLASS:
        if value == "ivr400-default":
            return "ivr400/ivr400-ringback.wav"
        tone = re.fullmatch(r"ivr400-tone-([0-9]+)", value)
        return f"ivr400/tone-{tone.group(1)}.wav" if tone else value
    return value


def test_esl_and_fastagi_decide_the_same(rich: Engine) -> None:  # noqa: F811
    reqs = requests()
    asterisk = asterisk_side(rich, reqs)
    with rich.begin() as conn:
        conn.execute(text("DELETE FROM hunt_rotation"))
    freeswitch = freeswitch_side(rich, reqs)
    assert len(asterisk) == len(freeswitch) == len(reqs)
    for req, a, f in zip(reqs, asterisk, freeswitch, strict=True):
        a = [(n, val) for n, val in a if n != v.FAX_MODE]  # 传真 is Asterisk's (res_fax): not sent to FreeSWITCH
        assert [n for n, _ in a] == [n for n, _ in f], req
        assert [in_freeswitch_dialect(n, val) for n, val in a] == [val for _, val in f], req
    # The fixture exercises what differs: trunks, ringback files, rotation, nobody routable.
    sent = [val for answer in freeswitch for _, val in answer]
    assert "sofia/gateway/carrier-b/02155559999" in sent
    assert any(val.startswith("ivr400/tone-") and val.endswith(".wav") for val in sent)
    firsts = [dict(f).get(v.target(1)) for (route, query, _), f in zip(reqs, freeswitch, strict=True)
              if query == f"hotline={MENU}&dept=1"]
    assert len(set(firsts)) > 1  # round robin rotated, identically on both sides
    assert any(dict(f).get(v.TARGET_COUNT) == "0" for f in freeswitch)
