"""The FHIR R4 type model as data (``models/r4/model.json``), as fhirpath-py keeps its models.

For each element path (``QuestionnaireResponse.item.answer.valueString``) the model gives its
type and whether it repeats; ``elsewhere`` maps recursive paths to their definition
(``Questionnaire.item.item`` -> ``Questionnaire.item``). Generated once by
``tools/gen_r4_model.py`` from fhirpathpy's R4 model and fhir.resources' field metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

# JSON representation of the primitive types (https://hl7.org/fhir/R4/json.html#primitive).
INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
PRIMITIVE_TYPES = frozenset({"boolean", "integer", "positiveInt", "unsignedInt", "decimal", "string", "code", "id",
                             "uri", "url", "canonical", "oid", "uuid", "markdown", "base64Binary", "instant",
                             "date", "dateTime", "time", "xhtml", "System.String", "System.Boolean",
                             "System.Integer", "System.Decimal"})


@dataclass(frozen=True)
class Element:
    """One element definition: where its children are defined, its type, and whether it repeats."""

    path: str
    type: str
    repeats: bool

    @property
    def primitive(self) -> bool:
        return self.type in PRIMITIVE_TYPES


@lru_cache(maxsize=1)
def _model() -> dict[str, Any]:
    text = resources.files("adapter.fhir").joinpath("models/r4/model.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    """The names of the R4 resource types."""
    return frozenset(_model()["resources"])


def _defined(path: str) -> str:
    elsewhere: dict[str, str] = _model()["elsewhere"]
    return elsewhere.get(path, path)


@lru_cache(maxsize=8192)
def child(parent: str, name: str) -> Element | None:
    """The element ``name`` inside ``parent`` (a path or a type name), following base types."""
    elements: dict[str, list[Any]] = _model()["elements"]
    parents: dict[str, str] = _model()["parents"]
    owner: str | None = _defined(parent)
    while owner:
        path = f"{owner}.{name}"
        if path in elements:
            t, rep = elements[path]
            defined = _defined(path)
            # a backbone element's children live under its own path; a datatype's under the type
            where = defined if t in ("BackboneElement", "Element") and defined in elements else t
            return Element(where, t, bool(rep))
        if path in _model()["elsewhere"]:
            target = _defined(path)
            t, rep = elements.get(target, ["BackboneElement", 0])
            return Element(target, t, bool(rep))
        owner = parents.get(owner) if "." not in owner else _base_of_backbone(owner, parents)
    return None


def _base_of_backbone(path: str, parents: dict[str, str]) -> str | None:
    # Backbone elements inherit id/extension/modifierExtension from BackboneElement.
    return "BackboneElement" if path != "BackboneElement" else parents.get("BackboneElement")
