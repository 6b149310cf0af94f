"""The workbook's cell formats, made once per workbook, and the XF index each one has in styles.xml."""
from __future__ import annotations

from dataclasses import dataclass, field

from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook

from mapping.labels import STATUS_FILLS, STATUS_INKS

NUMBER_FORMATS = {"number": "#,##0.00", "percent": "0.0%", "score": "0.00", "datetime": "yyyy-mm-dd hh:mm",
                  "series": "#,##0.00"}
HEADER_FILL = "1F3864"
BAR_COLOUR = "5B9BD5"
MAX_INDENT = 6


def xf(fmt: Format | None) -> int:
    """The XF index of `fmt` in styles.xml (0 = the default style).

    XlsxWriter numbers a format the first time a cell uses it; rows written by our own serializer use
    formats too, so they are numbered here (the same call XlsxWriter's write_* methods make).
    """
    return 0 if fmt is None else fmt._get_xf_index()


@dataclass
class Styles:
    """Every format the Dashboard and the detail sheets use."""

    book: Workbook
    kinds: dict[str, Format] = field(default_factory=dict)
    status: dict[str, Format] = field(default_factory=dict)
    indent: list[Format] = field(default_factory=list)
    indent_bold: list[Format] = field(default_factory=list)

    def __post_init__(self) -> None:
        add = self.book.add_format
        self.header = add({"bold": True, "font_color": "#FFFFFF", "bg_color": "#" + HEADER_FILL,
                           "text_wrap": True, "valign": "vcenter"})
        self.title = add({"bold": True, "font_size": 16, "font_color": "#" + HEADER_FILL})
        self.subtitle = add({"italic": True, "font_color": "#595959"})
        self.section = add({"bold": True, "font_size": 12, "font_color": "#" + HEADER_FILL, "bottom": 1})
        self.label = add({"bold": True})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.count = add({"bold": True, "font_size": 14, "align": "center"})
        self.score = add({"num_format": "0.00"})
        self.big_score = add({"num_format": "0.00", "bold": True, "font_size": 14, "align": "left"})
        self.progress = add({"num_format": "0%"})
        self.day = add({"num_format": "yyyy-mm-dd", "align": "left"})
        self.moment = add({"num_format": "yyyy-mm-dd hh:mm", "align": "left"})
        self.right = add({"align": "right"})
        self.kinds = {kind: add({"num_format": pattern}) for kind, pattern in NUMBER_FORMATS.items()}
        self.status = {key: add({"bg_color": "#" + STATUS_FILLS[key], "font_color": "#" + STATUS_INKS[key],
                                 "bold": True, "align": "center"}) for key in STATUS_FILLS}
        self.indent = [add({"indent": depth}) for depth in range(MAX_INDENT + 1)]
        self.indent_bold = [add({"indent": depth, "bold": True}) for depth in range(MAX_INDENT + 1)]

    def for_depth(self, depth: int, bold: bool = False) -> Format:
        formats = self.indent_bold if bold else self.indent
        return formats[max(0, min(depth, MAX_INDENT))]
