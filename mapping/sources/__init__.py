"""The registry of source kinds: each kind brings a model of its connection settings and of its queries.

A kind lives in its own module here; to add one, write the two models and list it in KINDS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Union

from pydantic import BaseModel, Field

from mapping.sources.bi import MetabaseQuery, MetabaseSource, PowerBIQuery, PowerBISource, SupersetQuery, SupersetSource
from mapping.sources.file import FileQuery, FileSource
from mapping.sources.jira import JiraQuery, JiraSource
from mapping.sources.rest import RestQuery, RestSource
from mapping.sources.sheets import SheetsQuery, SheetsSource
from mapping.sources.sql import SqlQuery, SqlSource


@dataclass(frozen=True)
class Kind:
    """A source kind: how its connection is configured and what one of its queries looks like."""

    name: str
    source_model: type[BaseModel]
    query_model: type[BaseModel]


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("sql", SqlSource, SqlQuery),
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
