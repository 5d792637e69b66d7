"""The Asterisk configuration ivr400 takes part in: its include files, which operator file includes
each one (and in which section), the module that reads it and the CLI command that reloads it; and
asterisk.conf's `[directories]`.

This is the one reload map: deploy reloads with it, `deploy --check` checks includes and modules with it,
the lab's base config and docs/operations.md show the same include lines.

    INCLUDES["ivr400/extensions.conf"].reload      # 'dialplan reload'
    include_line("ivr400/extensions.conf")          # '#include ivr400/extensions.conf'
    asterisk_directories(Path("/etc/asterisk"))     # {'astdatadir': '/usr/share/asterisk', ...}

Sources: Asterisk's config parser (main/config.c: `#include` is textual and relative to astetcdir),
cdr_custom.c and cdr_manager.c (read the first `[mappings]` category only, so ivr400's mapping lines
are included *inside* the operator's `[mappings]`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

#: Include directory ivr400 owns, relative to Asterisk's config directory (astetcdir).
#: The timing module to keep out of an Asterisk that runs ivr400's menus: on Asterisk 22.10.1 it leaves menu calls
#: bridged to a seat up for good after the caller's BYE under load (docs/asterisk-timerfd-wedge.md). The lab
#: noloads it; `deploy --check` warns while it is loaded.
TIMERFD_MODULE = "res_timing_timerfd.so"

INCLUDE_DIR = "ivr400"


@dataclass(frozen=True)
class IncludeFile:
    """One file ivr400 writes under <astetcdir>/ivr400/ and how Asterisk gets to read it.

    `parent`: the operator's file that must `#include` it; `section`: the category the include line
    must sit in (None: anywhere, normally the end of the file); `module`: the module that reads it;
    `reload`: the CLI command reloading only that module.
    """

    name: str
    parent: str
    section: str | None
    module: str
    reload: str


INCLUDES: MappingProxyType[str, IncludeFile] = MappingProxyType({f.name: f for f in (
    IncludeFile("ivr400/extensions.conf", "extensions.conf", None, "pbx_config.so", "dialplan reload"),
    IncludeFile("ivr400/musiconhold.conf", "musiconhold.conf", None, "res_musiconhold.so", "moh reload"),
    IncludeFile("ivr400/pjsip.conf", "pjsip.conf", None, "res_pjsip.so", "module reload res_pjsip.so"),
    IncludeFile("ivr400/cdr_custom.conf", "cdr_custom.conf", "mappings", "cdr_custom.so",
                "module reload cdr_custom.so"),
    IncludeFile("ivr400/cdr_manager.conf", "cdr_manager.conf", "mappings", "cdr_manager.so",
                "module reload cdr_manager.so"),
)})

#: Reload command per include file (a view of INCLUDES).
RELOAD: MappingProxyType[str, str] = MappingProxyType({name: f.reload for name, f in INCLUDES.items()})

#: Asterisk's compiled-in directories (used when asterisk.conf does not set one).
DEFAULT_DIRECTORIES: MappingProxyType[str, str] = MappingProxyType({
    "astetcdir": "/etc/asterisk",
    "astdatadir": "/var/lib/asterisk",
    "astvarlibdir": "/var/lib/asterisk",
    "astspooldir": "/var/spool/asterisk",
    "astlogdir": "/var/log/asterisk",
    "astrundir": "/var/run/asterisk",
})


def include_line(name: str) -> str:
    """The line the operator's parent file needs, e.g. `#include ivr400/pjsip.conf`."""
    return f"#include {name}"


_SECTION = re.compile(r"\[([^\]]+)\]")
_DIRECTORY = re.compile(r"(ast[a-z]+dir)\s*=>?\s*(\S+)")


def asterisk_directories(config_dir: Path) -> dict[str, str]:
    """asterisk.conf's [directories] over Asterisk's defaults (paths as Asterisk sees them).

    A missing or unreadable asterisk.conf gives the defaults.
    """
    dirs = dict(DEFAULT_DIRECTORIES)
    try:
        text = (config_dir / "asterisk.conf").read_text(errors="replace")
    except OSError:
        return dirs
    section = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        m = _SECTION.fullmatch(line.split("(", 1)[0].strip()) if line.startswith("[") else None
        if m:
            section = m.group(1).strip().lower()
            continue
        if section == "directories":
            m = _DIRECTORY.fullmatch(line)
            if m:
                dirs[m.group(1)] = m.group(2)
    return dirs
