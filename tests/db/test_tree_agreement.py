"""The controller and the rendered static plan agree on who rings, in which order, for how long and with which
ringback tone — on SQLite and the real PostgreSQL, on a rich fixture with the rows that used to make them differ.

Both sides are read from one reader (``ivr400.tree``). This test does not trust that: it renders the real
plan, reads each hunt's static plan back out of it (its AstDB value ``h/<number>/d<digits>`` in
``ivr400/astdb.txt``, as the one ``MSet`` step of ``[ivr400-department]`` in ``extensions.conf`` applies it),
asks the real controller over FastAGI (the ``department`` hook for every hunt, the ``route`` hook for a
hotline without a menu), and plays both answers through one model of the dialplan's hunt engine
(``[ivr400-hunt]`` in ``dialplans/asterisk/_shared.j2``), call after call so round robin rotates on both
sides. Each rule gets its own test so a failure names the rule that broke.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ivr400.controller.app import Controller
from ivr400.db.models import Destination, Enterprise, Tone, Trunk
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.provisioning import seats
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.hotlines import add_hotline
from ivr400.provisioning.trunks import add_trunk
from ivr400.render import render_asterisk
from ivr400.render.asterisk import RenderedConfig
from tests.conftest import NOW
from tests.factories import destination_row, tone_row
from tests.fakes.fake_asterisk import FakeAsterisk

MENU = "4001234567"  # a three-level menu, round robin, tones, trunks and bad rows
FLAT = "4001234568"  # no menu: the route hook decides; simultaneous ringing with a cap
TIED = "4001234569"  # no menu: sequential, seats sharing a position
DEFAULT_RING_S = 15  # what the hunt engine uses for an empty timeout
CALLS = 4  # consecutive calls per hunt: enough for round robin to come back to the first seat


# --------------------------------------------------------------------------- the fixture


def _dest(s: Session, ent: Enterprise, number: str, trunk: Trunk | None = None) -> Destination:
    return destination_row(s, ent, number, NOW, trunk=trunk)


def _tone(s: Session, tone_id: int, name: str, ent: Enterprise | None) -> Tone:
    return tone_row(s, tone_id, name, "ringback", ent, NOW)


@pytest.fixture
def rich(engine: Engine) -> Iterator[Engine]:
    with Session(engine, expire_on_commit=False) as s:
        ent = add_enterprise(s, "上海示例贸易有限公司", "021", now=NOW)
        other = add_enterprise(s, "北京乙科技有限公司", "010", now=NOW)
        lab = add_trunk(s, "lab", "PJSIP/pstn/sip:{number}@127.0.0.1:5071")
        backup = add_trunk(s, "backup", "PJSIP/{number}@carrier-b")
        broken = add_trunk(s, "broken", "PJSIP/{number}@broken")
        d = [_dest(s, ent, f"0215555{i:04d}") for i in range(1, 12)]
        d.append(_dest(s, ent, "02155559999", trunk=backup))  # d[11]: its own trunk
        d.append(_dest(s, ent, "02155558888", trunk=broken))  # d[12]: a trunk made unusable below

        # MENU: round-robin switchboard capped at 2, ringback from the hotline, three menu levels.
        h = add_hotline(s, MENU, ent, hunt="round_robin", max_attempts=2, now=NOW)
        h.trunk_id = lab.id
        h.ringback_tone = _tone(s, 12, "ringback", ent)
        sales = seats.add_department(s, h, "1", "销售部", hunt="round_robin", max_attempts=2)
        sales.ringback_tone = _tone(s, 13, "sales-ringback", None)  # a shared tone: usable by anyone
        service = seats.add_department(s, h, "2", "售后服务部")  # inherits the hotline's ringback
        appliances = seats.add_department(s, h, "1", "家电", parent=service, hunt="simultaneous", max_attempts=2)
        phones = seats.add_department(s, h, "2", "手机", parent=service)
        huawei = seats.add_department(s, h, "1", "华为", parent=phones)
        seats.add_department(s, h, "2", "小米", parent=phones)  # nobody: both ring nobody
        flaky = seats.add_department(s, h, "3", "外包")
        for dest in d[:3]:
            seats.add_seat(s, h, dest, now=NOW)
        seats.add_seat(s, h, d[3], department=sales, ring_timeout=20, now=NOW)
        seats.add_seat(s, h, d[4], department=sales, ring_timeout=25, now=NOW)
        seats.add_seat(s, h, d[5], department=sales, now=NOW)
        seats.add_seat(s, h, d[6], department=appliances, ring_timeout=10, now=NOW)
        seats.add_seat(s, h, d[11], department=appliances, ring_timeout=30, now=NOW)
        seats.add_seat(s, h, d[7], department=appliances, ring_timeout=45, now=NOW)  # beyond the cap
        seats.add_seat(s, h, d[8], department=huawei, now=NOW)
        seats.add_seat(s, h, d[0], department=service, now=NOW)
        seats.add_seat(s, h, d[12], department=flaky, now=NOW)
        seats.add_seat(s, h, d[9], department=flaky, ring_timeout=40, now=NOW)
        foreign = _tone(s, 14, "theirs", other)

        # FLAT: simultaneous ringing (全通达) capped at 2 seats, timeouts 10 / 40 / 20 s.
        flat = add_hotline(s, FLAT, ent, hunt="simultaneous", max_attempts=2, now=NOW)
        for dest, ring in ((d[0], 10), (d[1], 40), (d[2], 20)):
            seats.add_seat(s, flat, dest, ring_timeout=ring, now=NOW)

        # TIED: sequential, the third seat moved to the first's position (ties: raw SQL below).
        tied = add_hotline(s, TIED, ent, now=NOW)
        tied.trunk_id = backup.id
        tie_seats = [seats.add_seat(s, tied, dest, now=NOW) for dest in (d[10], d[3], d[4])]
        s.commit()

        # Rows only raw SQL can write: a tone of another enterprise, a transfer cap past the clamp, tied
        # positions, an unusable trunk template, a department loop no menu reaches.
        s.execute(text("UPDATE department SET ringback_tone_id = :t WHERE id = :d"), {"t": foreign.id, "d": phones.id})
        s.execute(text("UPDATE department SET max_attempts = 500 WHERE id = :d"), {"d": huawei.id})
        s.execute(text("UPDATE seat SET position = 1 WHERE id = :s"), {"s": tie_seats[2].id})
        s.execute(text("UPDATE trunk SET dial_template = 'PJSIP/{number}@x,y' WHERE id = :t"), {"t": broken.id})
        loop_a = seats.add_department(s, h, "7", "环A")
        loop_b = seats.add_department(s, h, "8", "环B")
        s.commit()
        s.execute(text("UPDATE department SET parent_id = :b WHERE id = :a"), {"a": loop_a.id, "b": loop_b.id})
        s.execute(text("UPDATE department SET parent_id = :a WHERE id = :b"), {"a": loop_a.id, "b": loop_b.id})
        s.commit()
    yield engine


# --------------------------------------------------------------------------- one model of [ivr400-hunt]


@dataclass(frozen=True)
class Ringing:
    """What the hunt engine does with one set of channel variables: the seats it rings in turn (sequential)
    or at once (simultaneous, one group), each with its ring timeout in s, and the ringback class."""

    groups: tuple[tuple[tuple[str, ...], int], ...]
    moh: str


def hunt_engine(variables: dict[str, str]) -> Ringing:
    """The dialplan's ``[ivr400-hunt]`` in Python (dialplans/asterisk/_shared.j2), from its variables. Its
    bound-seat check skips nobody here: no deploy happens between reading a list and ringing it."""

    def number(name: str) -> int:
        digits = re.sub(r"[^0-9]", "", variables.get(name, ""))
        return int(digits) if digits else 0

    n = number(v.TARGET_COUNT)
    moh = variables.get(v.MOH_CLASS, "")
    if n < 1:
        return Ringing((), "")
    cap = number(v.MAX_ATTEMPTS)
    if cap < 1 or cap > n:
        cap = n
    if variables.get(v.HUNT, "") == "simultaneous":
        dials = tuple(variables[v.target(i)] for i in range(1, cap + 1) if variables.get(v.target(i)))
        return Ringing(((dials, number(v.RING_TIMEOUT) or DEFAULT_RING_S),) if dials else (), moh)
    start = number(v.HUNT_START)
    if start < 1 or start > n:
        start = 1
    groups = []
    for k in range(cap):
        i = (start + k - 1) % n + 1
        if variables.get(v.target(i)):
            groups.append(((variables[v.target(i)],), number(v.timeout(i)) or DEFAULT_RING_S))
    return Ringing(tuple(groups), moh)


# --------------------------------------------------------------------------- the two sides


#: The end of the step of ``[ivr400-department]`` that reads a static hunt list: the hunt's pairs it sets first,
#: then the variable the AstDB value's first field goes to (the value's own ``NAME=value`` pairs follow it, so they
#: win). The pairs before these (who decided, whether the controller is reachable) are none the hunt reads.
STATIC_READ = (f"{v.TARGET_COUNT}=0,{v.RR}=,{v.PLAN}=${{DB({v.ASTDB_FAMILY}/h/${{{v.HOTLINE}}}"
               f"/d${{FILTER(0-9,${{{v.DEPT_PATH}}})}})}})")


def applied(step_sets: dict[str, str], first: str, value: str) -> dict[str, str]:
    """The variables one MSet data step sets: `step_sets`, then `first` = the value's first field, then its pairs."""
    head, *pairs = value.split(",")
    return {**step_sets, first: head, **dict(pair.split("=", 1) for pair in pairs)}


def static_plans(cfg: RenderedConfig, hotline: str) -> dict[str, list[dict[str, str]]]:
    """Per hunt key (``d``, ``d1``, ``d21``...) of ``hotline``, the variables its static plan sets (the AstDB value
    ``h/<hotline>/d<digits>`` that the department step reads in one MSet step, STATIC_READ), one dict per
    consecutive call (round robin: the department step advances the GLOBAL that ``IVR400_RR`` names by one per
    call)."""
    department = cfg.files["ivr400/extensions.conf"].split("[ivr400-department]", 1)[1].split("\n[", 1)[0]
    [step] = [line for line in department.splitlines() if line.startswith(" same => n(static),MSet(")]
    assert step.endswith(f",{STATIC_READ}")  # the step modelled here
    others = set(re.findall(r"(?:^|,)([A-Z0-9_]+)=", step[len(" same => n(static),MSet("):-len(STATIC_READ)]))
    hunt_reads = {v.TARGET_COUNT, v.MAX_ATTEMPTS, v.HUNT, v.HUNT_START, v.RING_TIMEOUT, v.MOH_CLASS, v.PLAN, v.DEPT_ID}
    assert v.DECIDED_BY in others and not others & hunt_reads  # none hunt_engine() reads
    assert not [name for name in others if name.startswith((v.target(0)[:-1], v.timeout(0)[:-1]))]
    plans: dict[str, list[dict[str, str]]] = {}
    for key, data in cfg.astdb.items():
        match = re.fullmatch(rf"h/{hotline}/(d[0-9]*)", key)
        if match is None:
            continue
        exten = match.group(1)
        sets = applied({v.TARGET_COUNT: "0", v.RR: ""}, v.PLAN, data)
        calls = []
        for k in range(CALLS):
            variables = {**sets, v.HUNT_START: ""}
            if sets[v.RR] and int(sets[v.TARGET_COUNT]) > 0:
                variables[v.HUNT_START] = str(k % int(sets[v.TARGET_COUNT]) + 1)
            calls.append(variables)
        plans[exten] = calls
    return plans


def path_of(exten: str) -> str:
    """``d21`` → ``2.1`` (the hook's dept parameter); ``d`` → ``""`` (switchboard)."""
    return ".".join(exten[1:])


def controller_answers(engine: Engine, requests: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The variables the real controller sets in answer to each (route, query), in order."""

    async def scenario() -> list[dict[str, str]]:
        ctl = Controller(engine, now=lambda: NOW)
        await ctl.start()
        server = ctl.server("127.0.0.1", 0)
        await server.start()
        try:
            out = []
            for route, query in requests:
                fake = await FakeAsterisk(server.port, route=route, query=query, callerid="13800138000").run()
                out.append(dict(fake.sets))
            return out
        finally:
            await server.close(grace=1.0)
            await ctl.stop()

    return asyncio.run(asyncio.wait_for(scenario(), 60))


@dataclass(frozen=True)
class Side:
    hotline: str
    hunt: str  # the static plan's extension: d, d1, d21...
    call: int
    static: Ringing
    controller: Ringing
    static_dept_id: str = ""  # IVR400_DEPT_ID: the department the seat marks of a live deploy are keyed by
    controller_dept_id: str = ""


@pytest.fixture
def sides(rich: Engine, tmp_path) -> list[Side]:
    with Session(rich) as s:
        cfg = render_asterisk(s, NOW, data_root=tmp_path)
    plans = {h: static_plans(cfg, h) for h in (MENU, FLAT, TIED)}
    requests: list[tuple[str, str]] = []
    keys: list[tuple[str, str, int]] = []
    for hotline, hunts in plans.items():
        for exten in hunts:
            for k in range(CALLS):
                if hotline == MENU:  # the department hook before each hunt
                    requests.append((v.ROUTE_DEPARTMENT, f"hotline={hotline}&dept={path_of(exten)}"))
                else:  # no menu: the route hook at call entry sends the switchboard's targets
                    requests.append((v.ROUTE_CALL, f"hotline={hotline}"))
                keys.append((hotline, exten, k))
    answers = controller_answers(rich, requests)
    out = []
    for (hotline, exten, k), answer in zip(keys, answers, strict=True):
        if hotline != MENU:
            assert answer[v.ACTION] == "department", answer
        static = plans[hotline][exten][k]
        out.append(Side(hotline, exten, k, hunt_engine(static), hunt_engine(answer), static[v.DEPT_ID],
                        answer.get(v.DEPT_ID, "")))
    return out


# --------------------------------------------------------------------------- the rules


#: sha256 of the rendered [ivr400-hunt] context, comments left out: the dialplan hunt_engine() models.
HUNT_ENGINE_SHA256 = "3192c341aeb381d33c1de044c4e356b9f04504ba5219fab4036bc889a0c05025"


def test_the_modelled_hunt_engine_is_the_rendered_one(rich: Engine, tmp_path) -> None:
    """If the dialplan's hunt engine changes, hunt_engine() above must change with it (then this hash). The survey
    step (Dial option g and the jump to ivr400-survey once a seat answered), the recording (Dial option U) and the
    fallback after an unanswered hunt (all three read from the hotline's settings, fields of IVR400_SETTINGS taken
    with CUT) change no seat, order, timeout or ringback; nor does the `fax` extension (传真: res_fax's detection
    jumps there, out of the hunt)."""
    with Session(rich) as s:
        conf = render_asterisk(s, NOW, data_root=tmp_path).files["ivr400/extensions.conf"]
    context = conf.split("[ivr400-hunt]", 1)[1].split("\n[", 1)[0]
    code = "\n".join(line for line in context.splitlines() if line and not line.startswith(";"))
    assert hashlib.sha256(code.encode()).hexdigest() == HUNT_ENGINE_SHA256


def test_the_fixture_covers_every_hunt(sides: list[Side]) -> None:
    hunts = {(s.hotline, s.hunt) for s in sides}
    assert hunts == {(MENU, "d"), (MENU, "d1"), (MENU, "d2"), (MENU, "d21"), (MENU, "d22"), (MENU, "d221"),
                     (MENU, "d222"), (MENU, "d3"), (FLAT, "d"), (TIED, "d")}  # loop departments 7 and 8: none
    silent = sorted({(s.hotline, s.hunt) for s in sides if not s.static.groups})
    assert silent == [(MENU, "d22"), (MENU, "d222")], silent  # departments without seats; all others ring


def test_same_seats_in_the_same_order(sides: list[Side]) -> None:
    for side in sides:
        static = [dials for dials, _ in side.static.groups]
        decided = [dials for dials, _ in side.controller.groups]
        assert static == decided, side


def test_same_ring_timeouts(sides: list[Side]) -> None:
    for side in sides:
        assert [t for _, t in side.static.groups] == [t for _, t in side.controller.groups], side


def test_same_ringback(sides: list[Side]) -> None:
    for side in sides:
        if side.static.groups:
            assert side.static.moh == side.controller.moh, side


def test_same_department_id(sides: list[Side]) -> None:
    """The department row id both sides send with a hunt list (docs/live-deploys.md: a deploy during the hunt
    skips a seat no longer bound to that department), for every hunt that rings someone."""
    for side in sides:
        if side.static.groups:
            assert side.static_dept_id == side.controller_dept_id != "", side
    assert {s.static_dept_id for s in sides if s.hunt == "d"} == {"0"}


def test_the_bound_seat_check_dials_every_target_without_a_deploy(sides: list[Side], rich: Engine, tmp_path) -> None:
    """Why hunt_engine() skips nobody: in the step that takes each target the hunt engine reads the department's
    marks (AstDB ``h/<hotline>/b<IVR400_DEPT_ID>``), and it dials the target when they hold the plan version of the
    list (IVR400_PLAN: the static list's own, or the one read at call entry for a list the controller sent). Without
    a deploy in between that holds for every list of both sides."""
    with Session(rich) as s:
        cfg = render_asterisk(s, NOW, data_root=tmp_path)
    for hotline in (MENU, FLAT, TIED):
        version = applied({}, v.HOTLINE, cfg.astdb[f"h/{hotline}/s"])[v.PLAN]
        assert {calls[0][v.PLAN] for calls in static_plans(cfg, hotline).values()} == {version}
        for side in sides:
            if side.hotline == hotline and side.static.groups:
                for dept_id in (side.static_dept_id, side.controller_dept_id):
                    assert cfg.astdb[f"h/{hotline}/b{dept_id}"].split("&")[0] == version, side


def test_round_robin_rotates_alike_call_after_call(sides: list[Side]) -> None:
    switchboard = [s for s in sides if (s.hotline, s.hunt) == (MENU, "d")]
    firsts = [s.static.groups[0][0][0] for s in switchboard]
    assert len(set(firsts)) == 3 and firsts[0] == firsts[3]  # three seats, back to the first on the 4th call
    assert [len(s.static.groups) for s in switchboard] == [2] * CALLS  # the transfer cap


def test_the_rules_the_fixture_exercises(sides: list[Side]) -> None:
    by = {(s.hotline, s.hunt, s.call): s.static for s in sides}
    # Simultaneous ringing honours the cap, and rings as long as the longest timeout of those it rings.
    assert by[(MENU, "d21", 0)].groups == ((("PJSIP/pstn/sip:02155550007@127.0.0.1:5071",
                                             "PJSIP/02155559999@carrier-b"), 30),)
    assert by[(FLAT, "d", 0)].groups[0][1] == 40 and len(by[(FLAT, "d", 0)].groups[0][0]) == 2
    # Tied positions: seat order (position, then seat id), whatever the numbers.
    assert [g[0][0] for g in by[(TIED, "d", 0)].groups] == ["PJSIP/02155550011@carrier-b",
                                                             "PJSIP/02155550005@carrier-b",
                                                             "PJSIP/02155550004@carrier-b"]
    # A tone of another enterprise is not used: the parent's ringback (the hotline's) is inherited.
    assert by[(MENU, "d221", 0)].moh == by[(MENU, "d2", 0)].moh == "ivr400-tone-12"
    assert by[(MENU, "d1", 0)].moh == "ivr400-tone-13"
    # A seat whose trunk template is unusable is left out of both; the other seat of the department rings.
    assert by[(MENU, "d3", 0)].groups == ((("PJSIP/pstn/sip:02155550010@127.0.0.1:5071",), 40),)


WEIGHTED = "4001234570"


def test_weighted_split_rings_the_same_seats_first_by_weight_on_the_controller_sequential_static(
        engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """按比例分配: both sides ring the same seats with the same timeouts and ringback; the controller moves the
    seat the weights choose to the front, the static plan (controller down) hunts by position."""
    from ivr400.db.models import Seat
    from ivr400.provisioning.hotlines import apply_hunt
    from ivr400.provisioning.seats import set_weight

    with Session(engine, expire_on_commit=False) as s:
        ent = add_enterprise(s, "上海示例贸易有限公司", "021", now=NOW)
        h = add_hotline(s, WEIGHTED, ent, now=NOW)
        apply_hunt(h, "weighted")
        rows = [seats.add_seat(s, h, _dest(s, ent, f"0216666{i:04d}"), ring_timeout=10 + i, now=NOW)
                for i in range(1, 4)]
        for seat, weight in zip(rows, (0, 0, 7), strict=True):
            set_weight(s, s.get(Seat, seat.id), weight)  # type: ignore[arg-type]
        s.commit()
        cfg = render_asterisk(s, NOW, data_root=tmp_path)
    static = hunt_engine(static_plans(cfg, WEIGHTED)["d"][0])
    [answer] = controller_answers(engine, [(v.ROUTE_CALL, f"hotline={WEIGHTED}")])
    decided = hunt_engine(answer)
    assert [d for (d,), _ in static.groups] == [f"PJSIP/0216666000{i}@ivr400-out" for i in (1, 2, 3)]
    assert [d for (d,), _ in decided.groups] == [f"PJSIP/0216666000{i}@ivr400-out" for i in (3, 1, 2)]
    assert sorted(static.groups) == sorted(decided.groups) and static.moh == decided.moh


def test_same_fax_mode(rich: Engine, tmp_path) -> None:
    """传真: the route hook's IVR400_FAX_MODE is the static plan's, including for a bad row (no fax on both)."""
    with Session(rich) as s:
        s.execute(text("UPDATE hotline SET fax_mode = 'key', fax_key = '0' WHERE number = :n"), {"n": MENU})
        s.execute(text("UPDATE hotline SET fax_mode = 'detect' WHERE number = :n"), {"n": FLAT})
        s.execute(text("UPDATE hotline SET fax_mode = 'bogus' WHERE number = :n"), {"n": TIED})
        s.commit()
        cfg = render_asterisk(s, NOW, data_root=tmp_path)
    ext = cfg.files["ivr400/extensions.conf"]
    entry = f"{v.HOTLINE}=${{DB({v.ASTDB_FAMILY}/h/${{EXTEN}}/s)}})"  # call entry reads the settings into these
    assert f",{entry}\n" in ext
    # the static plan's step sets the fax mode from a field of the settings (the route hook sends its own)
    call = ext.split("[ivr400-call]", 1)[1].split("\n[", 1)[0]
    [plan] = [line for line in call.splitlines() if f",{v.DECIDED_BY}=static," in line]
    field = re.search(rf"[(,]{v.FAX_MODE}=\$\{{CUT\({v.SETTINGS},\|,([0-9]+)\)\}}[,)]", plan)
    assert field is not None, plan
    static = {}
    for number in (MENU, FLAT, TIED):
        settings = applied({}, v.HOTLINE, cfg.astdb[f"h/{number}/s"])
        assert settings[v.HOTLINE] == number and v.FAX_MODE not in settings
        static[number] = settings[v.SETTINGS].split("|")[int(field.group(1)) - 1]
    answers = controller_answers(rich, [("route", f"hotline={n}") for n in (MENU, FLAT, TIED)])
    controller = {n: a.get(v.FAX_MODE) for n, a in zip((MENU, FLAT, TIED), answers, strict=True)}
    assert static == controller == {MENU: "key", FLAT: "detect", TIED: "off"}
    assert applied({}, v.NEXT, cfg.astdb[f"m/{MENU}/0"])[v.NEXT] == "fax"
