"""How to reach Asterisk's manager interface (AMI): the one settings type of every AMI client
(deploy, `deploy --check`, the call-record listener). Standard library only, so reading the
configuration does not load the AMI client.

Where the values come from (configuration file, IVR400_AMI_* environment variables, flags, the lab)
is ivr400.config's business; this is only the shape.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AmiSettings:
    """host, port (TCP), username and secret of a manager.conf user; `timeout` in seconds for the
    connection, the login and each action. The secret is left out of repr() (never logged)."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "ivr400"
    secret: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_mapping(cls, creds: Mapping[str, object], timeout: float = DEFAULT_TIMEOUT_S) -> AmiSettings:
        """From `{host, port, username, secret}` (e.g. `Lab.ami_credentials`)."""
        return cls(host=str(creds["host"]), port=int(creds["port"]),  # type: ignore[call-overload]
                   username=str(creds["username"]), secret=str(creds["secret"]), timeout=timeout)
