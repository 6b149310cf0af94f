"""Turn what sources hand back (numbers, Decimals, text like '12%' or '1.234,5') into floats, deliberately."""
from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any


class ValueParseError(ValueError):
    """A value that is not a number we can read without guessing."""


_SPACES = re.compile(r"[\s\u00a0\u202f']")
_DOT_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_COMMA_GROUPED = re.compile(r"^\d{1,3}(\.\d{3})+(,\d+)?$")
_PLAIN = re.compile(r"^\d+([.,]\d+)?$|^[.,]\d+$")


def parse_number(raw: Any, decimal: str = ".") -> float:
    """Read a numeric value.

    Numbers pass through. Text may carry a sign, a trailing '%' (the number is kept in percent
    points: '12%' -> 12.0), spaces or apostrophes as thousands separators, and thousands
    separators in the declared `decimal` convention ('1,234.5' with '.', '1.234,5' with ',').
    Anything else ('N/A', '12 kg', '1,5' when the decimal mark is '.') raises ValueParseError.
    """
    if isinstance(raw, bool):
        raise ValueParseError(f"{raw!r} is a boolean, not a number")
    if isinstance(raw, (int, float, Decimal)):
        value = float(raw)
        if math.isnan(value) or math.isinf(value):
            raise ValueParseError(f"{raw!r} is not a finite number")
        return value
    if raw is None:
        raise ValueParseError("the value is empty")
    if not isinstance(raw, str):
        raise ValueParseError(f"{raw!r} ({type(raw).__name__}) is not a number")
    text = raw.strip().replace("\u2212", "-")
    if not text:
        raise ValueParseError("the value is empty")
    sign = 1.0
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:].strip()
    if text.endswith("%"):
        text = text[:-1].strip()
    body = _SPACES.sub("", text)
    if decimal == ".":
        if _DOT_GROUPED.match(body):
            body = body.replace(",", "")
        elif "," in body:
            raise ValueParseError(f"{raw!r} is not a number with '.' as decimal mark (declare decimal: ',' if the source writes 1.234,5)")
    elif decimal == ",":
        if _COMMA_GROUPED.match(body):
            body = body.replace(".", "")
        elif "." in body:
            raise ValueParseError(f"{raw!r} is not a number with ',' as decimal mark")
        body = body.replace(",", ".")
    else:
        raise ValueParseError(f"unknown decimal mark {decimal!r}; use '.' or ','")
    if not _PLAIN.match(body):
        raise ValueParseError(f"{raw!r} is not a number")
    return sign * float(body)
