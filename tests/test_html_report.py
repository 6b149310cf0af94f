"""The HTML report: self-contained, escaped, atomic, and checked the way a person sees it (in headless Chromium).

The page under test comes from a real sync of the factory example (SQLite + an .xlsx file), run on three
days so trends have points, with the quality workbook gone on the last day so three KRs are stale with
their reason, and a KR title and report title that carry HTML.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import yaml

from connectors.atomic import OutputError
from connectors.html_report import TREND_HEIGHT, TREND_PAD, DayAxis, render_html, trend_svg, write_html
from flows.example_data import make_factory
from flows.pipeline import run_sync
from mapping.dashboard import Dashboard, KRLine, ObjectiveLine, StatusCount
from mapping.labels import STATUS_FILLS, STATUS_INKS, STATUS_LABELS, STATUS_ORDER
from mapping.loader import load_config
from mapping.period import Period

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.yaml"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
HOSTILE = "<script>alert(1)</script>"
REPORT_TITLE = f'Factory OKRs {HOSTILE} & "Q4"'
BROWSER_TIMEOUT = 90


# ---------------------------------------------------------------- a real sync with an html output

@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """(outcome of the last sync, the config) — the report is at out/okr-report.html next to the config."""
    folder = tmp_path_factory.mktemp("factory")
    spec = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    spec["outputs"] = [{"kind": "html", "path": "out/okr-report.html", "title": REPORT_TITLE}]
    spec["objectives"][0]["key_results"][0]["title"] = f"Defect rate {HOSTILE} at or below 0.5%"
    (folder / "okrs.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    make_factory(folder / "data", date(2026, 11, 27))
    for days_before in (2, 1):
        assert run_sync(load_config(folder / "okrs.yaml"), NOW - timedelta(days=days_before)).ok
    (folder / "data" / "quality.xlsx").rename(folder / "data" / "quality-moved.xlsx")  # its KRs go stale today
    config = load_config(folder / "okrs.yaml")
    outcome = run_sync(config, NOW)
    assert not outcome.ok  # the quality source failed; the outputs are still written
    return outcome, config


@pytest.fixture(scope="module")
def report(synced) -> Path:
    outcome, config = synced
    return config.resolve_path("out/okr-report.html")


class Page(HTMLParser):
    """The parts of a report page the tests read: KR rows, status badges, elements seen, all text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.rows: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []  # (tag, attribute, value) of every element
        self.text: list[str] = []
        self.title = ""
        self._in_title = False
        self._badge_row: dict[str, str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.attrs.extend((tag, name, value or "") for name, value in attrs)
        attrs = dict(attrs)
        self.tags.append(tag)
        self._in_title = tag == "title" and not self.title and "svg" not in self.tags
        if tag == "tr" and "data-kr" in attrs:
            self.rows.append({"id": attrs["data-kr"], "status": attrs.get("data-status", "")})
        if tag == "span" and "badge" in (attrs.get("class") or "").split() and self.rows and "label" not in self.rows[-1]:
            self._badge_row = self.rows[-1]

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title:
            self.title += data
        if self._badge_row is not None:
            self._badge_row["label"] = data
            self._badge_row = None

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False


def test_a_sync_writes_the_report_and_publish_returns_its_path(synced, report):
    outcome, config = synced
    assert outcome.written == [report] and report.is_file()
    page = Page(report.read_text(encoding="utf-8"))
    assert page.title == REPORT_TITLE
    dashboard = outcome.dashboard
    assert [row["id"] for row in page.rows] == [kr.kr_id for kr in dashboard.krs]
    assert set(row["id"] for row in page.rows) == set(outcome.results)
    assert [row["label"] for row in page.rows] == [kr.status_label for kr in dashboard.krs]
    assert sum(row["status"] == "stale" for row in page.rows) == 3  # nps, complaint-closure, 8d-rollout


def test_the_report_shows_what_the_dashboard_holds(synced, report):
    outcome, _ = synced
    dashboard = outcome.dashboard
    text = report.read_text(encoding="utf-8")
    assert "Period 2026-Q4" in text and "as of 2026-11-28 09:00 Europe/Berlin" in text
    assert f'<div class="score">{dashboard.overall_score:.2f}</div>' in text
    for count in dashboard.counts:
        assert f'<li class="s-{count.key}" data-status="{count.key}"><b>{count.count}</b>{count.label}</li>' in text
    # the alignment tree, in order, with depth and each objective's score bar
    tree = re.findall(r'<li style="--d:(\d)" data-objective="([^"]+)"', text)
    assert tree == [(str(line.depth), line.id) for line in dashboard.objectives]
    assert [int(d) for d, _ in tree][:2] == [0, 1]
    for line in dashboard.objectives:
        assert f'<b>{line.score:.2f}</b><span class="badge s-{line.status}">' in text
    defect = next(kr for kr in dashboard.krs if kr.kr_id == "defect-rate")
    assert defect.current_text in text and "/ ≤ 0.50%" in text
    assert f"{defect.change_text}<div class=\"sub\">since <span class=\"nw\">2026-11-27</span>" in text
    # trends: three recorded days for fresh KRs, two for the stale ones (no value today)
    assert text.count("<polyline") == len(dashboard.krs)
    assert "3 recorded values" in text and "2 recorded values" in text
    # the why: source, query, last update, and the stale reason in an open <details>
    assert text.count("<details open>") == 3 and text.count("<details>") == len(dashboard.krs) - 3
    assert "quality.xlsx not found" in text and "Stale since" in text
    assert "SELECT 100.0 * SUM(defects) / SUM(produced) FROM production" in text


def test_the_report_is_self_contained_responsive_and_printable(report):
    text = report.read_text(encoding="utf-8")
    links = [value for _, name, value in Page(text).attrs if name in ("src", "href", "srcset", "action", "data")]
    assert links and all(value.startswith("#") for value in links)  # in-page links (tree -> KRs) only
    assert not re.search(r"""(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert not re.search(r"<script|<link|<iframe|<img|<object|<embed|@import|url\s*\(", text, re.I)
    assert re.search(r"<style>", text) and text.count("<svg") > 0
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "@media (max-width:760px)" in text and "table.krs thead{display:none}" in text
    print_css = text[text.index("@media print"):]
    assert "box-shadow:none" in print_css and "break-inside:avoid" in print_css and "size:landscape" in print_css


# ---------------------------------------------------------------- synthetic dashboards

def kr_line(**changes) -> KRLine:
    base = KRLine("o1", "Objective one", "kr1", "Ship it", "Ana", "increase", "Increase", True, "%", 10.0, 90.0, 50.0,
                  0.5, 0.5, 0.6, "at_risk", "At risk", 2.0, date(2026, 11, 27),
                  ((date(2026, 11, 26), 46.0), (date(2026, 11, 27), 48.0), (date(2026, 11, 28), 50.0)),
                  "mes", "SELECT 1", datetime(2026, 11, 28, 9), None, "")
    return dataclasses.replace(base, **changes)


def dashboard_of(krs: list[KRLine], objectives: list[ObjectiveLine] | None = None, title: str = "OKRs") -> Dashboard:
    counts = tuple(StatusCount(k, STATUS_LABELS[k], sum(kr.status == k for kr in krs), STATUS_FILLS[k], STATUS_INKS[k])
                   for k in STATUS_ORDER)
    objectives = objectives if objectives is not None else [
        ObjectiveLine("o1", "Objective one", "company", "Company", "CEO", 0, 0.5, 0.5, "at_risk", "At risk", 1, 1)]
    days = tuple(sorted({day for kr in krs for day, _ in kr.trend}))
    return Dashboard(title, "ws", Period("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)), datetime(2026, 11, 28, 9),
                     "UTC", 0.63, 0.5, "at_risk", counts, tuple(objectives), tuple(krs), days)


def test_every_text_from_config_and_sources_is_escaped():
    evil = HOSTILE + "\"'><img src=//evil.example/x onerror=alert(2)>"
    kr = kr_line(kr_id='kr"1', title=evil, owner=evil, unit=evil, source=evil, query=evil, stale_reason=evil,
                 objective_title=evil, status="stale", status_label="Stale", stale_since=datetime(2026, 11, 28, 8))
    objective = ObjectiveLine('o"1', evil, "team", evil, evil, 0, 0.5, 0.5, "stale", "Stale", 1, 1)
    text = render_html(dashboard_of([kr], [objective], title=evil), title=None)
    assert "<script" not in text and "<img" not in text and "onerror=alert(2)>" not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 9
    page = Page(text)
    assert "script" not in page.tags and "img" not in page.tags
    assert page.title == evil  # the browser reads the original text back
    assert page.rows == [{"id": 'kr"1', "status": "stale", "label": "Stale"}]
    assert sum(evil in chunk for chunk in page.text) >= 8
    assert not [a for a in page.attrs if a[1] in ("src", "href") and not a[2].startswith("#")]
    assert not [a for a in page.attrs if a[1].startswith("on")]


def test_the_title_option_replaces_the_dashboard_title():
    text = render_html(dashboard_of([kr_line()], title="Default title"), title="Board pack")
    assert "<title>Board pack</title>" in text and "<h1>Board pack</h1>" in text and "Default title" not in text


def test_an_empty_config_still_renders():
    text = render_html(dashboard_of([], objectives=[]))
    assert "No key results in this config." in text and "No objectives in this config." in text


def _points(svg: str) -> list[tuple[float, float]]:
    match = re.search(r'<polyline points="([^"]+)"', svg)
    return [tuple(map(float, pair.split(","))) for pair in match.group(1).split()] if match else []


def test_trend_chart_edge_cases():
    assert trend_svg(kr_line(trend=())) == '<span class="sub">no history yet</span>'
    one = trend_svg(kr_line(trend=((date(2026, 11, 28), 5.0),)))
    assert "<svg" in one and "<polyline" not in one and '<circle cx="60.0" cy="16.0"' in one and "1 recorded value," in one
    flat = _points(trend_svg(kr_line(trend=((date(2026, 11, 27), 5.0), (date(2026, 11, 28), 5.0)))))
    assert flat == [(3.0, 16.0), (117.0, 16.0)]
    nan = trend_svg(kr_line(trend=((date(2026, 11, 26), 1.0), (date(2026, 11, 27), float("nan")), (date(2026, 11, 28), 3.0))))
    assert _points(nan) == [(3.0, TREND_HEIGHT - TREND_PAD), (117.0, float(TREND_PAD))] and "2 recorded values" in nan


def test_trend_uses_the_shared_day_axis_and_the_krs_own_range():
    axis = DayAxis([date(2026, 11, 20) + timedelta(days=i) for i in range(9)])  # 20th..28th
    kr = kr_line(trend=((date(2026, 11, 24), 10.0), (date(2026, 11, 26), 30.0), (date(2026, 11, 28), 20.0)))
    points = _points(trend_svg(kr, axis))
    assert [x for x, _ in points] == [60.0, 88.5, 117.0]  # a late start is drawn late, not stretched
    assert [y for _, y in points] == [29.0, 3.0, 16.0]  # highest value at the top
    off_axis = _points(trend_svg(kr, DayAxis([date(2026, 1, 1)])))  # days the axis lacks: the KR's own axis
    assert [x for x, _ in off_axis] == [3.0, 60.0, 117.0]


# ---------------------------------------------------------------- writing the file

def test_written_atomically_with_normal_permissions(tmp_path):
    path = write_html(dashboard_of([kr_line()]), tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert os.listdir(path.parent) == ["report.html"]


def test_a_failed_write_leaves_the_previous_report_and_no_temp_file(tmp_path):
    path = write_html(dashboard_of([kr_line(title="old")]), tmp_path / "report.html")
    before = path.read_bytes()
    with mock.patch("connectors.atomic.os.replace", side_effect=OSError(28, "No space left on device")):
        with pytest.raises(OutputError) as error:
            write_html(dashboard_of([kr_line(title="new")]), path)
    message = str(error.value)
    assert "HTML report" in message and "previous file was left unchanged" in message and "\n" not in message
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["report.html"]


def test_an_unwritable_path_and_a_missing_dashboard_are_one_line_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=r"^cannot write HTML report .*out\.html: .*check the output path"):
        write_html(dashboard_of([kr_line()]), blocker / "out.html")
    with pytest.raises(OutputError, match="no dashboard"):
        write_html(None, tmp_path / "out.html")


# ---------------------------------------------------------------- in a real browser

def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """Chromium's path; skip without it, or fail when OKR_SYNC_REQUIRE_SERVICES=1 (CI installs it)."""
    found = find_chromium()
    if found:
        return found
    reason = "chromium not found on PATH (Debian: apt-get install chromium); the HTML report was not checked in a browser"
    if os.environ.get("OKR_SYNC_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, but OKR_SYNC_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


def test_a_missing_chromium_skips_or_fails_when_required(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("OKR_SYNC_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium not found"):
        require_chromium()
    monkeypatch.setenv("OKR_SYNC_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="OKR_SYNC_REQUIRE_SERVICES=1 requires it"):
        require_chromium()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Run headless Chromium on a file: browser(args..., url) -> stdout."""
    executable = require_chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")

    def run(*args: str) -> str:
        command = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout
    return run


def decode_png(path: Path, max_rows: int | None = None) -> tuple[int, int, list[bytes]]:
    """Width, height and the first `max_rows` pixel rows (RGB(A), 8 bit) of a PNG, unfiltered, with zlib and struct only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, [], None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    stride = width * channels
    rows_wanted = height if max_rows is None else min(height, max_rows)
    raw = zlib.decompressobj().decompress(b"".join(idat), rows_wanted * (stride + 1))
    rows, previous = [], bytearray(stride)
    for r in range(rows_wanted):
        kind, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, previous))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = previous[i], previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def colours(rows: list[bytes], channels: int = 3) -> set[bytes]:
    return {row[i:i + 3] for row in rows for i in range(0, len(row), channels)}


def test_chromium_renders_the_report_dom(synced, report, browser):
    outcome, _ = synced
    page = Page(browser("--dump-dom", report.as_uri()))
    assert page.title == REPORT_TITLE
    assert [row["id"] for row in page.rows] == [kr.kr_id for kr in outcome.dashboard.krs]
    assert [row["label"] for row in page.rows] == [kr.status_label for kr in outcome.dashboard.krs]
    assert {row["label"] for row in page.rows} >= {"Stale"}
    assert "script" not in page.tags  # the KR title's <script> is text on the page, not an element
    assert any(f"Defect rate {HOSTILE} at or below 0.5%" == chunk for chunk in page.text)
    assert page.tags.count("svg") == len(outcome.dashboard.krs) and "details" in page.tags


def _check_screenshot(path: Path, width: int, height: int) -> set[bytes]:
    w, h, rows = decode_png(path, max_rows=700)
    assert (w, h) == (width, height)
    seen = colours(rows)
    assert len(seen) >= 20, f"the screenshot looks blank: {len(seen)} colours"
    fills = {bytes.fromhex(STATUS_FILLS[key]) for key in STATUS_ORDER}
    assert len(seen & fills) >= 4, "the status colours of the counts are not on screen"
    return seen


def test_chromium_screenshot_on_a_desktop_window(report, browser, tmp_path):
    shot = tmp_path / "desktop.png"
    browser(f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri())
    _check_screenshot(shot, 1200, 1600)


def test_chromium_screenshot_on_a_phone_has_no_sideways_scrolling(report, browser, tmp_path):
    shot = tmp_path / "phone.png"
    browser(f"--screenshot={shot}", "--window-size=390,1600", report.as_uri())
    _check_screenshot(shot, 390, 1600)
    # how wide the page lays out on a 390 px screen: a copy with a measuring script (the report itself has
    # none, and its Content-Security-Policy would block one). Headless Chromium's window is at least 500 px
    # wide for --dump-dom, so the script narrows the page to 390 px itself, then finds the rightmost element.
    probe = tmp_path / "probe.html"
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", report.read_text(encoding="utf-8"))
    script = ("<script>document.documentElement.style.width = '390px';"
              "const right = Math.max(...[...document.body.querySelectorAll('*')].map(e => e.getBoundingClientRect().right));"
              "document.title = 'right=' + Math.ceil(right) + ' cards=' + getComputedStyle(document.querySelector('tr.kr')).display;"
              "</script></body>")
    probe.write_text(text.replace("</body>", script), encoding="utf-8")
    measured = Page(browser("--dump-dom", "--window-size=390,1600", probe.as_uri())).title
    right, cards = re.fullmatch(r"right=(\d+) cards=(\w+)", measured).groups()
    assert cards == "block" and int(right) <= 390, measured  # one card per KR, nothing wider than the phone


def test_chromium_prints_the_report_on_landscape_pages(report, browser, tmp_path):
    pdf = tmp_path / "report.pdf"
    browser(f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report.as_uri())
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf.read_bytes())
    assert boxes and all(float(width) > float(height) for width, height in boxes), boxes  # @page size: landscape
