"""The okr-sync command line: validate, schema, run, preview, backfill, history, explain, example."""
from __future__ import annotations

import json
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
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


def _parse_day(value: Optional[str], option: str = "--as-of") -> Optional[date]:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} {value!r} is not an ISO date like 2026-10-15") from None


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


def _run(config_path: Path, as_of: Optional[str], write: bool) -> None:
    from flows.pipeline import run_sync
    day = _parse_day(as_of)
    try:
        config = _load(config_path)
        if write and os.environ.get("PREFECT_API_URL"):
            _run_as_flow(config_path, day)
            return
        with err.status("syncing...") as status:
            outcome = run_sync(config, as_of=day, write=write, progress=lambda step: status.update(step + "..."))
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


def _run_as_flow(config_path: Path, as_of: Optional[date]) -> None:
    from flows.sync import sync_okrs
    state = sync_okrs(str(config_path), as_of=as_of, return_state=True)
    out.print(f"flow run {state.state_details.flow_run_id}: {state.name} - {state.message or ''}", highlight=False, soft_wrap=True)
    if not state.is_completed():
        raise typer.Exit(EXIT_STALE)


AS_OF_HELP = "compute every KR as it stood at the end of this past day (ISO date); sources that cannot say are reported per KR"


@app.command()
def run(config: Path = typer.Argument(..., help="okrs.yaml to sync"),
        as_of: Optional[str] = typer.Option(None, "--as-of", help=AS_OF_HELP)) -> None:
    """Sync once: fetch every source, score, record history and write the outputs."""
    _run(config, as_of, write=True)


@app.command()
def preview(config: Path = typer.Argument(..., help="okrs.yaml to compute"),
            as_of: Optional[str] = typer.Option(None, "--as-of", help=AS_OF_HELP)) -> None:
    """Compute and show everything a sync would, without recording or writing anything."""
    _run(config, as_of, write=False)


@app.command()
def backfill(config: Path = typer.Argument(..., help="okrs.yaml whose history to fill"),
             first: str = typer.Option(..., "--from", help="first day to evaluate (ISO date)"),
             last: str = typer.Option(..., "--to", help="last day to evaluate (ISO date; days from today on are left to `run`)"),
             every: str = typer.Option("day", "--every", help="day or week (every 7 days from --from)"),
             overwrite: bool = typer.Option(False, "--overwrite", help="evaluate days already recorded again")) -> None:
    """Fill the history of past days, one as-of evaluation per day; resumable, outputs untouched."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from flows.backfill import run_backfill
    start, end = _parse_day(first, "--from"), _parse_day(last, "--to")
    if every not in ("day", "week"):
        raise typer.BadParameter(f"--every {every!r}: use day or week")
    try:
        loaded = _load(config)
        with Progress(TextColumn("backfill {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task("", total=None)
            outcome = run_backfill(loaded, start, end, every=every, overwrite=overwrite,  # type: ignore[arg-type]
                                   progress=lambda day, done, total: bar.update(task, description=str(day), completed=done, total=total))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    out.print(f"backfill: {len(outcome.evaluated)} day(s) evaluated, {len(outcome.skipped)} already recorded and skipped"
              + (" (use --overwrite to evaluate them again)" if outcome.skipped else "")
              + "; outputs unchanged: the next `okr-sync run` publishes the trend", highlight=False, soft_wrap=True)
    if not outcome.ok:
        for kr_id, days in sorted(outcome.stale.items()):
            err.print(f"warning: {kr_id}: not evaluated on {days} day(s): {outcome.errors[kr_id]}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_STALE)


@app.command()
def history(config: Path = typer.Argument(..., help="okrs.yaml whose history to show"),
            krs: Optional[list[str]] = typer.Argument(None, help="KR ids (default: all)"),
            period: Optional[str] = typer.Option(None, "--period", help="another period of this config's workspace, e.g. 2026-Q3"),
            fmt: str = typer.Option("table", "--format", help="table, csv or json")) -> None:
    """Show the recorded series of this config's KRs (with a sparkline per KR in the table)."""
    from flows.history_view import by_kr, format_history, history_rows, sparkline
    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter(f"--format {fmt!r}: use table, csv or json")
    try:
        loaded = _load(config, check_env=False)
        rows = history_rows(loaded, list(krs or []), period)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if fmt != "table":
        sys.stdout.write(format_history(rows, fmt))
        return
    shown = period or loaded.period_obj().name
    if not rows:
        out.print(f"no history recorded for workspace {loaded.workspace_id!r} in period {shown}", markup=False, highlight=False)
        return
    table = RichTable(title=f"History of workspace {loaded.workspace_id} - period {shown}", title_justify="left")
    for name, justify in (("KR", "left"), ("Days", "right"), ("First", "left"), ("Last", "left"), ("Latest", "right"), ("Trend", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    grouped = by_kr(rows)
    room = max(8, min(60, out.width - 52 - max(len(k) for k in grouped)))  # the trend shows as many recent days as fit
    for kr_id, series in grouped.items():
        table.add_row(escape(kr_id), str(len(series)), series[0]["day"], series[-1]["day"], _fmt(series[-1]["value"]), sparkline(series[-room:]))
    out.print(table)


@app.command()
def explain(config: Path = typer.Argument(..., help="okrs.yaml the KR is in"),
            kr: str = typer.Argument(..., help="the KR id"),
            as_of: Optional[str] = typer.Option(None, "--as-of", help="explain the KR as it stood at the end of this past day")) -> None:
    """Where a KR's number comes from, step by step (evaluates that KR's sources now; records nothing)."""
    from flows.history_view import explain as explain_kr
    day = _parse_day(as_of)
    try:
        loaded = _load(config)
        lines = explain_kr(loaded, kr, as_of=day)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


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
