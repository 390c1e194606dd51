"""Scenario files: load, check and fill them. A scenario is data; a new one needs no code.

A scenario file (YAML) says what to send and what to expect::

    name: A valid certificate is accepted
    rule: "$process-message answers 200 with a receipt whose Task names the submission"
    fresh: [cert]                        # a new UUID per run for each name: {{cert}}
    steps:
      - name: submit
        request:
          method: POST
          path: /$process-message        # relative to --base-url (sender) or --url (receiver)
          headers: {Content-Type: application/fhir+json}
          body: {fixture: submission.json, set: {"entry[2].resource.identifier[0].value": "191212121213"}}
        expect:
          - status: 200
          - header: Location
          - {path: "entry[1].resource.resourceType", equals: Task}
        capture: {task: "entry[1].resource.id"}      # FHIRPath on the answer; then {{task}}
      - name: poll
        request: {method: GET, path: "/Task/{{task}}"}
        poll: {timeout: 20, interval: 0.5}             # repeat until every expectation holds
        expect: [{status: 200}]

Bodies: ``{fixture: FILE}`` (a template file, looked up beside the scenario, in ``../fixtures``
and in the kit's own fixtures) with optional ``set`` (path: value) and ``remove`` (paths) on its
JSON; ``{json: ...}``; ``{text: ...}``; and for receiver scenarios ``{document: ...}``, the signed
municipal XML (:mod:`adapter.testkit.documents`). Every string may hold ``{{name}}``: a kit
variable (:data:`DEFAULT_VARS`, ``--var``), a ``fresh`` UUID or a value captured by an earlier step.
Expectations: :mod:`adapter.testkit.expect`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapter.testkit.expect import ExpectationError, check_spec

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
FIXTURES = SCENARIOS / "fixtures"
KINDS = ("sender", "receiver")

DEFAULT_VARS = {
    "patient": "191212121212",  # Skatteverket's test personnummer
    "care_unit": "SE2321000016-15CQ",  # a care unit the sender is registered for
    "kommunkod": "0180",  # a registered recipient (sender) / the receiver's own kommun (receiver)
    "foreign_kommunkod": "2480",  # a kommun the receiver does not serve
    "unknown_kommunkod": "9999",  # no recipient registered (sender)
    "other_care_unit": "SE2321000016-9ZZZ",  # a care unit the sender is NOT registered for
}

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
STEP_KEYS = {"name", "request", "expect", "capture", "poll", "auth", "rule"}
REQUEST_KEYS = {"method", "path", "headers", "body"}
BODY_KINDS = ("fixture", "json", "text", "document")


class ScenarioError(Exception):
    """A scenario file that cannot be used: the message names the file and the place."""


@dataclass(frozen=True)
class Poll:
    timeout: float
    interval: float


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    expect: list[dict[str, Any]]
    capture: dict[str, str]
    poll: Poll | None = None
    auth: str = "client"  # "client": the kit's credentials; "none": no credentials at all
    rule: str = ""


@dataclass(frozen=True)
class Scenario:
    id: str
    name: str
    kind: str
    rule: str
    fresh: tuple[str, ...]
    steps: tuple[Step, ...]
    source: Path
    tags: tuple[str, ...] = field(default_factory=tuple)


def _fail(source: Path, where: str, what: str) -> ScenarioError:
    return ScenarioError(f"{source}: {where}: {what}")


def placeholders(value: Any) -> set[str]:
    """Every ``{{name}}`` in a (nested) value."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(k) | placeholders(v) for k, v in value.items())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def fill(value: Any, variables: dict[str, str]) -> Any:
    """``value`` with every ``{{name}}`` replaced; an unknown name is a :class:`ScenarioError`."""
    if isinstance(value, str):
        def one(m: re.Match[str]) -> str:
            if m.group(1) not in variables:
                raise ScenarioError(f"no value for {{{{{m.group(1)}}}}}")
            return variables[m.group(1)]
        return PLACEHOLDER.sub(one, value)
    if isinstance(value, dict):
        return {fill(k, variables): fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, variables) for v in value]
    return value


def fixture_path(name: str, source: Path) -> Path:
    """A fixture file: beside the scenario, in its folder's ``../fixtures``, or one of the kit's own."""
    for folder in (source.parent, source.parent.parent / "fixtures", FIXTURES):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise ScenarioError(f"{source}: fixture {name!r} not found (looked beside the scenario, in ../fixtures "
                        f"and in {FIXTURES})")


# -- JSON paths for set/remove: entry[2].resource.identifier[0].value ------------------------------

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


def _segments(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.split("."):
        m = _SEGMENT.fullmatch(part)
        if not m:
            raise ScenarioError(f"not a path: {path!r} (write e.g. entry[2].resource.identifier[0].value)")
        out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def _walk(doc: Any, path: str) -> tuple[Any, str | int]:
    segs = _segments(path)
    node = doc
    for seg in segs[:-1]:
        try:
            node = node[seg]
        except (KeyError, IndexError, TypeError):
            raise ScenarioError(f"path {path!r}: no {seg!r} in the fixture") from None
    return node, segs[-1]


def set_path(doc: Any, path: str, value: Any) -> None:
    parent, last = _walk(doc, path)
    try:
        parent[last] = value
    except (IndexError, TypeError):
        raise ScenarioError(f"path {path!r}: cannot set {last!r} in the fixture") from None


def remove_path(doc: Any, path: str) -> None:
    parent, last = _walk(doc, path)
    try:
        del parent[last]
    except (KeyError, IndexError, TypeError):
        raise ScenarioError(f"path {path!r}: nothing to remove in the fixture") from None


def build_body(spec: dict[str, Any] | None, source: Path, variables: dict[str, str]) -> bytes | None:
    """The request body of a ``fixture``, ``json`` or ``text`` body (``document`` bodies: documents.py)."""
    if spec is None:
        return None
    if "text" in spec:
        return str(fill(spec["text"], variables)).encode("utf-8")
    if "json" in spec:
        return json.dumps(fill(spec["json"], variables), ensure_ascii=False).encode("utf-8")
    path = fixture_path(spec["fixture"], source)
    text = str(fill(path.read_text(encoding="utf-8"), variables))
    if not spec.get("set") and not spec.get("remove"):
        return text.encode("utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: set/remove need a JSON fixture ({exc.msg} at line {exc.lineno})") from None
    for p in spec.get("remove") or []:  # in the order given; list the higher index first
        remove_path(doc, fill(p, variables))
    for p, v in (spec.get("set") or {}).items():
        set_path(doc, fill(p, variables), fill(v, variables))
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


# -- loading ---------------------------------------------------------------------------------------

def _step(raw: Any, i: int, source: Path, kind: str, known: set[str], names: set[str]) -> Step:
    where = f"steps[{i}]"
    if not isinstance(raw, dict):
        raise _fail(source, where, "a step is a mapping with name, request and expect")
    unknown = set(raw) - STEP_KEYS
    if unknown:
        raise _fail(source, where, f"unknown key(s) {sorted(unknown)} (known: {sorted(STEP_KEYS)})")
    name = str(raw.get("name") or f"step {i + 1}")
    if name in names:
        raise _fail(source, where, f"step name {name!r} is used twice")
    req = raw.get("request")
    if not isinstance(req, dict):
        raise _fail(source, f"{where}.request", "missing (method, path, headers, body)")
    if set(req) - REQUEST_KEYS:
        raise _fail(source, f"{where}.request", f"unknown key(s) {sorted(set(req) - REQUEST_KEYS)}")
    method = str(req.get("method", "GET")).upper()
    if method not in METHODS:
        raise _fail(source, f"{where}.request.method", f"{method!r} is not one of {', '.join(METHODS)}")
    headers = req.get("headers") or {}
    if not isinstance(headers, dict):
        raise _fail(source, f"{where}.request.headers", "a mapping of header: value")
    body = req.get("body")
    if body is not None:
        kinds = [k for k in BODY_KINDS if isinstance(body, dict) and k in body]
        if len(kinds) != 1:
            raise _fail(source, f"{where}.request.body", f"exactly one of {', '.join(BODY_KINDS)}")
        if kinds[0] == "document" and kind != "receiver":
            raise _fail(source, f"{where}.request.body", "document bodies are for receiver scenarios")
        if kinds[0] == "fixture":
            fixture_path(str(body["fixture"]), source)
    expect = raw.get("expect")
    if not isinstance(expect, list) or not expect:
        raise _fail(source, f"{where}.expect", "a non-empty list of expectations (a test must be able to fail)")
    for j, spec in enumerate(expect):
        try:
            check_spec(spec, earlier=names)
        except ExpectationError as exc:
            raise _fail(source, f"{where}.expect[{j}]", str(exc)) from None
    capture = raw.get("capture") or {}
    if not isinstance(capture, dict):
        raise _fail(source, f"{where}.capture", "a mapping of name: FHIRPath")
    poll = None
    if raw.get("poll") is not None:
        p = raw["poll"]
        if not isinstance(p, dict):
            raise _fail(source, f"{where}.poll", "a mapping with timeout (seconds) and interval")
        poll = Poll(float(p.get("timeout", 20)), float(p.get("interval", 0.5)))
    auth = str(raw.get("auth", "client"))
    if auth not in ("client", "none"):
        raise _fail(source, f"{where}.auth", "client (the kit's credentials) or none")
    missing = placeholders([req.get("path", ""), headers, body, expect, capture]) - known
    if missing:
        raise _fail(source, where, f"unknown variable(s) {sorted(missing)} (known here: {sorted(known)})")
    return Step(name=name, method=method, path=str(req.get("path", "")), headers={str(k): str(v) for k, v in
                headers.items()}, body=body, expect=list(expect), capture={str(k): str(v) for k, v in capture.items()},
                poll=poll, auth=auth, rule=str(raw.get("rule", "")))


def load_scenario(source: Path, kind: str, extra_vars: set[str] | None = None) -> Scenario:
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with name and steps")
    allowed = {"name", "rule", "fresh", "steps", "tags"}
    if set(raw) - allowed:
        raise _fail(source, "top level", f"unknown key(s) {sorted(set(raw) - allowed)} (known: {sorted(allowed)})")
    if not raw.get("name"):
        raise _fail(source, "name", "missing")
    fresh = raw.get("fresh") or []
    if not isinstance(fresh, list) or not all(isinstance(f, str) for f in fresh):
        raise _fail(source, "fresh", "a list of names, each a new UUID per run")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise _fail(source, "steps", "a non-empty list")
    known = set(DEFAULT_VARS) | set(fresh) | (extra_vars or set())
    steps: list[Step] = []
    for i, s in enumerate(steps_raw):
        step = _step(s, i, source, kind, known, {x.name for x in steps})
        steps.append(step)
        known |= set(step.capture)
    return Scenario(id=source.stem, name=str(raw["name"]), kind=kind, rule=str(raw.get("rule", "")),
                    fresh=tuple(fresh), steps=tuple(steps), source=source,
                    tags=tuple(str(t) for t in raw.get("tags") or []))


def load_scenarios(kind: str, folder: Path | None = None, extra_vars: set[str] | None = None) -> list[Scenario]:
    """Every ``*.yaml`` of ``folder`` (default: the kit's own for ``kind``), in file-name order."""
    if kind not in KINDS:
        raise ScenarioError(f"no scenarios of kind {kind!r} ({', '.join(KINDS)})")
    folder = folder or SCENARIOS / kind
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: not a folder of scenario files")
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise ScenarioError(f"{folder}: no scenario files (*.yaml)")
    return [load_scenario(p, kind, extra_vars) for p in files]
