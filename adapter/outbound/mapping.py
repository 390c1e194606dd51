"""Outbound mappings: the data files in ``mappings/outbound/``, chosen by template major version.

A mapping (grammar in docs/outbound.md and at the top of each file) names, for every element of
the municipal XML, where its value comes from. Adding a template major version is adding a
mapping file and a schema, not Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from adapter import errors, messages
from adapter.data import data_dir

SOURCE_KEYS = ("answer", "path", "ident", "value", "summary", "literal")
_NODE_KEYS = frozenset({"element", "attributes", "children", "resource", "for", "if", "unmapped_answers",
                        *SOURCE_KEYS})


@dataclass(frozen=True)
class OutboundMapping:
    """One parsed mapping file with its compiled schema."""

    name: str
    file: str
    template_url: str
    template_major: int
    namespace: str
    root: str
    root_attributes: dict[str, Any]
    body: tuple[dict[str, Any], ...]
    schema: etree.XMLSchema = field(repr=False, compare=False)
    link_ids: frozenset[str] = frozenset()
    """Every linkId the mapping names (as ``answer`` or ``for.item``)."""


def schemas_dir() -> Path:
    """``schemas/``: the top-level folder in a checkout, ``adapter/_data/schemas`` in a wheel."""
    return data_dir("schemas")


def _invalid(file: str, where: str, detail: str) -> errors.TransformError:
    mid = "LISN_OUTBOUND_MAPPING_INVALID"
    return errors.TransformError(messages.bilingual(mid, file=file, where=where, detail=detail), message_id=mid)


def _check_nodes(nodes: Any, file: str, where: str, link_ids: set[str]) -> None:
    if not isinstance(nodes, list):
        raise _invalid(file, where, "expected a list of nodes")
    for i, node in enumerate(nodes):
        here = f"{where}[{i}]"
        if not isinstance(node, dict) or not isinstance(node.get("element"), str):
            raise _invalid(file, here, "every node needs 'element'")
        unknown = set(node) - _NODE_KEYS
        if unknown:
            raise _invalid(file, here, f"unknown keys {sorted(unknown)}")
        if len([k for k in SOURCE_KEYS if k in node]) > 1:
            raise _invalid(file, here, "at most one source per node")
        if "answer" in node:
            link_ids.add(node["answer"])
        if isinstance(node.get("for"), dict) and "item" in node["for"]:
            link_ids.add(node["for"]["item"])
        if "children" in node:
            _check_nodes(node["children"], file, f"{here}.children", link_ids)


def parse_mapping(path: Path) -> OutboundMapping:
    """Read and check one mapping file; a broken file is a TransformError naming the place in it."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    link_ids: set[str] = set()
    try:
        template, target = doc["template"], doc["target"]
        _check_nodes(doc["body"], path.name, "body", link_ids)
        schema_doc = etree.parse(str(schemas_dir() / target["schema"]))
    except (KeyError, TypeError) as exc:
        raise _invalid(path.name, "top level", f"missing {exc}") from None
    return OutboundMapping(
        name=str(doc.get("mapping", path.stem)), file=path.name,
        template_url=template["url"], template_major=int(template["major"]),
        namespace=target["namespace"], root=target["root"],
        root_attributes=dict(target.get("attributes") or {}),
        body=tuple(doc["body"]), schema=etree.XMLSchema(schema_doc), link_ids=frozenset(link_ids))


@lru_cache(maxsize=1)
def all_mappings() -> tuple[OutboundMapping, ...]:
    """Every outbound mapping in ``mappings/outbound/``."""
    folder = data_dir("mappings") / "outbound"
    return tuple(parse_mapping(p) for p in sorted(folder.glob("*.yaml")))


def mapping_for(questionnaire: str | None) -> OutboundMapping:
    """The mapping for a template canonical (``url|major.minor``), chosen by its major version."""
    url, _, version = (questionnaire or "").partition("|")
    major = version.split(".")[0]
    for m in all_mappings():
        if m.template_url == url and str(m.template_major) == major:
            return m
    mid = "LISN_OUTBOUND_NO_MAPPING"
    raise errors.TransformError(messages.bilingual(mid, questionnaire=questionnaire or "-", major=major or "-"),
                                message_id=mid, expression="QuestionnaireResponse.questionnaire")


def mapping_for_namespace(namespace: str) -> OutboundMapping | None:
    return next((m for m in all_mappings() if m.namespace == namespace), None)
