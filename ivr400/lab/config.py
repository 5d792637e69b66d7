"""Render the lab's base Asterisk configuration from `dialplans/asterisk/lab/*.j2`.

Pure functions of a `LabConfig`: no chroot, no running PBX, so unit tests render into a temp dir.
The base files `#include` files under `ivr400/` which a later deploy step owns; the lab only
creates them (empty) when they are missing, and never overwrites them.
"""
from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jinja2

from ivr400.deploy.asterisk import cdr_include_files
from ivr400.fsutil import atomic_write
from ivr400.paths import resource_dir
from ivr400.pbx.asterisk.config_files import INCLUDES, TIMERFD_MODULE

#: The include the lab's own tests write their dialplan into (extensions.conf includes it first).
LAB_TEST_INCLUDE = "ivr400/lab-test.conf"
#: Include files the base config pulls in (relative to etc/asterisk): the lab's test include and the
#: ones `ivr400 deploy` owns (the lab includes them exactly as docs/operations.md tells an operator to).
INCLUDE_FILES: tuple[str, ...] = (LAB_TEST_INCLUDE, *INCLUDES)

#: Directories ivr400 uses inside the chroot (paths as Asterisk sees them).
SPOOL_DIR = "/var/spool/asterisk/ivr400"  # recordings, voicemail
SOUNDS_DIR = "/var/lib/asterisk/sounds/ivr400"
MOH_DIR = "/var/lib/asterisk/moh/ivr400"
DEFAULT_MOH_DIR = "/var/lib/asterisk/moh/lab-default"
RUN_DIR = "/var/run/asterisk"
LOG_DIR = "/var/log/asterisk"

#: Modules not loaded in the lab: need hardware, open listeners beyond loopback SIP/AMI, talk to
#: external services (databases, collectors, DNS resolvers), or would read Debian's sample configs
#: (pbx_ael/pbx_lua load extensions.ael/.lua and would add sample contexts). And res_timing_timerfd:
#: on Asterisk 22.10.1 a call whose menu prompt a key interrupted, then bridged to a seat, is left up
#: for good after the caller's BYE under load (up to three quarters of the calls at 150 calls/s;
#: `channel request hangup` cannot end it); with res_timing_pthread none is. docs/asterisk-timerfd-wedge.md.
TIMING_NOLOAD = TIMERFD_MODULE
NOLOAD: tuple[str, ...] = (
    TIMING_NOLOAD,
    "chan_console.so",
    "chan_iax2.so",
    "chan_unistim.so",
    "chan_motif.so",
    "res_xmpp.so",
    "pbx_dundi.so",
    "pbx_ael.so",
    "pbx_lua.so",
    "app_festival.so",
    "app_jack.so",
    "app_mp3.so",
    "app_voicemail_odbc.so",
    "cdr_adaptive_odbc.so",
    "cdr_odbc.so",
    "cdr_pgsql.so",
    "cdr_radius.so",
    "cdr_sqlite3_custom.so",
    "cdr_tds.so",
    "cel_custom.so",
    "cel_odbc.so",
    "cel_pgsql.so",
    "cel_radius.so",
    "cel_sqlite3_custom.so",
    "cel_tds.so",
    "func_odbc.so",
    "res_config_ldap.so",
    "res_config_odbc.so",
    "res_config_pgsql.so",
    "res_odbc_transaction.so",
    "res_odbc.so",
    "res_calendar_caldav.so",
    "res_calendar_ews.so",
    "res_calendar_exchange.so",
    "res_calendar_icalendar.so",
    "res_calendar.so",
    "res_hep_pjsip.so",
    "res_hep_rtcp.so",
    "res_hep.so",
    "res_phoneprov.so",
    "res_pjsip_phoneprov_provider.so",
    "res_prometheus.so",
    "res_resolver_unbound.so",
    "res_smdi.so",
    "res_snmp.so",
    "res_statsd.so",
    "res_stun_monitor.so",
    "res_pjsip_stir_shaken.so",
    "res_stir_shaken.so",
    "res_speech_aeap.so",
    "res_aeap.so",
)


def template_dir() -> Path:
    """Where the base templates live (package data in a wheel, repo root in a checkout)."""
    return resource_dir("dialplans") / "asterisk" / "lab"


def new_secret() -> str:
    """A fresh AMI secret: hex only, so it needs no quoting in manager.conf."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class LabConfig:
    """Everything the base templates need. Defaults are the lab's fixed loopback layout."""

    ami_secret: str
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "ivr400"
    verbose: bool = False
    maxfiles: int = 20000
    rtp_start: int = 10000
    rtp_end: int = 19999
    dtmf_mode: str = "rfc4733"
    #: Where out-of-dialog requests of the carrier come from (the SIP proxy in a cluster; default sip_host).
    carrier_host: str = ""
    #: T.38 fax over UDPTL on the trunks (a fax application asks for it; voice calls never use it).
    t38: bool = False
    udptl_start: int = 4000
    udptl_end: int = 4999
    #: asterisk.conf directories as seen inside the chroot: a cluster node has its own (`asterisk -C`).
    etc_dir: str = "/etc/asterisk"
    db_dir: str = "/var/lib/asterisk"
    spool_dir: str = "/var/spool/asterisk"
    run_dir: str = RUN_DIR
    log_dir: str = LOG_DIR
    #: asterisk.conf's systemname: prefixes every uniqueid (``node2-1764540000.12``), so the call records of
    #: several nodes never share an id ("" on a single PBX: plain ``1764540000.12``).
    system_name: str = ""
    noload: tuple[str, ...] = field(default=NOLOAD)

    def context(self) -> dict[str, object]:
        """The Jinja2 context for every base template."""
        ctx: dict[str, object] = asdict(self)
        ctx["noload"] = list(self.noload)
        ctx["carrier_host"] = self.carrier_host or self.sip_host
        ctx["levels"] = "notice,warning,error" + (",verbose,dtmf" if self.verbose else "")
        ctx["moh_dir"] = MOH_DIR
        ctx["default_moh_dir"] = DEFAULT_MOH_DIR
        return ctx


def _environment(templates: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_base_config(config: LabConfig, templates: Path | None = None) -> dict[str, str]:
    """Render every `*.j2` base template: {file name without .j2: text}."""
    templates = templates or template_dir()
    env = _environment(templates)
    names = sorted(p.name for p in templates.glob("*.j2"))
    if not names:
        raise FileNotFoundError(f"no *.j2 templates in {templates}")
    ctx = config.context()
    return {name[: -len(".j2")]: env.get_template(name).render(ctx) for name in names}


#: Debian's sample users.conf (deprecated in Asterisk 22): while it exists, every `dialplan reload` leaves
#: one more subscriber on the manager:core stasis topic (docs/asterisk-reload-leak.md), so the lab moves it
#: aside to this name.
USERS_CONF_ASIDE = "users.conf.ivr400-disabled"


def write_base_config(config: LabConfig, config_dir: Path, templates: Path | None = None) -> list[Path]:
    """Render the base config into `config_dir` (atomically, file by file) and make sure the
    include files exist (created empty when absent, never overwritten). Returns the files written.

    manager.conf holds the AMI secret, so it is written 0600. A ``users.conf`` is moved aside to
    :data:`USERS_CONF_ASIDE` (the reload leak of docs/asterisk-reload-leak.md).
    """
    users = config_dir / "users.conf"
    if users.exists():
        users.replace(config_dir / USERS_CONF_ASIDE)
    written: list[Path] = []
    for name, text in render_base_config(config, templates).items():
        target = config_dir / name
        atomic_write(target, text, mode=0o600 if name == "manager.conf" else 0o644)
        written.append(target)
    ensure_include_files(config_dir)
    return written


def ensure_include_files(config_dir: Path) -> list[Path]:
    """Create the `ivr400/` include files if they do not exist (empty, except the CDR mappings, so call
    records work before the first deploy); return those created. Existing files are left alone."""
    initial = cdr_include_files()
    created = []
    for rel in INCLUDE_FILES:
        target = config_dir / rel
        if not target.exists():
            atomic_write(target, initial.get(rel, ""))
            created.append(target)
    return created
