"""Expectations on an HTTP answer, and the matcher (pure: no network, no clock).

An expectation is one mapping in a step's ``expect`` list; the optional ``rule`` key says which
rule of the specification it checks (shown in the reports):

- ``status: 422``: the status is exactly 422;
- ``header: Location``: the answer has that header;
- ``issue: {severity: error, expression: "Bundle.entry[2]...", id: LISN_PERSONNUMMER_CHECKSUM}``: an
  OperationOutcome issue in the answer (the outcome itself or one in a Bundle's entries) has every
  field given (``expression``: one of its expressions; ``id``: its message id);
- ``no_issue: {severity: error}``: no issue has the fields given;
- ``same_as: submit``: status and body equal those of the earlier step ``submit``;
- ``{path: FHIRPATH, equals: V}``, ``in: [...]``, ``exists: true|false`` or ``same_as: STEP``: the
  first value of the FHIRPath on the JSON answer (equal to it in the answer of STEP, for same_as).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MESSAGE_ID_URL = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"
ISSUE_FIELDS = ("severity", "code", "expression", "id")
PATH_TESTS = ("equals", "in", "exists", "same_as")


class ExpectationError(Exception):
    """An expectation that is not well formed (found when a scenario is loaded)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    text: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


@dataclass(frozen=True)
class Check:
    """One expectation's verdict: what was expected (and which rule), whether it held, what was found."""

    expected: str
    ok: bool
    found: str
    rule: str = ""


def check_spec(spec: Any, earlier: Iterable[str] = ()) -> None:
    """Raise :class:`ExpectationError` for an expectation that is not well formed."""
    if not isinstance(spec, dict):
        raise ExpectationError(f"an expectation is a mapping, not {spec!r}")
    keys = set(spec) - {"rule"}
    kinds = keys & ({"path"} if "path" in keys else {"status", "header", "issue", "no_issue", "same_as"})
    if len(kinds) != 1:
        raise ExpectationError(f"exactly one of status, header, issue, no_issue, same_as, path in {spec!r}")
    kind = kinds.pop()
    if kind == "status" and (not isinstance(spec["status"], int) or keys != {"status"}):
        raise ExpectationError(f"status is one number (the exact status), not {spec['status']!r}")
    if kind == "header" and (not isinstance(spec["header"], str) or keys != {"header"}):
        raise ExpectationError("header is the name of a header that must be present")
    if kind in ("issue", "no_issue"):
        fields = spec[kind]
        if not isinstance(fields, dict) or not fields or set(fields) - set(ISSUE_FIELDS) or keys != {kind}:
            raise ExpectationError(f"{kind} is a mapping of some of {', '.join(ISSUE_FIELDS)}")
    if kind == "same_as" and (spec["same_as"] not in set(earlier) or keys != {"same_as"}):
        raise ExpectationError(f"same_as names an earlier step, not {spec['same_as']!r}")
    if kind == "path":
        tests = keys & set(PATH_TESTS)
        if len(tests) != 1 or keys != {"path"} | tests:
            raise ExpectationError(f"path needs exactly one of {', '.join(PATH_TESTS)}")
        if "in" in tests and not isinstance(spec["in"], list):
            raise ExpectationError("in is a list of values")
        if "same_as" in tests and spec["same_as"] not in set(earlier):
            raise ExpectationError(f"same_as names an earlier step, not {spec['same_as']!r}")


# -- OperationOutcome issues -----------------------------------------------------------------------

def message_id(issue: Mapping[str, Any]) -> str | None:
    for ext in issue.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == MESSAGE_ID_URL:
            return str(ext.get("valueString"))
    for coding in (issue.get("details") or {}).get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return None


def issues(doc: Any) -> list[dict[str, Any]]:
    """Every OperationOutcome issue in a JSON answer: the outcome itself, or in a Bundle's entries."""
    found: list[dict[str, Any]] = []

    def visit(res: Any) -> None:
        if not isinstance(res, dict):
            return
        if res.get("resourceType") == "OperationOutcome":
            found.extend(i for i in res.get("issue") or [] if isinstance(i, dict))
        if res.get("resourceType") == "Bundle":
            for e in res.get("entry") or []:
                if isinstance(e, dict):
                    visit(e.get("resource"))

    visit(doc)
    return found


def _issue_matches(issue: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    for name, value in want.items():
        if name == "expression":
            if str(value) not in [str(e) for e in issue.get("expression") or []]:
                return False
        elif name == "id":
            if message_id(issue) != str(value):
                return False
        elif issue.get(name) != value:
            return False
    return True


def _show_issue(issue: Mapping[str, Any]) -> str:
    return (f"{issue.get('severity')} {message_id(issue) or '-'} at "
            f"{', '.join(issue.get('expression') or []) or '-'}")


def _describe(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in fields.items())


# -- paths -----------------------------------------------------------------------------------------

def path_values(doc: Any, path: str) -> list[Any]:
    """The values of a FHIRPath on a JSON answer (a FHIR resource or any JSON object)."""
    from adapter.fhirpath import evaluate

    if not isinstance(doc, dict | list):
        return []
    head = path.split(".", 1)[0].split("(", 1)[0]
    if head[:1].isupper() and isinstance(doc, dict) and doc.get("resourceType") != head:
        return []  # FHIRPath: a path from another (or no) resource type selects nothing
    return evaluate(doc, path)


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


# -- the matcher -----------------------------------------------------------------------------------

def match(spec: Mapping[str, Any], response: Response, earlier: Mapping[str, Response]) -> Check:
    """The verdict of one expectation on ``response``; ``earlier``: the answers of earlier steps by name."""
    rule = str(spec.get("rule", ""))
    if "status" in spec:
        return Check(f"status {spec['status']}", response.status == spec["status"], f"status {response.status}", rule)
    if "header" in spec:
        value = response.header(spec["header"])
        return Check(f"header {spec['header']} present", value is not None,
                     f"{spec['header']}: {value}" if value is not None else "absent", rule)
    if "issue" in spec or "no_issue" in spec:
        want = spec.get("issue") or spec.get("no_issue") or {}
        found_issues = issues(response.json)
        hits = [i for i in found_issues if _issue_matches(i, want)]
        shown = "; ".join(_show_issue(i) for i in found_issues[:12]) or "no OperationOutcome issues"
        if "issue" in spec:
            return Check(f"an issue with {_describe(want)}", bool(hits), shown, rule)
        return Check(f"no issue with {_describe(want)}", not hits, shown, rule)
    if "same_as" in spec and "path" not in spec:
        before = earlier.get(spec["same_as"])
        if before is None:
            return Check(f"same answer as step {spec['same_as']}", False, "that step has no answer", rule)
        same = before.status == response.status and (before.json if before.json is not None else before.text) == (
            response.json if response.json is not None else response.text)
        found = "identical" if same else (f"status {response.status} vs {before.status}" if before.status !=
                                          response.status else "the body differs")
        return Check(f"same status and body as step {spec['same_as']}", same, found, rule)
    path = str(spec["path"])
    try:
        values = path_values(response.json, path)
    except Exception as exc:  # noqa: BLE001 - a FHIRPath the engine cannot evaluate is a failed check
        return Check(f"{path} evaluates", False, f"cannot evaluate: {exc}", rule)
    first = values[0] if values else None
    found = f"{path} = {_short(values[0] if len(values) == 1 else values)}" if values else f"{path}: empty"
    if "exists" in spec:
        return Check(f"{path} {'exists' if spec['exists'] else 'is empty'}", bool(values) == bool(spec["exists"]),
                     found, rule)
    if "equals" in spec:
        return Check(f"{path} = {_short(spec['equals'])}", bool(values) and first == spec["equals"], found, rule)
    if "in" in spec:
        return Check(f"{path} one of {_short(spec['in'])}", bool(values) and first in spec["in"], found, rule)
    before = earlier.get(spec["same_as"])
    prior = path_values(before.json, path) if before is not None else []
    return Check(f"{path} same as in step {spec['same_as']} ({_short(prior[0]) if prior else 'empty'})",
                 bool(values) and values == prior, found, rule)
