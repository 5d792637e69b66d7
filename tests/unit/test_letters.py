"""Authorization letters: which letter, which relationship, which validity — and the printable .docx."""
from __future__ import annotations

import io
from datetime import date

import pytest
from docx import Document
from docx.shared import Cm

from ivr400.compliance.letters import BLANK_DATE, LetterError, LetterFacts, compose_letter, render_text, to_docx

ENT = "北京示例科技有限公司"


def facts(**kw) -> LetterFacts:  # noqa: ANN003
    base = {"owner_name": "上海示例科技有限公司", "owner_kind": "company", "enterprise_name": ENT,
            "hotline_display": "400-812-3456", "destination_display": "021-61234567", "relationship": "关联公司"}
    return LetterFacts(**(base | kw))


@pytest.mark.parametrize("relationship", ["关联公司", "全资子公司", "母公司", "控股子公司"])
def test_a_company_letter_states_the_recorded_relationship(relationship: str) -> None:
    text = render_text(compose_letter(facts(relationship=relationship)))
    assert text.splitlines()[0] == "400电话绑定公司电话授权证明"
    assert f"上海示例科技有限公司与{ENT}为{relationship}，现因业务需要，授权{ENT}的400-812-3456 绑定我公司名下电话" \
           f"021-61234567 作公司销售热线使用。" in text
    assert "授权方：上海示例科技有限公司（盖章）" in text and f"400电话使用方：{ENT}（盖章）" in text


@pytest.mark.parametrize("relationship", ["员工", "股东"])
def test_a_personal_letter_states_the_persons_relation(relationship: str) -> None:
    text = render_text(compose_letter(facts(owner_name="张三", owner_kind="person", relationship=relationship)))
    assert text.splitlines()[0] == "400电话绑定个人电话授权证明"
    assert f"张三是{ENT}{relationship}，现因业务需要，我授权{ENT}的400-812-3456 绑定我个人名下电话" in text
    assert "授权方个人签名：" in text and "张三（盖章）" not in text


@pytest.mark.parametrize("owner", [ENT, "北京示例科技 有限公司", " 北京示例科技有限公司 "])
def test_no_letter_for_a_destination_the_enterprise_owns_itself(owner: str) -> None:
    with pytest.raises(LetterError) as info:
        compose_letter(facts(owner_name=owner))
    assert info.value.field == "destination" and "R2 holds" in info.value.reason


@pytest.mark.parametrize(("kind", "relationship"), [("company", None), ("company", "  "), ("person", None)])
def test_no_relationship_recorded_is_refused_not_guessed(kind: str, relationship: str | None) -> None:
    with pytest.raises(LetterError) as info:
        compose_letter(facts(owner_kind=kind, owner_name="张三" if kind == "person" else "上海示例科技有限公司",
                             relationship=relationship))
    assert info.value.field == "relationship"


VALIDITY = [
    # (from, to, long_term) -> 授权时间
    ((None, None, False), f"{BLANK_DATE}至{BLANK_DATE}（或长期）"),
    ((date(2026, 6, 1), date(2027, 12, 31), False), "2026年6月1日至2027年12月31日"),
    ((date(2026, 6, 1), None, False), f"2026年6月1日至{BLANK_DATE}"),
    ((None, date(2027, 12, 31), False), f"{BLANK_DATE}至2027年12月31日"),
    ((date(2026, 6, 1), None, True), "2026年6月1日起长期"),
    ((None, None, True), f"{BLANK_DATE}起长期"),
    ((date(2027, 1, 1), date(2027, 1, 1), False), "2027年1月1日至2027年1月1日"),
]


@pytest.mark.parametrize(("given", "expected"), VALIDITY, ids=[v for _, v in VALIDITY])
def test_validity_is_filled_from_the_operators_dates(given: tuple, expected: str) -> None:
    start, end, long_term = given
    letter = compose_letter(facts(valid_from=start, valid_until=end, long_term=long_term))
    assert letter.validity == expected
    assert f"授权时间：{expected}\n" in render_text(letter)


@pytest.mark.parametrize("given", [(date(2027, 1, 2), date(2027, 1, 1), False), (None, date(2027, 1, 1), True)])
def test_contradictory_validity_is_refused(given: tuple) -> None:
    start, end, long_term = given
    with pytest.raises(LetterError) as info:
        compose_letter(facts(valid_from=start, valid_until=end, long_term=long_term))
    assert info.value.field == "to"


def _docx_text(data: bytes) -> tuple[list[str], list[list[str]], Document]:
    doc = Document(io.BytesIO(data))
    paragraphs = [p.text for p in doc.paragraphs if p.text.strip()]
    cells = [[cell.text for cell in row.cells] for table in doc.tables for row in table.rows]
    return paragraphs, cells, doc


def test_the_company_letter_as_a_printable_docx() -> None:
    letter = compose_letter(facts(relationship="全资子公司", valid_from=date(2026, 6, 1),
                                  valid_until=date(2027, 12, 31)))
    paragraphs, cells, doc = _docx_text(to_docx(letter))
    assert paragraphs == [letter.title, letter.body, "授权时间：2026年6月1日至2027年12月31日"]
    assert "为全资子公司" in paragraphs[1]
    assert cells == [
        ["授权方：上海示例科技有限公司", f"400电话使用方：{ENT}"],
        ["（盖章）", "（盖章）"],  # blank room for the two seals
        [f"日期：{BLANK_DATE}", f"日期：{BLANK_DATE}"],
    ]
    section = doc.sections[0]
    assert (round(section.page_width / Cm(1), 1), round(section.page_height / Cm(1), 1)) == (21.0, 29.7)


def test_the_personal_letter_as_a_printable_docx_leaves_room_for_the_signature() -> None:
    letter = compose_letter(facts(owner_name="张三", owner_kind="person", relationship="员工", long_term=True))
    paragraphs, cells, _ = _docx_text(to_docx(letter))
    assert paragraphs[0] == "400电话绑定个人电话授权证明" and paragraphs[2] == f"授权时间：{BLANK_DATE}起长期"
    assert cells[0] == ["授权方个人签名：", f"400电话使用方：{ENT}"]
    assert cells[1] == ["（本人签名）", "（盖章）"]
