"""`ivr400 seat`: bind whitelisted destinations to a hotline or department in hunt order (坐席)."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.views import seat_view

# The ORM and the provisioning services are imported by the commands that write; `list` reads through the
# database driver alone (ivr400.db.lite),
# and `--help` loads neither.

COLUMNS = ["id", "hotline", "department", "position", "destination", "ring_timeout_s", "weight", "satisfaction",
           "state"]


@click.group()
def seat() -> None:
    """Seats: add, list, move, set, remove."""


@seat.command("add")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.argument("dest_ref", metavar="DEST")
@click.option("--department", "dept_path", default=None, help="Menu key path, e.g. 2 or 2.1 (default: switchboard).")
@click.option("--position", type=int, default=None, help="Hunt position, 1 first (default: last).")
@click.option("--ring-timeout", type=int, default=15, show_default=True, help="Seconds to ring before the next seat.")
@json_option
@handle_errors
def add(hotline_ref: str, dest_ref: str, dept_path: str | None, position: int | None, ring_timeout: int,
        as_json: bool) -> None:
    """Bind DEST to HOTLINE; refused unless DEST is whitelisted for the hotline's enterprise."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.seats import add_seat

    a = app()
    with a.session() as s:
        h = lookup.hotline(s, hotline_ref)
        d = lookup.destination(s, dest_ref, str(h.enterprise_id))
        dept = lookup.department(s, h, dept_path) if dept_path else None
        row = add_seat(s, h, d, department=dept, position=position, ring_timeout=ring_timeout, now=a.now())
        emit(seat_view(row, a.now()), as_json)


@seat.command("list")
@click.argument("hotline_ref", metavar="[HOTLINE]", required=False)
@json_option
@handle_errors
def list_(hotline_ref: str | None, as_json: bool) -> None:
    """Seats (of HOTLINE, else of every hotline) in hunt order; suspended ones (revoked/expired destination)
    are marked; satisfaction is the average survey score (满意度评价, 1-5) with the number of scores."""
    from ivr400.provisioning import listing

    a = app()
    with a.reader() as db:
        hotline = listing.hotline_id(db, hotline_ref) if hotline_ref is not None else None
        rows = listing.seats(db, a.now(), hotline=hotline)
    for view in rows:
        got = view["satisfaction"]
        view["satisfaction"] = (got.to_json() if got else None) if as_json else (str(got) if got else "")
    emit(rows, as_json, COLUMNS)


@seat.command("move")
@click.argument("seat_id", type=int)
@click.option("--position", type=int, default=None)
@click.option("--ring-timeout", type=int, default=None)
@json_option
@handle_errors
def move(seat_id: int, position: int | None, ring_timeout: int | None, as_json: bool) -> None:
    """Change a seat's hunt position or ring timeout."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.seats import move_seat

    a = app()
    with a.session() as s:
        row = move_seat(s, lookup.seat(s, seat_id), position=position, ring_timeout=ring_timeout)
        emit(seat_view(row, a.now()), as_json)


@seat.command("set")
@click.argument("seat_id", type=int)
@click.option("--weight", type=int, default=None,
              help="按比例分配: share of first rings in a weighted group, 0-1000 (0: never first).")
@json_option
@handle_errors
def set_(seat_id: int, weight: int | None, as_json: bool) -> None:
    """Change a seat's weight (按比例分配)."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.seats import set_weight

    a = app()
    with a.session() as s:
        row = lookup.seat(s, seat_id)
        if weight is not None:
            set_weight(s, row, weight)
        emit(seat_view(row, a.now()), as_json)


@seat.command("remove")
@click.argument("seat_id", type=int)
@handle_errors
def remove(seat_id: int) -> None:
    from ivr400.provisioning import lookup
    from ivr400.provisioning.seats import remove_seat

    with app().session() as s:
        remove_seat(s, lookup.seat(s, seat_id))
    click.echo(f"seat #{seat_id} removed")
