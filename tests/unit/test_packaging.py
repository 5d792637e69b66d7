"""The installed wheel is self-contained: templates, sounds, migrations and letters found from a fresh venv."""
from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import sys
from pathlib import Path
from ivr400.paths import resource_dir
import ivr400
pkg = Path(ivr400.__file__).parent
assert str(pkg).startswith(sys.prefix), pkg
for name, probe in [("dialplans", "asterisk/extensions.conf.j2"), ("dialplans", "asterisk/lab/pjsip.conf.j2"),
                    ("sounds", "ivr400-welcome.wav"), ("alembic", "env.py"),
                    ("alembic", "versions/0001_whitelist_foundation.py")]:
    path = resource_dir(name) / probe
    assert path.is_file() and str(path).startswith(str(pkg)), path
assert (pkg / "compliance" / "letters" / "letter.txt.j2").is_file()
print("ok")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stderr[-2000:]}")
    return next(out.glob("ivr400-*.whl"))


def test_wheel_carries_the_resources(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "ivr400/_data/dialplans/asterisk/extensions.conf.j2" in names
    assert "ivr400/_data/sounds/ivr400-ringback.wav" in names
    assert "ivr400/_data/alembic/env.py" in names
    assert not any(n.startswith(("tests/", "ivr400/_data/tests", "bench/")) for n in names)
    assert not any("sipp_load" in n or "uac_load" in n for n in names), "the load benchmark lives in bench/"


def test_installed_wheel_finds_its_resources_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    proc = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
