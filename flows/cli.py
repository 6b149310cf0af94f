"""The okr-sync command line: validate, lint, schema, run, preview, backfill, history, explain, example, init."""
from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Iterator, Optional

# pydantic scans every installed package's entry points for plugins on its first validation (~60 ms of
# each start); okr-sync uses none. A user who wants a pydantic plugin sets the variable to their own list.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
# A temporary Prefect server (alerts loading notification blocks without PREFECT_API_URL) would try to send
# telemetry and print an ERROR line when the machine has no internet; a sync tool sends nothing unasked.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import typer  # noqa: E402

from mapping.errors import OkrSyncError  # noqa: E402

EXIT_CODES = """Exit codes:

\b
  0  everything synced
  1  some source failed: its KRs are stale (outputs were still written);
     validate --connect: a source failed or its database role may write;
     backfill: some KR could not be evaluated on some day
  2  invalid config or command line (nothing fetched, recorded or written);
     validate --strict, lint --strict: a lint finding;
     deploy: PREFECT_API_URL not set
  3  history damaged or not writable, an output or the register could not
     be written or read, a file operation refused, the Prefect API not
     reachable, or an internal error (rerun with --debug)"""


def _plain_help() -> None:
    """Typer 0.29 writes required arguments as {FILE} and every argument's type as <path> in help texts, which
    people read as glitches: show FILE and KR as click always did (no-op on a typer without these methods)."""
    from typer import core
    argument = getattr(core, "TyperArgument", None)
    if argument is None or not hasattr(argument, "_usage_display_name"):
        return

    def usage_name(self) -> str:  # type: ignore[no-untyped-def]
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")
    argument._usage_display_name = usage_name
    argument.display_type_rich = lambda self, ctx: None


_plain_help()
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Keep OKRs current from the systems where the numbers live.", epilog=EXIT_CODES)
class _LazyConsole:
    """A rich Console created on first use: `okr-sync --help` and `--version` never import rich."""

    def __init__(self, stderr: bool):
        self._stderr = stderr
        self._console: Any = None

    @property
    def real(self) -> Any:
        """The rich Console itself (for Live and Progress, which need the real object)."""
        if self._console is None:
            from rich.console import Console
            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def print(self, *objects: Any, **options: Any) -> None:
        """Console.print; plain text (markup=False) has its control codes shown, never sent (see `plain`)."""
        if options.get("markup") is False:
            objects = tuple(plain(o) if isinstance(o, str) else o for o in objects)
        self.real.print(*objects, **options)


def plain(text: str) -> str:
    """Text to print as it is, its control codes (ESC, bell, CR...) shown as \\x1b: a file name, a config value or a
    source's answer cannot clear the terminal, rewrite a CI log line or plant a link."""
    from mapping.text import show_controls
    return show_controls(text)


def escape(text: str) -> str:
    """Text from a source or a config, printed as it is: never as rich markup, control codes shown as \\x1b."""
    from rich.markup import escape as rich_escape
    return rich_escape(plain(text))


out = _LazyConsole(stderr=False)
err = _LazyConsole(stderr=True)
STATE = {"debug": False}

EXIT_OK, EXIT_STALE, EXIT_CONFIG, EXIT_IO = 0, 1, 2, 3


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version
        try:
            shown = version("okr-sync")
        except PackageNotFoundError:
            shown = "unknown (not installed)"
        sys.stdout.write(f"okr-sync {shown}\n")
        raise typer.Exit()


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="show tracebacks and debug logs"),
             version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version and exit")) -> None:
    STATE["debug"] = debug
    import logging
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    else:  # "warning: ...", like every other line okr-sync prints
        logging.addLevelName(logging.WARNING, "warning")
        logging.addLevelName(logging.ERROR, "error")
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


def _fail(exc: BaseException) -> None:
    """Report an error as one line (or one line per config problem) and exit with its code."""
    if STATE["debug"]:
        raise exc
    if isinstance(exc, OkrSyncError):
        err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    said = _environment_problem(exc)
    if said:
        err.print(f"[red]error:[/red] {escape(said)}", markup=True, highlight=False, soft_wrap=True)
        in_the_way = isinstance(exc, (FileExistsError, NotADirectoryError))  # a path given wrong: like a bad argument
        raise typer.Exit(EXIT_CONFIG if in_the_way else EXIT_IO)
    err.print(f"[red]internal error:[/red] {type(exc).__name__}: {escape(str(exc))} (rerun with --debug for the traceback)",
              markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_IO)


def _environment_problem(exc: BaseException) -> str:
    """One line for what the machine refused (a file operation, an unreachable Prefect API); "" for a bug."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename:  # mkdir where a file is
        return f"{exc.filename}: a file is in the way where a folder is needed; move it or choose another path"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where} ({type(exc).__name__}); check the path and its permissions"
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed to reach API"):
        return (f"cannot reach the Prefect API at PREFECT_API_URL={os.environ.get('PREFECT_API_URL', '')}: start the server "
                "(prefect server start) or fix the URL; unset PREFECT_API_URL to run without Prefect")
    return ""


def _parse_day(value: Optional[str], option: str = "--as-of") -> Optional[date]:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} {value!r} is not an ISO date like 2026-10-15") from None


def _load(path: Path, check_env: bool = True):  # type: ignore[no-untyped-def]
    from mapping.loader import load_config
    return load_config(path, check_env=check_env)


@app.command(short_help='Check a config (and, with --connect, its sources).')
def validate(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml to check"),
             env_check: bool = typer.Option(True, "--env-check/--no-env-check", help="also check that the env vars named in the config are set"),
             connect: bool = typer.Option(False, "--connect", help="also open every source once, run its queries and report "
                                          "what each SQL source's database role may do (nothing is recorded or written)"),
             strict: bool = typer.Option(False, "--strict", help="treat lint findings as errors (exit code 2), e.g. in CI")) -> None:
    """Check a config: shape, references, numbers and env vars; every problem is listed with its line. Lint findings are warnings."""
    try:
        loaded = _load(config, env_check)
        findings = _lint_findings(loaded)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if strict and findings:
        _report_findings(findings, config, strict=True)
    if loaded.okrs is not None:
        okrs = (f"objectives and KRs from register tab {loaded.okrs.worksheet!r} (read at sync time), "
                f"{len(loaded.okrs.metrics)} metric mappings")
    else:
        okrs = f"{len(loaded.objectives)} objectives, {len(loaded.key_results())} key results"
    sys.stdout.write(plain(f"{config}: OK - {okrs}, {len(loaded.sources)} sources, {len(loaded.outputs)} outputs, "
                           f"period {loaded.period_obj().name}\n"))  # plain text: no need to load rich for one line
    for finding in findings:
        sys.stderr.write(plain(f"warning: {finding}\n"))
    if connect:
        _connect(config, loaded)


def _lint_findings(loaded, history: bool = False, results: Any = None) -> list:  # type: ignore[no-untyped-def]
    """The lint findings of a loaded config; with `history`, the first recorded value per KR feeds the sandbagging rule."""
    from mapping.lint import lint_file
    return lint_file(loaded, first_values=_first_values(loaded) if history else None, results=results)


def _first_values(loaded) -> dict:  # type: ignore[no-untyped-def]
    """The first recorded (day, value) per KR in the config's period, read-only from its history store (none yet: {})."""
    from flows.pipeline import context_of, open_history
    store = open_history(loaded, context_of(loaded), read_only=True)
    if store is None:
        return {}
    try:
        first: dict = {}
        for row in store.observed([kr.id for _, kr in loaded.key_results()]):
            first.setdefault(row.kr_id, (row.day, row.value))
        return first
    finally:
        store.close()


def _report_findings(findings: list, path: Path, strict: bool) -> None:
    """Print lint findings (errors with --strict: exit code 2, like an invalid config)."""
    label = "error" if strict else "warning"
    for finding in findings:
        sys.stderr.write(plain(f"{label}: {finding}\n"))
    if strict:
        sys.stderr.write(plain(f"{path}: {len(findings)} lint finding{'s' if len(findings) != 1 else ''} (--strict makes them errors; "
                               "fix them, or switch a rule off with lint: {disable: [rule-id]})\n"))
        raise typer.Exit(EXIT_CONFIG)


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


@app.command(short_help='Print the JSON Schema of okrs.yaml.')
def schema() -> None:
    """Print the JSON Schema of okrs.yaml (for editor completion and CI checks)."""
    from mapping.schema import config_schema
    out.print_json(json.dumps(config_schema()))


def _run(config_path: Path, as_of: Optional[str], write: bool, show_all: bool = False, fmt: str = "table") -> None:
    from flows.pipeline import run_sync
    from flows.run_view import SourceProgress
    day = _parse_day(as_of)
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"--format {fmt!r}: use table or json")
    try:
        config = _load(config_path)
        if write and os.environ.get("PREFECT_API_URL"):
            outcome = _run_as_flow(config_path, day)
        else:
            outcome = None
        progress = SourceProgress(err.real)
        if outcome is not None:
            pass
        elif progress.live:
            from rich.live import Live  # a terminal only: the live view is not drawn in logs and pipes
            with Live(progress, console=err.real, refresh_per_second=4, transient=True), _logs_above_live():
                outcome = run_sync(config, as_of=day, write=write, progress=progress.on_step, events=progress.on_source)
        else:
            outcome = run_sync(config, as_of=day, write=write, progress=progress.on_step, events=progress.on_source)
    except (typer.BadParameter, typer.Exit):
        raise
    except Exception as exc:  # noqa: BLE001
        synced = getattr(exc, "outcome", None)  # an output failed after the sync was recorded: show what it computed
        if synced is not None and not STATE["debug"]:
            _show_outcome(synced, write, show_all, fmt, getattr(exc, "errors", [str(exc)]))
        _fail(exc)
    _show_outcome(outcome, write, show_all, fmt)
    if not outcome.ok:
        err.print(f"[yellow]warning:[/yellow] {escape(outcome.failure_message())}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_STALE)


def _show_outcome(outcome: Any, write: bool, show_all: bool, fmt: str, output_errors: Optional[list[str]] = None) -> None:
    """The result on stdout: the table (or summary) and the outputs written, or JSON for scripts."""
    from flows.run_view import result_rows, show_result
    errors = output_errors or []
    if fmt == "json":
        sys.stdout.write(json.dumps({"period": outcome.period.name, "now": outcome.now.isoformat(), "ok": outcome.ok and not errors,
                                     "written": [str(p) for p in outcome.written], "output_errors": errors,
                                     "key_results": result_rows(outcome)}, indent=2) + "\n")
        return
    show_result(out, outcome, show_all)
    for path in outcome.written:
        out.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
    if not write:
        out.print("preview: nothing was recorded or written")


@contextmanager
def _logs_above_live() -> Iterator[None]:
    """Log lines (a connector's own retry notice) printed above the live progress view, not into it: rich's Live
    has replaced sys.stderr with a proxy that does that, but logging's handlers still hold the real stream."""
    import logging
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    streams = [h.stream for h in handlers]
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler, stream in zip(handlers, streams):
            handler.setStream(stream)


def _run_as_flow(config_path: Path, as_of: Optional[date]) -> Any:
    """The sync as a Prefect flow run (PREFECT_API_URL is set): its outcome, shown and exited on like a direct run."""
    from flows.sync import OUTCOMES, sync_okrs
    state = sync_okrs(str(config_path), as_of=as_of, return_state=True)
    out.print(f"flow run {state.state_details.flow_run_id}: {state.name} - {state.message or ''}", markup=False, highlight=False, soft_wrap=True)
    outcome = OUTCOMES.pop(str(state.state_details.flow_run_id), None)
    if outcome is None:  # the flow ended before it synced (it says why in its message)
        raise typer.Exit(EXIT_STALE if state.is_completed() else EXIT_IO)
    return outcome


ALL_HELP = "show every KR (a config of more than 40 KRs shows a summary: counts per status, stale KRs, the 10 worst)"
FORMAT_HELP = "table (default) or json (every KR, for scripts)"
AS_OF_HELP = "compute every KR as it stood at the end of this past day (ISO date); sources that cannot say are reported per KR"


@app.command(short_help='Sync once: fetch, score, record history, write outputs.')
def run(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml to sync"),
        as_of: Optional[str] = typer.Option(None, "--as-of", metavar="DATE", help=AS_OF_HELP),
        show_all: bool = typer.Option(False, "--all", help=ALL_HELP),
        fmt: str = typer.Option("table", "--format", metavar="table|json", help=FORMAT_HELP)) -> None:
    """Sync once: fetch every source, score, record history and write the outputs."""
    _run(config, as_of, write=True, show_all=show_all, fmt=fmt)


@app.command(short_help='Compute and show a sync without writing anything.')
def preview(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml to compute"),
              as_of: Optional[str] = typer.Option(None, "--as-of", metavar="DATE", help=AS_OF_HELP),
              show_all: bool = typer.Option(False, "--all", help=ALL_HELP),
              fmt: str = typer.Option("table", "--format", metavar="table|json", help=FORMAT_HELP)) -> None:
    """Compute and show everything a sync would, without recording or writing anything."""
    _run(config, as_of, write=False, show_all=show_all, fmt=fmt)


@app.command(short_help='Fill the history of past days (as-of each day).')
def backfill(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml whose history to fill"),
             first: str = typer.Option(..., "--from", metavar="DATE", help="first day to evaluate (ISO date)"),
             last: str = typer.Option(..., "--to", metavar="DATE", help="last day to evaluate (ISO date; days from today on are left to `run`)"),
             every: str = typer.Option("day", "--every", metavar="day|week", help="day or week (every 7 days from --from)"),
             overwrite: bool = typer.Option(False, "--overwrite", help="evaluate days already recorded again")) -> None:
    """Fill the history of past days, one as-of evaluation per day; resumable, outputs untouched."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from flows.backfill import run_backfill
    start, end = _parse_day(first, "--from"), _parse_day(last, "--to")
    if every not in ("day", "week"):
        raise typer.BadParameter(f"--every {every!r}: use day or week")
    try:
        loaded = _load(config)
        if not err.real.is_terminal:  # a CI log or a pipe: no progress bar (it would only leave a blank line)
            outcome = run_backfill(loaded, start, end, every=every, overwrite=overwrite)  # type: ignore[arg-type]
        else:
            with Progress(TextColumn("backfill {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=err.real, transient=True) as bar:
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


@app.command(short_help="Show the recorded series of the config's KRs.")
def history(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml whose history to show"),
            krs: Optional[list[str]] = typer.Argument(None, metavar="KR", help="KR ids (default: all)"),
            period: Optional[str] = typer.Option(None, "--period", metavar="PERIOD", help="another period of this config's workspace, e.g. 2026-Q3"),
            fmt: str = typer.Option("table", "--format", metavar="table|csv|json", help="output format")) -> None:
    """Show the recorded series of this config's KRs (with a sparkline per KR in the table)."""
    from flows.history_view import by_kr, format_history, history_rows, sparkline
    from flows.run_view import format_number
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
    from rich.table import Table as RichTable
    table = RichTable(title=f"History of workspace {loaded.workspace_id} - period {shown}", title_justify="left")
    for name, justify in (("KR", "left"), ("Days", "right"), ("First", "left"), ("Last", "left"), ("Latest", "right"), ("Trend", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    grouped = by_kr(rows)
    room = max(8, min(60, out.width - 52 - max(len(k) for k in grouped)))  # the trend shows as many recent days as fit
    for kr_id, series in grouped.items():
        table.add_row(escape(kr_id), str(len(series)), series[0]["day"], series[-1]["day"], format_number(series[-1]["value"]), sparkline(series[-room:]))
    out.print(table)


@app.command(short_help="Show where a KR's number comes from, step by step.")
def explain(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml the KR is in"),
            kr: str = typer.Argument(..., metavar="KR", help="the KR id"),
            as_of: Optional[str] = typer.Option(None, "--as-of", metavar="DATE", help="explain the KR as it stood at the end of this past day")) -> None:
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


@app.command(short_help='Create the sample data of an example.')
def example(name: str = typer.Argument("factory", metavar="NAME", help="which example's data to create"),
            directory: Optional[Path] = typer.Option(None, "--dir", metavar="DIR", help="where to create it (default: examples/NAME/data)"),
            until: Optional[str] = typer.Option(None, "--until", metavar="DATE", help="last day of generated data (default: today)"),
            postgres: Optional[str] = typer.Option(None, "--postgres", metavar="URL", help="factory only: also load the MES tables into this database "
                                                   "(SQLAlchemy URL, e.g. postgresql+psycopg://user@host/mes; MySQL/MariaDB URLs work too)"),
            force: bool = typer.Option(False, "--force", help="overwrite existing sample files; with --postgres drop and recreate the tables")) -> None:
    """Create the sample data an example's okrs.yaml reads (a MES SQLite database and an NPS spreadsheet).

    Existing sample files and tables are never overwritten without --force; with --postgres, existing
    sample files are loaded as they are."""
    from flows.example_data import EXAMPLES
    if name not in EXAMPLES:
        err.print(f"[red]error:[/red] unknown example {escape(repr(name))}; choose one of {', '.join(EXAMPLES)}")
        raise typer.Exit(EXIT_CONFIG)
    try:
        last = date.fromisoformat(until) if until else date.today()
    except ValueError:
        raise typer.BadParameter(f"{until!r} is not a date like 2026-11-28") from None
    if postgres and name != "factory":
        raise typer.BadParameter("--postgres applies to the factory example only")
    target = directory or Path("examples") / name / "data"
    try:
        if postgres and not force and (target / "mes.db").exists():  # the quick start made it already: load that one
            out.print(f"using the existing {target / 'mes.db'}", markup=False, highlight=False, soft_wrap=True)
        else:
            for path in EXAMPLES[name](target, last, force=force):
                out.print(f"created {path}", markup=False, highlight=False, soft_wrap=True)
        if postgres:
            from flows.example_data import load_mes_into_database
            shown = load_mes_into_database(target / "mes.db", postgres, force=force)
            out.print(f"loaded lines, production, deliveries into {shown}", markup=False, highlight=False, soft_wrap=True)
    except typer.BadParameter:
        raise
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


@app.command("lint", short_help="Check a config against common OKR pitfalls.")
def lint_command(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml to check"),
                 strict: bool = typer.Option(False, "--strict", help="exit with code 2 when there is any finding (for CI)"),
                 history: bool = typer.Option(False, "--history", help="also read the history store (read-only) for the "
                                              "sandbagging rule: aspirational KRs already at target at the period's start"),
                 preview: bool = typer.Option(False, "--preview", help="also compute every KR now, like `preview` (fetches every "
                                              "source, writes nothing), for the confidence-mismatch rule")) -> None:
    """Check a config against common OKR pitfalls; each finding names its rule id, file:line and a fix.

    Findings are warnings (exit code 0) unless --strict. Switch rules off or change thresholds in the
    config: lint: {disable: [rule-id], max_krs_per_objective: 5}."""
    try:
        loaded = _load(config, check_env=preview)
        results = None
        if preview:
            from flows.pipeline import run_sync
            results = run_sync(loaded, write=False).results
        findings = _lint_findings(loaded, history=history, results=results)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if strict and findings:
        _report_findings(findings, config, strict=True)
    for finding in findings:
        sys.stdout.write(plain(f"{finding}\n"))
    count = len(findings)
    sys.stdout.write(plain(f"{config}: {count} lint finding{'s' if count != 1 else ''}\n" if count else f"{config}: no lint findings\n"))


@app.command("init", short_help="Write a starter okrs.yaml (a template with offline sample data).")
def init_command(directory: Path = typer.Argument(Path("."), metavar="DIR", help="folder to write okrs.yaml into (created if missing)"),
                 template: Optional[str] = typer.Option(None, "--template", metavar="NAME",
                                                        help="software, manufacturing, services, finance or startup (default: the smallest valid config)"),
                 force: bool = typer.Option(False, "--force", help="overwrite existing files")) -> None:
    """Write a commented okrs.yaml into DIR; with --template also its sample data, so `okr-sync run DIR/okrs.yaml` works offline."""
    from flows.init_project import init_project
    try:
        written = init_project(directory, template, force=force)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for path in written:
        sys.stdout.write(plain(f"created {path}\n"))
    target = directory / "okrs.yaml"
    sys.stdout.write(plain(f"next: edit {target} (its header says what to change), then okr-sync run {target}\n"))


def _config_files(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for the *.yaml / *.yml files in it (one config per team)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise typer.BadParameter(f"{path} holds no *.yaml config")
            files.extend(found)
        else:
            files.append(path)
    return files


@app.command("deploy", short_help="Create the Prefect deployments (sync, check-in, review) of one or more configs.")
def deploy_command(paths: list[Path] = typer.Argument(..., metavar="FILE|DIR", help="okrs.yaml files, or folders of them (one per team)"),
                   pool: str = typer.Option("okr-sync", "--pool", metavar="NAME", help="the process work pool the workers poll"),
                   limits: list[str] = typer.Option([], "--limit", metavar="KIND=N",
                                                    help="create or update the global concurrency limit of a source kind, e.g. jira=4 or sheets=10 (repeatable)"),
                   dry_run: bool = typer.Option(False, "--dry-run", help="show the deployments without creating them")) -> None:
    """One sync, check-in and review deployment per config, named after its workspace and scheduled by its `schedule:`
    in its `timezone`; needs PREFECT_API_URL. Workers run them with `prefect worker start --pool NAME`."""
    from flows.deploy import apply_deployments, apply_limits, parse_limits, plan_deployments, require_api_url
    try:
        wanted_limits = parse_limits(limits)
        if not dry_run:
            require_api_url()
        configs = [_load(path, check_env=False) for path in _config_files(paths)]
        plans = plan_deployments(configs)
        for plan in plans:
            when = f"cron '{plan.cron}' ({plan.timezone})" if plan.cron else "no schedule (run it on demand)"
            sys.stdout.write(plain(f"{plan.full_name}: {when}, config {plan.parameters['config_path']}\n"))
        if dry_run:
            sys.stdout.write("dry run: nothing was created\n")
            return
        apply_deployments(plans, pool)
        if wanted_limits:
            apply_limits(wanted_limits)
            sys.stdout.write("global concurrency limits: " + ", ".join(f"{name}={n}" for name, n in wanted_limits.items()) + "\n")
    except typer.BadParameter:
        raise
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    sys.stdout.write(f"created {len(plans)} deployments in work pool {pool!r}; start a worker: prefect worker start --pool {pool}\n")


@app.command("checkin", short_help="Write this week's check-in tab; read last week's owner entries back.")
def checkin_command(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml to check in"),
                    week: Optional[str] = typer.Option(None, "--week", metavar="WEEK", help="ISO week like 2026-W48 (default: "
                                                       "this week; a past week is evaluated as of its Sunday)")) -> None:
    """The weekly check-in: sync, read the owners' entries of the latest earlier check-in back into history, and write
    the `Check-in <week>` sheet (check-in workbook next to each xlsx output, tab in each Google Sheets output).

    Exit code 1 when a source failed (the sheet is still written, its KRs marked stale)."""
    try:
        loaded = _load(config)
        if os.environ.get("PREFECT_API_URL"):
            from flows.checkin import checkin_okrs
            state = checkin_okrs(str(config), week=week, return_state=True)
            out.print(f"flow run {state.state_details.flow_run_id}: {state.name} - {state.message or ''}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_OK if state.is_completed() else EXIT_STALE)
        from flows.checkin import run_checkin
        outcome = run_checkin(loaded, week=week)
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for warning in outcome.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    for week_read, count in sorted(outcome.entries_read.items()):
        out.print(f"read the entries of {count} KR(s) from check-in {week_read}", markup=False, highlight=False, soft_wrap=True)
    for where in outcome.written:
        out.print(f"wrote check-in {outcome.week} ({len(outcome.table.rows)} KRs) to {where}", markup=False, highlight=False, soft_wrap=True)
    if not outcome.sync.ok:
        err.print(f"warning: {outcome.sync.failure_message()}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_STALE)


@app.command("review", short_help="Score the ended period and write its Review tab.")
def review_command(config: Path = typer.Argument(..., metavar="FILE", help="okrs.yaml whose period to review"),
                   offset_days: int = typer.Option(0, "--offset-days", metavar="N", min=0, max=3650,
                                                   help="wait N more days after the period's end, for sources that close late"),
                   force: bool = typer.Option(False, "--force", help="evaluate and write the review again though it was written before")) -> None:
    """The period review: every KR evaluated as of the period's last day, final 0-1 scores, committed KRs below 1.0 and
    aspirational KRs below 0.6 flagged, written to the `Review <period>` sheet (lessons typed into it are kept).

    Before the period's end (+ N days) it says when the review can run and exits 0 without writing anything,
    and once written it is not written again (unless --force), so it can be scheduled daily. Exit code 1 when a
    source failed."""
    try:
        loaded = _load(config)
        if os.environ.get("PREFECT_API_URL"):
            from flows.review import review_okrs
            state = review_okrs(str(config), offset_days=offset_days, force=force, return_state=True)
            out.print(f"flow run {state.state_details.flow_run_id}: {state.name} - {state.message or ''}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_OK if state.is_completed() else EXIT_STALE)
        from flows.review import run_review
        outcome = run_review(loaded, offset_days=offset_days, force=force)
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    out.print(outcome.message, markup=False, highlight=False, soft_wrap=True)
    if outcome.sync is not None and not outcome.sync.ok:
        err.print(f"warning: {outcome.sync.failure_message()}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_STALE)

def _main() -> int:
    """Run the command; a command-line mistake (a bad option value, a missing argument) is one line, like every
    other error, naming the --help to read: "error: Invalid value for '--format': ... (see okr-sync run --help)".

    Click's exceptions are told apart by name: typer 0.29 ships its own copy of click (typer._click)."""
    try:
        code = typer.main.get_command(app).main(prog_name="okr-sync", standalone_mode=False)
    except Exception as exc:
        kinds = {kind.__name__ for kind in type(exc).__mro__}
        if "NoArgsIsHelpError" in kinds:  # `okr-sync` alone: the help
            exc.show()  # type: ignore[attr-defined]
        elif "UsageError" in kinds:
            ctx = getattr(exc, "ctx", None)
            where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            sys.stderr.write(plain(f"error: {' '.join(exc.format_message().split())}{where}\n"))  # type: ignore[attr-defined]
        elif "ClickException" in kinds:
            exc.show()  # type: ignore[attr-defined]
        elif "Abort" in kinds:
            sys.stderr.write("aborted\n")
            return 1
        else:
            raise
        return int(getattr(exc, "exit_code", 2))
    return code if isinstance(code, int) else 0


def main() -> None:
    """Console-script entry point.

    After a command that did not use Prefect, the process ends with `os._exit` once everything is flushed:
    every file and database the command touched is already closed, and tearing down the interpreter's module
    graph (SQLAlchemy, pydantic, ...) would add 0.2-0.5 s to every call. With Prefect loaded (a flow run),
    the normal exit runs Prefect's handlers, which send the last logs to the API.
    """
    code: int = 0
    try:
        code = _main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            sys.stderr.write(f"{exc.code}\n")
    if "prefect" in sys.modules or os.environ.get("OKR_SYNC_CLEAN_EXIT"):
        sys.exit(code)
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (okr-sync ... | head): nothing more to say
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
