"""Benchmark: Prefect's share of a sync, and trigger-to-Completed of a deployment run with a warm worker.

    python benchmarks/prefect_overhead.py [--krs 1000] [--runs 5]

Starts its own `prefect server start` (own PREFECT_HOME, free port), builds the 1,000-KR config of
benchmarks/core_sync.py spread over 10 sources (5 SQLite databases, 5 workbooks), then
1. runs the same sync directly (`run_sync`) and as a flow run on the server (`sync_okrs`), each in a
   fresh process and timed inside it (imports excluded), `--runs` times, and prints the medians and
   their difference (Prefect's share: tasks, states, logs and artifacts sent to the API);
2. deploys it with `okr-sync deploy`, starts one worker (PREFECT_WORKER_QUERY_SECONDS=1), triggers the
   deployment `--runs` times and prints the median time from creating the run to Completed.
Everything it starts is stopped by PID.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from core_sync import NOW, make_config, make_data  # noqa: E402

BIN = Path(sys.executable).parent
TIMED = """
import sys, time
sys.path.insert(0, {root!r})
from core_sync import NOW
{imports}
start = time.perf_counter()
{call}
print(time.perf_counter() - start)
"""


def ten_sources(folder: Path, krs: int) -> Path:
    """The core_sync config with its SQL KRs spread over 5 copies of the database (10 sources in all)."""
    path = make_config(folder, krs)
    config = yaml.safe_load(path.read_text())
    for copy in range(5):
        shutil.copy(folder / "mes.db", folder / f"mes{copy}.db")
        config["sources"][f"mes{copy}"] = {"kind": "sql", "url": f"sqlite:///mes{copy}.db"}
    del config["sources"]["mes"]
    n = 0
    for objective in config["objectives"]:
        for kr in objective["key_results"]:
            if kr["metric"].get("source") == "mes":
                kr["metric"]["source"] = f"mes{n % 5}"
                n += 1
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def timed_process(imports: str, call: str, env: dict[str, str]) -> float:
    code = TIMED.format(root=str(ROOT / "benchmarks"), imports=imports, call=call)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return float(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--krs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_data(folder)
        path = ten_sources(folder, args.krs)
        port = free_port()
        env = {**os.environ, "PREFECT_HOME": str(folder / "prefect"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false", "PREFECT_WORKER_QUERY_SECONDS": "1"}
        server = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, folder / "server.log")
        worker = None
        try:
            for _ in range(180):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5):
                        break
                except OSError:
                    time.sleep(1)
            direct, flow, runs = [], [], []
            for _ in range(args.runs):
                direct.append(timed_process("from flows.pipeline import run_sync\nfrom mapping.loader import load_config",
                                            f"assert run_sync(load_config({str(path)!r}), NOW).ok", env))
                flow.append(timed_process("from flows.sync import sync_okrs",
                                          f"state = sync_okrs({str(path)!r}, now=NOW, return_state=True)\nassert state.is_completed()", env))
                runs.append(_server_duration(env))
            print(f"{args.krs} KRs over 10 sources, medians of {args.runs} fresh processes (imports excluded):")
            print(f"  direct run_sync:       {statistics.median(direct):.2f} s   (runs: {', '.join(f'{v:.2f}' for v in direct)})")
            print(f"  flow run on a server:  {statistics.median(flow):.2f} s   (runs: {', '.join(f'{v:.2f}' for v in flow)})")
            print(f"  Prefect's share:       {statistics.median(flow) - statistics.median(direct):.2f} s   (the first flow call of a process "
                  "also loads and starts Prefect's engine)")
            print(f"  the flow run's own duration on the server (start to end): median {statistics.median(runs):.2f} s   "
                  f"(runs: {', '.join(f'{v:.2f}' for v in runs)}); minus direct: {statistics.median(runs) - statistics.median(direct):.2f} s")

            subprocess.run([str(BIN / "prefect"), "work-pool", "create", "bench", "--type", "process"], env=env, check=True,
                           capture_output=True)
            subprocess.run([str(BIN / "okr-sync"), "deploy", str(path), "--pool", "bench"], env=env, check=True, capture_output=True)
            worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "bench"], env, folder / "worker.log")
            from prefect.client.orchestration import PrefectClient
            from prefect.deployments import run_deployment

            name = f"sync-okrs/{yaml.safe_load(path.read_text()).get('workspace') or _workspace(path)}"

            async def trigger_to_completed() -> list[float]:
                spans = []
                async with PrefectClient(api=env["PREFECT_API_URL"]) as client:
                    for _ in range(args.runs + 1):  # the first warms the worker up and is not counted
                        started = time.perf_counter()
                        run = await run_deployment(name, timeout=0, client=client)
                        while True:
                            state = (await client.read_flow_run(run.id)).state
                            if state.is_final():
                                break
                            await asyncio.sleep(0.2)
                        if not state.is_completed():
                            raise SystemExit(f"deployment run ended {state.name}: {state.message}")
                        spans.append(time.perf_counter() - started)
                return spans[1:]

            os.environ.update({k: v for k, v in env.items() if k.startswith("PREFECT_")})
            spans = asyncio.run(trigger_to_completed())
            print(f"  deployment run, trigger to Completed (warm worker, poll every 1 s): median {statistics.median(spans):.2f} s"
                  f"   (runs: {', '.join(f'{v:.2f}' for v in spans)})")
        finally:
            if worker is not None:
                stop(worker)
            stop(server)


def _server_duration(env: dict[str, str]) -> float:
    """Start-to-end seconds of the newest flow run, as the server recorded them."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.sorting import FlowRunSort

    async def read() -> float:
        async with PrefectClient(api=env["PREFECT_API_URL"]) as client:
            (run,) = await client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
            return (run.end_time - run.start_time).total_seconds()

    return asyncio.run(read())


def _workspace(path: Path) -> str:
    from mapping.loader import load_config

    return load_config(path).workspace_id


if __name__ == "__main__":
    main()
