"""The okr-sync command line: validate, schema, run, preview, example."""
from __future__ import annotations

import json
import logging
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Optional
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table as RichTable

from mapping.errors import OkrSyncError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Keep OKRs current from the systems where the numbers live.")
out = Console()
err = Console(stderr=True)
STATE = {"debug": False}

EXIT_OK, EXIT_STALE, EXIT_CONFIG, EXIT_IO = 0, 1, 2, 3
STATUS_STYLE = {"done": "green", "on_track": "cyan", "at_risk": "yellow", "off_track": "red", "no_data": "dim"}


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="show tracebacks and debug logs")) -> None:
    STATE["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _fail(exc: BaseException) -> None:
    """Report an error as one line (or one line per config problem) and exit with its code."""
    if STATE["debug"]:
        raise exc
    if isinstance(exc, OkrSyncError):
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_IO)


def _parse_now(value: Optional[str], timezone: str) -> Optional[datetime]:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or datetime like 2026-11-28 or 2026-11-28T09:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def _fmt(value: Optional[float], percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.0%}" if percent else f"{value:,.4g}"


def _show(outcome) -> None:  # type: ignore[no-untyped-def]
    """The result table: one row per KR in alignment order; stale KRs are marked and explained below."""
    table = RichTable(title=f"OKRs {outcome.period.name} - {outcome.period.elapsed(outcome.now):.0%} of the period gone",
                      title_justify="left")
    table.add_column("KR", no_wrap=True)
    for name in ("Current", "Target", "Progress", "Score"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    for entry in outcome.objectives:
        for kr in entry.objective.key_results:
            r = outcome.results[kr.id]
            mark = " [red](stale)[/]" if r.stale else ""
            table.add_row(kr.id, _fmt(r.value), _fmt(kr.target), _fmt(r.progress, True), _fmt(r.score),
                          f"[{STATUS_STYLE[r.status]}]{r.status}[/]{mark}")
    out.print(table)


def _load(path: Path, check_env: bool = True):  # type: ignore[no-untyped-def]
    from mapping.loader import load_config
    return load_config(path, check_env=check_env)


@app.command()
def validate(config: Path = typer.Argument(..., help="okrs.yaml to check"),
             env_check: bool = typer.Option(True, "--env-check/--no-env-check", help="also check that the env vars named in the config are set"),
             connect: bool = typer.Option(False, "--connect", help="also open every source once, run its queries and report "
                                          "what each SQL source's database role may do (nothing is recorded or written)")) -> None:
    """Check a config: shape, references, numbers and env vars; every problem is listed with its line."""
    try:
        loaded = _load(config, env_check)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if loaded.okrs is not None:
        okrs = (f"objectives and KRs from register tab {loaded.okrs.worksheet!r} (read at sync time), "
                f"{len(loaded.okrs.metrics)} metric mappings")
    else:
        okrs = f"{len(loaded.objectives)} objectives, {len(loaded.key_results())} key results"
    out.print(f"{config}: OK - {okrs}, {len(loaded.sources)} sources, {len(loaded.outputs)} outputs, "
              f"period {loaded.period_obj().name}", highlight=False, soft_wrap=True)
    if connect:
        _connect(config, loaded)


def _connect(path: Path, loaded) -> None:  # type: ignore[no-untyped-def]
    """validate --connect: one line per source; exit 1 when a source failed or its role may write."""
    from flows.connect_check import check_sources
    try:
        with err.status("connecting to every source..."):
            checks = check_sources(loaded)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for check in checks:
        (out if check.ok else err).print(str(check), markup=False, highlight=False, soft_wrap=True)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        err.print(f"{path}: {len(failed)} of {len(checks)} sources failed the connection check: {', '.join(failed)}",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_STALE)


@app.command()
def schema() -> None:
    """Print the JSON Schema of okrs.yaml (for editor completion and CI checks)."""
    from mapping.schema import config_schema
    out.print_json(json.dumps(config_schema()))


def _run(config_path: Path, now: Optional[str], write: bool) -> None:
    from flows.pipeline import run_sync
    try:
        config = _load(config_path)
        moment = _parse_now(now, config.timezone)
        if write and os.environ.get("PREFECT_API_URL"):
            _run_as_flow(config_path, moment)
            return
        with err.status("syncing...") as status:
            outcome = run_sync(config, moment, write=write, progress=lambda step: status.update(step + "..."))
    except typer.BadParameter:
        raise
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    _show(outcome)
    for path in outcome.written:
        out.print(f"wrote {path}", highlight=False, soft_wrap=True)
    if not write:
        out.print("preview: nothing was recorded or written")
    if not outcome.ok:
        err.print(f"[yellow]warning:[/yellow] {outcome.failure_message()}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_STALE)


def _run_as_flow(config_path: Path, now: Optional[datetime]) -> None:
    from flows.sync import sync_okrs
    state = sync_okrs(str(config_path), now=now, return_state=True)
    out.print(f"flow run {state.state_details.flow_run_id}: {state.name} - {state.message or ''}", highlight=False, soft_wrap=True)
    if not state.is_completed():
        raise typer.Exit(EXIT_STALE)


@app.command()
def run(config: Path = typer.Argument(..., help="okrs.yaml to sync"),
        now: Optional[str] = typer.Option(None, help="pretend it is this date/time (ISO), e.g. to re-score a past day")) -> None:
    """Sync once: fetch every source, score, record history and write the outputs."""
    _run(config, now, write=True)


@app.command()
def preview(config: Path = typer.Argument(..., help="okrs.yaml to compute"),
            now: Optional[str] = typer.Option(None, help="pretend it is this date/time (ISO)")) -> None:
    """Compute and show everything a sync would, without recording or writing anything."""
    _run(config, now, write=False)


@app.command()
def example(name: str = typer.Argument("factory", help="which example's data to create"),
            directory: Optional[Path] = typer.Option(None, "--dir", help="where to create it (default: examples/NAME/data)"),
            until: Optional[str] = typer.Option(None, help="last day of generated data (default: today)"),
            postgres: Optional[str] = typer.Option(None, "--postgres", help="factory only: also load the MES tables into this database "
                                                   "(SQLAlchemy URL, e.g. postgresql+psycopg://user@host/mes; MySQL/MariaDB URLs work too)")) -> None:
    """Create the sample data an example's okrs.yaml reads (a MES SQLite database and an NPS spreadsheet)."""
    from flows.example_data import EXAMPLES
    if name not in EXAMPLES:
        err.print(f"[red]error:[/red] unknown example {name!r}; choose one of {', '.join(EXAMPLES)}")
        raise typer.Exit(EXIT_CONFIG)
    try:
        last = date.fromisoformat(until) if until else date.today()
    except ValueError:
        raise typer.BadParameter(f"{until!r} is not a date like 2026-11-28") from None
    if postgres and name != "factory":
        raise typer.BadParameter("--postgres applies to the factory example only")
    target = directory or Path("examples") / name / "data"
    try:
        for path in EXAMPLES[name](target, last):
            out.print(f"created {path}", highlight=False, soft_wrap=True)
        if postgres:
            from flows.example_data import load_mes_into_database
            shown = load_mes_into_database(target / "mes.db", postgres)
            out.print(f"loaded lines, production, deliveries into {shown}", highlight=False, soft_wrap=True)
    except typer.BadParameter:
        raise
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
