"""彩铃 in the back office: upload → pending (not deployed) → the admin approves (deployed) or rejects."""
from __future__ import annotations

import subprocess
import wave
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Tone, WhitelistEvent
from ivr400.tree import read_tree
from tests.conftest import NOW

from .conftest import WebWorld


def _mp3(tmp: Path) -> bytes:
    path = tmp / "我的彩铃.mp3"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(path), "synth", "2", "sine", "500"], check=True,
                   capture_output=True)
    return path.read_bytes()


def _tree_ringback(web: WebWorld, number: str) -> object:
    with Session(web.engine) as s:
        tree = read_tree(s, NOW)
    hotline = next(h for h in tree.hotlines if h.number == number)
    return hotline.ringback.name if hotline.ringback else None, tree.warnings


def test_operator_uploads_admin_approves_and_only_then_it_is_deployed(web: WebWorld, clients, tmp_path) -> None:  # noqa: ANN001
    op_a, admin = clients["op-a"], clients["admin"]
    r = op_a.post("/tones", data={"csrf_token": op_a.csrf, "name": "company-rb", "kind": "ringback"},
                  files={"file": ("../../我的彩铃.mp3", _mp3(tmp_path), "audio/mpeg")})
    assert r.status_code == 303, r.text[-500:]
    with Session(web.engine) as s:
        tone = s.scalar(select(Tone).where(Tone.name == "company-rb"))
        assert tone is not None and tone.status == "pending" and tone.enterprise_id == web.a.enterprise
        assert tone.original_name == "我的彩铃.mp3"  # data only: the last component, never a path
        assert tone.stored_path == f"tones/{tone.sha256}.wav" and 1.9 < tone.duration_s < 2.1
        stored = web.store.parent / tone.stored_path
        tone_id = tone.id
    with wave.open(str(stored)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    page = op_a.get("/tones").text
    assert f'data-tone="{tone_id}" data-status="pending"' in page and "待审核" in page
    # Played in the browser with range requests, only to its enterprise (and the admin).
    part = op_a.get(f"/tones/{tone_id}/audio", headers={"Range": "bytes=0-43"})
    assert part.status_code == 206 and part.content[:4] == b"RIFF" and len(part.content) == 44
    assert part.headers["content-type"] == "audio/wav"
    assert clients["op-b"].get(f"/tones/{tone_id}/audio").status_code == 404
    # Chosen for the hotline while pending: not deployed yet, the tree says why.
    assert op_a.form_post(f"/hotlines/{web.a.hotline}/tones", {"ringback": str(tone_id)}).status_code == 303
    name, warnings = _tree_ringback(web, web.a.hotline_number)
    assert name is None and any(f"tone {tone_id} is pending (not approved)" in w for w in warnings)
    # The admin's queue shows it beside the registered company name; approval deploys it.
    queue = admin.get("/review").text
    row = queue.split(f'<tr data-tone="{tone_id}">', 1)[1].split("</tr>", 1)[0]
    assert "北京示例科技有限公司" in row and f"/tones/{tone_id}/audio" in row
    assert admin.form_post(f"/tones/{tone_id}/approve").status_code == 303
    assert f'data-tone="{tone_id}"' not in admin.get("/review").text
    assert _tree_ringback(web, web.a.hotline_number)[0] == "company-rb"
    # Rejected later with a reason: gone from the plan again, the reason shown to the operator.
    r = admin.form_post(f"/tones/{tone_id}/reject", {"reason": "彩铃未包含企业注册名称"})
    assert r.status_code == 303
    assert _tree_ringback(web, web.a.hotline_number)[0] is None
    assert "彩铃未包含企业注册名称" in op_a.get("/tones").text
    with Session(web.engine) as s:
        trail = s.execute(select(WhitelistEvent.action, WhitelistEvent.actor, WhitelistEvent.reason)
                          .where(WhitelistEvent.enterprise_id == web.a.enterprise,
                                 WhitelistEvent.action.in_(["tone_add", "tone_approve", "tone_reject",
                                                            "hotline_tones"]))
                          .order_by(WhitelistEvent.id)).all()
        row_ = s.get(Tone, tone_id)
        assert row_ is not None and row_.reviewed_by == "web:admin" and row_.status == "rejected"
    assert [tuple(t) for t in trail] == [("tone_add", "web:op-a", None), ("hotline_tones", "web:op-a", None),
                                         ("tone_approve", "web:admin", None),
                                         ("tone_reject", "web:admin", "彩铃未包含企业注册名称")]
    audit_page = op_a.get("/audit").text
    assert "tone_reject" in audit_page and "彩铃未包含企业注册名称" in audit_page
