"""The operator files shipped in the repository: systemd units (systemd-analyze verify), the docker/
folder (docker-compose config, Dockerfiles) and the compose Asterisk's configuration, each checked
against what ivr400 itself relies on (settings names, include lines)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ivr400.config import ConfigError, Settings
from ivr400.deploy.check import find_include, section_values
from ivr400.lab.config import NOLOAD, TIMING_NOLOAD
from ivr400.pbx.asterisk.config_files import INCLUDES

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "packaging" / "systemd"
DOCKER = ROOT / "docker"
IVR400 = Path(sys.executable).with_name("ivr400")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/system-packages)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def unit_values(path: Path) -> dict[str, list[str]]:
    """{'Section.Key': [values]} of a unit file."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key}", []).append(value)
    return out


# ------------------------------------------------------------------------------------------------ systemd
@pytest.mark.parametrize("name, command", [("ivr400-serve.service", "serve"), ("ivr400-cdr.service", "cdr listen")])
def test_units_run_the_service_hardened(name: str, command: str) -> None:
    v = unit_values(UNITS / name)
    assert v["Service.ExecStart"] == [f"/opt/ivr400/bin/ivr400 {command}"]
    assert v["Service.User"] == ["ivr400"] and v["Service.Group"] == ["ivr400"]
    assert v["Service.Environment"] == ["IVR400_CONFIG=/etc/ivr400/ivr400.toml"]
    assert v["Service.Restart"] == ["on-failure"]
    for key, value in [("ProtectSystem", "strict"), ("ReadWritePaths", "/var/lib/ivr400"), ("NoNewPrivileges", "yes"),
                       ("PrivateTmp", "yes"), ("ProtectHome", "yes"), ("CapabilityBoundingSet", "")]:
        assert v[f"Service.{key}"] == [value], key


def test_the_follower_unit_may_write_only_ivr400s_own_directories() -> None:
    v = unit_values(UNITS / "ivr400-follow.service")
    assert v["Service.ExecStart"] == ["/opt/ivr400/bin/ivr400 deploy --follow"]
    assert v["Service.User"] == ["ivr400"] and v["Service.ProtectSystem"] == ["strict"]
    assert v["Service.ReadWritePaths"][0].split() == [
        "/var/lib/ivr400", "/etc/asterisk/ivr400", "/usr/share/asterisk/sounds/ivr400", "/var/lib/asterisk/moh/ivr400",
        "/var/spool/asterisk/ivr400"]


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` prints every unknown key or bad value (its exit status stays 0 for those):
    the shipped units print nothing, a broken copy does. ExecStart must exist, so the copies run this venv."""
    tool = _tool("systemd-analyze")
    copies = []
    for unit in sorted(UNITS.glob("*.service")):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/ivr400/bin/ivr400", str(IVR400)))
        copies.append(copy)
    assert len(copies) == 3
    proc = subprocess.run([tool, "verify", *map(str, copies)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stdout + proc.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(copies[0].read_text().replace("Restart=on-failure", "Restart=sometimes")
                      .replace("ProtectSystem=strict", "ProtectSystem=bogus"))
    proc = subprocess.run([tool, "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert "restart specifier" in proc.stderr and "protect system" in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------------------------ docker
def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    tool = _tool("docker-compose")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("IVR400_", "POSTGRES_", "COMPOSE_"))}
    return subprocess.run([tool, "-f", str(DOCKER / "compose.yaml"), *args], capture_output=True, text=True,
                          timeout=120, env={**clean, **env}, cwd=DOCKER)


def test_compose_file_is_valid_and_its_settings_are_ivr400_settings() -> None:
    import yaml  # PyYAML: a dependency of Debian's docker-compose, imported from its output only

    proc = _compose("config", env={"POSTGRES_PASSWORD": "pw", "IVR400_AMI_SECRET": "ami-s3cret"})
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    services = cfg["services"]
    assert {"postgres", "asterisk", "migrate", "deploy", "serve", "cdr", "ivr400"} <= set(services)
    assert services["serve"]["command"] == ["serve"] and services["cdr"]["command"] == ["cdr", "listen"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["serve"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    env = {k: str(v) for k, v in services["serve"]["environment"].items() if k.startswith("IVR400_")}
    settings = Settings.load(environ=env)  # every variable is a real setting with a valid value
    assert settings.controller_agi_url == "agi://serve:4573" and settings.ami.host == "asterisk"
    assert settings.require_ami().secret == "ami-s3cret"
    assert settings.asterisk_config_dir == Path("/asterisk/etc/asterisk")
    assert settings.asterisk_spool_dir == Path("/asterisk/var/spool/asterisk/ivr400")
    assert settings.cdr_csv == Path("/asterisk/var/log/asterisk/cdr-custom/ivr400.csv")
    assert settings.database_url.startswith("postgresql+psycopg://ivr400:pw@postgres/")
    # what ivr400 writes in its container is what the Asterisk container reads
    mounts = {v.split(":")[1]: v.split(":")[0] for v in _volumes(services["serve"])}
    ast = {v.split(":")[1]: v.split(":")[0] for v in _volumes(services["asterisk"])}
    for inside_ivr400, inside_asterisk in [("/asterisk/etc/asterisk/ivr400", "/etc/asterisk/ivr400"),
                                           ("/asterisk/usr/share/asterisk/sounds/ivr400",
                                            "/usr/share/asterisk/sounds/ivr400"),
                                           ("/asterisk/var/lib/asterisk/moh/ivr400", "/var/lib/asterisk/moh/ivr400"),
                                           ("/asterisk/var/spool/asterisk/ivr400", "/var/spool/asterisk/ivr400"),
                                           ("/asterisk/var/log/asterisk/cdr-custom", "/var/log/asterisk/cdr-custom")]:
        assert mounts[inside_ivr400] == ast[inside_asterisk], inside_ivr400


def test_compose_starts_asterisk_after_ivr400_files_exist() -> None:
    """Asterisk's configuration #includes ivr400's files: a one-shot `deploy` writes them first (after the
    schema), into the volume Asterisk reads them from, and Asterisk waits for it to succeed."""
    import yaml

    proc = _compose("config", env={"POSTGRES_PASSWORD": "pw", "IVR400_AMI_SECRET": "ami-s3cret"})
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    deploy, asterisk = services["deploy"], services["asterisk"]
    assert deploy["command"] == ["deploy", "--no-reload"] and deploy.get("restart") == "no"
    assert asterisk["depends_on"]["deploy"]["condition"] == "service_completed_successfully"
    assert deploy["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "asterisk" not in deploy["depends_on"]  # --no-reload: it needs no running Asterisk
    written = {v.split(":")[1]: v.split(":")[0] for v in _volumes(deploy)}
    read = {v.split(":")[1]: v.split(":")[0] for v in _volumes(asterisk)}
    assert written["/asterisk/etc/asterisk/ivr400"] == read["/etc/asterisk/ivr400"]
    # The order Compose derives from depends_on: postgres, migrate, deploy, then Asterisk.
    order = ["postgres", "migrate", "deploy", "asterisk"]
    for before, after in zip(order, order[1:], strict=False):
        assert before in services[after]["depends_on"], (before, after)


def _volumes(service: dict) -> list[str]:
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out.append(f"{v['source']}:{v['target']}")
        else:
            out.append(v)
    return out


def test_compose_refuses_to_run_without_the_secrets() -> None:
    proc = _compose("config", env={"POSTGRES_PASSWORD": "pw"})
    assert proc.returncode != 0 and "set IVR400_AMI_SECRET in docker/.env" in proc.stderr, proc.stderr


def test_compose_settings_errors_are_ivr400_errors() -> None:
    with pytest.raises(ConfigError, match="controller.agi_url"):
        Settings.load(environ={"IVR400_CONTROLLER_AGI_URL": "serve:4573"})


def test_images_are_multi_stage_and_run_as_non_root() -> None:
    ivr400 = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", ivr400, re.MULTILINE)
    assert len(stages) == 2 and stages[0][1] == "build"
    assert "COPY --from=build /opt/ivr400 /opt/ivr400" in ivr400
    users = re.findall(r"^USER\s+(\S+)", ivr400, re.MULTILINE)
    assert users == ["ivr400:ivr400"]
    assert re.findall(r'^ENTRYPOINT \["ivr400"\]', ivr400, re.MULTILINE)
    asterisk = (DOCKER / "asterisk" / "Dockerfile").read_text()
    assert re.findall(r"^USER\s+(\S+)", asterisk, re.MULTILINE) == ["asterisk:asterisk"]
    for text in (ivr400, asterisk, (DOCKER / "compose.yaml").read_text()):
        assert not re.search(r"(?m)^FROM\s+\S+\.\S+/", text)  # no registry host named


def test_compose_asterisk_includes_ivr400_as_the_docs_say() -> None:
    etc = DOCKER / "asterisk" / "etc"
    for inc in INCLUDES.values():
        found, where = find_include(etc, inc.parent, inc.name, inc.section)
        assert found, f"{inc.parent}: {where}"
    assert section_values((etc / "cdr_manager.conf").read_text(), "general")["enabled"] == "yes"
    assert section_values((etc / "cdr.conf").read_text(), "general")["unanswered"] == "yes"
    entry = (DOCKER / "asterisk" / "entrypoint.sh").read_text()
    assert "read = cdr" in entry and "write = command" in entry
    # the image's Asterisk times prompts with pthread, as the lab does (docs/asterisk-timerfd-wedge.md)
    noload = re.findall(r"(?m)^noload\s*=>\s*(\S+)", (etc / "modules.conf").read_text())
    assert noload == list(NOLOAD) and TIMING_NOLOAD in noload


def test_ci_installs_the_tools_these_tests_use() -> None:
    packages = (ROOT / ".ci" / "system-packages").read_text().split()
    assert "docker-compose" in packages and "systemd" in packages
