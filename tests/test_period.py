from datetime import date, datetime, timezone

import pytest

from mapping.period import Period, PeriodError, parse_period


@pytest.mark.parametrize("spec,start,end", [
    ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
    ("2026Q2", date(2026, 4, 1), date(2026, 6, 30)),
    ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
    ("2028-02", date(2028, 2, 1), date(2028, 2, 29)),
])
def test_quarter_and_month_specs_cover_whole_calendar_ranges(spec, start, end):
    period = parse_period(spec)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("spec", ["2026-Q5", "2026-13", "Q4", "next quarter", ""])
def test_unknown_period_spec_is_rejected(spec):
    with pytest.raises(PeriodError):
        parse_period(spec)


def test_elapsed_counts_the_last_day_as_part_of_the_period():
    q4 = parse_period("2026-Q4")  # 92 days
    utc = timezone.utc
    assert q4.elapsed(datetime(2026, 9, 30, tzinfo=utc)) == 0.0
    assert q4.elapsed(datetime(2026, 10, 1, tzinfo=utc)) == 0.0
    assert q4.elapsed(datetime(2026, 11, 15, 12, tzinfo=utc)) == pytest.approx(45.5 / 92)
    assert q4.elapsed(datetime(2026, 12, 31, 12, tzinfo=utc)) == pytest.approx(91.5 / 92)
    assert q4.elapsed(datetime(2027, 1, 1, tzinfo=utc)) == 1.0
    assert q4.elapsed(datetime(2027, 3, 1, tzinfo=utc)) == 1.0


def test_period_ending_before_it_starts_is_an_error():
    with pytest.raises(PeriodError):
        Period("x", date(2026, 2, 1), date(2026, 1, 1))


# --- as of a past day ---------------------------------------------------------------------------
def test_a_period_has_no_as_of_unless_a_past_day_is_evaluated():
    q4 = parse_period("2026-Q4")
    assert q4.as_of is None
    assert Period("Q4", date(2026, 10, 1), date(2026, 12, 31)) == Period("Q4", date(2026, 10, 1), date(2026, 12, 31), None)


@pytest.mark.parametrize("day,end", [
    (date(2026, 10, 1), date(2026, 10, 1)),     # the first day: a one-day period
    (date(2026, 11, 15), date(2026, 11, 15)),
    (date(2026, 12, 31), date(2026, 12, 31)),   # the last day: nothing clipped
    (date(2027, 2, 1), date(2026, 12, 31)),     # after the period: the end stays, as_of says which day
])
def test_until_clips_the_end_to_the_day_and_records_it(day, end):
    q4 = parse_period("2026-Q4")
    clipped = q4.until(day)
    assert (clipped.name, clipped.start, clipped.end, clipped.as_of) == ("2026-Q4", date(2026, 10, 1), end, day)
    assert q4.as_of is None and q4.end == date(2026, 12, 31)  # a copy: the period itself is unchanged


def test_until_before_the_period_starts_is_a_clear_error():
    with pytest.raises(PeriodError, match=r"'2026-Q4' had not started on 2026-09-30 \(it starts 2026-10-01\)"):
        parse_period("2026-Q4").until(date(2026, 9, 30))


def test_until_of_a_clipped_period_clips_again_and_elapsed_is_unchanged():
    q4 = parse_period("2026-Q4")
    twice = q4.until(date(2026, 11, 30)).until(date(2026, 11, 10))
    assert (twice.end, twice.as_of) == (date(2026, 11, 10), date(2026, 11, 10))
    moment = datetime(2026, 11, 10, 12, tzinfo=timezone.utc)
    assert q4.elapsed(moment) == pytest.approx((40 + 0.5) / 92)  # elapsed still counts the whole period
