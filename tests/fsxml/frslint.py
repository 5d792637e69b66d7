"""``frslint analyze`` (PyPI ``frslint`` 0.1.0) on rendered FreeSWITCH files, as a lint (not as the routing oracle:
it treats time conditions as always true and does not follow ``transfer``).

frslint installs top-level packages named ``debug``, ``log`` and ``lint``, so it lives in its own virtualenv,
``.venv-frslint`` at the repository root, made by ``make frslint`` (``make test`` does it) or, when missing, by
:func:`frslint_bin` (``python3 -m venv`` + ``pip install frslint==0.1.0``). ``IVR400_FRSLINT`` names another
``frslint`` executable.

It analyses a whole configuration from ``freeswitch.xml`` (an include file given alone is not analysed), so
:func:`analyze` lays the files out as FreeSWITCH's ``conf`` directory does: ``freeswitch.xml`` with the dialplan
section including ``dialplan/*.xml``, ``dialplan/public.xml`` including ``public/*.xml`` in context public.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-frslint"
VERSION = "0.1.0"

FREESWITCH_XML = """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="dialplan" description="Regex/XML Dialplan">
    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>
  </section>
</document>
"""
PUBLIC_XML = """<include>
  <context name="public">
    <X-PRE-PROCESS cmd="include" data="public/*.xml"/>
  </context>
</include>
"""


class FrslintUnavailable(Exception):
    """frslint could not be installed (no package index reachable): the message says what failed."""


def frslint_bin() -> Path:
    """The frslint executable, installing it into ``.venv-frslint`` first if needed. Raises FrslintUnavailable."""
    explicit = os.environ.get("IVR400_FRSLINT")
    if explicit:
        return Path(explicit)
    exe = VENV / "bin" / "frslint"
    if exe.is_file():
        return exe
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             [str(VENV / "bin" / "pip"), "install", "--quiet", f"frslint=={VERSION}"]]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise FrslintUnavailable(f"{' '.join(cmd[:3])}: {done.stderr.strip()[-500:]}")
    return exe


def analyze_document(path: Path) -> list[dict[str, object]]:
    """The issues frslint reports for a whole document (a freeswitch.xml, or an xml_curl answer)."""
    done = subprocess.run([str(frslint_bin()), "analyze", "-f", "json", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode not in (0, 1):
        raise AssertionError(f"frslint failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    issues: list[dict[str, object]] = report["issues"]
    assert report["summary"]["total"] == len(issues)
    return issues


def analyze(files: dict[str, str], conf: Path) -> list[dict[str, object]]:
    """Lay ``files`` (relative to FreeSWITCH's conf directory) out under ``conf`` and analyse the whole."""
    for name, text in {"freeswitch.xml": FREESWITCH_XML, "dialplan/public.xml": PUBLIC_XML, **files}.items():
        path = conf / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return analyze_document(conf / "freeswitch.xml")
