"""The validator's outcome for every example and conformance case, pinned to a file.

Speed work on the validator (issue 15) must not change a single result. This module validates a
fixed set of inputs from their bytes (``validate_bytes``: parse, every check, issue positions) and
gives each OperationOutcome by name:

- every ``profiles/examples/*.json`` and ``tests/unit/validation/xml/*.xml``;
- every case of ``tests/cases/validation/manifest.yaml`` (with its ``ig`` definitions);
- every case of ``tests/unit/validation_profiles/manifest.json`` (mutations applied, written as
  indented JSON);
- every case of the shared HL7 corpora (``$ADAPTER_CONFORMANCE_DIR``: ``hl7-base``,
  ``hl7-questionnaire`` with its Questionnaires), when present.

``python -m tests.unit.validation.outcome_pin`` writes ``outcomes_pinned.json`` next to this
file; ``test_outcome_pin.py`` checks that the validator still gives exactly those outcomes.
Regenerate it only for a change meant to alter results (a new rule, a new message text, a change
of the shared corpus), and say so in the commit.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PINNED = HERE / "outcomes_pinned.json"


def corpus_root() -> Path:
    env = os.environ.get("ADAPTER_CONFORMANCE_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "conformance"


def inputs() -> Iterator[tuple[str, bytes, Any]]:
    """``(name, raw bytes, registry or None)`` for every pinned input."""
    from adapter.fhir.registry import Registry, default_registry

    lisn = default_registry()
    for path in sorted((ROOT / "profiles" / "examples").glob("*.json")):
        yield f"examples/{path.name}", path.read_bytes(), lisn
    for path in sorted((HERE / "xml").glob("*.xml")):
        yield f"xml/{path.name}", path.read_bytes(), lisn
    cases_dir = ROOT / "tests" / "cases" / "validation"
    for case in yaml.safe_load((cases_dir / "manifest.yaml").read_text(encoding="utf-8"))["cases"]:
        registry = Registry()
        for ig in case.get("ig") or []:
            registry.load_path(cases_dir / ig)
        yield f"cases/{case['name']}", (cases_dir / case["input"]).read_bytes(), registry
    profiles_dir = ROOT / "tests" / "unit" / "validation_profiles"
    sys.path.insert(0, str(profiles_dir))
    try:
        from test_cases import load_input  # that folder's loader (mutations as data)
    finally:
        sys.path.remove(str(profiles_dir))
    fixtures = Registry()
    fixtures.load_path(profiles_dir / "fixtures")
    for case in json.loads((profiles_dir / "manifest.json").read_text(encoding="utf-8"))["cases"]:
        registry = lisn if case.get("registry") == "lisn" else fixtures
        raw = json.dumps(load_input(case), indent=2, ensure_ascii=False).encode()
        yield f"profiles/{case['name']}", raw, registry
    base = corpus_root()
    if (base / "hl7-base" / "manifest.json").is_file():
        for case in json.loads((base / "hl7-base" / "manifest.json").read_text(encoding="utf-8"))["cases"]:
            yield f"hl7-base/{case['file']}", (base / "hl7-base" / case["file"]).read_bytes(), None
    folder = base / "hl7-questionnaire"
    if (folder / "manifest.json").is_file():
        for case in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["cases"]:
            yield (f"hl7-questionnaire/{case['response']}", (folder / case["response"]).read_bytes(),
                   default_registry([str(folder / ig) for ig in case["ig"]]))


def outcome(raw: bytes, registry: Any) -> Any:
    from adapter.validation import validate_bytes

    return json.loads(json.dumps(validate_bytes(raw, registry), sort_keys=True, default=str))


def collect() -> dict[str, Any]:
    return {name: outcome(raw, registry) for name, raw, registry in inputs()}


def main() -> None:
    found = collect()
    lines = [f"{json.dumps(name)}: {json.dumps(found[name], sort_keys=True, ensure_ascii=False)}" for name in sorted(found)]
    PINNED.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"{len(found)} outcomes written to {PINNED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
