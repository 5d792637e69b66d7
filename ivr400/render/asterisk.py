"""Render the database into Asterisk include files with Jinja2 (`dialplans/asterisk/*.j2`).

Templates are looked up in an override chain, first match wins: the `template_dirs` given by the
caller (the CLI passes `asterisk.template_dir` of ivr400.config), then the package's
`dialplans/asterisk`. An operator directory has the package directory's layout: drop a modified
`extensions.conf.j2` (or only a partial such as `_hotline.j2` or `_shared.j2`) in it. Undefined
variables are errors (StrictUndefined), and every template failure is reported as a `RenderError`
naming the template and the line.

The output is a `RenderedConfig`: the text of each include file (relative to /etc/asterisk), the
hotlines' data for Asterisk's database (``ivr400/astdb.txt``, which deploy writes through AMI: no reload),
the sound and music-on-hold files to install (relative to /var/lib/asterisk, mapped to their source on
this host), every context defined, and a sha256 per file so deploy reloads only what changed.
"""
from __future__ import annotations

import hashlib
import os
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2
from sqlalchemy.orm import Session

from ivr400.paths import data_dir, resource_dir
from ivr400.pbx.asterisk import dialplan_variables
from ivr400.render import model as m
from ivr400.render.load import load_model
from ivr400.render.model import RenderModel, RenderValueError, check_agi_url, comment_text

DEFAULT_AGI_URL = "agi://127.0.0.1:4573"
#: The hotlines' data for Asterisk's database (AstDB): not a config file Asterisk reads, but the record of what
#: deploy wrote (see parse_astdb).
ASTDB_FILE = "ivr400/astdb.txt"
#: Template → include file (relative to the Asterisk config directory), in render order.
FILES: tuple[tuple[str, str], ...] = (
    ("extensions.conf.j2", "ivr400/extensions.conf"),
    ("astdb.j2", ASTDB_FILE),
    ("musiconhold.conf.j2", "ivr400/musiconhold.conf"),
    ("pjsip.conf.j2", "ivr400/pjsip.conf"),
)
SOUNDS_TARGET = "sounds/ivr400"
MOH_TARGET = "moh/ivr400"

_CONTEXT = re.compile(r"^\[([^\]\s;]+)\]", re.MULTILINE)


class RenderError(Exception):
    """A template could not be rendered; `template` and `line` say where."""

    def __init__(self, message: str, *, template: str | None = None, line: int | None = None) -> None:
        self.template = template
        self.line = line
        where = template or "<template>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class RenderedConfig:
    """What deploy installs: include files, sound files, and what to verify/reload."""

    files: dict[str, str]
    sounds: dict[str, Path]
    contexts: list[str]
    fingerprints: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    model: RenderModel | None = field(default=None, repr=False, compare=False)

    @property
    def astdb(self) -> dict[str, str]:
        """The hotlines' data: AstDB key (family ASTDB_FAMILY) → value, in the file's order."""
        return parse_astdb(self.files.get(ASTDB_FILE, ""))

    def changed(self, deployed: Mapping[str, str]) -> list[str]:
        """Files whose fingerprint differs from `deployed` (name → sha256 of what is installed now)."""
        return [name for name, sha in self.fingerprints.items() if deployed.get(name) != sha]

    def write(self, etc_dir: Path) -> list[Path]:
        """Write the include files under `etc_dir` (e.g. /etc/asterisk); return the paths written."""
        written = []
        for name, text in self.files.items():
            path = etc_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
            written.append(path)
        return written


def parse_astdb(text: str) -> dict[str, str]:
    """``ivr400/astdb.txt`` → {key: value}: one ``<key><TAB><value>`` per line; ``#`` lines and blank lines
    are skipped. Raises ValueError naming the line for any other line or a key given twice."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, tab, value = line.partition("\t")
        if not tab or not key or " " in key:
            raise ValueError(f"astdb line {lineno}: not <key><TAB><value>: {line[:80]!r}")
        if key in out:
            raise ValueError(f"astdb line {lineno}: key {key} given twice")
        out[key] = value
    return out


def template_search_path(template_dirs: Iterable[str | os.PathLike[str]] = (), pbx: str = "asterisk") -> list[Path]:
    """Operator directories first (in the order given), the package's ``dialplans/<pbx>`` last. Raises
    RenderError for an operator directory that does not exist."""
    dirs = [Path(d) for d in template_dirs]
    for d in dirs:
        if not d.is_dir():
            raise RenderError(f"template directory {d} does not exist", template=str(d))
    dirs.append(resource_dir("dialplans") / pbx)
    return dirs


def _comment(value: object, limit: int = 80) -> str:
    return comment_text(value, limit)


def make_environment(template_dirs: Iterable[str | os.PathLike[str]] = ()) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_search_path(template_dirs)], encoding="utf-8"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=50,
    )
    env.filters["comment"] = _comment
    return env


def _variables() -> tuple[types.SimpleNamespace, types.SimpleNamespace]:
    """`v.HOTLINE` is the channel variable's name, `r.HOTLINE` a reference to it (``${IVR400_HOTLINE}``)."""
    names = {k: v for k, v in vars(dialplan_variables).items() if k.isupper() and isinstance(v, str)}
    refs = {k: "${" + v + "}" for k, v in names.items()}
    return types.SimpleNamespace(**names), types.SimpleNamespace(**refs)


def _template_location(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost template frame of a render-time exception (Jinja rewrites tracebacks to them)."""
    name = line = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            name, line = filename, tb.tb_lineno
        tb = tb.tb_next
    return name, line


def render_data(model: RenderModel, *, template_dirs: Iterable[str | os.PathLike[str]] = (),
                env: jinja2.Environment | None = None) -> str:
    """Only the hotlines' data (the text of ``ivr400/astdb.txt``) for `model`'s hotlines: what the AstDB follower
    renders for the few hotlines an edit changed. `env`: an environment from make_environment to reuse (its
    compiled templates; compiling them costs more than rendering one hotline). Raises RenderError like
    render_model."""
    _check_data_steps(model)
    env = env if env is not None else make_environment(template_dirs)
    text = render_template(env, "astdb.j2", _template_context(model, DEFAULT_AGI_URL))
    try:
        data = parse_astdb(text)
    except ValueError as exc:
        raise RenderError(str(exc), template="astdb.j2") from exc
    _check_values(data)
    return text


def _template_context(model: RenderModel, agi: str) -> dict[str, object]:
    names, refs = _variables()
    return {
        "model": model,
        "hotlines": model.hotlines,
        "v": names,
        "r": refs,
        "agi": agi,
        "s": m,  # sound names, defaults and naming helpers of ivr400.render.model
        "voicemail_spool": dialplan_variables.VOICEMAIL_SPOOL,
        "recording_spool": dialplan_variables.RECORDING_SPOOL,
        "fax_spool": dialplan_variables.FAX_SPOOL,
        "astdb_family": dialplan_variables.ASTDB_FAMILY,
    }


def render_template(env: jinja2.Environment, template_name: str, context: Mapping[str, object]) -> str:
    """One template rendered; any failure raised as a RenderError naming the template and the line."""
    try:
        return env.get_template(template_name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"syntax error: {exc.message}", template=exc.filename or exc.name or template_name,
                          line=exc.lineno) from exc
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template not found: {exc.name}", template=template_name) from exc
    except RenderError:
        raise
    except Exception as exc:  # UndefinedError, TypeError... raised while rendering
        name, line = _template_location(exc)
        kind = "undefined variable" if isinstance(exc, jinja2.UndefinedError) else type(exc).__name__
        raise RenderError(f"{kind}: {exc}", template=name or template_name, line=line) from exc


def _check_values(data: Mapping[str, str]) -> None:
    for key, value in data.items():
        if len(value) > m.MAX_DATA_CHARS:
            raise RenderError(f"data {key}: {len(value)} characters, at most {m.MAX_DATA_CHARS} fit one "
                              "dialplan step", template="data")


def render_model(model: RenderModel, *, template_dirs: Iterable[str | os.PathLike[str]] = (),
                 agi_url: str = DEFAULT_AGI_URL, data_root: Path | None = None) -> RenderedConfig:
    """Render an already loaded model (the pure half of `render_asterisk`)."""
    try:
        agi = check_agi_url(agi_url)
    except RenderValueError as exc:
        raise RenderError(str(exc), template="agi_url") from exc
    _check_data_steps(model)
    env = make_environment(template_dirs)
    context = _template_context(model, agi)
    files = {output: render_template(env, template_name, context) for template_name, output in FILES}
    try:
        data = parse_astdb(files[ASTDB_FILE])
    except ValueError as exc:
        raise RenderError(str(exc), template="astdb.j2") from exc
    _check_values(data)
    text = files["ivr400/extensions.conf"]
    contexts = list(dict.fromkeys(_CONTEXT.findall(text)))
    fingerprints = {name: hashlib.sha256(body.encode("utf-8")).hexdigest() for name, body in files.items()}
    warnings = list(model.warnings)
    sounds = _sounds(model, data_root, warnings)
    return RenderedConfig(files=files, sounds=sounds, contexts=contexts, fingerprints=fingerprints,
                          warnings=warnings, model=model)


def _check_data_steps(model: RenderModel) -> None:
    """Refuse a department whose static hunt list would not fit in one data value (m.MAX_DATA_CHARS), naming it
    (render_model checks every value's exact length after rendering too)."""
    for h in model.hotlines:
        for d in h.hunts():
            size = 400 + sum(len(t.dial) + 48 for t in d.targets)
            if size > m.MAX_DATA_CHARS:
                raise RenderError(f"hotline {h.number} {('department ' + d.path) if d.path else 'switchboard'}: "
                                  f"{len(d.targets)} seats with dial strings too long for one dialplan step "
                                  f"(about {size} characters, at most {m.MAX_DATA_CHARS})", template="data")


def _sounds(model: RenderModel, data_root: Path | None, warnings: list[str]) -> dict[str, Path]:
    shipped = resource_dir("sounds")
    sounds: dict[str, Path] = {}
    for wav in sorted(shipped.glob("ivr400-*.wav")):
        sounds[f"{SOUNDS_TARGET}/{wav.name}"] = wav
    tones_used = {t.id: t for t in model.prompt_tones}
    moh = model.moh_classes
    root = Path()
    if tones_used or any(c.tone for c in moh):
        root = data_root if data_root is not None else data_dir()
    for tone in tones_used.values():
        sounds[f"{SOUNDS_TARGET}/tone-{tone.id}.wav"] = root / tone.source
    for cls in moh:
        source = shipped / cls.file if cls.tone is None else root / cls.tone.source
        sounds[f"{MOH_TARGET}/{cls.name}/{cls.file}"] = source
    for target, source in sounds.items():
        if not source.is_file():
            warnings.append(f"sound {target}: source file {source} is missing")
    return dict(sorted(sounds.items()))


def render_asterisk(session: Session, now: datetime, *, template_dirs: Iterable[str | os.PathLike[str]] = (),
                    agi_url: str = DEFAULT_AGI_URL, data_root: Path | None = None,
                    strict: bool = False) -> RenderedConfig:
    """Load the routable-now configuration from the database and render the Asterisk include files.

    `now` decides which destinations are routable (approved and inside their validity window).
    `data_root` is where tones are stored (default: ivr400.paths.data_dir()). With `strict`, a bad
    database value raises `RenderValueError` instead of being left out with a warning.
    """
    model = load_model(session, now, strict=strict)
    return render_model(model, template_dirs=template_dirs, agi_url=agi_url, data_root=data_root)
