"""JSON Schema of okrs.yaml, with each metric spelled out per source kind (for editor completion)."""
from __future__ import annotations

from typing import Any

from mapping.config import Config
from mapping.sources import KINDS


def config_schema() -> dict[str, Any]:
    """The schema of Config, where `metric` is any one of the kinds' query shapes."""
    schema = Config.model_json_schema(mode="validation")
    defs = schema.setdefault("$defs", {})
    variants = []
    for kind in KINDS.values():
        sub = kind.query_model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        sub["title"] = f"{kind.name} metric"
        defs[kind.query_model.__name__] = sub
        variants.append({"$ref": f"#/$defs/{kind.query_model.__name__}"})
    defs["Metric"] = {"title": "Metric", "description": "where a KR's value comes from; the keys depend on the source's kind", "anyOf": variants}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "okr-sync config (okrs.yaml)"
    return schema
