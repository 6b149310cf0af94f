"""The documented production set-up on a real Prefect server: `prefect server start`, a process work pool,
`okr-sync deploy` of two teams' configs, two `prefect worker start` processes, then real deployment runs.

Asserts through the Prefect client that runs complete (and a broken source's run is Failed with exactly
that source's task Failed), that outputs and the shared PostgreSQL history are right, and that the canary
secret (held in a Prefect Secret block) appears in no log, parameter, job variable or artifact.
Everything started here is stopped by PID. Slow (a server and two workers): about a minute or two.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.example_data import make_factory
from servers import server_database

pytestmark = pytest.mark.prefect_server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "factory" / "okrs.yaml"
BIN = Path(sys.executable).parent
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def descendants(pid: int) -> list[int]:
    """Every living process started, directly or not, by `pid` (Prefect starts each flow run in a new session,
    so the process group would not find them)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) ": state, ppid, ...
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def wait_for_children(process: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until the processes a worker started (one per flow run) have exited. A run is Completed before its
    process exits, and the process sends its last log lines on the way out: stopping the worker earlier makes
    it stop them, and their last lines are lost."""
    deadline = time.monotonic() + timeout
    while descendants(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def history_db():
    yield from server_database("postgresql", prefix="okr_history")


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_WORKER_QUERY_SECONDS": "1",
           "PREFECT_WORKER_PREFETCH_SECONDS": "1", "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_KEY", None)
    log = home / "server.log"
    server = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log, home)
    try:
        deadline = time.monotonic() + 180
        import urllib.request

        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prefect server did not start: {log.read_text()[-2000:]}")
            time.sleep(1)
        time.sleep(2)  # the port answered: make sure it is our server (another one on the port would leave ours exited)
        if server.poll() is not None:
            pytest.fail(f"prefect server exited after the port answered (port {port} taken?): {log.read_text()[-2000:]}")
        yield env
    finally:
        stop(server)


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def wait_for_runs(env: dict[str, str], run_ids: list, timeout: float = 300) -> dict:
    from prefect.client.orchestration import PrefectClient

    async def poll():
        async with PrefectClient(api=env["PREFECT_API_URL"]) as client:
            deadline = time.monotonic() + timeout
            while True:
                runs = {run_id: await client.read_flow_run(run_id) for run_id in run_ids}
                if all(run.state.type.value in TERMINAL for run in runs.values()) or time.monotonic() > deadline:
                    return runs
                await asyncio.sleep(1)

    return asyncio.run(poll())


def test_two_teams_deployed_and_run_by_two_workers_on_a_real_server(prefect_server, history_db, tmp_path):
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    env = prefect_server
    canary = f"canary{uuid.uuid4().hex[:12]}"
    teams = tmp_path / "okrs"
    teams.mkdir()
    make_factory(tmp_path / "data", date(2026, 11, 27))
    # the shared history URL lives in a Secret block; the canary is part of it (as a password would be)
    history_url = history_db.admin.replace("postgres@", f"postgres:{canary}@")
    code = f"from prefect.blocks.system import Secret; Secret(value={history_url!r}).save('okr-history-url', overwrite=True)"
    cli([sys.executable, "-c", code], env, tmp_path)
    base = EXAMPLE.read_text().replace("sqlite:///data/", f"sqlite:///{tmp_path}/data/").replace("path: data/", f"path: {tmp_path}/data/")
    base = base.replace("history: sqlite:///.okr-sync/history.db", "history_secret: okr-history-url")
    assert "history_secret" in base
    (teams / "plant-a.yaml").write_text(base.replace("period: 2026-Q4", "period: 2026-Q4\nworkspace: plant-a", 1)
                                        .replace("path: out/okr-summary.xlsx", f"path: {tmp_path}/out/plant-a.xlsx"))
    (teams / "plant-b.yaml").write_text(
        base.replace("period: 2026-Q4", "period: 2026-Q4\nworkspace: plant-b\nschedule: {sync: '30 5 * * *', checkin: null}", 1)
        .replace("timezone: Europe/Berlin", "timezone: America/Chicago")
        .replace(f"path: {tmp_path}/data/quality.xlsx", f"path: {tmp_path}/data/missing.xlsx")
        .replace("path: out/okr-summary.xlsx", f"path: {tmp_path}/out/plant-b.xlsx"))

    cli([str(BIN / "prefect"), "work-pool", "create", "okr-sync", "--type", "process"], env, tmp_path)
    deployed = cli([str(BIN / "okr-sync"), "deploy", str(teams), "--pool", "okr-sync", "--limit", "sql=1"], env, tmp_path)
    assert "sync-okrs/plant-a: cron '0 6 * * 1-5' (Europe/Berlin)" in deployed.stdout
    assert "sync-okrs/plant-b: cron '30 5 * * *' (America/Chicago)" in deployed.stdout
    assert "checkin-okrs/plant-b: no schedule" in deployed.stdout

    workers = [start([str(BIN / "prefect"), "worker", "start", "--pool", "okr-sync", "--name", f"w{i}"], env,
                     tmp_path / f"worker{i}.log", tmp_path) for i in (1, 2)]
    try:
        async def trigger():
            from prefect.deployments import run_deployment

            async with PrefectClient(api=env["PREFECT_API_URL"]) as client:
                runs = {}
                for name in ("sync-okrs/plant-a", "sync-okrs/plant-b", "checkin-okrs/plant-a", "review-okrs/plant-a"):
                    run = await run_deployment(name, timeout=0, client=client)
                    runs[name] = run.id
                limit = await client.read_global_concurrency_limit_by_name("okr-sync-sql")
                deployments = [await client.read_deployment_by_name(name) for name in runs]  # parameters, job variables
                return runs, limit, deployments

        runs, limit, deployments = asyncio.run(trigger())
        assert limit.limit == 1
        finished = wait_for_runs(env, list(runs.values()))
        for worker in workers:
            wait_for_children(worker)
    finally:
        for worker in workers:
            stop(worker)

    a, b = finished[runs["sync-okrs/plant-a"]], finished[runs["sync-okrs/plant-b"]]
    checkin, review = finished[runs["checkin-okrs/plant-a"]], finished[runs["review-okrs/plant-a"]]
    logs_of = {}

    def complete(logs: dict) -> bool:  # the last lines each sync run logs
        return (any(log.message.startswith("synced 8 KRs") for log in logs.get(a.id, ()))
                and any(log.message.startswith("sources failed: quality.") for log in logs.get(b.id, ())))

    async def details():
        async with PrefectClient(api=env["PREFECT_API_URL"]) as client:
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[b.id])))
            deadline = time.monotonic() + 60  # logs are sent in batches, the last one as a run's process exits
            while True:
                for run in (a, b, checkin, review):
                    logs_of[run.id] = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
                if complete(logs_of) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            artifacts = await client.read_artifacts()
            blocks = await client.read_block_documents()
            return tasks, artifacts, blocks

    tasks, artifacts, blocks = asyncio.run(details())
    assert a.state.type.value == "COMPLETED", (a.state.message, (tmp_path / "worker1.log").read_text()[-3000:])
    assert a.state.message == "8 KRs synced"
    assert b.state.type.value == "FAILED" and "sources failed: quality" in b.state.message
    task_states = {task.name.rsplit("-", 1)[0]: task.state.type.value for task in tasks}
    assert task_states == {"fetch-mes": "COMPLETED", "fetch-quality": "FAILED"}
    assert {a.work_queue_name, b.work_queue_name} == {"default"}

    # the weekly check-in wrote this week's sheet; the review waits for the period to end
    from openpyxl import load_workbook

    week = "Check-in {}-W{:02d}".format(*date.today().isocalendar()[:2])
    assert checkin.state.type.value == "COMPLETED", checkin.state.message
    assert week in load_workbook(tmp_path / "out" / "plant-a-checkins.xlsx").sheetnames
    assert review.state.type.value == "COMPLETED" and "review from 2027-01-01" in review.state.message

    # outputs of both teams, and both series in the one shared history database
    assert (tmp_path / "out" / "plant-a.xlsx").exists() and (tmp_path / "out" / "plant-b.xlsx").exists()
    engine = sa.create_engine(history_db.admin)
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.text("SELECT workspace, COUNT(*) FROM okr_observations GROUP BY workspace")).all())
    engine.dispose()
    assert counts == {"plant-a": 8, "plant-b": 5}  # plant-b's 3 file KRs failed and recorded nothing

    # the secret reached the worker (history was written) but nothing shows it
    seen = [str(run.parameters) + str(run.job_variables) + str(run.state.message) for run in (a, b, checkin, review)]
    seen += [str(d.parameters) + str(d.job_variables) for d in deployments]
    seen += [log.message for run_logs in logs_of.values() for log in run_logs]
    seen += [str(artifact.data) for artifact in artifacts]
    worker_logs = "\n".join((tmp_path / f"worker{i}.log").read_text()[-2000:] for i in (1, 2))
    assert any("synced 8 KRs" in text for text in seen), worker_logs  # a lost log batch says why in a worker's log
    assert any(log.message == "using global concurrency limits: okr-sync-sql" for log in logs_of[a.id])  # --limit sql=1 in force
    assert not any(canary in text for text in seen)
    leaked = [line for i in (1, 2) for line in (tmp_path / f"worker{i}.log").read_text().splitlines() if canary in line]
    assert not leaked, leaked[:5]
    # a Failed run says why in one line; the only traceback is Prefect's engine reporting the Failed state it was
    # given (FailedRun, raised and logged inside prefect/flow_engine.py for every Failed deployment run), with no
    # frame of okr-sync's code in it
    ours = [log.message for log in logs_of[b.id] if log.level >= 40 and "Traceback" not in log.message]
    assert any(line.startswith("sources failed: quality.") and "\n" not in line for line in ours), ours
    tracebacks = [log.message for log in logs_of[b.id] if "Traceback" in log.message]
    ours_code = [f"{ROOT}/{package}/" for package in ("flows", "connectors", "mapping")]  # a venv may live in the checkout
    assert all(not any(path in tb for path in ours_code) and "FailedRun: sources failed: quality." in tb for tb in tracebacks), tracebacks

    # a schedule removed from the config is removed from the server by the next deploy
    plant_b = teams / "plant-b.yaml"
    plant_b.write_text(plant_b.read_text().replace("schedule: {sync: '30 5 * * *', checkin: null}", "schedule: {sync: null, checkin: null}"))
    cli([str(BIN / "okr-sync"), "deploy", str(plant_b), "--pool", "okr-sync"], env, tmp_path)

    async def schedules():
        async with PrefectClient(api=env["PREFECT_API_URL"]) as client:
            result = {}
            for name in ("sync-okrs/plant-a", "sync-okrs/plant-b", "review-okrs/plant-b"):
                deployment = await client.read_deployment_by_name(name)
                result[name] = [(s.schedule.cron, s.schedule.timezone) for s in await client.read_deployment_schedules(deployment.id)]
            return result

    assert asyncio.run(schedules()) == {"sync-okrs/plant-a": [("0 6 * * 1-5", "Europe/Berlin")], "sync-okrs/plant-b": [],
                                        "review-okrs/plant-b": [("0 7 * * *", "America/Chicago")]}
