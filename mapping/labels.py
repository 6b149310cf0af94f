"""How statuses, types, numbers and targets read for a person (every writer and the detail sheets use the same words)."""
from __future__ import annotations

from typing import Optional

from mapping.results import KRResult

# display statuses, in the order they are counted and listed
STATUS_ORDER = ("done", "on_track", "at_risk", "off_track", "stale", "no_data")
STATUS_LABELS = {"done": "Done", "on_track": "On track", "at_risk": "At risk", "off_track": "Off track",
                 "stale": "Stale", "no_data": "No data"}
# fill (background) and ink (text) colours per display status, as RRGGBB
STATUS_FILLS = {"done": "C6EFCE", "on_track": "DDEBF7", "at_risk": "FFEB9C", "off_track": "FFC7CE",
                "stale": "E4DFEC", "no_data": "EDEDED"}
STATUS_INKS = {"done": "006100", "on_track": "1F4E79", "at_risk": "9C5700", "off_track": "9C0006",
               "stale": "5B4A7A", "no_data": "595959"}
TYPE_LABELS = {"increase": "Increase", "decrease": "Decrease", "at_most": "Stay at most", "at_least": "Stay at least",
               "milestone": "Milestone", "compliance": "Compliance"}
LEVEL_LABELS = {"company": "Company", "department": "Department", "team": "Team", "individual": "Individual"}
_TARGET_SIGNS = {"at_most": "≤ ", "at_least": "≥ ", "increase": "", "decrease": ""}


def display_status(result: KRResult) -> str:
    """The status a reader sees: a failed source's last good value is "stale"; no value at all is "no_data"."""
    if result.value is None:
        return "no_data"
    if result.stale:
        return "stale"
    return result.status


def format_number(value: Optional[float], unit: str = "") -> str:
    """A value rounded for reading, with its unit: 0.42%, 1,234 units, 1.83 kWh/u; "" for no value."""
    if value is None:
        return ""
    magnitude = abs(value)
    if float(value).is_integer():
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:,.1f}"
    elif magnitude >= 0.01 or magnitude == 0:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.2g}"
    if not unit:
        return text
    return f"{text}{unit}" if unit in ("%", "‰") else f"{text} {unit}"


def format_target(kr_type: str, target: Optional[float], unit: str = "") -> str:
    """The target as a rule: "≤ 0.50%", "≥ 95%", "1,200 units", "done" for a milestone."""
    if kr_type == "milestone":
        return "done"
    return _TARGET_SIGNS.get(kr_type, "") + format_number(target, unit)


def compliance_rule(at_most: Optional[float], at_least: Optional[float], required: int, of: Optional[int], window: str,
                    unit: str = "") -> str:
    """A compliance KR's target as a rule: "≤ 2% in 8 of 10 weeks" (of = None: all windows of the period)."""
    sign, threshold = ("≤ ", at_most) if at_most is not None else ("≥ ", at_least)
    count = f"{required} of {of}" if of else f"{required}"
    return f"{sign}{format_number(threshold, unit)} in {count} {window}s" + ("" if of else " of the period")


def text_bar(fraction: Optional[float], width: int = 10) -> str:
    """A progress bar of block characters (█ filled, ░ empty), clipped to 0..1; "" for no value."""
    if fraction is None:
        return ""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)
