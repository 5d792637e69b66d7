"""Every migration step goes down and up again on a populated database without losing a row."""
from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ivr400.db import migrate
from ivr400.provisioning.sample import provision_sample
from tests.conftest import NOW

#: Not data: Alembic's own row, and the controller's change log (0014), which migrations' own updates add to
#: and going down below 0014 drops.
NOT_DATA = {"alembic_version", "config_change"}


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t not in NOT_DATA]
        return {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in tables}


def _revisions(engine: Engine) -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_each_step_down_and_up_keeps_every_row(bare_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        s.commit()
    before = _counts(bare_engine)
    assert before["seat"] == 6 and before["destination"] == 5

    revisions = _revisions(bare_engine)
    for lower in reversed(revisions[:-1]):
        migrate.downgrade(bare_engine, lower)
        assert migrate.current_revision(bare_engine) == lower
        after_down = _counts(bare_engine)
        for table, count in after_down.items():
            assert count == before[table], f"{table} lost rows going down to {lower}"
        migrate.upgrade(bare_engine)
        assert _counts(bare_engine) == before

    # The guards are back after the round trips: a pending destination still cannot be bound.
    with bare_engine.connect() as conn:
        pending_id = conn.execute(text("SELECT id FROM destination WHERE status = 'pending'")).scalar_one()
        hotline_id = conn.execute(text("SELECT id FROM hotline")).scalar_one()
        with pytest.raises(DBAPIError):
            conn.execute(text("INSERT INTO seat (hotline_id, destination_id, position, ring_timeout_s, created_at) "
                              "VALUES (:h, :d, 9, 15, :t)"), {"h": hotline_id, "d": pending_id,
                                                              "t": NOW.replace(tzinfo=None)})
    # ... nor approved without carrier-issued evidence (0004).
    with bare_engine.connect() as conn:
        with pytest.raises(DBAPIError, match="R3"):
            conn.execute(text("UPDATE destination SET status = 'approved', approved_at = :t, approved_by = 'sql' "
                              "WHERE id = :d"), {"d": pending_id, "t": NOW.replace(tzinfo=None)})
    # ... nor an approved destination given another number, nor the audit trail erased (0008).
    with bare_engine.connect() as conn:
        with pytest.raises(DBAPIError, match="cannot change"):
            conn.execute(text("UPDATE destination SET number = '01087654321' WHERE status = 'approved'"))
    with bare_engine.connect() as conn:
        with pytest.raises(DBAPIError, match="cannot be deleted"):
            conn.execute(text("DELETE FROM whitelist_event"))


def test_full_downgrade_to_base_and_back(bare_engine: Engine) -> None:
    migrate.upgrade(bare_engine)
    migrate.downgrade(bare_engine, "base")
    assert set(inspect(bare_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(bare_engine)
    assert migrate.current_revision(bare_engine) == migrate.head_revision(bare_engine)
    with bare_engine.connect() as conn:
        carriers = conn.execute(text("SELECT carrier FROM carrier_policy ORDER BY carrier")).scalars().all()
    assert carriers == ["mobile", "telecom", "unicom"]


def test_ensure_schema_creates_an_empty_database_and_refuses_an_old_one(bare_engine: Engine) -> None:
    migrate.ensure_schema(bare_engine)
    assert migrate.current_revision(bare_engine) == migrate.head_revision(bare_engine)
    migrate.downgrade(bare_engine, "0001")
    with pytest.raises(migrate.SchemaError, match="ivr400 db upgrade"):
        migrate.ensure_schema(bare_engine)


def test_0004_revokes_approvals_without_evidence_and_keeps_the_audit_rows_going_down(bare_engine: Engine,
                                                                                    tmp_path) -> None:  # noqa: ANN001
    """Approvals forged with raw SQL before 0004 are taken off the whitelist by it, and audited."""
    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        s.commit()
    migrate.downgrade(bare_engine, "0003")
    t = {"t": NOW.replace(tzinfo=None)}
    with bare_engine.begin() as conn:
        # Possible before 0004: forge an approval with no evidence, and delete the only bill of a bound one.
        conn.execute(text("UPDATE destination SET status = 'approved', approved_at = :t, approved_by = 'sql' "
                          "WHERE number = '13800138000'"), t)
        bound = conn.execute(text("SELECT id FROM destination WHERE number = '01062345680'")).scalar_one()
        conn.execute(text("DELETE FROM evidence WHERE destination_id = :d"), {"d": bound})
        events_before = conn.execute(text("SELECT COUNT(*) FROM whitelist_event")).scalar_one()
    migrate.upgrade(bare_engine)
    with bare_engine.connect() as conn:
        rows = conn.execute(text("SELECT number, status, status_reason FROM destination ORDER BY id")).all()
        revoked = {r.number: r.status_reason for r in rows if r.status == "revoked"}
        assert set(revoked) == {"13800138000", "01062345680"}
        assert all("R3" in reason and "0004" in reason for reason in revoked.values())
        assert sum(r.status == "approved" for r in rows) == 3
        audit = conn.execute(text("SELECT actor, action, from_status, to_status FROM whitelist_event "
                                  "WHERE id > (SELECT MAX(id) - 2 FROM whitelist_event) ORDER BY id")).all()
        assert [tuple(a) for a in audit] == [("database", "revoke", "approved", "revoked")] * 2
        assert conn.execute(text("SELECT COUNT(*) FROM whitelist_event")).scalar_one() == events_before + 2
        # The seat of the revoked destination stays (suspended), as after any revocation.
        assert conn.execute(text("SELECT COUNT(*) FROM seat WHERE destination_id = :d"), {"d": bound}).scalar_one() == 1
    migrate.downgrade(bare_engine, "0003")
    with bare_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM whitelist_event")).scalar_one() == events_before + 2
        assert "to_status" not in {c["name"] for c in inspect(conn).get_columns("whitelist_event")}


def test_0004_mirrors_the_r3_definition_of_the_application() -> None:
    """The migration is a snapshot; these sets must stay the ones R3 uses (ivr400.db.enums)."""
    import importlib.util

    from ivr400.db.enums import REAL_NAME_KINDS, Issuer
    from ivr400.paths import resource_dir

    path = next((resource_dir("alembic") / "versions").glob("0004_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.REAL_NAME_KINDS) == {k.value for k in REAL_NAME_KINDS}
    assert set(module.ISSUERS) == {i.value for i in Issuer}


# --------------------------------------------------------------------------- 0005: numbers re-read (issue 8)

#: (number, prefix, note) as the 0004-era code stored them from what the operator typed.
LEGACY_BLOCK = [
    ("108888", True, "typed +86 10 8888"),  # -> 0108888
    ("10", True, "typed +86 10"),  # -> 010, merged into the next row (already canonical)
    ("010", True, "typed 010"),
    ("0138", True, "typed 0138"),  # -> 138
    ("1062345678", False, None),  # -> 01062345678
    ("9551234567", False, "typed +86 955 1234567"),  # -> 09551234567 (Zhongwei, not a 95xxx service)
    ("13800138000", False, None),
    ("62345678", False, "a local caller"),
    ("86108888", True, "typed 86 10 8888"),  # -> 0108888: merged into the first row
]
LEGACY_OVERRIDES = [("108888", "上海", None), ("0755", "广东", "深圳"), ("62", "北京", None), ("0138", "上海", None)]


def _at_0004_with_legacy_rows(engine: Engine, tmp_path, extra_block=()) -> int:  # noqa: ANN001
    # The sample is provisioned through today's models (at head), then taken down to 0004.
    migrate.upgrade(engine)
    with Session(engine) as s:
        provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        s.commit()
    migrate.downgrade(engine, "0004")
    with engine.begin() as conn:
        hotline_id = conn.execute(text("SELECT id FROM hotline ORDER BY id")).scalars().first()
        for number, prefix, note in [*LEGACY_BLOCK, *extra_block]:
            conn.execute(text("INSERT INTO block_entry (hotline_id, number, prefix, note) VALUES (:h, :n, :p, :note)"),
                         {"h": hotline_id, "n": number, "p": prefix, "note": note})
        for prefix, province, city in LEGACY_OVERRIDES:
            conn.execute(text("INSERT INTO region_override (prefix, province, city) VALUES (:p, :pr, :c)"),
                         {"p": prefix, "pr": province, "c": city})
    return hotline_id


def _rows(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            "block_entry": [(r.id, r.hotline_id, r.number, bool(r.prefix), r.note) for r in conn.execute(
                text("SELECT id, hotline_id, number, prefix, note FROM block_entry ORDER BY id"))],
            "region_override": [tuple(r) for r in conn.execute(
                text("SELECT id, prefix, province, city FROM region_override ORDER BY id"))],
        }


def test_0005_renormalizes_block_entries_and_overrides_and_downgrade_restores_them(bare_engine: Engine,
                                                                                    tmp_path) -> None:  # noqa: ANN001
    _at_0004_with_legacy_rows(bare_engine, tmp_path)
    before = _rows(bare_engine)
    ids = [r[0] for r in before["block_entry"]]

    migrate.upgrade(bare_engine, "0005")
    after = _rows(bare_engine)
    assert [(r[0], r[2], r[3], r[4]) for r in after["block_entry"]] == [
        (ids[0], "0108888", True, "typed +86 10 8888"),
        (ids[2], "010", True, "typed 010"),
        (ids[3], "138", True, "typed 0138"),
        (ids[4], "01062345678", False, None),
        (ids[5], "09551234567", False, "typed +86 955 1234567"),
        (ids[6], "13800138000", False, None),
        (ids[7], "62345678", False, "a local caller"),
    ]
    assert [r[1:] for r in after["region_override"]] == [
        ("0108888", "上海", None), ("0755", "广东", "深圳"), ("62", "北京", None), ("138", "上海", None)]
    with bare_engine.connect() as conn:
        log = conn.execute(text("SELECT table_name, old_value, new_value, merged_into FROM number_renormalization "
                                "ORDER BY id")).all()
    assert sorted(map(tuple, log)) == sorted([
        ("block_entry", "108888", "0108888", None), ("block_entry", "10", "010", ids[2]),
        ("block_entry", "0138", "138", None), ("block_entry", "1062345678", "01062345678", None),
        ("block_entry", "9551234567", "09551234567", None), ("block_entry", "86108888", "0108888", ids[0]),
        ("region_override", "108888", "0108888", None), ("region_override", "0138", "138", None)])

    # The controller (today's code: the schema at head) reads the upgraded rows as they are, and now blocks
    # 010-8888xxxx callers.
    migrate.upgrade(bare_engine)
    assert _rows(bare_engine) == after
    from ivr400.controller.loader import load_config
    from ivr400.routing.blocking import check_caller, parse_caller
    from ivr400.routing.model import BlockMode, BlockPolicy

    with Session(bare_engine) as s:
        config = load_config(s, NOW)
    entry = next(iter(config.hotlines.values()))
    assert entry.rules_ok, entry.problem
    policy = BlockPolicy(BlockMode.BLACKLIST, entry.routing.block.entries)
    assert not check_caller(policy, parse_caller("+861088881234")).allowed
    assert check_caller(policy, parse_caller("10086")).allowed

    migrate.downgrade(bare_engine, "0004")
    assert _rows(bare_engine) == before  # every value, id and note, merged rows included
    assert "number_renormalization" not in inspect(bare_engine).get_table_names()
    migrate.upgrade(bare_engine)
    assert _rows(bare_engine) == after


def test_0005_refuses_values_it_cannot_read_and_writes_nothing(bare_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    _at_0004_with_legacy_rows(bare_engine, tmp_path, extra_block=[("755", True, "typed 755"), ("1", True, None)])
    before = _rows(bare_engine)
    with pytest.raises(migrate.MigrationRefused) as exc:
        migrate.upgrade(bare_engine)
    message = str(exc.value)
    assert "nothing was changed" in message
    assert "'755': a prefix without its 0 is ambiguous: for callers from that area write 0755" in message
    assert "'1': ambiguous prefix" in message and "UPDATE block_entry SET number" in message
    assert migrate.current_revision(bare_engine) == "0004"
    assert _rows(bare_engine) == before


def test_call_records_survive_the_decided_by_revision_both_ways(bare_engine: Engine) -> None:
    migrate.upgrade(bare_engine)
    started = NOW.replace(tzinfo=None)
    with bare_engine.begin() as conn:
        for uid, by in (("1.1", "controller"), ("1.2", "static"), ("1.3", None)):
            conn.execute(text("INSERT INTO call_record (uniqueid, linkedid, hotline, started_at, disposition, source, "
                              "decided_by) VALUES (:u, :u, '4008000001', :t, 'answered', 'ami', :b)"),
                         {"u": uid, "t": started, "b": by})
    migrate.downgrade(bare_engine, "0005")
    assert "decided_by" not in {c["name"] for c in inspect(bare_engine).get_columns("call_record")}
    with bare_engine.connect() as conn:
        rows = conn.execute(text("SELECT uniqueid, disposition FROM call_record ORDER BY uniqueid")).all()
    assert [tuple(r) for r in rows] == [("1.1", "answered"), ("1.2", "answered"), ("1.3", "answered")]
    migrate.upgrade(bare_engine)
    with bare_engine.connect() as conn:
        rows = conn.execute(text("SELECT uniqueid, decided_by FROM call_record ORDER BY uniqueid")).all()
    assert [tuple(r) for r in rows] == [("1.1", None), ("1.2", None), ("1.3", None)]  # unknown once dropped


def test_web_accounts_migration_keeps_the_rest_and_comes_back(bare_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """0009 (back-office accounts) down and up on a populated database with accounts and sessions."""
    from ivr400.db.models import WebSession, WebUser
    from ivr400.provisioning import users

    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        result = provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        user = users.add_user(s, "op1", "a long password", role="operator", enterprise=result.enterprise, now=NOW,
                              actor="test")
        s.add(WebSession(token_hash="h" * 64, user_id=user.id, csrf_token="c", created_at=NOW, last_seen_at=NOW))
        s.commit()
    before = _counts(bare_engine)
    assert before["web_user"] == 1 and before["web_session"] == 1
    below = ScriptDirectory.from_config(migrate.alembic_config(bare_engine)).get_revision("0009").down_revision
    migrate.downgrade(bare_engine, str(below))
    after = _counts(bare_engine)
    assert "web_user" not in after and all(after[t] == before[t] for t in after)
    migrate.upgrade(bare_engine)
    assert _counts(bare_engine)["web_user"] == 0 and migrate.current_revision(bare_engine) == migrate.head_revision(
        bare_engine)
    with bare_engine.connect() as conn, pytest.raises(DBAPIError):
        # An operator without an enterprise (or an admin with one) is refused by the database itself.
        conn.execute(text("INSERT INTO web_user (username, password_hash, role, disabled, failed_logins, created_at, "
                          "password_changed_at) VALUES ('x', 'h', 'operator', false, 0, :t, :t)"),
                     {"t": NOW.replace(tzinfo=None)})
    assert WebUser.__tablename__ == "web_user"


def test_0010_tone_review_keeps_existing_tones_in_use_and_comes_back(bare_engine: Engine,
                                                                      tmp_path) -> None:  # noqa: ANN001
    """0010 (彩铃审核): tones added before it (by root, on the command line) become approved; down and up keep
    every tone and the generation triggers on the table."""
    # The sample goes in through today's models (at head), then the schema is taken down to 0009.
    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        result = provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        s.commit()
        enterprise_id, hotline_id = result.enterprise.id, result.hotline.id
    migrate.downgrade(bare_engine, "0009")
    t = NOW.replace(tzinfo=None)
    with bare_engine.begin() as conn:
        for name in ("welcome", "sales-rb"):
            conn.execute(text("INSERT INTO tone (enterprise_id, name, kind, original_name, sha256, stored_path, "
                              "duration_s, created_at) VALUES (:e, :n, 'ringback', :n, :h, :p, 3.0, :t)"),
                         {"e": enterprise_id, "n": name, "h": "0" * 64, "p": f"tones/{name}.wav", "t": t})
        conn.execute(text("UPDATE hotline SET ringback_tone_id = (SELECT MIN(id) FROM tone) WHERE id = :h"),
                     {"h": hotline_id})
    before = _counts(bare_engine)
    migrate.upgrade(bare_engine, "0010")
    with bare_engine.connect() as conn:
        rows = conn.execute(text("SELECT name, status, status_reason, reviewed_by FROM tone ORDER BY id")).all()
        generation = conn.execute(text("SELECT value FROM config_generation")).scalar_one()
    assert [tuple(r) for r in rows] == [("welcome", "approved", None, "migration 0010"),
                                        ("sales-rb", "approved", None, "migration 0010")]
    assert _counts(bare_engine) == before
    # The existing tone is still deployed after the upgrade (today's reader: the schema at head).
    migrate.upgrade(bare_engine)
    from ivr400.tree import read_tree
    with Session(bare_engine) as s:
        tree = read_tree(s, NOW)
    assert [t.name for t in tree.tones] == ["welcome"] and not tree.warnings
    with bare_engine.begin() as conn:
        # A new row waits for review; a status outside the three is refused by the database.
        conn.execute(text("INSERT INTO tone (enterprise_id, name, kind, original_name, sha256, stored_path, "
                          "duration_s, created_at) VALUES (:e, 'new', 'ringback', 'n', :h, 'tones/n.wav', 1, :t)"),
                     {"e": enterprise_id, "h": "1" * 64, "t": t})
        assert conn.execute(text("SELECT status FROM tone WHERE name = 'new'")).scalar_one() == "pending"
        conn.execute(text("UPDATE tone SET status = 'rejected', status_reason = '未含企业名称' "
                          "WHERE name = 'sales-rb'"))
        # The 0003 trigger still bumps the generation on tone changes (the column adds rebuilt nothing).
        assert conn.execute(text("SELECT value FROM config_generation")).scalar_one() > generation
    with bare_engine.connect() as conn, pytest.raises(DBAPIError):
        conn.execute(text("UPDATE tone SET status = 'maybe'"))
    after_upgrade = _counts(bare_engine)
    migrate.downgrade(bare_engine, "0009")
    columns = {c["name"] for c in inspect(bare_engine).get_columns("tone")}
    assert not columns & {"status", "status_reason", "reviewed_by", "reviewed_at"}
    down = _counts(bare_engine)
    assert down == {table: after_upgrade[table] for table in down}  # every tone kept, the rejected one too
    migrate.upgrade(bare_engine)
    with bare_engine.connect() as conn:
        statuses = conn.execute(text("SELECT name, status FROM tone ORDER BY id")).all()
    # What was there before 0010 is taken as root's: approved again (a rejection is not kept by a downgrade).
    assert [tuple(r) for r in statuses] == [("welcome", "approved"), ("sales-rb", "approved"), ("new", "approved")]


def test_cluster_nodes_migration_keeps_the_rest_and_comes_back(bare_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """0013 (cluster nodes) down and up on a populated database with nodes; the checks hold after the trip."""
    from ivr400.provisioning import cluster

    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        cluster.add_node(s, "node2", "127.0.0.2", 5060, now=NOW)
        cluster.drain_node(s, "node2", now=NOW)
        cluster.add_node(s, "node3", "127.0.0.3", 5060, now=NOW)
        s.commit()
    before = _counts(bare_engine)
    assert before["cluster_node"] == 2
    below = ScriptDirectory.from_config(migrate.alembic_config(bare_engine)).get_revision("0013").down_revision
    migrate.downgrade(bare_engine, str(below))
    after = _counts(bare_engine)
    assert "cluster_node" not in after and all(after[t] == before[t] for t in after)
    migrate.upgrade(bare_engine)
    assert _counts(bare_engine) == {**before, "cluster_node": 0}
    insert = ("INSERT INTO cluster_node (name, sip_host, sip_port, state, priority, created_at, changed_at) "
              "VALUES (:n, '127.0.0.9', :p, :s, 0, :t, :t)")
    t = NOW.replace(tzinfo=None)
    with bare_engine.connect() as conn, pytest.raises(DBAPIError):
        conn.execute(text(insert), {"n": "x", "p": 5060, "s": "gone", "t": t})
    with bare_engine.connect() as conn, pytest.raises(DBAPIError):
        conn.execute(text(insert), {"n": "y", "p": 70000, "s": "active", "t": t})
    with bare_engine.begin() as conn:
        conn.execute(text(insert), {"n": "z", "p": 5060, "s": "active", "t": t})
    with bare_engine.connect() as conn, pytest.raises(DBAPIError):
        conn.execute(text(insert), {"n": "w", "p": 5060, "s": "active", "t": t})  # same address


def test_call_features_migration_both_ways_on_existing_data(bare_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """0012 (survey, click-to-call, caps, weights) down and up on a populated database: every other row stays,
    the new settings come back at their defaults, the database refuses a score outside 1-5."""
    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        s.commit()
    t = NOW.replace(tzinfo=None)
    with bare_engine.begin() as conn:
        conn.execute(text("UPDATE hotline SET survey_enabled = true, caller_cap_per_month = 3, hunt_weighted = true"))
        conn.execute(text("UPDATE seat SET weight = 7"))
        conn.execute(text("INSERT INTO survey_response (uniqueid, hotline, seat, score, at) "
                          "VALUES ('1.1', '4008001234', 'PJSIP/01012345678', 4, :t)"), {"t": t})
        conn.execute(text("INSERT INTO clicktocall_attempt (hotline, target, source, outcome, at) "
                          "VALUES ('4008001234', '13800138000', 'web', 'refused_rate', :t)"), {"t": t})
    before = _counts(bare_engine)
    below = ScriptDirectory.from_config(migrate.alembic_config(bare_engine)).get_revision("0012").down_revision
    migrate.downgrade(bare_engine, str(below))
    after = _counts(bare_engine)
    assert "survey_response" not in after and "clicktocall_attempt" not in after
    assert all(after[t] == before[t] for t in after)
    assert "weight" not in {c["name"] for c in inspect(bare_engine).get_columns("seat")}
    migrate.upgrade(bare_engine)
    with bare_engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT weight FROM seat")).scalars().all() == [1]
        assert conn.execute(text("SELECT COUNT(*) FROM hotline WHERE survey_enabled OR hunt_weighted "
                                 "OR caller_cap_per_month <> 0")).scalar_one() == 0
    assert _counts(bare_engine)["seat"] == before["seat"]
    with bare_engine.connect() as conn, pytest.raises(DBAPIError):
        conn.execute(text("INSERT INTO survey_response (uniqueid, hotline, score, at) VALUES ('1.2', '4008001234', "
                          "6, :t)"), {"t": t})


def test_report_tables_migration_on_existing_calls_and_rebuild(bare_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """0011 (facts, roll-ups, callbacks, billing) up on a database that already has call records, which
    `report rebuild` turns into facts; down drops only the five new tables; up again and rebuild agrees."""
    from ivr400.cdr.fact_store import rebuild
    from ivr400.db.models import CallFact, CallHour

    below = str(ScriptDirectory.from_config(migrate.alembic_config(bare_engine)).get_revision("0011").down_revision)
    migrate.upgrade(bare_engine)  # the sample goes in through today's models, then the schema goes below 0011
    with Session(bare_engine) as s:
        provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        s.commit()
    migrate.downgrade(bare_engine, below)
    started = NOW.replace(tzinfo=None)
    with bare_engine.begin() as conn:
        for uid, disp in (("2.1", "answered"), ("2.2", "noanswer"), ("2.3", "abandoned")):
            conn.execute(text("INSERT INTO call_record (uniqueid, linkedid, hotline, caller, started_at, disposition, "
                              "billsec, source) VALUES (:u, :u, '4008000001', '13800000001', :t, :d, 30, 'csv')"),
                         {"u": uid, "t": started, "d": disp})
    before = _counts(bare_engine)
    migrate.upgrade(bare_engine)
    after = _counts(bare_engine)
    assert {t: after[t] for t in before} == before
    assert {after[t] for t in ("call_fact", "call_hour", "callback_entry", "hotline_account", "balance_topup")} == {0}

    def hotline_row() -> tuple[int, int, float]:
        with Session(bare_engine) as s:
            row = s.get(CallHour, {"hour": NOW, "hotline": "4008000001", "dim": "hotline", "key": ""})
            return (row.offered, row.answered, row.talk_sum_s)

    with Session(bare_engine) as s, s.begin():
        assert rebuild(s) == 3
    assert hotline_row() == (3, 1, 30.0)  # an old record: talk time is its billsec
    with Session(bare_engine) as s:
        assert s.query(CallFact).filter(CallFact.abandoned_in == "menu").count() == 1
    migrate.downgrade(bare_engine, below)
    down = _counts(bare_engine)
    assert down == before
    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s, s.begin():
        assert rebuild(s) == 3
    assert hotline_row() == (3, 1, 30.0)


def test_hotline_fax_migration_both_ways_on_existing_data(bare_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """0015 (a hotline's fax mode and key) down and up on a populated database with a fax setting and a received
    fax: every row stays; going down drops the setting only; back up, every hotline takes no fax (off)."""
    from ivr400.db.models import Hotline
    from ivr400.provisioning.fax import record_fax, set_fax

    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        sample = provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        set_fax(s, sample.hotline, "key:9")
        record_fax(s, hotline_number=sample.hotline.number, uniqueid="1700000000.1", caller="13800138000",
                   status="SUCCESS", pages=1, error=None, remote_station=None, file_path="/x/fax/4008123456/1.tif",
                   received_at=NOW)
        s.commit()
    before = _counts(bare_engine)
    below = ScriptDirectory.from_config(migrate.alembic_config(bare_engine)).get_revision("0015").down_revision
    migrate.downgrade(bare_engine, str(below))
    after = _counts(bare_engine)  # later revisions' tables (call_caller, 0017) are gone too
    assert all(after[t] == before[t] for t in after) and after["fax"] == 1
    with bare_engine.connect() as conn:
        assert {"fax_mode", "fax_key"}.isdisjoint(c["name"] for c in inspect(conn).get_columns("hotline"))
    migrate.upgrade(bare_engine)
    assert _counts(bare_engine) == before
    with Session(bare_engine) as s:
        assert {(h.fax_mode, h.fax_key) for h in s.query(Hotline)} == {("off", None)}


def test_call_record_node_revision_both_ways_on_existing_calls(bare_engine: Engine) -> None:
    """0016 (call_record.node) on existing call records: going down drops the column and keeps every row;
    going up again gives them NULL (no node known), and a new row can carry its node."""
    migrate.upgrade(bare_engine)
    started = NOW.replace(tzinfo=None)
    with bare_engine.begin() as conn:
        for uid, node in (("node2-1.1", "node2"), ("node3-1.1", "node3"), ("1.3", None)):
            conn.execute(text("INSERT INTO call_record (uniqueid, linkedid, hotline, started_at, disposition, source, "
                              "node) VALUES (:u, :u, '4008000001', :t, 'answered', 'ami', :n)"),
                         {"u": uid, "t": started, "n": node})
    below = ScriptDirectory.from_config(migrate.alembic_config(bare_engine)).get_revision("0016").down_revision
    migrate.downgrade(bare_engine, str(below))
    assert "node" not in {c["name"] for c in inspect(bare_engine).get_columns("call_record")}
    with bare_engine.connect() as conn:
        rows = conn.execute(text("SELECT uniqueid, disposition FROM call_record ORDER BY uniqueid")).all()
    assert [tuple(r) for r in rows] == [("1.3", "answered"), ("node2-1.1", "answered"), ("node3-1.1", "answered")]
    migrate.upgrade(bare_engine)
    with bare_engine.begin() as conn:
        conn.execute(text("INSERT INTO call_record (uniqueid, linkedid, hotline, started_at, disposition, source, "
                          "node) VALUES ('node2-1.2', 'node2-1.2', '4008000001', :t, 'answered', 'ami', 'node2')"),
                     {"t": started})
        rows = conn.execute(text("SELECT uniqueid, node FROM call_record ORDER BY uniqueid")).all()
    assert [tuple(r) for r in rows] == [("1.3", None), ("node2-1.1", None), ("node2-1.2", "node2"),
                                        ("node3-1.1", None)]
