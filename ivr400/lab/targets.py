"""The lab as ivr400's Asterisk: its chroot paths and AMI user as settings (`ivr400 --lab ...`) and as
a deploy target. The CLI and the lab's own tools call this; production code never looks for a lab.

    settings = lab_settings(Settings.load())     # asterisk.* and ami.* of the running lab
    target = lab_target(lab)                      # DeployTarget into the lab, with its AMI user
"""
from __future__ import annotations

from ivr400.config import Settings, Value
from ivr400.deploy.asterisk import DeployTarget
from ivr400.lab.core import Lab, state_path


def lab_settings(base: Settings, lab: Lab | None = None) -> Settings:
    """`base` with every asterisk.* path, cdr.csv and ami.* taken from the lab (LabError without one)."""
    lab = lab if lab is not None else Lab.load()
    own = Settings({"asterisk.root": Value(lab.root, "lab")})
    values: dict[str, object] = {
        "asterisk.root": lab.root,
        "asterisk.config_dir": own.asterisk_config_dir,
        "asterisk.sounds_dir": own.asterisk_sounds_dir,
        "asterisk.spool_dir": own.asterisk_spool_dir,
        "cdr.csv": own.cdr_csv,
        "ami.host": lab.ami_host,
        "ami.port": lab.ami_port,
        "ami.user": lab.ami_username,
        "ami.secret": lab.ami_secret or None,
    }
    return base.with_values(values, source=f"lab {state_path()}")


def lab_target(lab: Lab) -> DeployTarget:
    """Deploy target of the lab's Asterisk, with its AMI user."""
    settings = lab_settings(Settings(), lab)
    return DeployTarget.from_settings(settings, ami=settings.require_ami())
