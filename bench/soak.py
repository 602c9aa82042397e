"""Soak: Qualia left running with a drop of transcripts every minute; does anything grow that should not?

Run: `.venv/bin/python bench/soak.py [--minutes 30] [--drop 20]` (about `minutes` + 5 minutes). It starts
`dagster dev` (webserver, daemon, code servers) on 127.0.0.1 with the SQLite instance `make ui` uses, in its
own process group, then copies `drop` new distinct meetings into the inbox every minute, as a lab's exports
arrive. The sensor, range runs and corpus refreshes process them. It reports, for each long-lived process, its
resident memory once the first drops are through (after `--warmup` minutes) and at the end (target: growth
<= 15%); the runs that failed (target: 0); every dropped transcript's report; and the instance's growth on
disk, per hour. A benchmark, not a test; everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline import RUNS, free_port, graphql, materialized_count, stop, transcripts, wait  # noqa: E402

ROLES = (("webserver", "dagster_webserver"), ("daemon", "dagster._daemon"), ("code server", "code-server start"),
         ("user code", "api grpc"))  # fmt: skip
"""How each long-lived process is recognised in its command line."""


def descendants(root: int) -> list[int]:
    """Every live process under ``root`` (from /proc: no extra package needed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def long_lived(root: int) -> dict[str, int]:
    """The webserver, the daemon and the code servers under ``root`` (run workers come and go: not these)."""
    found: dict[str, int] = {}
    for pid in sorted(descendants(root)):
        line = command_line(pid)
        for role, mark in ROLES:
            if mark in line and "execute_run" not in line:
                name = role if role not in found else f"{role} {sum(r.startswith(role) for r in found) + 1}"
                found[name] = pid
    return found


def resident_bytes(pid: int) -> int | None:
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=30, help="how long drops keep coming (default 30)")
    parser.add_argument("--drop", type=int, default=20, help="transcripts per minute (default 20)")
    parser.add_argument("--warmup", type=int, default=5, help="minutes before the first memory reading")
    args = parser.parse_args()
    if args.minutes <= args.warmup:
        parser.error("--minutes must be more than --warmup")
    work = Path(tempfile.mkdtemp(prefix="qualia-soak-"))
    data, home, port = work / "data", work / "dagster_home", free_port()
    (data / "inbox").mkdir(parents=True)
    home.mkdir()
    shutil.copy(ROOT / "ops" / "dagster.yaml", home / "dagster.yaml")
    pool = transcripts(work / "pool", args.minutes * args.drop)
    environment = {**os.environ, "DAGSTER_HOME": str(home), "QUALIA_DATA_DIR": str(data),
                   "QUALIA_CACHE_DIR": str(work / "cache")}  # fmt: skip
    log = (work / "dagster-dev.log").open("wb")
    command = [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
               "-m", "qualia_pipelines.definitions"]  # fmt: skip
    server = subprocess.Popen(command, cwd=work, env=environment, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    try:
        wait(lambda: "data" in graphql(port, "{ version }"), 180, "the webserver")
        started = time.monotonic()
        first: dict[str, int | None] = {}
        processes: dict[str, int] = {}
        database_start = 0
        for minute in range(args.minutes):
            for path in pool[minute * args.drop : (minute + 1) * args.drop]:
                shutil.copy(path, data / "inbox" / path.name)
            if minute == args.warmup:
                processes = long_lived(server.pid)
                first = {role: resident_bytes(pid) for role, pid in processes.items()}
                database_start = folder_bytes(home)
                warm = time.monotonic()
            memory = ", ".join(f"{role} {(resident_bytes(pid) or 0) / 1e6:.0f} MB" for role, pid in processes.items())
            print(
                f"minute {minute + 1}: {materialized_count(port, 'report')} reports; {memory}",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(max(0.0, started + 60 * (minute + 1) - time.monotonic()))
        wait(lambda: materialized_count(port, "report") >= len(pool), 900, "every report")
        time.sleep(90)  # the corpus refresh after the last drop
        last = {role: resident_bytes(pid) for role, pid in processes.items()}
        hours = (time.monotonic() - warm) / 3600
        database_end = folder_bytes(home)
        runs = graphql(port, RUNS)["data"]["runsOrError"]["results"]
    finally:
        stop(server)
        log.close()
    print(f"{args.minutes} minutes, {args.drop} transcripts a minute: {len(pool)} dropped, {len(runs)} runs")
    print(f"{'process':<16}{'RSS after warm-up':>20}{'RSS at the end':>18}{'growth':>10}")
    for role, before in first.items():
        after = last.get(role)
        if before is None or after is None:
            print(f"{role:<16}{'(replaced during the soak)':>48}")
            continue
        print(f"{role:<16}{before / 1e6:>17.0f} MB{after / 1e6:>15.0f} MB{(after / before - 1) * 100:>9.1f}%")
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    print(f"runs by status: {statuses} (failed: {statuses.get('FAILURE', 0)})")
    growth = database_end - database_start
    print(f"instance on disk: {database_start / 1e6:.1f} MB -> {database_end / 1e6:.1f} MB, "
          f"{growth / hours / 1e6:.1f} MB per hour at {args.drop} transcripts a minute")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
