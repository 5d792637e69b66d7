"""docs/architecture.md says what the code does: who decided (IVR400_DECIDED_BY), the metrics port and the
metrics exported, the uniqueid in the controller's log lines."""
from __future__ import annotations

import re
from pathlib import Path

from ivr400.cdr.cdr_model import DECIDED_BY
from ivr400.cli.serve import LOG_FORMAT
from ivr400.config import Settings
from ivr400.controller.metrics import ControllerMetrics
from ivr400.pbx.asterisk import dialplan_variables as v

DOC = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = DOC.index(f"## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:] if end < 0 else DOC[start:end]


SECTION = _section("Who decided, and watching the controller")


def test_decided_by_names_the_variable_the_cdr_variable_and_every_value() -> None:
    assert f"**`{v.DECIDED_BY}`**" in SECTION and f"`{v.CDR_DECIDED_BY}`" in SECTION
    documented = re.findall(r"^\| `([a-z]+)` \|", SECTION, re.MULTILINE)
    assert documented == list(DECIDED_BY)


def test_the_metrics_port_and_every_exported_family_are_documented() -> None:
    settings = Settings.load(environ={})
    assert f"`{settings.get('controller.metrics_host') or '127.0.0.1'}:{settings.controller_metrics_port}`" in SECTION
    for option in ("--metrics-host", "--metrics-port", "--no-metrics"):
        assert f"`{option}`" in SECTION or f"{option}`" in SECTION
    exported = {family.name for family in ControllerMetrics().registry.collect()}  # counters without _total
    assert exported, "no metric exported"
    for name in exported:
        # A documented name stands for its family: `ivr400_config_*` covers the configuration metrics.
        assert name in SECTION or (name.startswith("ivr400_config_") and "`ivr400_config_*`" in SECTION), name
    assert "GET /metrics" in SECTION and "GET /healthz" in SECTION


def test_log_lines_carry_the_uniqueid_as_documented() -> None:
    assert "[%(uniqueid)s]" in LOG_FORMAT and f"`{LOG_FORMAT}`" in SECTION
