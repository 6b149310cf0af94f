"""Config of the `jira` source kind: Jira Cloud or Data Center, measured with JQL.

Also the pure JQL templating: `{start}`, `{end}`, `{as_of}`, `{period}` and user `params` are
substituted as quoted JQL literals, so a value can never change the structure of the query; and the
check whether a JQL template can be evaluated as of a past day (`as_of_obstacle`).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Literal, Mapping, Optional, Union
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from mapping.sources.base import Kind, SourceBase, StrictModel, one_of_pair, secret_field

Measure = Literal["count", "sum", "average", "median", "percentile", "ratio"]
DURATION_MEASURES = ("average", "median", "percentile")
BUILTIN_TEMPLATE_NAMES = ("start", "end", "as_of", "period")
ParamValue = Union[str, int, float, list[Union[str, int, float]]]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class JiraSource(SourceBase):
    """A Jira Cloud site or a Jira Data Center / Server instance; credentials come from env vars."""

    kind: Literal["jira"]
    url: str = Field(description="base URL, e.g. https://acme.atlassian.net or https://jira.example.com/jira")
    deployment: Literal["auto", "cloud", "datacenter"] = Field(
        "auto", description="auto = read deploymentType from /rest/api/2/serverInfo; cloud/datacenter skip that request")
    email_env: Optional[str] = Field(None, description="Cloud: env var holding the Atlassian account email (Data Center: a username for basic auth)")
    token_env: Optional[str] = Field(None, description="Cloud: env var holding the API token (Data Center: that user's password)")
    pat_env: Optional[str] = Field(None, description="Data Center: env var holding a personal access token, sent as Authorization: Bearer")
    email_secret: Optional[str] = secret_field("the account email")
    token_secret: Optional[str] = secret_field("the API token")
    pat_secret: Optional[str] = secret_field("the personal access token")
    concurrency: int = Field(4, ge=1, le=10, description="how many distinct queries are sent at the same time")
    page_size: int = Field(1000, ge=1, le=5000, description="issues per page when a measure reads issues (sum, average, median, percentile)")
    max_issues: int = Field(20000, ge=1, description="refuse a sum/duration query matching more issues than this (bound the JQL by the period)")
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="connect and read timeout of every request")
    retries: int = Field(3, ge=0, le=10, description="retries of a request answered 429/502/503/504 or not answered at all")
    max_retry_wait_seconds: float = Field(120.0, ge=0, description="a Retry-After longer than this fails the query instead of sleeping that long")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http(s) URL like https://acme.atlassian.net")
        if parsed.username or parsed.password:
            raise ValueError("must not hold credentials; put them in env vars named by email_env/token_env or pat_env")
        if parsed.query or parsed.fragment:
            raise ValueError("must be the base URL only, without ?query or #fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_auth(self) -> "JiraSource":
        for key in ("email", "token", "pat"):
            one_of_pair(self, key)
        basic = self.has_credential("email") or self.has_credential("token")
        if basic and not (self.has_credential("email") and self.has_credential("token")):
            raise ValueError("set both email_env and token_env (Cloud: account email + API token; or their *_secret blocks)")
        if basic == self.has_credential("pat"):
            raise ValueError("set either email_env + token_env (Jira Cloud: email + API token) or pat_env (Data Center: personal access token), or their *_secret blocks")
        if self.has_credential("pat") and self.deployment == "cloud":
            raise ValueError("Jira Cloud does not accept personal access tokens; use email_env + token_env with an API token")
        return self

    def auth_hint(self) -> str:
        """Which env vars hold the credentials, for error messages (names only, never values)."""
        if self.has_credential("pat"):
            return f"check the personal access token in {self.credential_name('pat')} (it may have expired or been revoked)"
        return (f"check {self.credential_name('email')} (account email) and {self.credential_name('token')} (API token); "
                "Jira Cloud API tokens expire 1-365 days after creation: create a new one at "
                "https://id.atlassian.com/manage-profile/security/api-tokens")


class JiraQuery(StrictModel):
    """One KR metric from Jira: a measure over the issues a JQL matches."""

    source: str
    measure: Measure = Field("count", description="count | sum | average | median | percentile | ratio")
    jql: Optional[str] = Field(None, description="the issues to measure; may use {start}, {end}, {as_of}, {period} and names from params")
    field: Optional[str] = Field(None, description="sum: the numeric field, by name as users see it ('Story Points') or by id (customfield_10016)")
    from_field: str = Field("created", description="average/median/percentile: date field where the duration starts")
    to_field: str = Field("resolutiondate", description="average/median/percentile: date field where the duration ends")
    unit: Literal["hours", "days"] = Field("days", description="unit of durations")
    percentile: Optional[float] = Field(None, gt=0, le=100, description="percentile: which one, e.g. 90")
    numerator: Optional[str] = Field(None, description="ratio: JQL of the issues counted above the line")
    denominator: Optional[str] = Field(None, description="ratio: JQL of the issues counted below the line")
    scale: float = Field(1.0, gt=0, description="ratio: multiply the ratio by this, e.g. 100 for percent")
    params: dict[str, ParamValue] = Field(default_factory=dict, description="named values for {name} in the JQL; quoted when substituted")

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        for name, item in value.items():
            if not _NAME.match(name):
                raise ValueError(f"param name {name!r} must be letters, digits and _ (used as {{{name}}} in the JQL)")
            if name in BUILTIN_TEMPLATE_NAMES:
                raise ValueError(f"param {name!r} is set by okr-sync from the period; pick another name")
            if isinstance(item, list) and not item:
                raise ValueError(f"param {name!r} is an empty list; JQL 'in ()' matches nothing")
        return value

    @model_validator(mode="after")
    def _fields_for_measure(self) -> "JiraQuery":
        m = self.measure
        if m == "ratio":
            if not (self.numerator and self.denominator):
                raise ValueError("measure ratio needs numerator and denominator (two JQL queries)")
            if self.jql:
                raise ValueError("measure ratio uses numerator and denominator, not jql")
        else:
            if not self.jql:
                raise ValueError(f"measure {m} needs jql")
            if self.numerator or self.denominator:
                raise ValueError(f"numerator/denominator belong to measure ratio, not {m}")
        if m == "sum" and not self.field:
            raise ValueError("measure sum needs field: the numeric field to add up, e.g. 'Story Points'")
        if m != "sum" and self.field:
            raise ValueError(f"field is only used by measure sum (durations use from_field/to_field), not by {m}")
        if m == "percentile" and self.percentile is None:
            raise ValueError("measure percentile needs percentile: e.g. 90")
        if m != "percentile" and self.percentile is not None:
            raise ValueError(f"percentile is only used by measure percentile, not by {m}")
        known = set(BUILTIN_TEMPLATE_NAMES) | set(self.params)
        for text in self.jql_templates():
            for name in placeholders(text):
                if name not in known:
                    raise ValueError(f"JQL uses {{{name}}}, which is not a template value; define it under params or use {{start}}, {{end}}, {{as_of}}, {{period}}")
        return self

    def jql_templates(self) -> list[str]:
        """The JQL texts of this query, before substitution."""
        return [t for t in (self.jql, self.numerator, self.denominator) if t]


def placeholders(template: str) -> list[str]:
    """Names of the {name} placeholders in a JQL template."""
    return _PLACEHOLDER.findall(template.replace("{{", "").replace("}}", ""))


def jql_string(text: str, quote: str = '"') -> str:
    """Escape text for the inside of a JQL string literal delimited by `quote`."""
    return text.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _literal(value: ParamValue) -> str:
    """A value as a JQL operand outside quotes: a quoted string, a bare number, or a (list, of, values)."""
    if isinstance(value, list):
        return "(" + ", ".join(_literal(item) for item in value) + ")"
    if isinstance(value, bool):
        return '"' + str(value).lower() + '"'
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + jql_string(str(value)) + '"'


def _inside(value: ParamValue, quote: str) -> str:
    """A value pasted inside an existing string literal: escaped, no quotes of its own."""
    if isinstance(value, list):
        return jql_string(", ".join(str(item) for item in value), quote)
    return jql_string(str(value), quote)


def template_values(start: date, end: date, period_name: str, params: dict[str, ParamValue],
                    as_of: Optional[date] = None) -> dict[str, ParamValue]:
    """The values a JQL template may use: the period's first day, its last day up to 23:59, the evaluated
    day up to 23:59 (`as_of`, default the last day), its name, and params."""
    values: dict[str, ParamValue] = dict(params)
    values.update(start=start.isoformat(), end=f"{end.isoformat()} 23:59",
                  as_of=f"{(as_of or end).isoformat()} 23:59", period=period_name)
    return values


# JQL functions Jira answers relative to the moment of the request (dates), or with today's state.
RELATIVE_DATE_FUNCTIONS = ("now", "startOfDay", "startOfWeek", "startOfMonth", "startOfYear",
                           "endOfDay", "endOfWeek", "endOfMonth", "endOfYear", "currentLogin", "lastLogin")
CURRENT_STATE_FUNCTIONS = ("openSprints", "closedSprints", "futureSprints", "releasedVersions", "unreleasedVersions",
                           "earliestUnreleasedVersion", "latestReleasedVersion")
_FUNCTION = re.compile(r"\b(" + "|".join(RELATIVE_DATE_FUNCTIONS + CURRENT_STATE_FUNCTIONS) + r")\s*\(", re.IGNORECASE)
_DURATION = re.compile(r"^\s*[+-]?\d+\s*[ywdhm](\s*[+-]?\d+\s*[ywdhm])*\s*$", re.IGNORECASE)
_SIGNED_NUMBER = re.compile(r"^\s*[+-]\d+\s*$")
# a date comparison: an operator or a WAS/CHANGED predicate, then one operand (quoted, or a bare word)
_COMPARED = re.compile(r"(<=|>=|<|>|\b(?:before|after|on)\b)\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s()\"',]+)", re.IGNORECASE)
_DURING = re.compile(r"\bduring\s*\(([^)]*)\)", re.IGNORECASE)


def _unquoted_mask(text: str) -> list[bool]:
    """For each character of a JQL text: is it outside every string literal (quotes themselves count as inside)?"""
    mask: list[bool] = []
    quote: Optional[str] = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote and ch == "\\" and i + 1 < len(text):
            mask += [False, False]
            i += 2
            continue
        if quote is None and ch in "\"'":
            quote = ch
            mask.append(False)
        elif quote == ch:
            quote = None
            mask.append(False)
        else:
            mask.append(quote is None)
        i += 1
    return mask


def _relative_operand(operand: str) -> bool:
    """Is a JQL operand a relative duration ("-30d", -4h, '4w 2d', "-30")?"""
    quoted = operand[:1] in "\"'" and operand[-1:] == operand[:1] and len(operand) >= 2
    inner = operand[1:-1] if quoted else operand
    return bool(_DURATION.match(inner)) or (quoted and bool(_SIGNED_NUMBER.match(inner)))


def relative_durations(jql: str) -> list[str]:
    """The relative durations a JQL text compares dates with (`created >= -30d`, `resolved > "-2w"`, `DURING ("-1w", "0d")`)."""
    mask = _unquoted_mask(jql)
    found: list[str] = []
    for match in _COMPARED.finditer(jql):
        if mask[match.start(1)] and _relative_operand(match.group(2)):
            found.append(match.group(2))
    for match in _DURING.finditer(jql):
        if mask[match.start()]:
            found += [part.strip() for part in match.group(1).split(",") if _relative_operand(part.strip())]
    return found


def relative_functions(jql: str) -> list[str]:
    """The JQL functions in a text (outside string literals) that Jira answers as of the moment of the request."""
    mask = _unquoted_mask(jql)
    return [match.group(1) for match in _FUNCTION.finditer(jql) if mask[match.start()]]


def as_of_obstacle(template: str, params: Mapping[str, ParamValue]) -> Optional[str]:
    """Why a JQL template cannot be evaluated as of a past day, or None when it can.

    It cannot when it uses a function Jira answers relative to now (now(), startOfMonth(), lastLogin(),
    openSprints()...), compares a date with a relative duration (-30d, "-2w"; also when a param holds
    one), or references neither {end} nor {as_of} (then nothing keeps issues after that day out).
    """
    functions = relative_functions(template)
    if functions:
        kind = "relative to the moment of the request" if functions[0].lower() in {f.lower() for f in RELATIVE_DATE_FUNCTIONS} else "with today's state"
        return f"JQL uses {functions[0]}(), which Jira answers {kind}"
    durations = relative_durations(template)
    if not durations:
        names = [name for name in placeholders(template) if name in params]
        if names:
            literal = {name: params[name] for name in names}
            values = template_values(date.min, date.min, "", dict(literal))
            try:
                durations = relative_durations(render_jql(template, values))
            except KeyError:
                durations = []
    if durations:
        return f"JQL compares a date with the relative duration {durations[0]}, which Jira counts from the moment of the request"
    if not {"end", "as_of"} & set(placeholders(template)):
        return "JQL references neither {end} nor {as_of}, so issues after that day would be counted"
    return None


def render_jql(template: str, values: dict[str, ParamValue]) -> str:
    """Substitute {name} placeholders with quoted literals; inside a quoted literal only escape.

    The scan follows JQL's string literals ("..." and '...', backslash escapes), so a value can
    close no quote and add no clause. `{{` and `}}` stand for literal braces.
    """
    out: list[str] = []
    quote: str | None = None
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if quote and ch == "\\" and i + 1 < n:
            out.append(template[i:i + 2])
            i += 2
            continue
        if ch in "{}" and template[i:i + 2] in ("{{", "}}"):
            out.append(ch)
            i += 2
            continue
        if ch == "{":
            match = _PLACEHOLDER.match(template, i)
            if match:
                name = match.group(1)
                if name not in values:
                    raise KeyError(name)
                out.append(_inside(values[name], quote) if quote else _literal(values[name]))
                i = match.end()
                continue
        if quote is None and ch in "\"'":
            quote = ch
        elif quote == ch:
            quote = None
        out.append(ch)
        i += 1
    return "".join(out)


KINDS = (
    Kind("jira", JiraSource, JiraQuery),
)
