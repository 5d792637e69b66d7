"""Deploy: database → rendered include files → Asterisk, atomically, reloading only what changed.

    target = resolve_target(config_dir=None)        # the lab's etc/asterisk if the lab exists, else /etc/asterisk
    report = deploy_from_db(session, now, target)   # or deploy(rendered, target, ami=...)

Steps, each of which can stop the deploy with a `DeployError(field, reason)`:

1. render from the database into a staging directory and check it (template errors, unreadable
   sound sources, lines that are not Asterisk config syntax): nothing is written on failure;
2. connect to AMI first (no connection, nothing written) unless `reload=False` or `dry_run`;
3. install sounds and tones where Asterisk reads them (`sounds/...` under astdatadir, `moh/...`
   under /var/lib/asterisk as musiconhold.conf names it), then the changed include files; every file
   goes to a temp file in its own directory, fsync, os.replace; the replaced versions of the include
   files are kept in `<config_dir>/ivr400/.previous/`;
4. reload only the modules whose file changed (`dialplan reload`, `moh reload`,
   `module reload res_pjsip.so`);
5. verify through AMI that what was rendered is what runs: `dialplan show <context>` for every
   context lists every rendered extension, every MOH class is known, every PJSIP object exists.

If 4 or 5 fails, every file is put back as it was, the same modules are reloaded again (the running
dialplan keeps working) and the error says why. A lock file serializes concurrent deploys.
"""
from __future__ import annotations

from ivr400.fsutil import atomic_write, file_lock

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

from ivr400.pbx.asterisk.ami import Ami, AmiError, AmiLike, AmiSettings
from ivr400.pbx.asterisk.dialplan_variables import VOICEMAIL_SPOOL

#: Include file → reload command, when the renderer does not say (it does: render.asterisk.RELOAD).
DEFAULT_RELOAD: Mapping[str, str] = {
    "ivr400/extensions.conf": "dialplan reload",
    "ivr400/musiconhold.conf": "moh reload",
    "ivr400/pjsip.conf": "module reload res_pjsip.so",
}
DEFAULT_CONFIG_DIR = Path("/etc/asterisk")
BACKUP_DIR = "ivr400/.previous"
LOCK_FILE = "ivr400/.deploy.lock"
#: Where Asterisk looks for relative sound names when asterisk.conf says nothing (its build default).
DEFAULT_ASTDATADIR = "/var/lib/asterisk"
VARLIB = "/var/lib/asterisk"

_CONTEXT = re.compile(r"^\[([^\]\s;]+)\]", re.MULTILINE)
_EXTEN = re.compile(r"^\s*exten\s*=>\s*([^,\s]+)\s*,", re.MULTILINE)
#: A line of an Asterisk config file: blank, comment, [section](options), key = / => value, #include.
_CONF_LINE = re.compile(
    r"^\s*(?:$|;.*|\[[^\]\s]+\](?:\([^)]*\))?\s*(?:;.*)?|#(?:include|tryinclude|exec)\b.*|[A-Za-z0-9_.()-]+\s*=>?.*)$")


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
    """Where an Asterisk reads its files, as paths on this host.

    `root` is Asterisk's "/" on this host (the lab's chroot, or "/"); `config_dir` its astetcdir;
    `astdatadir` (as Asterisk sees it) is where relative sound names are looked up.
    """

    config_dir: Path
    root: Path = Path("/")
    astdatadir: str = DEFAULT_ASTDATADIR
    resolver: Callable[[str], Path] | None = field(default=None, compare=False, repr=False)
    ami: AmiSettings | None = field(default=None, repr=False)
    lab: bool = False

    def host(self, asterisk_path: str) -> Path:
        """Host path of an absolute path as Asterisk sees it."""
        if self.resolver is not None:
            return self.resolver(asterisk_path)
        return self.root.joinpath(*PurePosixPath("/", asterisk_path).parts[1:])

    def sound_path(self, target: str) -> Path:
        """Host path for a RenderedConfig.sounds key (`sounds/...` or `moh/...`, relative to Asterisk's dirs)."""
        rel = PurePosixPath(target)
        if rel.is_absolute() or ".." in rel.parts:
            raise DeployError("sound", f"{target!r} is not a relative path inside Asterisk's directories")
        if rel.parts and rel.parts[0] == "sounds":
            return self.host(str(PurePosixPath(self.astdatadir, rel)))
        return self.host(str(PurePosixPath(VARLIB, rel)))

    @property
    def backup_dir(self) -> Path:
        return self.config_dir / BACKUP_DIR


def read_astdatadir(config_dir: Path) -> str:
    """`astdatadir` from asterisk.conf's [directories] (Debian: /usr/share/asterisk)."""
    try:
        text = (config_dir / "asterisk.conf").read_text(errors="replace")
    except OSError:
        return DEFAULT_ASTDATADIR
    section = None
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        m = re.fullmatch(r"\[([^\]]+)\].*", line)
        if m:
            section = m.group(1).strip().lower()
            continue
        if section == "directories":
            m = re.fullmatch(r"astdatadir\s*=>?\s*(\S+)", line)
            if m:
                return m.group(1)
    return DEFAULT_ASTDATADIR


def _load_lab() -> Any:  # noqa: ANN401 - ivr400.lab.Lab or None
    try:
        from ivr400.lab import Lab, LabError
    except ImportError:  # pragma: no cover
        return None
    try:
        return Lab.load()
    except (LabError, OSError):
        return None


def lab_target(lab: Any, ami: AmiSettings | None = None) -> DeployTarget:  # noqa: ANN401
    config_dir = lab.config_dir
    return DeployTarget(config_dir=config_dir, root=Path(lab.root), astdatadir=read_astdatadir(config_dir),
                        resolver=lab.host_path,
                        ami=ami or AmiSettings.from_env() or AmiSettings.from_mapping(lab.ami_credentials), lab=True)


def resolve_target(config_dir: Path | None = None, root: Path | None = None,
                   ami: AmiSettings | None = None) -> DeployTarget:
    """The deploy target: the lab (when its state file exists and `config_dir` is unset or its own),
    else `config_dir` (default /etc/asterisk) with `root` = DIR/../.. when DIR ends in etc/asterisk."""
    lab = _load_lab()
    if lab is not None and root is None:
        if config_dir is None or _same_path(config_dir, lab.config_dir):
            return lab_target(lab, ami)
    config_dir = Path(config_dir) if config_dir is not None else DEFAULT_CONFIG_DIR
    if root is None:
        parts = config_dir.resolve().parts
        root = Path(*parts[:-2]) if parts[-2:] == ("etc", "asterisk") else Path("/")
    return DeployTarget(config_dir=config_dir, root=Path(root), astdatadir=read_astdatadir(config_dir),
                        ami=ami or AmiSettings.from_env())


def _same_path(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


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
        for ctx, out in zip(names, outputs):
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
        for (name, kind), out in zip(objects, outputs):
            if isinstance(out, AmiError) or "Unable to find" in out:
                v.problems.append(f"pjsip {kind} {name} is not loaded")
            else:
                v.pjsip_objects += 1
    return v


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
    contexts_verified: int = 0
    extensions_verified: int = 0
    moh_classes_verified: int = 0
    pjsip_objects_verified: int = 0
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
                      agi_url: str | None = None, data_root: Path | None = None) -> Any:  # noqa: ANN401
    """render_asterisk(), with every render failure turned into DeployError('template', ...)."""
    from ivr400.render import asterisk as r
    from ivr400.render.model import RenderValueError

    kwargs: dict[str, Any] = {"template_dirs": tuple(template_dirs), "data_root": data_root}
    if agi_url is not None:
        kwargs["agi_url"] = agi_url
    try:
        return r.render_asterisk(session, now, **kwargs)
    except r.RenderError as exc:
        raise DeployError("template", str(exc)) from exc
    except RenderValueError as exc:
        raise DeployError("render", str(exc)) from exc


def _reload_map() -> Mapping[str, str]:
    try:
        from ivr400.render.asterisk import RELOAD
    except ImportError:  # pragma: no cover
        return DEFAULT_RELOAD
    return RELOAD


AmiFactory = Callable[[], AmiLike]


def _default_ami_factory(target: DeployTarget) -> AmiFactory:
    def connect() -> AmiLike:
        if target.ami is None:
            raise DeployError("ami", "no AMI credentials: set IVR400_AMI_SECRET (and IVR400_AMI_HOST/_PORT/_USERNAME), "
                                     "run `ivr400 lab up`, or deploy with --no-reload")
        return Ami.connect(target.ami)
    return connect


def deploy(rendered: Any, target: DeployTarget, *, ami: AmiLike | AmiFactory | None = None,  # noqa: ANN401, C901
           dry_run: bool = False, reload: bool = True) -> DeployReport:
    """Install a RenderedConfig into `target` (see the module docstring for the steps)."""
    started = time.monotonic()
    report = DeployReport(config_dir=str(target.config_dir), sounds_dir=str(target.sound_path("sounds")),
                          dry_run=dry_run, warnings=list(rendered.warnings))
    files: dict[str, str] = dict(rendered.files)
    reload_map = _reload_map()

    # 1. stage and check: nothing is written to Asterisk's directories before this passes.
    for name, text in files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise DeployError("render", f"{name!r} is not a path inside the config directory", report)
        lint_config(name, text)
    sounds: dict[str, Path] = dict(rendered.sounds)
    sound_data: dict[str, bytes] = {}
    for tgt, source in sounds.items():
        target.sound_path(tgt)  # refuses a path outside Asterisk's directories
        try:
            sound_data[tgt] = Path(source).read_bytes()
        except OSError as exc:
            raise DeployError("sound", f"{tgt}: cannot read {source} ({exc.strerror or exc})", report) from exc

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
        if dry_run:
            report.reloads = [{"command": c, "output": "(dry run)"} for c in reload_cmds]
            report.seconds = time.monotonic() - started
            return report

        # 2. AMI before touching anything.
        conn: AmiLike | None = None
        owned = False
        if reload:
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
            _install(rendered, files, sounds, sound_data, changed_sounds, target, report, conn, reload_cmds)
        finally:
            if owned and conn is not None:
                close = getattr(conn, "close", None)
                if close is not None:
                    close()
    report.seconds = time.monotonic() - started
    return report


def _install(rendered: Any, files: dict[str, str], sounds: dict[str, Path], sound_data: dict[str, bytes],  # noqa: ANN401
             changed_sounds: list[str], target: DeployTarget, report: DeployReport, conn: AmiLike | None,
             reload_cmds: list[str]) -> None:
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
        _spool_dirs(rendered, target)
        if conn is None:  # --no-reload: Asterisk picks the files up at its next reload/start
            _keep_backups(target, previous, report)
            return

        # 4. reload what changed.  5. verify everything.
        failure: str | None = None
        field_name = "reload"
        for cmd in reload_cmds:
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
        old_ext = previous.get("ivr400/extensions.conf")
        if old_ext is not None:
            try:
                check = verify(conn, {"ivr400/extensions.conf": old_ext.decode("utf-8", "replace")})
                report.rollback_problems.extend(f"after restoring: {p}" for p in check.problems)
            except Exception as exc:  # noqa: BLE001
                report.rollback_problems.append(f"verifying the restored dialplan: {exc}")
        state = ("previous configuration restored and reloaded" if not report.rollback_problems
                 else "previous files restored, but: " + "; ".join(report.rollback_problems[:3]))
        report.error = failure
        report.seconds = time.monotonic() - started
        raise DeployError(field_name, f"{failure}; {state}", report)


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


def _spool_dirs(rendered: Any, target: DeployTarget) -> None:  # noqa: ANN401
    """Voicemail spool directories per hotline (Record creates them too; this makes them visible early)."""
    model = getattr(rendered, "model", None)
    hotlines = getattr(model, "hotlines", ()) if model is not None else ()
    try:
        base = target.host(VOICEMAIL_SPOOL)
        for h in hotlines:
            (base / h.number).mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # not fatal: Record creates the directory


def deploy_from_db(session: Session, now: datetime, target: DeployTarget, *,
                   template_dirs: Iterable[str | os.PathLike[str]] = (), agi_url: str | None = None,
                   data_root: Path | None = None, ami: AmiLike | AmiFactory | None = None, dry_run: bool = False,
                   reload: bool = True) -> DeployReport:
    """Render from the database (routable at `now`) and deploy into `target`."""
    rendered = render_for_deploy(session, now, template_dirs=template_dirs, agi_url=agi_url, data_root=data_root)
    return deploy(rendered, target, ami=ami, dry_run=dry_run, reload=reload)


__all__ = [
    "DeployError", "DeployReport", "DeployTarget", "Journal", "Verification", "atomic_write",
    "contexts_and_extensions", "deploy", "deploy_from_db", "lab_target", "lint_config", "read_astdatadir",
    "render_for_deploy", "resolve_target", "verify",
]
