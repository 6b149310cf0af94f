"""Load okrs.yaml and validate it in two passes (shape, then meaning), collecting every problem with its line."""
from __future__ import annotations

import difflib
import math
import os
import sys
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Mapping, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from mapping.config import GATE_KEYS, Config, Query
from mapping.errors import ConfigError, Problem
from mapping.text import CONTROL
from mapping.file_checks import as_dict as _as_dict, as_list as _as_list, check_history, check_output_paths
from mapping.formula import FormulaSyntaxError, parse_formula
from mapping.kr_kinds_check import check_kr_kinds, period_of
from mapping.period import PeriodError, parse_period
from mapping.quality import parse_max_change
from mapping.sources import KINDS, SourceBase
from mapping.yaml_lines import dotted, line_of, load_yaml_with_lines

METRIC_COMMON_KEYS = {"source"}
OUTPUT_KINDS = {"xlsx", "sheets"}


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] wrappers."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        return _unwrap(args[0])
    return annotation


def _keys_at(root: type[BaseModel], loc: tuple) -> list[str]:
    """The keys the model found at a pydantic error location accepts (for did-you-mean hints)."""
    current: Any = root
    parts = list(loc)
    while parts:
        current = _unwrap(current)
        origin = get_origin(current)
        if current is SourceBase and parts[0] in KINDS:  # a source block: its kind's tag comes first, as in a union
            current = KINDS[parts.pop(0)].source_model
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(parts.pop(0))
            if field is None:
                return []
            current = field.annotation
        elif origin in (list, dict):
            parts.pop(0)
            current = get_args(current)[-1]
        elif origin in (Union, UnionType):
            members = [m for m in get_args(current) if isinstance(m, type) and issubclass(m, BaseModel)]
            tagged = [m for m in members if "kind" in m.model_fields and get_args(m.model_fields["kind"].annotation) == (parts[0],)]
            if tagged:
                parts.pop(0)
                current = tagged[0]
            elif members:
                current = members[0]
            else:
                return []
        else:
            return []
    current = _unwrap(current)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _data_path(data: Any, loc: tuple) -> tuple:
    """Map a pydantic error location onto the YAML key path (dropping union tags and validator names)."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not part.startswith(("function-", "tagged-union")) and part not in KINDS and part not in OUTPUT_KINDS:
            path.append(part)  # a missing or unknown key: name it
            node = None
    return tuple(path)


FLOAT_MAX = sys.float_info.max
FINITE_HINT = "write an ordinary number; .inf, .nan and numbers beyond ±1.8e308 are refused"


def _not_finite(value: Any) -> str:
    """The problem with a non-finite number, as the user will recognise it: inf, -inf, nan, or a 400-digit integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"a {len(str(abs(value)))}-digit number is not a finite number (the largest is about 1.8e308)"
    try:
        shown = str(float(value))
    except (TypeError, ValueError, OverflowError):
        shown = repr(value)
    return f"{shown} is not a finite number"


def _non_finite(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """(key path, value) of every number that is not finite: float inf/nan (YAML .inf, .nan, 1e309) and
    integers too large to be a float, in parsed YAML or in a validated model (field aliases are the YAML keys)."""
    found, stack = [], [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                found.append((path, value))
        elif isinstance(value, int):
            if abs(value) > FLOAT_MAX:
                found.append((path, value))
        elif isinstance(value, BaseModel):
            for name, field in type(value).model_fields.items():
                stack.append((getattr(value, name), path + (field.alias or name,)))
            stack.extend((item, path + (key,)) for key, item in (value.model_extra or {}).items())
        elif isinstance(value, dict):
            stack.extend((item, path + (key,)) for key, item in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((item, path + (index,)) for index, item in enumerate(value))
    return found


# pydantic errors of a number field; when their input is not finite (text "inf" that a float field read), that is the problem to name
NUMBER_ERRORS = {"finite_number", "greater_than", "greater_than_equal", "less_than", "less_than_equal", "float_type", "float_parsing"}


def _as_float(value: Any) -> float | None:
    """A number, or text a float field would read as one ("1e309", "nan"), as a float; else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def _input_not_finite(err: Any) -> bool:
    number = _as_float(err.get("input"))
    return err["type"] in NUMBER_ERRORS and number is not None and not math.isfinite(number)


def _finite_hint(path: tuple) -> str:
    return "for an open-ended range use a large bound, e.g. [0, 1e12]" if "valid_range" in path[-2:] else FINITE_HINT


def _validation_message(err: Any) -> str:
    if _input_not_finite(err):
        return _not_finite(err.get("input"))
    said = err["msg"].removeprefix("Value error, ")
    if err["type"] in ("float_parsing", "int_parsing") and isinstance(err.get("input"), str):
        return f"{err['input']!r} is not a number ({said[0].lower()}{said[1:]})"  # `target: yes`, `1:30` are text in YAML 1.2
    return said


class _Collector:
    """Gathers problems for one file."""

    def __init__(self, file: str, lines: dict[tuple, int]):
        self.file, self.lines, self.problems = file, lines, []  # type: ignore[var-annotated]
        self.non_finite: set[tuple] = set()  # paths already reported as not finite (their other errors are noise)

    def add_non_finite(self, value: Any, prefix: tuple = ()) -> None:
        """Report every non-finite number in `value` (parsed YAML or a validated model) at its line."""
        for path, number in _non_finite(value, prefix):
            self.non_finite.add(path)
            self.add(path, _not_finite(number), _finite_hint(path))

    def add(self, path: tuple, message: str, hint: str = "") -> None:
        self.problems.append(Problem(self.file, line_of(self.lines, path), dotted(path), message, hint))

    def add_validation(self, error: ValidationError, data: Any, prefix: tuple = (), root: type[BaseModel] = Config) -> None:
        for err in error.errors():
            path = prefix + _data_path(data, tuple(err["loc"]))
            kind = err["type"]
            if path in self.non_finite:
                continue  # reported once as "not a finite number"; a union's other members would only add noise
            if _input_not_finite(err):
                self.add(path, _validation_message(err), _finite_hint(path))
            elif kind == "extra_forbidden":
                key = str(path[-1]) if path else ""
                close = difflib.get_close_matches(key, _keys_at(root, tuple(err["loc"])[:-1]), n=1)
                self.add(path, f"unknown key {key!r}", f"did you mean {close[0]!r}?" if close else "remove it or check the README for the keys of this block")
            elif kind == "missing":
                self.add(path, "required key is missing", "add it")
            elif kind == "union_tag_invalid":
                ctx = err.get("ctx", {})
                what = "output" if path[:1] == ("outputs",) else "source"
                self.add(path + ("kind",), f"unknown {what} kind {ctx.get('tag')!r}", f"use one of: {ctx.get('expected_tags')}")
            elif kind == "invalid_key":  # `~: 1`, `5: x` where a block's keys are names: point at the key as written
                parent, key = prefix + _data_path(data, tuple(err["loc"])[:-1]), err.get("input")
                what = "a key written ~ or null (or left empty)" if key is None else f"key {key!r}"
                self.problems.append(Problem(self.file, line_of(self.lines, parent + (key,)), dotted(parent), f"{what} is not a name",
                                             "write the key's name; quote it if you mean that text as the key"))
            elif kind == "union_tag_not_found":
                self.add(path, "source has no 'kind'", f"add kind: one of {', '.join(KINDS)}")
            else:
                self.add(path, _validation_message(err))


def _check_meaning(data: dict, out: _Collector, env: Mapping[str, str], check_env: bool) -> None:
    """Second pass: references, duplicates, numbers that cannot score, missing env vars."""
    period = data.get("period")
    if isinstance(period, str):
        try:
            parse_period(period)
        except PeriodError as exc:
            out.add(("period",), str(exc), "write 2026-Q4, 2026-11 or {name, start, end}")
    tz = data.get("timezone")
    if isinstance(tz, str):
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            out.add(("timezone",), f"unknown time zone {tz!r}", "use an IANA name like Europe/Berlin or UTC")

    sources = _as_dict(data.get("sources"))
    _check_one_source_per_spreadsheet(sources, out)
    if data.get("history_env") and data.get("history_secret"):
        out.add(("history_secret",), "set only one of history_env (an environment variable) or history_secret (a Prefect Secret block)",
                "drop one of them")
    if check_env:
        for name, raw in sources.items():
            for key, var in _as_dict(raw).items():
                if key.endswith("_env") and isinstance(var, str) and not env.get(var):
                    out.add(("sources", name, key), f"environment variable {var} is not set", f"export {var}=... before running")
            _check_google_default(("sources", name), raw, env, out)
        var = data.get("history_env")
        if isinstance(var, str) and not env.get(var):
            out.add(("history_env",), f"environment variable {var} is not set", f"export {var}=... before running")

    kr_period = period_of(period)  # pace dates and compliance windows are checked against it
    kr_ids: dict[str, tuple] = {}
    objective_ids: dict[str, tuple] = {}
    kr_objective: dict[str, str] = {}
    for oi, objective in enumerate(_as_list(data.get("objectives"))):
        objective = _as_dict(objective)
        oid = objective.get("id")
        if isinstance(oid, str):
            if oid in objective_ids:
                out.add(("objectives", oi, "id"), f"duplicate objective id {oid!r}", f"first used at line {line_of(out.lines, objective_ids[oid])}")
            else:
                objective_ids[oid] = ("objectives", oi, "id")
        for ki, kr in enumerate(_as_list(objective.get("key_results"))):
            kr = _as_dict(kr)
            path = ("objectives", oi, "key_results", ki)
            kid = kr.get("id")
            if isinstance(kid, str):
                if kid in kr_ids:
                    out.add(path + ("id",), f"duplicate key result id {kid!r}", f"first used at line {line_of(out.lines, kr_ids[kid])}; KR ids must be unique in the file")
                else:
                    kr_ids[kid] = path + ("id",)
                    kr_objective[kid] = oid if isinstance(oid, str) else ""
            _check_numbers(kr, path, out)
            check_kr_kinds(kr, path, out, kr_period)
            metric = kr.get("metric")
            if isinstance(metric, dict):
                _check_metric(metric, path + ("metric",), sources, out, env)

    parents: dict[str, str] = {}
    for oi, objective in enumerate(_as_list(data.get("objectives"))):
        objective = _as_dict(objective)
        target = objective.get("aligns_to")
        if not isinstance(target, str):
            continue
        if target not in kr_ids:
            close = difflib.get_close_matches(target, list(kr_ids), n=1)
            out.add(("objectives", oi, "aligns_to"), f"aligns to unknown key result {target!r}", f"did you mean {close[0]!r}?" if close else "name the id of a KR in this file")
        elif isinstance(objective.get("id"), str):
            parents[objective["id"]] = kr_objective[target]
    for oi, objective in enumerate(_as_list(data.get("objectives"))):
        start = _as_dict(objective).get("id")
        seen, node = set(), start
        while isinstance(node, str) and node in parents:
            if node in seen:
                out.add(("objectives", oi, "aligns_to"), f"alignment of objective {start!r} forms a cycle", "an objective cannot support its own KRs, directly or through others")
                break
            seen.add(node)
            node = parents[node]


def _check_google_default(path: tuple, block: Any, env: Mapping[str, str], out: _Collector) -> None:
    """A Google Sheets block without credentials_env / credentials_block uses GOOGLE_APPLICATION_CREDENTIALS: it must be set."""
    from mapping.sources.sheets import DEFAULT_CREDENTIALS_ENV

    block = _as_dict(block)
    is_google = block.get("kind") == "sheets" or block.get("from") == "sheets"
    if is_google and not block.get("credentials_env") and not block.get("credentials_block") and not env.get(DEFAULT_CREDENTIALS_ENV):
        out.add(path, f"environment variable {DEFAULT_CREDENTIALS_ENV} is not set (the default Google credentials of this block)",
                f"export {DEFAULT_CREDENTIALS_ENV}=path/to/service-account.json, or name another variable in credentials_env")


def _check_one_source_per_spreadsheet(sources: dict, out: _Collector) -> None:
    """Two sheets sources on one spreadsheet would read it twice a sync; one source answers all its tabs in one read."""
    from mapping.sources.sheets import spreadsheet_key

    first: dict[str, str] = {}
    for name, raw in sources.items():
        raw = _as_dict(raw)
        if raw.get("kind") != "sheets" or not isinstance(raw.get("spreadsheet"), str):
            continue
        try:
            key = spreadsheet_key(raw["spreadsheet"])
        except ValueError:
            continue
        if key in first:
            out.add(("sources", name, "spreadsheet"), f"source {name!r} reads the same spreadsheet as source {first[key]!r}",
                    f"use {first[key]!r} for both: one source reads all tabs of a spreadsheet in one request per sync")
        else:
            first[key] = name


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    """The value as a finite float, else None (non-finite numbers are reported once, by _Collector.add_non_finite)."""
    if not _is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _check_numbers(kr: dict, path: tuple, out: _Collector) -> None:
    kind = kr.get("type", "increase")
    baseline, target = _number(kr.get("baseline")), _number(kr.get("target"))
    if kind in ("increase", "decrease"):
        for key, value in (("baseline", baseline), ("target", target)):
            if value is None and kr.get(key) is None:
                out.add(path + (key,), f"{kind} KR needs a {key}", f"add {key}: <number>")
        if baseline is not None and target is not None:
            if baseline == target:
                out.add(path + ("target",), f"baseline equals target ({target:g}): progress cannot be measured", "use at_least/at_most to hold a level, or change one of them")
            elif kind == "increase" and target < baseline:
                out.add(path + ("type",), f"type is increase but target {target:g} is below baseline {baseline:g}", "use type: decrease")
            elif kind == "decrease" and target > baseline:
                out.add(path + ("type",), f"type is decrease but target {target:g} is above baseline {baseline:g}", "use type: increase")
    elif kind in ("at_most", "at_least"):
        if target is None and kr.get("target") is None:
            out.add(path + ("target",), f"{kind} KR needs a target (the threshold)", "add target: <number>")
        if baseline is not None and target is not None and baseline == target:
            out.add(path + ("target",), f"baseline equals target ({target:g}): a breach cannot be scored", "drop the baseline or set the level at the start of the period")


def _check_metric(metric: dict, path: tuple, sources: dict, out: _Collector, env: Mapping[str, str]) -> None:
    if "formula" in metric or "inputs" in metric:
        _check_formula(metric, path, sources, out, env)
        return
    _check_gate(metric, path, out)
    metric = {key: value for key, value in metric.items() if key not in GATE_KEYS}
    name = metric.get("source")
    if not isinstance(name, str):
        if name is None:
            out.add(path + ("source",), "metric needs a source (or a formula with inputs)", "add source: <name of an entry under sources>")
        return
    if name not in sources:
        close = difflib.get_close_matches(name, list(sources), n=1)
        hint = f"did you mean {close[0]!r}?" if close else (f"define it under sources (known: {', '.join(sources)})" if sources else "define it under sources")
        out.add(path + ("source",), f"unknown source {name!r}", hint)
        return
    kind = KINDS.get(_as_dict(sources[name]).get("kind"))
    if kind is None:
        return
    try:
        kind.query_model.model_validate(metric)
    except ValidationError as exc:
        out.add_validation(exc, metric, prefix=path, root=kind.query_model)
        return
    if kind.check_query is not None:
        for key, message, hint in kind.check_query(metric, _as_dict(sources[name]), env):
            out.add(path + (key,), message, hint)


def _check_gate(metric: dict, path: tuple, out: _Collector) -> None:
    """valid_range must be [low, high] with low <= high; max_change a positive number or percentage."""
    bounds = metric.get("valid_range")
    if bounds is not None:
        read = [_as_float(b) for b in bounds] if isinstance(bounds, list) and len(bounds) == 2 else []
        if any(b is not None and not math.isfinite(b) for b in read):
            pass  # a bound that is not finite (.inf, "nan") is reported on its own
        elif not (read and all(_is_number(b) for b in bounds)):
            out.add(path + ("valid_range",), "valid_range must be two numbers [min, max]", "e.g. valid_range: [0, 100]")
        elif bounds[0] > bounds[1]:
            out.add(path + ("valid_range",), f"valid_range minimum {bounds[0]} is above its maximum {bounds[1]}", "write [min, max]")
    change = metric.get("max_change")
    if change is not None and path + ("max_change",) not in out.non_finite:
        number = _as_float(change.strip().rstrip("%").strip() if isinstance(change, str) else change)
        if number is not None and not math.isfinite(number):  # "inf", "1e309" (YAML reads that as text), "nan%"
            out.add(path + ("max_change",), f"max_change {change!r} is not a finite number", "write a number in the KR's unit (5) or a percentage ('20%')")
            return
        try:
            parse_max_change(change)
        except (ValueError, OverflowError) as exc:
            out.add(path + ("max_change",), str(exc), "write a number in the KR's unit (5) or a percentage ('20%')")


def _check_formula(metric: dict, path: tuple, sources: dict, out: _Collector, env: Mapping[str, str]) -> None:
    """A formula metric: valid arithmetic, every name an input, every input a plain source query."""
    _check_gate(metric, path, out)
    extra = sorted(set(metric) - {"formula", "inputs", *GATE_KEYS})
    if extra:
        out.add(path + (extra[0],), f"a formula metric takes only formula, inputs, valid_range and max_change, not {', '.join(extra)}",
                "move source and query keys into one of the inputs")
    text, inputs = metric.get("formula"), metric.get("inputs")
    if not isinstance(inputs, dict) or not inputs:
        out.add(path + ("inputs",), "a formula needs inputs: name -> {source, <query>}", "e.g. inputs: {defects: {source: mes, sql: SELECT ...}}")
        inputs = {}
    names: frozenset[str] = frozenset()
    if not isinstance(text, str):
        out.add(path + ("formula",), "inputs need a formula that combines them", "e.g. formula: defects / produced * 100")
    else:
        try:
            names = parse_formula(text).names
        except FormulaSyntaxError as exc:
            shown = text.strip() if len(text.strip()) <= 80 else text.strip()[:77] + "..."  # a 5,000-term formula stays one short line
            out.add(path + ("formula",), f"formula {shown!r} {exc}" if str(exc).startswith(("is ", "has ")) else f"formula {shown!r}: {exc}",
                    "use numbers, input names, + - * /, parentheses, min, max, abs, round")
        for name in sorted(names - set(inputs)):
            close = difflib.get_close_matches(name, list(inputs), n=1)
            out.add(path + ("formula",), f"formula uses {name!r}, which is not one of its inputs",
                    f"did you mean {close[0]!r}?" if close else f"add inputs.{name}: {{source, <query>}}")
        for name in sorted(set(inputs) - names) if names else []:
            out.add(path + ("inputs", name), f"input {name!r} is not used in the formula", "use it in the formula or remove it")
    for name, sub in inputs.items():
        sub_path = path + ("inputs", name)
        if not isinstance(name, str) or not name.isidentifier():
            out.add(sub_path, f"input name {name!r} is not a plain name", "use letters, digits and _, e.g. defects")
        if not isinstance(sub, dict):
            out.add(sub_path, "an input is {source, <query fields>}", "e.g. {source: mes, sql: SELECT ...}")
            continue
        nested = [key for key in ("formula", "inputs", *GATE_KEYS) if key in sub]
        if nested:
            out.add(sub_path + (nested[0],), f"{nested[0]} is not allowed inside an input", "put formula/valid_range/max_change on the KR's metric")
            continue
        _check_metric(sub, sub_path, sources, out, env)




def _has_escapes(path: Path) -> bool:
    try:
        return b"\\" in path.read_bytes()
    except OSError:
        return True


def _check_control_characters(node: Any, path: tuple, out: _Collector) -> None:
    """No text in a config (a key, a title, a query) may hold a control character: written as a YAML escape
    ("\e[2J"), it would clear a terminal, rewrite a log line or plant a link when it is printed. Tabs and line
    breaks are text."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and CONTROL.search(key):
                out.add(path + (key,), f"a key holds the control character {CONTROL.search(key).group()!r}", "remove it; keys are plain names")  # type: ignore[union-attr]
                continue
            _check_control_characters(value, path + (key,), out)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _check_control_characters(item, path + (index,), out)
    elif isinstance(node, str) and CONTROL.search(node):
        out.add(path, f"text holds the control character {CONTROL.search(node).group()!r} (a terminal control code)",  # type: ignore[union-attr]
                "remove it: write plain text")


def load_config(path: str | Path, env: Mapping[str, str] | None = None, check_env: bool = True) -> Config:
    """Read and validate okrs.yaml; raise ConfigError listing every problem found."""
    path = Path(path)
    env = os.environ if env is None else env
    data, lines = load_yaml_with_lines(path)
    out = _Collector(str(path), lines)
    if not isinstance(data, dict):
        out.add((), "the file must be a mapping with period, sources, objectives and outputs", "see examples/factory/okrs.yaml")
        raise ConfigError(out.problems)
    out.add_non_finite(data)  # .inf, .nan, 1e309 anywhere in the file
    config = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        out.add_validation(exc, data)
    _check_meaning(data, out, env, check_env)
    _check_register_keys(data, out, env, check_env)
    if _has_escapes(path):  # YAML refuses control characters written as they are: only an escape ("\e") makes one
        _check_control_characters(data, (), out)
    check_history(data, out, env)
    check_output_paths(data, path, out, env)
    if out.problems or config is None:
        raise ConfigError(_dedupe(out.problems))
    config._file = path
    config._lines = lines
    for _, kr in config.key_results():
        if kr.metric is not None:
            for metric in kr.metric.leaves():
                source = config.sources[metric.source]
                spec = KINDS[source.kind].query_model.model_validate(metric.query_fields())
                metric._query = Query.of(metric.source, spec)
    return config


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for problem in sorted(problems, key=lambda p: (p.line or 0, p.path)):
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out


# ---- the OKR register (objectives kept in a Google Sheets tab) ---------------------------------

def _check_register_keys(data: dict, out: _Collector, env: Mapping[str, str] | None = None, check_env: bool = False) -> None:
    """objectives XOR okrs; every okrs.metrics entry a valid metric of a known source; credential env vars of
    the register and of sheets outputs set."""
    if check_env and env is not None:
        blocks = [(("okrs",), data.get("okrs"))] + [(("outputs", i), o) for i, o in enumerate(_as_list(data.get("outputs")))]
        for path, block in blocks:
            var = _as_dict(block).get("credentials_env")
            if isinstance(var, str) and not env.get(var):
                out.add(path + ("credentials_env",), f"environment variable {var} is not set", f"export {var}=... before running")
            _check_google_default(path, block, env, out)
    okrs = data.get("okrs")
    if okrs is None:
        if "objectives" not in data:
            out.add(("objectives",), "required key is missing", "add it, or keep the OKRs in a sheet with okrs: {from: sheets, ...}")
        elif not _as_list(data.get("objectives")):
            out.add(("objectives",), "at least one objective is needed", "add an objective, or use okrs: {from: sheets, ...}")
        return
    if "objectives" in data:
        out.add(("objectives",), "objectives come from the register sheet when okrs is given", "remove objectives, or remove okrs")
    metrics = _as_dict(_as_dict(okrs).get("metrics"))
    sources = _as_dict(data.get("sources"))
    for kr_id, metric in metrics.items():
        if isinstance(metric, dict):
            _check_metric(metric, ("okrs", "metrics", kr_id), sources, out, env or {})
        else:
            out.add(("okrs", "metrics", kr_id), "a metric is a mapping {source, <query>} or {formula, inputs}")


class RowProblem(Problem):
    """A problem located in a register sheet: tab, row and column instead of file and line."""

    def __str__(self) -> str:
        text = f"{self.file} row {self.line}" + (f", {self.path}" if self.path else "") + f": {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class _RegisterCollector(_Collector):
    """Problems of register rows: each path is mapped to the sheet row and column it came from."""

    def __init__(self, where: str, cells: dict[tuple, tuple[int, str]]):
        super().__init__(where, {})
        self.cells = cells

    def add(self, path: tuple, message: str, hint: str = "") -> None:
        probe = path
        while probe and probe not in self.cells:
            probe = probe[:-1]
        row, column = self.cells.get(probe, (None, ""))
        if probe != path and len(path) > len(probe):  # e.g. a missing key: name the column it should be in
            from mapping.register import HUMAN_COLUMNS
            names = {"title": "Key result" if "key_results" in path else "Objective", "id": "KR id" if "key_results" in path else "Objective id"}
            column = names.get(str(path[-1]), HUMAN_COLUMNS.get(str(path[-1]), str(path[-1])))
        self.problems.append(RowProblem(self.file, row, f"column {column!r}" if column else "", message, hint))


def apply_register(config: Config, rows: Any) -> Config:
    """The config with its objectives taken from register rows (mapping.register.RegisterRows).

    The rows are validated like YAML objectives (every problem at once, each naming its sheet row
    and column); `okrs.metrics` are bound to the register's KRs. KRs of the sheet without a metric
    and metrics naming no KR of the sheet are kept as warnings (see `register_warnings`), not errors:
    people add and remove rows without touching the YAML.
    """
    from mapping.config import Metric, Objective
    from mapping.register import parse_register

    assert config.okrs is not None
    reg = parse_register(rows, config.okrs.decimal)
    where = f"register {rows.worksheet!r}"
    out = _RegisterCollector(where, reg.cells)
    for issue in reg.issues:
        out.problems.append(RowProblem(where, issue.row, f"column {issue.column!r}", issue.message, issue.hint))
    objectives = []
    for oi, raw in enumerate(reg.objectives):
        try:
            objectives.append(Objective.model_validate(raw))
        except ValidationError as exc:
            for err in exc.errors():
                path = ("objectives", oi) + _data_path(raw, tuple(err["loc"]))
                out.add(path, "required value is missing" if err["type"] == "missing" else _validation_message(err),
                        "fill in the cell" if err["type"] == "missing" else "")
    if not reg.objectives and not reg.issues:
        out.problems.append(RowProblem(where, rows.header_row, "", "the register has no KR rows", "add one row per KR below the header"))
    _check_meaning({"objectives": reg.objectives}, out, {}, False)
    if out.problems:
        raise ConfigError(_dedupe(out.problems))
    merged = config.model_copy(update={"objectives": objectives})
    merged._file = config._file
    merged._lines = config._lines
    kr_ids = {kr.id for _, kr in merged.key_results()}
    warnings = [f"{where} row {reg.kr_rows[kr_id]}: KR {kr_id!r} has no metric in okrs.metrics; it is shown without a measured value"
                + (" (it has a manual value)" if kr_id in reg.manual else "")
                for kr_id in reg.kr_rows if kr_id not in config.okrs.metrics and kr_id not in reg.manual]
    for kr_id in config.okrs.metrics:
        if kr_id not in kr_ids:
            close = difflib.get_close_matches(kr_id, sorted(kr_ids), n=1)
            warnings.append(f"okrs.metrics.{kr_id}: no KR {kr_id!r} in {where}" + (f"; did you mean {close[0]!r}?" if close else "; the mapping is unused"))
    for _, kr in merged.key_results():
        raw_metric = config.okrs.metrics.get(kr.id)
        if raw_metric is None:
            continue
        kr.metric = Metric.model_validate(raw_metric)
        for metric in kr.metric.leaves():
            source = config.sources[metric.source]
            spec = KINDS[source.kind].query_model.model_validate(metric.query_fields())
            metric._query = Query.of(metric.source, spec)
    reg.warnings = warnings
    merged._register = reg
    return merged


def register_warnings(config: Config) -> list[str]:
    """What apply_register reported without failing: unmapped KRs and mappings naming no KR."""
    return list(config._register.warnings) if config._register is not None else []
