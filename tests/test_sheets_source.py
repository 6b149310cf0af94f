"""The `sheets` source against a stateful fake of the Sheets API: one batchGet per spreadsheet, deliberate parsing, clear errors."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import responses
from google.oauth2.credentials import Credentials

from connectors.base import Context, SourceError
from connectors.sheets_client import BoundedRetryHTTPClient, RateLimiter, SheetsClient
from connectors.sheets_source import SheetsConnector
from fakes.sheets_fake import SheetsFake, service_account_info
from mapping.config import Query
from mapping.period import parse_period
from mapping.sources.sheets import SheetsQuery, SheetsSource

KEY = "1yXHRaUTFlGV-Axis4vLHtoPvGUj3C_-awA_5sLK8k6g"
URL = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
PERIOD = parse_period("2026-Q4")
SURVEY = [
    ["month", "region", "nps", "responses", "note"],
    [46327, "EMEA", 41, 120, "ok"],          # serial date 46327 = 2026-11-01
    [46336, "EMEA", "43,5", 130, ""],        # 2026-11-10; text with a comma decimal mark
    [46336, "APAC", 38, "1.234", ""],        # "1.234" = 1234 with decimal ","
    [46366, "EMEA", 47, 90, ""],             # 2026-12-10
    ["2026-09-30", "EMEA", 10, 5, ""],       # before the period (ISO text date)
]


def make_client(sleep=lambda s: None) -> SheetsClient:
    http = BoundedRetryHTTPClient(Credentials(token="x"), limiter=RateLimiter(), sleep=sleep)
    return SheetsClient(http, "okr-sync@acme-okrs.iam.gserviceaccount.com")


def queries(source: str, *specs: dict) -> list[Query]:
    return [Query.of(source, SheetsQuery(source=source, **spec)) for spec in specs]


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield SheetsFake(mock)


def connector(fake: SheetsFake, decimal: str = ",", client: SheetsClient | None = None) -> SheetsConnector:
    settings = SheetsSource(kind="sheets", spreadsheet=URL, decimal=decimal)
    return SheetsConnector("survey", settings, Context(), client or make_client())


def test_cells_named_ranges_and_tables_are_answered_from_one_batch_get(fake):
    fake.add_spreadsheet(KEY, tabs={"Survey": SURVEY, "KPIs": [["label", "value"], ["Revenue", "1.234,5"], ["Share", "67%"], ["NPS", 44]]})
    fake.add_named_range(KEY, "NPS_Q4", "KPIs", "B4")
    qs = queries("survey",
                 {"cell": "'KPIs'!B2"}, {"cell": "B3", "worksheet": "KPIs"}, {"named_range": "NPS_Q4"},
                 {"worksheet": "Survey", "column": "nps", "agg": "mean", "where": {"region": "EMEA"}, "date_column": "month"},
                 {"worksheet": "Survey", "column": "responses", "agg": "sum", "date_column": "month"},
                 {"worksheet": "Survey", "column": "nps", "agg": "count", "where": {"region": ["EMEA", "APAC"]}},
                 {"worksheet": "Survey", "column": "nps", "agg": "last", "where": {"region": "EMEA"}},
                 {"worksheet": "Survey", "column": "nps", "agg": "max"})
    answers = connector(fake).fetch(qs, PERIOD, NOW)
    values = [answers[q].value for q in qs]
    # the serial dates all lie in 2026-Q4; "2026-09-30" does not
    assert values == [1234.5, 67.0, 44.0, (41 + 43.5 + 47) / 3, 120 + 130 + 1234 + 90, 5.0, 10.0, 47.0]
    assert fake.count("batchGet", KEY) == 1 and fake.count() == 1  # no metadata read needed for values
    batch = [body for kind, body in fake.bodies if kind == "batchGet"]
    assert len(batch) == 1


def test_the_batch_get_asks_for_unformatted_values_and_each_range_once(fake):
    fake.add_spreadsheet(KEY, tabs={"Survey": SURVEY})
    qs = queries("survey", {"worksheet": "Survey", "column": "nps", "agg": "sum"}, {"worksheet": "Survey", "column": "responses", "agg": "sum"})
    connector(fake).fetch(qs, PERIOD, NOW)
    call = [c for c in fake.mock.calls if "values:batchGet" in c.request.url][0]
    assert "valueRenderOption=UNFORMATTED_VALUE" in call.request.url
    assert call.request.url.count("ranges=") == 1  # both queries read the same tab


def test_text_that_is_not_a_number_is_an_error_naming_tab_row_and_column(fake):
    fake.add_spreadsheet(KEY, tabs={"Survey": [["nps"], [40], ["n/a"]], "KPIs": [["x", "12 kg"]]})
    bad_cell, bad_row = queries("survey", {"cell": "'KPIs'!B1"}, {"worksheet": "Survey", "column": "nps"})
    answers = connector(fake).fetch([bad_cell, bad_row], PERIOD, NOW)
    assert isinstance(answers[bad_cell], SourceError) and "'KPIs'!B1" in str(answers[bad_cell]) and "12 kg" in str(answers[bad_cell])
    assert isinstance(answers[bad_row], SourceError) and "row 3" in str(answers[bad_row]) and "'nps'" in str(answers[bad_row])


def test_decimal_mark_is_taken_from_the_source_not_guessed(fake):
    fake.add_spreadsheet(KEY, tabs={"KPIs": [["1,5"], ["1,234.5"]]})
    comma, grouped = queries("survey", {"cell": "'KPIs'!A1"}, {"cell": "'KPIs'!A2"})
    answers = connector(fake, decimal=".").fetch([comma, grouped], PERIOD, NOW)
    assert isinstance(answers[comma], SourceError) and "decimal" in str(answers[comma])
    assert answers[grouped].value == 1234.5


def test_empty_cell_missing_column_and_wide_named_range_are_clear_errors(fake):
    fake.add_spreadsheet(KEY, tabs={"KPIs": [["a", "b"], [1, 2]]})
    fake.add_named_range(KEY, "Both", "KPIs", "A2:B2")
    empty, column, wide = queries("survey", {"cell": "'KPIs'!C9"}, {"worksheet": "KPIs", "column": "nps"}, {"named_range": "Both"})
    answers = connector(fake).fetch([empty, column, wide], PERIOD, NOW)
    assert "is empty" in str(answers[empty])
    assert "no column 'nps'" in str(answers[column]) and "a, b" in str(answers[column])
    assert "holds 2 values" in str(answers[wide])


@pytest.mark.parametrize("access,code", [("missing", "404"), ("forbidden", "403")])
def test_no_access_tells_the_user_to_share_with_the_service_account(fake, access, code):
    if access == "forbidden":
        fake.add_spreadsheet(KEY, tabs={"KPIs": [[1]]}).access = "forbidden"
    (query,) = queries("survey", {"cell": "'KPIs'!A1"})
    error = connector(fake).fetch([query], PERIOD, NOW)[query]
    assert isinstance(error, SourceError)
    text = str(error)
    assert code in text and "okr-sync@acme-okrs.iam.gserviceaccount.com" in text and "share" in text and KEY in text


def test_an_unknown_tab_is_reported_with_googles_message(fake):
    fake.add_spreadsheet(KEY, tabs={"KPIs": [[1]]})
    (query,) = queries("survey", {"cell": "'Nope'!A1"})
    error = connector(fake).fetch([query], PERIOD, NOW)[query]
    assert "Unable to parse range" in str(error) and "400" in str(error)


def test_service_account_key_from_env_json_signs_in_once(fake, monkeypatch):
    """The real auth path: JSON key content in an env var, one token request, then the read."""
    import connectors.sheets_client as sc
    monkeypatch.setattr(sc, "_CREDENTIALS", {})
    fake.add_spreadsheet(KEY, tabs={"KPIs": [[7]]})
    info = service_account_info()
    settings = SheetsSource(kind="sheets", spreadsheet=KEY, credentials_env="SHEETS_KEY")
    context = Context(env={"SHEETS_KEY": json.dumps(info)})
    (query,) = queries("survey", {"cell": "'KPIs'!A1"})
    for _ in range(2):
        assert SheetsConnector("survey", settings, context).fetch([query], PERIOD, NOW)[query].value == 7.0
    assert fake.token_requests == 1
    auth = [c.request.headers.get("Authorization") for c in fake.mock.calls if "sheets.googleapis.com" in c.request.url]
    assert auth == ["Bearer fake-token", "Bearer fake-token"]


def test_service_account_key_from_a_file_path(fake, monkeypatch, tmp_path):
    import connectors.sheets_client as sc
    monkeypatch.setattr(sc, "_CREDENTIALS", {})
    fake.add_spreadsheet(KEY, tabs={"KPIs": [[3]]})
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(service_account_info()))
    settings = SheetsSource(kind="sheets", spreadsheet=KEY)  # default env var GOOGLE_APPLICATION_CREDENTIALS
    (query,) = queries("survey", {"cell": "'KPIs'!A1"})
    answer = SheetsConnector("survey", settings, Context(env={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})).fetch([query], PERIOD, NOW)
    assert answer[query].value == 3.0


@pytest.mark.parametrize("env,needle", [
    ({}, "GOOGLE_APPLICATION_CREDENTIALS is not set"),
    ({"GOOGLE_APPLICATION_CREDENTIALS": "/nope/sa.json"}, "cannot be read"),
    ({"GOOGLE_APPLICATION_CREDENTIALS": '{"type": "authorized_user"}'}, "not a service-account key"),
    ({"GOOGLE_APPLICATION_CREDENTIALS": "{not json"}, "does not hold JSON"),
])
def test_bad_credentials_are_one_clear_error_without_the_secret(fake, env, needle):
    settings = SheetsSource(kind="sheets", spreadsheet=KEY)
    (query,) = queries("survey", {"cell": "'KPIs'!A1"})
    error = SheetsConnector("survey", settings, Context(env=env)).fetch([query], PERIOD, NOW)[query]
    assert isinstance(error, SourceError)
    assert needle in str(error) and "{not json" not in str(error)
    assert fake.count() == 0


def test_a_refused_token_is_an_auth_error_naming_the_service_account(fake, monkeypatch):
    import connectors.sheets_client as sc
    monkeypatch.setattr(sc, "_CREDENTIALS", {})
    fake.add_spreadsheet(KEY, tabs={"KPIs": [[7]]})
    fake.token_error = "invalid_grant"
    settings = SheetsSource(kind="sheets", spreadsheet=KEY, credentials_env="SHEETS_KEY")
    (query,) = queries("survey", {"cell": "'KPIs'!A1"})
    error = SheetsConnector("survey", settings, Context(env={"SHEETS_KEY": json.dumps(service_account_info())})).fetch([query], PERIOD, NOW)[query]
    assert isinstance(error, SourceError)
    assert "refused a token for okr-sync@acme-okrs.iam.gserviceaccount.com" in str(error) and fake.count() == 0


def test_a_refused_token_is_one_clean_line_with_the_reason_and_what_to_do(fake, monkeypatch):
    """google-auth's RefreshError carries (message, response body): the message used to come out as `(('invalid_grant); ...`."""
    import connectors.sheets_client as sc
    from connectors.sheets_client import SheetsAuthError, service_account_credentials
    from mapping.sources.sheets import GoogleAuth
    monkeypatch.setattr(sc, "_CREDENTIALS", {})
    fake.token_error = "invalid_grant"  # the token endpoint's 400 {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    info = service_account_info()
    with pytest.raises(SheetsAuthError) as raised:
        service_account_credentials(GoogleAuth(credentials_env="SHEETS_KEY"), {"SHEETS_KEY": json.dumps(info)})
    message = str(raised.value)
    assert message == ("Google refused a token for okr-sync@acme-okrs.iam.gserviceaccount.com: invalid_grant: Invalid JWT Signature. "
                       "Check the service-account key in environment variable SHEETS_KEY: it may have been deleted, disabled or rotated; "
                       "create a new JSON key (Google Cloud console > IAM > Service accounts > Keys) and put it there")
    assert "\n" not in message and "('" not in message and "{" not in message
    assert info["private_key_id"] not in message and "PRIVATE KEY" not in message
    assert fake.token_requests == 1 and fake.count() == 0


def test_refusal_reasons_from_every_shape_of_refresh_error():
    from google.auth.exceptions import RefreshError

    from connectors.sheets_client import refusal_message, refusal_reason
    body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    assert refusal_reason(RefreshError("invalid_grant: Invalid JWT Signature.", body)) == "invalid_grant: Invalid JWT Signature."
    assert refusal_reason(RefreshError(json.dumps(body))) == "invalid_grant: Invalid JWT Signature."  # no details extracted
    assert refusal_reason(RefreshError("<html>\n<body>Bad   gateway</body>\n</html>")) == "an HTML page instead of Google's answer: Bad gateway (a proxy in between?)"
    assert refusal_reason(RefreshError()) == "RefreshError"
    # the token endpoint answered {"error": "invalid_grant"}: google-auth formats the missing description as None
    assert refusal_reason(RefreshError("invalid_grant: None", {"error": "invalid_grant"})) == "invalid_grant"
    assert len(refusal_reason(RefreshError("x" * 500))) == 160
    skew = RefreshError("invalid_grant: Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                        "Check your iat and exp values in the JWT claim.", {})
    assert "clock" in refusal_message(skew, "sa@p.iam.gserviceaccount.com", "key file /k.json")
    gone = RefreshError("invalid_grant: Invalid grant: account not found", {})
    assert "still exists" in refusal_message(gone, "sa@p.iam.gserviceaccount.com", "key file /k.json")


def test_credentials_from_a_prefect_secret_block(fake, monkeypatch):
    import connectors.sheets_client as sc
    from prefect.blocks.system import Secret
    monkeypatch.setattr(sc, "_CREDENTIALS", {})
    info = service_account_info("block@acme-okrs.iam.gserviceaccount.com")
    loaded = []

    class FakeSecret:
        def get(self):
            return json.dumps(info)

    def load(name, *args, **kwargs):
        loaded.append(name)
        return FakeSecret()

    monkeypatch.setattr(Secret, "load", staticmethod(load))
    fake.add_spreadsheet(KEY, tabs={"KPIs": [[9]]})
    settings = SheetsSource(kind="sheets", spreadsheet=KEY, credentials_block="sheets-sa")
    (query,) = queries("survey", {"cell": "'KPIs'!A1"})
    assert SheetsConnector("survey", settings, Context(env={})).fetch([query], PERIOD, NOW)[query].value == 9.0
    assert loaded == ["sheets-sa"]
