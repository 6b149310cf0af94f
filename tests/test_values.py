from decimal import Decimal

import pytest

from mapping.values import ValueParseError, parse_number


@pytest.mark.parametrize("raw,expected", [
    (12, 12.0), (0.5, 0.5), (Decimal("1.25"), 1.25),
    ("42", 42.0), (" -3.5 ", -3.5), ("\u22122", -2.0), ("+7", 7.0),
    ("12%", 12.0), ("0.5 %", 0.5), ("-70.9%", -70.9),
    ("1,234.5", 1234.5), ("1,234,567", 1234567.0), ("1 234.5", 1234.5), ("1'234.5", 1234.5), (".5", 0.5),
])
def test_numbers_and_text_in_dot_convention(raw, expected):
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("1.234,5", 1234.5), ("1.234.567", 1234567.0), ("12,5%", 12.5), ("4,15", 4.15), ("1 234,5", 1234.5),
])
def test_text_in_comma_convention(raw, expected):
    assert parse_number(raw, decimal=",") == expected


@pytest.mark.parametrize("raw", ["N/A", "", "   ", "12 kg", "R$ 4,15", "1,5", "1.2.3", "--1", "abc%", None, True, float("nan")])
def test_ambiguous_or_non_numeric_values_are_rejected(raw):
    with pytest.raises(ValueParseError):
        parse_number(raw)


def test_dot_grouping_is_rejected_in_comma_convention_when_ambiguous():
    with pytest.raises(ValueParseError):
        parse_number("1.5", decimal=",")
