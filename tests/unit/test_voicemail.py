"""Voicemail sync from the spool layout the dialplan writes, idempotent, callers from cdr_csv."""
from __future__ import annotations

import json
import wave
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.cli import main
from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.db.models import Voicemail
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.hotlines import add_hotline
from ivr400.provisioning.voicemail import record_voicemail, sync_voicemail

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
UID = "1795655780.12"


def _wav(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))
    return path


@pytest.fixture
def db(tmp_path: Path):  # noqa: ANN201
    url = f"sqlite:///{tmp_path / 'ivr400.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        add_hotline(s, "4008000001", add_enterprise(s, "北京甲科技有限公司", "010", now=NOW), now=NOW)
        s.commit()
    yield engine, url
    engine.dispose()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    root = tmp_path / "voicemail"
    _wav(root / "4008000001" / f"{UID}.wav", 2.5)
    _wav(root / "4008000001" / "1795655790.20.wav", 0.0)  # header only: nothing said
    (root / "4008000001" / "notes.wav").write_bytes(b"x" * 100)
    (root / "lost+found").mkdir()
    _wav(root / "4009999999" / "1795655799.1.wav", 1.0)  # a hotline of another database
    return root


@pytest.fixture
def cdr(tmp_path: Path) -> Path:
    path = tmp_path / "Master.csv"
    path.write_text(
        '"","13912345678","4008000001","ivr400-inbound","""" <13912345678>","PJSIP/carrier-1","",'
        f'"Record","x","2026-11-26 01:16:33","2026-11-26 01:16:33","2026-11-26 01:16:44",11,11,"ANSWERED",'
        f'"DOCUMENTATION","{UID}",""\n')
    return path


def test_sync_imports_once_with_caller_size_and_duration(db, spool: Path, cdr: Path) -> None:  # noqa: ANN001
    engine, _ = db
    with Session(engine) as s:
        first = sync_voicemail(s, spool, cdr_csv=cdr)
        again = sync_voicemail(s, spool, cdr_csv=cdr)
        row = s.scalar(select(Voicemail).where(Voicemail.uniqueid == UID))
        assert first.added == [UID] and again.added == [] and again.unchanged == 1
        assert row is not None and row.caller == "13912345678" and row.hotline is not None
        assert row.hotline.number == "4008000001"
        assert row.duration_s == 2.5 and row.size == (spool / "4008000001" / f"{UID}.wav").stat().st_size
        assert any("no audio" in i for i in first.ignored) and any("notes.wav" in i for i in first.ignored)
        assert any("lost+found" in i for i in first.ignored)
        assert any("4009999999/ (no such hotline" in i for i in first.ignored)
        assert s.query(Voicemail).count() == 1


def test_a_growing_file_is_refreshed_and_a_blind_hook_never_shrinks_it(db, spool: Path, cdr: Path) -> None:  # noqa: ANN001
    engine, _ = db
    path = spool / "4008000001" / f"{UID}.wav"
    with Session(engine) as s:
        sync_voicemail(s, spool, cdr_csv=cdr)
        _wav(path, 4.0)
        assert sync_voicemail(s, spool, cdr_csv=cdr).updated == [UID]
        # The controller's hook without access to the file: size 0, Asterisk's own path.
        _, created = record_voicemail(s, hotline_number="4008000001", uniqueid=UID, size=0, recorded_at=NOW,
                                      file_path=f"/var/spool/asterisk/ivr400/voicemail/4008000001/{UID}.wav")
        row = s.scalar(select(Voicemail).where(Voicemail.uniqueid == UID))
        assert not created and row.size == path.stat().st_size and row.file_path == str(path)
        assert row.duration_s == 4.0


def test_cli_sync_and_list(db, spool: Path, cdr: Path) -> None:  # noqa: ANN001
    _, url = db
    runner = CliRunner()
    synced = runner.invoke(main, ["--db", url, "voicemail", "sync", "--spool", str(spool), "--cdr-csv", str(cdr),
                                  "--json"])
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.stdout)["added"] == [UID]
    listed = runner.invoke(main, ["--db", url, "voicemail", "list", "--json"])
    rows = json.loads(listed.stdout)
    assert [(r["hotline"], r["caller"], r["uniqueid"]) for r in rows] == [("4008000001", "13912345678", UID)]
    table = runner.invoke(main, ["--db", url, "voicemail", "list", "--hotline", "400-800-0001"])
    assert "13912345678" in table.stdout
