"""The PBX lab: Asterisk 22 from Debian sid in a cached chroot, on loopback (see docs/architecture.md, "The lab").

Public API:
    ensure_chroot(root=None) -> (Path, build_seconds | None)
    lab_up(root=None, *, verbose=None, timeout=60.0) -> Lab
    lab_down(root=None, *, timeout=15.0) -> bool
    lab_status(root=None) -> LabStatus
    asterisk_rx(command, root=None, timeout=15.0) -> str
    Lab.load() -> Lab;  lab.rx(cmd), lab.config_dir, lab.host_path(p), lab.ami_credentials

Names are imported lazily, so `python3 -m ivr400.lab.chroot` (standard library only) can build the
chroot before the venv with Jinja2 and click exists.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "default_root": "ivr400.lab.chroot",
    "ensure_chroot": "ivr400.lab.chroot",
    "mount_proc": "ivr400.lab.chroot",
    "LAB_TEST_INCLUDE": "ivr400.lab.config",
    "LabConfig": "ivr400.lab.config",
    "render_base_config": "ivr400.lab.config",
    "write_base_config": "ivr400.lab.config",
    "Lab": "ivr400.lab.core",
    "LabStatus": "ivr400.lab.core",
    "asterisk_rx": "ivr400.lab.core",
    "lab_down": "ivr400.lab.core",
    "lab_status": "ivr400.lab.core",
    "lab_up": "ivr400.lab.core",
    "state_path": "ivr400.lab.core",
    "LabError": "ivr400.lab.errors",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ivr400.lab.chroot import default_root, ensure_chroot, mount_proc
    from ivr400.lab.config import LAB_TEST_INCLUDE, LabConfig, render_base_config, write_base_config
    from ivr400.lab.core import Lab, LabStatus, asterisk_rx, lab_down, lab_status, lab_up, state_path
    from ivr400.lab.errors import LabError


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the lazily imported name is
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ivr400.lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
