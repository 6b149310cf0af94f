"""file, sheets, rest and the BI presets "as of" a past day: dated rows cut at that day, templated
requests carrying it; what cannot answer for a past day is refused per query, without a request.

Expected values are computed here in Python from the same rows; HTTP is faked with `responses`.
"""
from __future__ import annotations

import csv
import json
import random
from datetime import date, datetime, time, timedelta, timezone

import pytest
import responses
from google.oauth2.credentials import Credentials
from openpyxl import Workbook
from responses import matchers

from connectors.base import AS_OF_PHRASE, Context, NotAsOfError
from connectors.bi_presets import MetabaseConnector, PowerBIConnector, SupersetConnector
from connectors.file import FileConnector
from connectors.rest import RestConnector
from connectors.sheets_client import BoundedRetryHTTPClient, RateLimiter, SheetsClient
from connectors.sheets_source import SERIAL_EPOCH, SheetsConnector
from fakes.sheets_fake import SheetsFake
from mapping.config import Query
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.bi import MetabaseQuery, MetabaseSource, PowerBIQuery, PowerBISource, SupersetQuery, SupersetSource
from mapping.sources.file import FileQuery, FileSource
from mapping.sources.rest import RestQuery, RestSource
from mapping.sources.sheets import SheetsQuery, SheetsSource

Q4 = parse_period("2026-Q4")
DAY = date(2026, 11, 10)
AS_OF = Q4.until(DAY)
END_OF_DAY = datetime.combine(DAY, time(23, 59, 59), tzinfo=timezone.utc)
TODAY = datetime(2026, 12, 20, 9, 0, tzinfo=timezone.utc)


def make_tickets(seed: int = 8) -> list[tuple[date, str, float]]:
    """(day, region, score) from late September to late December, a few rows per day."""
    rng = random.Random(seed)
    rows, day = [], date(2026, 9, 25)
    while day <= date(2026, 12, 28):
        for _ in range(rng.randint(0, 3)):
            rows.append((day, rng.choice(["EMEA", "APAC"]), float(rng.randint(0, 10))))
        day += timedelta(days=1)
    return rows


TICKETS = make_tickets()


def upto(last: date, region: str | None = None) -> list[tuple]:
    return [r for r in TICKETS if Q4.start <= r[0] <= last and (region is None or r[1] == region)]


# --- file ---------------------------------------------------------------------------------------
@pytest.fixture(params=["xlsx", "csv"])
def ticket_file(request, tmp_path):
    header = ["day", "region", "score"]
    if request.param == "csv":
        with open(tmp_path / "tickets.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([(d.isoformat(), region, score) for d, region, score in TICKETS])
    else:
        book = Workbook()
        sheet = book.active
        sheet.title = "Tickets"
        sheet.append(header)
        for row in TICKETS:
            sheet.append(list(row))
        milestones = book.create_sheet("Milestones")
        milestones["B2"] = 1
        book.save(tmp_path / "tickets.xlsx")
    return tmp_path, f"tickets.{request.param}"


def file_fetch(folder, path, period, now, *specs):
    conn = FileConnector("quality", FileSource(kind="file", path=path), Context(folder))
    queries = [Query.of("quality", FileQuery(source="quality", **spec)) for spec in specs]
    results = conn.fetch(queries, period, now)
    return [results[q] for q in queries]


def test_file_column_with_date_column_keeps_rows_up_to_the_day(ticket_file):
    folder, path = ticket_file
    total, emea_mean, count = file_fetch(folder, path, AS_OF, END_OF_DAY,
                                         {"column": "score", "date_column": "day"},
                                         {"column": "score", "agg": "mean", "where": {"region": "EMEA"}, "date_column": "day"},
                                         {"column": "score", "agg": "count", "date_column": "day"})
    assert total.value == sum(r[2] for r in upto(DAY))
    assert emea_mean.value == pytest.approx(sum(r[2] for r in upto(DAY, "EMEA")) / len(upto(DAY, "EMEA")))
    assert count.value == len(upto(DAY))
    today, = file_fetch(folder, path, Q4, TODAY, {"column": "score", "date_column": "day"})
    assert today.value == sum(r[2] for r in upto(Q4.end)) != total.value


@pytest.mark.parametrize("spec,reason", [
    ({"sheet": "Milestones", "cell": "B2"}, "a cell holds only its value today"),
    ({"column": "score", "agg": "last"}, "the column has no date_column"),
    ({"column": "score", "where": {"region": "EMEA"}}, "the column has no date_column"),
])
def test_file_cell_or_undated_column_cannot_be_evaluated_as_of_a_past_day(tmp_path, spec, reason):
    book = Workbook()
    book.active.title = "Tickets"
    book.active.append(["day", "region", "score"])
    book.active.append([date(2026, 10, 2), "EMEA", 4])
    book.create_sheet("Milestones")["B2"] = 1
    book.save(tmp_path / "tickets.xlsx")
    refused, dated = file_fetch(tmp_path, "tickets.xlsx", AS_OF, END_OF_DAY, spec, {"sheet": "Tickets", "column": "score", "date_column": "day"})
    assert isinstance(refused, NotAsOfError)
    assert f"{AS_OF_PHRASE} {reason}" in str(refused) and "source 'quality'" in str(refused)
    assert dated.value == 4
    normal, = file_fetch(tmp_path, "tickets.xlsx", Q4, TODAY, spec)  # a normal sync answers it as before
    assert isinstance(normal, Observation)


# --- sheets -------------------------------------------------------------------------------------
KEY = "1yXHRaUTFlGV-Axis4vLHtoPvGUj3C_-awA_5sLK8k6g"


@pytest.fixture
def sheets():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = SheetsFake(mock)
        rows = [["answered_on", "region", "score"]]
        for i, (day, region, score) in enumerate(TICKETS):  # dates as serial numbers (UNFORMATTED_VALUE), some as ISO text
            rows.append([(day - SERIAL_EPOCH).days if i % 3 else day.isoformat(), region, score])
        fake.add_spreadsheet(KEY, tabs={"Responses": rows, "KPIs": [["label", "value"], ["NPS", 44]]})
        fake.add_named_range(KEY, "Runway", "KPIs", "B2")
        yield fake


def sheets_fetch(period, now, *specs):
    client = SheetsClient(BoundedRetryHTTPClient(Credentials(token="x"), limiter=RateLimiter(), sleep=lambda s: None),
                          "okr-sync@acme-okrs.iam.gserviceaccount.com")
    conn = SheetsConnector("survey", SheetsSource(kind="sheets", spreadsheet=KEY), Context(), client)
    queries = [Query.of("survey", SheetsQuery(source="survey", **spec)) for spec in specs]
    results = conn.fetch(queries, period, now)
    return [results[q] for q in queries]


def test_sheets_table_column_with_date_column_keeps_rows_up_to_the_day(sheets):
    total, apac = sheets_fetch(AS_OF, END_OF_DAY,
                               {"worksheet": "Responses", "column": "score", "date_column": "answered_on"},
                               {"worksheet": "Responses", "column": "score", "agg": "max", "where": {"region": "APAC"}, "date_column": "answered_on"})
    assert total.value == sum(r[2] for r in upto(DAY))
    assert apac.value == max(r[2] for r in upto(DAY, "APAC"))
    assert sheets.count("batchGet", KEY) == 1


@pytest.mark.parametrize("spec,what", [
    ({"cell": "'KPIs'!B2"}, "cell 'KPIs'!B2"),
    ({"named_range": "Runway"}, "named range 'Runway'"),
    ({"worksheet": "Responses", "column": "score", "agg": "last"}, "tab 'Responses' column 'score'"),
])
def test_sheets_cell_named_range_or_undated_column_is_refused_without_a_read(sheets, spec, what):
    refused, = sheets_fetch(AS_OF, END_OF_DAY, spec)
    assert isinstance(refused, NotAsOfError)
    assert what in str(refused) and AS_OF_PHRASE in str(refused)
    assert len(sheets.mock.calls) == 0  # nothing was read
    refused, dated = sheets_fetch(AS_OF, END_OF_DAY, spec, {"worksheet": "Responses", "column": "score", "date_column": "answered_on"})
    assert isinstance(refused, NotAsOfError) and dated.value == sum(r[2] for r in upto(DAY))
    call, = [c for c in sheets.mock.calls if "values:batchGet" in c.request.url]
    assert "KPIs" not in call.request.url and "Runway" not in call.request.url  # the refused range was not asked for


# --- rest ---------------------------------------------------------------------------------------
BASE = "https://helpdesk.example.com/api"


def rest_fetch(period, now, *specs):
    conn = RestConnector("helpdesk", RestSource(kind="rest", base_url=BASE, auth="bearer", token_env="HD_TOKEN", backoff_seconds=0),
                         Context(env={"HD_TOKEN": "tok"}))
    queries = [Query.of("helpdesk", RestQuery(source="helpdesk", **spec)) for spec in specs]
    results = conn.fetch(queries, period, now)
    return [results[q] for q in queries]


def ticket_api(request):
    """An API that filters its tickets by the ?from=&to= days it is given."""
    params = request.params
    first, last = date.fromisoformat(params["from"]), date.fromisoformat(params["to"])
    rows = [{"day": d.isoformat(), "region": region, "score": score} for d, region, score in TICKETS if first <= d <= last]
    return 200, {}, json.dumps({"tickets": rows})


@responses.activate
def test_rest_request_with_as_of_or_end_asks_for_the_day():
    responses.add_callback(responses.GET, f"{BASE}/tickets", callback=ticket_api)
    by_as_of, by_end = rest_fetch(AS_OF, END_OF_DAY,
                                  {"path": "/tickets", "params": {"from": "{start}", "to": "{as_of}"}, "extract": "sum(tickets[].score)"},
                                  {"path": "/tickets", "params": {"from": "{start}", "to": "{end}", "r": "APAC"},
                                   "extract": "length(tickets[?region=='APAC'])"})
    assert by_as_of.value == sum(r[2] for r in upto(DAY))
    assert by_end.value == len(upto(DAY, "APAC"))
    sent = sorted(call.request.params["to"] for call in responses.calls)
    assert sent == ["2026-11-10", "2026-11-10"]


@responses.activate
def test_rest_as_of_in_a_normal_sync_is_today():
    responses.add_callback(responses.GET, f"{BASE}/tickets", callback=ticket_api)
    result, = rest_fetch(Q4, TODAY, {"path": "/tickets", "params": {"from": "{start}", "to": "{as_of}"}, "extract": "sum(tickets[].score)"})
    assert responses.calls[0].request.params["to"] == "2026-12-20"
    assert result.value == sum(r[2] for r in upto(date(2026, 12, 20)))


@responses.activate
def test_rest_day_in_the_path_or_the_post_body_counts():
    responses.get(f"{BASE}/reports/2026-11-10", json={"total": 12})
    responses.post(f"{BASE}/query", json={"total": 3}, match=[matchers.json_params_matcher({"filter": {"until": "2026-11-10"}})])
    path, body = rest_fetch(AS_OF, END_OF_DAY, {"path": "/reports/{as_of}", "extract": "total"},
                            {"path": "/query", "method": "POST", "body": {"filter": {"until": "{end}"}}, "extract": "total"})
    assert (path.value, body.value) == (12, 3)


@responses.activate
def test_rest_request_without_end_or_as_of_is_refused_without_a_request():
    responses.get(f"{BASE}/summary", json={"nps": 41})
    refused, = rest_fetch(AS_OF, END_OF_DAY, {"path": "/summary", "params": {"from": "{start}", "q": "{period}"}, "extract": "nps"})
    assert isinstance(refused, NotAsOfError)
    assert f"{AS_OF_PHRASE} the request has no {{end}} or {{as_of}} parameter" in str(refused)
    assert "source 'helpdesk'" in str(refused) and "/summary" in str(refused)
    assert len(responses.calls) == 0
    normal, = rest_fetch(Q4, TODAY, {"path": "/summary", "extract": "nps"})
    assert normal.value == 41


# --- metabase, powerbi, superset ----------------------------------------------------------------
MB = "https://metabase.example.com"
PBI = "https://api.powerbi.com/v1.0/myorg/datasets/cfafbeb1-8037-4d0c-896e-a46fb27ff229/executeQueries"
SS = "https://superset.example.com"
ENV = {"MB_KEY": "mb_key", "PBI_TOKEN": "pbi_token", "SS_USER": "bot", "SS_PASSWORD": "pw"}


def metabase_card(request):
    """Card 42: the summed score of the tickets between its `from` and `to` parameters (Metabase's answer shape)."""
    values = {p["target"][1][1]: p["value"] for p in json.loads(request.body)["parameters"]}
    first, last = date.fromisoformat(values["from"]), date.fromisoformat(values["to"])
    total = sum(score for d, _, score in TICKETS if first <= d <= last)
    return 202, {}, json.dumps({"data": {"rows": [[total]], "cols": [{"name": "score", "display_name": "score"}]},
                                "status": "completed", "row_count": 1})


def bi_fetch(connector, source, model, period, now, *specs):
    queries = [Query.of(source, model(source=source, **spec)) for spec in specs]
    results = connector.fetch(queries, period, now)
    return [results[q] for q in queries]


def metabase():
    return MetabaseConnector("mb", MetabaseSource(kind="metabase", url=MB, api_key_env="MB_KEY", backoff_seconds=0), Context(env=ENV))


@responses.activate
def test_metabase_parameters_carry_the_day():
    responses.add_callback(responses.POST, f"{MB}/api/card/42/query", callback=metabase_card)
    params = [{"type": "date/single", "target": ["variable", ["template-tag", "from"]], "value": "{start}"},
              {"type": "date/single", "target": ["variable", ["template-tag", "to"]], "value": "{end}"}]
    templated, plain = bi_fetch(metabase(), "mb", MetabaseQuery, AS_OF, END_OF_DAY, {"card": 42, "parameters": params}, {"card": 43})
    assert templated.value == sum(r[2] for r in upto(DAY))
    assert isinstance(plain, NotAsOfError) and "card 43" in str(plain)
    assert f"{AS_OF_PHRASE} the request has no {{end}} or {{as_of}} parameter" in str(plain)
    assert [c.request.url for c in responses.calls] == [f"{MB}/api/card/42/query"]


@responses.activate
def test_powerbi_dax_with_as_of_is_sent_and_without_it_refused():
    dax = 'EVALUATE ROW("Score", CALCULATE([Score], DATESBETWEEN(\'Date\'[Date], DATEVALUE("{start}"), DATEVALUE("{as_of}"))))'
    sent = dax.replace("{start}", "2026-10-01").replace("{as_of}", "2026-11-10")
    responses.post(PBI, json={"results": [{"tables": [{"rows": [{"[Score]": 17.5}]}]}]},
                   match=[matchers.json_params_matcher({"queries": [{"query": sent}], "serializerSettings": {"includeNulls": True}})])
    conn = PowerBIConnector("pbi", PowerBISource(kind="powerbi", token_env="PBI_TOKEN", backoff_seconds=0), Context(env=ENV))
    dataset = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
    good, refused = bi_fetch(conn, "pbi", PowerBIQuery, AS_OF, END_OF_DAY, {"dataset": dataset, "dax": dax},
                             {"dataset": dataset, "dax": 'EVALUATE ROW("Score", [Score YTD])'})
    assert good.value == 17.5
    assert isinstance(refused, NotAsOfError) and AS_OF_PHRASE in str(refused) and "{as_of}" in str(refused)
    assert len(responses.calls) == 1


@responses.activate
def test_superset_charts_cannot_be_evaluated_as_of_a_past_day_and_no_login_is_sent():
    responses.post(f"{SS}/api/v1/security/login", json={"access_token": "jwt"})
    conn = SupersetConnector("ss", SupersetSource(kind="superset", url=SS, username_env="SS_USER", password_env="SS_PASSWORD"), Context(env=ENV))
    refused, = bi_fetch(conn, "ss", SupersetQuery, AS_OF, END_OF_DAY, {"chart": 31, "column": "accounts", "agg": "sum"})
    assert isinstance(refused, NotAsOfError)
    assert f"chart 31 {AS_OF_PHRASE} the chart uses its own time range" in str(refused)
    assert len(responses.calls) == 0
