"""How an error location is compared with the HL7 Java validator's (``hl7-base/README.md``).

Paths are normalised on both sides (comments, ``ofType``, ``where``, ``[url=…]`` filters, ``[x]``
and choice-type suffixes dropped; XPath-style Java paths made element paths), Java's quirks are
undone (an element named only in the message text is appended; the document-graph messages count
entries from 1; the fullUrl messages name any entry), and then segments are compared: a segment
without an index equals the same with ``[0]``, and an index-less Java segment matches any index.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from adapter.fhir import definitions as defs

_COMMENT = re.compile(r"/\*.*?\*/")
_OFTYPE = re.compile(r"\.ofType\([^)]*\)")
_WHERE = re.compile(r"\.where\((?:[^()]|\([^()]*\))*\)")
_FILTER = re.compile(r"\[url='[^']*'\]")
_SEGMENT = re.compile(r"^(.*?)(\[(\d+)\])?$")
_NAMED = re.compile(r"^(?:Unrecognized property|Undefined element) '([^']+)'")
_CARDINALITY = re.compile(r"^[\w.\[\]]+?\.(\w+)(?:\[x\])?: (?:minimum required|max allowed)")
_GRAPH = re.compile(r"^(Can't find '|Found \d+ matches for '|Entry '.*' isn't reachable)")


def corpus_dir(name: str) -> Path | None:
    """``$ADAPTER_CONFORMANCE_DIR/<name>`` or ``../shared/conformance/<name>`` beside the checkout, if present.

    Collection needs the case names before fixtures run; the ``conformance`` fixture still
    decides (skip locally, fail in CI) when the folder is missing.
    """
    env = os.environ.get("ADAPTER_CONFORMANCE_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "conformance"
    folder = base / name
    return folder if (folder / "manifest.json").is_file() else None


@lru_cache(maxsize=1)
def _type_suffixes() -> tuple[str, ...]:
    names = set(defs.PRIMITIVES) | {"Quantity", "CodeableConcept", "Coding", "Reference", "Period",
                                                "Range", "Ratio", "Attachment", "Identifier", "SampledData",
                                                "Timing", "Age", "Duration", "Money", "HumanName", "Address",
                                                "ContactPoint", "Annotation", "Signature", "Count", "Distance",
                                                "Expression", "Meta", "Dosage", "UsageContext", "ContactDetail",
                                                "Contributor", "DataRequirement", "ParameterDefinition",
                                                "RelatedArtifact", "TriggerDefinition"}
    return tuple(sorted((n[0].upper() + n[1:] for n in names), key=len, reverse=True))


def _segment(seg: str) -> tuple[str, int | None]:
    m = _SEGMENT.match(seg)
    assert m is not None
    name = m.group(1).replace("[x]", "")
    for suffix in _type_suffixes():
        if name.endswith(suffix) and len(name) > len(suffix) and name[0].islower():
            name = name[: -len(suffix)]
            break
    return name, (int(m.group(3)) if m.group(3) is not None else None)


def normalise(path: str) -> list[tuple[str, int | None]]:
    """A location as segments ``(name, index or None)``."""
    path = _FILTER.sub("", _WHERE.sub("", _OFTYPE.sub("", _COMMENT.sub("", path))))
    if "/" in path:  # XPath: /f:Observation/f:status
        path = ".".join(p.split(":")[-1] for p in path.strip("/").split("/") if p)
    return [_segment(s) for s in path.split(".") if s]


def java_location(expression: str, text: str) -> list[tuple[str, int | None]] | None:
    """The element a Java error names, normalised; None when it names none (``(xml)``, empty)."""
    if not expression or expression.startswith("("):
        return None
    segs = normalise(expression)
    named = _NAMED.match(text) or _CARDINALITY.match(text)
    if named:
        segs.append(_segment(named.group(1)))
    if text.startswith("The fullUrl"):
        segs = [(n, None if n == "entry" else i) for n, i in segs] + [_segment("fullUrl")]
    if _GRAPH.match(text):
        segs = [(n, (i - 1 if i else i)) for n, i in segs]
    return segs


def _same(ours: tuple[str, int | None], theirs: tuple[str, int | None]) -> bool:
    return ours[0] == theirs[0] and (theirs[1] is None or (ours[1] or 0) == theirs[1])


def _root_or_entry(segs: list[tuple[str, int | None]]) -> bool:
    return len(segs) == 1 or segs[-1][0] in ("resource", "contained", "entry")


def matches(ours: list[tuple[str, int | None]], theirs: list[tuple[str, int | None]]) -> bool:
    """Whether our location is the Java element, at most two steps below it, or above it (README rules)."""
    common = min(len(ours), len(theirs))
    if not all(_same(ours[i], theirs[i]) for i in range(common)):
        return False
    if len(ours) == len(theirs):
        return True
    if len(ours) > len(theirs):
        extra = ours[len(theirs):]
        if len(extra) > 2:
            return False
        return not (_root_or_entry(theirs) and any(n in ("resource", "contained", "entry") for n, _ in extra))
    return not _root_or_entry(ours)
