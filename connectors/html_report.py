"""The HTML report: the dashboard as one self-contained page, written atomically.

One file a manager can open anywhere, mail, or print: inline CSS and inline SVG only, no script, no
font, image or stylesheet from the network (a Content-Security-Policy meta tag makes the browser
refuse any fetch, should one ever slip in). It shows what the workbook's dashboard shows: title,
period, as-of time and overall score, counts per status, the alignment tree with each objective's
score as a bar, and per KR its status, current vs target, progress, change, owner, a small trend
chart and the "why" (source, query, last update, stale reason) in a <details> element.

The page is built with `html.escape` and string joins rather than a template engine: every piece of
text from a config or a source goes through `_e` (quotes included, so it is safe in attributes too),
and 10,000 KRs render in a fraction of a second. On a narrow screen the KR table turns into one card
per KR; in print there are no shadows, rows are not split across pages, and pages are landscape.
"""
from __future__ import annotations

import html
import math
import re
from datetime import date, datetime
from functools import lru_cache
from operator import add
from pathlib import Path
from typing import Optional, Sequence
from urllib.parse import quote

from connectors.atomic import OutputError, atomic_output
from mapping.dashboard import Dashboard, KRLine, ObjectiveLine
from mapping.labels import STATUS_FILLS, STATUS_INKS, STATUS_LABELS, format_number

_SPECIAL = re.compile(r"[&<>\"']")


@lru_cache(maxsize=4096)  # owners, sources, queries and units repeat on every row
def _e(text: str) -> str:
    """`html.escape` (quotes included: safe in text and in double-quoted attributes), skipped for text with nothing to escape."""
    return html.escape(text) if _SPECIAL.search(text) else text


# the trend chart's drawing box (SVG user units = CSS px)
TREND_WIDTH, TREND_HEIGHT, TREND_PAD = 120, 32, 3
_Y = tuple(f"{tenths / 10:.1f}" for tenths in range(TREND_HEIGHT * 10 + 1))  # y coordinates as text, by tenths

_STATUS_CSS = "".join(
    f".s-{key}{{background:#{STATUS_FILLS[key]};color:#{STATUS_INKS[key]}}}"
    f".bar.s-{key}>i{{background:#{STATUS_INKS[key]}}}"
    f"svg.s-{key}{{background:none;color:#{STATUS_INKS[key]}}}"
    for key in STATUS_FILLS)

CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:#f4f5f7;color:#1d2433;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 -webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1320px;margin:0 auto;padding:20px 16px 40px}
h1{font-size:1.6rem;line-height:1.2;margin:0 0 4px;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:0 0 10px}
section,header.top{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:16px;margin:0 0 16px}
.muted,.sub{color:#5f6b7a}
.sub{font-size:.85em}
header.top{display:flex;flex-wrap:wrap;gap:16px;justify-content:space-between;align-items:center}
.overall{text-align:right}
.overall .score{font-size:2.4rem;font-weight:700;line-height:1}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-weight:600;font-size:.85em;white-space:nowrap}
ul.counts{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:8px}
ul.counts li{border-radius:6px;padding:6px 12px;min-width:92px}
ul.counts b{display:block;font-size:1.4rem;line-height:1.1}
ol.tree{list-style:none;margin:0;padding:0}
ol.tree li{display:grid;grid-template-columns:minmax(0,1fr) 260px;gap:4px 16px;align-items:center;
 padding:6px 0 6px calc(var(--d,0) * 22px);border-top:1px solid #eceef1}
ol.tree li:first-child{border-top:0}
ol.tree .lvl{font-size:.75em;text-transform:uppercase;letter-spacing:.04em;color:#5f6b7a;margin-right:6px}
ol.tree li:not([data-depth="0"])>div:first-child::before{content:"\\21B3  ";color:#9aa4b2}
.meter{display:flex;align-items:center;gap:8px;flex-wrap:wrap}
.bar{position:relative;display:inline-block;width:120px;height:10px;border-radius:5px;overflow:hidden;vertical-align:middle;flex:none}
.bar>i{position:absolute;left:0;top:0;bottom:0;border-radius:5px}
.bar>u{position:absolute;top:-2px;bottom:-2px;width:2px;background:#1d2433;opacity:.55}
a{color:inherit}
table.krs{width:100%;border-collapse:collapse;table-layout:fixed}
col.c-k{width:32%}col.c-s{width:11%}col.c-n{width:13%}col.c-p{width:15%}col.c-c{width:10%}col.c-t{width:136px}col.c-o{width:10%}
table.krs th,table.krs td{text-align:left;vertical-align:top;padding:8px 8px;border-top:1px solid #eceef1}
table.krs thead th{font-size:.8em;text-transform:uppercase;letter-spacing:.04em;color:#5f6b7a;border-top:0}
table.krs tr.grp th{background:#f0f2f5;font-size:.95em;padding:6px 8px}
.kid{font:12px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#5f6b7a;display:block}
.ktitle{font-weight:600;overflow-wrap:anywhere}
td.num{overflow-wrap:anywhere}
.bar+b,.num .bar{margin-right:4px}
.num .bar{width:84px}
.nw{white-space:nowrap}
svg.trend{display:block;width:120px;height:32px;overflow:visible}
svg.trend polyline{fill:none;stroke:currentColor;stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}
svg.trend circle{fill:currentColor}
details{margin-top:4px}
details summary{cursor:pointer;color:#3c5a99;white-space:nowrap;font-size:.9em}
details dl{margin:6px 0 0;display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 10px;font-size:.9em}
details dt{color:#5f6b7a}
details dd{margin:0;overflow-wrap:anywhere;min-width:0}
details pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f7f9;padding:4px 6px;border-radius:4px;max-height:14em;overflow:auto}
.err{color:#9c0006}
footer{color:#5f6b7a;font-size:.85em;text-align:center}
@media (max-width:760px){
 main{padding:10px 8px 24px}
 h1{font-size:1.3rem}
 section,header.top{padding:12px}
 .overall{text-align:left}
 ol.tree li{grid-template-columns:minmax(0,1fr);padding-left:calc(var(--d,0) * 14px)}
 table.krs colgroup{display:none}
 table.krs,table.krs tbody,table.krs tr,table.krs td,table.krs th{display:block;width:100%}
 table.krs thead{display:none}
 table.krs tr.grp th{border-radius:6px;margin-top:10px}
 table.krs tr.kr{border:1px solid #dfe3e8;border-radius:8px;margin:8px 0;padding:4px 0}
 table.krs td{border-top:0;padding:4px 10px;display:grid;grid-template-columns:7.5em minmax(0,1fr);gap:8px}
 table.krs td::before{color:#5f6b7a;font-size:.85em}
 table.krs td:nth-child(2)::before{content:"Status"}table.krs td:nth-child(3)::before{content:"Current / target"}
 table.krs td:nth-child(4)::before{content:"Progress"}table.krs td:nth-child(5)::before{content:"Change"}
 table.krs td:nth-child(6)::before{content:"Trend"}table.krs td:nth-child(7)::before{content:"Owner"}
 table.krs td.k{display:block}
}
@media print{
 @page{size:landscape;margin:10mm}
 body{background:#fff;font-size:11px}
 main{max-width:none;padding:0}
 section,header.top{box-shadow:none !important;border:1px solid #dfe3e8;padding:8px;margin-bottom:8px}
 *{box-shadow:none !important;text-shadow:none !important}
 tr,li,.counts li,header.top{break-inside:avoid;page-break-inside:avoid}
 thead{display:table-header-group}
 h2,tr.grp{break-after:avoid;page-break-after:avoid}
 details summary{color:#5f6b7a}
 details pre{max-height:none;overflow:visible}
}
""".replace("\n", "") + _STATUS_CSS

# the page may fetch nothing: styles are inline, images are inline SVG, there is no script
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _pct(fraction: Optional[float]) -> str:
    return "" if fraction is None else f"{round(fraction * 100)}%"


def _width(fraction: Optional[float]) -> str:
    """A bar width in percent, clipped to 0..100."""
    if fraction is None or not math.isfinite(fraction):
        return "0"
    return f"{max(0.0, min(1.0, fraction)) * 100:.1f}"


def _when(moment: Optional[datetime], timezone: str) -> str:
    return "" if moment is None else f"{moment.isoformat(' ', 'minutes')} {timezone}"


def _score(score: Optional[float]) -> str:
    return "—" if score is None else f"{score:.2f}"


def _bar(key: str, fraction: Optional[float], expected: Optional[float] = None) -> str:
    """A progress bar: the track in the status's fill colour, the bar in its ink, a tick at the expected progress."""
    tick = f'<u style="left:{_width(expected)}%"></u>' if expected is not None else ""
    return f'<span class="bar s-{key}" aria-hidden="true"><i style="width:{_width(fraction)}%"></i>{tick}</span>'


class DayAxis:
    """The x position (as SVG text "x,") of each day on the dashboard's shared day axis, worked out once per page."""

    def __init__(self, days: Sequence[date]):
        self.first = days[0] if days else None
        self.span = (days[-1] - days[0]).days if days else 0
        self.xs = {day: self._position(day) for day in days}
        self._rows: dict[tuple[date, ...], list[str]] = {}

    def _position(self, day: date) -> str:
        inner = TREND_WIDTH - 2 * TREND_PAD
        if self.first is None or self.span <= 0:
            return f"{TREND_PAD + inner / 2:.1f},"
        return f"{TREND_PAD + inner * (day - self.first).days / self.span:.1f},"

    def row(self, days: tuple[date, ...]) -> list[str]:
        """The x texts of a KR's days (KRs mostly share the same days: worked out once per distinct tuple).

        Days the axis lacks (a trend not from `build_dashboard`) are drawn on an axis of the KR's own days.
        """
        row = self._rows.get(days)
        if row is None:
            xs = self.xs
            row = [xs[day] for day in days] if all(day in xs for day in days) else DayAxis(days).row(days)
            self._rows[days] = row
        return row


def trend_svg(kr: KRLine, axis: Optional[DayAxis] = None) -> str:
    """The KR's recorded values as a small inline SVG line (x: the shared day axis, y: the KR's own range).

    One value is a dot, no value says "no history yet"; the newest value is always marked with a dot.
    """
    points = kr.trend
    if not points:
        return '<span class="sub">no history yet</span>'
    days, values = zip(*points)
    if not all(map(math.isfinite, values)):  # never happens from the scorer; a NaN must not break the drawing
        points = tuple((day, value) for day, value in points if math.isfinite(value))
        if not points:
            return '<span class="sub">no history yet</span>'
        days, values = zip(*points)
    if axis is None:
        axis = DayAxis(days)
    low, high = min(values), max(values)
    inner_h = TREND_HEIGHT - 2 * TREND_PAD
    # y in tenths of a unit, as an index into _Y (formatting floats is the slowest part of a large report)
    scale = 10 * inner_h / (high - low) if high > low else 0.0
    offset = 10 * (TREND_PAD if high > low else TREND_PAD + inner_h / 2) + high * scale + 0.5
    coords = list(map(add, axis.row(days), [_Y[int(offset - value * scale)] for value in values]))
    line = f'<polyline points="{" ".join(coords)}"/>' if len(coords) > 1 else ""
    cx, cy = coords[-1].split(",")
    label = _e(f"{kr.kr_id}: {len(points)} recorded value{'s' if len(points) > 1 else ''}, "
               f"{points[0][0]} to {points[-1][0]}")
    return (f'<svg class="trend s-{kr.status}" viewBox="0 0 {TREND_WIDTH} {TREND_HEIGHT}" width="{TREND_WIDTH}" '
            f'height="{TREND_HEIGHT}" role="img"><title>{label}</title>'
            f'{line}<circle cx="{cx}" cy="{cy}" r="2.6"/></svg>')


def _objective(line: ObjectiveLine) -> str:
    measured = f"{line.measured} of {line.total} KRs measured"
    owner = f' <span class="sub">· {_e(line.owner)}</span>' if line.owner else ""
    return (f'<li style="--d:{line.depth}" data-objective="{_e(line.id)}" data-depth="{line.depth}">'
            f'<div><span class="lvl">{_e(line.level_label)}</span>'
            f'<a href="#o-{_e(quote(line.id, safe=""))}">{_e(line.title)}</a>{owner}</div>'
            f'<div class="meter">{_bar(line.status, line.score)}<b>{_score(line.score)}</b>'
            f'<span class="badge s-{line.status}">{_e(line.status_label)}</span>'
            f'<span class="sub">{measured}</span></div></li>')


def _why(kr: KRLine, timezone: str) -> str:
    """The "why" of a KR's value; open by default when its source failed, so the reason is seen."""
    source = _e(kr.source) or '<span class="sub">none (not measured)</span>'
    query = f"<dt>Query</dt><dd><pre>{_e(kr.query)}</pre></dd>" if kr.query else ""
    updated = _e(_when(kr.last_update, timezone)) or '<span class="sub">never</span>'
    stale = f"<dt>Stale since</dt><dd>{_e(_when(kr.stale_since, timezone))}</dd>" if kr.stale_since is not None else ""
    reason = f'<dt>Reason</dt><dd class="err">{_e(kr.stale_reason)}</dd>' if kr.stale_reason else ""
    return (f'<details{" open" if kr.stale_reason else ""}><summary>Why this value</summary><dl>'
            f"<dt>Source</dt><dd>{source}</dd>{query}<dt>Last update</dt><dd>{updated}</dd>{stale}{reason}"
            f"<dt>Baseline</dt><dd>{_e(format_number(kr.baseline, kr.unit)) or '—'}</dd>"
            f"<dt>Score</dt><dd>{_score(kr.score)}</dd><dt>Expected</dt><dd>{_pct(kr.expected)}</dd></dl></details>")


def _kr(kr: KRLine, axis: DayAxis, timezone: str) -> str:
    kind = f"{kr.type_label} · {'committed' if kr.committed else 'aspirational'}"
    current = _e(kr.current_text) or "—"
    target = _e(kr.target_text) or "—"
    stale = (f'<div class="sub err">since <span class="nw">{_e(_when(kr.stale_since, timezone))}</span></div>'
             if kr.stale_since is not None and kr.status == "stale" else "")
    change_text = kr.change_text
    basis = "check-in " if kr.change_basis == "check-in" else ""
    change = (f'{_e(change_text)}<div class="sub">since {basis}<span class="nw">{kr.change_since}</span></div>'
              if change_text and kr.change_since else '<span class="sub">—</span>')
    progress = ("—" if kr.progress is None else
                f'{_bar(kr.status, kr.progress, kr.expected)} {_pct(kr.progress)}'
                f'<div class="sub">expected {_pct(kr.expected)}</div>')
    return (f'<tr class="kr" id="kr-{_e(kr.kr_id)}" data-kr="{_e(kr.kr_id)}" data-status="{kr.status}">'
            f'<td class="k"><span class="kid">{_e(kr.kr_id)}</span>'
            f'<span class="ktitle">{_e(kr.title)}</span><div class="sub">{_e(kind)}</div>{_why(kr, timezone)}</td>'
            f'<td><div><span class="badge s-{kr.status}">{_e(kr.status_label)}</span>{stale}</div></td>'
            f'<td class="num"><div><b>{current}</b> <span class="sub">/ {target}</span></div></td>'
            f'<td class="num"><div>{progress}</div></td>'
            f'<td class="num"><div>{change}</div></td>'
            f'<td><div>{trend_svg(kr, axis)}</div></td>'
            f'<td><div>{_e(kr.owner) or "—"}</div></td></tr>')


def _kr_table(dashboard: Dashboard) -> str:
    axis = DayAxis(dashboard.days)
    parts = ['<table class="krs"><colgroup><col class="c-k"><col class="c-s"><col class="c-n"><col class="c-p">'
             '<col class="c-c"><col class="c-t"><col class="c-o"></colgroup><thead><tr><th scope="col">Key result</th><th scope="col">Status</th>'
             '<th scope="col">Current / target</th><th scope="col">Progress</th><th scope="col">Change</th>'
             '<th scope="col">Trend</th><th scope="col">Owner</th></tr></thead>']
    group = None
    for kr in dashboard.krs:
        if kr.objective_id != group:
            if group is not None:
                parts.append("</tbody>")
            group = kr.objective_id
            parts.append(f'<tbody id="o-{_e(kr.objective_id)}"><tr class="grp"><th colspan="7" scope="colgroup">'
                         f'{_e(kr.objective_title)}</th></tr>')
        parts.append(_kr(kr, axis, dashboard.timezone))
    if group is not None:
        parts.append("</tbody>")
    parts.append("</table>")
    return "".join(parts)


def render_html(dashboard: Dashboard, title: Optional[str] = None) -> str:
    """The whole page as text (every string from the config or a source escaped)."""
    heading = title or dashboard.title
    overall = dashboard.overall_status
    counts = "".join(f'<li class="s-{c.key}" data-status="{c.key}"><b>{c.count}</b>{_e(c.label)}</li>'
                     for c in dashboard.counts)
    tree = ("".join(_objective(line) for line in dashboard.objectives)
            or '<li class="sub">No objectives in this config.</li>')
    krs = _kr_table(dashboard) if dashboard.krs else '<p class="sub">No key results in this config.</p>'
    generated = f"{dashboard.as_of:%Y-%m-%d %H:%M} {dashboard.timezone}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f'<title>{_e(heading)}</title><style>{CSS}</style></head><body><main>'
        f'<header class="top"><div><h1>{_e(heading)}</h1><div class="muted">{_e(dashboard.subtitle)}</div></div>'
        f'<div class="overall"><div class="sub">Overall score (0–1)</div><div class="score">{_score(dashboard.overall_score)}</div>'
        f'<span class="badge s-{overall}">{_e(STATUS_LABELS.get(overall, overall))}</span></div></header>'
        f'<section class="status"><h2>Key results by status</h2><ul class="counts">{counts}</ul></section>'
        f'<section class="alignment"><h2>Objectives (alignment)</h2><ol class="tree">{tree}</ol></section>'
        f'<section class="krs"><h2>Key results ({len(dashboard.krs)})</h2>{krs}</section>'
        f'<footer>okr-sync · as of {_e(generated)} · a self-contained page: nothing is loaded from the network</footer>'
        '</main></body></html>\n')


def write_html(dashboard: Optional[Dashboard], path: Path | str,
               title: Optional[str] = None) -> Path:
    """Write the report to `path` atomically (the previous file stays on any failure) and return the path."""
    path = Path(path)
    if dashboard is None:
        raise OutputError(f"cannot write HTML report {path}: no dashboard was built for this run; run a sync (not a preview)")
    data = render_html(dashboard, title).encode("utf-8", "replace")
    with atomic_output(path, "HTML report") as handle:
        handle.write(data)
    return path
