"""The lab's one exception type: a field (what failed) and a reason, printed as `error: field: reason`."""
from __future__ import annotations


class LabError(RuntimeError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
