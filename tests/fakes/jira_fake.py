"""A fake Jira (Cloud or Data Center) for `responses`, answering with the shapes the real services use.

It knows issues per exact JQL text (no JQL engine: tests name the rendered JQL they expect), checks
the credentials like Jira does, and can be told to fail the next requests for a JQL (or an
endpoint) with a given status, headers and body. Every request is recorded by `responses`.

Shapes follow Atlassian's docs and recorded answers:
- GET  /rest/api/2/serverInfo -> {baseUrl, version, versionNumbers, deploymentType: "Cloud"|"Server", ...}
- GET  /rest/api/2/field -> [{id, name, custom, clauseNames, schema: {type, system|custom, customId}}]
- Cloud: POST /rest/api/2/search/approximate-count {"jql"} -> {"count": n}
         POST /rest/api/2/search/jql {jql, fields, maxResults, nextPageToken} -> {issues, nextPageToken?, isLast}
         (no total; fields default to id only; nextPageToken absent on the last page)
         POST /rest/api/2/search -> 410 Gone (CHANGE-2046)
- Data Center: POST /rest/api/2/search {jql, startAt, maxResults, fields} -> {expand, startAt, maxResults, total, issues}
"""
from __future__ import annotations

import base64
import json
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Optional

import responses

CLOUD_FIELDS: list[dict[str, Any]] = [
    {"id": "issuekey", "key": "issuekey", "name": "Key", "custom": False, "orderable": False, "navigable": True,
     "searchable": False, "clauseNames": ["id", "issue", "issuekey", "key"]},
    {"id": "summary", "key": "summary", "name": "Summary", "custom": False, "orderable": True, "navigable": True,
     "searchable": True, "clauseNames": ["summary"], "schema": {"type": "string", "system": "summary"}},
    {"id": "created", "key": "created", "name": "Created", "custom": False, "orderable": False, "navigable": True,
     "searchable": True, "clauseNames": ["created", "createdDate"], "schema": {"type": "datetime", "system": "created"}},
    {"id": "resolutiondate", "key": "resolutiondate", "name": "Resolved", "custom": False, "orderable": False,
     "navigable": True, "searchable": True, "clauseNames": ["resolutiondate", "resolved"],
     "schema": {"type": "datetime", "system": "resolutiondate"}},
    {"id": "duedate", "key": "duedate", "name": "Due date", "custom": False, "orderable": True, "navigable": True,
     "searchable": True, "clauseNames": ["due", "duedate"], "schema": {"type": "date", "system": "duedate"}},
    {"id": "customfield_10016", "key": "customfield_10016", "name": "Story point estimate", "untranslatedName": "Story point estimate",
     "custom": True, "orderable": True, "navigable": True, "searchable": True, "clauseNames": ["cf[10016]", "Story point estimate"],
     "schema": {"type": "number", "custom": "com.pyxis.greenhopper.jira:jsw-story-points", "customId": 10016}},
    {"id": "customfield_10020", "key": "customfield_10020", "name": "Sprint", "custom": True, "orderable": True, "navigable": True,
     "searchable": True, "clauseNames": ["cf[10020]", "Sprint"],
     "schema": {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint", "customId": 10020}},
    {"id": "customfield_10040", "key": "customfield_10040", "name": "Started", "custom": True, "orderable": True, "navigable": True,
     "searchable": True, "clauseNames": ["cf[10040]", "Started"],
     "schema": {"type": "datetime", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datetime", "customId": 10040}},
]

DC_FIELDS: list[dict[str, Any]] = [f for f in CLOUD_FIELDS if f["id"] != "customfield_10016"] + [
    {"id": "customfield_10106", "name": "Story Points", "custom": True, "orderable": True, "navigable": True, "searchable": True,
     "clauseNames": ["cf[10106]", "Story Points"],
     "schema": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float", "customId": 10106}},
]

GONE_410 = {"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                              "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"],
            "errors": {}}
CLOUD_401_TEXT = "Client must be authenticated to access this resource."
DC_401 = {"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}}
RATE_429 = {"errorMessages": ["Rate limit exceeded."], "errors": {}}


def issue(key: str, **fields: Any) -> dict[str, Any]:
    """An issue as search results carry it: id, key, self and the fields (all of them; the fake trims to the requested ones)."""
    number = int(re.sub(r"\D", "", key) or 0)
    return {"expand": "", "id": str(10000 + number), "self": f"https://example/rest/api/2/issue/{10000 + number}",
            "key": key, "fields": fields}


@dataclass
class Failure:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeJira:
    """A Jira site; `cloud=False` makes it a Data Center instance."""

    url: str = "https://acme.atlassian.net"
    cloud: bool = True
    email: str = "ops@acme.example"
    token: str = "cloud-token-SECRET-123"
    pat: str = "dc-pat-SECRET-456"
    issues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # approximate-count answers that differ from len(issues)
    bad_jql: dict[str, str] = field(default_factory=dict)  # JQL -> Jira's error message (400)
    max_page: Optional[int] = None  # the server's own cap on maxResults
    repeat_token: bool = False  # hand out the same nextPageToken forever (a server bug)
    fields: Optional[list[dict[str, Any]]] = None
    failures: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))  # JQL or path -> queued Failures

    def __post_init__(self) -> None:
        if self.fields is None:
            self.fields = CLOUD_FIELDS if self.cloud else DC_FIELDS
        if self.max_page is None:
            self.max_page = 5000 if self.cloud else 1000

    # -- set-up ------------------------------------------------------------------------------
    def fail(self, key: str, *failures: Failure) -> None:
        """Answer the next requests for a JQL (or an endpoint path like '/rest/api/2/field') with these failures."""
        self.failures[key].extend(failures)

    def register(self, rsps: responses.RequestsMock) -> None:
        base = self.url + "/rest/api/2"
        rsps.add_callback(responses.GET, base + "/serverInfo", callback=self._server_info)
        rsps.add_callback(responses.GET, base + "/field", callback=self._field)
        rsps.add_callback(responses.POST, base + "/search/approximate-count", callback=self._approximate_count)
        rsps.add_callback(responses.POST, base + "/search/jql", callback=self._search_jql)
        rsps.add_callback(responses.POST, base + "/search", callback=self._search)

    # -- plumbing ----------------------------------------------------------------------------
    def _auth_ok(self, request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            return base64.b64decode(header[6:]).decode() == f"{self.email}:{self.token}"
        if header.startswith("Bearer "):
            return not self.cloud and header[7:] == self.pat
        return False

    def _unauthorized(self):
        if self.cloud:
            return 401, {"Content-Type": "text/plain;charset=UTF-8"}, CLOUD_401_TEXT
        return 401, {"Content-Type": "application/json;charset=UTF-8", "X-Seraph-LoginReason": "AUTHENTICATED_FAILED"}, json.dumps(DC_401)

    @staticmethod
    def _json(status: int, body: Any, headers: Optional[dict] = None):
        return status, {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}, json.dumps(body)

    def _failure(self, key: str):
        queue = self.failures.get(key)
        if queue:
            failure = queue.popleft()
            return self._json(failure.status, failure.body if failure.body is not None else {"errorMessages": [], "errors": {}}, failure.headers)
        return None

    def _guard(self, request, path: str, jql: Optional[str] = None):
        """Auth, queued failures and bad JQL, as Jira checks them; None when the request may proceed."""
        if (failed := self._failure(path)) is not None:
            return failed
        if path != "/serverInfo" and not self._auth_ok(request):
            return self._unauthorized()
        if jql is not None:
            if (failed := self._failure(jql)) is not None:
                return failed
            if jql in self.bad_jql:
                return self._json(400, {"errorMessages": [self.bad_jql[jql]], "errors": {}})
            if jql not in self.issues and jql not in self.counts:
                return self._json(400, {"errorMessages": [f"Error in the JQL Query: the fake has no data for {jql!r}."], "errors": {}})
        return None

    @staticmethod
    def _trim(issue_: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        """Only the requested fields, like Jira (which also names requested-but-empty fields with null)."""
        out = {k: v for k, v in issue_.items() if k != "fields"}
        wanted = [f for f in wanted if f not in ("id", "key", "issuekey")]
        if wanted:
            out["fields"] = {f: issue_["fields"].get(f) for f in wanted}
        return out

    # -- endpoints ---------------------------------------------------------------------------
    def _server_info(self, request):
        if (failed := self._guard(request, "/serverInfo")) is not None:
            return failed
        if self.cloud:
            info = {"baseUrl": self.url, "displayUrl": self.url, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
                    "deploymentType": "Cloud", "buildNumber": 100289, "buildDate": "2026-11-10T07:28:37.000+0000",
                    "serverTime": "2026-11-15T12:00:00.000+0000", "scmInfo": "5b3c8b0e0c6f", "serverTitle": "Jira",
                    "defaultLocale": {"locale": "en_US"}, "serverTimeZone": "Etc/UTC"}
        else:
            info = {"baseUrl": self.url, "version": "10.3.13", "versionNumbers": [10, 3, 13], "deploymentType": "Server",
                    "buildNumber": 10030013, "buildDate": "2026-09-01T00:00:00.000+0000", "serverTime": "2026-11-15T12:00:00.000+0000",
                    "scmInfo": "e0b6a9c3", "serverTitle": "Jira"}
        return self._json(200, info)

    def _field(self, request):
        if (failed := self._guard(request, "/field")) is not None:
            return failed
        return self._json(200, self.fields)

    def _approximate_count(self, request):
        body = json.loads(request.body)
        if (failed := self._guard(request, "/search/approximate-count", body["jql"])) is not None:
            return failed
        jql = body["jql"]
        return self._json(200, {"count": self.counts.get(jql, len(self.issues.get(jql, [])))})

    def _search_jql(self, request):
        body = json.loads(request.body)
        jql = body["jql"]
        if (failed := self._guard(request, "/search/jql", jql)) is not None:
            return failed
        size = min(int(body.get("maxResults") or 50), self.max_page)  # type: ignore[type-var]
        start = int(base64.b64decode(body["nextPageToken"]).decode()) if body.get("nextPageToken") else 0
        matching = self.issues.get(jql, [])
        page = matching[start:start + size]
        wanted = body.get("fields") or ["id"]
        out: dict[str, Any] = {"issues": [self._trim(i, wanted) for i in page]}
        if start + size < len(matching):
            out["nextPageToken"] = base64.b64encode(str(size if self.repeat_token else start + size).encode()).decode()
            out["isLast"] = False
        else:
            out["isLast"] = True
        return self._json(200, out)

    def _search(self, request):
        if self.cloud:
            if not self._auth_ok(request):
                return self._unauthorized()
            return self._json(410, GONE_410)
        body = json.loads(request.body)
        jql = body["jql"]
        if (failed := self._guard(request, "/search", jql)) is not None:
            return failed
        start, size = int(body.get("startAt") or 0), min(int(body.get("maxResults") or 50), self.max_page)  # type: ignore[type-var]
        matching = self.issues.get(jql, [])
        wanted = body.get("fields") or ["*navigable"]
        page = matching[start:start + size]
        return self._json(200, {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(matching),
                                "issues": [self._trim(i, wanted) for i in page]})
