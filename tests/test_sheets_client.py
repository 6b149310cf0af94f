"""The Sheets HTTP client: bounded retries honouring Retry-After, a timeout, and the per-user rate limit."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
import responses
from google.oauth2.credentials import Credentials

from connectors.base import RetriableError
from connectors.sheets_client import BoundedRetryHTTPClient, RateLimiter, SheetsClient, SheetsUnavailable, retry_after_seconds
from fakes.sheets_fake import SheetsFake

KEY = "1Mt7PAP53WxrZzHTL49wbg_EOQy18omB4PD2aJLMBs2o"


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield SheetsFake(mock)


def client(clock: FakeClock, **options) -> SheetsClient:
    limiter = options.pop("limiter", RateLimiter(clock=clock, sleep=clock.sleep))
    http = BoundedRetryHTTPClient(Credentials(token="x"), limiter=limiter, sleep=clock.sleep, **options)
    return SheetsClient(http, "sa@p.iam.gserviceaccount.com")


def test_429_is_retried_after_the_delay_google_asked_for(fake):
    fake.add_spreadsheet(KEY, tabs={"T": [[5]]})
    fake.fail_next(429, times=2, retry_after="7")
    clock = FakeClock()
    answer = client(clock, backoff=1.0).batch_get(KEY, ["'T'!A1"])
    assert answer[0]["values"] == [[5]]
    assert fake.count("batchGet") == 3
    assert clock.sleeps == [7.0, 7.0]  # backoff (<= 1s, <= 2s) is shorter than Retry-After: the server wins


def test_5xx_backs_off_exponentially_and_gives_up_after_the_bound(fake):
    fake.add_spreadsheet(KEY, tabs={"T": [[5]]})
    fake.fail_next(503, times=10)
    clock = FakeClock()
    with pytest.raises(SheetsUnavailable) as info:
        client(clock, max_retries=3, backoff=2.0, max_backoff=5.0).batch_get(KEY, ["'T'!A1"])
    assert isinstance(info.value, RetriableError)
    assert fake.count("batchGet") == 4  # 1 try + 3 retries, then it stops (gspread's BackOffHTTPClient would not)
    # jittered between half and all of min(5, 2 * 2**attempt): 2, 4, 5
    for slept, full in zip(clock.sleeps, [2.0, 4.0, 5.0]):
        assert full / 2 <= slept <= full
    assert "503" in str(info.value) and "4 attempts" in str(info.value)


def test_a_retry_after_longer_than_max_wait_is_not_slept_through(fake):
    fake.add_spreadsheet(KEY, tabs={"T": [[5]]})
    fake.fail_next(429, retry_after="3600")
    clock = FakeClock()
    with pytest.raises(SheetsUnavailable) as info:
        client(clock, max_wait=120).batch_get(KEY, ["'T'!A1"])
    assert info.value.retry_after == 3600.0 and clock.sleeps == []


def test_4xx_other_than_429_is_not_retried(fake):
    fake.add_spreadsheet(KEY, tabs={"T": [[5]]})
    clock = FakeClock()
    with pytest.raises(Exception) as info:
        client(clock).batch_get(KEY, ["'Missing'!A1"])
    assert "Unable to parse range" in str(info.value)
    assert fake.count("batchGet") == 1 and clock.sleeps == []


def test_every_request_carries_a_timeout_and_a_timeout_is_retried():
    seen = []

    class Session(requests.Session):
        def request(self, *args, **kwargs):
            seen.append(kwargs.get("timeout"))
            raise requests.Timeout("slow")

    clock = FakeClock()
    http = BoundedRetryHTTPClient(None, Session(), timeout=12.5, max_retries=2, limiter=RateLimiter(clock=clock, sleep=clock.sleep), sleep=clock.sleep)
    with pytest.raises(SheetsUnavailable) as info:
        SheetsClient(http, "sa@x").batch_get(KEY, ["'T'!A1"])
    assert seen == [12.5, 12.5, 12.5] and "timeout 12.5s" in str(info.value)


def test_rate_limiter_keeps_any_minute_under_the_limit():
    clock = FakeClock()
    limiter = RateLimiter(limit_reads=55, limit_writes=55, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(130):
        limiter.acquire("read")
        stamps.append(clock.now)
    limiter.acquire("write")  # writes have their own budget: no wait
    # in every 60-second window at most 55 reads
    assert max(sum(1 for t in stamps if start <= t < start + 60) for start in stamps) == 55
    assert stamps[54] == 0.0 and stamps[55] == 60.0 and stamps[110] == 120.0
    assert clock.now == 120.0


def test_rate_limiter_is_applied_to_each_http_request(fake):
    fake.add_spreadsheet(KEY, tabs={"T": [[5]]})
    clock = FakeClock()
    c = client(clock, limiter=RateLimiter(limit_reads=2, limit_writes=2, clock=clock, sleep=clock.sleep))
    for _ in range(5):
        c.batch_get(KEY, ["'T'!A1"])
    assert fake.count("batchGet") == 5 and clock.sleeps == [60.0, 60.0]
    assert c.counts == {"read": 5, "write": 0}


def test_retry_after_accepts_seconds_and_http_dates():
    now = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("30") == 30.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
