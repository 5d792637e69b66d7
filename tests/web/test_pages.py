"""The pages over HTTP on the provisioning services: each change lands in the database with its audit entry."""
from __future__ import annotations

import csv as csv_module
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Destination, Evidence, Seat, WhitelistEvent
from tests.factories import PNG

from .conftest import WebWorld


def _order(web: WebWorld, hotline_id: int, department_id: int | None) -> list[int]:
    with Session(web.engine) as s:
        stmt = select(Seat.id).where(Seat.hotline_id == hotline_id)
        stmt = stmt.where(Seat.department_id.is_(None) if department_id is None
                          else Seat.department_id == department_id)
        return list(s.scalars(stmt.order_by(Seat.position)))


def test_overview_counts_today_for_the_own_enterprise_only(web, clients) -> None:
    page = clients["op-a"].get("/").text
    assert 'id="stat-calls">2<' in page and 'id="stat-answered">1<' in page and 'id="stat-missed">1<' in page
    assert 'id="stat-callbacks">1<' in page
    admin = clients["admin"].get("/").text
    assert 'id="stat-calls">4<' in admin


def test_overview_callers_to_call_back_are_the_callback_lists_pending_entries(web, clients) -> None:
    """待回拨 on the overview is the count the 未接回拨 page shows: an entry handled there leaves it."""
    from ivr400.db.models import CallbackEntry

    with Session(web.engine) as s:
        entry = s.scalars(select(CallbackEntry).where(CallbackEntry.status == "pending")).first()
        assert entry is not None
        entry.status = "called_back"
        s.commit()
    assert 'id="stat-callbacks">0<' in clients["op-a"].get("/").text


def test_move_seat_down_and_up_changes_hunt_order_and_is_audited(web, clients) -> None:
    c = clients["op-a"]
    dept = web.a.department
    first, second = _order(web, web.a.hotline, dept)
    r = c.form_post(f"/seats/{first}/move", {"direction": "down"})
    assert r.status_code == 303
    assert _order(web, web.a.hotline, dept) == [second, first]
    assert c.form_post(f"/seats/{first}/move", {"direction": "up"}).status_code == 303
    assert _order(web, web.a.hotline, dept) == [first, second]
    with Session(web.engine) as s:
        moves = list(s.scalars(select(WhitelistEvent).where(WhitelistEvent.action == "seat_move")))
    assert len(moves) == 2 and moves[0].actor == "web:op-a"
    assert moves[0].detail["before"]["order"] == list(reversed(moves[0].detail["after"]["order"]))


def test_move_beyond_the_end_is_refused_beside_the_field(web, clients) -> None:
    c = clients["op-a"]
    first, second = _order(web, web.a.hotline, web.a.department)
    r = c.form_post(f"/seats/{second}/move", {"direction": "down"})
    assert r.status_code == 400
    assert 'data-field="position">position: must be between 1 and 2<' in r.text
    assert _order(web, web.a.hotline, web.a.department) == [first, second]


def test_add_seat_and_set_ring_timeout_and_hunt(web, clients) -> None:
    c = clients["op-a"]
    with Session(web.engine) as s:
        branch = s.scalar(select(Destination).where(Destination.number == "02161234567"))
        assert branch is not None
        branch_id = branch.id
    r = c.form_post(f"/hotlines/{web.a.hotline}/seats", {"destination": branch_id, "department": "",
                                                          "ring-timeout": "25"})
    assert r.status_code == 303, r.text
    switchboard = _order(web, web.a.hotline, None)
    assert len(switchboard) == 3
    assert c.form_post(f"/seats/{switchboard[-1]}/timeout", {"ring-timeout": "40"}).status_code == 303
    assert c.form_post(f"/hotlines/{web.a.hotline}/hunt", {"hunt": "round_robin"}).status_code == 303
    with Session(web.engine) as s:
        assert s.get(Seat, switchboard[-1]).ring_timeout_s == 40  # type: ignore[union-attr]
        actions = [e.action for e in s.scalars(select(WhitelistEvent).where(WhitelistEvent.actor == "web:op-a"))]
    assert actions == ["seat_add", "seat_timeout", "hunt_set"]


def test_weighted_strategy_and_seat_weight(web, clients) -> None:
    """按比例分配 on the seats page: the strategy is offered, a weight is saved and audited."""
    c = clients["op-a"]
    page = c.get(f"/hotlines/{web.a.hotline}/seats")
    assert 'value="weighted"' in page.text and "按比例分配" in page.text
    assert c.form_post(f"/hotlines/{web.a.hotline}/hunt", {"hunt": "weighted"}).status_code == 303
    assert c.form_post(f"/seats/{web.a.seat}/weight", {"weight": "30"}).status_code == 303
    with Session(web.engine) as s:
        seat = s.get(Seat, web.a.seat)
        assert seat is not None and seat.weight == 30
        assert (seat.hotline.hunt_strategy, seat.hotline.hunt_weighted) == ("sequential", True)
        actions = [e.action for e in s.scalars(select(WhitelistEvent).where(WhitelistEvent.actor == "web:op-a"))]
    assert actions == ["hunt_set", "seat_weight"]
    page = c.get(f"/hotlines/{web.a.hotline}/seats")
    assert '<option value="weighted" selected>' in page.text


def test_upload_evidence_stored_by_hash_and_downloaded_by_its_owner(web, clients) -> None:
    c = clients["op-b"]
    content = PNG + b"web upload"
    r = c.post(f"/destinations/{web.b.pending_destination}/evidence",
               data={"csrf_token": c.csrf, "kind": "carrier_bill", "issuer": "unicom", "shows_number": "1",
                     "shows_owner": "1"},
               files={"file": ("../../etc/passwd 账单.png", content, "application/octet-stream")})
    assert r.status_code == 303, r.text
    with Session(web.engine) as s:
        row = s.scalars(select(Evidence).where(Evidence.destination_id == web.b.pending_destination)
                        .order_by(Evidence.id.desc())).first()
        assert row is not None
        assert row.original_name == "passwd 账单.png" and row.media_type == "image/png"
        assert row.stored_path.endswith(row.sha256) and "passwd" not in row.stored_path
        ev_id = row.id
    got = c.get(f"/evidence/{ev_id}/file")
    assert got.status_code == 200 and got.content == content
    assert got.headers["x-content-type-options"] == "nosniff"


def test_admin_approves_after_evidence_and_rejects_with_reason(web, clients) -> None:
    admin = clients["admin"]
    queue = admin.get("/review")
    assert f'data-destination="{web.b.pending_destination}"' in queue.text
    refused = admin.form_post(f"/destinations/{web.b.pending_destination}/approve")
    assert refused.status_code == 400 and "destination: cannot approve" in refused.text
    c = clients["op-b"]
    c.post(f"/destinations/{web.b.pending_destination}/evidence",
           data={"csrf_token": c.csrf, "kind": "carrier_bill", "issuer": "telecom", "shows_number": "1",
                 "shows_owner": "1"}, files={"file": ("bill.png", PNG + b"2", "image/png")})
    assert admin.form_post(f"/destinations/{web.b.pending_destination}/approve").status_code == 303
    assert admin.form_post(f"/destinations/{web.a.pending_destination}/reject", {"reason": ""}).status_code == 400
    assert admin.form_post(f"/destinations/{web.a.pending_destination}/reject",
                           {"reason": "材料不全"}).status_code == 303
    with Session(web.engine) as s:
        assert s.get(Destination, web.b.pending_destination).status == "approved"  # type: ignore[union-attr]
        assert s.get(Destination, web.a.pending_destination).status == "rejected"  # type: ignore[union-attr]
        actions = [e.action for e in s.scalars(select(WhitelistEvent).where(WhitelistEvent.actor == "web:admin")
                                               .order_by(WhitelistEvent.id))]
    assert actions == ["approve_refused", "approve", "reject"]


def test_operator_cannot_use_the_review_queue(web, clients) -> None:
    assert clients["op-a"].get("/review").status_code == 403
    assert clients["op-a"].form_post(f"/destinations/{web.a.pending_destination}/approve").status_code == 403


def test_letter_download(web, clients) -> None:
    import io

    import docx
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from ivr400.db.models import Destination

    own = clients["op-a"].get(f"/destinations/{web.a.destination}/letter")
    assert 400 <= own.status_code < 500 and "no authorization letter is needed" in own.text
    with Session(web.engine) as s:
        other = s.scalar(select(Destination.id).where(Destination.number == "02161234567"))
    r = clients["op-a"].get(f"/destinations/{other}/letter")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(r.content)).paragraphs)
    assert "北京示例科技有限公司" in text and "上海示例科技有限公司" in text and "关联公司" in text
    assert "400-812-3456" in text or "4008123456" in text.replace("-", "")


def test_records_filter_and_csv_export(web, clients) -> None:
    c = clients["op-a"]
    page = c.get("/records", params={"disposition": "noanswer"})
    assert page.status_code == 200 and page.text.count("data-record=") == 1
    csv = c.get("/records.csv", params={"caller": "139-1111-2222"})
    lines = csv.text.lstrip("\ufeff").strip().splitlines()
    assert csv.status_code == 200 and len(lines) == 2 and "13911112222" in lines[1] and web.a.hotline_number in lines[1]
    assert web.b.hotline_number not in csv.text
    # 话费余额: a call routed at a zero balance (choice keep) says so beside its outcome; the others do not.
    from sqlalchemy import select, update
    from sqlalchemy.orm import Session

    from ivr400.db.models import CallRecord

    assert "欠费接通" not in c.get("/records").text
    with Session(web.engine) as s, s.begin():
        flagged = s.scalar(select(CallRecord.id).where(CallRecord.disposition == "noanswer",
                                                       CallRecord.hotline == web.a.hotline_number))
        s.execute(update(CallRecord).where(CallRecord.id == flagged).values(balance_flagged=True))
    rows = c.get("/records").text.split("data-record=")[1:]
    assert [r.split('"')[1] for r in rows if "欠费接通" in r] == [str(flagged)]
    exported = list(csv_module.DictReader(io.StringIO(c.get("/records.csv").text.lstrip("\ufeff"))))
    assert {r["id"] for r in exported if r["balance_flagged"] == "1"} == {str(flagged)}
    assert {r["balance_flagged"] for r in exported} == {"0", "1"}


def test_simulator_uses_the_controllers_decision(web, clients) -> None:
    c = clients["op-a"]
    r = c.get("/simulator", params={"hotline": web.a.hotline_number, "caller": "13911112222",
                                    "at": "2026-06-01T10:00", "keys": "1"})
    assert r.status_code == 200, r.text
    targets = r.text.split('class="target" data-destination="')[1:]
    assert [t.split('"')[0] for t in targets] == ["01062345678", "02161234567"]
    assert "按键 1" in r.text and "语音留言" in r.text


def test_audit_page_shows_only_own_enterprise(web, clients) -> None:
    clients["op-b"].form_post(f"/hotlines/{web.b.hotline}/hunt", {"hunt": "simultaneous",
                                                                  "department": str(web.b.department)})
    assert 'data-action="hunt_set"' in clients["op-b"].get("/audit").text
    assert 'data-action="hunt_set"' not in clients["op-a"].get("/audit").text


def test_rules_page_departments_time_rules_after_hours_and_blocking(web, clients) -> None:
    from ivr400.db.models import BlockEntry, Department, Hotline, TimeRule
    c = clients["op-a"]
    h = web.a.hotline
    assert c.get(f"/hotlines/{h}/rules").status_code == 200
    r = c.form_post(f"/hotlines/{h}/departments", {"key": "3", "name": "投诉部", "hunt": "sequential"})
    assert r.status_code == 303
    with Session(web.engine) as s:
        parent = s.scalar(select(Department.id).where(Department.hotline_id == h, Department.key == "3"))
    assert c.form_post(f"/hotlines/{h}/departments", {"key": "1", "name": "投诉-北京", "parent": str(parent),
                                                      "hunt": "sequential"}).status_code == 303
    assert "按键 1 · 投诉-北京" in c.get(f"/hotlines/{h}/rules").text
    r = c.post(f"/hotlines/{h}/time-rules", data={"csrf_token": c.csrf, "days": ["workday", "makeup_workday"],
                                                  "segments": "09:00-12:00,13:30-18:00", "action": "menu",
                                                  "priority": "10", "name": "上班"})
    assert r.status_code == 303, r.text[-300:]
    assert c.form_post(f"/hotlines/{h}/after-hours", {"action": "announcement:ivr400-closed"}).status_code == 303
    assert c.form_post(f"/hotlines/{h}/block-mode", {"mode": "blacklist", "anonymous": "refuse",
                                                     "refuse-with": "busy"}).status_code == 303
    assert c.form_post(f"/hotlines/{h}/block-entries", {"number": "0755", "prefix": "1"}).status_code == 303
    assert c.form_post(f"/hotlines/{h}/region-rules", {"province": "上海", "department": "3.1"}).status_code == 303
    with Session(web.engine) as s:
        from ivr400.db.models import RegionRule
        region_id = s.scalar(select(RegionRule.id).where(RegionRule.hotline_id == h))
    assert c.form_post(f"/region-rules/{region_id}/delete").status_code == 303
    with Session(web.engine) as s:
        rule = s.scalar(select(TimeRule).where(TimeRule.hotline_id == h))
        assert rule is not None and rule.segments == ["09:00-12:00", "13:30-18:00"]
        hotline = s.get(Hotline, h)
        assert hotline.after_hours_kind == "announcement" and hotline.block_mode == "blacklist"  # type: ignore[union-attr]
        entry = s.scalar(select(BlockEntry).where(BlockEntry.hotline_id == h, BlockEntry.prefix.is_(True)))
        assert entry is not None and entry.number == "0755"
        rule_id, entry_id = rule.id, entry.id
    # The simulator sees them at once: a Shenzhen caller is refused, a Saturday call gets the closed announcement.
    sim = c.get("/simulator", params={"hotline": web.a.hotline_number, "caller": "0755-12345678",
                                      "at": "2026-06-01T10:00"})
    assert "拒接" in sim.text
    sim = c.get("/simulator", params={"hotline": web.a.hotline_number, "caller": "13911112222",
                                      "at": "2026-06-06T10:00"})
    assert "after hours" in sim.text and "播放提示音后挂机" in sim.text
    assert c.form_post(f"/time-rules/{rule_id}/delete").status_code == 303
    assert c.form_post(f"/block-entries/{entry_id}/delete").status_code == 303
    with Session(web.engine) as s:
        actions = [e.action for e in s.scalars(select(WhitelistEvent).where(WhitelistEvent.actor == "web:op-a")
                                               .order_by(WhitelistEvent.id))]
    assert actions == ["department_add", "department_add", "time_rule_add", "after_hours_set", "block_mode_set",
                       "block_add", "region_rule_add", "region_rule_remove", "time_rule_remove", "block_remove"]


def test_voicemail_and_recordings_play_with_range_requests(web, clients) -> None:
    from ivr400.db.models import Voicemail
    c = clients["op-a"]
    page = c.get("/voicemail")
    assert page.status_code == 200 and page.text.count("data-voicemail=") == 1
    full = c.get(f"/voicemail/{web.a.voicemail}/audio")
    assert full.status_code == 200 and full.headers["content-type"] == "audio/wav" and full.content.startswith(b"RIFF")
    part = c.get(f"/voicemail/{web.a.voicemail}/audio", headers={"Range": "bytes=44-47"})
    assert part.status_code == 206 and part.content == b"aaaa"
    assert part.headers["content-range"].startswith("bytes 44-47/")
    rec = c.get(f"/records/{web.a.record}/recording", headers={"Range": "bytes=44-45"})
    assert rec.status_code == 206 and rec.content == b"aa"
    assert c.form_post(f"/voicemail/{web.a.voicemail}/heard").status_code == 303
    with Session(web.engine) as s:
        assert s.get(Voicemail, web.a.voicemail).heard is True  # type: ignore[union-attr]
    # A record without a recording, and a stored path that is not audio, are 404.
    with Session(web.engine) as s:
        from ivr400.db.models import CallRecord
        other = s.scalar(select(CallRecord.id).where(CallRecord.uniqueid == "a.2"))
        row = s.get(Voicemail, web.a.voicemail)
        row.file_path = "/etc/passwd"  # type: ignore[union-attr]
        s.commit()
    assert c.get(f"/records/{other}/recording").status_code == 404
    assert c.get(f"/voicemail/{web.a.voicemail}/audio").status_code == 404


def test_admin_creates_an_operator_shown_once_and_disables_one(web, clients) -> None:
    import re

    from .conftest import login
    admin = clients["admin"]
    r = admin.form_post("/accounts", {"username": "ops-b2", "enterprise": str(web.b.enterprise), "role": "operator"})
    assert r.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert password not in admin.get("/accounts").text  # shown once
    new = login(web, "ops-b2", password)
    assert web.b.hotline_number in new.get("/hotlines").text and web.a.hotline_number not in new.get("/hotlines").text
    bad = admin.form_post("/accounts", {"username": "x y", "enterprise": str(web.b.enterprise)})
    assert bad.status_code == 400 and 'data-field="username">username: ' in bad.text
    bad = admin.form_post("/accounts", {"username": "ops-c", "enterprise": "", "role": "operator"})
    assert bad.status_code == 400 and 'data-field="enterprise">enterprise: ' in bad.text
    assert admin.form_post(f"/accounts/{web.b.user}/disable").status_code == 303
    assert clients["op-b"].get("/").status_code == 303  # its session ended at once


def test_block_list_csv_import_all_or_nothing_with_a_report_per_line(web, clients) -> None:
    from ivr400.db.models import BlockEntry
    c = clients["op-a"]
    url = f"/hotlines/{web.a.hotline}/block-import"

    def count() -> int:
        with Session(web.engine) as s:
            return len(list(s.scalars(select(BlockEntry).where(BlockEntry.hotline_id == web.a.hotline))))

    before = count()
    bad = "13800001111,,骚扰\nnot-a-number\n0755,号段\n13800001111\n".encode()
    r = c.post(url, data={"csrf_token": c.csrf}, files={"file": ("list.csv", bad, "text/csv")})
    assert r.status_code == 400 and "2 of 4 line(s) refused; nothing imported" in r.text
    assert 'data-line="2"' in r.text and 'data-line="4"' in r.text and 'data-line="1"' not in r.text
    assert count() == before
    good = "\ufeff13800001111,,骚扰\n0755,号段\n\n".encode()
    assert c.post(url, data={"csrf_token": c.csrf}, files={"file": ("list.csv", good, "text/csv")}).status_code == 303
    assert count() == before + 2
    r = c.post(url, data={"csrf_token": c.csrf}, files={"file": ("x.csv", b"\xff\xfe\x00", "text/csv")})
    assert r.status_code == 400 and "file: not UTF-8 text" in r.text


def test_date_filters_out_of_range_are_field_errors(web, clients) -> None:
    c = clients["op-a"]
    for path in ("/reports", "/records"):
        for field, day in (("until", "9999-12-31"), ("since", "0001-01-01")):
            r = c.get(path, params={field: day})
            assert r.status_code == 400 and "is out of range" in r.text, (path, field)
    for path, params in (("/reports.csv", {"table": "repeat", "until": "9999-12-31"}),
                         ("/records.csv", {"until": "9999-12-31"})):
        r = c.get(path, params=params)
        assert r.status_code == 400 and "until" in r.text and "out of range" in r.text, path
    assert c.get("/reports", params={"since": "2026-06-01", "until": "2026-05-01"}).status_code == 400


def test_billing_page_says_the_zero_balance_choice_is_enforced(web, clients) -> None:
    page = clients["op-a"].get("/billing")
    assert page.status_code == 200 and "暂未在呼叫中执行" not in page.text
    assert "余额为零时,每个来电接入时按所选方式处理" in page.text and "未计费(不拦截)" in page.text
