"""The change log (migration 0014) and the controller's incremental reload, on SQLite and PostgreSQL.

The triggers must name every hotline an edit may reroute (or NULL for a shared table), and a configuration
reloaded for those hotlines only must equal one read in full: that equality, after each kind of edit the
issue names (seat order, a revoked destination, a new menu key, a new hotline) and a few more, is the
proof that skipping the other hotlines loses nothing.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from ivr400.controller.cache import MAX_INCREMENTAL, ConfigCache, plan_reload
from ivr400.controller.loader import LoadedConfig, load_config
from ivr400.db.models import ConfigChange, Destination, Enterprise, Hotline, Seat
from ivr400.provisioning import blocking, calendar, destinations, time_rules
from ivr400.provisioning.hotlines import add_hotline
from ivr400.provisioning.seats import add_department, add_seat, move_seat
from tests.conftest import NOW
from tests.db.test_controller_loader import build
from tests.factories import ACTOR, approved, world


def changes(s: Session) -> list[int | None]:
    """The hotline ids logged since the last clear, in order, and clears them."""
    found = list(s.scalars(select(ConfigChange.hotline_id).order_by(ConfigChange.id)))
    s.execute(delete(ConfigChange))
    return found


def test_each_edit_names_the_hotlines_it_may_reroute(session: Session, tmp_path: Path) -> None:
    s = session
    w = build(s, tmp_path)
    other = world(s, tmp_path, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
    shared = s.scalars(select(Destination).where(Destination.number == "01062345671")).one()
    add_seat(s, other.hotline, approved(s, other, "02162345671", NOW, tmp=tmp_path), now=NOW)
    s.commit()
    changes(s)
    h1, h2 = w.hotline.id, other.hotline.id

    seat = s.scalars(select(Seat).where(Seat.hotline_id == h1, Seat.department_id.is_not(None))
                     .order_by(Seat.position.desc())).first()
    assert seat is not None
    move_seat(s, seat, position=1)
    s.flush()
    assert set(changes(s)) == {h1}
    add_department(s, w.hotline, "3", "投诉")
    s.flush()
    assert changes(s) == [h1]
    destinations.revoke(s, shared, reason="left", now=NOW, actor=ACTOR)
    s.flush()
    assert set(changes(s)) == {h1}  # its seats are all on hotline 1
    time_rules.set_after_hours(s, other.hotline, "announcement")
    blocking.add_block_entry(s, other.hotline, "13800138000")
    s.flush()
    assert set(changes(s)) == {h2}
    s.get(Enterprise, other.enterprise.id).timezone = "Asia/Urumqi"  # type: ignore[union-attr]
    s.flush()
    assert changes(s) == [h2]
    new = add_hotline(s, "4008000003", w.enterprise, now=NOW)
    s.flush()
    assert changes(s) == [new.id]
    calendar.add_calendar_day(s, dt.date(2026, 7, 1), "holiday", enterprise=w.enterprise, name="司庆")
    s.flush()
    assert changes(s) == [None]  # a shared table: everything
    s.execute(text("UPDATE seat SET hotline_id = :h, department_id = NULL WHERE id = :id"),
              {"h": new.id, "id": seat.id})  # raw SQL, to the enterprise's other hotline
    assert set(changes(s)) == {h1, new.id}
    s.rollback()


def project(config: LoadedConfig) -> dict[str, object]:
    """What a call is decided from: every served entry, the skipped numbers, and who is who."""
    return {"hotlines": dict(config.hotlines), "skipped": dict(config.skipped), "ids": dict(config.hotline_ids)}


def incremental(s: Session, base: LoadedConfig) -> LoadedConfig:
    named = set(changes(s))
    assert None not in named, "this edit touched a shared table: not an incremental case"
    return load_config(s, NOW, only={h for h in named if h is not None}, base=base)


EDITS = ["seat order", "revoked destination", "new menu key", "new hotline", "hotline deactivated", "rules",
         "seat moved to another hotline", "enterprise zone"]


@pytest.mark.parametrize("edit", EDITS)
def test_an_incremental_reload_equals_a_full_one(session: Session, tmp_path: Path, edit: str) -> None:
    s = session
    w = build(s, tmp_path)
    other = world(s, tmp_path, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
    add_seat(s, other.hotline, approved(s, other, "02162345671", NOW, tmp=tmp_path), now=NOW)
    sibling = add_hotline(s, "4008000004", w.enterprise, now=NOW)
    s.commit()
    changes(s)
    base = load_config(s, NOW)
    if edit == "seat order":
        last = s.scalars(select(Seat).where(Seat.hotline_id == w.hotline.id, Seat.department_id.is_not(None))
                         .order_by(Seat.department_id, Seat.position.desc())).first()
        assert last is not None
        move_seat(s, last, position=1)
    elif edit == "revoked destination":
        d = s.scalars(select(Destination).where(Destination.number == "01062345672")).one()
        destinations.revoke(s, d, reason="number returned to the carrier", now=NOW, actor=ACTOR)
    elif edit == "new menu key":
        dept = add_department(s, w.hotline, "3", "投诉")
        add_seat(s, w.hotline, approved(s, w, "01062345679", NOW, tmp=tmp_path), department=dept, now=NOW)
    elif edit == "new hotline":
        h = add_hotline(s, "4008000003", w.enterprise, now=NOW)
        add_seat(s, h, approved(s, w, "01062345678", NOW, tmp=tmp_path), now=NOW)
    elif edit == "hotline deactivated":
        other.hotline.active = False
    elif edit == "rules":
        time_rules.set_after_hours(s, other.hotline, "announcement")
        blocking.set_block_mode(s, other.hotline, "whitelist_only", refuse_with="busy")
    elif edit == "seat moved to another hotline":
        s.execute(text("UPDATE seat SET hotline_id = :h, department_id = NULL WHERE hotline_id = :o"),
                  {"h": sibling.id, "o": w.hotline.id})
    elif edit == "enterprise zone":
        other.enterprise.timezone = "Asia/Urumqi"
    s.commit()
    partial = incremental(s, base)
    full = load_config(s, NOW)
    assert partial.reloaded is not None and partial.reloaded <= 3
    assert project(partial) == project(full)
    assert project(partial) != project(base)


def test_a_renumbered_hotline_leaves_its_old_number(session: Session, tmp_path: Path) -> None:
    s = session
    build(s, tmp_path)
    s.commit()
    changes(s)
    base = load_config(s, NOW)
    s.execute(text("UPDATE hotline SET number = '4008000009' WHERE number = '4008000001'"))
    s.commit()
    partial = incremental(s, base)
    assert "4008000001" not in partial.hotlines and "4008000009" in partial.hotlines
    assert project(partial) == project(load_config(s, NOW))


def test_plan_reload_applies_in_order_and_waits_for_a_missing_id() -> None:
    assert plan_reload(10, []) == (10, frozenset(), False)
    assert plan_reload(10, [(11, 1), (12, 2), (13, 1)]) == (13, frozenset({1, 2}), False)
    # 12 not committed yet: 13 is applied now, but the applied id stays at 11 until 12 is seen.
    assert plan_reload(10, [(11, 1), (13, 2)]) == (11, frozenset({1, 2}), True)
    assert plan_reload(10, [(12, 1)]) == (10, frozenset({1}), True)
    assert plan_reload(10, [(11, None), (12, 3)]) == (12, None, False)  # a shared table: full
    many = [(10 + i, i) for i in range(1, MAX_INCREMENTAL + 2)]
    assert plan_reload(10, many)[1] is None


def test_the_cache_reloads_only_the_edited_hotline_and_serves_the_edit(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        w = build(s, tmp_path)
        world(s, tmp_path, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
        s.commit()
        hotline_id = w.hotline.id

    async def scenario() -> None:
        cache = ConfigCache(engine, now=lambda: NOW, poll_interval=0.05)
        await cache.start()
        try:
            assert cache.config is not None and cache.config.reloaded is None and cache.change_id is not None
            assert not await cache.refresh()  # nothing changed: nothing loaded
            with Session(engine) as s:
                first = s.scalars(select(Seat).where(Seat.hotline_id == hotline_id, Seat.department_id.is_(None))
                                  ).one()
                s.delete(first)
                s.commit()
            assert await cache.refresh()
            config = cache.config
            assert config is not None and config.reloaded == 1 and cache.incremental_reloads == 1
            entry = config.get("4008000001")
            assert entry is not None and entry.routing.switchboard.targets == ()
            with Session(engine) as s:
                full = load_config(s, NOW)
            assert project(config) == project(full) and config.generation == full.generation
            with Session(engine) as s:  # a shared table: a full load
                calendar.add_calendar_day(s, dt.date(2026, 7, 1), "holiday", name="test")
                s.commit()
            assert await cache.refresh()
            assert cache.config is not None and cache.config.reloaded is None
        finally:
            await cache.stop()

    asyncio.run(scenario())


def test_going_down_to_0013_drops_the_log_and_keeps_routing(engine: Engine, tmp_path: Path) -> None:
    from ivr400.db.migrate import downgrade, upgrade

    with Session(engine) as s:
        build(s, tmp_path)
        s.commit()
    downgrade(engine, "0013")
    with engine.begin() as conn:  # raw SQL: today's models have columns 0013 does not
        hotline_id = conn.execute(text("SELECT id FROM hotline")).scalar_one()
        conn.execute(text("UPDATE hotline SET name = 'changed at 0013'"))  # no trigger writes to a missing table
        assert conn.execute(text("SELECT value FROM config_generation")).scalar_one() > 1
    upgrade(engine)
    with Session(engine) as s:
        s.scalars(select(Hotline)).one().name = "back at head"
        s.commit()
        assert s.scalars(select(ConfigChange.hotline_id)).all() == [hotline_id]
