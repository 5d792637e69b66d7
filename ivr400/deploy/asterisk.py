"""Deploy: database → rendered include files → Asterisk, atomically, reloading only what changed.

    target = DeployTarget.from_settings(settings)   # the caller says where: config dir, sounds, spool, AMI
    report = deploy_from_db(session, now, target)   # or deploy(rendered, target, ami=...)

This module never looks for a lab or a configuration file: the CLI resolves the target (from
ivr400.config's settings, or from the lab with `ivr400 --lab`) and passes it down.

Steps, each of which can stop the deploy with a `DeployError(field, reason)`:

1. render from the database into a staging directory and check it (template errors, unreadable
   sound sources, lines that are not Asterisk config syntax): nothing is written on failure; the
   CDR mapping includes (`ivr400/cdr_custom.conf`, `ivr400/cdr_manager.conf`) come with it;
2. connect to AMI first (no connection, nothing written) unless `reload=False` or `dry_run`;
3. install sounds and tones where Asterisk reads them (`sounds/...` under the sounds directory,
   `moh/...` under /var/lib/asterisk as musiconhold.conf names it), then the changed include files;
   every file goes to a temp file in its own directory, fsync, os.replace; the replaced versions of
   the include files are kept in `<config_dir>/ivr400/.previous/`;
4. write the hotlines' data into Asterisk's database (AstDB) through AMI, only the keys that changed
   (ivr400.deploy.astdb: a data change is a few writes, no reload); then reload only the modules whose file
   changed (ivr400.pbx.asterisk.config_files.RELOAD: `dialplan reload`, `moh reload`,
   `module reload res_pjsip.so`, `module reload cdr_custom.so`, ...) — for the dialplan, only when ivr400's
   generic contexts themselves changed (an upgrade), never for a hotline's data;
5. verify through AMI that what was rendered is what runs: `dialplan show <context>` for every
   context lists every rendered extension, every MOH class is known, every PJSIP object exists, the
   CDR backends are registered and not suspended, AstDB's marker names the data just written.

If 4 or 5 fails, every file is put back as it was, the AstDB data too, the same modules are reloaded again
(the running dialplan keeps working) and the error says why. A lock file serializes concurrent deploys.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from ivr400.cdr.cdr_model import cdr_custom_mapping, cdr_manager_mappings
from ivr400.config import SPOOL, Settings
from ivr400.deploy import astdb
from ivr400.fsutil import atomic_write, file_lock, path_in_root
from ivr400.pbx.asterisk.ami import Ami, AmiError, AmiLike, AmiSettings
from ivr400.pbx.asterisk.config_files import INCLUDE_DIR, RELOAD
from ivr400.pbx.asterisk.dialplan_variables import FAX_SPOOL, VOICEMAIL_SPOOL
from ivr400.render import asterisk as r
from ivr400.render.asterisk import ASTDB_FILE, parse_astdb
from ivr400.render.model import RenderValueError

BACKUP_DIR = f"{INCLUDE_DIR}/.previous"
LOCK_FILE = f"{INCLUDE_DIR}/.deploy.lock"
#: Where musiconhold.conf's classes live (Asterisk's path; the `moh/...` sound keys are relative to it).
VARLIB = "/var/lib/asterisk"
CDR_CUSTOM = f"{INCLUDE_DIR}/cdr_custom.conf"
CDR_MANAGER = f"{INCLUDE_DIR}/cdr_manager.conf"

_CONTEXT = re.compile(r"^\[([^\]\s;]+)\]", re.MULTILINE)
_EXTEN = re.compile(r"^\s*exten\s*=>\s*([^,\s]+)\s*,", re.MULTILINE)
#: A line of an Asterisk config file: blank, comment, [section](options), key = / => value, #include.
_CONF_LINE = re.compile(
    r"^\s*(?:$|;.*|\[[^\]\s]+\](?:\([^)]*\))?\s*(?:;.*)?|#(?:include|tryinclude|exec)\b.*|[A-Za-z0-9_.(),-]+\s*=>?.*)$")


class DeployError(RuntimeError):
    """Deploy refused or failed: printed as `error: FIELD: reason`. `report` has what happened so far."""

    def __init__(self, field: str, reason: str, report: DeployReport | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.report = report


# --------------------------------------------------------------------------- where things go
@dataclass(frozen=True)
class DeployTarget:
    """Where an Asterisk reads its files, as paths on this host, and how to reach its AMI.

    `config_dir`: its configuration directory (astetcdir); `sounds_dir`: its `<astdatadir>/sounds`;
    `spool_dir`: where it sees /var/spool/asterisk/ivr400; `root`: its "/" on this host (a chroot or
    a container volume, "/" when it runs here), for the absolute paths musiconhold.conf names;
    `ami`: how to reach it (None: deploys only with `reload=False`).
    """

    config_dir: Path
    sounds_dir: Path
    spool_dir: Path
    root: Path = Path("/")
    ami: AmiSettings | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, ami: AmiSettings | None = None) -> DeployTarget:
        """The target the settings describe (asterisk.* paths); `ami` as given (see Settings.require_ami)."""
        return cls(config_dir=settings.asterisk_config_dir, sounds_dir=settings.asterisk_sounds_dir,
                   spool_dir=settings.asterisk_spool_dir, root=settings.asterisk_root, ami=ami)

    def host(self, asterisk_path: str) -> Path:
        """Host path of an absolute path as Asterisk sees it (its symlinks followed under `root`)."""
        if self.root == Path("/"):
            return Path(asterisk_path)
        try:
            return path_in_root(self.root, asterisk_path)
        except OSError as exc:
            raise DeployError("root", str(exc)) from exc

    def sound_path(self, target: str) -> Path:
        """Host path for a RenderedConfig.sounds key (`sounds/...` or `moh/...`, relative to Asterisk's dirs)."""
        rel = PurePosixPath(target)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise DeployError("sound", f"{target!r} is not a relative path inside Asterisk's directories")
        if rel.parts[0] == "sounds":
            return self.sounds_dir.joinpath(*rel.parts[1:])
        return self.host(str(PurePosixPath(VARLIB, rel)))

    @property
    def voicemail_dir(self) -> Path:
        """Host path of VOICEMAIL_SPOOL."""
        return self.spool_dir / PurePosixPath(VOICEMAIL_SPOOL).relative_to(SPOOL)

    @property
    def fax_dir(self) -> Path:
        """Host path of FAX_SPOOL (传真)."""
        return self.spool_dir / PurePosixPath(FAX_SPOOL).relative_to(SPOOL)

    @property
    def backup_dir(self) -> Path:
        return self.config_dir / BACKUP_DIR


def cdr_include_files() -> dict[str, str]:
    """The call-record mapping as two include files, each included inside the operator's `[mappings]`
    (cdr_custom.conf and cdr_manager.conf read only their first `[mappings]`, so a second section
    in an include would be ignored). Columns and headers: ivr400.cdr.cdr_model."""
    head = ("; {name}: generated by ivr400. Do not edit: changes are overwritten.\n"
            "; Included inside the [mappings] section of {parent} (see docs/operations.md).\n")
    return {
        CDR_CUSTOM: head.format(name=CDR_CUSTOM, parent="cdr_custom.conf")
        + "; One CSV line per CDR for `ivr400 cdr import` (and the listener's backfill).\n"
        + cdr_custom_mapping() + "\n",
        CDR_MANAGER: head.format(name=CDR_MANAGER, parent="cdr_manager.conf")
        + "; Headers added to every AMI Cdr event for `ivr400 cdr listen`. [general] needs enabled = yes.\n"
        + "\n".join(cdr_manager_mappings()) + "\n",
    }


# --------------------------------------------------------------------------- files
_COMMENT = re.compile(r"(?<!\\);.*$")


def _semantic(data: bytes | None) -> list[str] | None:
    """A config file's text without comments, blank lines and trailing blanks (what Asterisk loads)."""
    if data is None:
        return None
    lines = (_COMMENT.sub("", line).rstrip() for line in data.decode("utf-8", "replace").splitlines())
    return [line for line in lines if line]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class Journal:
    """Every file replaced by this deploy and how to put it back (reverse order)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.entries: list[tuple[Path, Path | None]] = []

    def replace(self, path: Path, data: bytes, mode: int | None = None) -> None:
        old = _read(path)
        backup = None
        if old is not None:
            backup = self.scratch / f"{len(self.entries):05d}-{path.name}"
            backup.write_bytes(old)
            if mode is None:
                mode = path.stat().st_mode & 0o7777
        self.entries.append((path, backup))
        atomic_write(path, data, mode)

    def rollback(self) -> list[str]:
        """Restore every file (removing those that did not exist); returns the problems met."""
        problems = []
        for path, backup in reversed(self.entries):
            try:
                if backup is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write(path, backup.read_bytes())
            except OSError as exc:
                problems.append(f"{path}: {exc}")
        self.entries.clear()
        return problems


# --------------------------------------------------------------------------- checks
def lint_config(name: str, text: str) -> None:
    """Refuse a rendered file with a line Asterisk's config parser would not understand."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not _CONF_LINE.match(line):
            raise DeployError("template", f"{name}:{lineno}: not an Asterisk config line: {line.strip()[:80]!r}")


def contexts_and_extensions(text: str) -> dict[str, list[str]]:
    """{context: [extension names]} of an extensions.conf text, in order."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        m = _CONTEXT.match(line)
        if m:
            current = out.setdefault(m.group(1), [])
            continue
        m = _EXTEN.match(line)
        if m and current is not None and m.group(1) not in current:
            current.append(m.group(1))
    return out


def sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """[(section, {key: value})] of a config text (templates `(!)` left out)."""
    out: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        m = re.fullmatch(r"\[([^\]\s]+)\](\([^)]*\))?", line)
        if m:
            current = None if m.group(2) and "!" in m.group(2) else {}
            if current is not None:
                out.append((m.group(1), current))
            continue
        if current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip().lower()] = value.lstrip(">").strip()
    return out


@dataclass
class Verification:
    contexts: int = 0
    extensions: int = 0
    moh_classes: int = 0
    pjsip_objects: int = 0
    cdr_backends: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _batch(ami: AmiLike, cmds: list[str]) -> list[str | AmiError]:
    run_many = getattr(ami, "commands", None)
    if run_many is not None:
        return list(run_many(cmds))
    out: list[str | AmiError] = []
    for cmd in cmds:
        try:
            out.append(ami.command(cmd))
        except AmiError as exc:
            out.append(exc)
    return out


def verify(ami: AmiLike, files: Mapping[str, str], contexts: Iterable[str] | None = None) -> Verification:
    """Check through AMI that the running Asterisk has loaded `files` (rendered include files)."""
    v = Verification()
    ext_text = files.get("ivr400/extensions.conf")
    if ext_text is not None:
        table = contexts_and_extensions(ext_text)
        names = list(contexts) if contexts is not None else list(table)
        outputs = _batch(ami, [f"dialplan show {ctx}" for ctx in names])
        for ctx, out in zip(names, outputs, strict=False):
            if isinstance(out, AmiError):
                v.problems.append(f"context {ctx} is not loaded ({out.reason})")
                continue
            v.contexts += 1
            for exten in table.get(ctx, []):
                if f"'{exten}' =>" not in out:
                    v.problems.append(f"context {ctx}: extension {exten} is not loaded")
                else:
                    v.extensions += 1
    moh_text = files.get("ivr400/musiconhold.conf")
    if moh_text is not None:
        classes = [name for name, _ in sections(moh_text) if name.lower() != "general"]
        if classes:
            try:
                out = ami.command("moh show classes")
            except AmiError as exc:
                v.problems.append(f"moh show classes: {exc.reason}")
            else:
                loaded = set(re.findall(r"^Class:\s*(\S+)", out, re.MULTILINE))
                for name in classes:
                    if name in loaded:
                        v.moh_classes += 1
                    else:
                        v.problems.append(f"music on hold class {name} is not loaded")
    pjsip_text = files.get("ivr400/pjsip.conf")
    if pjsip_text is not None:
        objects = [(name, kv["type"]) for name, kv in sections(pjsip_text)
                   if kv.get("type") in ("endpoint", "aor", "auth")]
        outputs = _batch(ami, [f"pjsip show {kind} {name}" for name, kind in objects])
        for (name, kind), out in zip(objects, outputs, strict=False):
            if isinstance(out, AmiError) or "Unable to find" in out:
                v.problems.append(f"pjsip {kind} {name} is not loaded")
            else:
                v.pjsip_objects += 1
    wanted = [b for name, b in ((CDR_CUSTOM, "custom"), (CDR_MANAGER, "cdr_manager")) if name in files]
    if wanted:
        try:
            registered = cdr_backends(ami.command("cdr show status"))
        except AmiError as exc:
            v.problems.append(f"cdr show status: {exc.reason}")
        else:
            for backend in wanted:
                state = registered.get(backend)
                if state is None:
                    v.problems.append(f"CDR backend {backend} is not registered (module not loaded?)")
                elif state == "suspended":
                    v.problems.append(f"CDR backend {backend} is suspended (cdr_manager.conf [general] enabled = no?)")
                else:
                    v.cdr_backends += 1
    return v


def cdr_backends(status: str) -> dict[str, str]:
    """{backend: 'active'|'suspended'} from `cdr show status` ('custom' for cdr_custom's 'CDR File custom ...')."""
    out: dict[str, str] = {}
    _, _, tail = status.partition("Registered Backends")
    for line in tail.splitlines():
        text = line.strip()
        if not text or set(text) <= {"-"}:
            continue
        state = "suspended" if "(suspended)" in text else "active"
        name = text.replace("(suspended)", "").strip()
        key = "custom" if name.lower().startswith("cdr file custom") else name
        out[key] = state
    return out


# --------------------------------------------------------------------------- the deploy
@dataclass
class DeployReport:
    config_dir: str
    sounds_dir: str = ""
    dry_run: bool = False
    files_changed: list[str] = field(default_factory=list)
    files_unchanged: list[str] = field(default_factory=list)
    comment_only: list[str] = field(default_factory=list)
    sounds_installed: list[str] = field(default_factory=list)
    sounds_unchanged: int = 0
    reloads: list[dict[str, str]] = field(default_factory=list)
    #: Reloads the changes need but `reload=False` (--no-reload) left to the operator.
    reloads_skipped: list[str] = field(default_factory=list)
    contexts_verified: int = 0
    extensions_verified: int = 0
    moh_classes_verified: int = 0
    pjsip_objects_verified: int = 0
    cdr_backends_verified: int = 0
    #: The hotlines' data written into Asterisk's database (ivr400.deploy.astdb): full (the family rewritten),
    #: put, deleted (keys), seconds; None when nothing was synced (dry run, --no-reload).
    astdb: dict[str, Any] | None = None
    #: Keys the data changes in AstDB (dry run: what a deploy would write; --no-reload: left unwritten).
    astdb_changes: int = 0
    backup_dir: str | None = None
    warnings: list[str] = field(default_factory=list)
    rolled_back: bool = False
    rollback_problems: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def reloaded(self) -> list[str]:
        return [r["command"] for r in self.reloads]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reloaded"] = self.reloaded
        return data


def render_for_deploy(session: Session, now: datetime, *, template_dirs: Iterable[str | os.PathLike[str]] = (),
                      agi_url: str | None = None, data_root: Path | None = None) -> r.RenderedConfig:
    """render_asterisk(), with every render failure turned into DeployError('template', ...)."""
    kwargs: dict[str, Any] = {"template_dirs": tuple(template_dirs), "data_root": data_root}
    if agi_url is not None:
        kwargs["agi_url"] = agi_url
    try:
        return r.render_asterisk(session, now, **kwargs)
    except r.RenderError as exc:
        raise DeployError("template", str(exc)) from exc
    except RenderValueError as exc:
        raise DeployError("render", str(exc)) from exc


AmiFactory = Callable[[], AmiLike]


def _default_ami_factory(target: DeployTarget) -> AmiFactory:
    def connect() -> AmiLike:
        if target.ami is None:
            raise DeployError("ami", "no AMI settings for this target: set ami.secret "
                                     "([ami] secret or IVR400_AMI_SECRET), or deploy with --no-reload")
        return Ami.connect(target.ami)
    return connect


def deploy(rendered: r.RenderedConfig, target: DeployTarget, *, ami: AmiLike | AmiFactory | None = None,  # noqa: C901
           dry_run: bool = False, reload: bool = True, allow_empty: bool = False) -> DeployReport:
    """Install a RenderedConfig into `target` (see the module docstring for the steps).

    Refuses (DeployError 'database') to deploy a database with no active hotline over a target that serves
    some — a mistyped database URL would otherwise take every hotline out of the static plan — unless
    `allow_empty`."""
    started = time.monotonic()
    report = DeployReport(config_dir=str(target.config_dir), sounds_dir=str(target.sounds_dir),
                          dry_run=dry_run, warnings=list(rendered.warnings))
    files: dict[str, str] = {**rendered.files, **cdr_include_files()}
    reload_map = RELOAD

    # 1. stage and check: nothing is written to Asterisk's directories before this passes.
    for name, text in files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise DeployError("render", f"{name!r} is not a path inside the config directory", report)
        if name == ASTDB_FILE:
            try:
                parse_astdb(text)
            except ValueError as exc:
                raise DeployError("render", f"{name}: {exc}", report) from exc
            continue
        lint_config(name, text)
    sounds: dict[str, Path] = dict(rendered.sounds)
    sound_data: dict[str, bytes] = {}
    for tgt, source in sounds.items():
        target.sound_path(tgt)  # refuses a path outside Asterisk's directories
        try:
            sound_data[tgt] = Path(source).read_bytes()
        except OSError as exc:
            raise DeployError("sound", f"{tgt}: cannot read {source} ({exc.strerror or exc})", report) from exc

    _require_dirs(target, sounds, report)

    with (nullcontext() if dry_run else file_lock(target.config_dir / LOCK_FILE)):
        for name, text in files.items():
            current = _read(target.config_dir / name)
            (report.files_unchanged if current == text.encode("utf-8") else report.files_changed).append(name)
        changed_sounds = [t for t in sounds if _read(target.sound_path(t)) != sound_data[t]]
        report.sounds_installed = changed_sounds
        report.sounds_unchanged = len(sounds) - len(changed_sounds)
        # Reload a module only when its file changed beyond comments, or (moh) when its files did.
        semantic = [n for n in report.files_changed
                    if _semantic(_read(target.config_dir / n)) != _semantic(files[n].encode("utf-8"))]
        report.comment_only = [n for n in report.files_changed if n not in semantic]
        wanted = [reload_map[n] for n in semantic if n in reload_map]
        if any(PurePosixPath(t).parts[0] == "moh" for t in changed_sounds) and "ivr400/musiconhold.conf" in reload_map:
            wanted.append(reload_map["ivr400/musiconhold.conf"])
        reload_cmds = list(dict.fromkeys(wanted))
        installed_astdb = _read(target.config_dir / ASTDB_FILE)
        if ASTDB_FILE in files:
            before = _parse_installed(installed_astdb) or {}
            after = parse_astdb(files[ASTDB_FILE])
            served = {n for n in map(astdb_hotline, before) if n is not None}
            if served and not any(astdb_hotline(k) for k in after) and not allow_empty:
                raise DeployError("database", f"it has no active hotline, while this Asterisk serves {len(served)} "
                                              f"(e.g. {min(served)}): is the database URL right? Deploying it would "
                                              "take every hotline out of the static plan; if that is what you want, "
                                              "deploy with --allow-empty; nothing was written", report)
            report.astdb_changes = astdb.plan_sync(before, after).writes
        if dry_run:
            report.reloads = [{"command": c, "output": "(dry run)"} for c in reload_cmds]
            report.seconds = time.monotonic() - started
            return report

        # 2. AMI before touching anything.
        conn: AmiLike | None = None
        owned = False
        if not reload:
            report.reloads_skipped = reload_cmds + (["AstDB sync"] if ASTDB_FILE in files else [])
        else:
            if ami is None:
                ami = _default_ami_factory(target)
            if callable(ami) and not hasattr(ami, "command"):
                try:
                    conn = ami()
                except AmiError as exc:
                    raise DeployError("ami", f"{exc.reason}; nothing was written", report) from exc
                owned = True
            else:
                conn = ami  # type: ignore[assignment]
        try:
            _install(rendered, files, sounds, sound_data, changed_sounds, target, report, conn, reload_cmds,
                     installed_astdb)
        finally:
            if owned and conn is not None:
                close = getattr(conn, "close", None)
                if close is not None:
                    close()
    report.seconds = time.monotonic() - started
    return report


def _require_dirs(target: DeployTarget, sounds: Mapping[str, Path], report: DeployReport) -> None:
    """Refuse a target whose Asterisk directories do not exist (a wrong path or no Asterisk on this
    host) rather than creating them: ivr400 writes only its own subdirectories inside Asterisk's.

    Raises DeployError('asterisk.config_dir' | 'asterisk.sounds_dir' | 'asterisk.root', ...).
    """
    if not target.config_dir.is_dir():
        raise DeployError("asterisk.config_dir", f"{target.config_dir} does not exist (is Asterisk installed here? "
                                                 "set asterisk.config_dir or asterisk.root); nothing was written",
                          report)
    kinds = {PurePosixPath(t).parts[0] for t in sounds}
    if "sounds" in kinds and not target.sounds_dir.parent.is_dir():
        raise DeployError("asterisk.sounds_dir", f"{target.sounds_dir.parent} (Asterisk's data directory) does not "
                                                 "exist; set asterisk.sounds_dir or asterisk.root; nothing was written",
                          report)
    if kinds - {"sounds"}:
        varlib = target.host(VARLIB)
        if not varlib.is_dir():
            raise DeployError("asterisk.root", f"{varlib} (Asterisk's {VARLIB}, where music on hold goes) does not "
                                               "exist; set asterisk.root; nothing was written", report)


def _install(rendered: r.RenderedConfig, files: dict[str, str], sounds: dict[str, Path], sound_data: dict[str, bytes],
             changed_sounds: list[str], target: DeployTarget, report: DeployReport, conn: AmiLike | None,
             reload_cmds: list[str], installed_astdb: bytes | None) -> None:
    started = time.monotonic()
    target.config_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ivr400-deploy-") as scratch:
        journal = Journal(Path(scratch))
        previous: dict[str, bytes | None] = {n: _read(target.config_dir / n) for n in report.files_changed}
        try:
            # 3. sounds first (a new dialplan may play them; the old one ignores extra files), then configs.
            for tgt in changed_sounds:
                journal.replace(target.sound_path(tgt), sound_data[tgt], 0o644)
            for name in report.files_changed:
                journal.replace(target.config_dir / name, files[name].encode("utf-8"))
        except OSError as exc:
            report.rollback_problems = journal.rollback()
            report.rolled_back = True
            raise DeployError("write", f"{exc}; previous files restored", report) from exc
        _spool_dirs(rendered, target, report)
        if conn is None:  # --no-reload: Asterisk picks the files up at its next reload/start
            _keep_backups(target, previous, report)
            return

        # 4. the hotlines' data into AstDB (the running dialplan, old or new, reads only what it knows), then
        # reload what changed.  5. verify everything.
        failure: str | None = None
        field_name = "astdb"
        old_data = _parse_installed(installed_astdb)
        wanted_text = files.get(ASTDB_FILE)
        if wanted_text is not None:
            try:
                synced = astdb.sync(conn, old_data, installed_astdb, parse_astdb(wanted_text), wanted_text)
                report.astdb = {"full": synced.full, "put": synced.put, "deleted": synced.deleted,
                                "seconds": round(synced.seconds, 3)}
            except AmiError as exc:
                failure = f"AstDB sync failed: {exc.reason}"
            except Exception as exc:  # noqa: BLE001 - whatever it is, the old files must come back
                failure = f"AstDB sync failed: {type(exc).__name__}: {exc}"
        if failure is None:
            field_name = "reload"
        for cmd in reload_cmds if failure is None else ():
            try:
                out = conn.reload(cmd)
            except AmiError as exc:
                failure = f"{cmd!r} failed: {exc.reason}"
                break
            except Exception as exc:  # noqa: BLE001 - whatever it is, the old files must come back
                failure = f"{cmd!r} failed: {type(exc).__name__}: {exc}"
                break
            report.reloads.append({"command": cmd, "output": out.strip()})
        if failure is None:
            field_name = "verify"
            try:
                v = verify(conn, files, rendered.contexts)
            except Exception as exc:  # noqa: BLE001
                v = Verification(problems=[f"verification failed: {type(exc).__name__}: {exc}"])
            report.contexts_verified, report.extensions_verified = v.contexts, v.extensions
            report.moh_classes_verified, report.pjsip_objects_verified = v.moh_classes, v.pjsip_objects
            report.cdr_backends_verified = v.cdr_backends
            if wanted_text is not None:
                try:
                    v.problems.extend(astdb.check(conn, wanted_text))
                except Exception as exc:  # noqa: BLE001
                    v.problems.append(f"checking AstDB: {type(exc).__name__}: {exc}")
            if not v.ok:
                failure = "; ".join(v.problems[:5]) + (f" (+{len(v.problems) - 5} more)" if len(v.problems) > 5 else "")
        if failure is None:
            _keep_backups(target, previous, report)
            return

        # Roll back: old files, same reloads, and say how that went.
        report.rollback_problems = journal.rollback()
        report.rolled_back = True
        for cmd in reload_cmds:
            try:
                conn.reload(cmd)
            except Exception as exc:  # noqa: BLE001 - report it, keep going
                report.rollback_problems.append(f"{cmd!r} after restoring: {getattr(exc, 'reason', exc)}")
        if wanted_text is not None and report.astdb is not None and old_data is not None:
            try:  # the data back as the restored file says (AstDB held it before: old_data is not None)
                astdb.sync(conn, parse_astdb(wanted_text), wanted_text, old_data,
                           installed_astdb.decode("utf-8") if installed_astdb is not None else "")
            except Exception as exc:  # noqa: BLE001 - report it, keep going
                report.rollback_problems.append(f"AstDB after restoring: {getattr(exc, 'reason', exc)}")
        old_ext = previous.get("ivr400/extensions.conf")
        if old_ext is not None:
            try:
                check = verify(conn, {"ivr400/extensions.conf": old_ext.decode("utf-8", "replace")})
                report.rollback_problems.extend(f"after restoring: {p}" for p in check.problems)
            except Exception as exc:  # noqa: BLE001
                report.rollback_problems.append(f"verifying the restored dialplan: {exc}")
        state = (("previous configuration restored and reloaded" if reload_cmds else "previous configuration restored")
                 if not report.rollback_problems
                 else "previous files restored, but: " + "; ".join(report.rollback_problems[:3]))
        report.error = failure
        report.seconds = time.monotonic() - started
        raise DeployError(field_name, f"{failure}; {state}", report)


def astdb_hotline(key: str) -> str | None:
    """The hotline number of a settings key (``h/<n>/s``), else None."""
    parts = key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "h" and parts[2] == "s" else None


def _parse_installed(data: bytes | None) -> dict[str, str] | None:
    """The installed astdb.txt's keys (None: no file, or one that does not parse: AstDB is then rewritten)."""
    if data is None:
        return None
    try:
        return parse_astdb(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _keep_backups(target: DeployTarget, previous: Mapping[str, bytes | None], report: DeployReport) -> None:
    """The replaced versions go to ivr400/.previous/ (kept until the file changes again)."""
    kept = False
    for name, data in previous.items():
        if data is None:
            continue
        atomic_write(target.backup_dir / PurePosixPath(name).name, data)
        kept = True
    if kept or target.backup_dir.is_dir():
        report.backup_dir = str(target.backup_dir)


def _spool_dirs(rendered: r.RenderedConfig, target: DeployTarget, report: DeployReport) -> None:
    """Voicemail spool directories per hotline (Record creates them too; this makes them visible early), and
    the fax spool directory of each hotline (ReceiveFAX does not create it)."""
    hotlines = rendered.model.hotlines if rendered.model is not None else ()
    try:
        base = target.voicemail_dir
        for h in hotlines:
            (base / h.number).mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # not fatal: Record creates the directory
    try:
        for h in hotlines:  # every hotline: the route hook may turn fax on before the next deploy
            (target.fax_dir / h.number).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        report.warnings.append(f"fax spool {target.fax_dir}: {exc} (ReceiveFAX needs the directory)")


def deploy_from_db(session: Session, now: datetime, target: DeployTarget, *,
                   template_dirs: Iterable[str | os.PathLike[str]] = (), agi_url: str | None = None,
                   data_root: Path | None = None, ami: AmiLike | AmiFactory | None = None, dry_run: bool = False,
                   reload: bool = True, allow_empty: bool = False) -> DeployReport:
    """Render from the database (routable at `now`) and deploy into `target`."""
    rendered = render_for_deploy(session, now, template_dirs=template_dirs, agi_url=agi_url, data_root=data_root)
    return deploy(rendered, target, ami=ami, dry_run=dry_run, reload=reload, allow_empty=allow_empty)


__all__ = [
    "DeployError", "DeployReport", "DeployTarget", "Journal", "Verification", "cdr_backends", "cdr_include_files",
    "contexts_and_extensions", "deploy", "deploy_from_db", "lint_config", "render_for_deploy", "verify",
]
