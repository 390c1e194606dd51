"""The walks that look for values wherever they stand in a resource: identifiers, codings, references.

Two checks look at every object of a resource whatever its element: the Swedish identifier and
ICD-10-SE rules (:mod:`adapter.validation.identifiers`: an object under ``identifier`` or
``valueIdentifier``, one under ``coding`` or ``valueCoding``) and, in a document or message Bundle,
the rule that references resolve (:mod:`adapter.validation.bundle`: every object with a
``reference`` string). Both walk the JSON as it is, not as R4 types it: a wrong value, an unknown
element, an extension can hold such an object, and they find it there.

- :func:`marks`: the identifiers and codings of a resource, not those of the resources inside it
  (a resource standing as a property's value; ``contained`` ones are never walked);
- :func:`references_and_marks`: the same, plus every reference (also inside those resources), in
  one walk: what :func:`adapter.validation.bundle.validate_bundle` needs for an entry, and what the
  entry's own identifier check needs a moment later. That check takes the marks kept for it
  (:func:`keep`, :func:`take`) instead of walking the entry again.

Everything is found in document order (depth first); a location is kept as linked steps
(``(parent, name or index)``) and written out (:func:`where`) only for what is reported.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from adapter.issues import Issues

Node = tuple[Any, "str | int"] | None
"""A location below the scanned resource: ``(parent node, key or index)``; None is the resource."""

IDENTIFIER = "identifier"
CODING = "coding"
# The keys whose objects are marked, and as what (an array under them: each object in it).
_KINDS: dict[str, str] = {"identifier": IDENTIFIER, "valueIdentifier": IDENTIFIER,
                          "coding": CODING, "valueCoding": CODING}

Mark = tuple[str, dict[str, Any], Node]
Reference = tuple[str, Node]
T = TypeVar("T")


def where(path: str, node: Node) -> str:
    """The FHIRPath-like location of ``node`` below ``path`` (``Bundle.entry[0].resource.item[2].answer``)."""
    steps: list[str | int] = []
    while node is not None:
        node, step = node
        steps.append(step)
    return path + "".join(f".{s}" if isinstance(s, str) else f"[{s}]" for s in reversed(steps))


def marks(resource: dict[str, Any]) -> list[Mark]:
    """Every object under an identifier or coding key in ``resource``, outside contained resources and
    resources that stand as an object's property (a resource as an array's item is walked)."""
    found: list[Mark] = []
    _marks_in(resource, None, found)
    return found


def _marks_in(value: dict[str, Any], node: Node, found: list[Mark]) -> None:
    for key, child in value.items():
        t = type(child)
        if t is str:  # (a string: the most common value, and no container)
            continue
        if t is dict or (t is not list and isinstance(child, dict)):
            if "resourceType" in child or key == "contained":
                continue  # another resource, checked on its own
            sub = (node, key)
            if key in _KINDS:
                found.append((_KINDS[key], child, sub))
            _marks_in(child, sub, found)
        elif (t is list or isinstance(child, list)) and key != "contained":
            _marks_in_array(child, (node, key), _KINDS.get(key), found)


def _marks_in_array(value: list[Any], node: Node, kind: str | None, found: list[Mark]) -> None:
    i = -1
    for item in value:
        i += 1
        t = type(item)
        if t is str:
            continue
        if t is dict or (t is not list and isinstance(item, dict)):
            sub = (node, i)
            if kind is not None:
                found.append((kind, item, sub))
            _marks_in(item, sub, found)
        elif t is list or isinstance(item, list):
            _marks_in_array(item, (node, i), kind, found)


def references_and_marks(resource: dict[str, Any]) -> tuple[list[Reference], list[Mark]]:
    """Every ``reference`` string but ``#id`` ones below ``resource`` (in the resources inside it too,
    not in contained ones), and :func:`marks` of ``resource``: one walk for both."""
    refs, found, _ = references_marks_and_skipped(resource)
    return refs, found


def references_marks_and_skipped(resource: dict[str, Any]) -> tuple[list[Reference], list[Mark], bool]:
    """:func:`references_and_marks`, and whether the walk passed over anything that may hold a
    ``reference`` string it does not list: a ``contained`` object or array, a ``#id`` reference.
    When not, the references listed are every object with a ``reference`` string below
    ``resource`` (what :func:`adapter.validation.profiles.check_reference_targets` may check)."""
    refs: list[Reference] = []
    found: list[Mark] = []
    skipped: list[Node] = []
    _both_in(resource, None, refs, found, True, skipped)
    return refs, found, bool(skipped)


def _both_in(value: dict[str, Any], node: Node, refs: list[Reference], found: list[Mark], own: bool,
             skipped: list[Node]) -> None:
    """``own``: ``value`` belongs to the scanned resource (not to a resource inside it): marks are taken.
    ``skipped``: where a ``contained`` value or a ``#id`` reference was passed over."""
    for key, child in value.items():
        t = type(child)
        if t is str:
            continue
        if t is dict or (t is not list and isinstance(child, dict)):
            if key == "contained":
                skipped.append((node, key))
                continue
            sub = (node, key)
            if "reference" in child:  # (a test, no call: most objects hold none)
                ref = child["reference"]
                if isinstance(ref, str):
                    if ref.startswith("#"):
                        skipped.append(sub)
                    else:
                        refs.append((ref, sub))
            if own and "resourceType" not in child:
                if key in _KINDS:
                    found.append((_KINDS[key], child, sub))
                _both_in(child, sub, refs, found, True, skipped)
            else:
                _both_in(child, sub, refs, found, False, skipped)
        elif t is list or isinstance(child, list):
            if key == "contained":
                skipped.append((node, key))
            else:
                _both_in_array(child, (node, key), refs, found, _KINDS.get(key) if own else None, own, skipped)


def _both_in_array(value: list[Any], node: Node, refs: list[Reference], found: list[Mark], kind: str | None,
                   own: bool, skipped: list[Node]) -> None:
    i = -1
    for item in value:
        i += 1
        t = type(item)
        if t is str:
            continue
        if t is dict or (t is not list and isinstance(item, dict)):
            sub = (node, i)
            if "reference" in item:
                ref = item["reference"]
                if isinstance(ref, str):
                    if ref.startswith("#"):
                        skipped.append(sub)
                    else:
                        refs.append((ref, sub))
            if kind is not None:
                found.append((kind, item, sub))
            _both_in(item, sub, refs, found, own, skipped)
        elif t is list or isinstance(item, list):
            _both_in_array(item, (node, i), refs, found, kind, own, skipped)


def references(value: Any) -> list[Reference]:
    """Every ``reference`` string but ``#id`` ones below ``value`` (an object or an array), not in
    contained resources: the walk of :func:`references_and_marks` taking no marks."""
    refs: list[Reference] = []
    if isinstance(value, dict):
        _both_in(value, None, refs, [], False, [])
    elif isinstance(value, list):
        _both_in_array(value, None, refs, [], None, False, [])
    return refs


class _Kept:
    """What one validation (one Issues collector) keeps for later in it: the marks a Bundle's walk
    found for each entry (resource id() -> (resource, path, marks)), and values made once per
    object (a Bundle's fullUrl index: object id() -> (object, value)). The objects are held, so an
    id() stands for the same object while kept."""

    __slots__ = ("marks", "made")

    def __init__(self) -> None:
        self.marks: dict[int, tuple[dict[str, Any], str, list[Mark]]] = {}
        self.made: dict[int, tuple[Any, Any]] = {}


# Kept with the Issues collector they were found for, so they go when it does: id(issues) ->
# (a weak reference to it, what is kept). A plain dict rather than a WeakKeyDictionary: a look-up
# is a dict look-up by an int and a call of the reference (no reference made, no Python-level
# method), and a validation that keeps nothing (no document or message Bundle) finds it empty.
_KEPT: dict[int, tuple[weakref.ref[Issues], _Kept]] = {}


def _gone(key: int) -> Callable[[weakref.ref[Issues]], None]:
    def forget(ref: weakref.ref[Issues]) -> None:
        held = _KEPT.get(key)
        if held is not None and held[0] is ref:
            del _KEPT[key]
    return forget


def _held(issues: Issues) -> _Kept | None:
    held = _KEPT.get(id(issues))
    return held[1] if held is not None and held[0]() is issues else None


def _kept(issues: Issues) -> _Kept:
    kept = _held(issues)
    if kept is None:
        kept = _Kept()
        _KEPT[id(issues)] = (weakref.ref(issues, _gone(id(issues))), kept)
    return kept


def keep(issues: Issues, resource: dict[str, Any], path: str, found: list[Mark]) -> None:
    """Keep the :func:`marks` of ``resource`` (at ``path``) for :func:`take` in this validation."""
    _kept(issues).marks[id(resource)] = (resource, path, found)


def take(issues: Issues, resource: dict[str, Any], path: str) -> list[Mark] | None:
    """The marks kept for ``resource`` at ``path`` in this validation (then no longer kept), or None."""
    kept = _held(issues) if _KEPT else None
    if kept is None or not kept.marks:
        return None
    held = kept.marks.pop(id(resource), None)
    if held is None or held[0] is not resource or held[1] != path:
        return None
    return held[2]


def made_once(issues: Issues, of: Any, make: Callable[[Any], T]) -> T:
    """``make(of)``, made once in this validation (until :func:`drop`): ``of`` must not change meanwhile."""
    made = _kept(issues).made
    held = made.get(id(of))
    if held is not None and held[0] is of:
        value: T = held[1]
        return value
    value = make(of)
    made[id(of)] = (of, value)
    return value


def drop(issues: Issues, entries: list[Any]) -> None:
    """Forget what is kept for a Bundle's ``entries`` and their resources: the Bundle's walk is over
    (marks not taken, of an entry whose resource has no known type, would be stale)."""
    kept = _held(issues) if _KEPT else None
    if kept is None:
        return
    kept.made.pop(id(entries), None)
    if kept.marks:
        for entry in entries:
            res = entry.get("resource") if isinstance(entry, dict) else None
            held = kept.marks.get(id(res))
            if held is not None and held[0] is res:
                del kept.marks[id(res)]
