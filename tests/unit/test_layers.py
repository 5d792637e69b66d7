"""The layering contract at run time: what a process actually imports (the static contract is import-linter's,
run by `make test`; see docs/architecture.md)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_the_controller_process_loads_neither_the_renderer_nor_jinja2() -> None:
    modules = _imported_after("import ivr400.controller.app")
    assert "ivr400.controller.routes" in modules  # the routes are part of it
    assert "jinja2" not in modules
    assert not {m for m in modules if m == "ivr400.render" or m.startswith("ivr400.render.")}


@pytest.mark.parametrize("module", ["ivr400.pbx.asterisk.agi_protocol", "ivr400.pbx.asterisk.fastagi",
                                    "ivr400.pbx.asterisk.ami", "ivr400.pbx.asterisk.dialplan_variables",
                                    "ivr400.pbx.asterisk.prompts", "ivr400.pbx.asterisk.ami_settings",
                                    "ivr400.pbx.asterisk.config_files", "ivr400.validators"])
def test_the_wire_contract_and_the_validators_import_nothing_else_of_ours(module: str) -> None:
    ours = {m for m in _imported_after(f"import {module}") if m == "ivr400" or m.startswith("ivr400.")}
    allowed = {"ivr400", module} | ({"ivr400.pbx", "ivr400.pbx.asterisk", "ivr400.pbx.asterisk.agi_protocol",
                                    "ivr400.pbx.asterisk.ami_settings"}
                                   if module.startswith("ivr400.pbx.") else set())
    assert ours <= allowed, sorted(ours - allowed)
