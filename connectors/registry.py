"""Which connector class serves which source kind."""
from __future__ import annotations

from typing import Callable

from pydantic import BaseModel

from connectors.base import Connector, Context

Factory = Callable[[str, BaseModel, Context], Connector]


def _sql(name: str, settings: BaseModel, context: Context) -> Connector:
    from connectors.sql import SqlConnector
    return SqlConnector(name, settings, context)  # type: ignore[arg-type]


def _file(name: str, settings: BaseModel, context: Context) -> Connector:
    from connectors.file import FileConnector
    return FileConnector(name, settings, context)  # type: ignore[arg-type]


def _jira(name: str, settings: BaseModel, context: Context) -> Connector:
    from connectors.jira import JiraConnector
    return JiraConnector(name, settings, context)  # type: ignore[arg-type]


def _sheets(name: str, settings: BaseModel, context: Context) -> Connector:
    from connectors.sheets_source import SheetsConnector
    return SheetsConnector(name, settings, context)  # type: ignore[arg-type]


def _rest(name: str, settings: BaseModel, context: Context) -> Connector:
    from connectors.rest import RestConnector
    return RestConnector(name, settings, context)  # type: ignore[arg-type]


def _bi(connector: str) -> Factory:
    def factory(name: str, settings: BaseModel, context: Context) -> Connector:
        from connectors import bi_presets
        return getattr(bi_presets, connector)(name, settings, context)  # type: ignore[no-any-return]
    return factory


FACTORIES: dict[str, Factory] = {
    "sql": _sql,
    "file": _file,
    "jira": _jira,
    "sheets": _sheets,
    "rest": _rest,
    "metabase": _bi("MetabaseConnector"),
    "powerbi": _bi("PowerBIConnector"),
    "superset": _bi("SupersetConnector"),
}


def open_connector(name: str, settings: BaseModel, context: Context) -> Connector:
    """Build the connector for one configured source."""
    return FACTORIES[settings.kind](name, settings, context)  # type: ignore[attr-defined]
