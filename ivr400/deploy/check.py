"""`ivr400 deploy --check`: what a running Asterisk lacks before ivr400 can work on it, each with its fix.

    report = check(target, rendered, ami=conn)     # conn: an AMI connection, or None with ami_error
    report.ok, report.missing, report.findings      # Finding(status, item, detail, fix)

What is checked (docs/operations.md lists the same, with the fixes):

- files, read from the configuration directory: each operator file includes ivr400's include file
  (extensions.conf, pjsip.conf, musiconhold.conf; cdr_custom.conf and cdr_manager.conf inside their
  `[mappings]`), following nested `#include`s; cdr_manager.conf's `[general]` has `enabled = yes`;
  ivr400 can write its include directory, its sounds and music-on-hold directories; cdr_custom's CSV
  directory exists and the CSV is readable;
- over AMI: the login; the manager user's permissions (`manager show user`: write `command` for deploy,
  read `cdr` for `cdr listen`, write `originate` for WEB呼叫 click-to-call and operator callbacks: missing when
  a hotline has click-to-call set up, a warning otherwise); the modules ivr400 relies on
  (`module show like`); every dialplan application and function the rendered extensions.conf uses
  (`core show application|function`);
  the PJSIP endpoints the routable seats' trunks dial (only those: see `dialed_endpoints`); ivr400's
  dialplan loaded (`ivr400-inbound`); CDRs enabled, unanswered calls logged (cdr.conf), the CDR backends
  registered and not suspended;
- warnings that do not stop calls: the controller not listening (Asterisk then takes the static plan),
  a configuration file holding the AMI secret readable by everyone.

Status `missing` makes `ivr400 deploy --check` exit 1. Pure helpers (parsers) are separate from the
function doing the I/O, and are unit-tested on outputs recorded from Asterisk 22.
"""
from __future__ import annotations

import os
import re
import socket
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from ivr400.deploy.asterisk import VARLIB, DeployTarget, cdr_backends, sections
from ivr400.pbx.asterisk.ami import AmiError, AmiLike
from ivr400.pbx.asterisk.config_files import INCLUDE_DIR, INCLUDES, TIMERFD_MODULE, IncludeFile, include_line
from ivr400.render.asterisk import RenderedConfig
from ivr400.validators import dialed_pjsip_endpoint

OK, MISSING, WARNING = "ok", "missing", "warning"

#: Modules ivr400 needs besides those behind the dialplan's applications and functions and the
#: include files' readers (INCLUDES): the FastAGI client, the PJSIP channel driver, and res_fax's
#: technology module (传真: ReceiveFAX is res_fax's, the T.30/T.38 work is spandsp's).
MODULES: tuple[str, ...] = ("res_agi.so", "chan_pjsip.so", "res_fax_spandsp.so")
#: The timing module `check` warns about (config_files.TIMERFD_MODULE).
TIMERFD = TIMERFD_MODULE

#: Module providing each dialplan application and function the shipped templates use ("builtin": the
#: PBX core, always there). Asterisk 22's `core show application|function X` `[Provided By]`; the
#: e2e suite compares this table with the lab's answers.
PROVIDERS: Mapping[str, str] = {
    "AGI": "res_agi", "Answer": "builtin", "Background": "builtin", "Busy": "builtin", "Dial": "app_dial",
    "ExecIf": "app_exec", "Gosub": "app_stack", "GosubIf": "app_stack", "Goto": "builtin", "GotoIf": "builtin",
    "Hangup": "builtin", "Log": "app_verbose", "MixMonitor": "app_mixmonitor", "MSet": "builtin", "NoOp": "builtin",
    "Playback": "app_playback",
    "Progress": "builtin", "Read": "app_read", "ReceiveFAX": "res_fax", "Record": "app_record", "Return": "app_stack",
    "Set": "builtin",
    "UserEvent": "app_userevent", "Wait": "builtin", "WaitExten": "builtin",
    "CALLERID": "func_callerid", "CDR": "func_cdr", "CHANNEL": "func_channel", "CSV_QUOTE": "func_strings",
    "CUT": "func_cut", "DB": "func_db", "DB_EXISTS": "func_db", "DIALPLAN_EXISTS": "func_dialplan",
    "FIELDNUM": "func_strings", "FAXOPT": "res_fax", "FILTER": "func_strings",
    "GLOBAL": "func_global",
    "IF": "func_logic", "LEN": "func_strings", "LOCAL": "app_stack", "MD5": "func_md5", "STAT": "func_env",
    "MASTER_CHANNEL": "func_global", "STRFTIME": "func_strings",
}

#: AMI permission classes ivr400 needs: (direction, class, who needs it).
PERMISSIONS: tuple[tuple[str, str, str], ...] = (
    ("write", "command", "deploy and deploy --check run CLI commands (Action: Command)"),
    ("write", "system", "deploy writes the hotlines' data into Asterisk's database (DBPut, DBDel, DBDelTree)"),
    ("read", "cdr", "cdr listen receives Cdr events"),
)


@dataclass(frozen=True)
class Finding:
    """One checked item: `status` ok | missing | warning; `fix` says what to do when not ok."""

    status: str
    item: str
    detail: str
    fix: str = ""


@dataclass
class CheckReport:
    config_dir: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def missing(self) -> list[Finding]:
        return [f for f in self.findings if f.status == MISSING]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == WARNING]

    @property
    def ok(self) -> bool:
        return not self.missing

    def add(self, status: str, item: str, detail: str, fix: str = "") -> None:
        self.findings.append(Finding(status, item, detail, fix if status != OK else ""))

    def to_dict(self) -> dict[str, object]:
        return {"config_dir": self.config_dir, "ok": self.ok, "missing": len(self.missing),
                "warnings": len(self.warnings), "findings": [asdict(f) for f in self.findings]}


# ---------------------------------------------------------------------------------------- pure parsers
_INCLUDE = re.compile(r'^\s*#\s*(?:try)?include\s+"?([^"\s;]+)"?', re.IGNORECASE)
_SECTION = re.compile(r"^\s*\[([^\]]+)\]")


def include_target(line: str) -> str | None:
    """The file an `#include`/`#tryinclude` line names (quotes removed), else None."""
    m = _INCLUDE.match(line)
    return m.group(1) if m else None


def find_include(config_dir: Path, parent: str, wanted: str, section: str | None = None,
                 _seen: set[Path] | None = None) -> tuple[bool, str | None]:
    """(found, where) whether `parent` (relative to `config_dir`) includes `wanted`, directly or through
    nested includes, and — when `section` is given — inside that `[section]`.

    `where` names the file and line number of the include line found, or of the problem (None when the
    parent file does not exist). Relative include paths are relative to the configuration directory,
    as in Asterisk.
    """
    seen = _seen if _seen is not None else set()
    path = config_dir / parent
    if path in seen:
        return False, None
    seen.add(path)
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False, None
    wanted_abs = (config_dir / wanted).as_posix()
    current: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _SECTION.match(line.split(";", 1)[0])
        if m:
            current = m.group(1).strip().lower()
            continue
        target = include_target(line)
        if target is None:
            continue
        where = f"{path}:{lineno}"
        if target in (wanted, wanted_abs):
            if section is None or current == section:
                return True, where
            return False, f"{where} (in [{current or 'no section'}], not [{section}])"
        nested = target if PurePosixPath(target).is_absolute() else (config_dir / target).as_posix()
        try:
            rel = str(Path(nested).relative_to(config_dir))
        except ValueError:
            continue  # an include outside the configuration directory: not followed
        if section is None or current == section:
            found, inner = find_include(config_dir, rel, wanted, None, seen)
            if found:
                return True, inner
    return False, str(path)


def section_values(text: str, section: str) -> dict[str, str]:
    """{key: value} of the first `[section]` of a config text (keys lower case)."""
    return next((values for name, values in sections(text) if name.lower() == section), {})


_APP = re.compile(r"^\s*(?:exten\s*=>\s*[^,]+,|same\s*=>\s*)[^,]+,\s*([A-Za-z][A-Za-z0-9_]*)\s*\(", re.MULTILINE)
_NESTED_APP = re.compile(r"\bExecIf\s*\([^?]*\?\s*([A-Za-z][A-Za-z0-9_]*)\s*\(")
_FUNCTION = re.compile(r"(?:\$\{|\bSet\(|\bExecIf\([^)]*\?Set\()([A-Z][A-Z0-9_]*)\(")


def dialplan_needs(text: str) -> tuple[list[str], list[str]]:
    """(applications, functions) an extensions.conf text uses, sorted; functions are the upper-case
    names called as `${NAME(...)}` or assigned as `Set(NAME(...)=...)`."""
    apps = set(_APP.findall(text)) | set(_NESTED_APP.findall(text))
    funcs = set(_FUNCTION.findall(text))
    return sorted(apps), sorted(funcs)


def provided_by(output: str) -> str | None:
    """The `[Provided By]` module of a `core show application|function` output."""
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines):
        if line == "[Provided By]":
            return next((x for x in lines[i + 1:] if x), None)
    return None


def module_running(output: str, module: str) -> bool:
    """Whether a `module show like MODULE` output lists it as Running."""
    for line in output.splitlines():
        fields = line.split()
        if fields and fields[0] == module:
            return "Running" in fields
    return False


def cdr_settings(output: str) -> dict[str, str]:
    """{'logging': 'Enabled', 'log unanswered calls': 'Yes', ...} from `cdr show status`."""
    out: dict[str, str] = {}
    for line in output.split("Registered Backends", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            out[key.strip().lower()] = value.strip()
    return out


def user_permissions(output: str) -> dict[str, set[str]]:
    """{'read': {...}, 'write': {...}} from `manager show user NAME`."""
    perms: dict[str, set[str]] = {"read": set(), "write": set()}
    for line in output.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("read perm", "write perm"):
            perms[key.split()[0]] = {p.strip() for p in value.split(",") if p.strip()}
    return perms


def _module_fix(module: str) -> str:
    return (f"`module load {module}` on the Asterisk CLI, and in modules.conf `load => {module}` (or remove "
            f"`noload => {module}`) so it is loaded at the next start")


# ---------------------------------------------------------------------------------------- the check
def check(target: DeployTarget, rendered: RenderedConfig, *, ami: AmiLike | None, ami_error: str | None = None,
          ami_user: str = "ivr400", controller: tuple[str, int] | None = None,
          config_file: Path | None = None, cdr_csv: Path | None = None,
          clicktocall: Sequence[str] = ()) -> CheckReport:
    """Check `target` for everything `rendered` (and ivr400's services) need; see the module docstring.

    `ami`: a logged-in connection, or None with `ami_error` saying why there is none. `controller`:
    (host, port) where `ivr400 serve` should listen. `config_file`: ivr400's configuration file, checked
    for being readable by everyone while holding the AMI secret. `cdr_csv`: cdr_custom's CSV as ivr400
    reads it (its directory must exist: cdr_custom does not create it). `clicktocall`: the hotlines with
    click-to-call set up (their callbacks need AMI `Originate`: without the permission that is `missing`).
    """
    report = CheckReport(config_dir=str(target.config_dir))
    _check_files(report, target)
    _check_writable(report, target)
    if config_file is not None:
        _check_config_file(report, config_file)
    if cdr_csv is not None:
        _check_cdr_csv(report, cdr_csv)
    if ami is None:
        report.add(MISSING, "ami login", ami_error or "no AMI connection",
                   f"a manager.conf user `[{ami_user}]` with the secret in ivr400's settings (ami.*), "
                   "`manager reload` (docs/operations.md, The AMI user)")
    else:
        report.add(OK, "ami login", f"logged in as {ami_user}")
        _check_ami(report, ami, rendered, ami_user, clicktocall)
    if controller is not None:
        _check_controller(report, *controller)
    return report


def _check_files(report: CheckReport, target: DeployTarget) -> None:
    for inc in INCLUDES.values():
        _check_include(report, target.config_dir, inc)
    users = target.config_dir / "users.conf"
    if users.exists():
        report.add(WARNING, "users.conf", f"{users} exists: every `dialplan reload` (every deploy) then leaves one "
                   "more subscriber on Asterisk's manager topic and calls cost more CPU until a restart "
                   "(docs/asterisk-reload-leak.md)",
                   f"unless you use it (deprecated), `mv {users} {users}.disabled`")
    path = target.config_dir / "cdr_manager.conf"
    try:
        general = section_values(path.read_text(errors="replace"), "general")
    except OSError:
        return  # the include check already said the file is missing
    if general.get("enabled", "").lower() in ("yes", "true", "on", "1"):
        report.add(OK, "cdr_manager enabled", f"{path}: [general] enabled = {general['enabled']}")
    else:
        report.add(MISSING, "cdr_manager enabled", f"{path}: [general] has no `enabled = yes`",
                   f"add `enabled = yes` under [general] in {path}, then `module reload cdr_manager.so`")


def _check_include(report: CheckReport, config_dir: Path, inc: IncludeFile) -> None:
    parent = config_dir / inc.parent
    line = include_line(inc.name)
    where = f" inside [{inc.section}]" if inc.section else ""
    found, at = find_include(config_dir, inc.parent, inc.name, inc.section)
    if found:
        report.add(OK, f"include {inc.name}", f"{at}: {line}")
        return
    if not parent.exists():
        detail = f"{parent} does not exist"
        fix = (f"create {parent} with " + (f"`[{inc.section}]` followed by `{line}`" if inc.section else f"`{line}`")
               + f", then `{inc.reload}`")
    else:
        detail = f"{at or parent} does not include {inc.name}{where}"
        fix = f"add `{line}`{where} to {parent}" + ("" if inc.section else " (at the end)") + f", then `{inc.reload}`"
    report.add(MISSING, f"include {inc.name}", detail, fix)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _check_writable(report: CheckReport, target: DeployTarget) -> None:
    # (ivr400's directory, the Asterisk directory it goes in: that one must exist, ivr400 does not create it)
    varlib = target.host(VARLIB)
    dirs = {
        "include directory": (target.config_dir / INCLUDE_DIR, target.config_dir),
        "sounds directory": (target.sounds_dir / "ivr400", target.sounds_dir.parent),
        "music-on-hold directory": (varlib / "moh" / "ivr400", varlib),
    }
    for item, (path, base) in dirs.items():
        if not base.is_dir():
            report.add(MISSING, f"writable {item}", f"{base} does not exist (Asterisk's directory; ivr400 does not "
                                                    "create it)",
                       "install Asterisk on this host, or point asterisk.root / asterisk.config_dir / "
                       "asterisk.sounds_dir at its directories")
            continue
        probe = _nearest_existing(path)
        if os.access(probe, os.W_OK | os.X_OK):
            report.add(OK, f"writable {item}", f"{path}")
        else:
            report.add(MISSING, f"writable {item}", f"{probe} is not writable by uid {os.getuid()}",
                       f"`install -d -o ivr400 -g asterisk -m 2775 {path}` (docs/operations.md, File ownership)")


def _check_config_file(report: CheckReport, path: Path) -> None:
    try:
        mode = path.stat().st_mode
        holds_secret = "secret" in path.read_text(errors="replace")
    except OSError:
        return
    if holds_secret and mode & stat.S_IROTH:
        report.add(WARNING, "config file mode", f"{path} holds the AMI secret and is readable by everyone "
                                                f"(mode {stat.S_IMODE(mode):04o})",
                   f"`chown root:ivr400 {path} && chmod 0640 {path}`")


def _check_cdr_csv(report: CheckReport, path: Path) -> None:
    if path.exists():
        if os.access(path, os.R_OK):
            report.add(OK, "cdr csv", f"{path} is readable")
        else:
            report.add(MISSING, "cdr csv", f"{path} is not readable by uid {os.getuid()}",
                       "add the ivr400 user to group asterisk (`usermod -aG asterisk ivr400`)")
    elif path.parent.is_dir():
        report.add(OK, "cdr csv", f"{path} not written yet (no call since cdr_custom loaded)")
    else:
        report.add(MISSING, "cdr csv", f"{path.parent} does not exist: cdr_custom cannot write {path.name}",
                   f"`install -d -o asterisk -g asterisk -m 0750 {path.parent}` (on the Asterisk host), "
                   "then `module reload cdr_custom.so`")


def _run(ami: AmiLike, cmd: str) -> str | AmiError:
    try:
        return ami.command(cmd)
    except AmiError as exc:
        return exc


def originate_finding(perms: dict[str, set[str]], user: str, clicktocall: Sequence[str]) -> Finding:
    """Whether `user` (its permissions from `user_permissions`) may send `Action: Originate`: ok; missing
    when hotlines (`clicktocall`) have click-to-call set up; a warning otherwise (needed once one is)."""
    item = "ami write originate"
    have = perms["write"]
    why = "WEB呼叫 click-to-call and operator callbacks place calls (Action: Originate)"
    if "originate" in have or "all" in have:
        return Finding(OK, item, why)
    fix = (f"add `originate` to `write =` in manager.conf [{user}] (e.g. `write = "
           f"{','.join(sorted(have | {'originate'}))}`), then `manager reload`")
    detail = f"user {user} has write = {','.join(sorted(have)) or '(none)'}; {why}"
    if clicktocall:
        return Finding(MISSING, item, f"{detail}: set up on {', '.join(sorted(clicktocall))}, whose callbacks fail",
                       fix)
    return Finding(WARNING, item, f"{detail}: no hotline has click-to-call set up yet", fix)


def _check_timing(report: CheckReport, ami: AmiLike) -> None:
    """A warning while res_timing_timerfd is loaded (docs/asterisk-timerfd-wedge.md)."""
    out = _run(ami, f"module show like {TIMERFD}")
    if isinstance(out, AmiError):
        report.add(WARNING, "timing module", f"`module show like {TIMERFD}` refused: {out.reason}",
                   "`asterisk -rx 'timing test'` must say pthread (docs/asterisk-timerfd-wedge.md)")
        return
    if not module_running(out, TIMERFD):
        report.add(OK, "timing module", f"{TIMERFD} not loaded")
        return
    report.add(WARNING, "timing module", f"{TIMERFD} is loaded: on Asterisk 22.10.1, under load, menu calls bridged "
               "to a seat can stay up for good after the caller's BYE (docs/asterisk-timerfd-wedge.md)",
               f"`noload => {TIMERFD}` in modules.conf (res_timing_pthread then drives the prompts), then "
               "`core restart now` in a quiet moment (not `gracefully`: a stuck call never ends)")


def _check_ami(report: CheckReport, ami: AmiLike, rendered: RenderedConfig, user: str,
               clicktocall: Sequence[str] = ()) -> None:
    out = _run(ami, f"manager show user {user}")
    if isinstance(out, AmiError):
        report.add(MISSING, "ami permissions", f"`manager show user {user}` refused: {out.reason}",
                   f"in manager.conf [{user}]: `write = command,system` (and `read = cdr`), then `manager reload`")
    else:
        perms = user_permissions(out)
        for direction, klass, why in PERMISSIONS:
            have = perms[direction]
            if klass in have or "all" in have:
                report.add(OK, f"ami {direction} {klass}", why)
            else:
                report.add(MISSING, f"ami {direction} {klass}", f"user {user} has {direction} = "
                                                                f"{','.join(sorted(have)) or '(none)'}; {why}",
                           f"add `{klass}` to `{direction} =` in manager.conf [{user}], then `manager reload`")
        report.findings.append(originate_finding(perms, user, clicktocall))
    for module in dict.fromkeys([*(inc.module for inc in INCLUDES.values()), *MODULES]):
        out = _run(ami, f"module show like {module}")
        if not isinstance(out, AmiError) and module_running(out, module):
            report.add(OK, f"module {module}", "running")
        else:
            report.add(MISSING, f"module {module}", "not loaded", _module_fix(module))
    _check_timing(report, ami)
    text = rendered.files.get(f"{INCLUDE_DIR}/extensions.conf", "")
    apps, funcs = dialplan_needs(text)
    for kind, names in (("application", apps), ("function", funcs)):
        for name in names:
            out = _run(ami, f"core show {kind} {name}")
            provider = None if isinstance(out, AmiError) else provided_by(out)
            if provider is not None:
                report.add(OK, f"{kind} {name}", f"provided by {provider}")
            else:
                needed = PROVIDERS.get(name)
                fix = _module_fix(f"{needed}.so") if needed and needed != "builtin" else \
                    f"load the Asterisk module providing {kind} {name}"
                report.add(MISSING, f"{kind} {name}", "not registered: the dialplan uses it", fix)
    _check_endpoints(report, ami, rendered)
    out = _run(ami, "dialplan show ivr400-inbound")
    if isinstance(out, AmiError) or "ivr400-inbound" not in out:
        report.add(MISSING, "dialplan ivr400-inbound", "ivr400's dialplan is not loaded",
                   "`ivr400 deploy` (after adding the includes above)")
    else:
        report.add(OK, "dialplan ivr400-inbound", "loaded")
    out = _run(ami, "cdr show status")
    backends = {} if isinstance(out, AmiError) else cdr_backends(out)
    settings = {} if isinstance(out, AmiError) else cdr_settings(out)
    for key, want, fix in (("logging", "enabled", "`enable = yes` in cdr.conf [general], then `module reload cdr`"),
                           ("log unanswered calls", "yes", "`unanswered = yes` in cdr.conf [general] (missed calls "
                                                           "are call records too), then `module reload cdr`")):
        value = settings.get(key)
        if value is not None and value.lower() == want:
            report.add(OK, f"cdr {key}", value)
        else:
            report.add(MISSING, f"cdr {key}", f"cdr show status says {value or '(nothing)'}", fix)
    for backend, module in (("custom", "cdr_custom.so"), ("cdr_manager", "cdr_manager.so")):
        state = backends.get(backend)
        if state == "active":
            report.add(OK, f"cdr backend {backend}", "registered")
        elif state == "suspended":
            report.add(MISSING, f"cdr backend {backend}", "registered but suspended",
                       "`enabled = yes` in cdr_manager.conf [general], then `module reload cdr_manager.so`")
        else:
            report.add(MISSING, f"cdr backend {backend}", "not registered", _module_fix(module))


def dialed_endpoints(rendered: RenderedConfig) -> dict[str, list[str]]:
    """PJSIP endpoint → the trunks (by name; "(default)" for seats without one) that dial through it.

    Only what the database dials: the render model's trunks are those of the seats routable now on active
    hotlines (ivr400.tree), so the default `PJSIP/{number}@ivr400-out` is there only when such a seat has no
    trunk of its own or its hotline's; a trunk no seat uses is not. Both PJSIP forms count
    (`PJSIP/{number}@endpoint` and the lab's `PJSIP/endpoint/sip:…`).
    """
    model = rendered.model
    found: dict[str, list[str]] = {}
    for t in model.trunks if model is not None else ():
        endpoint = dialed_pjsip_endpoint(t.template)
        if endpoint:
            found.setdefault(endpoint, []).append(t.name)
    return dict(sorted(found.items()))


def _check_endpoints(report: CheckReport, ami: AmiLike, rendered: RenderedConfig) -> None:
    for name, trunks in dialed_endpoints(rendered).items():
        via = f"trunk {', '.join(trunks)}"
        out = _run(ami, f"pjsip show endpoint {name}")
        if isinstance(out, AmiError) or "Unable to find" in out:
            report.add(MISSING, f"pjsip endpoint {name}", f"routable seats dial through it ({via}) but it does not "
                       "exist", f"define endpoint `{name}` (with its aor) in pjsip.conf, then "
                       "`module reload res_pjsip.so`")
        else:
            report.add(OK, f"pjsip endpoint {name}", f"exists ({via})")


def _check_controller(report: CheckReport, host: str, port: int) -> None:
    probe = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host.strip("[]")
    try:
        with socket.create_connection((probe, port), timeout=1.0):
            report.add(OK, "controller", f"something listens on {probe}:{port}")
    except OSError as exc:
        report.add(WARNING, "controller", f"nothing listens on {probe}:{port} ({exc.strerror or exc}); calls "
                                          "take the static plan", "start `ivr400 serve` (systemd: ivr400-serve)")


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    out = {OK: 0, MISSING: 0, WARNING: 0}
    for f in findings:
        out[f.status] += 1
    return out


__all__ = ["MODULES", "PERMISSIONS", "PROVIDERS", "CheckReport", "Finding", "check", "dialplan_needs",
           "find_include", "include_target", "module_running", "provided_by", "section_values", "summary",
           "user_permissions"]
