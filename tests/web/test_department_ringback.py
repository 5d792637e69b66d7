"""部门彩铃 in the back office: a department's ringback tone picked among the enterprise's approved ringback tones
(pending and rejected ones neither offered nor accepted, another tenant's tone refused beside the field),
CSRF-protected, audited, and what the one reader (ivr400/tree.py) then plays."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Department, Tone, WhitelistEvent
from ivr400.tree import read_tree
from tests.conftest import NOW

from .conftest import WebWorld


def add_tone(web: WebWorld, enterprise: int, name: str, status: str, kind: str = "ringback") -> int:
    """Another tone row of `enterprise` sharing the stored file of A's sample tone."""
    with Session(web.engine) as s:
        src = s.get(Tone, web.a.tone)
        tone = Tone(enterprise_id=enterprise, name=name, kind=kind, original_name=f"{name}.wav", sha256=src.sha256,
                    stored_path=src.stored_path, duration_s=0.1, created_at=NOW, status=status)
        s.add(tone)
        s.commit()
        return tone.id


def _dept_ringback(web: WebWorld, dept: int) -> int | None:
    with Session(web.engine) as s:
        return s.get(Department, dept).ringback_tone_id


def _options(page: str, dept_key: str) -> list[str]:
    section = page.split(f'data-group="{dept_key}"', 1)[1].split("</section>", 1)[0]
    select_ = section.split('name="ringback"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="(\d*)"', select_)


def test_department_ringback_offers_and_accepts_only_approved_tones_of_the_enterprise(web: WebWorld,
                                                                                       clients) -> None:  # noqa: ANN001
    op_a = clients["op-a"]
    approved = add_tone(web, web.a.enterprise, "rb-approved", "approved")
    rejected = add_tone(web, web.a.enterprise, "rb-rejected", "rejected")
    welcome = add_tone(web, web.a.enterprise, "welcome-approved", "approved", kind="welcome")
    other = add_tone(web, web.b.enterprise, "rb-b-approved", "approved")
    with Session(web.engine) as s:
        dept = s.get(Department, web.a.department)
        key = dept.key
    url = f"/departments/{web.a.department}/ringback"
    page = op_a.get(f"/hotlines/{web.a.hotline}/seats").text
    assert _options(page, key) == ["", str(approved)]  # pending (web.a.tone), rejected, welcome, B's: not offered

    # CSRF: without the token nothing changes.
    assert op_a.post(url, data={"ringback": str(approved)}).status_code == 403
    assert _dept_ringback(web, web.a.department) is None

    r = op_a.form_post(url, {"ringback": str(approved)})
    assert r.status_code == 303, r.text[-400:]
    assert _dept_ringback(web, web.a.department) == approved
    with Session(web.engine) as s:
        audit = s.scalars(select(WhitelistEvent).where(WhitelistEvent.action == "department_ringback")).all()
        assert len(audit) == 1 and audit[0].actor == "web:op-a" and audit[0].enterprise_id == web.a.enterprise
        assert audit[0].detail["before"] == {"ringback_tone": None}
        assert audit[0].detail["after"] == {"ringback_tone": approved}
        tree = read_tree(s, NOW)
    node = next(h for h in tree.hotlines if h.number == web.a.hotline_number)
    played = [d.ringback for d in node.departments if d.key == key]
    assert played and played[0] is not None and played[0].id == approved
    page = op_a.get(f"/hotlines/{web.a.hotline}/seats").text
    assert f'<option value="{approved}" selected>' in page

    # Refused beside the department's field, nothing changed: pending, rejected, a welcome tone, B's tone, junk.
    for value, reason in ((web.a.tone, "is pending"), (rejected, "is rejected"), (welcome, "not a ringback tone"),
                          (other, f"no tone #{other}"), (web.b.tone, f"no tone #{web.b.tone}"),
                          ("abc", "")):
        r = op_a.form_post(url, {"ringback": str(value)})
        assert r.status_code == 400, (value, r.status_code)
        assert 'data-field="ringback"' in r.text and reason in r.text, (value, r.text[-600:])
        section = r.text.split(f'data-group="{key}"', 1)[1].split("</section>", 1)[0]
        assert 'data-field="ringback"' in section  # beside this department's picker
        assert _dept_ringback(web, web.a.department) == approved
    # Back to the hotline's ringback.
    assert op_a.form_post(url, {"ringback": ""}).status_code == 303
    assert _dept_ringback(web, web.a.department) is None


def test_another_tenant_cannot_touch_the_department(web: WebWorld, clients) -> None:  # noqa: ANN001
    approved_b = add_tone(web, web.b.enterprise, "rb-b-approved", "approved")
    r = clients["op-b"].form_post(f"/departments/{web.a.department}/ringback", {"ringback": str(approved_b)})
    assert r.status_code == 404
    assert _dept_ringback(web, web.a.department) is None
