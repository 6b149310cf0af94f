"""The registry of source kinds: each kind brings a model of its connection settings and of its queries.

A kind lives in its own module here; to add one, write the two models and list it in KINDS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable, Mapping, Optional, Union

from pydantic import BaseModel, Field

from mapping.sources.bi import MetabaseQuery, MetabaseSource, PowerBIQuery, PowerBISource, SupersetQuery, SupersetSource
from mapping.sources.file import FileQuery, FileSource
from mapping.sources.jira import JiraQuery, JiraSource
from mapping.sources.rest import RestQuery, RestSource
from mapping.sources.sheets import SheetsQuery, SheetsSource
from mapping.sources.sql import SqlQuery, SqlSource, check_sql_query

# (raw query fields, raw source block, environment) -> [(key, message, hint)]: checks that need the source.
QueryCheck = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, str]], list[tuple[str, str, str]]]


@dataclass(frozen=True)
class Kind:
    """A source kind: how its connection is configured and what one of its queries looks like."""

    name: str
    source_model: type[BaseModel]
    query_model: type[BaseModel]
    check_query: Optional[QueryCheck] = None


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("sql", SqlSource, SqlQuery, check_sql_query),
        Kind("file", FileSource, FileQuery),
        Kind("jira", JiraSource, JiraQuery),
        Kind("sheets", SheetsSource, SheetsQuery),
        Kind("rest", RestSource, RestQuery),
        Kind("metabase", MetabaseSource, MetabaseQuery),
        Kind("powerbi", PowerBISource, PowerBIQuery),
        Kind("superset", SupersetSource, SupersetQuery),
    )
}

SourceConfig = Annotated[
    Union[tuple(kind.source_model for kind in KINDS.values())],  # type: ignore[misc]
    Field(discriminator="kind"),
]
