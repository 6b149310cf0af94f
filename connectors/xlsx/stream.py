"""Sheet rows as SpreadsheetML text, spliced into the package XlsxWriter laid out, zipped once.

XlsxWriter writes cell by cell through its own bookkeeping (~13 µs a cell); a report of 10,000 KRs has
about half a million cells. The rows below the layout are plain data, so they are joined here as XML
text instead: inline strings (escaped, XML-illegal control characters dropped, so text from a source
is always a string and never a formula), numbers, dates as serial days, booleans. The style of each
cell is the XF index XlsxWriter gave its format (`styles.xf`), so the result reads as if XlsxWriter had
written every cell.
"""
from __future__ import annotations

import io
import math
import re
import zipfile
from datetime import date, datetime
from itertools import repeat, zip_longest
from numbers import Number
from queue import Queue
from threading import Thread
from typing import Any, BinaryIO, Iterable, Iterator, Mapping, Optional, Sequence

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_EPOCH = datetime(1899, 12, 30)
_EPOCH_DAY = _EPOCH.date().toordinal()
_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')
MAX_TEXT = 32767  # the most characters a spreadsheet cell holds; longer text would make Excel repair the file


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def xml_text(value: str) -> str:
    """Text as it may stand in an XML text node: control characters removed, & < > escaped."""
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub("", value)
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    return value


def serial(value: date | datetime) -> float:
    """A date or naive datetime as the spreadsheet serial day number (1900 date system)."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)
        return (value - _EPOCH).total_seconds() / 86400
    return float(value.toordinal() - _EPOCH_DAY)


def body(value: Any) -> str:
    """A cell element after its `<c r=".." s=".."` opening, or "" for no cell (None, "", NaN, infinity).

    Strings are always inline strings, so text from a source can never become a formula."""
    kind = type(value)
    if kind is str:
        if not value:
            return ""
        value = value[:MAX_TEXT]
        space = ' xml:space="preserve"' if value[0] in " \t\n" or value[-1] in " \t\n" else ""
        return f' t="inlineStr"><is><t{space}>{xml_text(value)}</t></is></c>'
    if kind is bool:
        return f' t="b"><v>{int(value)}</v></c>'
    if kind is float:
        return f"><v>{value!r}</v></c>" if math.isfinite(value) else ""
    if kind is int:
        return f"><v>{value}</v></c>"
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return f"><v>{serial(value)!r}</v></c>"
    if isinstance(value, Number) and not isinstance(value, complex):  # numpy numbers, Decimal, Fraction
        return body(float(value))
    return body(str(value))


def cell(ref: str, value: Any, style: int = 0) -> str:
    """One <c> element, or "" for an empty value."""
    rest = body(value)
    if not rest:
        return ""
    return f'<c r="{ref}" s="{style}"{rest}' if style else f'<c r="{ref}"{rest}'


_NUMBERS = {float, int, type(None)}
_INF = (math.inf, -math.inf)


def column_cells(letter: str, rows: Iterable[str], values: Sequence[Any], style: int | Sequence[int] = 0) -> list[str]:
    """The <c> elements of one column ("" for an empty value); `rows` are the row numbers as text (made once
    per sheet), `style` is one XF index for the column or one per row.

    The hot loop of a large workbook, so it runs as one comprehension per column: numbers are formatted
    inline; text, dates and booleans that repeat are encoded once and looked up."""
    if isinstance(style, int):
        marks: Iterable[str] = repeat(f' s="{style}"' if style else "", len(values))
    else:
        marks = [f' s="{x}"' if x else "" for x in style]
    kinds = set(map(type, values))
    if kinds <= _NUMBERS:
        return [f'<c r="{letter}{n}"{m}><v>{v!r}</v></c>' if v is not None and v == v and v not in _INF else ""
                for n, v, m in zip(rows, values, marks)]
    try:
        distinct = set(values) if not (bool in kinds and kinds & {int, float}) else set()  # True == 1: no sharing
    except TypeError:  # an unhashable value: encode one by one
        distinct = set()
    if len(distinct) * 2 < len(values):  # repeated values (owners, units, statuses, dates): encode each once
        bodies = {v: body(v) for v in distinct}
        return [f'<c r="{letter}{n}"{m}{b}' if (b := bodies[v]) else "" for n, v, m in zip(rows, values, marks)]
    return [f'<c r="{letter}{n}"{m}{b}' if (b := body(v)) else "" for n, v, m in zip(rows, values, marks)]


def row_xml(number: int, values: Sequence[Any], styles: Sequence[int], letters: Sequence[str]) -> str:
    """One `<row>` (1-based `number`) of values with their XF indexes; "" when every value is empty."""
    n = str(number)
    cells = "".join(cell(letters[c] + n, value, styles[c]) for c, value in enumerate(values)
                    if value is not None and value != "")
    return f'<row r="{n}">{cells}</row>' if cells else ""


def columns_xml(columns: Sequence[Sequence[Any]], first_row: int, styles: Sequence[int | Sequence[int]],
                first_col: int = 0) -> Iterable[str]:
    """`<row>` elements from values given column by column (all of one length), the first row at 1-based
    `first_row`; `styles[c]` is column c's XF index, or a list with one per row."""
    numbers = [str(n) for n in range(first_row, first_row + (len(columns[0]) if columns else 0))]
    cells = [column_cells(column_letter(first_col + c), numbers, values, styles[c])
             for c, values in enumerate(columns)]
    for n, row in zip(numbers, zip(*cells)):
        joined = "".join(row)
        yield f'<row r="{n}">{joined}</row>' if joined else ""


def transpose(rows: Sequence[Sequence[Any]], width: int) -> list[Sequence[Any]]:
    """Rows as `width` columns (a short row reads as empty cells, extra values are dropped)."""
    columns: list[Sequence[Any]] = list(zip_longest(*rows))[:width] if rows else []
    return columns + [(None,) * len(rows)] * (width - len(columns))


def _parts(sheet_xml: str, dimension: str) -> tuple[str, str]:
    """A worksheet's XML split where streamed rows go (the end of <sheetData>), with its used range set."""
    sheet_xml = _DIMENSION.sub(f'<dimension ref="{dimension}"/>', sheet_xml, count=1)
    if "<sheetData/>" in sheet_xml:
        head, tail = sheet_xml.split("<sheetData/>", 1)
        return head + "<sheetData>", "</sheetData>" + tail
    head, tail = sheet_xml.split("</sheetData>", 1)
    return head, "</sheetData>" + tail


def repackage(laid_out: bytes, extra_rows: Mapping[str, tuple[Iterable[str], str]], out: BinaryIO,
              level: int = 1, batch: int = 2000) -> None:
    """Copy XlsxWriter's package to `out`, streaming the extra rows into the named sheet parts.

    `extra_rows` maps a part name (xl/worksheets/sheet2.xml) to (row elements, new dimension ref).
    Every part is deflated once at a low level: sheet XML still compresses ~10x at level 1.
    """
    with zipfile.ZipFile(io.BytesIO(laid_out)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry._compresslevel = level  # ZipFile.open(ZipInfo) takes the level from the entry (3.10-3.13)
            entry.external_attr = info.external_attr
            data = source.read(info.filename)
            if info.filename not in extra_rows:
                target.writestr(entry, data)
                continue
            rows, dimension = extra_rows[info.filename]
            head, tail = _parts(data.decode("utf-8"), dimension)
            with target.open(entry, "w") as part:  # no zip64: a sheet part stays far below 2 GiB, old readers lack it
                _write_overlapped(part, _chunks(head, rows, tail, batch))


def _chunks(head: str, rows: Iterable[str], tail: str, batch: int) -> Iterator[bytes]:
    """The sheet part as UTF-8 byte chunks of `batch` rows."""
    yield head.encode("utf-8")
    chunk: list[str] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            yield "".join(chunk).encode("utf-8")
            chunk.clear()
    yield ("".join(chunk) + tail).encode("utf-8")


def _write_overlapped(part: BinaryIO, chunks: Iterator[bytes]) -> None:
    """Write chunks from a second thread: deflate and CRC release the GIL, so compressing one chunk overlaps
    building the next (on two cores the zip costs almost nothing extra)."""
    queue: Queue[Optional[bytes]] = Queue(maxsize=4)
    failure: list[BaseException] = []

    def writer() -> None:
        while (chunk := queue.get()) is not None:
            if not failure:
                try:
                    part.write(chunk)
                except BaseException as exc:  # handed to the caller below
                    failure.append(exc)

    thread = Thread(target=writer, name="xlsx-deflate", daemon=True)
    thread.start()
    try:
        for chunk in chunks:
            if failure:
                break
            queue.put(chunk)
    finally:
        queue.put(None)
        thread.join()
    if failure:
        raise failure[0]
