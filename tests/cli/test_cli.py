"""The `ivr400` command end to end on an SQLite file: happy paths, --json, and bad input for every command."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr400.cli import main

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def doc(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.write_bytes(PNG + name.encode())
    return path


def base(cli) -> None:  # noqa: ANN001
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    cli("hotline", "add", "400-800-0001", "--enterprise", "北京甲科技有限公司")
    cli("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京甲科技有限公司")
    cli("evidence", "add", "#1", "carrier_bill", str(doc(cli.tmp, "bill.png")), "--issuer", "telecom",
        "--shows-number", "--shows-owner")



def test_provision_approve_bind_and_show_as_json(cli) -> None:  # noqa: ANN001
    base(cli)
    check = cli("whitelist", "check", "#1", "--json")
    assert json.loads(check.output)["ok"] is True
    cli("destination", "approve", "#1")
    cli("department", "add", "4008000001", "1", "销售部")
    cli("seat", "add", "4008000001", "010-62345678")
    cli("seat", "add", "4008000001", "01062345678", "--department", "1", "--ring-timeout", "20")
    seats = json.loads(cli("seat", "list", "--json").output)
    assert [(s["department"], s["position"], s["ring_timeout_s"], s["state"]) for s in seats] == [
        (None, 1, 15, "active"), ("1", 1, 20, "active")]
    shown = json.loads(cli("destination", "show", "010 6234 5678", "--json").output)
    assert shown["status"] == "approved" and shown["approved_by"] == "tester"
    assert [e["action"] for e in shown["events"]] == ["register", "approve"]
    assert shown["evidence"][0]["media_type"] == "image/png"
    for group in ("enterprise", "hotline", "destination"):
        assert json.loads(cli(group, "list", "--json").output)
    assert json.loads(cli("hotline", "show", "4008000001", "--json").output)["routable"] == 1


def test_approval_refusal_lists_everything_missing_and_is_audited(cli) -> None:  # noqa: ANN001
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    cli("destination", "add", "13800138000", "--enterprise", "1", "--owner", "张三", "--owner-kind", "person")
    check = cli("whitelist", "check", "13800138000", ok=False)
    assert check.exit_code == 2 and "[missing] R1" in check.output and "[missing] R5" in check.output
    result = cli("destination", "approve", "13800138000", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: destination: cannot approve 13800138000")
    assert "R1" in result.stderr and "R3" in result.stderr and "R5" in result.stderr
    shown = json.loads(cli("destination", "show", "#1", "--json").output)
    assert shown["status"] == "pending"
    assert [e["action"] for e in shown["events"]] == ["register", "approve_refused"]


def test_revoke_suspends_seats_without_deleting_them(cli) -> None:  # noqa: ANN001
    base(cli)
    cli("destination", "approve", "#1")
    cli("seat", "add", "4008000001", "#1")
    cli("destination", "revoke", "#1", "--reason", "号码已退订")
    seats = json.loads(cli("seat", "list", "--json").output)
    assert seats[0]["state"] == "suspended (revoked)"
    assert json.loads(cli("hotline", "show", "4008000001", "--json").output)["routable"] == 0
    assert cli("seat", "add", "4008000001", "#1", "--department", "1", ok=False).exit_code == 1


def test_letter_is_filled_in_from_the_seed_template(cli) -> None:  # noqa: ANN001
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    cli("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京乙科技有限公司",
        "--relationship", "关联公司")
    cli("destination", "add", "010-62345679", "--enterprise", "1", "--owner", "张三", "--owner-kind", "person",
        "--relationship", "员工")
    company = cli("letter", "#1").output
    assert "400电话绑定公司电话授权证明" in company
    assert "北京乙科技有限公司与北京甲科技有限公司为关联公司" in company and "400-800-0001" in company
    assert "010-62345678" in company
    person = cli("letter", "#2").output
    assert "400电话绑定个人电话授权证明" in person and "张三是北京甲科技有限公司员工" in person


def test_letter_uses_the_recorded_relationship_fills_the_validity_and_writes_a_docx(cli) -> None:  # noqa: ANN001
    from docx import Document

    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    cli("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京乙科技有限公司",
        "--relationship", "全资子公司")
    cli("destination", "add", "010-62345679", "--enterprise", "1", "--owner", "北京丙科技有限公司")
    text = cli("letter", "#1", "--from", "2026-06-01", "--to", "2027-12-31").output
    assert "北京乙科技有限公司与北京甲科技有限公司为全资子公司" in text and "关联公司" not in text
    assert "授权时间：2026年6月1日至2027年12月31日\n" in text
    # Nothing recorded: no guess, the operator says it.
    missing = cli("letter", "#2", ok=False)
    assert missing.exit_code == 1 and missing.stderr.startswith("error: relationship: ")
    assert "为母公司" in cli("letter", "#2", "--relationship", "母公司", "--long-term").output
    out = cli.tmp / "letter.docx"
    assert cli("letter", "#1", "--long-term", "--output", str(out)).output == f"wrote {out}\n"
    doc = Document(str(out))
    body = [p.text for p in doc.paragraphs if p.text.strip()]
    assert body[0] == "400电话绑定公司电话授权证明" and "为全资子公司" in body[1]
    assert body[2] == "授权时间：　　年　　月　　日起长期"
    assert [c.text for c in doc.tables[0].rows[1].cells] == ["（盖章）", "（盖章）"]


def test_no_letter_for_a_destination_the_enterprise_owns(cli) -> None:  # noqa: ANN001
    cli("enterprise", "add", "北京示例科技有限公司", "--area-code", "010")
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    cli("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京示例科技有限公司")
    out = cli.tmp / "letter.docx"
    result = cli("letter", "#1", "--output", str(out), ok=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == ("error: destination: 010-62345678 is owned by 北京示例科技有限公司 itself: "
                             "no authorization letter is needed (R2 holds)\n")
    assert not out.exists()


def test_letter_refuses_bad_outputs_a_past_end_and_an_empty_purpose(cli) -> None:  # noqa: ANN001
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    cli("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京乙科技有限公司",
        "--relationship", "关联公司")
    (cli.tmp / "FILE").write_text("x")
    (cli.tmp / "d.txt").mkdir()
    cases = [
        (["--output", "/proc/a.txt"], "output: cannot write /proc/a.txt"),
        (["--output", str(cli.tmp)], "is a directory"),
        (["--output", str(cli.tmp / "d.txt")], "is a directory"),
        (["--output", str(cli.tmp / "FILE" / "a.txt")], "is not a directory"),
        (["--output", str(cli.tmp / "missing" / "a.txt")], "does not exist"),
        (["--to", "2020-01-01"], "to: 2020-01-01 is in the past"),
        (["--purpose", " "], "purpose: must not be empty"),
    ]
    for extra, message in cases:
        result = cli("letter", "#1", *extra, ok=False)
        assert result.exit_code == 1, (extra, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr, (extra, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (cli.tmp / "missing").exists()


# Bad input: every command refuses with `error: FIELD: reason`, exit 1, and writes nothing. ---------
BAD_INPUT = [
    (["enterprise", "add", "", "--area-code", "010"], "name"),
    (["enterprise", "add", "X公司", "--area-code", "099"], "area-code"),
    (["enterprise", "add", "X公司", "--area-code", "010", "--timezone", "Mars/Olympus"], "timezone"),
    (["enterprise", "add", "X公司", "--area-code", "010", "--timezone", "localtime"], "timezone"),
    (["enterprise", "add", "X公司", "--area-code", "010", "--timezone", "Factory"], "timezone"),
    (["enterprise", "add", "X公司", "--area-code", "010", "--timezone", "posixrules"], "timezone"),
    (["enterprise", "add", "北京甲科技有限公司", "--area-code", "010"], "name"),
    (["enterprise", "show", "nobody"], "enterprise"),
    (["hotline", "add", "4005000000", "--enterprise", "1"], "number"),
    (["hotline", "add", "40080000011", "--enterprise", "1"], "number"),
    (["hotline", "add", "4008000001", "--enterprise", "1"], "number"),
    (["hotline", "add", "4008000002", "--enterprise", "9"], "enterprise"),
    (["hotline", "add", "4008000002", "--enterprise", "1", "--max-bound", "0"], "max-bound"),
    (["hotline", "add", "4008000002", "--enterprise", "1", "--hunt", "random"], "hunt"),
    (["hotline", "show", "4008000009"], "hotline"),
    (["hotline", "set", "4008000001", "--max-bound", "0"], "max-bound"),
    (["hotline", "set", "4008000001", "--ringback-tone", "nope"], "ringback-tone"),
    (["destination", "add", "62345678", "--enterprise", "1", "--owner", "A"], "number"),
    (["destination", "add", "4008000001", "--enterprise", "1", "--owner", "A"], "number"),
    (["destination", "add", "010-62345678", "--enterprise", "1", "--owner", "A"], "number"),
    (["destination", "add", "010-62345670", "--enterprise", "1", "--owner", " "], "owner"),
    (["destination", "show", "#99"], "destination"),
    (["destination", "show", "#99999999999999999999"], "destination"),
    (["destination", "approve", "#99"], "destination"),
    (["destination", "reject", "#1", "--reason", " "], "reason"),
    (["destination", "revoke", "#1", "--reason", "x"], "destination"),
    (["evidence", "add", "#1", "carrier_bill", "/nonexistent.png"], "file"),
    (["evidence", "add", "#1", "invoice", "EMPTY"], "file"),
    (["evidence", "add", "#1", "authorization_letter", "DOC", "--valid-until", "2026-13-01"], "valid-until"),
    (["evidence", "add", "#1", "authorization_letter", "DOC", "--valid-until", "2027-01-01", "--long-term"],
     "valid-until"),
    (["evidence", "add", "#1", "authorization_letter", "DOC", "--valid-from", "2027-01-01", "--valid-until",
      "2026-01-01"], "valid-until"),
    (["whitelist", "expiring", "--days", "-1"], "days"),
    (["seat", "add", "4008000001", "#1"], "destination"),
    (["seat", "add", "4008000001", "#1", "--ring-timeout", "3"], "ring-timeout"),
    (["seat", "add", "4008000001", "#1", "--department", "7"], "department"),
    (["seat", "move", "99", "--position", "1"], "seat"),
    (["seat", "remove", "99"], "seat"),
    (["department", "add", "4008000001", "*", "X"], "key"),
    (["department", "add", "4008000001", "12", "X"], "key"),
    (["department", "add", "4008000001", "2", " "], "name"),
    (["department", "add", "4008000001", "2", "X", "--parent", "5"], "parent"),
    (["tone", "add", "NOTAUDIO", "--name", "bad"], "file"),
    (["tone", "add", "DOC", "--name", "Bad Name!"], "name"),
    (["letter", "#99"], "destination"),
    (["letter", "#1"], "destination"),  # owned by the enterprise itself: R2 holds, no letter
    (["letter", "#1", "--from", "2026-13-01"], "from"),
    (["letter", "#1", "--output", "letter.pdf"], "output"),
    (["carrier", "set", "foo", "--allow-mobile"], "carrier"),
    (["trunk", "add", "t1", "PJSIP/x"], "template"),
    (["trunk", "add", "t1", "PJSIP/{number}@a,b"], "template"),
    (["trunk", "use", "nope", "--hotline", "4008000001"], "trunk"),
]


@pytest.mark.parametrize(("args", "field"), BAD_INPUT, ids=[" ".join(a[:2]) + f"-{f}-{i}" for i,
                                                            (a, f) in enumerate(BAD_INPUT)])
def test_bad_input_is_refused_with_the_field_and_nothing_is_written(cli, args: list[str], field: str) -> None:  # noqa: ANN001
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    cli("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京甲科技有限公司")
    (cli.tmp / "EMPTY").write_bytes(b"")
    (cli.tmp / "NOTAUDIO").write_text("this is not audio\n")
    shutil.copy(doc(cli.tmp, "x.png"), cli.tmp / "DOC")
    args = [str(cli.tmp / a) if a in {"EMPTY", "NOTAUDIO", "DOC"} else a for a in args]
    before = cli.snapshot()
    result = cli(*args, ok=False)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {field}: "), result.stderr
    assert "Traceback" not in result.stderr
    assert cli.snapshot() == before


def test_database_url_errors_are_clear(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--db", "mysql://x/y", "enterprise", "list"])
    assert result.exit_code == 1 and result.stderr.startswith("error: database.url: unsupported backend 'mysql'")


def test_demo_populates_the_default_sqlite_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR400_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("IVR400_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["demo", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.output)
    assert (tmp_path / "ivr400.db").exists()
    assert len(report["routable_now"]) == 6
    assert "13800138000" in report["refused"]
    again = CliRunner().invoke(main, ["demo"])
    assert again.exit_code == 1 and "already exists" in again.stderr


def _sox(*args: str) -> None:
    import subprocess

    subprocess.run(["sox", "-n", *args], check=True, capture_output=True)


@pytest.mark.parametrize("ext", ["wav", "mp3"])
def test_tone_add_converts_to_8khz_mono_and_can_be_used_by_a_hotline(cli, ext: str) -> None:  # noqa: ANN001
    import wave

    src = cli.tmp / f"greeting.{ext}"
    _sox("-r", "44100", "-c", "2", str(src), "synth", "1.5", "sine", "440")
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    tone = json.loads(cli("tone", "add", str(src), "--name", "greeting", "--kind", "welcome", "--json").output)
    assert tone["file"] == f"greeting.{ext}" and 1.3 < tone["duration_s"] < 1.7
    stored = next((cli.tmp / "data" / "tones").glob("*.wav"))
    with wave.open(str(stored)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    cli("hotline", "set", "4008000001", "--welcome-tone", "greeting")
    assert json.loads(cli("hotline", "show", "4008000001", "--json").output)["welcome_tone"] == "greeting"


def test_tone_review_on_the_command_line(cli) -> None:  # noqa: ANN001
    """Root's `tone add` approves at once; `--pending` waits for review; approve and reject are audited."""
    src = cli.tmp / "rb.wav"
    _sox("-r", "8000", "-c", "1", str(src), "synth", "1", "sine", "440")
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    root = json.loads(cli("tone", "add", str(src), "--name", "root-rb", "--enterprise", "1", "--json").output)
    assert root["status"] == "approved" and root["reviewed_by"]
    waiting = json.loads(cli("tone", "add", str(src), "--name", "later", "--enterprise", "1", "--pending",
                             "--json").output)
    assert waiting["status"] == "pending" and waiting["reviewed_by"] is None
    bad = cli("tone", "reject", "later", "--reason", "  ", ok=False)
    assert bad.exit_code == 1 and bad.stderr.startswith("error: reason: ")
    assert cli("tone", "approve", "nosuch", ok=False).stderr.startswith("error: name: no tone named 'nosuch'")
    rejected = json.loads(cli("tone", "reject", "later", "--reason", "彩铃未包含企业注册名称", "--json").output)
    assert rejected["status"] == "rejected" and rejected["status_reason"] == "彩铃未包含企业注册名称"
    assert json.loads(cli("tone", "approve", "later", "--json").output)["status"] == "approved"
    # The same name for the shared tone: which one must be said.
    cli("tone", "add", str(src), "--name", "later", "--pending")
    ambiguous = cli("tone", "approve", "later", ok=False)
    assert ambiguous.stderr.startswith("error: enterprise: 2 tones are named 'later'")
    assert json.loads(cli("tone", "approve", "later", "--enterprise", "-", "--json").output)["enterprise_id"] is None
    from sqlalchemy import create_engine, select

    from ivr400.db.models import WhitelistEvent
    engine = create_engine(cli.db)
    with engine.connect() as conn:
        actions = conn.execute(select(WhitelistEvent.action).where(WhitelistEvent.action.like("tone_%"))
                               .order_by(WhitelistEvent.id)).scalars().all()
    engine.dispose()
    assert actions == ["tone_add", "tone_approve", "tone_add", "tone_reject", "tone_approve", "tone_add",
                       "tone_approve"]


def test_tone_add_refuses_a_tone_longer_than_allowed(cli) -> None:  # noqa: ANN001
    src = cli.tmp / "long.wav"
    _sox("-r", "8000", "-c", "1", str(src), "synth", "61", "sine", "440")
    result = cli("tone", "add", str(src), "--name", "long", "--kind", "welcome", ok=False)
    assert result.exit_code == 1 and result.stderr.startswith("error: file: ") and "longer" in result.stderr
    assert json.loads(cli("tone", "list", "--json").output) == []


def test_a_file_that_is_not_a_database_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite\n" * 100)
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{garbage}", "hotline", "list"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: database: cannot open (file is not a database)"), result.stderr


def test_a_config_file_that_is_not_utf8_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_bytes(b"\xff\xfe[ami]\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "config", "show"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: config: {cfg}: not UTF-8"), result.stderr


def test_deploy_refuses_an_agi_url_with_port_0(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("IVR400_CONTROLLER_PORT", "0")
    result = cli("deploy", "--dry-run", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: controller.agi_url: "), result.stderr
    assert "port 0 is only for serve; set controller.agi_url" in result.stderr
    assert "agi://127.0.0.1:0" not in result.output


@pytest.mark.parametrize("actor", ["mallory\n2026-01-01 00:00  approve  admin", "a\rb", "esc\x1b[2Jape", "x" * 101])
def test_an_actor_with_a_line_break_or_control_character_is_refused(cli, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                                                      actor: str) -> None:
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    before = cli.snapshot()
    monkeypatch.setenv("IVR400_ACTOR", actor)
    result = cli("destination", "add", "13800138000", "--enterprise", "1", "--owner", "张三",
                 "--owner-kind", "person", ok=False)
    assert result.exit_code == 1 and result.stderr.startswith("error: actor: $IVR400_ACTOR "), result.stderr
    assert cli.snapshot() == before
    monkeypatch.setenv("IVR400_ACTOR", "王 五 (web)")
    cli("destination", "add", "13800138000", "--enterprise", "1", "--owner", "张三", "--owner-kind", "person")
