"""The compiled validator (``python native/build.py``) gives the outcome the pure-Python modules give,
on every input we have and on mutated ones, byte for byte.

Two real processes validate the same list of inputs: one imports the compiled build from this
checkout, the other a copy of ``adapter/`` without the extensions. Each prints one line per input:
the OperationOutcome as sorted JSON, or the exception a crash raised (compiled code checks its type
annotations at run time, so an annotation narrower than the untrusted JSON it reads is a
``TypeError`` there and nowhere else: the mutated inputs are here to find those). The inputs: the
shipped examples, the validation cases (tests/cases/validation, with their definitions), the HL7
base-R4 and questionnaire corpora (``ADAPTER_CONFORMANCE_DIR``), and mutations of the examples and of
the questionnaire cases (seeded, so both processes see the same ones).

Without a build this skips; CI's compiled run sets ``ADAPTER_REQUIRE_NATIVE=1``, under which
``adapter.native`` stops the start when the build is missing, so the skip cannot hide there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adapter import native

ROOT = Path(__file__).resolve().parents[3]
MUTATIONS = int(os.environ.get("ADAPTER_NATIVE_MUTATIONS", "4000"))
# Every Nth place of every input, its value replaced in turn by each of ODD's values (0: none; 1:
# every place, some 360,000 validations a process, for a run by hand). CI keeps the random mutations.
SUBSTITUTIONS = int(os.environ.get("ADAPTER_NATIVE_SUBSTITUTIONS", "0"))

pytestmark = pytest.mark.skipif(not native.status()["compiled"],
                                reason="no compiled validator in this checkout (python native/build.py)")

_SCRIPT = r'''
import copy, json, os, random, sys
from pathlib import Path

import yaml

from adapter.fhir.registry import default_registry
from adapter.validation import validate_bytes
from adapter import native

root, conformance, mutations, every = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
print(json.dumps(native.describe()))
jobs = []  # (label, bytes, registry)
base = default_registry()
for path in sorted((root / "profiles" / "examples").glob("*.json")):
    jobs.append((path.name, path.read_bytes(), base))
cases = root / "tests" / "cases" / "validation"
for case in yaml.safe_load((cases / "manifest.yaml").read_text(encoding="utf-8"))["cases"]:
    reg = default_registry([str(cases / ig) for ig in case.get("ig", [])]) if case.get("ig") else base
    jobs.append((case["name"], (cases / case["input"]).read_bytes(), reg))
if conformance:
    folder = Path(conformance)
    if (folder / "hl7-base" / "manifest.json").is_file():
        for case in json.loads((folder / "hl7-base" / "manifest.json").read_text(encoding="utf-8"))["cases"]:
            if case["file"].endswith(".json"):
                jobs.append((case["name"], (folder / "hl7-base" / case["file"]).read_bytes(), base))
    if (folder / "hl7-questionnaire" / "manifest.json").is_file():
        q = folder / "hl7-questionnaire"
        for case in json.loads((q / "manifest.json").read_text(encoding="utf-8"))["cases"]:
            reg = default_registry([str(q / ig) for ig in case["ig"]])
            jobs.append((case["name"], (q / case["response"]).read_bytes(), reg))

ODD = [None, True, 0, -1.5, "", "x", "urn:uuid:1", [], [None], [1, "a"], {}, {"resourceType": "Patient"},
       {"reference": 3}, {"url": []}, {"linkId": 1, "item": "x"}, {"coding": [{"system": 1}]}]


def containers(node, out):
    if isinstance(node, dict):
        out.append(node)
        for v in node.values():
            containers(v, out)
    elif isinstance(node, list):
        out.append(node)
        for v in node:
            containers(v, out)
    return out


def mutate(doc, rnd):
    doc = copy.deepcopy(doc)
    for _ in range(rnd.randint(1, 3)):
        spots = containers(doc, [])
        spot = rnd.choice(spots)
        if isinstance(spot, dict) and spot:
            key = rnd.choice(sorted(spot))
            what = rnd.random()
            if what < 0.2:
                del spot[key]
            elif what < 0.8:
                spot[key] = copy.deepcopy(rnd.choice(ODD))
            else:
                spot[rnd.choice(["id", "url", "linkId", "reference", "_" + key, "extension"])] = copy.deepcopy(rnd.choice(ODD))
        elif isinstance(spot, list) and spot:
            i = rnd.randrange(len(spot))
            if rnd.random() < 0.5:
                spot[i] = copy.deepcopy(rnd.choice(ODD))
            else:
                spot.append(copy.deepcopy(spot[i]))
    return doc


rnd = random.Random(20261205)
def parsed(raw):
    try:
        doc = json.loads(raw)
    except ValueError:  # a case of bad JSON: validated as it is above, not mutated
        return None
    return doc if isinstance(doc, dict) else None


seeds = [(label, doc, reg) for label, raw, reg in jobs if (doc := parsed(raw)) is not None]
for n in range(mutations):
    label, doc, reg = seeds[n % len(seeds)]
    jobs.append((f"{label} (mutation {n})", json.dumps(mutate(doc, rnd)).encode(), reg))
    if n % 10 == 0:  # a cut text too
        raw = jobs[-1][1]
        jobs.append((f"{label} (mutation {n}, cut)", raw[: rnd.randrange(1, len(raw))], reg))

def places(node, path=()):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield path + (key,)
        yield from places(value, path + (key,))


if every:
    substituted = []
    for label, doc, reg in seeds:
        for n, path in enumerate(places(doc)):
            if n % every:
                continue
            for value in ODD:
                changed = copy.deepcopy(doc)
                spot = changed
                for key in path[:-1]:
                    spot = spot[key]
                spot[path[-1]] = copy.deepcopy(value)
                substituted.append((f"{label} ({'/'.join(map(str, path))} = {json.dumps(value)})",
                                    json.dumps(changed).encode(), reg))
    jobs += substituted

for label, raw, reg in jobs:
    try:
        out = json.dumps(validate_bytes(raw, reg), sort_keys=True, ensure_ascii=False)
    except Exception as exc:  # noqa: BLE001 - recorded, and compared
        out = f"crash: {type(exc).__name__}: {exc}"
    print(json.dumps([label, out], ensure_ascii=False))
'''


def _run(pythonpath: Path, tmp_path: Path, name: str, mutations: int = MUTATIONS) -> list[str]:
    script = tmp_path / "outcomes.py"
    script.write_text(_SCRIPT, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    env.pop("ADAPTER_REQUIRE_NATIVE", None)
    done = subprocess.run([sys.executable, str(script), str(ROOT), os.environ.get("ADAPTER_CONFORMANCE_DIR", ""),
                           str(mutations), str(SUBSTITUTIONS)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=1800)
    assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"
    return done.stdout.splitlines()


def _pure_copy(tmp_path: Path) -> Path:
    """``adapter/`` without the build, with the data folders beside it as in a checkout."""
    pure = tmp_path / "pure"
    shutil.copytree(ROOT / "adapter", pure / "adapter", ignore=shutil.ignore_patterns("*.so", "_native.json",
                                                                                         "__pycache__"))
    for folder in ("profiles", "mappings", "schemas"):
        (pure / folder).symlink_to(ROOT / folder)
    return pure


def _differences(compiled: list[str], plain: list[str]) -> list[str]:
    """The labels of the inputs whose outcomes differ, and every crash of the compiled build."""
    assert json.loads(compiled[0]).startswith("validator: compiled") and json.loads(plain[0]) == "validator: pure Python"
    found = [json.loads(line)[0] + " (crash)" for line in compiled[1:] if json.loads(line)[1].startswith("crash:")]
    for ours, theirs in zip(compiled[1:], plain[1:], strict=True):
        if json.loads(ours) != json.loads(theirs):
            found.append(json.loads(ours)[0])
    return found


def test_the_compiled_build_gives_the_pure_outcomes(tmp_path: Path) -> None:
    compiled = _run(ROOT, tmp_path, "compiled")
    plain = _run(_pure_copy(tmp_path), tmp_path, "pure")
    assert len(compiled) == len(plain) > MUTATIONS + 300
    assert _differences(compiled, plain) == []


def test_a_different_rule_in_one_build_is_caught(tmp_path: Path) -> None:
    """Negative control: the pure copy with dom-3 switched off (its function returns at once)."""
    pure = _pure_copy(tmp_path)
    rules = pure / "adapter" / "validation" / "core_rules.py"
    text = rules.read_text(encoding="utf-8")
    head = "    contained = resource.get(\"contained\")\n"
    assert text.count(head) == 1
    rules.write_text(text.replace(head, "    return\n" + head), encoding="utf-8")
    found = _differences(_run(ROOT, tmp_path, "compiled", 0), _run(pure, tmp_path, "pure, dom-3 off", 0))
    assert any(label.startswith("base-contained") for label in found), found
