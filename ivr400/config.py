"""ivr400's settings: one TOML file, one environment variable per setting, command-line flags.

    settings = Settings.load()                             # /etc/ivr400/ivr400.toml (if present) + env
    settings = Settings.load(Path("ivr400.toml"), flags={"controller.port": 4574})
    settings.asterisk_config_dir, settings.ami, settings.controller_agi_url

Precedence, highest first: a command-line flag, the environment variable, the configuration file, the
default. Every setting `SECTION.KEY` is read from the file's `[SECTION]` table as `KEY = value` and from
the environment variable `IVR400_<SECTION>_<KEY>` (upper case), e.g. `ami.secret` ← `IVR400_AMI_SECRET`.
The file is `--config PATH`, else `$IVR400_CONFIG`, else /etc/ivr400/ivr400.toml when it exists (an
explicitly named file must exist). `SETTINGS` below is the list (docs/operations.md shows it as a table;
a test keeps the two equal).

A bad value raises `ConfigError(field, reason)`, printed by the CLI as `error: FIELD: reason`, and
names where the value came from. Unknown sections and keys in the file are errors (typos do not pass
silently). `ami.secret` is never printed: `describe()` shows it as `(set)`.

Paths as Asterisk sees them (its spool, its CSV) are mapped under `asterisk.root`, the host path of
Asterisk's "/" (a chroot or a container volume; "/" when Asterisk runs on this host).
Standard library only (tomllib is imported when a file is read), so every command can afford it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from ivr400.fsutil import path_in_root
from ivr400.paths import sqlite_url
from ivr400.pbx.asterisk.ami_settings import AmiSettings
from ivr400.pbx.asterisk.config_files import asterisk_directories
from ivr400.pbx.asterisk.dialplan_variables import VOICEMAIL_SPOOL

DEFAULT_CONFIG_PATH = Path("/etc/ivr400/ivr400.toml")
ENV_CONFIG = "IVR400_CONFIG"
ENV_PREFIX = "IVR400_"
#: Where ivr400's voicemail and recordings live, as Asterisk sees it (the dialplan writes there).
SPOOL = str(PurePosixPath(VOICEMAIL_SPOOL).parent)
#: cdr_custom's file name (ivr400.cdr... CSV_FILE; the include ivr400/cdr_custom.conf writes it).
CDR_CSV_NAME = "ivr400.csv"
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """A setting is missing or has a bad value: `field` is `section.key` (or `config`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Setting:
    """One setting: `section.key`, its kind (how a value is checked), its default as documented, meaning."""

    section: str
    key: str
    kind: str  # url | path | host | port | port0 | seconds | duration | bool | text | secret | level | agi_url
    default: str
    doc: str

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}_{self.key.upper()}"


#: Every setting, in the order of the documentation table. `default` is the text shown there; the values
#: in angle brackets are derived from other settings when unset.
SETTINGS: tuple[Setting, ...] = (
    Setting("database", "url", "url", "SQLite file `<data.dir>/ivr400.db`",
            "SQLAlchemy URL of the database, e.g. `postgresql+psycopg://ivr400@/ivr400` (`--db`)"),
    Setting("data", "dir", "path", "`$XDG_DATA_HOME/ivr400` or `~/.local/share/ivr400`",
            "evidence files, tones, the SQLite file, the CDR import offset"),
    Setting("asterisk", "root", "path", "`/`",
            "Asterisk's `/` seen from ivr400: a chroot or a container volume (`deploy --root`)"),
    Setting("asterisk", "config_dir", "path", "`<asterisk.root>/etc/asterisk`",
            "Asterisk's configuration directory; ivr400 writes only below `ivr400/` in it (`deploy --config-dir`)"),
    Setting("asterisk", "sounds_dir", "path", "`<asterisk.root><astdatadir>/sounds` (astdatadir from asterisk.conf)",
            "Asterisk's sounds directory; prompts and tones go to `ivr400/` in it"),
    Setting("asterisk", "spool_dir", "path", "`<asterisk.root>/var/spool/asterisk/ivr400`",
            "where the dialplan records voicemail (`voicemail/`) and calls (`recordings/`)"),
    Setting("asterisk", "template_dir", "path", "none",
            "operator templates searched before the shipped ones (`deploy --templates`)"),
    Setting("ami", "host", "host", "`127.0.0.1`", "Asterisk manager interface (manager.conf `bindaddr`)"),
    Setting("ami", "port", "port", "`5038`", "manager.conf `port`"),
    Setting("ami", "user", "text", "`ivr400`", "the manager.conf user section ivr400 logs in as"),
    Setting("ami", "secret", "secret", "none (needed by `deploy`, `deploy --check`, `cdr listen`)",
            "that user's `secret`; never printed or logged"),
    Setting("ami", "timeout", "seconds", "`5`", "seconds for connecting, logging in and each action"),
    Setting("controller", "host", "host", "`127.0.0.1`", "address `ivr400 serve` listens on (`serve --host`)"),
    Setting("controller", "port", "port0", "`4573`", "its TCP port (`serve --port`)"),
    Setting("controller", "agi_url", "agi_url", "`agi://<controller.host>:<controller.port>` "
            "(127.0.0.1 when the host is 0.0.0.0 or ::; none when the port is 0: set it)",
            "how Asterisk reaches the controller: the FastAGI URL rendered into the dialplan (`deploy --agi-url`)"),
    Setting("controller", "metrics_host", "host", "`127.0.0.1`",
            "address of the controller's `/metrics` and `/healthz` (`serve --metrics-host`)"),
    Setting("controller", "metrics_port", "port0", "`9400`",
            "their TCP port, 0: any free port (`serve --metrics-port`; `serve --no-metrics` turns them off)"),
    Setting("freeswitch", "socket_host", "host", "`127.0.0.1`",
            "address `ivr400 serve --pbx freeswitch` listens on for the dialplan's `socket` application (`--host`)"),
    Setting("freeswitch", "socket_port", "port0", "`8084`", "its TCP port (`serve --pbx freeswitch --port`)"),
    Setting("freeswitch", "esl_host", "host", "`127.0.0.1`",
            "FreeSWITCH's inbound event socket (event_socket.conf `listen-ip`)"),
    Setting("freeswitch", "esl_port", "port", "`8021`", "event_socket.conf `listen-port`"),
    Setting("freeswitch", "esl_password", "secret", "none (needed to reach the event socket)",
            "event_socket.conf `password`; never printed or logged"),
    Setting("cdr", "csv", "path", "`<asterisk.root><astlogdir>/cdr-custom/ivr400.csv`",
            "cdr_custom's CSV, read by `cdr import` and by `cdr listen` at every login (`--csv`)"),
    Setting("cdr", "state", "path", "`<data.dir>/cdr-import-state.json`",
            "how far the CSV has been imported (`--state-file`)"),
    Setting("log", "level", "level", "`info`", "debug, info, warning or error (`serve --log-level`)"),
    Setting("web", "host", "host", "`127.0.0.1`", "address the back office `ivr400 web` listens on (`web --host`)"),
    Setting("web", "port", "port0", "`8400`", "its TCP port, 0: any free port (`web --port`)"),
    Setting("web", "secure_cookies", "bool", "`false`",
            "mark session cookies Secure even over http (TLS ended by a proxy that sends no X-Forwarded-Proto; "
            "`web --secure-cookies`)"),
    Setting("web", "forwarded_allow_ips", "text", "`127.0.0.1`",
            "proxies trusted for X-Forwarded-Proto/For, comma-separated (`web --forwarded-allow-ips`)"),
    Setting("web", "idle_timeout", "duration", "`1800`",
            "seconds a back-office session may stay unused before it ends (60 to 604800)"),
    Setting("web", "absolute_timeout", "duration", "`43200`",
            "seconds after login a back-office session ends whatever its use (60 to 604800)"),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
#: Environment variables that are not settings: which file to read, and who acts (audit trail).
OTHER_ENV = (ENV_CONFIG, "IVR400_ACTOR")


@dataclass(frozen=True)
class Value:
    value: Any  # noqa: ANN401 - str, int, float or Path by kind
    source: str  # "flag --x", "env IVR400_X", "file PATH", "default"


# ---------------------------------------------------------------------------------------- checks
#: The database backends ivr400 runs on (URL scheme before any `+driver`); see ivr400.db.engine.
DATABASE_BACKENDS = ("sqlite", "postgresql")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
_HOST = re.compile(r"[A-Za-z0-9._:-]+|\[[0-9A-Fa-f:.]+\]")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
#: Longest `duration` setting: a week.
MAX_DURATION_S = 7 * 24 * 3600
_AGI = re.compile(r"agi://(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?/?")


def _check(setting: Setting, raw: object, origin: str) -> Any:  # noqa: ANN401, C901
    """Convert and check one value; ConfigError naming the setting and where the value came from."""
    def bad(reason: str) -> ConfigError:
        return ConfigError(setting.name, f"{reason} (from {origin})")

    kind = setting.kind
    if kind in ("port", "port0"):
        if isinstance(raw, bool):
            raise bad(f"{raw!r} is not a TCP port")
        if isinstance(raw, str):
            if not raw.strip().isdigit():
                raise bad(f"{raw!r} is not a TCP port")
            raw = int(raw.strip())
        if not isinstance(raw, int):
            raise bad(f"{raw!r} is not a TCP port")
        low = 0 if kind == "port0" else 1
        if not low <= raw <= 65535:
            raise bad(f"{raw} is not a TCP port ({low}-65535)")
        return raw
    if kind == "seconds":
        if isinstance(raw, bool):
            raise bad(f"{raw!r} is not a number of seconds")
        try:
            seconds = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad(f"{raw!r} is not a number of seconds") from None
        if not 0 < seconds <= 3600:
            raise bad(f"{raw!r} must be more than 0 and at most 3600 seconds")
        return seconds
    if kind == "duration":
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise bad(f"{raw!r} is not a number of seconds")
        try:
            seconds = float(raw)
        except ValueError:
            raise bad(f"{raw!r} is not a number of seconds") from None
        if not 60 <= seconds <= MAX_DURATION_S:
            raise bad(f"{raw!r} must be between 60 and {MAX_DURATION_S} seconds")
        return seconds
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower() if isinstance(raw, str) else None
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise bad(f"{raw!r} is not true or false")
    if not isinstance(raw, str):
        raise bad(f"must be a string, not {type(raw).__name__} {raw!r}")
    text = raw.strip()
    if not text:
        raise bad("must not be empty")
    if kind == "path":
        if "\0" in text:
            raise bad("contains a NUL character")
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise bad(f"{text!r} is not an absolute path")
        return path
    if kind == "url":
        if not _URL.fullmatch(text):
            raise bad(f"{text!r} is not a database URL (e.g. postgresql+psycopg://ivr400@localhost/ivr400)")
        backend = text.split("://", 1)[0].split("+", 1)[0].lower()
        if backend not in DATABASE_BACKENDS:
            raise bad(f"unsupported backend {backend!r} (use sqlite or postgresql)")
        return text
    if kind == "host":
        if not _HOST.fullmatch(text):
            raise bad(f"{text!r} is not a host name or address")
        return text
    if kind == "agi_url":
        if not _AGI.fullmatch(text):
            raise bad(f"{text!r} is not a FastAGI URL agi://HOST[:PORT]")
        port = re.search(r":([0-9]{1,5})/?$", text)
        if port and int(port.group(1)) == 0:
            raise bad(f"{text!r} has port 0: Asterisk must be told the port serve listens on")
        return text.rstrip("/")
    if kind == "level":
        if text.lower() not in LOG_LEVELS:
            raise bad(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
        return text.lower()
    if kind in ("text", "secret"):
        if any(ch in text for ch in "\r\n\0"):
            raise bad("contains a line break or NUL")
        return text
    raise AssertionError(kind)  # pragma: no cover


# ---------------------------------------------------------------------------------------- reading
def config_path(flag: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The file to read: --config, else $IVR400_CONFIG (both must exist), else the default if it exists."""
    env = os.environ if environ is None else environ
    if flag:
        return Path(flag)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def read_file(path: Path) -> dict[str, Value]:
    """The settings a TOML file sets (checked); ConfigError for syntax errors and unknown keys."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("config", f"{path}: no such file") from None
    except PermissionError:
        raise ConfigError("config", f"{path}: permission denied") from None
    except IsADirectoryError:
        raise ConfigError("config", f"{path} is a directory") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("config", f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                                    f"{exc.start}); TOML files are UTF-8") from None
    except OSError as exc:
        raise ConfigError("config", f"{path}: cannot read ({exc.strerror or exc})") from None
    values: dict[str, Value] = {}
    sections = sorted({s.section for s in SETTINGS})
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(section, f"expected a [{section}] table in {path}; known sections: "
                                       f"{', '.join(sections)}")
        if section not in sections:
            raise ConfigError(section, f"unknown section [{section}] in {path}; known: {', '.join(sections)}")
        for key, raw in table.items():
            setting = BY_NAME.get(f"{section}.{key}")
            if setting is None:
                known = ", ".join(s.key for s in SETTINGS if s.section == section)
                raise ConfigError(f"{section}.{key}", f"unknown setting in {path}; [{section}] has {known}")
            values[setting.name] = Value(_check(setting, raw, str(path)), f"file {path}")
    return values


def read_environ(environ: Mapping[str, str]) -> dict[str, Value]:
    """The settings the environment sets (IVR400_<SECTION>_<KEY>; empty values count as unset).

    ConfigError(variable name) for a set IVR400_<SECTION>_<KEY> whose SECTION is a settings section but
    whose KEY is no setting of it (a typo or a renamed setting, as unknown keys in the file are).
    Variables under other prefixes (IVR400_CONFIG, IVR400_ACTOR, IVR400_LAB_*, ...) are not settings.
    """
    known = {s.env for s in SETTINGS}
    for name, text in environ.items():
        if name in known or not name.startswith(ENV_PREFIX) or text.strip() == "":
            continue
        rest = name[len(ENV_PREFIX):]
        section = next((sec for sec in _SECTIONS if rest.startswith(f"{sec.upper()}_")), None)
        if section is not None:
            keys = ", ".join(s.env for s in SETTINGS if s.section == section)
            raise ConfigError(name, f"unknown setting in the environment; [{section}] has {keys}")
    values: dict[str, Value] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is not None and raw.strip() != "":
            values[setting.name] = Value(_check(setting, raw, f"${setting.env}"), f"env {setting.env}")
    return values


_SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS))


def check_flags(flags: Mapping[str, object]) -> dict[str, Value]:
    """Command-line values (None = not given) for settings by name; relative paths made absolute."""
    values: dict[str, Value] = {}
    for name, raw in flags.items():
        if raw is None:
            continue
        setting = BY_NAME[name]
        if setting.kind == "path" and isinstance(raw, str | os.PathLike):
            raw = str(Path(raw).expanduser().absolute())
        values[name] = Value(_check(setting, raw, "the command line"), "command line")
    return values


# ---------------------------------------------------------------------------------------- settings
class Settings:
    """Resolved settings: typed accessors over {name: Value}; derived defaults computed on use."""

    def __init__(self, values: Mapping[str, Value] | None = None, file: Path | None = None) -> None:
        self._values = dict(values or {})
        self.file = file

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None,
             flags: Mapping[str, object] | None = None) -> Settings:
        """File (see config_path), then environment, then flags on top."""
        env = os.environ if environ is None else environ
        file = config_path(path, env)
        values: dict[str, Value] = {}
        if file is not None:
            values.update(read_file(file))
        values.update(read_environ(env))
        values.update(check_flags(flags or {}))
        return cls(values, file)

    def with_values(self, flags: Mapping[str, object], source: str = "command line") -> Settings:
        """A copy with command-line values on top (None = not given)."""
        values = dict(self._values)
        for name, v in check_flags(flags).items():
            values[name] = Value(v.value, source)
        return Settings(values, self.file)

    # -- raw access ---------------------------------------------------------------------------
    def get(self, name: str) -> Any:  # noqa: ANN401
        """The value set for `name` (flag, env or file), or None when it takes its default."""
        v = self._values.get(name)
        return None if v is None else v.value

    def source(self, name: str) -> str:
        v = self._values.get(name)
        return "default" if v is None else v.source

    # -- database and data ----------------------------------------------------------------------
    @cached_property
    def data_dir(self) -> Path:
        """data.dir (not created here)."""
        return self.get("data.dir") or _default_data_dir()

    @property
    def database_url(self) -> str:
        return self.get("database.url") or sqlite_url(self.data_dir / "ivr400.db")

    # -- asterisk -------------------------------------------------------------------------------------
    @property
    def asterisk_root(self) -> Path:
        return self.get("asterisk.root") or Path("/")

    def asterisk_path(self, path: str) -> Path:
        """Host path of an absolute path as Asterisk sees it (under asterisk.root, its symlinks followed)."""
        root = self.asterisk_root
        if root == Path("/"):
            return Path(path)
        try:
            return path_in_root(root, path)
        except OSError as exc:
            raise ConfigError("asterisk.root", f"cannot map {path} under {root}: {exc}") from exc

    @property
    def asterisk_config_dir(self) -> Path:
        return self.get("asterisk.config_dir") or self.asterisk_path("/etc/asterisk")

    @cached_property
    def asterisk_directories(self) -> dict[str, str]:
        """asterisk.conf's [directories] (Asterisk's paths), read from asterisk.config_dir."""
        return asterisk_directories(self.asterisk_config_dir)

    @property
    def asterisk_sounds_dir(self) -> Path:
        explicit = self.get("asterisk.sounds_dir")
        if explicit:
            return explicit
        return self.asterisk_path(str(PurePosixPath(self.asterisk_directories["astdatadir"], "sounds")))

    @property
    def asterisk_spool_dir(self) -> Path:
        return self.get("asterisk.spool_dir") or self.asterisk_path(SPOOL)

    @property
    def asterisk_template_dir(self) -> Path | None:
        return self.get("asterisk.template_dir")

    # -- AMI ------------------------------------------------------------------------------------------
    @property
    def ami(self) -> AmiSettings:
        """AMI settings; the secret may be empty (see require_ami)."""
        return AmiSettings(host=self.get("ami.host") or "127.0.0.1", port=self.get("ami.port") or 5038,
                           username=self.get("ami.user") or "ivr400", secret=self.get("ami.secret") or "",
                           timeout=self.get("ami.timeout") or 5.0)

    def require_ami(self) -> AmiSettings:
        """AMI settings with a secret, else ConfigError('ami.secret', where to set it)."""
        ami = self.ami
        if not ami.secret:
            where = f"[ami] secret in {self.file}" if self.file else f"[ami] secret in {DEFAULT_CONFIG_PATH}"
            raise ConfigError("ami.secret", f"not set: set {where} or $IVR400_AMI_SECRET "
                                            "(the manager.conf user's secret)")
        return ami

    # -- controller -----------------------------------------------------------------------------------
    @property
    def controller_host(self) -> str:
        return self.get("controller.host") or "127.0.0.1"

    @property
    def controller_port(self) -> int:
        port = self.get("controller.port")
        return 4573 if port is None else port

    @property
    def controller_agi_url(self) -> str:
        """The FastAGI URL the dialplan calls: controller.agi_url, else agi://<controller.host>:<port>.

        ConfigError('controller.agi_url') when it would be derived from controller.port 0 (an ephemeral
        port, meaningful for `serve` alone: Asterisk cannot be told which one it will be).
        """
        explicit = self.get("controller.agi_url")
        if explicit:
            return explicit
        if self.controller_port == 0:
            where = self.source("controller.port")
            raise ConfigError("controller.agi_url", f"not derivable from controller.port 0 ({where}): "
                                                    "port 0 is only for serve; set controller.agi_url")
        host = self.controller_host
        if host in ("0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"agi://{host}:{self.controller_port}"

    @property
    def controller_metrics_host(self) -> str:
        return self.get("controller.metrics_host") or "127.0.0.1"

    @property
    def controller_metrics_port(self) -> int:
        port = self.get("controller.metrics_port")
        return 9400 if port is None else port

    # -- FreeSWITCH -----------------------------------------------------------------------------------
    @property
    def freeswitch_socket_host(self) -> str:
        return self.get("freeswitch.socket_host") or "127.0.0.1"

    @property
    def freeswitch_socket_port(self) -> int:
        port = self.get("freeswitch.socket_port")
        return 8084 if port is None else port

    @property
    def freeswitch_esl_host(self) -> str:
        return self.get("freeswitch.esl_host") or "127.0.0.1"

    @property
    def freeswitch_esl_port(self) -> int:
        port = self.get("freeswitch.esl_port")
        return 8021 if port is None else port

    @property
    def freeswitch_esl_password(self) -> str:
        """The event socket's password ("" when unset); never print or log it."""
        return self.get("freeswitch.esl_password") or ""

    # -- call records, logging ------------------------------------------------------------------------
    @property
    def cdr_csv(self) -> Path:
        explicit = self.get("cdr.csv")
        if explicit:
            return explicit
        logdir = self.asterisk_directories["astlogdir"]
        return self.asterisk_path(str(PurePosixPath(logdir, "cdr-custom", CDR_CSV_NAME)))

    @property
    def cdr_state(self) -> Path:
        return self.get("cdr.state") or self.data_dir / "cdr-import-state.json"

    @property
    def log_level(self) -> str:
        return self.get("log.level") or "info"

    # -- the back office (ivr400 web) ------------------------------------------------------------------
    @property
    def web_host(self) -> str:
        return self.get("web.host") or "127.0.0.1"

    @property
    def web_port(self) -> int:
        port = self.get("web.port")
        return 8400 if port is None else port

    @property
    def web_secure_cookies(self) -> bool:
        return bool(self.get("web.secure_cookies"))

    @property
    def web_forwarded_allow_ips(self) -> str:
        return self.get("web.forwarded_allow_ips") or "127.0.0.1"

    @property
    def web_idle_timeout_s(self) -> float:
        return self.get("web.idle_timeout") or 1800.0

    @property
    def web_absolute_timeout_s(self) -> float:
        return self.get("web.absolute_timeout") or 43200.0

    # -- showing --------------------------------------------------------------------------------------
    def describe(self) -> list[dict[str, str]]:
        """Every setting with its effective value and source; the secret shown as `(set)` or `(not set)`,
        an unusable derived value as `(error: reason)`."""
        try:
            agi_url = self.controller_agi_url
        except ConfigError as exc:
            agi_url = f"(error: {exc.reason})"
        effective = {
            "database.url": self.database_url, "data.dir": self.data_dir,
            "asterisk.root": self.asterisk_root, "asterisk.config_dir": self.asterisk_config_dir,
            "asterisk.sounds_dir": self.asterisk_sounds_dir, "asterisk.spool_dir": self.asterisk_spool_dir,
            "asterisk.template_dir": self.asterisk_template_dir,
            "ami.host": self.ami.host, "ami.port": self.ami.port, "ami.user": self.ami.username,
            "ami.secret": "(set)" if self.ami.secret else "(not set)", "ami.timeout": self.ami.timeout,
            "controller.host": self.controller_host, "controller.port": self.controller_port,
            "controller.agi_url": agi_url,
            "controller.metrics_host": self.controller_metrics_host,
            "controller.metrics_port": self.controller_metrics_port,
            "freeswitch.socket_host": self.freeswitch_socket_host,
            "freeswitch.socket_port": self.freeswitch_socket_port,
            "freeswitch.esl_host": self.freeswitch_esl_host, "freeswitch.esl_port": self.freeswitch_esl_port,
            "freeswitch.esl_password": "(set)" if self.freeswitch_esl_password else "(not set)",
            "cdr.csv": self.cdr_csv, "cdr.state": self.cdr_state, "log.level": self.log_level,
            "web.host": self.web_host, "web.port": self.web_port,
            "web.secure_cookies": str(self.web_secure_cookies).lower(),
            "web.forwarded_allow_ips": self.web_forwarded_allow_ips,
            "web.idle_timeout": f"{self.web_idle_timeout_s:g}",
            "web.absolute_timeout": f"{self.web_absolute_timeout_s:g}",
        }
        assert set(effective) == set(BY_NAME)
        return [{"name": s.name, "env": s.env, "value": "" if effective[s.name] is None else str(effective[s.name]),
                 "source": self.source(s.name)} for s in SETTINGS]


def _default_data_dir() -> Path:
    """The data directory when data.dir is unset: the XDG default (created by the caller when needed)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ivr400"


__all__ = ["DEFAULT_CONFIG_PATH", "ENV_CONFIG", "SETTINGS", "ConfigError", "Setting", "Settings", "Value",
           "config_path"]
