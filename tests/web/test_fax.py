"""传真 in the back office: the enterprise's received faxes listed, each downloadable as a PDF rendered from its
stored TIFF; another enterprise's fax, a stored path outside the fax spool's shape, a missing or broken file:
404, never a 500 and never another file. On SQLite and the real PostgreSQL (the ``web`` fixture's engine)."""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr400.db.models import Fax, Hotline, WhitelistEvent
from ivr400.provisioning.fax import record_fax
from tests.conftest import NOW

from .conftest import WebWorld, fax_tiff


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """(width, height) in points of each page of a PDF (its /MediaBox)."""
    assert pdf.startswith(b"%PDF-")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([0-9.]+)\s+([0-9.]+)\s*\]", pdf)
    assert len(boxes) == len(re.findall(rb"/Type\s*/Page\b", pdf))
    return [(float(w), float(h)) for w, h in boxes]


def test_the_list_shows_own_faxes_only(web: WebWorld, clients) -> None:
    page = clients["op-a"].get("/fax")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-fax="(\d+)">(.*?)</tr>', page.text, re.S)
    assert [int(i) for i, _ in rows] == [web.a.fax]
    row = rows[0][1]
    assert web.a.hotline_number in row and "02155550123" in row and "成功" in row and f'/fax/{web.a.fax}/pdf' in row
    assert '<td class="pages">1</td>' in row
    admin = clients["admin"].get("/fax").text
    assert f'data-fax="{web.a.fax}"' in admin and f'data-fax="{web.b.fax}"' in admin


def test_download_is_a_pdf_of_the_stored_tiff(web: WebWorld, clients) -> None:
    r = clients["op-a"].get(f"/fax/{web.a.fax}/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="fax-{web.a.hotline_number}-{web.a.fax}.pdf"'
    (w, h), = pdf_pages(r.content)
    # 1728 x 2292 pixels at 204 x 196 dpi: 8.47 x 11.69 inches (the fax width of an A4 page), not a square-pixel guess.
    assert abs(w - 1728 / 204 * 72) < 1 and abs(h - 2292 / 196 * 72) < 1


def test_a_three_page_fax_is_a_three_page_pdf(web: WebWorld, clients, tmp_path: Path) -> None:
    tiff = fax_tiff(tmp_path / "spool" / "fax" / web.a.hotline_number / "1700000900.1.tif", pages=3, text="three")
    with Session(web.engine) as s:
        row, _ = record_fax(s, hotline_number=web.a.hotline_number, uniqueid="1700000900.1", caller=None,
                            status="SUCCESS", pages=3, error=None, remote_station=None, file_path=str(tiff),
                            received_at=NOW)
        s.commit()
        fax_id = row.id
    assert len(pdf_pages(clients["op-a"].get(f"/fax/{fax_id}/pdf").content)) == 3
    assert f'data-fax="{fax_id}"' in clients["op-a"].get("/fax").text


def test_another_enterprises_or_unknown_fax_is_not_found(web: WebWorld, clients) -> None:
    op_a = clients["op-a"]
    assert op_a.get(f"/fax/{web.b.fax}/pdf").status_code == 404
    assert op_a.get("/fax/999999/pdf").status_code == 404
    assert clients["op-b"].get(f"/fax/{web.a.fax}/pdf").status_code == 404
    assert clients["admin"].get(f"/fax/{web.b.fax}/pdf").status_code == 200


def test_a_stored_path_outside_the_fax_spool_or_a_broken_file_is_not_found(web: WebWorld, clients,
                                                                          tmp_path: Path) -> None:
    op_a = clients["op-a"]
    elsewhere = fax_tiff(tmp_path / "elsewhere" / "x.tif")  # a real TIFF, but not in <spool>/fax/<hotline>/
    b_dir = tmp_path / "spool" / "fax" / web.b.hotline_number
    broken = tmp_path / "spool" / "fax" / web.a.hotline_number / "broken.tif"
    broken.write_bytes(b"II*\x00 not really a tiff")
    assert (b_dir / "1700000198.2.tif").is_file()  # B's real fax: served to A through A's row would be a leak
    for stored in (str(elsewhere), "/etc/passwd", str(b_dir / "1700000198.2.tif"),  # B's spool, A's row
                   f"{tmp_path}/spool/fax/{web.a.hotline_number}/../{web.b.hotline_number}/1700000198.2.tif",
                   str(broken), "relative/fax/4008123456/x.tif", ""):
        with Session(web.engine) as s:
            s.execute(update(Fax).where(Fax.id == web.a.fax).values(file_path=stored))
            s.commit()
        r = op_a.get(f"/fax/{web.a.fax}/pdf")
        assert r.status_code == 404, (stored, r.status_code)
        assert not r.content.startswith(b"%PDF")


def test_signed_out_is_sent_to_login(web: WebWorld) -> None:
    from fastapi.testclient import TestClient

    from ivr400.web.app import create_app
    with TestClient(create_app(web.config), follow_redirects=False) as anon:
        for url in ("/fax", f"/fax/{web.a.fax}/pdf"):
            r = anon.get(url)
            assert r.status_code in (303, 401) and b"%PDF" not in r.content


def test_the_fax_setting_is_saved_with_its_audit_entry(web: WebWorld, clients) -> None:
    op_a = clients["op-a"]
    page = op_a.get(f"/hotlines/{web.a.hotline}/rules").text
    assert 'id="fax-setting"' in page and 'value="key:9"' in page and 'value="key:1"' not in page  # 1 is a department
    assert op_a.form_post(f"/hotlines/{web.a.hotline}/fax", {"fax": "key:9"}).status_code == 303
    assert op_a.form_post(f"/hotlines/{web.a.hotline}/fax", {"fax": "detect"}).status_code == 303
    assert '<option value="detect" selected>' in op_a.get(f"/hotlines/{web.a.hotline}/rules").text
    with Session(web.engine) as s:
        assert s.scalar(select(Hotline.fax_mode).where(Hotline.id == web.a.hotline)) == "detect"
        events = list(s.scalars(select(WhitelistEvent).where(WhitelistEvent.action == "fax_set")
                                .order_by(WhitelistEvent.id)))
    assert [e.actor for e in events] == ["web:op-a", "web:op-a"]
    assert "key:9" in str(events[0].detail) and "detect" in str(events[1].detail)
