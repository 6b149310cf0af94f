"""JSON Schema of okrs.yaml, with each metric spelled out per source kind (for editor completion)."""
from __future__ import annotations

import copy
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from mapping.config import GATE_KEYS, Config, Metric
from mapping.sources import KINDS


def config_schema() -> dict[str, Any]:
    """The schema of Config, where `metric` is one of the kinds' query shapes or a formula, each with the quality gate keys."""
    schema = Config.model_json_schema(mode="validation")
    defs = schema.setdefault("$defs", {})
    sources = TypeAdapter(Annotated[Union[tuple(kind.source_model for kind in KINDS.values())],  # type: ignore[misc]
                                    Field(discriminator="kind")]).json_schema(ref_template="#/$defs/{model}")
    defs.update(sources.pop("$defs", {}))
    schema["properties"]["sources"]["additionalProperties"] = sources  # validated per kind (mapping.sources), described as one union
    own = Metric.model_json_schema()
    metric_props = own["properties"] if "properties" in own else own["$defs"]["Metric"]["properties"]
    gate = {key: metric_props[key] for key in GATE_KEYS}
    queries = []
    for kind in KINDS.values():
        sub = kind.query_model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        sub["title"] = f"{kind.name} metric"
        defs[kind.query_model.__name__] = sub
        with_gate = copy.deepcopy(sub)
        with_gate["properties"].update(gate)
        defs[f"{kind.query_model.__name__}Gated"] = with_gate
        queries.append({"$ref": f"#/$defs/{kind.query_model.__name__}"})
    formula = {
        "title": "formula metric", "type": "object", "additionalProperties": False, "required": ["formula", "inputs"],
        "properties": {"formula": metric_props["formula"],
                       "inputs": {"type": "object", "description": metric_props["inputs"].get("description", ""),
                                  "additionalProperties": {"anyOf": queries}},
                       **gate},
    }
    defs["FormulaMetric"] = formula
    variants = [{"$ref": f"#/$defs/{kind.query_model.__name__}Gated"} for kind in KINDS.values()]
    variants.append({"$ref": "#/$defs/FormulaMetric"})
    defs["Metric"] = {"title": "Metric", "description": "where a KR's value comes from: a source's query (keys depend on its kind) or a formula over named inputs",
                      "anyOf": variants}
    lint = defs.get("LintSettings", {}).get("properties", {}).get("disable")
    if lint is not None:  # the rule ids, for completion (the loader checks them too, with a did-you-mean)
        from mapping.lint import RULES
        lint["items"] = {"type": "string", "enum": list(RULES)}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "okr-sync config (okrs.yaml)"
    return schema
