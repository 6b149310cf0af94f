"""Benchmark: start-up and whole-command time of okr-sync, as whole processes (what a user or cron waits for).

Runs `python -m flows.cli --help`, `validate`, `preview` and `run` of the factory example (create its
data first: `okr-sync example factory`) N times, interleaved, and prints medians. With --baseline DIR
(another checkout, e.g. `git worktree add /tmp/base <commit>`, with its own example data) the same
commands run from that code too, and the ratio is printed.

    python benchmarks/startup.py [--runs 9] [--baseline /tmp/base]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {"--help": ["--help"], "validate": ["validate", "examples/factory/okrs.yaml"],
            "preview": ["preview", "examples/factory/okrs.yaml"], "run": ["run", "examples/factory/okrs.yaml"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--cold-bytecode", action="store_true", help="no .pyc files for okr-sync's own modules")
    args = parser.parse_args()
    code = {"current": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    base_env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    for folder in code.values():
        if args.cold_bytecode:
            for cache in (p for top in ("flows", "connectors", "mapping") for p in (folder / top).rglob("__pycache__")):
                shutil.rmtree(cache)
        else:
            for words in COMMANDS.values():
                subprocess.run([sys.executable, "-m", "flows.cli", *words], cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False, env=dict(base_env, PYTHONPATH=str(folder), PREFECT_API_URL=""))
    if args.cold_bytecode:
        base_env["PYTHONDONTWRITEBYTECODE"] = "1"
    times: dict[tuple[str, str], list[float]] = {(c, k): [] for c in code for k in COMMANDS}
    for _ in range(args.runs):
        for command, words in COMMANDS.items():
            for label, folder in code.items():
                env = dict(base_env, PYTHONPATH=str(folder), PREFECT_API_URL="")
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "flows.cli", *words], cwd=folder, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                times[(label, command)].append(time.perf_counter() - started)
    state = "no .pyc of okr-sync's own modules" if args.cold_bytecode else "bytecode cached, as installed"
    print(f"whole-process medians of {args.runs} runs (factory example; {state})")
    for command in COMMANDS:
        now = statistics.median(times[("current", command)])
        line = f"  {command:9s} {now:.3f} s"
        if args.baseline:
            before = statistics.median(times[("baseline", command)])
            line += f"   baseline {before:.3f} s   ratio {now / before:.2f}x"
        print(line)


if __name__ == "__main__":
    main()
