"""Load YAML while remembering the line of every key, so validation errors can point at it.

The document is bounded before it is built: a config larger than OKR_SYNC_MAX_CONFIG_BYTES (default
5 MB), one whose aliases expand to more than OKR_SYNC_MAX_CONFIG_NODES values (default 100,000),
nested deeper than MAX_DEPTH, or an alias inside the very list/mapping it names is refused with a
ConfigError, before any of it is expanded (a "billion laughs" file of a few hundred bytes would
otherwise take minutes and gigabytes).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from mapping.errors import ConfigError, Problem

Location = tuple  # a key path such as ("objectives", 0, "key_results", 1, "target")

MAX_BYTES_ENV, MAX_NODES_ENV = "OKR_SYNC_MAX_CONFIG_BYTES", "OKR_SYNC_MAX_CONFIG_NODES"
DEFAULT_MAX_BYTES = 5_000_000   # a real okrs.yaml is a few kilobytes
DEFAULT_MAX_NODES = 100_000     # keys, values and list items, every alias counted as a copy of what it names
MAX_MAX_BYTES = 1_000_000_000   # the most OKR_SYNC_MAX_CONFIG_BYTES may raise the size limit to
MAX_DEPTH = 100                 # nesting of lists and mappings (a config needs about ten)


_STR, _MAP, _SEQ, _MERGE = (f"tag:yaml.org,2002:{name}" for name in ("str", "map", "seq", "merge"))


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present: ~10x faster
    """SafeLoader that refuses duplicate mapping keys (a silent overwrite hides mistakes)."""


def _refuse_duplicate_keys(node: yaml.MappingNode, key_of: Callable[[yaml.Node], Any]) -> None:
    """A key written twice in one mapping is an error, with both lines (keys merged in with `<<` may be overridden)."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE:
            continue
        key = key_of(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    """A mapping inside a tag the builder leaves to PyYAML (!!omap, !!set...): duplicates are refused there too."""
    _refuse_duplicate_keys(node, lambda key_node: loader.construct_object(key_node, deep=deep))
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_BOOL, _INT, _FLOAT = (f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float"))


def _yaml_12_plain_scalars(loader: type) -> None:
    """Plain scalars read as YAML 1.2 (its core schema) reads them, not as YAML 1.1: `target: yes` is the text
    "yes" (refused where a number is due), not 1; `1:30` is text, not 90 (base 60); `012` is 12, not 10 (octal).
    A `yes`/`on` given to a true/false key still means true (pydantic reads those words)."""
    loader.yaml_implicit_resolvers = {first: [(tag, regex) for tag, regex in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
                                      for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    loader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$"), list("-+0123456789"))
    loader.add_implicit_resolver(_FLOAT, re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    """An int as YAML 1.2 writes it: decimal (leading zeros allowed), 0o octal or 0x hex; underscores ignored."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    return sign * int(digits)


_yaml_12_plain_scalars(_Loader)
_Loader.add_constructor(_INT, _construct_int)


def _walk(root: yaml.Node, lines: dict[tuple, int], prefix: tuple = ()) -> None:
    """Record the line of every key path (iteratively: the depth is bounded, but never by the recursion limit)."""
    stack: list[tuple[yaml.Node, tuple]] = [(root, prefix)]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in reversed(node.value):
                child = path + (key_node.value,)
                lines[child] = key_node.start_mark.line + 1
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index in range(len(node.value) - 1, -1, -1):
                stack.append((node.value[index], path + (index,)))


class Unreadable(Exception):
    """A scalar its tag's constructor cannot read (an explicit !!timestamp on other text, an integer too long)."""

    def __init__(self, node: yaml.Node, error: BaseException):
        super().__init__(str(error))
        self.node, self.error = node, error

    def problem(self, file: str) -> Problem:
        kind, text = self.node.tag.rsplit(":", 1)[-1], self.node.value if isinstance(self.node.value, str) else ""
        if not text:
            return Problem(file, self.node.start_mark.line + 1, "", f"unreadable value: not a valid {kind}",
                           "write ordinary numbers and dates, or remove the explicit !!tag")
        shown = text if len(text) <= 40 else text[:37] + "..."
        why = f"an integer of {len(text):,} characters is too long to read" if kind == "int" and len(text) > 4000 else f"not a valid {kind}"
        return Problem(file, self.node.start_mark.line + 1, "", f"unreadable value {shown!r}: {why}",
                       "write ordinary numbers and dates, or remove the explicit !!tag")


class _Builder:
    """Builds the document as SafeLoader does, and the line of every key path, in one pass over the nodes.

    Plain mappings and lists are built here (PyYAML's generic constructor is most of the load time of
    a large config); every scalar goes through the loader's own constructor for its tag, and any other
    tag (!!set, !!omap, an unknown one) through the loader itself, so values and errors are PyYAML's.
    Merge keys (`<<: *defaults`) work as in PyYAML; an alias is the same object as its anchor. Recursion
    is safe: _bound has refused documents nested more than MAX_DEPTH deep, aliases included.
    """

    def __init__(self, loader: _Loader):
        self.loader, self.lines = loader, {}  # type: ignore[var-annotated]
        self.built: dict[int, Any] = {}  # id(node) -> its object: an alias yields the anchor's object
        self.scalars = loader.yaml_constructors

    def value(self, node: yaml.Node, path: tuple) -> Any:
        done = self.built.get(id(node))
        if done is not None:
            _walk(node, self.lines, path)  # the same object, reached by another path: its keys' lines
            return done
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            constructor = self.scalars.get(node.tag)
            if constructor is None:
                return self.construct(node)
            try:
                return constructor(self.loader, node)
            except (ValueError, TypeError, AttributeError, OverflowError) as exc:  # "!!timestamp x", a 5,000-digit int
                raise Unreadable(node, exc) from None
        if node.tag == _MAP and isinstance(node, yaml.MappingNode):
            result: Any = {}
            self.built[id(node)] = result
            self.mapping(node, path, result)
        elif node.tag == _SEQ and isinstance(node, yaml.SequenceNode):
            result = []
            self.built[id(node)] = result
            for index, item in enumerate(node.value):
                child = path + (index,)
                self.lines.setdefault(child, item.start_mark.line + 1)
                result.append(self.value(item, child))
        else:
            result = self.construct(node)
            self.built[id(node)] = result
            _walk(node, self.lines, path)
        return result

    def construct(self, node: yaml.Node) -> Any:
        """Any other tag, by PyYAML itself (its constructors' crashes on hostile text become Unreadable)."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise Unreadable(node, exc) from None

    def key(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR:
            return node.value
        key = self.construct(node)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError("while constructing a mapping", None, "found unhashable key", node.start_mark) from None
        return key

    def mapping(self, node: yaml.MappingNode, path: tuple, result: dict) -> None:
        _refuse_duplicate_keys(node, self.key)
        self.loader.flatten_mapping(node)  # merge keys: the merged pairs first, so the mapping's own keys win
        for key_node, value_node in node.value:
            key, line = self.key(key_node), key_node.start_mark.line + 1
            # paths name keys as written (2026-11-30, not a date), as the checks that report on them do
            child = path + (key_node.value if isinstance(key_node, yaml.ScalarNode) else key,)
            self.lines[child] = line
            if child[-1] != key:
                self.lines.setdefault(path + (key,), line)  # and as read, for paths taken from the data
            result[key] = self.value(value_node, child)


def limit_from_env(name: str, default: int, file: str, env: Mapping[str, str] | None = None,
                   maximum: int | None = None) -> int:
    """A positive whole number from an env var (underscores allowed: 10_000_000), else the default.

    Above `maximum` it is refused like any other unusable value: a limit of 10**20 bytes is no limit,
    and cannot even be passed to read().
    """
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError([Problem(file, None, "", f"{name}={raw!r} is not a positive whole number",
                                   f"unset it to use the default {default:,}, or set e.g. {name}={default * 2}")])
    if maximum is not None and value > maximum:
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        raise ConfigError([Problem(file, None, "", f"{name}={shown!r} is too large; at most {maximum:,}",
                                   f"unset it to use the default {default:,}, or set e.g. {name}={default * 2}")])
    return value


def _read(path: Path, file: str, max_bytes: int) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)  # never more: /dev/zero or a huge file cannot fill memory
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        raise ConfigError([Problem(file, None, "", "file not found", "check the path")]) from None
    except OSError as exc:
        raise ConfigError([Problem(file, None, "", f"cannot read file: {exc}", "")]) from None
    if len(data) > max_bytes:
        size_text = f" ({size:,} bytes)" if size > max_bytes else ""
        raise ConfigError([Problem(file, None, "", f"the file is larger than {max_bytes:,} bytes, the most a config may have{size_text}",
                                   f"check it is the right file; if it really is that big, raise {MAX_BYTES_ENV}")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, None, "", f"cannot read file: {exc}", "save it as UTF-8")]) from None


def _bound(text: str, file: str, max_nodes: int) -> None:
    """Count the values the document expands to, from the parser's events, before anything is built.

    Every scalar and every list/mapping counts 1, an alias counts the size of what it names (kept per
    anchor, so counting is linear in the file however the aliases nest). Stops at the first event that
    crosses a limit, so a bomb is refused after reading a few lines of it.
    """
    loader = _Loader(text)
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (expanded size, height)
    open_frames: list[list] = []  # [anchor, total at start, tallest child]
    total = 0
    aliased = False  # whether any alias was met: the node limit's message names aliases only then

    def refuse(event: Any, message: str, hint: str) -> None:
        raise ConfigError([Problem(file, event.start_mark.line + 1, "", message, hint)])

    scalar, alias, doc_start = yaml.ScalarEvent, yaml.AliasEvent, yaml.DocumentStartEvent
    starts, ends = (yaml.SequenceStartEvent, yaml.MappingStartEvent), (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind is scalar:  # the common case first: a plain value
                size = height = 1
                if event.anchor is not None:
                    anchors[event.anchor] = (1, 1)
            elif kind in ends:
                anchor, start, tallest = open_frames.pop()
                height = tallest + 1
                if anchor is not None:
                    anchors[anchor] = (total - start, height)
                if open_frames and open_frames[-1][2] < height:
                    open_frames[-1][2] = height
                continue
            elif kind in starts:
                size, height = 1, 0
                open_frames.append([event.anchor, total, 0])
                if len(open_frames) > MAX_DEPTH:
                    refuse(event, f"lists and mappings are nested more than {MAX_DEPTH} deep", "flatten the structure; a config needs about ten levels")
            elif kind is alias:
                if any(frame[0] == event.anchor for frame in open_frames):
                    refuse(event, f"alias *{event.anchor} is used inside the list or mapping &{event.anchor} it names (a recursive structure)",
                           "repeat the values instead, or name a different anchor")
                size, height = anchors.get(event.anchor, (1, 1))  # an unknown alias is reported by the composer
                aliased = True
            else:
                if kind is doc_start:
                    anchors.clear()
                continue
            total += size
            if total > max_nodes and aliased:
                via = f" (alias *{event.anchor} adds {size:,})" if kind is alias else ""
                refuse(event, f"the YAML expands to more than {max_nodes:,} values{via}, every alias counted as a copy of what it names",
                       f"use fewer or less deeply nested aliases; if the config really is that large, raise {MAX_NODES_ENV}")
            elif total > max_nodes:
                refuse(event, f"the YAML holds more than {max_nodes:,} values (keys, values and list items), the most a config may have",
                       f"check it is the right file, or split it; if the config really is that large, raise {MAX_NODES_ENV}")
            if kind is alias and len(open_frames) + height > MAX_DEPTH:
                refuse(event, f"alias *{event.anchor} nests lists and mappings more than {MAX_DEPTH} deep", "use fewer nested aliases")
            if open_frames and height and open_frames[-1][2] < height:
                open_frames[-1][2] = height
    finally:
        loader.dispose()


_CHARACTER_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "backspace", 0x0B: "vertical tab", 0x0C: "form feed", 0x1B: "ESC",
                    0x7F: "DEL", 0x85: "NEL", 0xFEFF: "byte order mark", 0xFFFE: "reversed byte order mark"}
_ANCHOR = re.compile(r"&([^\s,\[\]{}]+)")


def _character(code: int) -> str:
    """A character as the user can search for it: \\x1b (ESC), U+FFFE."""
    shown = f"\\x{code:02x}" if code < 0x100 else f"U+{code:04X}"
    return f"{shown} ({_CHARACTER_NAMES[code]})" if code in _CHARACTER_NAMES else shown


def _reader_line(text: str, position: int) -> int:
    """The 1-based line of a reader error's position: libyaml counts UTF-8 bytes, PyYAML's own reader characters."""
    if issubclass(_Loader, getattr(yaml, "CSafeLoader", ())):
        return text.encode("utf-8", "surrogatepass")[:position].count(b"\n") + 1
    return text.count("\n", 0, position) + 1


def _malformed(file: str, exc: yaml.YAMLError, text: str) -> ConfigError:
    """One problem on one line at the file:line of the error, whatever part of PyYAML (or libyaml) raised it."""
    hint = "check indentation and quoting"
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow: its message has a position, no line
        kind = "control character" if exc.character < 0x20 or 0x7F <= exc.character < 0xA0 else "character"
        if exc.character == 0:
            hint = "a NUL usually means the file was saved as UTF-16: save it as UTF-8, or remove the character"
        else:
            hint = "remove it: a config holds plain text"
        return ConfigError([Problem(file, _reader_line(text, exc.position), "",
                                    f"malformed YAML: {kind} {_character(exc.character)} is not allowed", hint)])
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    context, first = getattr(exc, "context", None) or "", getattr(exc, "context_mark", None)
    if "duplicate anchor" in context and first is not None and mark is not None:  # libyaml does not name the anchor
        found = _ANCHOR.match(text, getattr(mark, "index", 0) or 0)
        name = f" &{found.group(1)}" if found else ""
        return ConfigError([Problem(file, line, "", f"malformed YAML: anchor{name} is defined twice (first at line {first.line + 1})",
                                    "give each anchor its own name")])
    return ConfigError([Problem(file, line, "", f"malformed YAML: {problem}", hint)])


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file; return the data and a map from key path to 1-based line number.

    Refuses (ConfigError) a file over OKR_SYNC_MAX_CONFIG_BYTES and a document whose aliases expand
    to more than OKR_SYNC_MAX_CONFIG_NODES values, before expanding anything.
    """
    file = str(path)
    max_bytes = limit_from_env(MAX_BYTES_ENV, DEFAULT_MAX_BYTES, file, maximum=MAX_MAX_BYTES)
    max_nodes = limit_from_env(MAX_NODES_ENV, DEFAULT_MAX_NODES, file)
    text = _read(Path(path), file, max_bytes)
    try:
        _bound(text, file, max_nodes)
    except yaml.YAMLError as exc:
        raise _malformed(file, exc, text) from None
    loader = _Loader(text)
    builder = _Builder(loader)
    try:
        node = loader.get_single_node()
        data = None
        if node is not None:
            builder.lines[()] = node.start_mark.line + 1
            data = builder.value(node, ())
    except yaml.YAMLError as exc:
        raise _malformed(file, exc, text) from None
    except Unreadable as exc:
        raise ConfigError([exc.problem(file)]) from None
    finally:
        loader.dispose()
    return data, builder.lines


def line_of(lines: dict[tuple, int], path: tuple) -> int | None:
    """The line of a key path, or of its nearest ancestor that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def dotted(path: tuple) -> str:
    """Render a key path the way users read it: objectives[0].key_results[1].target."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
