"""How long an `ivr400` command takes from the shell, against `python -c pass` measured in the same run.

    python bench/bench_cli.py [--runs 15] [--postgres URL]

Provisions the sample enterprise (`ivr400 demo`) into a fresh SQLite file (and, with --postgres, into a
private schema of that server), then runs each command --runs times as a new process, interleaved so that
load from other work on the machine spreads over all of them, and prints the median and fastest wall time
and the ratio of the median to the baseline's, for wall time and for CPU time (user + system, which
depends less on other load on the machine), and whether the median wall time meets the goal (GOAL_S, 0.3 s,
for `--help` and the list commands). More references show the floors: importing each database driver
(`sqlite3`, `psycopg`: what a list command pays, since it reads through the driver alone), SQLAlchemy
itself, its ORM, and ivr400's models with their mappers configured (what a command writing through the ORM
pays).

Then (`--bulk N`, default 1,000) N destinations with evidence, approved, and N seats provisioned by
`ivr400 import destinations` and `ivr400 import seats`, against one command per step timed on a sample.
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

#: The start-up goal for `--help` and the list commands, in seconds of median wall time.
GOAL_S = 0.3
BASELINE = "python -c pass"
REFERENCES: list[tuple[str, list[str]]] = [
    (BASELINE, [PYTHON, "-c", "pass"]),
    ("python -c 'import sqlite3'", [PYTHON, "-c", "import sqlite3"]),
    ("python -c 'import psycopg'", [PYTHON, "-c", "import psycopg"]),
    ("python -c 'import sqlalchemy'", [PYTHON, "-c", "import sqlalchemy"]),
    ("python -c 'import sqlalchemy.orm'", [PYTHON, "-c", "import sqlalchemy.orm"]),
    ("python -c 'import ivr400.db.models' (+ configure)",
     [PYTHON, "-c", "import ivr400.db.models, sqlalchemy.orm as o; o.configure_mappers()"]),
]
COMMANDS: list[tuple[str, list[str]]] = [
    ("ivr400 --help", ["--help"]),
    ("ivr400 hotline --help", ["hotline", "--help"]),
    ("ivr400 enterprise list", ["enterprise", "list"]),
    ("ivr400 hotline list", ["hotline", "list"]),
    ("ivr400 destination list --json", ["destination", "list", "--json"]),
    ("ivr400 seat list", ["seat", "list"]),
    ("ivr400 department list 4008123456", ["department", "list", "4008123456"]),
    ("ivr400 whitelist expiring --days 30", ["whitelist", "expiring", "--days", "30"]),
    ("ivr400 tone list", ["tone", "list"]),
    ("ivr400 trunk list", ["trunk", "list"]),
    ("ivr400 user list", ["user", "list"]),
    ("ivr400 voicemail list", ["voicemail", "list"]),
    ("ivr400 carrier list", ["carrier", "list"]),
    ("ivr400 block list 4008123456", ["block", "list", "4008123456"]),
    ("ivr400 calendar list --year 2026", ["calendar", "list", "--year", "2026"]),
    ("ivr400 callback list", ["callback", "list"]),
    ("ivr400 cdr list --since 2026-01-01", ["cdr", "list", "--since", "2026-01-01"]),
    ("ivr400 cluster node list", ["cluster", "node", "list"]),
    ("ivr400 evidence list 01062345678", ["evidence", "list", "01062345678"]),
    ("ivr400 fax list", ["fax", "list"]),
    ("ivr400 rule list 4008123456", ["rule", "list", "4008123456"]),
    ("ivr400 rule override list", ["rule", "override", "list"]),
    ("ivr400 call attempts 4008123456", ["call", "attempts", "4008123456"]),
    ("ivr400 export seats -", ["export", "seats", "-"]),
]
#: What `provision` adds to the sample enterprise so the lists above have rows to show.
EXTRA: list[list[str]] = [
    ["block", "add", "4008123456", "13800138000", "--note", "bench"],
    ["block", "add", "4008123456", "0755", "--prefix"],
    ["rule", "time", "add", "4008123456", "--days", "workday", "--segments", "09:00-18:00", "--action", "department:1"],
    ["rule", "region", "add", "4008123456", "--province", "广东", "--department", "1"],
    ["rule", "override", "add", "0755123", "--province", "广东", "--city", "深圳"],
    ["cluster", "node", "add", "node2", "127.0.0.2:5060"],
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
    """Median wall time, fastest wall time, median CPU time, the medians' ratios to the baseline's, and for
    the `ivr400` commands whether the median wall time is under GOAL_S."""
    base_wall = statistics.median(w for w, _ in times[BASELINE])
    base_cpu = statistics.median(c for _, c in times[BASELINE])
    width = max(len(name) for name in times)
    print(f"\n{title}")
    print(f"{'command':<{width}}  {'wall':>7}  {'fastest':>7}  {'ratio':>6}  {'CPU':>7}  {'ratio':>6}  "
          f"< {GOAL_S} s")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        goal = ("yes" if wall < GOAL_S else "NO") if name.startswith("ivr400") else ""
        print(f"{name:<{width}}  {wall * 1000:4.0f} ms  {min(w for w, _ in values) * 1000:4.0f} ms  "
              f"{wall / base_wall:5.1f}×  {cpu * 1000:4.0f} ms  {cpu / base_cpu:5.1f}×  {goal}")


def provision(url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, IVR400_DATA_DIR=str(data_dir), IVR400_DATABASE_URL=url, IVR400_ACTOR="bench")
    subprocess.run([*IVR400, "demo"], env=env, stdout=subprocess.DEVNULL, check=True)
    for argv in EXTRA:
        subprocess.run([*IVR400, *argv], env=env, stdout=subprocess.DEVNULL, check=True)
    return env


def bulk(seats: int, loop_sample: int, tmp: Path) -> None:
    """`seats` destinations and seats provisioned by two `ivr400 import` commands, against the same work as
    one command per item (`destination add`, `evidence add`, `destination approve`, `seat add`) timed on
    `loop_sample` items and scaled up."""
    per_hotline = 200  # the highest bound-number limit a hotline takes
    env = dict(os.environ, IVR400_DATA_DIR=str(tmp / "data-bulk"), IVR400_ACTOR="bench",
               IVR400_DATABASE_URL=f"sqlite:///{tmp / 'bulk.db'}")
    cli = [*IVR400]
    hotlines = [f"400810{n:04d}" for n in range(-(-seats // per_hotline))] + ["4008200000"]  # last: the loop's
    subprocess.run([*cli, "enterprise", "add", "北京甲科技有限公司", "--area-code", "010"], env=env,
                   stdout=subprocess.DEVNULL, check=True)
    for number in hotlines:
        subprocess.run([*cli, "hotline", "add", number, "--enterprise", "1", "--max-bound", str(per_hotline)],
                       env=env, stdout=subprocess.DEVNULL, check=True)
    (tmp / "bill.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    numbers = [f"010-6{n:07d}" for n in range(seats + loop_sample)]
    head = "enterprise,number,owner,status,evidence_kind,evidence_file,issuer,shows_number,shows_owner\n"
    (tmp / "destinations.csv").write_text(head + "".join(
        f"1,{n},北京甲科技有限公司,approved,carrier_bill,bill.png,telecom,yes,yes\n" for n in numbers[:seats]))
    (tmp / "seats.csv").write_text("hotline,destination\n" + "".join(
        f"{hotlines[i // per_hotline]},{n}\n" for i, n in enumerate(numbers[:seats])))
    imported = [run([*cli, "import", kind, str(tmp / f"{kind}.csv")], env)[0] for kind in ("destinations", "seats")]
    loop, hotline = 0.0, hotlines[-1]
    for n in numbers[seats:]:
        for argv in (["destination", "add", n, "--enterprise", "1", "--owner", "北京甲科技有限公司"],
                     ["evidence", "add", n, "carrier_bill", str(tmp / "bill.png"), "--issuer", "telecom",
                      "--shows-number", "--shows-owner"],
                     ["destination", "approve", n], ["seat", "add", hotline, n]):
            loop += run([*cli, *argv], env)[0]
    per_item = loop / loop_sample
    print(f"\nBulk: {seats:,} destinations with evidence, approved, and {seats:,} seats (SQLite)")
    print(f"  ivr400 import destinations + import seats: {imported[0]:.1f} s + {imported[1]:.1f} s "
          f"= {sum(imported):.1f} s")
    print(f"  one command per step (4 per item), {loop_sample} items timed: {per_item:.2f} s per item, "
          f"{per_item * seats / 60:.1f} min for {seats:,} ({per_item * seats / sum(imported):.0f}× the import)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgres", metavar="URL", help="also measure against this PostgreSQL server")
    parser.add_argument("--bulk", type=int, default=1000, metavar="N",
                        help="seats for the bulk import comparison (0: skip)")
    parser.add_argument("--loop-sample", type=int, default=10, metavar="N",
                        help="items provisioned one command at a time to scale up from")
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
        if args.bulk:
            bulk(args.bulk, args.loop_sample, Path(tmp))


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
