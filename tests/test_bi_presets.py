"""Metabase, Power BI and Superset presets, faked with `responses` using payloads shaped like the real APIs'."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import responses
from responses import matchers

from connectors.base import Context, RetriableError, SourceError
from connectors.bi_presets import MetabaseConnector, PowerBIConnector, SupersetConnector
from mapping.config import Query
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.bi import MetabaseQuery, MetabaseSource, PowerBIQuery, PowerBISource, SupersetQuery, SupersetSource

NOW = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")
ENV = {"MB_KEY": "mb_secret_key", "PBI_TOKEN": "eyJ0eXAi.pbi", "SS_USER": "okr-bot", "SS_PASSWORD": "ss-pass", "SS_TOKEN": "eyJ.ss"}
MB = "https://metabase.example.com"


def mb_answer(cols: list[tuple[str, str]], rows: list[list], status: str = "completed") -> dict:
    """The shape of POST /api/card/:id/query (trimmed): data.rows, data.cols and run metadata."""
    return {
        "data": {"rows": rows, "cols": [{"name": n, "display_name": d, "base_type": "type/Float", "source": "native"} for n, d in cols],
                 "native_form": {"query": "SELECT ..."}, "results_timezone": "UTC", "insights": None},
        "database_id": 2, "started_at": "2026-11-15T12:00:00.123Z", "json_query": {"type": "native"},
        "average_execution_time": None, "status": status, "context": "question", "row_count": len(rows), "running_time": 87,
    }


def mb(overrides=None) -> MetabaseConnector:
    return MetabaseConnector("mb", MetabaseSource(kind="metabase", url=MB, api_key_env="MB_KEY", backoff_seconds=0, **(overrides or {})), Context(env=ENV))


def mbq(**fields) -> Query:
    return Query.of("mb", MetabaseQuery(source="mb", **fields))


PARAMS = [{"type": "date/single", "target": ["variable", ["template-tag", "from"]], "value": "{start}"},
          {"type": "date/single", "target": ["variable", ["template-tag", "to"]], "value": "{end}"}]
SENT_PARAMS = [{"type": "date/single", "target": ["variable", ["template-tag", "from"]], "value": "2026-10-01"},
               {"type": "date/single", "target": ["variable", ["template-tag", "to"]], "value": "2026-12-31"}]


@responses.activate
def test_metabase_card_with_templated_parameters_and_api_key():
    responses.post(f"{MB}/api/card/42/query", status=202,
                   json=mb_answer([("answered_30s_pct", "Answered 30s Pct"), ("complaints", "Complaints")], [[93.7, 412]]),
                   match=[matchers.json_params_matcher({"parameters": SENT_PARAMS}), matchers.header_matcher({"x-api-key": "mb_secret_key"})])
    pct = mbq(card=42, parameters=PARAMS, column="answered_30s_pct")
    count = mbq(card=42, parameters=PARAMS, column="Complaints")  # the display name works too
    results = mb().fetch([pct, count], Q4, NOW)
    assert results[pct].value == 93.7 and results[count].value == 412
    assert len(responses.calls) == 1  # one request for both KRs


@responses.activate
def test_metabase_rows_combined_by_agg_or_jmespath():
    rows = [["2026-10", "phone", 120, 101], ["2026-10", "chat", 80, 79], ["2026-11", "phone", 95, 90]]
    responses.post(f"{MB}/api/card/7/query", status=202,
                   json=mb_answer([("month", "Month"), ("channel", "Channel"), ("complaints", "Complaints"), ("answered", "Answered")], rows))
    total = mbq(card=7, column="complaints", agg="sum")
    phone = mbq(card=7, extract="sum(rows[?channel=='phone'].answered)")
    mean = mbq(card=7, column="answered", agg="mean")
    results = mb().fetch([total, phone, mean], Q4, NOW)
    assert results[total].value == 120 + 80 + 95
    assert results[phone].value == 101 + 90
    assert results[mean].value == pytest.approx((101 + 79 + 90) / 3)


def mb_card_result(cols: list[dict], rows: list[list]) -> dict:
    """A POST /api/card/:id/query answer as Metabase 0.50 sends it for a native question (trimmed to what matters)."""
    return {"data": {"rows": rows, "cols": cols, "native_form": {"query": "SELECT ..."}, "results_timezone": "UTC",
                     "results_metadata": {"columns": cols}, "insights": None, "requested_timezone": "UTC"},
            "cached": None, "database_id": 2, "started_at": "2026-11-15T12:00:00.123456Z", "json_query": {"type": "native"},
            "average_execution_time": None, "status": "completed", "context": "question", "row_count": len(rows), "running_time": 41}


RATE_COL = {"display_name": "Rate", "source": "native", "field_ref": ["field", "rate", {"base-type": "type/Float"}],
            "effective_type": "type/Float", "name": "rate", "base_type": "type/Float", "database_type": "float8",
            "fingerprint": {"global": {"distinct-count": 1, "nil%": 0.0}, "type": {"type/Number": {"min": 0.042, "max": 0.042}}}}
SHARE_COL = {**RATE_COL, "display_name": "Repeat share", "name": "repeat_share", "field_ref": ["field", "repeat_share", {"base-type": "type/Float"}]}


@responses.activate
def test_metabase_card_with_one_column_is_one_value_without_column():
    """Each column has a name and a display name: one column is still one value (it used to say "2 columns (Rate, rate)")."""
    responses.post(f"{MB}/api/card/118/query", status=202, json=mb_card_result([RATE_COL], [[0.042]]))
    plain, by_name, by_display = mbq(card=118), mbq(card=118, column="rate"), mbq(card=118, column="Rate")
    by_extract = mbq(card=118, extract="rows[0].rate")
    results = mb().fetch([plain, by_name, by_display, by_extract], Q4, NOW)
    assert {q: r.value for q, r in results.items()} == {plain: 0.042, by_name: 0.042, by_display: 0.042, by_extract: 0.042}
    assert len(responses.calls) == 1


@responses.activate
def test_metabase_card_with_two_columns_still_needs_column_and_names_each_once():
    responses.post(f"{MB}/api/card/119/query", status=202, json=mb_card_result([RATE_COL, SHARE_COL], [[0.042, 12.5]]))
    plain, share = mbq(card=119), mbq(card=119, column="repeat_share")
    missing = mbq(card=119, column="nope")
    results = mb().fetch([plain, share, missing], Q4, NOW)
    assert results[share].value == 12.5
    assert "card 119 returned 2 columns (Rate (rate), Repeat share (repeat_share)); name one with column" in str(results[plain])
    assert "column 'nope' is not in the result; it has Rate (rate), Repeat share (repeat_share)" in str(results[missing])


@responses.activate
def test_metabase_failed_query_is_an_error_even_with_http_202():
    responses.post(f"{MB}/api/card/9/query", status=202, json={
        "error": 'ERROR: column "answerd" does not exist\n  Position: 18', "status": "failed",
        "class": "class org.postgresql.util.PSQLException", "error_type": "invalid-query", "row_count": 0,
        "data": {"rows": [], "cols": []}, "json_query": {"type": "native"}})
    query = mbq(card=9)
    result = mb().fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "card 9 failed in Metabase: ERROR: column \"answerd\" does not exist" in str(result)


@responses.activate
def test_metabase_row_cap_refuses_to_combine_a_cut_off_result():
    responses.post(f"{MB}/api/card/11/query", status=202, json=mb_answer([("defects", "Defects")], [[1]] * 2000))
    query = mbq(card=11, column="defects", agg="sum")
    result = mb().fetch([query], Q4, NOW)[query]
    assert "2000-row cap" in str(result)


@responses.activate
def test_metabase_forbidden_names_the_env_var_not_the_key():
    responses.post(f"{MB}/api/card/5/query", status=403, body="You don't have permissions to do that.")
    query = mbq(card=5)
    result = mb().fetch([query], Q4, NOW)[query]
    assert "HTTP 403" in str(result) and "MB_KEY" in str(result) and "mb_secret_key" not in str(result)


PBI = "https://api.powerbi.com/v1.0/myorg"
DAX = 'EVALUATE ROW("Digital Share", CALCULATE([Digital Revenue] / [Total Revenue], DATESBETWEEN(\'Date\'[Date], DATEVALUE("{start}"), DATEVALUE("{end}"))))'


def pbi(group: str | None = "f089354e-8366-4e18-aea3-4cb4a3a50b48") -> PowerBIConnector:
    return PowerBIConnector("pbi", PowerBISource(kind="powerbi", token_env="PBI_TOKEN", group=group, backoff_seconds=0), Context(env=ENV))


def pbiq(**fields) -> Query:
    return Query.of("pbi", PowerBIQuery(source="pbi", **{"dataset": "cfafbeb1-8037-4d0c-896e-a46fb27ff229", "dax": DAX, **fields}))


URL = f"{PBI}/groups/f089354e-8366-4e18-aea3-4cb4a3a50b48/datasets/cfafbeb1-8037-4d0c-896e-a46fb27ff229/executeQueries"


@responses.activate
def test_powerbi_dax_is_templated_and_the_share_read_from_the_row():
    sent_dax = DAX.replace("{start}", "2026-10-01").replace("{end}", "2026-12-31")
    responses.post(URL, json={"results": [{"tables": [{"rows": [{"[Digital Share]": 0.3124}]}]}]},
                   match=[matchers.json_params_matcher({"queries": [{"query": sent_dax}], "serializerSettings": {"includeNulls": True}}),
                          matchers.header_matcher({"Authorization": "Bearer eyJ0eXAi.pbi"})])
    query = pbiq(column="Digital Share")
    result = pbi().fetch([query], Q4, NOW)[query]
    assert isinstance(result, Observation) and result.value == 0.3124


@responses.activate
def test_powerbi_table_columns_summed_over_rows():
    rows = [{"Sales[Channel]": "Digital", "[Revenue]": 310.5}, {"Sales[Channel]": "Branch", "[Revenue]": 640.0},
            {"Sales[Channel]": "Partner", "[Revenue]": 49.5}]
    responses.post(f"{PBI}/datasets/ds1/executeQueries", json={"results": [{"tables": [{"rows": rows}]}]})
    total = pbiq(dataset="ds1", dax="EVALUATE SUMMARIZECOLUMNS(Sales[Channel], \"Revenue\", [Revenue])", column="Revenue", agg="sum")
    digital = pbiq(dataset="ds1", dax="EVALUATE SUMMARIZECOLUMNS(Sales[Channel], \"Revenue\", [Revenue])",
                   extract="rows[?\"Sales[Channel]\"=='Digital'] | [0].\"[Revenue]\"")
    results = pbi(group=None).fetch([total, digital], Q4, NOW)
    assert results[total].value == 1000.0 and results[digital].value == 310.5
    assert len(responses.calls) == 1


@responses.activate
def test_powerbi_http_200_with_an_error_entry_is_an_error():
    responses.post(URL, status=200, json={"error": {"code": "DatasetExecuteQueriesError", "pbi.error": {
        "code": "DatasetExecuteQueriesError", "parameters": {}, "details": [
            {"code": "DetailsMessage", "detail": {"type": 1, "value": "The result set exceeds the maximum of 100000 rows."}}]}}})
    query = pbiq(column="Digital Share")
    result = pbi().fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "failed in Power BI: DatasetExecuteQueriesError: The result set exceeds the maximum of 100000 rows." in str(result)


@responses.activate
def test_powerbi_error_inside_results_and_bad_dax_400():
    responses.post(URL, json={"results": [{"error": {"code": "QueryUserError", "message": "Failed to resolve name 'Revnue'."}}]})
    responses.post(f"{PBI}/datasets/ds2/executeQueries", status=400, json={"error": {"code": "DatasetExecuteQueriesError", "pbi.error": {
        "code": "DatasetExecuteQueriesError", "details": [{"code": "DetailsMessage", "detail": {"type": 1, "value": "Query (1, 10) The syntax for ')' is incorrect."}}]}}})
    inner, syntax = pbiq(column="x"), pbiq(dataset="ds2", column="x")
    results = pbi().fetch([inner], Q4, NOW) | pbi(group=None).fetch([syntax], Q4, NOW)
    assert "Failed to resolve name 'Revnue'" in str(results[inner])
    assert "The syntax for ')' is incorrect" in str(results[syntax])


@responses.activate
def test_powerbi_throttling_is_retried_then_retriable():
    responses.post(URL, status=429, headers={"Retry-After": "12"})
    connector = PowerBIConnector("pbi", PowerBISource(kind="powerbi", token_env="PBI_TOKEN", backoff_seconds=0, retries=1,
                                                      group="f089354e-8366-4e18-aea3-4cb4a3a50b48"), Context(env=ENV))
    with pytest.raises(RetriableError) as info:
        connector.fetch([pbiq(column="x")], Q4, NOW)
    assert info.value.retry_after == 12 and len(responses.calls) == 2


SS = "https://superset.example.com"


def chart_answer(rows: list[dict], status: str = "success", error=None) -> dict:
    return {"result": [{"cache_key": "6f1c", "cached_dttm": None, "cache_timeout": 86400, "applied_template_filters": [],
                        "annotation_data": {}, "error": error, "is_cached": False, "query": "SELECT ...", "status": status,
                        "stacktrace": None, "rowcount": len(rows), "from_dttm": None, "to_dttm": None,
                        "colnames": list(rows[0]) if rows else [], "indexnames": list(range(len(rows))), "coltypes": [0] * (len(rows[0]) if rows else 0),
                        "data": rows, "result_format": "json", "applied_filters": [], "rejected_filters": []}]}


@responses.activate
def test_superset_logs_in_once_then_reads_chart_data_with_the_bearer():
    responses.post(f"{SS}/api/v1/security/login", json={"access_token": "jwt-abc"},
                   match=[matchers.json_params_matcher({"username": "okr-bot", "password": "ss-pass", "provider": "db", "refresh": False})])
    responses.get(f"{SS}/api/v1/chart/12/data/", json=chart_answer([{"channel": "app", "share": 0.21}, {"channel": "web", "share": 0.13}]),
                  match=[matchers.header_matcher({"Authorization": "Bearer jwt-abc"}), matchers.query_param_matcher({"format": "json", "type": "full"})])
    responses.get(f"{SS}/api/v1/chart/13/data/", json=chart_answer([{"nps": 31}]))
    connector = SupersetConnector("ss", SupersetSource(kind="superset", url=SS, username_env="SS_USER", password_env="SS_PASSWORD"), Context(env=ENV))
    share, nps = Query.of("ss", SupersetQuery(source="ss", chart=12, column="share", agg="sum")), Query.of("ss", SupersetQuery(source="ss", chart=13))
    results = connector.fetch([share, nps], Q4, NOW)
    assert results[share].value == pytest.approx(0.34) and results[nps].value == 31
    assert [c.request.url.split("?")[0] for c in responses.calls] == [
        f"{SS}/api/v1/security/login", f"{SS}/api/v1/chart/12/data/", f"{SS}/api/v1/chart/13/data/"]


@responses.activate
def test_superset_token_env_skips_login_and_failed_chart_is_an_error():
    responses.get(f"{SS}/api/v1/chart/14/data/", json=chart_answer([], status="failed", error="Table 'complaints' doesn't exist"),
                  match=[matchers.header_matcher({"Authorization": "Bearer eyJ.ss"})])
    connector = SupersetConnector("ss", SupersetSource(kind="superset", url=SS, token_env="SS_TOKEN"), Context(env=ENV))
    query = Query.of("ss", SupersetQuery(source="ss", chart=14))
    result = connector.fetch([query], Q4, NOW)[query]
    assert "chart 14 failed in Superset: Table 'complaints' doesn't exist" in str(result)


@responses.activate
def test_superset_rejected_login_fails_the_batch_naming_the_env_vars():
    responses.post(f"{SS}/api/v1/security/login", status=401, json={"message": "Not authorized"})
    connector = SupersetConnector("ss", SupersetSource(kind="superset", url=SS, username_env="SS_USER", password_env="SS_PASSWORD"), Context(env=ENV))
    with pytest.raises(SourceError, match="HTTP 401.*SS_USER/SS_PASSWORD") as info:
        connector.fetch([Query.of("ss", SupersetQuery(source="ss", chart=12))], Q4, NOW)
    assert "ss-pass" not in str(info.value)


def test_superset_needs_exactly_one_way_to_authenticate():
    with pytest.raises(ValueError, match="set username_env and password_env"):
        SupersetSource(kind="superset", url=SS, username_env="SS_USER")
    with pytest.raises(ValueError, match="set username_env and password_env"):
        SupersetSource(kind="superset", url=SS, username_env="SS_USER", password_env="P", token_env="T")


def test_powerbi_query_must_be_dax_evaluate():
    with pytest.raises(ValueError, match="starting with EVALUATE"):
        PowerBIQuery(source="pbi", dataset="d", dax="SELECT 1")


@responses.activate
def test_powerbi_truncated_table_with_an_error_next_to_its_rows_is_an_error():
    """Over the row limit Power BI answers 200 with the rows it managed plus an error: never sum a partial table."""
    responses.post(URL, json={"results": [{"tables": [{
        "rows": [{"Sales[Revenue]": 10.0}] * 3,
        "error": {"code": "RowsLimitExceeded", "message": "More than 100000 rows in a query result"}}]}]})
    query = pbiq(column="Revenue", agg="sum")
    result = pbi().fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "More than 100000 rows in a query result" in str(result)
