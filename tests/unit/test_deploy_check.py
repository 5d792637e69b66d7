"""`deploy --check` against a temp operator tree and a fake AMI answering like Asterisk 22 (outputs
recorded from the lab): what is missing is named with its fix, a complete setup passes."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr400.config import Settings
from ivr400.deploy import check as c
from ivr400.deploy.asterisk import DeployTarget
from ivr400.pbx.asterisk.ami import CommandFailed
from ivr400.pbx.asterisk.config_files import INCLUDES
from ivr400.provisioning import seats
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.hotlines import add_hotline
from ivr400.provisioning.trunks import add_trunk
from ivr400.render import render_asterisk
from ivr400.render.asterisk import RenderedConfig
from tests.factories import destination_row

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
GOLDEN = Path(__file__).resolve().parents[1] / "render" / "golden"

MANAGER_USER = """
          username: ivr400
            secret: <Set>
               ACL: yes
         read perm: system,cdr
        write perm: command,system,reporting
   displayconnects: no
"""
MODULE_ROW = ("Module                         Description                              Use Count  Status      "
              "Support Level\n{m:<30} Something                                0          Running              "
              "core\n1 modules loaded\n")
NO_MODULE = "Module                         Description    Use Count  Status      Support Level\n0 modules loaded\n"
CDR_STATUS = """
Call Detail Record (CDR) settings
----------------------------------
  Logging:                    Enabled
  Mode:                       Simple
  Log calls by default:       Yes
  Log unanswered calls:       Yes
  Log congestion:             No

* Registered Backends
  -------------------
    CDR File custom bac
    cdr_manager
    csv
"""

OPERATOR_FILES = {
    "extensions.conf": "[general]\nstatic=yes\n\n[from-carrier]\nexten => _X.,1,Goto(ivr400-inbound,${EXTEN},1)\n\n"
                       "#include ivr400/extensions.conf\n",
    "pjsip.conf": "[carrier]\ntype=endpoint\ncontext=from-carrier\n#include \"pjsip_ivr400.conf\"\n",
    "pjsip_ivr400.conf": "; nested on purpose\n#tryinclude ivr400/pjsip.conf\n",
    "musiconhold.conf": "[default]\nmode=files\ndirectory=moh\n#include ivr400/musiconhold.conf\n",
    "cdr_custom.conf": "[mappings]\nMaster.csv => ${CSV_QUOTE(${CDR(src)})}\n#include ivr400/cdr_custom.conf\n",
    "cdr_manager.conf": "[general]\nenabled = yes\n\n[mappings]\n#include ivr400/cdr_manager.conf\n",
}


class FakeAmi:
    """Answers the check's CLI commands; `missing` names modules/apps/functions/endpoints not there."""

    def __init__(self, missing: set[str] | None = None, user: str = MANAGER_USER, cdr: str = CDR_STATUS,
                 timerfd: bool = False) -> None:
        self.missing = (missing or set()) | (set() if timerfd else {c.TIMERFD})
        self.user = user
        self.cdr = cdr
        self.sent: list[str] = []

    def command(self, cmd: str, timeout: float | None = None) -> str:
        self.sent.append(cmd)
        words = cmd.split()
        if cmd.startswith("manager show user"):
            return self.user
        if cmd.startswith("module show like"):
            return NO_MODULE if words[-1] in self.missing else MODULE_ROW.format(m=words[-1])
        if cmd.startswith(("core show application", "core show function")):
            name = words[-1]
            if name in self.missing:
                raise CommandFailed(cmd, "Your application(s) is (are) not registered")
            return f"\n  -= Info about {words[2]} '{name}' =- \n\n[Synopsis]\nx\n\n[Provided By]\n" \
                   f"{c.PROVIDERS.get(name, 'mystery')}\n"
        if cmd.startswith("pjsip show endpoint"):
            return f"Unable to find object {words[-1]}." if words[-1] in self.missing else f"Endpoint: {words[-1]}"
        if cmd == "dialplan show ivr400-inbound":
            if "ivr400-inbound" in self.missing:
                raise CommandFailed(cmd, "There is no existence of 'ivr400-inbound' context")
            return "[ Context 'ivr400-inbound' created by 'pbx_config' ]\n"
        if cmd == "cdr show status":
            return self.cdr
        raise CommandFailed(cmd, f"No such command '{cmd}'")

    def reload(self, cmd: str, timeout: float | None = None) -> str:  # pragma: no cover - check never reloads
        raise AssertionError("check must not reload")


class Trunk:
    def __init__(self, name: str, template: str) -> None:
        self.name, self.template = name, template


class Model:
    hotlines = ()
    trunks = (Trunk("carrier", "PJSIP/{number}@carrier-out"), Trunk("local", "Local/{number}@somewhere"))


@pytest.fixture
def tree(tmp_path: Path) -> DeployTarget:
    root = tmp_path / "root"
    etc = root / "etc" / "asterisk"
    etc.mkdir(parents=True)
    for name, text in OPERATOR_FILES.items():
        (etc / name).write_text(text)
    (root / "var" / "lib" / "asterisk").mkdir(parents=True)  # an installed Asterisk's data directory
    return DeployTarget.from_settings(Settings.load(environ={"IVR400_ASTERISK_ROOT": str(root)}))


@pytest.fixture
def rendered() -> RenderedConfig:
    ext = (GOLDEN / "rich.extensions.conf").read_text()
    return RenderedConfig(files={"ivr400/extensions.conf": ext}, sounds={}, contexts=[], fingerprints={},
                          model=Model())  # type: ignore[arg-type]


def by_item(report: c.CheckReport) -> dict[str, c.Finding]:
    return {f.item: f for f in report.findings}


def test_a_complete_setup_passes(tree: DeployTarget, rendered: RenderedConfig) -> None:
    ami = FakeAmi()
    report = c.check(tree, rendered, ami=ami)
    assert report.ok, list(report.missing)
    found = by_item(report)
    assert found["include ivr400/pjsip.conf"].detail.endswith("pjsip_ivr400.conf:2: #include ivr400/pjsip.conf")
    assert found["include ivr400/cdr_custom.conf"].status == c.OK
    assert found["application Dial"].detail == "provided by app_dial"
    assert found["pjsip endpoint carrier-out"].status == c.OK
    assert found["ami read cdr"].status == c.OK and found["ami write command"].status == c.OK
    assert "pjsip show endpoint carrier-out" in ami.sent


def test_each_missing_piece_is_named_with_its_fix(tree: DeployTarget, rendered: RenderedConfig) -> None:
    etc = tree.config_dir
    (etc / "extensions.conf").write_text(OPERATOR_FILES["extensions.conf"].replace("#include ivr400/extensions.conf",
                                                                                   ""))
    (etc / "cdr_custom.conf").write_text("#include ivr400/cdr_custom.conf\n[mappings]\n")  # outside [mappings]
    (etc / "cdr_manager.conf").write_text("[general]\nenabled = no\n[mappings]\n#include ivr400/cdr_manager.conf\n")
    (etc / "musiconhold.conf").unlink()
    user = MANAGER_USER.replace("system,cdr", "system").replace("command,system,reporting", "reporting")
    ami = FakeAmi({"app_mixmonitor.so", "MixMonitor", "STAT", "carrier-out", "cdr_manager.so", "ivr400-inbound"},
                  user=user, cdr=CDR_STATUS.replace("    cdr_manager", "    cdr_manager (suspended)")
                  .replace("unanswered calls:       Yes", "unanswered calls:       No"))
    report = c.check(tree, rendered, ami=ami)
    found = by_item(report)
    missing = {f.item for f in report.missing}
    assert missing == {
        "include ivr400/extensions.conf", "include ivr400/musiconhold.conf", "include ivr400/cdr_custom.conf",
        "cdr_manager enabled", "ami read cdr", "ami write command", "ami write system", "module cdr_manager.so",
        "application MixMonitor", "function STAT", "pjsip endpoint carrier-out", "dialplan ivr400-inbound",
        "cdr backend cdr_manager", "cdr log unanswered calls",
    }
    assert found["include ivr400/extensions.conf"].fix == \
        f"add `#include ivr400/extensions.conf` to {etc / 'extensions.conf'} (at the end), then `dialplan reload`"
    assert "(in [no section], not [mappings])" in found["include ivr400/cdr_custom.conf"].detail
    assert found["include ivr400/cdr_custom.conf"].fix.startswith("add `#include ivr400/cdr_custom.conf` inside "
                                                                  "[mappings]")
    assert found["include ivr400/musiconhold.conf"].fix.startswith(f"create {etc / 'musiconhold.conf'} with ")
    assert found["application MixMonitor"].fix.startswith("`module load app_mixmonitor.so`")
    assert found["function STAT"].fix.startswith("`module load func_env.so`")
    assert "`module load cdr_manager.so`" in found["module cdr_manager.so"].fix
    assert "add `cdr` to `read =` in manager.conf [ivr400]" in found["ami read cdr"].fix
    assert "define endpoint `carrier-out`" in found["pjsip endpoint carrier-out"].fix
    assert "`ivr400 deploy`" in found["dialplan ivr400-inbound"].fix
    assert "`unanswered = yes` in cdr.conf [general]" in found["cdr log unanswered calls"].fix
    assert not report.ok and report.to_dict()["missing"] == len(missing)


def test_without_ami_the_files_are_still_checked(tree: DeployTarget, rendered: RenderedConfig) -> None:
    report = c.check(tree, rendered, ami=None, ami_error="cannot connect to 127.0.0.1:5038 (refused)")
    found = by_item(report)
    assert found["ami login"].status == c.MISSING and "refused" in found["ami login"].detail
    assert "manager.conf user `[ivr400]`" in found["ami login"].fix
    assert found["include ivr400/extensions.conf"].status == c.OK
    assert not any(f.item.startswith("module ") for f in report.findings)


def test_controller_and_config_file_warnings(tree: DeployTarget, rendered: RenderedConfig, tmp_path: Path) -> None:
    cfg = tmp_path / "ivr400.toml"
    cfg.write_text('[ami]\nsecret = "x"\n')
    cfg.chmod(0o644)
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = c.check(tree, rendered, ami=FakeAmi(), controller=("127.0.0.1", port), config_file=cfg)
    found = by_item(report)
    assert report.ok  # warnings do not fail the check
    assert found["controller"].status == c.WARNING and "static plan" in found["controller"].detail
    assert found["config file mode"].status == c.WARNING and "chmod 0640" in found["config file mode"].fix
    cfg.chmod(0o640)
    assert "config file mode" not in by_item(c.check(tree, rendered, ami=FakeAmi(), config_file=cfg))


def test_every_application_and_function_of_the_shipped_templates_has_a_provider() -> None:
    apps, funcs = set(), set()
    for name in ("rich.extensions.conf", "sample.extensions.conf"):
        a, f = c.dialplan_needs((GOLDEN / name).read_text())
        apps |= set(a)
        funcs |= set(f)
    assert {"Dial", "AGI", "MixMonitor", "Record"} <= apps and {"CDR", "FILTER", "STAT"} <= funcs
    assert (apps | funcs) - set(c.PROVIDERS) == set()


def test_parsers() -> None:
    assert c.include_target('#include "ivr400/pjsip.conf" ; ivr400') == "ivr400/pjsip.conf"
    assert c.include_target("  #tryinclude ivr400/x.conf") == "ivr400/x.conf"
    assert c.include_target("; #include ivr400/x.conf") is None
    assert c.user_permissions(MANAGER_USER) == {"read": {"system", "cdr"}, "write": {"command", "system", "reporting"}}
    assert c.module_running(MODULE_ROW.format(m="res_agi.so"), "res_agi.so")
    assert not c.module_running(NO_MODULE, "res_agi.so")
    assert c.provided_by("[Synopsis]\nx\n\n[Provided By]\napp_dial\n\n[Since]\n0.1.0\n") == "app_dial"
    assert c.section_values("[general]\nenabled => yes ; on\n[x]\nenabled = no\n", "general") == {"enabled": "yes"}
    assert c.cdr_settings(CDR_STATUS)["log unanswered calls"] == "Yes"
    assert c.cdr_settings(CDR_STATUS)["logging"] == "Enabled"


def test_includes_absolute_paths_and_cycles(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text(f"#include {tmp_path}/b.conf\n")
    (tmp_path / "b.conf").write_text("#include a.conf\n")
    assert c.find_include(tmp_path, "a.conf", "ivr400/x.conf") == (False, str(tmp_path / "a.conf"))  # no loop
    (tmp_path / "b.conf").write_text(f"#include {tmp_path}/ivr400/x.conf\n")
    found, where = c.find_include(tmp_path, "a.conf", "ivr400/x.conf")
    assert found and where == f"{tmp_path / 'b.conf'}:1"
    assert c.find_include(tmp_path, "missing.conf", "ivr400/x.conf") == (False, None)


def test_the_include_table_names_each_file_once() -> None:
    assert [i.parent for i in INCLUDES.values()] == ["extensions.conf", "musiconhold.conf", "pjsip.conf",
                                                     "cdr_custom.conf", "cdr_manager.conf"]
    assert all(i.reload.startswith(("dialplan reload", "moh reload", "module reload ")) for i in INCLUDES.values())


def test_the_cdr_csv_directory_must_exist_and_the_csv_be_readable(tree: DeployTarget, rendered: RenderedConfig,
                                                                   tmp_path: Path) -> None:
    csv = tmp_path / "log" / "cdr-custom" / "ivr400.csv"
    found = by_item(c.check(tree, rendered, ami=FakeAmi(), cdr_csv=csv))
    assert found["cdr csv"].status == c.MISSING and "does not exist" in found["cdr csv"].detail
    assert found["cdr csv"].fix.startswith(f"`install -d -o asterisk -g asterisk -m 0750 {csv.parent}`")
    csv.parent.mkdir(parents=True)
    assert by_item(c.check(tree, rendered, ami=FakeAmi(), cdr_csv=csv))["cdr csv"].detail.endswith("not written yet "
                                                                                                  "(no call since "
                                                                                                  "cdr_custom loaded)")
    csv.write_text("")
    assert by_item(c.check(tree, rendered, ami=FakeAmi(), cdr_csv=csv))["cdr csv"].status == c.OK


def test_a_missing_config_dir_is_reported_missing_not_writable(tmp_path: Path, rendered: RenderedConfig) -> None:
    gone = tmp_path / "nonexistent" / "dir"
    t = DeployTarget(config_dir=gone, sounds_dir=tmp_path / "nodata" / "sounds", spool_dir=tmp_path / "sp",
                     root=tmp_path / "noroot")
    found = by_item(c.check(t, rendered, ami=None))
    for item in ("include directory", "sounds directory", "music-on-hold directory"):
        assert found[f"writable {item}"].status == c.MISSING, item
    assert found["writable include directory"].detail.startswith(f"{gone} does not exist")
    assert not (tmp_path / "nonexistent").exists()


def test_users_conf_is_a_warning_with_its_fix(tree: DeployTarget, rendered: RenderedConfig) -> None:
    """users.conf makes every reload leak a manager subscriber (docs/asterisk-reload-leak.md)."""
    assert "users.conf" not in by_item(c.check(tree, rendered, ami=FakeAmi()))
    (tree.config_dir / "users.conf").write_text("[general]\n")
    report = c.check(tree, rendered, ami=FakeAmi())
    found = by_item(report)["users.conf"]
    assert report.ok and found.status == c.WARNING
    assert "asterisk-reload-leak.md" in found.detail and found.fix.startswith("unless you use it")


def test_timerfd_timing_is_a_warning_with_its_fix(tree: DeployTarget, rendered: RenderedConfig) -> None:
    """res_timing_timerfd wedges menu calls under load on Asterisk 22.10.1 (docs/asterisk-timerfd-wedge.md)."""
    assert by_item(c.check(tree, rendered, ami=FakeAmi()))["timing module"].status == c.OK
    report = c.check(tree, rendered, ami=FakeAmi(timerfd=True))
    found = by_item(report)["timing module"]
    assert report.ok and found.status == c.WARNING
    assert "asterisk-timerfd-wedge.md" in found.detail and found.fix.startswith("`noload => res_timing_timerfd.so`")


def test_a_refused_timing_question_is_a_warning_not_an_ok(tree: DeployTarget, rendered: RenderedConfig) -> None:
    class Refusing(FakeAmi):
        def command(self, cmd: str, timeout: float | None = None) -> str:
            if cmd == f"module show like {c.TIMERFD}":
                raise CommandFailed(cmd, "Permission denied")
            return super().command(cmd, timeout)

    found = by_item(c.check(tree, rendered, ami=Refusing()))["timing module"]
    assert found.status == c.WARNING and "refused" in found.detail and "timing test" in found.fix


def test_only_the_endpoints_the_database_dials_are_checked(session: Session, tree: DeployTarget) -> None:
    """The lab's case: every destination has its own trunk (`PJSIP/pstn/sip:…`), so no seat dials the
    default `PJSIP/{number}@ivr400-out` and the check must not ask for it, nor for a trunk no seat uses; a
    seat left without a trunk brings the default's endpoint back."""
    ent = add_enterprise(session, "北京甲科技有限公司", "010", now=NOW)
    h = add_hotline(session, "4008000001", ent, now=NOW)
    add_trunk(session, "unused", "PJSIP/{number}@nobody-dials-this")
    for i in range(2):
        trunk = add_trunk(session, f"seat-{i}", f"PJSIP/pstn/sip:{{number}}@127.0.0.1:{5071 + i}")
        seats.add_seat(session, h, destination_row(session, ent, f"0106234567{i}", NOW, trunk=trunk), now=NOW)
    session.flush()
    ami = FakeAmi(missing={"ivr400-out", "nobody-dials-this"})
    found = by_item(c.check(tree, render_asterisk(session, NOW), ami=ami))
    asked = sorted(cmd for cmd in ami.sent if cmd.startswith("pjsip show endpoint"))
    assert asked == ["pjsip show endpoint pstn"]
    assert found["pjsip endpoint pstn"].status == c.OK
    assert found["pjsip endpoint pstn"].detail == "exists (trunk seat-0, seat-1)"

    seats.add_seat(session, h, destination_row(session, ent, "01062345679", NOW), now=NOW)  # no trunk: default
    session.flush()
    found = by_item(c.check(tree, render_asterisk(session, NOW), ami=FakeAmi(missing={"ivr400-out"})))
    assert found["pjsip endpoint ivr400-out"].status == c.MISSING
    assert "(trunk (default))" in found["pjsip endpoint ivr400-out"].detail
    assert "pjsip endpoint nobody-dials-this" not in found


def test_originate_permission_missing_only_when_click_to_call_is_set_up(tree: DeployTarget,
                                                                       rendered: RenderedConfig) -> None:
    """WEB呼叫 needs `Action: Originate`: without `originate` in the user's write classes the check says so,
    with the fix; `missing` (exit 1) when a hotline has click-to-call set up, a warning otherwise."""
    perms = c.user_permissions(MANAGER_USER)
    assert c.originate_finding(perms, "ivr400", ()).status == c.WARNING
    lacking = c.originate_finding(perms, "ivr400", ["4008001234"])
    assert lacking.status == c.MISSING and "4008001234" in lacking.detail
    assert lacking.fix == ("add `originate` to `write =` in manager.conf [ivr400] (e.g. `write = "
                           "command,originate,reporting,system`), then `manager reload`")
    assert c.originate_finding({"read": set(), "write": {"command", "originate"}}, "x", ["1"]).status == c.OK
    assert c.originate_finding({"read": set(), "write": {"all"}}, "x", ["1"]).status == c.OK
    report = c.check(tree, rendered, ami=FakeAmi(), clicktocall=["4008001234"])
    assert not report.ok and [f.item for f in report.missing] == ["ami write originate"]
    with_it = MANAGER_USER.replace("command,system,reporting", "command,system,originate,reporting")
    assert c.check(tree, rendered, ami=FakeAmi(user=with_it), clicktocall=["4008001234"]).ok
