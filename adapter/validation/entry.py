"""The validator's entry points: ``validate`` (a parsed resource) and ``validate_bytes`` (raw input).

``validate`` dispatches on ``resourceType``: a QuestionnaireResponse is checked against its
Questionnaire, a Questionnaire as a definition, a Bundle at Bundle level and then entry by
entry (``Bundle.entry[i].resource``); every resource also against the profiles (the profile
checks live in :mod:`adapter.validation.profiles` and :mod:`adapter.validation.bundle`, used when
present). All issues come back in one OperationOutcome, in the order the walk meets them.
With JSON text, issues get the ``operationoutcome-issue-line``/``-col`` extensions: the text is
scanned a second time (only when there are issues) to find where each expression points.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from adapter import errors, messages
from adapter.fhir import parse
from adapter.fhir.registry import Registry, default_registry
from adapter.issues import Issues
from adapter.settings import Limits, XmlParsing
from adapter.validation import bundle, profiles
from adapter.validation.questionnaire import check_questionnaire
from adapter.validation.questionnaire_response import validate_response
from adapter.validation.structure import validate_structure

if TYPE_CHECKING:  # the XML reader and the position scanner are imported when needed
    from adapter.fhir.xmljson import Problem

Resource = dict[str, Any]


def validate(resource: Resource, registry: Registry | None = None, *, lang: str | None = None,
             source_text: bytes | None = None, test_environment: bool = False,
             xml_problems: Sequence[Problem] = ()) -> errors.OperationOutcome:
    """Validate any R4 resource (a submission Bundle, a QuestionnaireResponse, a Questionnaire, …).

    ``lang`` (``"sv"`` or ``"en"``; default: the current language, Swedish unless the caller chose
    one with :func:`adapter.messages.use_lang`) is the language of every text; each issue also
    carries its message id in ``details.coding``.
    ``test_environment`` (the setting ``validation.test_environment``) admits Inera's test HSA-ids.
    ``xml_problems`` are the XML representation errors :func:`read_resource` found, if any.
    """
    if lang is None:  # the current language: no context to enter
        return _validate(resource, registry, source_text, test_environment, xml_problems)
    with messages.use_lang(lang):
        return _validate(resource, registry, source_text, test_environment, xml_problems)


def _validate(resource: Resource, registry: Registry | None, source_text: bytes | None, test_environment: bool,
              xml_problems: Sequence[Problem], text_checked: bool = False) -> errors.OperationOutcome:
    """:func:`validate`; ``text_checked``: ``source_text`` was read by :func:`parse.parse_json` here
    (valid JSON without a key twice: the positions may be searched for, not scanned)."""
    reg = registry if registry is not None else _default()
    issues = Issues()
    root = str(resource.get("resourceType") or "Resource")
    for message_id, where, args in xml_problems:
        issues.add(message_id, expression=root + ("" if where == "." else where), code="structure", **args)
    validate_into(resource, reg, issues, path=root, test_environment=test_environment)
    items = issues.items
    if not items:  # a valid resource: the 'all OK' outcome (Issues.outcome's, written out; no positions)
        return issues.outcome()
    if len(items) > 1:  # (_drop_repeats' own first test: one issue is never a repeat)
        _drop_repeats(issues)
    # The collector's issues as they are: errors.outcome's copy of each keeps a caller's own dicts
    # unchanged, and these are no one else's (the collector ends here).
    oo: errors.OperationOutcome = {"resourceType": "OperationOutcome", "issue": items}
    if source_text is not None:
        if not _POSITIONS:  # imported at the first issue: a valid resource needs no positions
            from adapter.validation.positions import add_positions

            _POSITIONS.append(add_positions)
        _POSITIONS[0](oo, source_text, checked=text_checked)
    return oo


# positions.add_positions once imported (an import statement costs about a microsecond each time it runs)
_POSITIONS: list[Callable[..., None]] = []


_NO_DETAILS: dict[str, Any] = {}


def _drop_repeats(issues: Issues) -> None:
    """Keep one of identical issues (same severity, id, place and text): the base checks and a
    resource's own checks (a QuestionnaireResponse's ``authored``) may find the same fault."""
    # Identical issues agree on these first (their text and places, as they are, no copies written
    # out): only when two do is the whole of each compared. A part that is not hashable (never in an
    # issue built by adapter.errors.issue) takes the whole comparison.
    items = issues.items
    if len(items) < 2:
        return  # (the usual outcome: no issue or one)
    try:
        quick = {((i.get("details") or _NO_DETAILS).get("text"), i.get("diagnostics"), *(i.get("expression") or ()))
                 for i in items}
    except (AttributeError, TypeError):
        quick = set()
    if len(quick) == len(items):
        return
    seen: set[str] = set()
    kept = []
    for item in issues.items:
        key = json.dumps(item, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    issues.items[:] = kept


_DEFAULT: list[Registry] = []


def _default() -> Registry:
    # Validation only reads the registry, so one copy of the LISN profiles serves every call
    # (default_registry() hands out a fresh copy each time, for callers that add to it).
    if not _DEFAULT:
        _DEFAULT.append(default_registry())
    return _DEFAULT[0]


def validate_into(resource: Any, registry: Registry, issues: Issues, *, path: str,
                  test_environment: bool = False) -> None:
    """Add the issues of ``resource`` (found at ``path``) to ``issues``.

    One walk of the tree (:mod:`adapter.validation.structure`) checks every element against
    the R4 core definitions and the profiles that apply; each resource it meets (this one,
    Bundle entries, contained and nested resources) also gets its resource-level checks.
    """
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if not issues.check(isinstance(rtype, str) and rtype, "LISN_VALIDATION_UNSUPPORTED_RESOURCE",
                        expression=path, code="structure"):
        return

    def resource_checks(res: Resource, where: str) -> None:
        kind = res.get("resourceType")
        if kind == "Bundle":
            bundle.validate_bundle(res, registry, issues, path=where)
        elif kind == "QuestionnaireResponse":
            validate_response(res, registry, issues, path=where)
        elif kind == "Questionnaire":
            check_questionnaire(res, issues, path=where)
        profiles.check_resource_rules(res, registry, issues, path=where, test_environment=test_environment)

    validate_structure(resource, registry, issues, path=path, on_resource=resource_checks)


def read_resource(raw: bytes, *, limits: Limits = Limits(), xml: XmlParsing = XmlParsing(),
                  lines: dict[str, tuple[int, int | None]] | None = None,
                  problems: list[Problem] | None = None) -> Resource:
    """Parse raw FHIR R4 JSON or XML (sniffed by content) safely; raises InputRejected.

    For XML, ``lines`` (when given) receives the source line of each element for issue positions,
    and ``problems`` the XML representation errors (text, undefined attributes, order), which
    :func:`validate_read` reports.
    """
    return _read(raw, limits, xml, lines, problems)[0]


def _read(raw: bytes, limits: Limits, xml: XmlParsing, lines: dict[str, tuple[int, int | None]] | None,
          problems: list[Problem] | None) -> tuple[Resource, str]:
    """:func:`read_resource`, and the kind of text sniffed (``json`` or ``xml``)."""
    kind = parse.sniff(raw)
    if kind == "json":
        data = parse.parse_json(raw, limits)
    elif kind == "xml":
        from adapter.fhir.xmljson import xml_to_json  # only XML input pays for the XML reader

        data = xml_to_json(parse.parse_xml(raw, limits, xml), lines=lines, problems=problems)
    elif _is_json_scalar(raw):
        raise _rejected("LISN_VALIDATION_UNSUPPORTED_RESOURCE")  # `null`, `3`, `"x"`: JSON, but no resource
    else:
        raise _rejected("LISN_VALIDATION_INPUT_UNKNOWN")
    if not isinstance(data, dict):
        raise _rejected("LISN_VALIDATION_UNSUPPORTED_RESOURCE")
    return data, kind


def validate_bytes(raw: bytes, registry: Registry | None = None, *, limits: Limits = Limits(),
                   xml: XmlParsing = XmlParsing(), lang: str | None = None,
                   test_environment: bool = False) -> errors.OperationOutcome:
    """Validate raw FHIR R4 JSON or XML (by content). Malformed input is an OperationOutcome too."""
    if lang is None and raw[:1] == b"{" and JSON_SHORT:
        # The usual input, JSON starting at its first byte with an object, in the current language:
        # what sniff, _read and the steps below do with it, without their calls (the text's kind is
        # known, no XML lines or problems are gathered). tests/unit/validation/test_pos_fast_entry.py
        # holds it to the general way below.
        try:
            data = parse.parse_json(raw, limits)
        except errors.InputRejected as exc:
            return exc.outcome
        if isinstance(data, dict):  # (always, for a text read from "{")
            return _validate(data, registry, raw, test_environment, (), True)
    lines: dict[str, tuple[int, int | None]] = {}
    problems: list[Problem] = []
    try:
        if lang is None:  # the current language: no context to enter
            data, kind = _read(raw, limits, xml, lines, problems)
        else:
            with messages.use_lang(lang):
                data, kind = _read(raw, limits, xml, lines, problems)
    except errors.InputRejected as exc:
        return exc.outcome
    if kind == "json":  # read here: valid JSON without a key twice
        if lang is None:
            return _validate(data, registry, raw, test_environment, (), text_checked=True)
        with messages.use_lang(lang):
            return _validate(data, registry, raw, test_environment, (), text_checked=True)
    return validate_read(data, raw, registry, lines=lines, lang=lang, problems=problems,
                         test_environment=test_environment)


JSON_SHORT = True  # False: every input by the general way of validate_bytes (the tests compare the two)


def validate_read(resource: Resource, raw: bytes, registry: Registry | None = None, *,
                  lines: dict[str, tuple[int, int | None]] | None = None, lang: str | None = None,
                  problems: Sequence[Problem] = (), test_environment: bool = False) -> errors.OperationOutcome:
    """Validate a resource read by :func:`read_resource` from ``raw``, with issue positions."""
    if parse.sniff(raw) == "json":
        return validate(resource, registry, lang=lang, source_text=raw, test_environment=test_environment)
    oo = validate(resource, registry, lang=lang, test_environment=test_environment, xml_problems=problems)
    if lines:
        from adapter.validation.positions import apply_positions

        apply_positions(oo, lines, str(resource.get("resourceType")))
    return oo


def _is_json_scalar(raw: bytes) -> bool:
    import json

    try:
        json.loads(raw)
    except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
        return False
    return True


def _rejected(message_id: str) -> errors.InputRejected:
    issues = Issues()
    issues.add(message_id, code="structure")
    oo = issues.outcome()
    return errors.InputRejected(oo["issue"][0]["details"]["text"], outcome=oo, message_id=message_id)
