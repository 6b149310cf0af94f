"""The registry of source kinds: each kind brings a model of its connection settings and of its queries.

A kind lives in its own module here, which lists it in its KINDS tuple; to add one, write the two
models there and name the module in MODULES below. A kind's module is imported the first time a
config uses that kind (or something asks for all kinds, like `okr-sync schema`): building the models
of kinds a config does not use was a tenth of every command's start-up.
"""
from __future__ import annotations

import importlib
from typing import Annotated, Any, Iterator, Mapping

from pydantic import PlainValidator, SerializeAsAny
from pydantic_core import PydanticCustomError, PydanticKnownError

from mapping.sources.base import Kind, QueryCheck, SourceBase

__all__ = ["KINDS", "Kind", "QueryCheck", "SourceConfig", "validate_source"]

# kind -> the module of mapping.sources that defines it, in the order kinds are listed to users
MODULES = {
    "sql": "sql", "file": "file", "jira": "jira", "sheets": "sheets", "rest": "rest",
    "metabase": "bi", "powerbi": "bi", "superset": "bi",
}


class _Registry(Mapping[str, Kind]):
    """KINDS: a read-only mapping kind name -> Kind that imports a kind's module on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, Kind] = {}

    def __getitem__(self, name: object) -> Kind:
        if not isinstance(name, str) or name not in MODULES:
            raise KeyError(name)
        if name not in self._loaded:
            module = importlib.import_module(f"mapping.sources.{MODULES[name]}")
            self._loaded.update((kind.name, kind) for kind in module.KINDS)
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in MODULES

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)


KINDS: Mapping[str, Kind] = _Registry()


def validate_source(value: Any) -> SourceBase:
    """A source block as its kind's model; the errors are those of a union of all kinds tagged by `kind`."""
    if isinstance(value, SourceBase):
        return value
    if not isinstance(value, dict):
        raise PydanticKnownError("model_attributes_type")
    if "kind" not in value:
        raise PydanticCustomError("union_tag_not_found", "Unable to extract tag using discriminator {discriminator}",
                                  {"discriminator": "'kind'"})
    tag = value["kind"]
    if tag not in KINDS:
        expected = ", ".join(repr(name) for name in KINDS)
        raise PydanticCustomError("union_tag_invalid",
                                  "Input tag '{tag}' found using {discriminator} does not match any of the expected tags: {expected_tags}",
                                  {"discriminator": "'kind'", "tag": str(tag), "expected_tags": expected})
    return KINDS[tag].source_adapter.validate_python(value)


# A source block in okrs.yaml, validated by the model of its `kind` (serialised as that model, not as SourceBase).
SourceConfig = Annotated[SerializeAsAny[SourceBase], PlainValidator(validate_source)]
