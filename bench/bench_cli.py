"""How long an `ivr400` command takes from the shell, against `python -c pass` measured in the same run.

    python bench/bench_cli.py [--runs 15] [--postgres URL]

Provisions the sample enterprise (`ivr400 demo`) into a fresh SQLite file (and, with --postgres, into a
private schema of that server), then runs each command --runs times as a new process, interleaved so that
load from other work on the machine spreads over all of them, and prints the median and fastest wall time
and the ratio of the median to the baseline's, for wall time and for CPU time (user + system, which
depends less on other load on the machine). Two more references show the floor of any command that reads
the database through the ORM: importing SQLAlchemy's ORM, and importing ivr400's models with their mappers
configured (what the first query does).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PYTHON = sys.executable
SCRIPT = Path(PYTHON).with_name("ivr400")
IVR400 = [str(SCRIPT)] if SCRIPT.exists() else [PYTHON, "-c", "from ivr400.cli import main; main()"]

BASELINE = "python -c pass"
REFERENCES: list[tuple[str, list[str]]] = [
    (BASELINE, [PYTHON, "-c", "pass"]),
    ("python -c 'import sqlalchemy.orm'", [PYTHON, "-c", "import sqlalchemy.orm"]),
    ("python -c 'import ivr400.db.models' (+ configure)",
     [PYTHON, "-c", "import ivr400.db.models, sqlalchemy.orm as o; o.configure_mappers()"]),
]
COMMANDS: list[tuple[str, list[str]]] = [
    ("ivr400 --help", ["--help"]),
    ("ivr400 hotline --help", ["hotline", "--help"]),
    ("ivr400 hotline list", ["hotline", "list"]),
    ("ivr400 destination list --json", ["destination", "list", "--json"]),
    ("ivr400 seat list", ["seat", "list"]),
    ("ivr400 department list 4008123456", ["department", "list", "4008123456"]),
    ("ivr400 whitelist expiring --days 30", ["whitelist", "expiring", "--days", "30"]),
    ("ivr400 export seats -", ["export", "seats", "-"]),
]


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def measure(cases: list[tuple[str, list[str]]], env: dict[str, str], runs: int) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in cases}
    for _, argv in cases:  # warm-up: byte-code caches, page cache
        run(argv, env)
    for _ in range(runs):
        for name, argv in cases:
            times[name].append(run(argv, env))
    return times


def report(title: str, times: dict[str, list[tuple[float, float]]]) -> None:
    """Median wall time, fastest wall time, median CPU time, and the medians' ratios to the baseline's."""
    base_wall = statistics.median(w for w, _ in times[BASELINE])
    base_cpu = statistics.median(c for _, c in times[BASELINE])
    width = max(len(name) for name in times)
    print(f"\n{title}")
    print(f"{'command':<{width}}  {'wall':>7}  {'fastest':>7}  {'ratio':>6}  {'CPU':>7}  {'ratio':>6}")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:<{width}}  {wall * 1000:4.0f} ms  {min(w for w, _ in values) * 1000:4.0f} ms  "
              f"{wall / base_wall:5.1f}×  {cpu * 1000:4.0f} ms  {cpu / base_cpu:5.1f}×")


def provision(url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, IVR400_DATA_DIR=str(data_dir), IVR400_DATABASE_URL=url, IVR400_ACTOR="bench")
    subprocess.run([*IVR400, "demo"], env=env, stdout=subprocess.DEVNULL, check=True)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgres", metavar="URL", help="also measure against this PostgreSQL server")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; Python "
          f"{platform.python_version()}; {args.runs} runs per command, interleaved")
    with tempfile.TemporaryDirectory(prefix="ivr400-bench-cli-") as tmp:
        env = provision(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp) / "data")
        report("SQLite (sample enterprise from `ivr400 demo`)", measure(REFERENCES + [
            (name, [*IVR400, *argv]) for name, argv in COMMANDS], env, args.runs))
        if args.postgres:
            report("PostgreSQL", measure_postgres(args.postgres, Path(tmp), args.runs))


def measure_postgres(url: str, tmp: Path, runs: int) -> dict[str, list[tuple[float, float]]]:
    from sqlalchemy import create_engine, make_url, text

    schema = f"bench_cli_{uuid.uuid4().hex[:8]}"
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        env = provision(f"{url}{sep}options=-csearch_path%3D{schema}", tmp / "data-pg")
        return measure(REFERENCES + [(name, [*IVR400, *argv]) for name, argv in COMMANDS if "--help" not in argv],
                       env, runs)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
