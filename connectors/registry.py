"""Which connector class serves which source kind (imported only when a source of that kind is used)."""
from __future__ import annotations

import importlib

from pydantic import BaseModel

from connectors.base import Connector, Context

CONNECTORS: dict[str, str] = {
    "sql": "connectors.sql:SqlConnector",
    "file": "connectors.file:FileConnector",
    "jira": "connectors.jira:JiraConnector",
    "sheets": "connectors.sheets_source:SheetsConnector",
    "rest": "connectors.rest:RestConnector",
    "metabase": "connectors.bi_presets:MetabaseConnector",
    "powerbi": "connectors.bi_presets:PowerBIConnector",
    "superset": "connectors.bi_presets:SupersetConnector",
}


def open_connector(name: str, settings: BaseModel, context: Context) -> Connector:
    """Build the connector for one configured source."""
    module, cls = CONNECTORS[settings.kind].split(":")  # type: ignore[attr-defined]
    return getattr(importlib.import_module(module), cls)(name, settings, context)  # type: ignore[no-any-return]
