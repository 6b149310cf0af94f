"""Benchmark: requests sent and wall time of a Jira sync, 200 KRs over 50 distinct JQL queries.

A fake Jira runs on 127.0.0.1 (http.server in a thread) and answers every request after 100 ms.
The 200 KRs are four kinds of metric over the same 50 JQL texts, so dedupe happens at both levels:
- 50 plain counts;
- 50 counts spelled with a template param that renders to the same JQL (a different metric spec,
  the same request: deduped by the connector);
- 50 ratios whose numerator and denominator are two of the same 50 JQL texts (deduped by the connector);
- 50 counts identical to the first 50 (deduped by the planner).
Expected: requests = 50 distinct counts + serverInfo (+ the field list on Data Center), and wall
time close to 50 x 100 ms / concurrency.

    /work/venv/bin/python benchmarks/jira_requests.py
"""
from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.pipeline import run_sync  # noqa: E402
from mapping.loader import load_config  # noqa: E402

LATENCY = 0.100
DISTINCT = 50
KRS = 200
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
ENV = {"JIRA_EMAIL": "bench@example.com", "JIRA_API_TOKEN": "bench-token", "JIRA_PAT": "bench-pat"}


class FakeJira(BaseHTTPRequestHandler):
    """Cloud or Data Center (class attribute `cloud`), 100 ms per answer; counts every request by path."""

    cloud = True
    seen: Counter = Counter()
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body writes
    wbufsize = 1 << 16  # headers and body leave in one write

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, body) -> None:
        time.sleep(LATENCY)
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _count(self, path: str) -> None:
        with self.lock:
            self.seen[path.split("?")[0].removeprefix("/rest/api/2")] += 1

    def do_GET(self) -> None:
        self._count(self.path)
        if self.path.startswith("/rest/api/2/serverInfo"):
            self._answer({"versionNumbers": [1001, 0, 0] if self.cloud else [10, 3, 13],
                          "deploymentType": "Cloud" if self.cloud else "Server"})
        elif self.path.startswith("/rest/api/2/field"):
            self._answer([{"id": "issuekey", "name": "Key", "clauseNames": ["issuekey", "key"]}])
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        self._count(self.path)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        n = 10 + len(body.get("jql", "")) % 7
        if self.path.endswith("/search/approximate-count"):
            self._answer({"count": n})
        elif self.path.endswith("/search"):
            self._answer({"startAt": 0, "maxResults": 1, "total": n, "issues": [{"id": "1", "key": "P-1"}]})
        else:
            self.send_error(404)


def config_text(url: str, auth: str, concurrency: int) -> str:
    jql = [f"project = P{j} AND priority = 3 AND created >= {{start}}" for j in range(DISTINCT)]
    spelled = [f"project = P{j} AND priority = {{prio}} AND created >= {{start}}" for j in range(DISTINCT)]
    krs = []
    for i in range(KRS):
        j, variant = i % DISTINCT, i // DISTINCT
        if variant == 1:
            metric = {"source": "jira", "jql": spelled[j], "params": {"prio": 3}}
        elif variant == 2:
            metric = {"source": "jira", "measure": "ratio", "numerator": jql[j], "denominator": jql[(j + 1) % DISTINCT]}
        else:
            metric = {"source": "jira", "measure": "count", "jql": jql[j]}
        krs.append({"id": f"kr{i}", "title": f"KR {i}", "type": "at_least", "target": 1, "metric": metric})
    config = {"period": "2026-Q4", "history": "sqlite:///history.db",
              "sources": {"jira": {"kind": "jira", "url": url, "concurrency": concurrency, **json.loads(auth)}},
              "objectives": [{"id": "o", "title": "Bench", "key_results": krs}]}
    return json.dumps(config)  # JSON is YAML


def run(cloud: bool, concurrency: int, port: int) -> tuple[int, Counter, float, int, int]:
    FakeJira.cloud = cloud
    FakeJira.seen = Counter()
    auth = '{"email_env": "JIRA_EMAIL", "token_env": "JIRA_API_TOKEN"}' if cloud else '{"pat_env": "JIRA_PAT"}'
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "okrs.yaml"
        path.write_text(config_text(f"http://127.0.0.1:{port}", auth, concurrency))
        config = load_config(path, env=ENV)
        started = time.perf_counter()
        outcome = run_sync(config, NOW, write=False, env=ENV)
        elapsed = time.perf_counter() - started
    assert outcome.ok, outcome.failure_message()
    return sum(FakeJira.seen.values()), Counter(FakeJira.seen), elapsed, outcome.plan.query_count, len(outcome.results)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJira)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    print(f"fake Jira on 127.0.0.1:{port}, {LATENCY * 1000:.0f} ms per request; {KRS} KRs over {DISTINCT} distinct JQL")
    print(f"{'deployment':<11} {'concurrency':>11} {'KR queries':>10} {'requests':>8}  {'by endpoint':<52} {'wall s':>7} {'ideal s':>7}")
    try:
        for cloud in (True, False):
            for concurrency in (4, 1, 8):
                total, by_path, elapsed, planned, krs = run(cloud, concurrency, port)
                fixed = 1 if cloud else 2
                ideal = fixed * LATENCY + -(-DISTINCT // concurrency) * LATENCY
                detail = ", ".join(f"{p} {n}" for p, n in sorted(by_path.items()))
                print(f"{'Cloud' if cloud else 'DataCenter':<11} {concurrency:>11} {planned:>10} {total:>8}  {detail:<52} "
                      f"{elapsed:>7.2f} {ideal:>7.2f}")
                assert krs == KRS and total == DISTINCT + fixed, (total, by_path)
    finally:
        server.shutdown()
    print("requests = distinct JQL (50) + fixed calls (Cloud: serverInfo; Data Center: serverInfo + field list);"
          " ideal = (fixed + ceil(50 / concurrency)) x 100 ms")


if __name__ == "__main__":
    main()
