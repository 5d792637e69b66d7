"""`ivr400 import|export destinations|departments|seats`: bulk CSV through the provisioning services.

Good files in every encoding an Excel user produces, each bad value reported at its exact line and column
with nothing written, dry runs that write nothing, and export → import into a fresh database → export
giving the same bytes; on SQLite and on the real PostgreSQL.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from ivr400.cli import main
from ivr400.db.engine import make_engine
from ivr400.db.models import Base
from tests.conftest import _pg_schema_engine

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.4\n"
H1, H2 = "4008000001", "4008000002"
A, B = "北京甲科技有限公司", "上海乙贸易有限公司"

# The source files a user would write (columns in any order, some left out, positions out of order).
DEPARTMENTS_CSV = f"""hotline,key,name,hunt,max_attempts,ringback_tone
{H1},2.1,VIP,round_robin,,
{H1},1,销售部,simultaneous,0,hold
400-800-0001,2,客服部,,3,
{H2},1,Sales,,,
"""

SOURCE_COLUMNS = ("enterprise,number,owner,owner_kind,relationship,status,reason,trunk,evidence_kind,evidence_file,"
                  "issuer,shows_number,shows_owner,owner_on_document,sealed_by_enterprise,signed_by_person,"
                  "evidence_relationship,evidence_valid_from,evidence_valid_until,evidence_long_term")
DESTINATIONS_CSV = SOURCE_COLUMNS + f"""
{A},010-62345678,{A},,,approved,,out,carrier_bill,docs/bill1.png,telecom,yes,yes,,,,,,,
{A},010 6234 5679,张三,person,员工,approved,,,authorization_letter,docs/letter.png,,,,,是,y,员工,2020-01-01,2099/12/31,
{A},01062345679,,,,,,,id_document,docs/id.png,,,,,,,,,,yes
{A},010-62345679,张三,person,,,,,carrier_bill,docs/bill2.png,unicom,true,1,张三,,,,,,
{A},021-61234567,{A},company,,approved,,,carrier_bill,docs/bill3.pdf,telecom,yes,yes,,,,,,,
1,021-61234567,,,,,,,branch_licence,docs/licence.pdf,,,,,,,,,,yes
{A},021-61234567,,,,,,,office_lease,docs/lease.pdf,,,,,,,,2020-01-01,2099-12-31,
{A},13800138000,{A},,,approved,,,carrier_bill,docs/bill4.png,mobile,yes,yes,,,,,,,
{A},010-62345670,{A},,,revoked,号码已退订,,carrier_bill,docs/bill5.png,telecom,yes,yes,,,,,,,
{A},010-62345671,北京乙科技有限公司,company,关联公司,rejected,缺少授权书,,,,,,,,,,,,,
{A},010-62345672,{A},,,pending,,,,,,,,,,,,,,
{B},021-61234568,{B},,,approved,,,carrier_bill,docs/bill6.png,telecom,yes,yes,,,,,,,
{B},021-61234569,{B},,,approved,,,carrier_bill,docs/bill7.png,telecom,yes,yes,,,,,,,
"""

SEATS_CSV = f"""hotline,department,position,destination,ring_timeout
{H1},,2,010-62345679,
{H1},,1,010-62345678,20
{H1},1,,021-61234567,
{H1},1,,138 0013 8000,30
{H1},2.1,1,#1,
{H2},,,021-61234568,
"""

DOCS = {"bill1.png": PNG, "letter.png": PNG, "id.png": PNG, "bill2.png": PNG, "bill3.pdf": PDF,
        "licence.pdf": PDF, "lease.pdf": PDF, "bill4.png": PNG, "bill5.png": PNG, "bill6.png": PNG,
        "bill7.png": PNG, "empty.png": b""}


class Ivr:
    """`ivr400 --db URL …` in-process with its own data directory; `ok=True` asserts exit status 0."""

    def __init__(self, db: str, data_dir: Path) -> None:
        self.db, self.data_dir = db, data_dir
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True, stdin: bytes | None = None) -> Result:
        env = {"IVR400_DATA_DIR": str(self.data_dir), "IVR400_ACTOR": "tester"}
        result = self.runner.invoke(main, ["--db", self.db, *args], input=stdin, env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    def state(self) -> list[tuple[str, list[Any]]]:
        """Every table's rows (by primary key) and every file and directory (`name/`) in the data directory:
        all a command could write."""
        engine = make_engine(self.db)
        try:
            with engine.connect() as conn:
                rows = [(t.name, conn.execute(select(t).order_by(*t.primary_key.columns)).all())
                        for t in Base.metadata.sorted_tables]
        finally:
            engine.dispose()
        files = sorted(str(p.relative_to(self.data_dir)) + ("/" if p.is_dir() else "")
                       for p in self.data_dir.rglob("*"))
        return [*rows, ("files", files)]

    def report(self, *args: str) -> tuple[int, dict[str, Any], str]:
        result = self(*args, "--json", ok=False)
        return result.exit_code, json.loads(result.stdout), result.stderr


@contextmanager
def databases(backend: str, tmp_path: Path) -> Iterator[Callable[[str], Ivr]]:
    """`make(name)`: a CLI on a fresh, empty database of `backend` and a fresh data dir."""
    schemas: list[Iterator[Any]] = []

    def make(name: str) -> Ivr:
        if backend == "sqlite":
            return Ivr(f"sqlite:///{tmp_path / (name + '.db')}", tmp_path / f"data-{name}")
        schemas.append(_pg_schema_engine())  # a private schema, dropped afterwards
        return Ivr(next(schemas[-1]).url.render_as_string(hide_password=False), tmp_path / f"data-{name}")

    try:
        yield make
    finally:
        for gen in schemas:
            next(gen, None)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_ivr(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Ivr]]:
    with databases(request.param, tmp_path) as make:
        yield make


def world(ivr: Ivr, tmp: Path) -> None:
    """What bulk import needs to exist: enterprises, hotlines, carrier policy, a trunk and a tone."""
    ivr("enterprise", "add", A, "--area-code", "010")
    ivr("enterprise", "add", B, "--area-code", "021")
    ivr("hotline", "add", H1, "--enterprise", "1")
    ivr("hotline", "add", H2, "--enterprise", "2", "--max-bound", "1")
    ivr("carrier", "set", "telecom", "--allow-mobile")
    ivr("trunk", "add", "out", "PJSIP/{number}@carrier-out")
    hold = tmp / "hold.wav"
    if not hold.exists():
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", str(hold), "synth", "1", "sine", "440"], check=True)
    ivr("tone", "add", str(hold), "--name", "hold", "--kind", "ringback")


def source_files(folder: Path, encoding: str = "utf-8") -> dict[str, Path]:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    for name, head in DOCS.items():
        (folder / "docs" / name).write_bytes(head + name.encode() if head else b"")
    files = {}
    for kind, text in (("departments", DEPARTMENTS_CSV), ("destinations", DESTINATIONS_CSV), ("seats", SEATS_CSV)):
        files[kind] = folder / f"{kind}.csv"
        files[kind].write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return files


def import_all(ivr: Ivr, files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    reports = {}
    for kind in ("departments", "destinations", "seats"):
        reports[kind] = json.loads(ivr("import", kind, str(files[kind]), "--json").stdout)
    return reports


def export_all(ivr: Ivr, folder: Path, *extra: str) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("departments", "destinations", "seats"):
        ivr("export", kind, str(folder / f"{kind}.csv"), *extra)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def seeded(ivr: Ivr, tmp: Path) -> dict[str, Path]:
    world(ivr, tmp)
    files = source_files(tmp / "in")
    import_all(ivr, files)
    return files


# Good files -------------------------------------------------------------------------------------------
def test_good_files_provision_through_the_services(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    ivr = new_ivr("a")
    world(ivr, tmp_path)
    reports = import_all(ivr, source_files(tmp_path / "in"))
    assert reports["departments"]["created"] == {"departments": 4}
    assert reports["destinations"]["created"] == {"destinations": 9, "evidence": 11, "approved": 6,
                                                  "revoked": 1, "rejected": 1}
    assert reports["seats"]["created"] == {"seats": 6}
    assert all(r["ok"] and r["written"] and r["encoding"] == "utf-8" and not r["errors"] for r in reports.values())

    dests = {d["number"]: d for d in json.loads(ivr("destination", "list", "--json").stdout)}
    assert {n: d["status"] for n, d in dests.items()} == {
        "01062345678": "approved", "01062345679": "approved", "02161234567": "approved", "13800138000": "approved",
        "01062345670": "revoked", "01062345671": "rejected", "01062345672": "pending", "02161234568": "approved",
        "02161234569": "approved"}
    person = json.loads(ivr("destination", "show", "010-62345679", "--json").stdout)
    assert person["owner_kind"] == "person" and person["approved_by"] == "tester"
    assert [e["kind"] for e in person["evidence"]] == ["authorization_letter", "id_document", "carrier_bill"]
    assert person["evidence"][0]["attributes"] == {"sealed_by_enterprise": True, "signed_by_person": True,
                                                   "relationship": "员工"}
    assert person["valid_until"] == "2100-01-01T00:00:00+08:00"  # end of 2099-12-31 in Asia/Shanghai (R7)
    assert [e["action"] for e in person["events"]] == ["register", "approve"]
    revoked = json.loads(ivr("destination", "show", "010-62345670", "--json").stdout)
    assert revoked["reason"] == "号码已退订" and [e["action"] for e in revoked["events"]] == [
        "register", "approve", "revoke"]

    seats = json.loads(ivr("seat", "list", "--json").stdout)
    assert [(s["hotline"], s["department"], s["position"], s["destination"], s["ring_timeout_s"]) for s in seats] == [
        (H1, None, 1, "01062345678", 20), (H1, None, 2, "01062345679", 15),
        (H1, "1", 1, "02161234567", 15), (H1, "1", 2, "13800138000", 30), (H1, "2.1", 1, "01062345678", 15),
        (H2, None, 1, "02161234568", 15)]
    depts = json.loads(ivr("department", "list", H1, "--json").stdout)
    assert [(d["key"], d["name"], d["hunt"], d["max_attempts"], d["ringback_tone"]) for d in depts] == [
        ("1", "销售部", "simultaneous", 0, "hold"), ("2", "客服部", "sequential", 3, None),
        ("2.1", "VIP", "round_robin", 0, None)]


def test_standard_input_is_read_with_paths_relative_to_the_working_directory(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    ivr = new_ivr("a")
    seeded(ivr, tmp_path)
    result = ivr("import", "seats", "-", stdin=f"hotline,destination\n{H1},010-62345672\n".encode(), ok=False)
    assert result.exit_code == 1
    assert "error: line 2: destination: 01062345672 is pending, not on the whitelist" in result.stderr
    cwd = os.getcwd()
    os.chdir(tmp_path / "in")
    try:
        ivr("import", "destinations", "-", stdin=(
            "enterprise,number,owner,evidence_kind,evidence_file\n"
            f"{A},010-62345674,{A},carrier_bill,docs/bill1.png\n").encode())
    finally:
        os.chdir(cwd)
    shown = json.loads(ivr("destination", "show", "010-62345674", "--json").stdout)
    assert shown["status"] == "pending" and shown["evidence"][0]["file"] == "bill1.png"


@pytest.mark.parametrize(("encoding", "option", "reported"), [
    ("utf-8", None, "utf-8"),
    ("utf-8-sig", None, "utf-8-sig"),
    ("gbk", None, "gb18030"),
    ("gb18030", None, "gb18030"),
    ("gbk", "gbk", "gbk"),
])
def test_excel_encodings_are_detected_or_taken_from_the_option(new_ivr, tmp_path: Path, encoding: str,  # noqa: ANN001
                                                               option: str | None, reported: str) -> None:
    reference, ivr = new_ivr("ref"), new_ivr("enc")
    world(reference, tmp_path)
    import_all(reference, source_files(tmp_path / "utf8"))
    world(ivr, tmp_path)
    files = source_files(tmp_path / "enc", encoding)
    if encoding != "utf-8":
        assert files["destinations"].read_bytes() != DESTINATIONS_CSV.replace("\n", "\r\n").encode()
    for kind in ("departments", "destinations", "seats"):
        args = ["import", kind, str(files[kind]), "--json"] + (["--encoding", option] if option else [])
        ascii_only = kind == "seats" and not option  # plain ASCII is valid UTF-8 (a BOM still says UTF-8)
        expected = "utf-8" if ascii_only and reported == "gb18030" else reported
        assert json.loads(ivr(*args).stdout)["encoding"] == expected
    assert export_all(ivr, tmp_path / "out-enc") == export_all(reference, tmp_path / "out-ref")


def test_export_in_gbk_for_excel_reads_back_the_same(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    ivr = new_ivr("a")
    seeded(ivr, tmp_path)
    utf8 = export_all(ivr, tmp_path / "u")
    gbk = export_all(ivr, tmp_path / "g", "--encoding", "gbk")
    bom = export_all(ivr, tmp_path / "b", "--encoding", "utf-8-sig")
    for name in ("departments.csv", "destinations.csv", "seats.csv"):
        assert gbk[name].decode("gbk") == utf8[name].decode()
        assert bom[name] == b"\xef\xbb\xbf" + utf8[name]
    emoji = new_ivr("e")
    emoji("enterprise", "add", "北京😀科技有限公司", "--area-code", "010")
    emoji("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京😀科技有限公司")
    result = emoji("export", "destinations", str(tmp_path / "e.csv"), "--encoding", "gbk", ok=False)
    assert result.exit_code == 1
    assert result.stderr == "error: encoding: '😀' cannot be written in gbk; use utf-8 or gb18030 (line 2)\n"
    assert not (tmp_path / "e.csv").exists()


# Round trip -----------------------------------------------------------------------------------------
def test_export_import_into_an_empty_database_export_gives_the_same_files(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    source = new_ivr("source")
    seeded(source, tmp_path)
    first = export_all(source, tmp_path / "out1")
    copies = {Path(name).name: content for name, content in first.items() if name.startswith("evidence/")}
    assert copies == {name: (tmp_path / "in" / "docs" / name).read_bytes() for name in DOCS if name != "empty.png"}
    lines = first["destinations.csv"].decode().splitlines()
    assert lines[0].startswith("enterprise,number,owner,owner_kind,relationship,status,reason,trunk,evidence_kind")
    assert lines[1].startswith(f"{A},010-62345678,{A},company,,approved,,out,carrier_bill,evidence/")
    assert first["seats.csv"].decode().splitlines()[1:3] == [
        "400-800-0001,,1,010-62345678,20", "400-800-0001,,2,010-62345679,15"]

    target = new_ivr("target")  # a fresh database with its own data directory (evidence store)
    world(target, tmp_path)
    reports = import_all(target, {k: tmp_path / "out1" / f"{k}.csv" for k in ("departments", "destinations", "seats")})
    assert reports["destinations"]["created"]["evidence"] == 11
    # The suspended seat cannot come back (the database binds only whitelisted numbers): none here.
    second = export_all(target, tmp_path / "out2")
    assert second == first
    assert len([p for p in (target.data_dir / "evidence").rglob("*") if p.is_file()]) == 11


def test_a_suspended_seat_is_exported_but_its_import_is_refused(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    ivr = new_ivr("a")
    seeded(ivr, tmp_path)
    ivr("destination", "revoke", "010-62345679", "--reason", "离职")
    ivr("export", "seats", str(tmp_path / "seats.csv"))
    assert "400-800-0001,,2,010-62345679,15" in (tmp_path / "seats.csv").read_text()
    target = new_ivr("b")
    world(target, tmp_path)
    import_all(target, {"departments": tmp_path / "in" / "departments.csv",
                        "destinations": tmp_path / "in" / "destinations.csv",
                        "seats": _write(tmp_path / "no-seats.csv", "hotline,destination\n")})
    target("destination", "revoke", "010-62345679", "--reason", "离职")
    code, report, _ = target.report("import", "seats", str(tmp_path / "seats.csv"))
    assert code == 1
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(3, "destination")]
    assert "010-62345679" not in target("seat", "list").stdout


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# Dry run and all-or-nothing --------------------------------------------------------------------------------
def test_dry_run_checks_everything_and_writes_nothing(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    ivr = new_ivr("a")
    world(ivr, tmp_path)
    files = source_files(tmp_path / "in")
    before = ivr.state()
    dry = {kind: json.loads(ivr("import", kind, str(files[kind]), "--dry-run", "--json").stdout)
           for kind in ("departments", "destinations")}
    assert ivr.state() == before
    assert dry["destinations"]["created"]["evidence"] == 11 and dry["destinations"]["written"] is False
    assert "nothing written" in ivr("import", "departments", str(files["departments"]), "--dry-run").stdout
    assert ivr.state() == before
    real = {kind: json.loads(ivr("import", kind, str(files[kind]), "--json").stdout)
            for kind in ("departments", "destinations")}
    for kind in dry:
        assert {k: v for k, v in dry[kind].items() if k not in ("dry_run", "written")} == {
            k: v for k, v in real[kind].items() if k not in ("dry_run", "written")}
    bad = _write(tmp_path / "bad.csv", f"hotline,destination,ring_timeout\n{H1},010-62345672,15\n{H1},010-62345678,3\n")
    after_real = ivr.state()
    dry_code, dry_report, _ = ivr.report("import", "seats", str(bad), "--dry-run")
    real_code, real_report, _ = ivr.report("import", "seats", str(bad))
    assert dry_code == real_code == 1 and dry_report["errors"] == real_report["errors"]
    assert [(e["line"], e["field"], e["reason"].split(";")[0]) for e in real_report["errors"]] == [
        (2, "destination", "01062345672 is pending, not on the whitelist"),
        (3, "ring_timeout", "must be between 5 and 120 seconds (got 3)")]
    assert ivr.state() == after_real


def test_one_bad_line_writes_nothing_not_even_the_evidence_files(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    ivr = new_ivr("a")
    world(ivr, tmp_path)
    source_files(tmp_path / "in")
    before = ivr.state()
    bad = _write(tmp_path / "in" / "d.csv",
                 "enterprise,number,owner,status,evidence_kind,evidence_file,issuer,shows_number,shows_owner\n"
                 f"{A},010-62345678,{A},approved,carrier_bill,docs/bill1.png,telecom,yes,yes\n"
                 f"{A},010-62345679,{A},approved,carrier_bill,docs/bill2.png,telecom,yes,yes\n"
                 f"{A},010-6234567,{A},approved,carrier_bill,docs/bill3.pdf,telecom,yes,yes\n")
    result = ivr("import", "destinations", str(bad), ok=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: line 4: number: '010-6234567': too short (10 digits); after area code 010 a local number has "
        "8 digits, here 7",
        f"error: file: {bad}: 1 bad line; nothing written"]
    assert ivr.state() == before


def test_every_malformed_line_is_reported_with_the_bad_values_and_nothing_is_written(  # noqa: ANN001
        new_ivr, tmp_path: Path) -> None:
    """Line-structure errors (too many cells, a stray quote, a quote never closed) do not stop the check:
    every bad line is named with its field and reason, the well-formed lines are still checked, and the
    file writes nothing, its evidence files included."""
    ivr = new_ivr("a")
    world(ivr, tmp_path)
    source_files(tmp_path / "in")
    before = ivr.state()
    bad = _write(tmp_path / "in" / "d.csv",
                 "enterprise,number,owner,status,evidence_kind,evidence_file,issuer,shows_number,shows_owner\n"
                 f"{A},010-62345678,{A},approved,carrier_bill,docs/bill1.png,telecom,yes,yes\n"
                 f"{A},010-62345679,{A},approved,carrier_bill,docs/bill2.png,telecom,yes,yes,surplus\n"
                 f"{A},010-6234567,{A},approved,carrier_bill,docs/bill3.pdf,telecom,yes,yes\n"
                 f'{A},010-62345680,"{A}"x,approved,carrier_bill,docs/bill2.png,telecom,yes,yes\n'
                 f"{A},010-62345681,{A},approved,carrier_bill,docs/bill2.png,telecom,yes,yes,,\n"
                 f'{A},010-62345682,"{A},approved,carrier_bill,docs/bill2.png,telecom,yes,yes\n'
                 f"{A},010-62345683,{A},approved,carrier_bill,docs/bill2.png,telecom,yes,yes\n")
    code, report, _ = ivr.report("import", "destinations", str(bad))
    assert code == 1 and report["ok"] is False and report["written"] is False
    assert [(e["line"], e["field"], e["reason"]) for e in report["errors"]] == [
        (3, "file", "10 cells but the header names 9"),
        (4, "number", "'010-6234567': too short (10 digits); after area code 010 a local number has 8 digits, "
                      "here 7"),
        (5, "file", "not CSV: ',' expected after '\"'"),
        (7, "file", "not CSV: unexpected end of data"),  # the open quote swallows the rest of the file
    ]
    assert ivr.state() == before
    result = ivr("import", "destinations", str(bad), "--dry-run", ok=False)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"error: file: {bad}: 4 bad lines; nothing written"
    assert ivr.state() == before


# Bad values: the exact line and column, nothing written -------------------------------------------------
DEST_HEADER = ("enterprise,number,owner,owner_kind,status,reason,trunk,evidence_kind,evidence_file,issuer,"
               "shows_number,shows_owner,evidence_valid_from,evidence_valid_until,evidence_long_term")


def _dest(*cells: str) -> str:
    return DEST_HEADER + "\n" + "\n".join(cells) + "\n"


GOOD = f"{A},010-62345690,{A},,approved,,,carrier_bill,docs/bill1.png,telecom,yes,yes,,,"
BAD_FILES: list[tuple[str, str, list[tuple[int, str]], str]] = [
    ("destinations", _dest(f"北京丙有限公司,010-62345690,{A},,,,,,,,,,,,"), [(2, "enterprise")], "no enterprise"),
    ("destinations", _dest(f",010-62345690,{A},,,,,,,,,,,,"), [(2, "enterprise")], "required"),
    ("destinations", _dest(f"{A},62345690,{A},,,,,,,,,,,,"), [(2, "number")], "area code"),
    ("destinations", _dest(f"{A},4008000001,{A},,,,,,,,,,,,"), [(2, "number")], "cannot be a destination"),
    ("destinations", _dest(f"{A},010-62345678,{A},,,,,,,,,,,,"), [(2, "number")], "already registered"),
    ("destinations", _dest(f"{A},010-62345690, ,,,,,,,,,,,,"), [(2, "owner")], "empty owner name"),
    ("destinations", _dest(f"{A},010-62345690,{A},boss,,,,,,,,,,,"), [(2, "owner_kind")], "not one of company"),
    ("destinations", _dest(f"{A},010-62345690,{A},,ok,,,,,,,,,,"), [(2, "status")], "not one of pending"),
    ("destinations", _dest(f"{A},010-62345690,{A},,approved,,,,,,,,,,"), [(2, "status")], "R3 missing real-name"),
    ("destinations", _dest(f"{A},010-62345690,{A},,approved,因为,,,,,,,,,"), [(2, "reason")], "only a rejected"),
    ("destinations", _dest(f"{A},010-62345690,{A},,rejected,,,,,,,,,,"), [(2, "reason")], "say why"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,nope,,,,,,,,"), [(2, "trunk")], "no trunk 'nope'"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,photo,docs/bill1.png,,,,,,"), [(2, "evidence_kind")],
     "'photo' is not one of carrier_bill"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,carrier_bill,docs/nope.png,,,,,,"), [(2, "evidence_file")],
     "not a readable file"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,carrier_bill,,,,,,,"), [(2, "evidence_file")], "required"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,carrier_bill,../in/docs/bill1.png,,,,,,"),
     [(2, "evidence_file")], "inside it"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,carrier_bill,/etc/hostname,,,,,,"), [(2, "evidence_file")],
     "relative to the CSV"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,carrier_bill,docs/empty.png,,,,,,"), [(2, "evidence_file")],
     "empty file"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,carrier_bill,docs/bill1.png,cmcc,,,,,"), [(2, "issuer")],
     "'cmcc' is not one of"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,carrier_bill,docs/bill1.png,,maybe,,,,"),
     [(2, "shows_number")], "not yes or no"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,authorization_letter,docs/bill1.png,,,,,2026-13-01,"),
     [(2, "evidence_valid_until")], "not a date"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,authorization_letter,docs/bill1.png,,,,2027-01-01,2026-01-01,"),
     [(2, "evidence_valid_until")], "before"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,authorization_letter,docs/bill1.png,,,,,2027-01-01,yes"),
     [(2, "evidence_valid_until")], "not both"),
    ("destinations", _dest(f"{A},010-62345690,{A},,,,,,,telecom,,,,,"), [(2, "evidence_kind")],
     "required when issuer is given"),
    ("destinations", _dest(GOOD, f"{A},010-62345690,北京乙公司,,,,,,,,,,,,"), [(3, "owner")], "differs from"),
    ("destinations", _dest(GOOD, f"{A},010 6234 5690,,,pending,,,,,,,,,,"), [(3, "status")], "differs from"),
    ("destinations", _dest(GOOD, f"{A},010-6234569,{A},,,,,,,,,,,,",
                           f"{A},010-62345691,{A},,,,,photo,docs/bill1.png,,,,,,"),
     [(3, "number"), (4, "evidence_kind")], ""),
    ("destinations", "enterprise,number,owner,colour\n", [(1, "colour")], "unknown column for destinations"),
    ("destinations", "enterprise,number,evidence_kind,number\n", [(1, "number"), (1, "owner")], ""),
    ("destinations", "", [(1, "file")], "the first line must name the columns"),
    ("destinations", f"enterprise,number,owner\n{A},010-62345690,{A},extra\n", [(2, "file")], "4 cells"),
    ("departments", "hotline,key,name\n4005000000,3,X\n", [(2, "hotline")], "400 numbers start with"),
    ("departments", "hotline,key,name\n4008000009,3,X\n", [(2, "hotline")], "no hotline 4008000009"),
    ("departments", f"hotline,key,name\n{H1},12,X\n", [(2, "key")], "not a menu key path"),
    ("departments", f"hotline,key,name\n{H1},*,X\n", [(2, "key")], "not a menu key path"),
    ("departments", f"hotline,key,name\n{H1},1,X\n", [(2, "key")], "already used"),
    ("departments", f"hotline,key,name\n{H1},7.1,X\n", [(2, "key")], "no department at key path '7'"),
    ("departments", f"hotline,key,name\n{H1},3,\n", [(2, "name")], "required"),
    ("departments", f"hotline,key,name,hunt\n{H1},3,X,random\n", [(2, "hunt")], "'random' is not one of"),
    ("departments", f"hotline,key,name,max_attempts\n{H1},3,X,-1\n", [(2, "max_attempts")], "0 (no cap) or more"),
    ("departments", f"hotline,key,name,max_attempts\n{H1},3,X,three\n", [(2, "max_attempts")], "not a whole number"),
    ("departments", f"hotline,key,name,ringback_tone\n{H1},3,X,nope\n", [(2, "ringback_tone")], "no tone named"),
    ("departments", f"hotline,key,name,prompt_tone\n{H1},3,X,nope\n", [(2, "prompt_tone")], "no tone named"),
    ("departments", f"hotline,key,name\n{H1},3,X\n{H1},3,Y\n", [(3, "key")], "already used"),
    ("seats", f"hotline,destination\n{H1},010-62345672\n", [(2, "destination")], "pending, not on the whitelist"),
    ("seats", f"hotline,destination\n{H1},010-62345670\n", [(2, "destination")], "revoked, not on the whitelist"),
    ("seats", f"hotline,destination\n{H1},021-61234568\n", [(2, "destination")], "no destination 02161234568"),
    ("seats", f"hotline,destination\n{H1},\n", [(2, "destination")], "required"),
    ("seats", f"hotline,destination\n{H1},010-62345678\n", [(2, "destination")], "already a seat there"),
    ("seats", f"hotline,destination,ring_timeout\n{H1},010-62345679,3\n", [(2, "ring_timeout")], "between 5 and 120"),
    ("seats", f"hotline,destination,ring_timeout\n{H1},010-62345679,abc\n", [(2, "ring_timeout")], "whole number"),
    ("seats", f"hotline,department,destination\n{H1},7,010-62345679\n", [(2, "department")], "no department"),
    ("seats", f"hotline,position,destination\n{H1},9,010-62345672\n", [(2, "destination")], "pending"),
    ("seats", f"hotline,position,destination\n{H1},9,13800138000\n", [(2, "position")], "between 1 and 3"),
    ("seats", f"hotline,position,destination\n{H1},x,13800138000\n", [(2, "position")], "whole number"),
    ("seats", f"hotline,destination\n{H2},021-61234569\n", [(2, "hotline")], "already has 1 bound numbers (limit 1)"),
    ("seats", "hotline,destination\n4008000009,010-62345679\n", [(2, "hotline")], "no hotline"),
    ("seats", f"hotline,destination\n{H1},#99999999999999999999\n", [(2, "destination")], "no destination #9"),
    ("seats", f"hotline,destination\n{H1},13800138000\n{H1},13800138000\n", [(3, "destination")],
     "already a seat there"),
]


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded SQLite database with its data dir and source files, copied by each bad-value case."""
    root = tmp_path_factory.mktemp("seeded")
    seeded(Ivr(f"sqlite:///{root / 'a.db'}", root / "data-a"), root)
    return root


def check_refused(ivr: Ivr, folder: Path, kind: str, text: str, expected: list[tuple[int, str]], reason: str) -> None:
    """Importing `text` (dry run or not) is refused with exactly `expected` (line, column) and writes nothing."""
    bad = _write(folder / "bad.csv", text)
    before = ivr.state()
    for extra in ([], ["--dry-run"]):
        code, report, stderr = ivr.report("import", kind, str(bad), *extra)
        assert code == 1 and report["ok"] is False and report["written"] is False
        assert [(e["line"], e["field"]) for e in report["errors"]] == expected, report["errors"]
        assert reason in report["errors"][0]["reason"]
        assert stderr.splitlines()[:len(expected)] == [
            f"error: line {e['line']}: {e['field']}: {e['reason']}" for e in report["errors"]]
        assert stderr.splitlines()[-1].endswith("nothing written")
        assert ivr.state() == before


@pytest.mark.parametrize(("kind", "text", "expected", "reason"), BAD_FILES,
                         ids=[f"{k}-{i}-{'+'.join(f for _, f in e)}" for i, (k, _, e, _) in enumerate(BAD_FILES)])
def test_each_bad_value_is_reported_at_its_line_and_column_and_nothing_is_written(
        seeded_sqlite: Path, tmp_path: Path, kind: str, text: str, expected: list[tuple[int, str]],
        reason: str) -> None:
    shutil.copytree(seeded_sqlite, tmp_path / "w")
    ivr = Ivr(f"sqlite:///{tmp_path / 'w' / 'a.db'}", tmp_path / "w" / "data-a")
    check_refused(ivr, tmp_path / "w" / "in", kind, text, expected, reason)


@pytest.mark.postgres
def test_each_bad_value_is_refused_the_same_way_on_postgresql(tmp_path: Path) -> None:
    """The same cases on one seeded PostgreSQL schema: each must leave it exactly as it was."""
    with databases("postgresql", tmp_path) as make:
        ivr = make("a")
        seeded(ivr, tmp_path)
        for kind, text, expected, reason in BAD_FILES:
            check_refused(ivr, tmp_path / "in", kind, text, expected, reason)


def test_a_file_that_is_not_in_the_given_encoding_names_the_line(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    ivr = new_ivr("a")
    seeded(ivr, tmp_path)
    bad = _write(tmp_path / "gbk.csv", f"hotline,key,name\n{H1},3,售后部\n", "gbk")
    code, report, _ = ivr.report("import", "departments", str(bad), "--encoding", "utf-8")
    assert code == 1 and report["errors"] == [{"line": 2, "field": "encoding", "reason": "byte 0xca is not utf-8 text"}]
    code, report, _ = ivr.report("import", "departments", str(bad), "--encoding", "klingon")
    assert report["errors"] == [{"line": 0, "field": "encoding", "reason": "unknown encoding 'klingon'"}]
    assert json.loads(ivr("import", "departments", str(bad), "--json").stdout)["created"] == {"departments": 1}


def test_export_refuses_what_it_cannot_write_faithfully(new_ivr, tmp_path: Path) -> None:  # noqa: ANN001
    ivr = new_ivr("a")
    seeded(ivr, tmp_path)
    result = ivr("export", "destinations", "-", ok=False)
    assert result.exit_code == 1 and result.stderr.startswith("error: file: a destinations export copies evidence")
    result = ivr("export", "destinations", str(tmp_path / "d.csv"), "--files-dir", "../up", ok=False)
    assert result.exit_code == 1 and result.stderr.startswith("error: files-dir:")
    stored_files = sorted(p for p in (ivr.data_dir / "evidence").rglob("*") if p.is_file())
    assert len(stored_files) > 1
    for i, stored in enumerate(stored_files):  # whichever is altered, even the last copied: nothing written
        good = stored.read_bytes()
        stored.write_bytes(good + b"tampered")
        out = tmp_path / f"out{i}"
        out.mkdir()
        result = ivr("export", "destinations", str(out / "d.csv"), ok=False)
        assert result.exit_code == 1 and "does not match its sha256" in result.stderr
        assert list(out.iterdir()) == [], [str(p) for p in out.rglob("*")]
        stored.write_bytes(good)
    ivr("export", "destinations", str(tmp_path / "ok" / "d.csv"))
    assert (tmp_path / "ok" / "evidence").is_dir()
    seats = ivr("export", "seats", "-", "--hotline", H2).stdout_bytes
    assert seats == b"hotline,department,position,destination,ring_timeout\r\n400-800-0002,,1,021-61234568,15\r\n"
