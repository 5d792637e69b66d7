"""The controller's loader on SQLite and the real PostgreSQL: one pass, routable seats only, bad rows
contained, and the per-call database work (round-robin counter, voicemail rows)."""
from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from ivr400.controller.app import Controller
from ivr400.controller.loader import load_config, read_generation
from ivr400.db.models import Department, Destination, Hotline, HuntRotation, Tone, Voicemail
from ivr400.provisioning import blocking, calendar, destinations, region_rules, time_rules
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.hotlines import add_hotline
from ivr400.provisioning.seats import add_department, add_seat
from ivr400.provisioning.trunks import add_trunk
from ivr400.routing.calendar import DayKind
from ivr400.routing.decide import decide, decide_department
from ivr400.routing.model import SWITCHBOARD_KEY, ActionKind, BlockMode, HuntStrategy
from tests.conftest import NOW
from tests.factories import ACTOR, World, approved, pending, world

SH = dt.timezone(dt.timedelta(hours=8))


def _tone(s: Session, enterprise_id: int | None, name: str, path: str = "tones/x.wav") -> Tone:
    tone = Tone(enterprise_id=enterprise_id, name=name, kind="ringback", original_name=f"{name}.wav", sha256="0" * 64,
                stored_path=path, duration_s=3.0, created_at=NOW, status="approved")
    s.add(tone)
    s.flush()
    return tone


def build(s: Session, tmp: Path) -> World:
    """Hotline 4008000001 with a switchboard seat, departments 1, 2 and 2.1, tones, a trunk and rules."""
    w = world(s, tmp, NOW)
    d1, d2, d3, d4 = (approved(s, w, n, NOW, tmp=tmp) for n in ("01062345671", "01062345672", "01062345673",
                                                               "01062345674"))
    pending(s, w, "01062345675", NOW)
    trunk = add_trunk(s, "carrier-b", "PJSIP/{number}@carrier-b")
    d4.trunk_id = trunk.id
    hotline_tone = _tone(s, w.enterprise.id, "hotline-rb")
    dept_tone = _tone(s, None, "shared-rb")
    w.hotline.ringback_tone_id = hotline_tone.id
    sales = add_department(s, w.hotline, "1", "销售部", hunt="round_robin", max_attempts=2)
    service = add_department(s, w.hotline, "2", "客服部", hunt="simultaneous")
    service.ringback_tone_id = dept_tone.id
    vip = add_department(s, w.hotline, "1", "VIP", parent=service)
    add_seat(s, w.hotline, d1, now=NOW)
    add_seat(s, w.hotline, d1, department=sales, now=NOW)
    add_seat(s, w.hotline, d2, department=sales, ring_timeout=30, now=NOW)
    add_seat(s, w.hotline, d3, department=sales, now=NOW)
    add_seat(s, w.hotline, d4, department=vip, now=NOW)
    time_rules.add_time_rule(s, w.hotline, days="workday", segments="09:00-18:00", action="menu", priority=10)
    time_rules.add_time_rule(s, w.hotline, days="holiday,weekend", action="department:2.1", name="值班")
    time_rules.set_after_hours(s, w.hotline, "voicemail:1")
    region_rules.add_region_rule(s, w.hotline, province="广东省", city="深圳市", department="2.1")
    region_rules.add_region_override(s, "0106234", "上海")
    blocking.set_block_mode(s, w.hotline, "blacklist", refuse_with="prompt")
    blocking.add_block_entry(s, w.hotline, "010", prefix=True)
    calendar.seed_calendar(s, [2026])
    calendar.add_calendar_day(s, dt.date(2026, 6, 2), "holiday", enterprise=w.enterprise, name="公司年会")
    s.flush()
    return w


def test_one_pass_builds_departments_targets_rules_and_calendars(session: Session, tmp_path: Path) -> None:
    w = build(session, tmp_path)
    session.commit()
    config = load_config(session, NOW)
    assert config.generation == read_generation(session) and config.skipped == {}
    entry = config.get("4008000001")
    assert entry is not None and entry.rules_ok, entry and entry.problem
    routing = entry.routing
    assert [d.key for d in routing.departments] == ["1", "2", "2.1"]
    sales, service, vip = routing.departments
    assert sales.hunt_strategy is HuntStrategy.ROUND_ROBIN and sales.max_attempts == 2
    assert [(t.destination, t.ring_timeout_s, t.position) for t in sales.targets] == [
        ("01062345671", 15, 1), ("01062345672", 30, 2), ("01062345673", 15, 3)]
    # Ringback: the hotline's tone, the department's own, inherited by its sub-menu entry.
    hotline_rb, shared_rb = (session.scalar(select(Tone.id).where(Tone.name == n)) for n in ("hotline-rb", "shared-rb"))
    assert routing.switchboard.ringback == f"ivr400-tone-{hotline_rb}" == sales.ringback
    assert service.ringback == vip.ringback == f"ivr400-tone-{shared_rb}"
    # Dial strings as the static plan renders them (the destination's trunk wins).
    assert [entry.dial_for(t) for t in vip.targets] == ["PJSIP/01062345674@carrier-b"]
    assert entry.dial_for(routing.switchboard.targets[0]) == "PJSIP/01062345671@ivr400-out"
    assert set(entry.department_ids) == {"", "1", "2", "2.1"} and entry.department_ids[""] is None
    # Rules.
    assert [(r.priority, r.action.kind, r.action.department) for r in routing.time_rules_in_order] == [
        (10, ActionKind.MENU, None), (100, ActionKind.DEPARTMENT, "2.1")]
    assert routing.after_hours.kind is ActionKind.VOICEMAIL and routing.after_hours.department == "1"
    assert [(r.province, r.city, r.department) for r in routing.region_rules] == [("广东", "深圳", "2.1")]
    assert routing.block.mode is BlockMode.BLACKLIST and str(routing.block.entries[0]) == "010*"
    assert [o.prefix for o in routing.region_overrides] == ["0106234"]
    # Calendars: national from chinesecalendar, the enterprise's own day on top.
    assert entry.calendar.national.get(dt.date(2026, 10, 1)).kind is DayKind.HOLIDAY
    assert entry.calendar.overrides[dt.date(2026, 6, 2)].name == "公司年会"
    assert config.national.overrides == {}
    assert w.hotline.number == routing.hotline


def test_decisions_from_the_loaded_config(session: Session, tmp_path: Path) -> None:
    build(session, tmp_path)
    session.commit()
    entry = load_config(session, NOW).get("4008000001")
    monday = dt.datetime(2026, 6, 1, 10, tzinfo=SH)
    assert decide(entry.routing, "13800138000", monday, entry.calendar).action is ActionKind.MENU
    shenzhen = decide(entry.routing, "075512345678", monday, entry.calendar)
    assert (shenzhen.action, shenzhen.department) == (ActionKind.DEPARTMENT, "2.1")
    blocked = decide(entry.routing, "01012345678", monday, entry.calendar)
    assert blocked.action is ActionKind.REFUSE and blocked.prompt == "ivr400/ivr400-blocked"
    company_day = decide(entry.routing, "13800138000", dt.datetime(2026, 6, 2, 10, tzinfo=SH), entry.calendar)
    assert (company_day.action, company_day.department) == (ActionKind.DEPARTMENT, "2.1")
    evening = decide(entry.routing, "13800138000", dt.datetime(2026, 6, 1, 20, tzinfo=SH), entry.calendar)
    assert (evening.action, evening.department) == (ActionKind.VOICEMAIL, "1")  # after hours: voicemail:1
    sales = decide_department(entry.routing, "1", monday, rotation=1)
    assert [t.destination for t in sales.targets] == ["01062345672", "01062345673"]


def test_only_routable_seats_and_a_reload_when_a_validity_starts(session: Session, tmp_path: Path) -> None:
    w = world(session, tmp_path, NOW)
    ok, revoked, later = (approved(session, w, n, NOW, tmp=tmp_path) for n in ("01062345671", "01062345672",
                                                                                 "01062345673"))
    for d in (ok, revoked, later):
        add_seat(session, w.hotline, d, now=NOW)
    destinations.revoke(session, revoked, reason="退订", now=NOW, actor=ACTOR)
    starts = NOW + dt.timedelta(hours=2)
    later.valid_from = starts
    session.commit()
    config = load_config(session, NOW)
    entry = config.get("4008000001")
    assert [t.destination for t in entry.routing.switchboard.targets] == ["01062345671"]
    assert config.next_change_at == starts
    assert [t.destination for t in load_config(session, starts).get("4008000001").routing.switchboard.targets] == [
        "01062345671", "01062345673"]


def test_a_fixed_number_of_queries_whatever_the_number_of_hotlines(session: Session, engine: Engine,
                                                                   tmp_path: Path) -> None:
    build(session, tmp_path)
    session.commit()

    def count() -> int:
        statements: list[str] = []

        def record(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            with Session(engine) as s:
                load_config(s, NOW)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(statements)

    one = count()
    ent = session.scalar(select(Hotline)).enterprise
    for i in range(2, 7):
        h = add_hotline(session, f"400800000{i}", ent, now=NOW)
        add_department(session, h, "1", "A")
        dest = session.scalar(select(Destination).where(Destination.number == "01062345671"))
        add_seat(session, h, dest, now=NOW)
        time_rules.add_time_rule(session, h, action="menu")
    session.commit()
    assert count() == one <= 14


def test_bad_rows_are_contained(session: Session, engine: Engine, tmp_path: Path) -> None:
    w = build(session, tmp_path)
    other = add_hotline(session, "4008000002", w.enterprise, now=NOW)
    foreign = add_department(session, other, "1", "other")
    third = add_hotline(session, "4008000003", w.enterprise, now=NOW)
    add_hotline(session, "4008000004", w.enterprise, now=NOW)
    stranger = add_enterprise(session, "上海乙贸易有限公司", "021", now=NOW)
    foreign_tone = _tone(session, stranger.id, "theirs")
    session.commit()
    hid = w.hotline.id
    session.execute(text("INSERT INTO region_rule (hotline_id, priority, province, department_id) "
                         "VALUES (:h, 1, '北京', :d)"), {"h": hid, "d": foreign.id})
    session.execute(text("INSERT INTO time_rule (hotline_id, priority, days, weekdays, segments, action_kind) "
                         "VALUES (:h, 1, '[]', '[]', '[\"25:00-26:00\"]', 'menu')"), {"h": other.id})
    session.execute(text("INSERT INTO region_override (prefix, province) VALUES ('999', 'Atlantis')"))
    session.execute(text("UPDATE hotline SET number = '400800003' WHERE id = :h"), {"h": third.id})
    session.execute(text("UPDATE trunk SET dial_template = 'PJSIP/{number}@x,y'"))
    session.execute(text("UPDATE department SET ringback_tone_id = :t WHERE key = '1' AND parent_id IS NULL "
                         "AND hotline_id = :h"), {"h": hid, "t": foreign_tone.id})
    session.commit()
    config = load_config(session, NOW)
    first = config.get("4008000001")
    assert not first.rules_ok and "names department" in first.problem
    # Targets stay available to the department hook, with the renderer's rules for bad rows.
    assert [d.key for d in first.routing.departments] == ["1", "2", "2.1"]
    hotline_rb = session.scalar(select(Tone.id).where(Tone.name == "hotline-rb"))
    assert first.routing.departments[0].ringback == f"ivr400-tone-{hotline_rb}"  # not the foreign tone
    assert first.routing.departments[2].targets == ()  # its trunk template is unusable: left out
    assert first.routing.time_rules == ()
    second = config.get("4008000002")
    assert not second.rules_ok and "time rule" in second.problem
    assert config.skipped.keys() == {"400800003"}
    text_warnings = "\n".join(config.warnings)
    for needle in ("region override", "belongs to another enterprise", "left out", "400800003"):
        assert needle in text_warnings
    # A bad global row is dropped alone: the other hotlines keep the good overrides.
    fourth = config.get("4008000004")
    assert fourth.rules_ok and [o.prefix for o in fourth.routing.region_overrides] == ["0106234"]
    assert decide_department(first.routing, SWITCHBOARD_KEY, NOW).action is ActionKind.DEPARTMENT


def test_invalid_timezone_and_enterprise_calendar_rows_only_disable_the_rules(session: Session, tmp_path: Path) -> None:
    w = world(session, tmp_path, NOW)
    add_seat(session, w.hotline, approved(session, w, "01062345671", NOW, tmp=tmp_path), now=NOW)
    ent2 = add_enterprise(session, "上海乙贸易有限公司", "021", now=NOW)
    h2 = add_hotline(session, "4008000002", ent2, now=NOW)
    session.commit()
    session.execute(text("UPDATE enterprise SET timezone = 'Mars/Olympus' WHERE id = :e"), {"e": w.enterprise.id})
    session.execute(text("INSERT INTO calendar_day (enterprise_id, day, kind) VALUES (:e, '2026-06-03', 'party')"),
                    {"e": ent2.id})
    session.execute(text("INSERT INTO calendar_day (enterprise_id, day, kind) VALUES (NULL, '2026-06-04', 'nope')"))
    session.commit()
    config = load_config(session, NOW)
    one, two = config.get("4008000001"), config.get(h2.number)
    assert not one.rules_ok and "time zone" in one.problem
    assert [t.destination for t in one.routing.switchboard.targets] == ["01062345671"]
    assert not two.rules_ok and "calendar day" in two.problem
    assert any("national row dropped" in m for m in config.warnings)


def test_round_robin_counter_and_voicemail_rows(engine: Engine, session: Session, tmp_path: Path) -> None:
    w = build(session, tmp_path)
    session.commit()
    ctl = Controller(engine, now=lambda: NOW)

    async def scenario() -> tuple[list[int], bool, bool]:
        try:
            await ctl.cache.start()
            positions = [await ctl.next_rotation(w.hotline.id, "1") for _ in range(3)]
            positions.append(await ctl.next_rotation(w.hotline.id, SWITCHBOARD_KEY))
            kwargs = {"hotline": "4008000001", "dept": "2.1", "uniqueid": "1700000000.1",
                          "caller": "13800138000", "file_path": "/var/spool/asterisk/ivr400/voicemail/4008000001/x.wav"}
            return positions, await ctl.save_voicemail(**kwargs), await ctl.save_voicemail(**kwargs)
        finally:
            await ctl.stop()

    positions, first, again = asyncio.run(scenario())
    assert positions == [0, 1, 2, 0] and (first, again) == (True, False)
    assert ctl.rotation_fallbacks == 0
    session.expire_all()
    rows = {r.department_key: r.position for r in session.scalars(select(HuntRotation))}
    assert rows == {"1": 3, SWITCHBOARD_KEY: 1}
    vm = session.scalar(select(Voicemail))
    vip = session.scalar(select(Department).where(Department.name == "VIP"))
    assert (vm.hotline_id, vm.department_id, vm.size, vm.caller) == (w.hotline.id, vip.id, 0, "13800138000")
    # Round-robin and voicemail rows do not bump the configuration generation.
    assert read_generation(session) == ctl.cache.generation


def test_generation_moves_on_every_routing_edit(session: Session, tmp_path: Path) -> None:
    w = build(session, tmp_path)
    session.commit()
    before = read_generation(session)
    blocking.add_block_entry(session, w.hotline, "13900000000")
    session.commit()
    after_block = read_generation(session)
    calendar.add_calendar_day(session, dt.date(2026, 6, 5), "workday", enterprise=w.enterprise)
    session.commit()
    assert before < after_block < read_generation(session)


def test_a_tone_waiting_for_review_or_rejected_is_not_used_an_approved_one_is(session: Session,
                                                                               tmp_path: Path) -> None:
    """彩铃审核: the controller reads the same tree as the renderer; only an approved tone rings."""
    build(session, tmp_path)
    session.commit()
    hotline_rb, shared_rb = (session.scalar(select(Tone.id).where(Tone.name == n)) for n in ("hotline-rb", "shared-rb"))
    for status in ("pending", "rejected"):
        session.execute(text("UPDATE tone SET status = :s WHERE id = :t"), {"s": status, "t": shared_rb})
        session.commit()
        config = load_config(session, NOW)
        routing = config.get("4008000001").routing
        service, vip = routing.departments[1], routing.departments[2]
        # The department's own tone is absent: it falls back to the hotline's ringback, as for a missing tone.
        assert service.ringback == vip.ringback == f"ivr400-tone-{hotline_rb}"
        assert any(f"tone {shared_rb} is {status} (not approved)" in w for w in config.warnings)
    session.execute(text("UPDATE tone SET status = 'pending' WHERE id = :t"), {"t": hotline_rb})
    session.commit()
    routing = load_config(session, NOW).get("4008000001").routing
    assert routing.switchboard.ringback is None and routing.departments[1].ringback is None  # plain ringing
    session.execute(text("UPDATE tone SET status = 'approved'"))
    session.commit()
    config = load_config(session, NOW)
    routing = config.get("4008000001").routing
    assert routing.departments[1].ringback == f"ivr400-tone-{shared_rb}"
    assert routing.switchboard.ringback == f"ivr400-tone-{hotline_rb}"
    assert not any("not approved" in w for w in config.warnings)
