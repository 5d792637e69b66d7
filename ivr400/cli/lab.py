"""`ivr400 lab ...`: the PBX lab commands (defined in ivr400.lab.commands so that
`python -m ivr400.lab` works without the rest of the CLI)."""
from __future__ import annotations

from ivr400.lab.commands import lab

__all__ = ["lab"]
