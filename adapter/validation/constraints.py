"""The core invariants (``ElementDefinition.constraint`` of the R4 definitions), evaluated on one node.

Each constraint goes through :mod:`adapter.validation.invariants` (the project's one FHIRPath
path), as the profile constraints do. ``ele-1`` ("All FHIR elements must have a @value or
children": ``hasValue() or (children().count() > id.count())``) stands on every element; on an
object with a property other than ``id`` its outcome is settled by the JSON already (that
property is a child), so it is evaluated only on the objects where it can fail. ``ref-1`` ("SHALL
have a contained resource if a local reference is provided") stands on every Reference; on one
whose ``reference`` is a plain string not starting with ``#`` it holds, and is not evaluated when
nothing else could make the evaluation fail (:func:`_ref_1_holds`). An expression
the engine cannot evaluate is reported once per validation, as a warning, never a crash.
A result is read as the HL7 validator reads it (:func:`as_boolean`): empty fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from adapter.fhir.definitions import Constraint
from adapter.fhirpath.env import MODEL
from adapter.issues import Issues
from adapter.validation import invariants

# Checked by code of their own, with messages that name the rule: the Questionnaire invariants
# (adapter.validation.questionnaire: que-0 … que-13, que-2 as the linkId uniqueness check), and dom-3
# (core_rules.check_contained, as the HL7 validator does: the published expression is slow and wrong).
CHECKED_ELSEWHERE = frozenset({f"que-{i}" for i in range(14)} | {"dom-3"})


def check_constraints(constraints: Iterable[Constraint], node: Any, path: str, resource: Any,
                      issues: Issues, reported: set[str], *, type_path: str | None = None,
                      root_resource: Any = None) -> None:
    """Add an issue for each constraint that does not hold on ``node`` (at ``path``).

    ``type_path`` is what the node is (``Period``, ``Parameters.parameter``; None for a resource);
    ``root_resource`` the container when ``resource`` is a contained one.
    ``reported`` holds the keys whose expression could not be evaluated (reported once).
    """
    run_constraints(applicable(tuple(constraints)), node, path, resource, issues, reported, type_path=type_path,
                    root_resource=root_resource)


_APPLICABLE: dict[tuple[Constraint, ...], tuple[Constraint, ...]] = {}


def applicable(constraints: tuple[Constraint, ...]) -> tuple[Constraint, ...]:
    """The constraints :func:`check_constraints` evaluates, in order: no recommendation (a
    best-practice one, like dom-6: the HL7 validator's outcomes leave it out too) and none checked
    elsewhere. Remembered per tuple."""
    hit = _APPLICABLE.get(constraints)
    if hit is None:
        hit = _APPLICABLE[constraints] = tuple(c for c in constraints
                                               if not c.best_practice and c.key not in CHECKED_ELSEWHERE)
    return hit


# ref-1 as R4 publishes it: the shortcut below is for this text only.
REF_1 = ("reference.exists() implies (reference = '#' or (reference.startsWith('#').not() or "
         "(reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))))")


def _ref_1_holds(node: Any, resource: Any, root_resource: Any, type_path: str | None) -> bool:
    """Whether :data:`REF_1` is known to give ``[True]`` on ``node`` without evaluating it.

    On a Reference with a ``reference`` that is one string (no ``_reference``: that would make it
    two items, and ``startsWith`` raise) not starting with ``#``: ``reference.exists()`` is true,
    ``reference = '#'`` false and ``reference.startsWith('#').not()`` true, so the ``or`` is true
    whatever its last operand gives, unless that operand raises. Its evaluation is left to the
    engine when ``%rootResource`` has a ``contained`` member (whatever data that holds reaches
    ``in``); without one, ``%rootResource.contained.id`` is empty and ``substring(1)`` of one
    string and ``in`` on an empty collection do not raise.
    """
    if type_path != "Reference" or type(node) is not dict:
        return False
    value = node.get("reference")
    if type(value) is not str or value.startswith("#") or "_reference" in node:
        return False
    root = resource if root_resource is None else root_resource
    return type(root) is dict and "contained" not in root


# bdl-7 as R4 publishes it: the short way below is for this text only.
BDL_7 = "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()"
BDL_7_SHORT = True
"""Whether :func:`run_constraints` passes bdl-7 over where :func:`_bdl_7_holds` says it holds
(``False``: evaluated; the tests compare the two)."""
_ABSENT: Any = object()


def _bdl_7_holds(node: Any) -> bool:
    """Whether :data:`BDL_7` is known to give ``[True]`` on ``node`` (a Bundle) without evaluating it.

    Read on plain data only: ``type`` absent or a string, ``entry`` absent or an array of objects
    (no ``resourceType`` on them: an entry typed as a resource is read otherwise), each ``fullUrl``
    absent or a string, each ``resource`` of an entry with a fullUrl an object with a ``resourceType``
    the model knows a ``meta`` of (a Meta), its ``meta`` absent or an object with ``versionId``
    absent or a string; no ``_type``, ``_entry``, ``_fullUrl``, ``_resource``, ``_meta``, ``_versionId``
    (a second value, or one fhirpathpy reads otherwise). Then every step gives at most one string, the
    evaluation cannot fail, ``select`` gives each fullUrl joined to its versionId (``&``: an absent one
    as ``''``) and ``isDistinct()`` tells the strings apart: the rule holds where they are distinct (or
    ``type`` is ``'history'``). False (the rule is evaluated) for anything else."""
    if type(node) is not dict or node.get("resourceType") != "Bundle" or "_type" in node or "_entry" in node:
        return False
    kind = node.get("type", _ABSENT)
    if kind is not _ABSENT and type(kind) is not str:
        return False
    entries = node.get("entry", _ABSENT)
    if entries is _ABSENT:
        entries = ()
    elif type(entries) is not list:
        return False
    keys = []
    for entry in entries:
        if type(entry) is not dict or "resourceType" in entry or "_fullUrl" in entry or "_resource" in entry:
            return False
        url = entry.get("fullUrl", _ABSENT)
        if url is _ABSENT:
            continue  # (where(fullUrl.exists()) leaves the entry out: nothing else of it is read)
        if type(url) is not str:
            return False
        resource = entry.get("resource", _ABSENT)
        if resource is not _ABSENT:
            if type(resource) is not dict or "_meta" in resource:
                return False
            rtype = resource.get("resourceType")
            if type(rtype) is not str or _PATH_TO_TYPE.get(rtype + ".meta") != "Meta":
                return False
            meta = resource.get("meta", _ABSENT)
            if meta is not _ABSENT:
                if type(meta) is not dict or "resourceType" in meta or "_versionId" in meta:
                    return False
                version = meta.get("versionId", _ABSENT)
                if version is not _ABSENT:
                    if type(version) is not str:
                        return False
                    url += version
        keys.append(url)
    return kind == "history" or len(set(keys)) == len(keys)


_PATH_TO_TYPE: dict[str, str] = MODEL["path2Type"]

QUICK = True
"""Whether :func:`run_constraints` follows the quick plans itself (``False``: through
:func:`invariants.evaluate`; the tests compare the two)."""


def run_constraints(constraints: tuple[Constraint, ...], node: Any, path: str, resource: Any, issues: Issues,
                    reported: set[str], *, type_path: str | None = None, root_resource: Any = None) -> None:
    """:func:`check_constraints` on constraints already filtered by :func:`applicable`.

    On a JSON object, a constraint with a quick plan (``invariants._QUICK``) is evaluated by it
    directly (what :func:`invariants.evaluate` does first for it), and a result of one ``true``
    (what :func:`as_boolean` passes) is passed over at once."""
    quick_plans = invariants._QUICK if type(node) is dict else None
    for c in constraints:
        key = c.key
        if key == "ele-1" and (not isinstance(node, dict) or len(node) > 1 or (len(node) == 1 and "id" not in node)):
            continue  # (an object with a key other than "id")
        if key == "ref-1" and c.expression == REF_1 and _ref_1_holds(node, resource, root_resource, type_path):
            continue
        if key == "bdl-7" and BDL_7_SHORT and c.expression == BDL_7 and _bdl_7_holds(node):
            continue
        quick = quick_plans.get((c.expression, type_path)) if quick_plans is not None and QUICK else None
        if quick is not None:
            result: list[Any] | invariants.FhirPathProblem = invariants._quickly(quick, c.expression, node, type_path)
        else:
            result = invariants.evaluate(c.expression, node, resource=resource, type_path=type_path,
                                         root=root_resource)
        if type(result) is list and len(result) == 1 and result[0] is True:
            continue
        if isinstance(result, invariants.FhirPathProblem):
            _problem(c, result, path, issues, reported)
        elif not as_boolean(result):
            issues.add("INV_FAILED", expression=path, code="invariant",
                       severity="warning" if c.severity == "warning" else "error", key=c.key, human=c.human,
                       diagnostics=f"{c.key}: {c.expression}")


def as_boolean(result: list[Any]) -> bool:
    """A constraint's result as the HL7 validator reads it (``FHIRPathEngine.convertToBoolean``).

    A single boolean is itself; anything else is true when not empty. So an empty result fails:
    ``per-1`` on a date start and a dateTime end of the same day compares as empty (the
    precisions differ) and the Period is refused, as the Java validator refuses it.
    """
    if len(result) == 1 and isinstance(result[0], bool):
        return result[0]
    return len(result) > 0


def _problem(c: Constraint, problem: invariants.FhirPathProblem, path: str, issues: Issues,
             reported: set[str]) -> None:
    if c.key in reported:
        return
    reported.add(c.key)
    issues.add("Problem_processing_expression__in_profile__path__", expression=path, severity="warning",
               code="processing", key=c.key, fhirpath=c.expression, profile="FHIR R4 core",
               detail=problem.detail)
