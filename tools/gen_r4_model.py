"""Generate adapter/fhir/models/r4/model.json: the compact FHIR R4 type model the XML reader uses.

For every element path of R4 (``Questionnaire.item.linkId``): its type and whether it repeats.
Sources, both installed Python packages: the element paths and types from fhirpathpy's R4 model
(``fhirpathpy/models/r4/path2Type.json``, ``pathsDefinedElsewhere.json``, ``type2Parent.json``,
themselves generated from the R4 4.0.1 StructureDefinitions), and whether an element repeats
from fhir.resources' R4B models (field annotations ``List[...]``; R4B differs from R4 in a handful
of resources only, and an R4 path that R4B lacks falls back to "single").

Run: python tools/gen_r4_model.py
"""

from __future__ import annotations

import importlib
import json
import os
import re
from pathlib import Path
from typing import Any

import fhirpathpy
from fhir.resources import R4B

OUT = Path(__file__).resolve().parent.parent / "adapter" / "fhir" / "models" / "r4" / "model.json"
SRC = Path(os.path.dirname(fhirpathpy.__file__)) / "models" / "r4"


def _class(name: str) -> Any:
    try:
        return R4B.get_fhir_model_class(name)
    except (KeyError, ValueError, AttributeError):
        pass
    for mod in (name.lower(),):
        try:
            return getattr(importlib.import_module(f"fhir.resources.R4B.{mod}"), name)
        except (ImportError, AttributeError):
            return None
    return None


def _repeats(root: str, cls: Any, prefix: str, out: dict[str, bool], depth: int = 0) -> None:
    if cls is None or depth > 6:
        return
    for field in cls.model_fields.values():
        extra = field.json_schema_extra or {}
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        name = field.alias or ""
        ann = str(field.annotation)
        path = f"{prefix}.{name}"
        out[path] = "List[" in ann
        m = re.search(r"abc\.(\w+)Type", ann)
        if m and m.group(1).startswith(cls.__name__) and m.group(1) != cls.__name__:
            mod = importlib.import_module(cls.__module__)
            _repeats(root, getattr(mod, m.group(1), None), path, out, depth + 1)


def main() -> None:
    path2type: dict[str, str] = json.loads((SRC / "path2Type.json").read_text())
    elsewhere: dict[str, str] = json.loads((SRC / "pathsDefinedElsewhere.json").read_text())
    parents: dict[str, str] = json.loads((SRC / "type2Parent.json").read_text())
    repeats: dict[str, bool] = {}
    for type_name in sorted({p.split(".")[0] for p in path2type}):
        _repeats(type_name, _class(type_name), type_name, repeats)
    elements = {p: [t, 1 if repeats.get(p, False) else 0] for p, t in sorted(path2type.items())}
    prefixes = {p.rsplit(".", 1)[0] for p in path2type}
    for p in prefixes:  # backbone elements: path2Type lists only their children
        if "." in p and p not in elements:
            elements[p] = ["BackboneElement", 1 if repeats.get(p, False) else 0]
    resources = sorted(t for t in parents if _is_resource(t, parents))
    OUT.write_text(json.dumps({"about": __doc__.strip().splitlines()[0], "fhirVersion": "4.0.1",
                               "resources": resources, "elsewhere": elsewhere, "parents": parents,
                               "elements": elements}, separators=(",", ":"), sort_keys=True) + "\n")


def _is_resource(t: str, parents: dict[str, str]) -> bool:
    while t in parents:
        t = parents[t]
        if t in ("Resource", "DomainResource"):
            return True
    return False


if __name__ == "__main__":
    main()
