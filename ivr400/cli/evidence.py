"""`ivr400 evidence`: documents behind a destination (实名材料, 授权证明, 分支机构证明)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ivr400.cli.common import app, emit, handle_errors, json_option, parse_date
from ivr400.db.enums import EvidenceKind, Issuer
from ivr400.provisioning.views import evidence_view


@click.group()
def evidence() -> None:
    """Evidence files: add, list."""


@evidence.command("add")
@click.argument("dest_ref", metavar="DEST")
@click.argument("kind", type=click.Choice([k.value for k in EvidenceKind]))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--enterprise", "enterprise_ref", default=None)
@click.option("--issuer", type=click.Choice([i.value for i in Issuer]), default=None,
              help="Carrier that issued a bill/invoice/form/certificate (R3).")
@click.option("--shows-number", is_flag=True, help="The document shows the full number (R3).")
@click.option("--shows-owner", is_flag=True, help="The document shows the number's owner (R3).")
@click.option("--owner-on-document", default=None, help="Owner name as printed, compared with the destination's.")
@click.option("--sealed-by-owner", is_flag=True, help="Letter sealed by the owner company (R4).")
@click.option("--sealed-by-enterprise", is_flag=True, help="Letter sealed by the 400 enterprise (R4, R5).")
@click.option("--signed-by-person", is_flag=True, help="Letter signed by the owner in person (R5).")
@click.option("--relationship", default=None, help="Relationship stated in the letter (R4, R5).")
@click.option("--valid-from", default=None, help="YYYY-MM-DD")
@click.option("--valid-until", default=None, help="YYYY-MM-DD (R7)")
@click.option("--long-term", is_flag=True, help="Valid without end date (长期).")
@json_option
@handle_errors
def add(dest_ref: str, kind: str, file: Path, enterprise_ref: str | None, issuer: str | None, shows_number: bool,
        shows_owner: bool, owner_on_document: str | None, sealed_by_owner: bool, sealed_by_enterprise: bool,
        signed_by_person: bool, relationship: str | None, valid_from: str | None, valid_until: str | None,
        long_term: bool, as_json: bool) -> None:
    """Attach FILE as evidence of KIND to destination DEST; the file is kept by content hash."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.evidence import add_evidence

    attributes: dict[str, Any] = {
        k: v for k, v in {
            "issuer": issuer, "shows_number": shows_number, "shows_owner": shows_owner,
            "owner_name": owner_on_document, "sealed_by_owner": sealed_by_owner,
            "sealed_by_enterprise": sealed_by_enterprise, "signed_by_person": signed_by_person,
            "relationship": relationship,
        }.items() if v not in (None, False)
    }
    a = app()
    start, end = parse_date(valid_from, "valid-from"), parse_date(valid_until, "valid-until")
    with a.session() as s:
        d = lookup.destination(s, dest_ref, enterprise_ref)
        row = add_evidence(s, d, kind, file, store_root=a.data_dir / "evidence", attributes=attributes,
                           valid_from=start, valid_until=end, long_term=long_term, now=a.now())
        emit(evidence_view(row), as_json)


@evidence.command("list")
@click.argument("dest_ref", metavar="DEST")
@click.option("--enterprise", "enterprise_ref", default=None)
@json_option
@handle_errors
def list_(dest_ref: str, enterprise_ref: str | None, as_json: bool) -> None:
    """The evidence attached to destination DEST, oldest first."""
    from ivr400.provisioning import listing  # the driver alone (ivr400.db.lite), not the ORM

    with app().reader() as db:
        rows = listing.evidence(db, listing.destination_id(db, dest_ref, enterprise_ref))
    emit(rows, as_json, ["id", "kind", "file", "media_type", "size", "valid_until", "long_term"])
