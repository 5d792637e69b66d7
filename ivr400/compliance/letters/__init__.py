"""Authorization letters (授权证明) from the seed document's two templates, filled in."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ivr400.db.enums import OwnerKind

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class LetterFacts:
    owner_name: str
    owner_kind: str
    enterprise_name: str
    hotline_display: str
    destination_display: str
    relationship: str | None
    purpose: str = "公司销售热线"
    valid_from: date | None = None
    valid_until: date | None = None
    long_term: bool = False


def _cn_date(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "　　年　　月　　日"


def render_letter(facts: LetterFacts) -> str:
    """Company letter (R4) for a company owner, personal letter (R5) for a person."""
    env = Environment(loader=FileSystemLoader(_HERE), undefined=StrictUndefined, keep_trailing_newline=True,
                      autoescape=False)
    template = "person.txt.j2" if facts.owner_kind == OwnerKind.PERSON else "company.txt.j2"
    if facts.long_term:
        validity = f"{_cn_date(facts.valid_from)}起长期"
    else:
        validity = f"{_cn_date(facts.valid_from)}至{_cn_date(facts.valid_until)}（或长期）"
    return env.get_template(template).render(**facts.__dict__, validity=validity)
