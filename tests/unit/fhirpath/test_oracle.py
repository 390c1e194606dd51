"""The compiled FHIRPath gives what fhirpathpy gives: on every example and test-case input.

Expressions: the constraints of our profiles and their location expressions, the R4 core
invariants (``r4_core_invariants.json``), and ``semantics.json`` (empty propagation, three-valued
logic, equality and equivalence, partial dates, ``is``/``as``/``ofType`` with choice types,
``%resource``/``%rootResource``/``%context``, ``resolve()``, the macros). Inputs: every file in
``profiles/examples``, ``tests/cases/validation`` and ``validation_profiles/cases``, and the two HL7
corpora. Each profile and semantics expression runs on every resource of every input (Bundle
entries and contained resources too); each core invariant on the nodes its context names, typed
as fhirpathpy types them. Results are compared as raw nodes (type path and object identity) and
as plain data. An error must be the same error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhirpath_oracle import HERE, ROOT, disagreement, input_files, load, resources, typed_nodes

SEMANTICS = [e for group in json.loads((HERE / "semantics.json").read_text(encoding="utf-8"))["expressions"].values()
             for e in group]
CORE = json.loads((HERE / "r4_core_invariants.json").read_text(encoding="utf-8"))["invariants"]
ANY_ELEMENT = frozenset({"Element", "BackboneElement"})
ANY_RESOURCE = frozenset({"Resource", "DomainResource"})


def profile_expressions() -> list[str]:
    out = []
    for path in sorted((ROOT / "profiles").glob("StructureDefinition-*.json")):
        for element in json.loads(path.read_text(encoding="utf-8")).get("differential", {}).get("element", []):
            for c in element.get("constraint", []):
                out.append(c["expression"])
                out += [e["valueString"] for e in c.get("extension", []) if e.get("url", "").endswith("constraint-location")]
    return out


def _files() -> list[Any]:
    import os

    env = os.environ.get("ADAPTER_CONFORMANCE_DIR")
    corpus = Path(env) if env else ROOT.parent / "shared" / "conformance"
    files = input_files(corpus if corpus.is_dir() else None)
    examples = ROOT / "profiles" / "examples"
    # The package's examples run in the default run; the test-case and corpus inputs (about 400
    # files, two minutes of CPU) run in the slow tier, which CI runs too.
    return [pytest.param(f, id=str(f.relative_to(f.parents[1])),
                         marks=() if f.parent == examples else (pytest.mark.slow,)) for f in files]


PROFILE = profile_expressions()


def _check(expressions: list[str], node: Any, variables: dict[str, Any], problems: list[str], *, plain: bool) -> None:
    for expression in expressions:
        for raw in (True, False) if plain else (True,):
            found = disagreement(expression, node, variables, raw)
            if found:
                problems.append(found)


def _core_for(path: Any, is_resource: bool) -> list[str]:
    return [i["expression"] for i in CORE
            if i["context"] == path or (i["context"] in ANY_RESOURCE and is_resource) or i["context"] in ANY_ELEMENT]


@pytest.mark.parametrize("path", _files())
def test_compiled_equals_fhirpathpy(path: Path) -> None:
    document = load(path)
    if not isinstance(document, dict):
        pytest.skip("not a JSON object (a malformed-input case)")
    problems: list[str] = []
    for resource, variables in resources(document):
        _check(PROFILE, resource, variables, problems, plain=True)
        _check(SEMANTICS, resource, variables, problems, plain=False)
        for i, typed in enumerate(typed_nodes(resource)[:25]):
            is_resource = isinstance(typed.data, dict) and "resourceType" in typed.data
            _check(_core_for(typed.path, is_resource), typed, {**variables, "context": typed}, problems,
                   plain=i == 0)
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:5])
