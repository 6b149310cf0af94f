"""Shared fixtures: a fixed clock, config files written on the fly, the Prefect test harness and real database servers."""
from __future__ import annotations

import os
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)  # 2026-Q4 is 45.5/92 days along
REQUIRE_SERVICES = os.environ.get("OKR_SYNC_REQUIRE_SERVICES") == "1"
FUZZ_REPORT: list[str] = []  # lines the SQL attack fuzz tests add, printed at the end of the run


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Show what the SQL fuzz ran against, so a green run proves it ran on the real servers."""
    if FUZZ_REPORT:
        terminalreporter.section("read-only SQL fuzz")
        for line in FUZZ_REPORT:
            terminalreporter.write_line(line)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a YAML config (dedented) into a temp folder and return its path."""
    def write(text: str, name: str = "okrs.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path
    return write


@pytest.fixture
def sheets_fake(monkeypatch):
    """A fake Google Sheets API at the HTTP boundary (add spreadsheets to it), with no signed-in client left over."""
    import responses

    import connectors.sheets_client as sc
    from fakes.sheets_fake import SheetsFake
    monkeypatch.setattr(sc, "_CREDENTIALS", {})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield SheetsFake(mock)


@pytest.fixture
def sheets_env() -> dict[str, str]:
    """The environment of a config whose Google credentials are `credentials_env: SA_KEY` (a service account key)."""
    import json

    from fakes.sheets_fake import service_account_info
    return {"SA_KEY": json.dumps(service_account_info())}


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness
    with prefect_test_harness(server_startup_timeout=120):
        yield


def require_server(name: str, probe: Callable[[], None]) -> None:
    """Skip (or, with OKR_SYNC_REQUIRE_SERVICES=1, fail) when a database server cannot be reached."""
    try:
        probe()
    except Exception as exc:  # noqa: BLE001
        reason = f"{name} not reachable on 127.0.0.1 ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason}, but OKR_SYNC_REQUIRE_SERVICES=1 requires it")
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def fresh_google_rate_limits():
    """Each test starts with a full Sheets quota: the process-wide per-user limiter would otherwise make later tests wait."""
    from connectors import sheets_client
    sheets_client._LIMITERS.clear()
    yield
    sheets_client._LIMITERS.clear()
