"""Authorization letters (授权证明) from the seed document's two templates, filled in.

The wording is the seed's (company letter for R4, personal letter for R5); `compose_letter` fills it
from the destination's facts and refuses a letter that makes no sense: the destination is the
enterprise's own (R2 holds, no letter is needed), no relationship is recorded, or the validity is
contradictory. `render_text` lays it out as plain text, `to_docx` as a printable Word document (A4,
the seed's layout, blanks for the seals, signature and dates). Pure: no files are written here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ivr400.compliance.names import same_owner
from ivr400.db.enums import OwnerKind

_HERE = Path(__file__).parent
#: A date left blank for the hand that signs (年 月 日 with full-width spaces).
BLANK_DATE = "　　年　　月　　日"


class LetterError(ValueError):
    """A letter that cannot be written; `field` names the input at fault (`destination`, `relationship`, `to`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class LetterFacts:
    owner_name: str
    owner_kind: str  # company | person
    enterprise_name: str
    hotline_display: str  # 400-800-0001
    destination_display: str  # 010-62345678
    relationship: str | None  # as recorded on the destination: 关联公司, 全资子公司, 员工, 股东, ...
    purpose: str = "公司销售热线"
    valid_from: date | None = None  # dates of the authorization, in the enterprise's calendar
    valid_until: date | None = None  # last day included
    long_term: bool = False


@dataclass(frozen=True)
class Party:
    """One signing block: `label`：`name``mark`, then a blank date (and room for a seal or signature)."""

    label: str  # 授权方 / 授权方个人签名 / 400电话使用方
    name: str  # printed name; blank (full-width spaces) where the person signs by hand
    mark: str  # （盖章） where a seal goes, else empty


@dataclass(frozen=True)
class Letter:
    title: str
    body: str
    validity: str
    grantor: Party  # the number's owner
    user: Party  # the enterprise holding the 400 number


def cn_date(day: date | None) -> str:
    """2027年12月31日, or the blank form when no date is given."""
    return f"{day.year}年{day.month}月{day.day}日" if day else BLANK_DATE


def validity_text(valid_from: date | None, valid_until: date | None, long_term: bool) -> str:
    """授权时间: from–to, from–long-term, or the seed's blank form when nothing is given."""
    if long_term and valid_until is not None:
        raise LetterError("to", "give either an end date or long-term, not both")
    if valid_from and valid_until and valid_from > valid_until:
        raise LetterError("to", f"{valid_until} is before the start {valid_from}")
    if long_term:
        return f"{cn_date(valid_from)}起长期"
    if valid_from is None and valid_until is None:
        return f"{BLANK_DATE}至{BLANK_DATE}（或长期）"
    return f"{cn_date(valid_from)}至{cn_date(valid_until)}"


def compose_letter(facts: LetterFacts) -> Letter:
    """The company letter (R4) for a company owner, the personal letter (R5) for a person.

    Raises LetterError: `destination` when the owner is the enterprise itself (R2 holds: no letter is
    needed), `relationship` when none is given, `to` for a contradictory validity.
    """
    person = facts.owner_kind == OwnerKind.PERSON
    if not person and same_owner(facts.owner_name, facts.enterprise_name):
        raise LetterError("destination", f"{facts.destination_display} is owned by {facts.enterprise_name} itself: "
                                         "no authorization letter is needed (R2 holds)")
    relationship = (facts.relationship or "").strip()
    if not relationship:
        example = "员工 or 股东" if person else "关联公司, 母公司 or 全资子公司"
        raise LetterError("relationship", f"no relationship of {facts.owner_name} to {facts.enterprise_name} is "
                                          f"recorded: give it (e.g. {example})")
    validity = validity_text(facts.valid_from, facts.valid_until, facts.long_term)
    user = Party("400电话使用方", facts.enterprise_name, "（盖章）")
    ent, hotline, number = facts.enterprise_name, facts.hotline_display, facts.destination_display
    if person:
        return Letter(
            title="400电话绑定个人电话授权证明",
            body=f"{facts.owner_name}是{ent}{relationship}，现因业务需要，我授权{ent}的{hotline} "
                 f"绑定我个人名下电话{number} 作{facts.purpose}使用。",
            validity=validity, grantor=Party("授权方个人签名", "　" * 8, ""), user=user,
        )
    return Letter(
        title="400电话绑定公司电话授权证明",
        body=f"{facts.owner_name}与{ent}为{relationship}，现因业务需要，授权{ent}的{hotline} "
             f"绑定我公司名下电话{number} 作{facts.purpose}使用。",
        validity=validity, grantor=Party("授权方", facts.owner_name, "（盖章）"), user=user,
    )


def render_text(letter: Letter) -> str:
    env = Environment(loader=FileSystemLoader(_HERE), undefined=StrictUndefined, keep_trailing_newline=True,
                      autoescape=False)
    return env.get_template("letter.txt.j2").render(**letter.__dict__, blank_date=BLANK_DATE)


def to_docx(letter: Letter) -> bytes:
    """The letter as a .docx (A4, SimSun): title, body, validity, then the two signing blocks side by side,
    each with its printed name, a blank area for the seal or signature, and a blank date."""
    from io import BytesIO

    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.8)
    section.top_margin, section.bottom_margin = Cm(3.0), Cm(2.5)
    normal = doc.styles["Normal"]
    normal.font.name = "SimSun"
    normal.font.size = Pt(14)  # 四号
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    normal.paragraph_format.line_spacing = 1.5

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.space_after = Pt(24)
    run = title.add_run(letter.title)
    run.bold = True
    run.font.size = Pt(18)  # 小二
    for text in (letter.body, f"授权时间：{letter.validity}"):
        para = doc.add_paragraph(text)
        para.paragraph_format.first_line_indent = Pt(28)  # two characters
        para.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    doc.add_paragraph()

    table = doc.add_table(rows=3, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for col, party in enumerate((letter.grantor, letter.user)):
        head, space, when = (table.cell(row, col) for row in range(3))
        head.text = f"{party.label}：{party.name.strip()}"  # a person's name is left to their hand
        space.text = party.mark or "（本人签名）"
        when.text = f"日期：{BLANK_DATE}"
    table.rows[1].height = Cm(4)  # room for the seal or the signature
    out = BytesIO()
    doc.save(out)
    return out.getvalue()
