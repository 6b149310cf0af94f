"""Safe arithmetic over named metrics: `defects / produced * 100`, evaluated without eval().

The expression is parsed with Python's `ast` and only a whitelist of nodes is accepted: numbers,
names, + - * /, unary minus, parentheses, and the functions min, max, abs and round. Anything else
(attribute access, subscripts, **, comparisons, other calls) is refused when the config is loaded.
"""
from __future__ import annotations

import ast
import math
import operator
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from mapping.errors import OkrSyncError
from mapping.results import Observation

_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_UNARY: dict[type, Callable[[float], float]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int]] = {  # name -> (function, min args, max args)
    "min": (min, 2, 32), "max": (max, 2, 32), "abs": (abs, 1, 1), "round": (round, 1, 2),
}
_SYMBOL = {ast.Pow: "**", ast.Mod: "%", ast.FloorDiv: "//", ast.BitXor: "^", ast.BitAnd: "&", ast.BitOr: "|"}
MAX_CHARS = 2000  # a real formula is a line; longer text only costs parse time (and a 5,000-term sum, a RecursionError)
MAX_DEPTH = 100   # nesting of operations and calls; evaluation recurses once per level
FLOAT_MAX = sys.float_info.max


class FormulaSyntaxError(ValueError):
    """A formula that is not plain arithmetic over names; `column` is 1-based within the formula text."""

    def __init__(self, message: str, column: int | None = None):
        super().__init__(message if column is None else f"{message} (at column {column})")
        self.column = column


class FormulaError(OkrSyncError):
    """A formula could not be computed this time (division by zero, a missing or failed input)."""

    def __init__(self, message: str, source: str = ""):
        super().__init__(message)
        self.source = source


@dataclass(frozen=True)
class Formula:
    """A parsed, checked formula and the input names it uses."""

    text: str
    tree: ast.Expression
    names: frozenset[str]


def parse_formula(text: str) -> Formula:
    """Parse and check a formula; raise FormulaSyntaxError saying what is not allowed and where."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaSyntaxError("formula is empty; write arithmetic over input names, e.g. defects / produced * 100")
    if len(text.strip()) > MAX_CHARS:
        raise FormulaSyntaxError(f"is too long ({len(text.strip()):,} characters; at most {MAX_CHARS:,}); "
                                 "compute part of it in an input's query")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaSyntaxError(f"is not valid arithmetic: {exc.msg}", exc.offset) from None
    except (RecursionError, MemoryError):  # the parser's own nesting limit ("too many nested parentheses" is a SyntaxError)
        raise FormulaSyntaxError(f"is nested too deeply (at most {MAX_DEPTH} levels); simplify it") from None
    _check_depth(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        _check_node(node, names)
    return Formula(text.strip(), tree, frozenset(names))


def _check_depth(tree: ast.Expression) -> None:
    """Refuse a tree deeper than MAX_DEPTH (counted without recursion): evaluating it would exhaust the stack."""
    stack = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormulaSyntaxError(f"is nested too deeply (more than {MAX_DEPTH} levels of operations; "
                                     "a sum of n terms has n - 1); simplify it, e.g. compute part of it in an input's query")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))


def _check_node(node: ast.AST, names: set[str]) -> None:
    column = getattr(node, "col_offset", None)
    column = column + 1 if column is not None else None
    if isinstance(node, (ast.Expression, ast.Load)) or type(node) in _BINARY or type(node) in _UNARY:
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise FormulaSyntaxError(f"operator {_SYMBOL.get(type(node.op), type(node.op).__name__)} is not allowed; use + - * / and parentheses", column)
        return
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise FormulaSyntaxError("only a leading minus or plus is allowed before a value", column)
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaSyntaxError(f"{node.value!r} is not a number", column)
        if isinstance(node.value, int) and abs(node.value) > FLOAT_MAX:
            raise FormulaSyntaxError(f"has a {len(str(abs(node.value)))}-digit number, too large to compute with "
                                     "(the largest is about 1.8e308)", column)
        if isinstance(node.value, float) and not math.isfinite(node.value):
            raise FormulaSyntaxError("has a number too large to compute with (the largest is about 1.8e308)", column)
        return
    if isinstance(node, ast.Name):
        if node.id not in FUNCTIONS:
            names.add(node.id)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise FormulaSyntaxError(f"only the functions {', '.join(FUNCTIONS)} may be called", column)
        _, low, high = FUNCTIONS[node.func.id]
        if node.keywords or not low <= len(node.args) <= high or any(isinstance(a, ast.Starred) for a in node.args):
            arity = f"{low}" if low == high else f"{low} to {high}"
            raise FormulaSyntaxError(f"{node.func.id}() takes {arity} plain arguments", column)
        return
    raise FormulaSyntaxError(f"{type(node).__name__.lower()} is not allowed in a formula; use numbers, input names, + - * /, parentheses, min/max/abs/round", column)


def evaluate(formula: Formula, values: Mapping[str, float]) -> float:
    """The formula's value for the given inputs; FormulaError on a missing input, a division by zero or a non-finite result."""
    missing = sorted(formula.names - set(values))
    if missing:
        raise FormulaError(f"formula {formula.text!r}: no value for {', '.join(missing)}")
    try:
        result = _eval(formula.tree.body, values, formula.text)
    except (OverflowError, ValueError) as exc:  # round() of inf or nan, round(x, <huge>)
        raise FormulaError(f"formula {formula.text!r} cannot be computed: {exc}") from None
    if not math.isfinite(result):
        raise FormulaError(f"formula {formula.text!r} gave {result}, not a finite number")
    return float(result)


def _eval(node: ast.AST, values: Mapping[str, float], text: str) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(values[node.id])
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, values, text))
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, values, text), _eval(node.right, values, text)
        if isinstance(node.op, ast.Div) and right == 0:
            raise FormulaError(f"formula {text!r}: division by zero ({ast.unparse(node.right)} = 0)")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Call):
        function = FUNCTIONS[node.func.id][0]  # type: ignore[attr-defined]
        args = [_eval(arg, values, text) for arg in node.args]
        if function is round and len(args) == 2:
            return float(round(args[0], int(args[1])))
        return float(function(*args))
    raise FormulaError(f"formula {text!r}: cannot evaluate {type(node).__name__}")  # parse_formula refuses these


def combine(formula: Formula, inputs: Mapping[str, Any], answers: Mapping[Any, Any]) -> Observation | FormulaError:
    """A formula KR's observation from its inputs' answers (Observations or errors, keyed by query).

    `inputs` maps each name to its metric (with `.source` and `.query`). A failed or missing input
    makes the whole KR an error naming that input and its source, so the KR is marked stale.
    """
    values: dict[str, float] = {}
    parts: list[str] = []
    as_of: list[datetime] = []
    for name in sorted(formula.names):
        metric = inputs[name]
        answer = answers.get(metric.query)
        if answer is None:
            return FormulaError(f"formula input {name!r}: source {metric.source!r} gave no answer", metric.source)
        if isinstance(answer, BaseException):
            return FormulaError(f"formula input {name!r}: {answer}", metric.source)
        values[name] = answer.value
        as_of.append(answer.as_of)
        parts.append(f"{name} = {answer.value:g} ({metric.source})")
    try:
        value = evaluate(formula, values)
    except FormulaError as exc:
        return exc
    sources = sorted({inputs[name].source for name in formula.names})
    return Observation(value, min(as_of), "+".join(sources), f"{formula.text} where {'; '.join(parts)}")
