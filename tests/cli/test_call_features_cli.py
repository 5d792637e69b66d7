"""The call-feature commands on an SQLite file: weighted strategy and seat weight, survey and caller cap,
click-to-call setup and an operator's callback refused before any PBX is asked; bad input names the field."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.cli.test_routing_cli import H, base  # noqa: E402


def test_weighted_strategy_weight_survey_and_cap(cli) -> None:  # noqa: ANN001
    base(cli)
    dept = json.loads(cli("department", "set", H, "1", "--strategy", "weighted", "--json").output)
    assert dept["hunt"] == "weighted"
    seat = json.loads(cli("seat", "set", "1", "--weight", "30", "--json").output)
    assert seat["weight"] == 30
    hotline = json.loads(cli("hotline", "set", H, "--survey", "--caller-cap", "5", "--hunt", "weighted",
                             "--json").output)
    assert (hotline["survey"], hotline["caller_cap_per_month"], hotline["hunt"]) == (True, 5, "weighted")
    listed = json.loads(cli("seat", "list", H, "--json").output)
    assert listed[0]["weight"] == 30 and listed[0]["satisfaction"] is None
    assert "satisfaction" in cli("seat", "list", H).output


def test_bad_values_name_the_field(cli) -> None:  # noqa: ANN001
    base(cli)
    before = cli.snapshot()
    for args, field in ((("department", "set", H, "1", "--strategy", "random"), "strategy"),
                        (("seat", "set", "1", "--weight", "1001"), "weight"),
                        (("hotline", "set", H, "--caller-cap", "-1"), "caller-cap"),
                        (("hotline", "set", H, "--survey-prompt", "../etc/x"), "survey-prompt"),
                        (("call", "setup", H, "--caller-id", "4008001234"), "caller-id"),
                        (("call", "setup", H, "--enable"), "caller-id")):
        result = cli(*args, ok=False)
        assert result.exit_code != 0 and f"{field}: " in result.output, (args, result.output)
    assert cli.snapshot() == before


def test_call_setup_and_a_refused_callback_is_recorded(cli) -> None:  # noqa: ANN001
    base(cli)
    setup = json.loads(cli("call", "setup", H, "--caller-id", "010-62345678", "--origins",
                           "https://www.example.com", "--enable", "--json").output)
    assert setup["enabled"] and len(setup["token"]) >= 30 and setup["caller_id"] == "01062345678"
    refused = cli("call", "visitor", H, "+1 212 555 0100", "--json", ok=False)
    assert refused.exit_code == 1 and json.loads(refused.output)["outcome"] == "refused_number"
    attempts = json.loads(cli("call", "attempts", H, "--json").output)
    assert [a["outcome"] for a in attempts] == ["refused_number"]
