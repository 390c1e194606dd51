"""Outbound mappings: the data files in ``mappings/outbound/``, chosen by template major version.

A mapping (grammar in docs/outbound.md and at the top of each file) names, for every element of
the municipal XML, where its value comes from. Adding a template major version is adding a
mapping file and a schema, not Python; so is a minor version that the XML names in full (1.1):
its mapping says ``template.minor: 1`` and writes ``schemaVersion="1.1"``. A certificate is written
by the mapping of its major version with the highest minor not above its own: a 1.0 certificate
stays a schemaVersion 1.0 document, a 1.1 certificate becomes 1.1, a later 1.2 one is written by
the 1.1 mapping with its new answers as ``tillaggssvar``.
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
    template_minor: int
    schema_version: str
    """The root's ``schemaVersion``: how a receiver tells the documents of one namespace apart."""
    statuses: tuple[str, ...]
    """The document statuses this schema version can carry."""
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
    attributes = dict(target.get("attributes") or {})
    return OutboundMapping(
        name=str(doc.get("mapping", path.stem)), file=path.name,
        template_url=template["url"], template_major=int(template["major"]),
        template_minor=int(template.get("minor", 0)),
        schema_version=str((attributes.get("schemaVersion") or {}).get("literal", doc.get("version", ""))),
        statuses=tuple(doc.get("statuses") or ("original", "replacing", "withdrawn")),
        namespace=target["namespace"], root=target["root"],
        root_attributes=attributes,
        body=tuple(doc["body"]), schema=etree.XMLSchema(schema_doc), link_ids=frozenset(link_ids))


@lru_cache(maxsize=1)
def all_mappings() -> tuple[OutboundMapping, ...]:
    """Every outbound mapping in ``mappings/outbound/``."""
    folder = data_dir("mappings") / "outbound"
    return tuple(parse_mapping(p) for p in sorted(folder.glob("*.yaml")))


def mapping_for(questionnaire: str | None, *, schema_version: str | None = None) -> OutboundMapping:
    """The mapping for a template canonical (``url|major.minor``): its major version's mapping with the
    highest template minor not above the certificate's own, or the one writing ``schema_version``."""
    url, _, version = (questionnaire or "").partition("|")
    major, _, minor = version.partition(".")
    minor_number = int(minor.split(".")[0]) if minor.split(".")[0].isdigit() else 0
    candidates = [m for m in all_mappings() if m.template_url == url and str(m.template_major) == major
                  and (m.schema_version == schema_version if schema_version else m.template_minor <= minor_number)]
    if candidates:
        return max(candidates, key=lambda m: m.template_minor)
    mid = "LISN_OUTBOUND_NO_MAPPING"
    raise errors.TransformError(messages.bilingual(mid, questionnaire=questionnaire or "-", major=major or "-"),
                                message_id=mid, expression="QuestionnaireResponse.questionnaire")


def mapping_for_namespace(namespace: str, schema_version: str | None = None) -> OutboundMapping | None:
    """The mapping that reads a document of ``namespace`` and ``schemaVersion`` (the newest one of the
    namespace when the version is unknown: a later minor version only adds optional elements)."""
    found = [m for m in all_mappings() if m.namespace == namespace]
    exact = [m for m in found if m.schema_version == schema_version]
    newest = sorted(found, key=lambda m: m.template_minor, reverse=True)
    return (exact or newest)[0] if found else None
