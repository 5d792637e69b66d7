"""The PBX lab: Asterisk 22 from Debian sid in a cached chroot, on loopback (see DESIGN.md §3).

Public API:
    ensure_chroot(root=None) -> (Path, build_seconds | None)
    lab_up(root=None, *, verbose=None, timeout=60.0) -> Lab
    lab_down(root=None, *, timeout=15.0) -> bool
    lab_status(root=None) -> LabStatus
    asterisk_rx(command, root=None, timeout=15.0) -> str
    Lab.load() -> Lab;  lab.rx(cmd), lab.config_dir, lab.host_path(p), lab.ami_credentials
"""
from __future__ import annotations

from ivr400.lab.chroot import default_root, ensure_chroot, mount_proc
from ivr400.lab.config import LAB_TEST_INCLUDE, LabConfig, render_base_config, write_base_config
from ivr400.lab.core import Lab, LabStatus, asterisk_rx, lab_down, lab_status, lab_up, state_path
from ivr400.lab.errors import LabError

__all__ = [
    "LAB_TEST_INCLUDE",
    "Lab",
    "LabConfig",
    "LabError",
    "LabStatus",
    "asterisk_rx",
    "default_root",
    "ensure_chroot",
    "lab_down",
    "lab_status",
    "lab_up",
    "mount_proc",
    "render_base_config",
    "state_path",
    "write_base_config",
]
