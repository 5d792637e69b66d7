"""Deploy logic against a temp directory and a fake AMI: atomicity, reload-only-what-changed, rollback,
the CDR mapping includes, and the target built from settings (never from a lab)."""
from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr400.config import Settings
from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.deploy import asterisk as d
from ivr400.pbx.asterisk.ami import AmiError, CommandFailed
from ivr400.render.asterisk import RenderedConfig

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)

EXT_V1 = """; generated
[ivr400-inbound]
exten => 4008000001,1,Goto(ivr400-h-4008000001,s,1)
exten => _X.,1,Hangup(1)

[ivr400-h-4008000001]
exten => s,1,Progress()
 same => n,Dial(PJSIP/pstn/sip:01062345678@127.0.0.1:5081,15)
exten => failed,1,Hangup()
"""
EXT_V2 = EXT_V1.replace("5081", "5082") + """
[ivr400-h-4008000002]
exten => s,1,Hangup()
"""
MOH = """; generated
[ivr400-default]
mode = files
directory = /var/lib/asterisk/moh/ivr400/ivr400-default
"""
PJSIP = "; generated, no objects\n"
#: `cdr show status` of Asterisk 22 with cdr_custom, cdr_manager and cdr_csv loaded (the lab's, recorded).
CDR_STATUS = """
Call Detail Record (CDR) settings
----------------------------------
  Logging:                    Enabled
  Mode:                       Simple

* Registered Backends
  -------------------
    CDR File custom bac
    cdr_manager
    csv
"""
CDR_FILES = ["ivr400/cdr_custom.conf", "ivr400/cdr_manager.conf"]
ALL_RELOADS = ["dialplan reload", "moh reload", "module reload res_pjsip.so", "module reload cdr_custom.so",
               "module reload cdr_manager.so"]


def rendered(tmp: Path, ext: str = EXT_V1, moh: str = MOH, pjsip: str = PJSIP,
             sounds: dict[str, bytes] | None = None) -> RenderedConfig:
    files = {"ivr400/extensions.conf": ext, "ivr400/musiconhold.conf": moh, "ivr400/pjsip.conf": pjsip}
    src = tmp / "sources"
    src.mkdir(exist_ok=True)
    sound_paths = {}
    if sounds is None:
        sounds = {"sounds/ivr400/ivr400-welcome.wav": b"RIFF-welcome",
                  "moh/ivr400/ivr400-default/ring.wav": b"RIFF-ring"}
    for target, data in sounds.items():
        path = src / target.replace("/", "_")
        path.write_bytes(data)
        sound_paths[target] = path
    contexts = list(d.contexts_and_extensions(ext))
    return RenderedConfig(files=files, sounds=sound_paths, contexts=contexts,
                          fingerprints={n: hashlib.sha256(t.encode()).hexdigest() for n, t in files.items()})


class FakeAmi:
    """Loads the include files from disk on reload, like Asterisk; can be told to fail."""

    def __init__(self, config_dir: Path, *, fail_reload: dict[str, int] | None = None,
                 drop_context: str | None = None, cdr_status: str = CDR_STATUS) -> None:
        self.cdr_status = cdr_status
        self.config_dir = config_dir
        self.fail_reload = dict(fail_reload or {})
        self.drop_context = drop_context
        self.dialplan: dict[str, list[str]] = {}
        self.moh: set[str] = set()
        self.reloads: list[str] = []
        self.sent: list[str] = []
        #: Asterisk's database, "family/key" -> value, and every write in the order received.
        self.astdb: dict[str, str] = {}
        self.db_log: list[tuple[str, ...]] = []

    def db_write(self, family: str, puts, deletes=(), *, clear: bool = False, window: int = 256,  # noqa: ANN001
                 timeout: float | None = None) -> int:
        if clear:
            self.db_log.append(("deltree", family))
            self.astdb = {k: v for k, v in self.astdb.items() if not k.startswith(family + "/")}
        for key in deletes:
            self.db_log.append(("del", key))
            self.astdb.pop(f"{family}/{key}", None)
        for key, value in puts:
            self.db_log.append(("put", key))
            self.astdb[f"{family}/{key}"] = value
        return int(clear) + len(deletes) + len(puts)

    def reload(self, cmd: str, timeout: float | None = None) -> str:
        self.reloads.append(cmd)
        if self.fail_reload.get(cmd, 0) > 0:
            self.fail_reload[cmd] -= 1
            raise CommandFailed(cmd, "Unable to reload: simulated")
        if cmd == "dialplan reload":
            text = (self.config_dir / "ivr400/extensions.conf").read_text()
            self.dialplan = d.contexts_and_extensions(text)
            if self.drop_context:
                self.dialplan.pop(self.drop_context, None)
                self.drop_context = None  # one-shot: the rollback reload works
            return "Dialplan reloaded."
        if cmd == "moh reload":
            text = (self.config_dir / "ivr400/musiconhold.conf").read_text()
            self.moh = {name for name, _ in d.sections(text)}
            return ""
        return f"Module '{cmd.split()[-1]}' reloaded successfully."

    def command(self, cmd: str, timeout: float | None = None) -> str:
        self.sent.append(cmd)
        if cmd.startswith("dialplan show "):
            ctx = cmd.split()[-1]
            if ctx not in self.dialplan:
                raise CommandFailed(cmd, f"There is no existence of '{ctx}' context")
            return "\n".join(f"  '{e}' =>   1. NoOp()" for e in self.dialplan[ctx])
        if cmd == "moh show classes":
            return "\n".join(f"Class: {c}\n\tMode: files" for c in sorted(self.moh))
        if cmd == "cdr show status":
            return self.cdr_status
        if cmd.startswith("database show "):  # Asterisk's format: "%-50s: %-25s" per key, then a count
            family = cmd.split()[-1]
            rows = [(k, v) for k, v in sorted(self.astdb.items()) if k.startswith(family + "/")]
            return "".join(f"{'/' + k:<50}: {v:<25}\n" for k, v in rows) + f"{len(rows)} results found.\n"
        if cmd.startswith("database get "):
            _, _, family, key = cmd.split()
            if f"{family}/{key}" not in self.astdb:
                raise CommandFailed(cmd, "Database entry not found.")
            return f"Value: {self.astdb[family + '/' + key]}\n"
        raise CommandFailed(cmd, f"No such command '{cmd}'")


@pytest.fixture
def target(tmp_path: Path) -> d.DeployTarget:
    root = tmp_path / "root"
    etc = root / "etc" / "asterisk"
    etc.mkdir(parents=True)
    (etc / "asterisk.conf").write_text("[directories]\nastetcdir => /etc/asterisk\nastdatadir => /usr/share/asterisk\n")
    for asterisks_own in ("usr/share/asterisk", "var/lib/asterisk"):  # an installed Asterisk has these
        (root / asterisks_own).mkdir(parents=True)
    return d.DeployTarget.from_settings(Settings.load(environ={"IVR400_ASTERISK_ROOT": str(root)}))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".deploy.lock" not in p.name}


def test_target_maps_sounds_to_astdatadir_and_moh_to_var_lib(target: d.DeployTarget) -> None:
    root = target.root
    assert target.config_dir == root / "etc/asterisk"
    assert target.sounds_dir == root / "usr/share/asterisk/sounds"  # astdatadir from the tree's asterisk.conf
    assert target.voicemail_dir == root / "var/spool/asterisk/ivr400/voicemail"
    assert target.sound_path("sounds/ivr400/x.wav") == root / "usr/share/asterisk/sounds/ivr400/x.wav"
    assert target.sound_path("moh/ivr400/c/x.wav") == root / "var/lib/asterisk/moh/ivr400/c/x.wav"
    assert target.ami is None  # only what the caller passes
    with pytest.raises(d.DeployError, match="sound"):
        target.sound_path("sounds/../../etc/passwd")
    with pytest.raises(d.DeployError, match="sound"):
        target.sound_path("/etc/passwd")


def test_target_from_explicit_settings_on_a_plain_host(tmp_path: Path) -> None:
    """Asterisk on this host: each path as configured, nothing guessed from the paths' shape."""
    etc = tmp_path / "r" / "etc" / "asterisk"
    etc.mkdir(parents=True)
    s = Settings.load(environ={"IVR400_ASTERISK_CONFIG_DIR": str(etc),
                               "IVR400_ASTERISK_SPOOL_DIR": str(tmp_path / "sp")})
    t = d.DeployTarget.from_settings(s, ami=s.ami)
    assert t.root == Path("/") and t.config_dir == etc and t.spool_dir == tmp_path / "sp"
    assert t.sounds_dir == Path("/var/lib/asterisk/sounds")  # no asterisk.conf: Asterisk's own default
    assert t.sound_path("moh/ivr400/c/x.wav") == Path("/var/lib/asterisk/moh/ivr400/c/x.wav")
    assert t.ami == s.ami


def test_first_deploy_writes_everything_reloads_and_verifies(tmp_path: Path, target: d.DeployTarget) -> None:
    ami = FakeAmi(target.config_dir)
    report = d.deploy(rendered(tmp_path), target, ami=ami)
    etc = target.config_dir
    assert (etc / "ivr400/extensions.conf").read_text() == EXT_V1
    assert (etc / "ivr400/musiconhold.conf").read_text() == MOH
    assert (target.root / "usr/share/asterisk/sounds/ivr400/ivr400-welcome.wav").read_bytes() == b"RIFF-welcome"
    assert (target.root / "var/lib/asterisk/moh/ivr400/ivr400-default/ring.wav").read_bytes() == b"RIFF-ring"
    assert ami.reloads == ALL_RELOADS
    assert report.reloaded == ami.reloads
    assert report.contexts_verified == 2 and report.extensions_verified == 4 and report.moh_classes_verified == 1
    assert report.cdr_backends_verified == 2
    assert d.cdr_include_files()["ivr400/cdr_custom.conf"] == (etc / "ivr400/cdr_custom.conf").read_text()
    assert {"dialplan show ivr400-inbound", "dialplan show ivr400-h-4008000001"} <= set(ami.sent)
    assert not report.rolled_back
    # No temp files left behind anywhere.
    assert not list(target.root.rglob("*ivr400-tmp*"))


def test_second_deploy_of_the_same_config_reloads_nothing(tmp_path: Path, target: d.DeployTarget) -> None:
    ami = FakeAmi(target.config_dir)
    d.deploy(rendered(tmp_path), target, ami=ami)
    ami.reloads.clear()
    report = d.deploy(rendered(tmp_path), target, ami=ami)
    assert report.files_changed == [] and report.sounds_installed == []
    assert ami.reloads == []
    assert report.contexts_verified == 2  # still verified


def test_only_the_changed_file_is_reloaded_and_the_old_one_kept(tmp_path: Path, target: d.DeployTarget) -> None:
    ami = FakeAmi(target.config_dir)
    d.deploy(rendered(tmp_path), target, ami=ami)
    ami.reloads.clear()
    report = d.deploy(rendered(tmp_path, ext=EXT_V2), target, ami=ami)
    assert report.files_changed == ["ivr400/extensions.conf"]
    assert ami.reloads == ["dialplan reload"]
    assert (target.backup_dir / "extensions.conf").read_text() == EXT_V1
    assert not (target.backup_dir / "musiconhold.conf").exists()
    assert report.contexts_verified == 3


def test_a_comment_only_change_is_written_but_not_reloaded(tmp_path: Path, target: d.DeployTarget) -> None:
    ami = FakeAmi(target.config_dir)
    d.deploy(rendered(tmp_path), target, ami=ami)
    ami.reloads.clear()
    report = d.deploy(rendered(tmp_path, pjsip="; generated, trunk seat-5081 gone\n",
                               ext=EXT_V1.replace("; generated", "; generated again")), target, ami=ami)
    assert sorted(report.files_changed) == ["ivr400/extensions.conf", "ivr400/pjsip.conf"]
    assert sorted(report.comment_only) == ["ivr400/extensions.conf", "ivr400/pjsip.conf"]
    assert ami.reloads == []
    assert (target.config_dir / "ivr400/pjsip.conf").read_text() == "; generated, trunk seat-5081 gone\n"


def test_a_changed_ringback_file_reloads_moh(tmp_path: Path, target: d.DeployTarget) -> None:
    ami = FakeAmi(target.config_dir)
    d.deploy(rendered(tmp_path), target, ami=ami)
    ami.reloads.clear()
    report = d.deploy(rendered(tmp_path, sounds={"sounds/ivr400/ivr400-welcome.wav": b"RIFF-welcome",
                                                 "moh/ivr400/ivr400-default/ring.wav": b"RIFF-ring-2"}),
                      target, ami=ami)
    assert report.files_changed == [] and report.sounds_installed == ["moh/ivr400/ivr400-default/ring.wav"]
    assert ami.reloads == ["moh reload"]


def test_dry_run_writes_nothing_and_needs_no_ami(tmp_path: Path, target: d.DeployTarget) -> None:
    before = snapshot(target.root)

    def no_ami() -> FakeAmi:
        raise AssertionError("dry run must not connect")

    report = d.deploy(rendered(tmp_path), target, ami=no_ami, dry_run=True)
    assert report.dry_run and len(report.files_changed) == 5
    assert report.reloaded == ALL_RELOADS
    assert snapshot(target.root) == before


def test_failed_reload_restores_the_previous_files_and_reloads_them(tmp_path: Path, target: d.DeployTarget) -> None:
    ami = FakeAmi(target.config_dir)
    d.deploy(rendered(tmp_path), target, ami=ami)
    before = snapshot(target.root)
    ami.fail_reload = {"dialplan reload": 1}
    ami.reloads.clear()
    with pytest.raises(d.DeployError) as info:
        d.deploy(rendered(tmp_path, ext=EXT_V2, sounds={"sounds/ivr400/new.wav": b"RIFF-new"}), target, ami=ami)
    err = info.value
    assert err.field == "reload" and "dialplan reload" in err.reason and "previous configuration restored" in err.reason
    assert err.report is not None and err.report.rolled_back
    assert snapshot(target.root) == before  # byte for byte, the new sound removed again
    assert ami.reloads == ["dialplan reload", "dialplan reload"]  # failed, then the restored files
    assert "ivr400-h-4008000002" not in ami.dialplan


def test_failed_verification_rolls_back(tmp_path: Path, target: d.DeployTarget) -> None:
    ami = FakeAmi(target.config_dir)
    d.deploy(rendered(tmp_path), target, ami=ami)
    before = snapshot(target.root)
    ami.drop_context = "ivr400-h-4008000002"
    with pytest.raises(d.DeployError) as info:
        d.deploy(rendered(tmp_path, ext=EXT_V2), target, ami=ami)
    assert info.value.field == "verify"
    assert "context ivr400-h-4008000002 is not loaded" in info.value.reason
    assert snapshot(target.root) == before
    assert "ivr400-h-4008000001" in ami.dialplan  # the restored dialplan is what runs


def test_missing_extension_fails_verification(tmp_path: Path, target: d.DeployTarget) -> None:
    class Partial(FakeAmi):
        def reload(self, cmd: str, timeout: float | None = None) -> str:
            out = super().reload(cmd)
            if cmd == "dialplan reload" and "ivr400-h-4008000002" in self.dialplan:
                self.dialplan["ivr400-inbound"] = ["_X."]
            return out

    ami = Partial(target.config_dir)
    d.deploy(rendered(tmp_path), target, ami=ami)
    with pytest.raises(d.DeployError, match="extension 4008000001 is not loaded"):
        d.deploy(rendered(tmp_path, ext=EXT_V2), target, ami=ami)
    assert (target.config_dir / "ivr400/extensions.conf").read_text() == EXT_V1


def test_crash_while_writing_restores_what_was_already_replaced(tmp_path: Path, target: d.DeployTarget,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ami = FakeAmi(target.config_dir)
    d.deploy(rendered(tmp_path), target, ami=ami)
    before = snapshot(target.root)
    real_replace = os.replace

    def flaky_replace(src, dst):  # noqa: ANN001
        if str(dst).endswith("musiconhold.conf"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(d.os, "replace", flaky_replace)
    ami.reloads.clear()
    with pytest.raises(d.DeployError) as info:
        d.deploy(rendered(tmp_path, ext=EXT_V2, moh=MOH + "\n[other]\nmode = files\ndirectory = /x\n",
                          sounds={"sounds/ivr400/ivr400-welcome.wav": b"RIFF-welcome-2"}), target, ami=ami)
    monkeypatch.setattr(d.os, "replace", real_replace)
    assert info.value.field == "write"
    assert snapshot(target.root) == before
    assert ami.reloads == []  # nothing reloaded: Asterisk never saw a half-written set
    assert not list(target.root.rglob("*ivr400-tmp*"))


def test_unreachable_ami_writes_nothing(tmp_path: Path, target: d.DeployTarget) -> None:
    before = snapshot(target.root)

    def down() -> FakeAmi:
        raise AmiError("ami", "cannot connect to 127.0.0.1:5038 (refused)")

    with pytest.raises(d.DeployError) as info:
        d.deploy(rendered(tmp_path), target, ami=down)
    assert info.value.field == "ami" and "nothing was written" in info.value.reason
    assert snapshot(target.root) == before


def test_no_reload_writes_without_ami(tmp_path: Path, target: d.DeployTarget) -> None:
    report = d.deploy(rendered(tmp_path), target, ami=None, reload=False)
    assert report.reloads == [] and len(report.files_changed) == 5
    assert (target.config_dir / "ivr400/extensions.conf").read_text() == EXT_V1


def test_lint_refuses_a_line_asterisk_would_not_parse(tmp_path: Path, target: d.DeployTarget) -> None:
    before = snapshot(target.root)
    bad = EXT_V1 + "this is not config\n"
    with pytest.raises(d.DeployError, match=r"template: ivr400/extensions.conf:10: not an Asterisk config line"):
        d.deploy(rendered(tmp_path, ext=bad), target, ami=FakeAmi(target.config_dir))
    assert snapshot(target.root) == before


def test_unreadable_sound_source_refused_before_writing(tmp_path: Path, target: d.DeployTarget) -> None:
    before = snapshot(target.root)
    r = rendered(tmp_path)
    r.sounds["sounds/ivr400/tone-9.wav"] = tmp_path / "missing.wav"
    with pytest.raises(d.DeployError, match="sound: sounds/ivr400/tone-9.wav: cannot read"):
        d.deploy(r, target, ami=FakeAmi(target.config_dir))
    assert snapshot(target.root) == before


@pytest.fixture
def sqlite_session(tmp_path: Path):  # noqa: ANN201
    engine = make_engine(f"sqlite:///{tmp_path / 'ivr400.db'}")
    upgrade(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


@pytest.mark.parametrize("broken, message", [
    ("{% if %}\n", "syntax error"),
    ("[x]\nexten => s,1,NoOp({{ no_such_variable }})\n", "undefined variable"),
])
def test_broken_operator_template_fails_before_anything_is_written(
        tmp_path: Path, target: d.DeployTarget, sqlite_session: Session, broken: str, message: str) -> None:
    override = tmp_path / "override"
    override.mkdir()
    (override / "extensions.conf.j2").write_text(broken)
    before = snapshot(target.root)
    with pytest.raises(d.DeployError) as info:
        d.deploy_from_db(sqlite_session, NOW, target, template_dirs=[override], ami=FakeAmi(target.config_dir))
    assert info.value.field == "template"
    assert message in info.value.reason and "extensions.conf.j2" in info.value.reason
    assert snapshot(target.root) == before


def test_empty_database_deploys_the_shared_contexts(tmp_path: Path, target: d.DeployTarget,
                                                   sqlite_session: Session) -> None:
    ami = FakeAmi(target.config_dir)
    report = d.deploy_from_db(sqlite_session, NOW, target, ami=ami)
    assert "ivr400-inbound" in ami.dialplan and report.contexts_verified >= 1
    assert any(s.startswith("sounds/ivr400/") for s in report.sounds_installed)
    assert (target.root / "usr/share/asterisk/sounds/ivr400/ivr400-welcome.wav").is_file()


def test_a_suspended_or_missing_cdr_backend_fails_verification_and_rolls_back(
        tmp_path: Path, target: d.DeployTarget) -> None:
    before = snapshot(target.root)
    ami = FakeAmi(target.config_dir, cdr_status=CDR_STATUS.replace("cdr_manager", "cdr_manager (suspended)"))
    with pytest.raises(d.DeployError, match="CDR backend cdr_manager is suspended") as info:
        d.deploy(rendered(tmp_path), target, ami=ami)
    assert info.value.field == "verify" and snapshot(target.root) == before
    ami = FakeAmi(target.config_dir, cdr_status=CDR_STATUS.replace("CDR File custom bac", ""))
    with pytest.raises(d.DeployError, match="CDR backend custom is not registered"):
        d.deploy(rendered(tmp_path), target, ami=ami)
    assert snapshot(target.root) == before


def test_cdr_backends_parses_cdr_show_status() -> None:
    assert d.cdr_backends(CDR_STATUS) == {"custom": "active", "cdr_manager": "active", "csv": "active"}
    assert d.cdr_backends(CDR_STATUS.replace("    csv", "    csv (suspended)"))["csv"] == "suspended"
    assert d.cdr_backends("Call Detail Record (CDR) settings\n  Logging: Disabled\n") == {}


def test_the_deploy_module_never_looks_for_a_lab() -> None:
    """Production code is given its target: no import of ivr400.lab, no probing for a lab state file."""
    import ivr400.deploy.asterisk
    import ivr400.deploy.check

    for module in (ivr400.deploy.asterisk, ivr400.deploy.check):
        text = Path(module.__file__).read_text()
        assert "ivr400.lab" not in text and "Lab." not in text and "ImportError" not in text, module.__name__


def test_no_reload_names_the_reloads_it_left_to_the_operator(tmp_path: Path, target: d.DeployTarget) -> None:
    report = d.deploy(rendered(tmp_path), target, ami=None, reload=False)
    assert report.reloads == [] and report.reloads_skipped == ALL_RELOADS


def test_a_missing_config_dir_is_refused_and_nothing_created(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    t = d.DeployTarget(config_dir=missing, sounds_dir=tmp_path / "nodata" / "sounds", spool_dir=tmp_path / "spool",
                       root=tmp_path / "noroot")
    with pytest.raises(d.DeployError, match=r"^asterisk.config_dir: .*/nonexistent/dir does not exist") as info:
        d.deploy(rendered(tmp_path), t, ami=None, reload=False)
    assert info.value.field == "asterisk.config_dir"
    assert not (tmp_path / "nonexistent").exists() and not (tmp_path / "nodata").exists()
    assert not (tmp_path / "noroot").exists() and not (tmp_path / "spool").exists()


def test_a_missing_asterisk_data_dir_is_refused_not_created(tmp_path: Path, target: d.DeployTarget) -> None:
    (target.sounds_dir.parent).rmdir()
    before = snapshot(target.root)
    with pytest.raises(d.DeployError, match=r"^asterisk.sounds_dir: .*usr/share/asterisk .* does not exist"):
        d.deploy(rendered(tmp_path), target, ami=None, reload=False)
    assert snapshot(target.root) == before and not target.sounds_dir.parent.exists()


# --------------------------------------------------------------------------- the hotlines' data in AstDB
from ivr400.deploy import astdb  # noqa: E402
from ivr400.render.asterisk import ASTDB_FILE  # noqa: E402

DATA_V1 = {"h/4008000001/s": "4008000001,IVR400_PLAN=v1", "h/4008000001/b0": "v1&PJSIP/a&PJSIP/b",
           "h/4008000001/d": "v1,IVR400_TARGET_1=PJSIP/a,IVR400_TARGET_2=PJSIP/b,IVR400_TARGET_COUNT=2",
           "m/4008000001/s": "ivr400/p,IVR400_MENU_FINAL=", "m/4008000001/1": "department,IVR400_NEXT_PATH=1"}


def _astdb_text(data: dict[str, str]) -> str:
    return "# test\n" + "".join(f"{k}\t{v}\n" for k, v in data.items())


def with_data(tmp: Path, data: dict[str, str]) -> RenderedConfig:
    cfg = rendered(tmp)
    files = {**cfg.files, ASTDB_FILE: _astdb_text(data)}
    return RenderedConfig(files=files, sounds=cfg.sounds, contexts=cfg.contexts,
                          fingerprints={n: hashlib.sha256(t.encode()).hexdigest() for n, t in files.items()})


def test_plan_sync_writes_marks_first_and_new_settings_last() -> None:
    """The order that keeps the whitelist during a deploy (docs/live-deploys.md, rule 4)."""
    new = {**DATA_V1, "h/4008000001/b0": "v2&PJSIP/b", "h/4008000001/s": "4008000001,IVR400_PLAN=v2",
           "h/4008000001/d": "v2,IVR400_TARGET_1=PJSIP/b,IVR400_TARGET_COUNT=1",
           "h/4008000009/s": "4008000009,IVR400_PLAN=v9", "h/4008000009/b0": "v9&PJSIP/c"}
    del new["m/4008000001/1"]
    plan = astdb.plan_sync(DATA_V1, new)
    flat = [(op, k) for deletes, puts in plan.steps for op, k in
            [*(("del", k) for k in deletes), *(("put", k) for k, _ in puts)]]
    assert flat == [("put", "h/4008000001/b0"), ("put", "h/4008000009/b0"), ("put", "h/4008000001/d"),
                    ("del", "m/4008000001/1"), ("put", "h/4008000001/s"), ("put", "h/4008000009/s")]
    assert not plan.clear and plan.put == 5 and plan.deleted == 1
    gone = astdb.plan_sync(DATA_V1, {})  # the hotline removed: marks first, then its settings, then the rest
    assert [d for d, _ in gone.steps] == [("h/4008000001/b0",), ("h/4008000001/s",),
                                          ("h/4008000001/d", "m/4008000001/s", "m/4008000001/1")]
    assert astdb.plan_sync(None, DATA_V1).clear and astdb.plan_sync(DATA_V1, DATA_V1).steps == ()


def test_deploy_writes_the_data_into_astdb_and_then_only_what_changed(tmp_path: Path,
                                                                      target: d.DeployTarget) -> None:
    ami = FakeAmi(target.config_dir)
    first = d.deploy(with_data(tmp_path, DATA_V1), target, ami=ami)
    assert first.astdb is not None and first.astdb["full"] and first.astdb["put"] == len(DATA_V1)
    assert {k.removeprefix("ivr400/"): v for k, v in ami.astdb.items() if k != "ivr400/deployed"} == DATA_V1
    assert ami.astdb["ivr400/deployed"] == astdb.digest(_astdb_text(DATA_V1))
    assert ami.db_log[0] == ("del", "deployed") and ami.db_log[-1] == ("put", "deployed")
    assert ("deltree", "ivr400") not in ami.db_log  # a resync never empties the family

    ami.db_log.clear()
    changed = {**DATA_V1, "m/4008000001/2": "department,IVR400_NEXT_PATH=2"}
    second = d.deploy(with_data(tmp_path, changed), target, ami=ami)
    assert second.files_changed == [ASTDB_FILE] and second.reloads == []  # a data change is no reload
    assert second.astdb is not None and not second.astdb["full"] and second.astdb["put"] == 1
    assert ami.db_log == [("put", "m/4008000001/2"), ("put", "deployed")]

    ami.astdb.clear()  # AstDB lost (astdb.sqlite3 wiped): the next deploy notices and writes everything
    ami.db_log.clear()
    third = d.deploy(with_data(tmp_path, changed), target, ami=ami)
    assert third.files_changed == [] and third.astdb is not None and third.astdb["full"]
    assert len(ami.astdb) == len(changed) + 1


def test_a_refused_astdb_write_rolls_the_deploy_back(tmp_path: Path, target: d.DeployTarget) -> None:
    class Refusing(FakeAmi):
        def db_write(self, family, puts, deletes=(), **kw):  # noqa: ANN001, ANN003
            if any(k == "m/4008000001/2" for k, _ in puts):
                raise AmiError("astdb", "DBPut ivr400/m/4008000001/2: Permission denied")
            return super().db_write(family, puts, deletes, **kw)

    ami = Refusing(target.config_dir)
    d.deploy(with_data(tmp_path, DATA_V1), target, ami=ami)
    before = snapshot(target.config_dir)
    with pytest.raises(d.DeployError) as info:
        d.deploy(with_data(tmp_path, {**DATA_V1, "m/4008000001/2": "department"}), target, ami=ami)
    assert info.value.field == "astdb" and "Permission denied" in info.value.reason
    assert snapshot(target.config_dir) == before  # astdb.txt restored
    assert "ivr400/m/4008000001/2" not in ami.astdb
    assert ami.astdb["ivr400/deployed"] == astdb.digest(_astdb_text(DATA_V1))  # AstDB still holds the old file


def test_no_reload_leaves_astdb_to_the_next_deploy(tmp_path: Path, target: d.DeployTarget) -> None:
    report = d.deploy(with_data(tmp_path, DATA_V1), target, reload=False)
    assert "AstDB sync" in report.reloads_skipped and report.astdb is None
    ami = FakeAmi(target.config_dir)
    ami.reload("dialplan reload")  # Asterisk started later and read the files
    ami.reload("moh reload")
    later = d.deploy(with_data(tmp_path, DATA_V1), target, ami=ami)  # file unchanged, AstDB empty: full write
    assert later.files_changed == [] and later.astdb is not None and later.astdb["full"]
    assert len(ami.astdb) == len(DATA_V1) + 1


def test_a_malformed_data_file_is_refused_before_anything_is_written(tmp_path: Path,
                                                                   target: d.DeployTarget) -> None:
    cfg = with_data(tmp_path, DATA_V1)
    bad = RenderedConfig(files={**cfg.files, ASTDB_FILE: "h/4008000001/s no tab here\n"}, sounds=cfg.sounds,
                         contexts=cfg.contexts, fingerprints=cfg.fingerprints)
    with pytest.raises(d.DeployError) as info:
        d.deploy(bad, target, ami=FakeAmi(target.config_dir))
    assert info.value.field == "render" and "astdb line 1" in info.value.reason
    assert not (target.config_dir / ASTDB_FILE).exists()


def test_an_astdb_that_differs_from_the_file_is_resynced_from_what_it_holds(tmp_path: Path,
                                                                              target: d.DeployTarget) -> None:
    """No marker (or another one): the deploy reads AstDB back and writes the difference — a stale key goes, a
    value changed by hand comes back, the rest is not rewritten, and the family is never emptied."""
    ami = FakeAmi(target.config_dir)
    d.deploy(with_data(tmp_path, DATA_V1), target, ami=ami)
    ami.astdb["ivr400/h/4008000777/s"] = "4008000777,IVR400_PLAN=vstale"  # a hotline nobody deploys any more
    ami.astdb["ivr400/h/4008000001/d"] = "v0,IVR400_TARGET_1=PJSIP/revoked,IVR400_TARGET_COUNT=1"
    del ami.astdb["ivr400/deployed"]
    ami.db_log.clear()
    report = d.deploy(with_data(tmp_path, DATA_V1), target, ami=ami)
    assert report.files_changed == [] and report.astdb is not None and report.astdb["full"]
    assert report.astdb["put"] == 1 and report.astdb["deleted"] == 1
    assert ("deltree", "ivr400") not in ami.db_log
    assert _astdb_of(ami) == DATA_V1


def _astdb_of(ami: FakeAmi) -> dict[str, str]:
    return {k.removeprefix("ivr400/"): v for k, v in ami.astdb.items() if k != "ivr400/deployed"}


def test_an_empty_database_over_served_hotlines_is_refused(tmp_path: Path, target: d.DeployTarget) -> None:
    """A mistyped database URL (an empty database) must not take every hotline out of the static plan."""
    ami = FakeAmi(target.config_dir)
    d.deploy(with_data(tmp_path, DATA_V1), target, ami=ami)
    before = snapshot(target.config_dir)
    for dry_run in (True, False):
        with pytest.raises(d.DeployError) as info:
            d.deploy(with_data(tmp_path, {}), target, ami=ami, dry_run=dry_run)
        assert info.value.field == "database" and "no active hotline" in info.value.reason
        assert "4008000001" in info.value.reason and "--allow-empty" in info.value.reason
    assert snapshot(target.config_dir) == before and _astdb_of(ami) == DATA_V1
    report = d.deploy(with_data(tmp_path, {}), target, ami=ami, allow_empty=True)
    assert report.astdb is not None and report.astdb["deleted"] == len(DATA_V1) and _astdb_of(ami) == {}
