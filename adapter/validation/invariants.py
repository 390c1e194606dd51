"""FHIRPath invariants (``ElementDefinition.constraint``), compiled by :mod:`adapter.fhirpath`.

FHIR R4 §2.28 (https://hl7.org/fhir/R4/fhirpath.html) and the constraint rules of
https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.constraint.

Compiling an expression costs far more than evaluating it, so compiled expressions
are cached by their text. The compiler keeps fhirpathpy's semantics (and falls back to
fhirpathpy for what it does not cover). An expression fhirpathpy's parser rejects, or one
that fails while it is evaluated, never raises out of this module: the caller gets a
``FhirPathProblem`` and reports it once as a warning about the profile.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from adapter import fhirpath
from adapter.fhirpath.env import MODEL
from adapter.fhirpath.upstream import parse as parse_fhirpath

Compiled = Callable[..., list[Any]]
# fhirpathpy's messages may name objects by memory address ("<ResourceNode object at 0x7f…>"):
# left out, so that the same input always gives the same text.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@dataclass(frozen=True)
class FhirPathProblem:
    """An expression that could not be compiled or evaluated; ``detail`` is fhirpathpy's text."""

    expression: str
    detail: str


@lru_cache(maxsize=2048)
def _compile(expression: str, raw: bool) -> Compiled | FhirPathProblem:
    try:
        return fhirpath.compile(expression, raw=raw)
    except Exception as exc:  # noqa: BLE001 - fhirpathpy raises bare Exceptions of many kinds
        return FhirPathProblem(expression, f"{type(exc).__name__}: {exc}")


def compiled(expression: str, *, raw: bool = False) -> Compiled | FhirPathProblem:
    """The compiled form of ``expression`` (cached), or the problem that stopped it compiling."""
    return _compile(expression, raw)


def forget_compiled() -> None:
    """Drop every compiled expression this module holds (the compiled forms and the evaluation
    plans that hold them): the next evaluation compiles again, as after a change of
    :func:`adapter.fhirpath.compile_tree` (the benchmark's fhirpathpy-only variant)."""
    _compile.cache_clear()
    _direct.cache_clear()
    _PLANS.clear()
    _QUICK.clear()


_ITEM_BY_LINK = re.compile(r"\bitem\.where\(linkId\s*=\s*'([^']*)'\)")
_ITEM = re.compile(r"\bitem\b")
# Functions that reach items without naming them: no pruning for expressions using these.
_WALKS = re.compile(r"\b(descendants|children|repeat|trace|toJson|encode)\s*\(")


@lru_cache(maxsize=2048)
def item_links(expression: str) -> frozenset[str] | None:
    """The linkIds an expression reaches items by, when it reaches them only as ``item.where(linkId='x')``.

    For such an expression, items with other linkIds (at any depth, under items or
    answers) cannot change the result, so they are left out before evaluating:
    fhirpathpy's ``where`` costs about 20 µs per item, and a certificate has some sixty
    items for every rule to walk past.
    """
    if _ITEM.search(_ITEM_BY_LINK.sub("", expression)) or _WALKS.search(expression):
        return None
    return frozenset(_ITEM_BY_LINK.findall(expression))


def _prune(node: Any, links: frozenset[str], originals: dict[int, Any]) -> Any:
    """A copy of ``node`` keeping only items whose linkId is in ``links``; copies map back in ``originals``."""
    if isinstance(node, list):
        return [_prune(v, links, originals) for v in node]
    if not isinstance(node, dict) or not any(k in node for k in ("item", "answer")):
        return node
    slim = dict(node)
    if isinstance(node.get("item"), list):
        slim["item"] = [_prune(i, links, originals) for i in node["item"]
                        if isinstance(i, dict) and isinstance(i.get("linkId"), str) and i["linkId"] in links]
    if isinstance(node.get("answer"), list):
        slim["answer"] = _prune(node["answer"], links, originals)
    originals[id(slim)] = node
    return slim


# Reference pruning (lisn-sub-2): ``entry.resource.descendants()`` walks every node of every
# entry (some 380 in the example submission, ~1.3 ms in fhirpathpy) to find a dozen References.
_REF_STEPS = re.compile(r"\bentry\.resource\.descendants\(\)\.ofType\(Reference\)\."
                        r"(?:reference\b(?!\s*\()|where\(reference\.exists\(\) and )")
_FULL_URL = re.compile(r"\bentry\.fullUrl\b(?!\s*\()")
_ROOT_VARS = re.compile(r"%(?:context|resource|rootResource)\.(?=entry\b)")
# Anything else that could see the pruned entry resources, or compare entries or the root whole.
_REF_UNSAFE = re.compile(r"\b(?:entry|resource|descendants|children|repeat|trace|toJson|encode|resolve"
                         r"|extension|conformsTo|memberOf|toString|escape|hash)\b|[%$]")


class _Unprunable(Exception):
    """Data on which fhirpathpy's ``descendants()``/``ofType()`` raise (an array directly inside an
    array, a ``resourceType`` that is not a string): pruning it away would hide that failure."""


@lru_cache(maxsize=2048)
def reference_only(expression: str) -> bool:
    """Whether ``expression`` sees the entry resources only as ``descendants().ofType(Reference)`` with a ``reference``.

    True when every ``resource`` step is ``entry.resource.descendants().ofType(Reference)``
    followed by ``.reference`` or ``.where(reference.exists() and …)``, ``entry`` is otherwise
    only followed by ``.fullUrl``, and no other function could walk, serialise or compare the
    entries or the root. Then a subtree of an entry resource with no ``reference`` or
    ``_reference`` key anywhere adds nothing to the result: a Reference without one yields no
    ``reference`` and fails ``reference.exists()``, and any other node is no Reference with a
    reference. fhirpathpy types a descendant by the keys on its path (and ``resourceType``), so
    the nodes kept keep their types, their depth and their relative (breadth-first) order.
    """
    rest = _FULL_URL.sub("", _REF_STEPS.sub("", _ROOT_VARS.sub("", expression)))
    return bool(_REF_STEPS.search(expression)) and not _REF_UNSAFE.search(rest)


def _refs(node: Any, originals: dict[int, Any]) -> Any:
    """``node`` without the subtrees that hold no ``reference``/``_reference`` key (``None``: nothing left)."""
    if type(node) is dict:
        return _refs_dict(node, originals)
    if type(node) is list:
        return _refs_list(node, originals)
    return _refs_general(node, originals)



def _refs_dict(node: dict[str, Any], originals: dict[int, Any]) -> Any:
    """:func:`_refs` on a plain ``dict`` (the walk's hot loop: every object of every entry). The copy
    is made only when something is kept (most objects hold no reference): its members gathered in
    order, ``resourceType`` at its place."""
    if "reference" in node or "_reference" in node:
        return node  # kept whole: the where() body may look at any part of it
    members: list[tuple[str, Any]] | None = None
    found = False
    for key, value in node.items():
        kind = type(value)
        if kind is str:
            if key == "resourceType":  # fhirpathpy types a resource (and the nodes below it) by this
                if members is None:
                    members = []
                members.append((key, value))
            continue  # a primitive is no Reference with a reference
        if key == "resourceType":
            raise _Unprunable
        if kind is dict:
            kept = _refs_dict(value, originals)
        elif kind is list:
            kept = _refs_list(value, originals)
        elif kind is bool or kind is int or kind is float or value is None:
            continue
        else:
            kept = _refs_general(value, originals)
        if kept is not None:
            if members is None:
                members = []
            members.append((key, kept))
            found = True
    if not found:
        return None
    slim = dict(members or ())
    originals[id(slim)] = node
    return slim


def _refs_list(node: list[Any], originals: dict[int, Any]) -> Any:
    kept_items = None
    for v in node:
        kind = type(v)
        if kind is dict:
            k = _refs_dict(v, originals)
        elif kind is str:
            continue
        elif isinstance(v, list):
            raise _Unprunable
        elif isinstance(v, dict):
            k = _refs_general(v, originals)
        else:
            continue
        if k is not None:
            if kept_items is None:
                kept_items = [k]
            else:
                kept_items.append(k)
    return kept_items


def _refs_general(node: Any, originals: dict[int, Any]) -> Any:
    """:func:`_refs` by the general walk (any mapping or sequence type): the fast walk above must give
    what this gives, and it is used for what is no plain ``dict``/``list``/primitive (subclasses)."""
    if isinstance(node, dict):
        if "reference" in node or "_reference" in node:
            return node
        slim: dict[str, Any] = {}
        found = False
        for key, value in node.items():
            if key == "resourceType":
                if not isinstance(value, str):
                    raise _Unprunable
                slim[key] = value
                continue
            if type(value) is str or not isinstance(value, (dict, list)):
                continue
            kept = _refs_general(value, originals)
            if kept is not None:
                slim[key] = kept
                found = True
        if not found:
            return None
        originals[id(slim)] = node
        return slim
    if isinstance(node, list):
        kept_items = []
        for v in node:
            if isinstance(v, list):
                raise _Unprunable
            if isinstance(v, dict):
                k = _refs_general(v, originals)
                if k is not None:
                    kept_items.append(k)
        return kept_items or None
    return None


def _prune_entries(bundle: dict[str, Any], originals: dict[int, Any]) -> dict[str, Any]:
    slim = dict(bundle)
    entries = []
    for entry in bundle["entry"]:
        if isinstance(entry, dict) and "resource" in entry:
            copy = dict(entry)
            kept = _refs(entry["resource"], originals)
            if kept is None:  # a resource with no reference at all: keep what types it
                kept = {"resourceType": entry["resource"]["resourceType"]} \
                    if isinstance(entry["resource"], dict) and "resourceType" in entry["resource"] else None
            if kept is None:
                del copy["resource"]
            else:
                copy["resource"] = kept
            originals[id(copy)] = entry
            entry = copy
        entries.append(entry)
    slim["entry"] = entries
    originals[id(slim)] = bundle
    return slim


# The submission rule itself (lisn-sub-2), read as fhirpathpy reads it: it holds when every
# ``reference`` of a node ``descendants()`` types as Reference is equal (``ResourceNode.__eq__``:
# Python ``==``) to some ``%context.entry.fullUrl``. Which nodes are typed Reference takes the model
# (``valueReference`` of an extension…); no typing is needed where every object below the entry
# resources with a string ``reference`` holds one equal to a fullUrl: whichever of them are References,
# their references are all in the list. An object whose ``reference`` is an object
# (``Consent.provision.data``, whose ``reference`` is the Reference) is typed as fhirpathpy types it
# (:func:`_typed_reference`): if it were a Reference, its reference would be in no list of strings.
_SUBSET_OF_FULL_URLS = "entry.resource.descendants().ofType(Reference).reference.subsetOf(%context.entry.fullUrl)"
# The keys from the nearest object with a ``resourceType`` (its value at the root; None: no such
# object) down to a node, as nested ``(trail, key)`` pairs.
_Trail = str | None | tuple[Any, str]


def _all_listed(bundle: dict[str, Any]) -> bool:
    """Whether :data:`_SUBSET_OF_FULL_URLS` holds on ``bundle`` by the reading above: True only where
    its result is ``[True]``; False (the general way decides) where a ``reference`` is a string among
    no fullUrl, is of another JSON type, or is an object on an object fhirpathpy may type Reference,
    where a ``_reference`` key (a reference fhirpathpy may give without a string) or a fullUrl that is
    no string stands, and on data fhirpathpy may fail on (what :class:`_Unprunable` stands for, an
    entry or resource that is no object, a value of no JSON type)."""
    entries = bundle.get("entry")
    if type(entries) is not list:
        return False
    urls = set()
    for entry in entries:
        if type(entry) is not dict:
            return False
        if "fullUrl" in entry:
            url = entry["fullUrl"]
            if type(url) is not str:
                return False
            urls.add(url)
    for entry in entries:
        if "resource" in entry:
            resource = entry["resource"]
            if type(resource) is not dict:
                return False
            found = _plainly_listed(resource, urls) if PLAIN_LISTED else None
            if found is None:  # an object ``reference`` below it (or the short way off): read with its trail
                found = _listed(resource, urls, None)
            if not found:
                return False
    return True


# The submission's MessageHeader rule (lisn-sub: the destination's endpoint names the receiver's
# kommunkod), answered ``[True]`` without FHIRPath where its data is plain (:func:`_endpoint_holds`).
_RECEIVER = ("%resource.entry.where(fullUrl = %resource.entry.resource.ofType(MessageHeader).destination.receiver"
             ".reference.first()).resource.identifier.where(system = 'https://lisn.se/fhir/sid/kommunkod')"
             ".value.first()")
_ENDPOINT_NAMES_RECEIVER = (_RECEIVER + ".exists() implies entry.resource.ofType(MessageHeader).destination"
                            ".all(endpoint = 'urn:lisn:kommunkod:' + " + _RECEIVER + ")")
_KOMMUNKOD = "https://lisn.se/fhir/sid/kommunkod"


def _plain_list(value: Any) -> list[dict[str, Any]] | None:
    """``value`` (a member's JSON value) as the objects fhirpathpy's member step gives: an absent
    member none, an array of objects its objects; ``None`` for anything else (the general way)."""
    if value is _MISSING:
        return []
    if type(value) is list and all(type(v) is dict for v in value):
        return value
    return None


_MISSING: Any = object()


def _endpoint_holds(bundle: dict[str, Any]) -> bool:
    """Whether :data:`_ENDPOINT_NAMES_RECEIVER` gives ``[True]`` on ``bundle`` (its own
    ``%resource``), read on plain data only: the entries an array of objects, each ``fullUrl``,
    ``reference``, ``system``, ``value`` and ``endpoint`` read a string (or absent), each
    ``destination`` and ``identifier`` an array of objects, ``receiver`` and ``resource`` objects, no
    ``_name`` key for any of them and no ``value…`` key but ``value`` on an identifier (a choice
    fhirpathpy might read). False (the general way decides) for anything else and wherever the rule
    would not hold. The rule: X = the first ``destination.receiver.reference`` of the MessageHeader
    entries; K = the first ``value`` of a kommunkod identifier of the resources of the entries whose
    fullUrl is X; with K, every MessageHeader destination's ``endpoint`` is ``urn:lisn:kommunkod:`` + K."""
    get = dict.get
    if "_entry" in bundle:
        return False
    entries = _plain_list(get(bundle, "entry", _MISSING))
    if entries is None:
        return False
    destinations: list[dict[str, Any]] = []
    for entry in entries:
        if "_fullUrl" in entry or "_resource" in entry:
            return False
        url = get(entry, "fullUrl", "")
        if type(url) is not str:
            return False
        resource = get(entry, "resource", _MISSING)
        if resource is _MISSING:
            continue
        if type(resource) is not dict or type(get(resource, "resourceType")) is not str:
            return False
        if resource["resourceType"] == "MessageHeader":
            if "_destination" in resource:
                return False
            found = _plain_list(get(resource, "destination", _MISSING))
            if found is None:
                return False
            destinations += found
    receiver_reference = None
    for destination in destinations:
        if "_receiver" in destination or "_endpoint" in destination:
            return False
        if type(get(destination, "endpoint", "")) is not str:
            return False
        receiver = get(destination, "receiver", _MISSING)
        if receiver is _MISSING:
            continue
        if type(receiver) is not dict or "_reference" in receiver:
            return False
        reference = get(receiver, "reference", _MISSING)
        if reference is _MISSING:
            continue
        if type(reference) is not str:
            return False
        if receiver_reference is None:
            receiver_reference = reference
    if receiver_reference is None:
        return True  # no X: no entry is where'd, K does not exist, the rule holds
    code = None
    for entry in entries:
        if get(entry, "fullUrl") != receiver_reference or "resource" not in entry:
            continue
        resource = entry["resource"]
        if "_identifier" in resource:
            return False
        identifiers = _plain_list(get(resource, "identifier", _MISSING))
        if identifiers is None:
            return False
        for identifier in identifiers:
            system = get(identifier, "system", _MISSING)
            if "_system" in identifier or "_value" in identifier or (system is not _MISSING and type(system) is not str):
                return False
            for key in identifier:
                if key.startswith("value") and key != "value":
                    return False
            value = get(identifier, "value", _MISSING)
            if value is not _MISSING and type(value) is not str:
                return False
            if code is None and system == _KOMMUNKOD and value is not _MISSING:
                code = value
    if code is None:
        return True  # K does not exist
    wanted = "urn:lisn:kommunkod:" + code
    for destination in destinations:  # noqa: SIM110 - a plain loop, as the negative control breaks it
        if get(destination, "endpoint") != wanted:
            return False
    return True


# The certificate's work-capacity rule (formaga: a period starting more than a week after the
# earliest grund date needs a motivering), answered ``[True]`` on plain dates (:func:`_formaga_holds`).
_FORMAGA = ("((item.where(linkId='formaga').item.where(linkId='formaga.period').item.where("
            "linkId='formaga.period.start').answer.value.first() + 7 days) < item.where(linkId='grund')"
            ".item.where(linkId='grund.datum').answer.value.aggregate(iif($total.empty() or $this < $total, "
            "$this, $total))) implies item.where(linkId='formaga').item.where(linkId='formaga.period').item"
            ".where(linkId='formaga.period.motivering').answer.value.exists()")
RULES_SHORT = True
"""Whether :func:`holds` answers the rules of :data:`_SHORT_RULES` (the LISN rules below, lisn-sub-2
and lisn-sub-6) by their short ways first (``False``: the general way alone; the tests compare the two)."""
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class _NotPlain(Exception):
    """Data :func:`_formaga_holds` does not read (the general way decides)."""


def _linked(items: list[dict[str, Any]], link: str) -> list[dict[str, Any]]:
    """``items.item.where(linkId = link)`` on plain items: each item's ``item`` an array of objects,
    each with a string ``linkId`` and no ``_linkId``/``_item``."""
    found = []
    for parent in items:
        children = parent.get("item")
        if children is None:
            if "item" in parent:
                raise _NotPlain
            continue
        if type(children) is not list:
            raise _NotPlain
        for child in children:
            if type(child) is not dict or type(child.get("linkId")) is not str or "_linkId" in child \
                    or "_item" in child:
                raise _NotPlain
            if child["linkId"] == link:
                found.append(child)
    return found


def _answer_values(items: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """``items.answer.value`` as ``(key, value)`` pairs, on answers that are objects with at most one
    ``value…`` key and no ``_value…`` key (no ``_answer`` on the items)."""
    found = []
    for item in items:
        if "_answer" in item:
            raise _NotPlain
        answers = item.get("answer")
        if answers is None:
            if "answer" in item:
                raise _NotPlain
            continue
        if type(answers) is not list:
            raise _NotPlain
        for answer in answers:
            if type(answer) is not dict:
                raise _NotPlain
            keys = [k for k in answer if k.startswith(("value", "_value"))]
            if len(keys) > 1 or (keys and keys[0][0] == "_"):
                raise _NotPlain
            if keys:
                found.append((keys[0], answer[keys[0]]))
    return found


def _dates(values: list[tuple[str, Any]]) -> list[str]:
    """The values, each a ``valueDate`` of full precision that Python reads as a date."""
    out = []
    for key, value in values:
        if key != "valueDate" or type(value) is not str or not _FULL_DATE.fullmatch(value):
            raise _NotPlain
        out.append(value)
    return out


def _formaga_holds(node: dict[str, Any]) -> bool:
    """Whether :data:`_FORMAGA` gives ``[True]`` on ``node``, read on plain data only (items as
    :func:`_linked` reads them, the start and grund answers full ``valueDate`` values, each motivering
    answer with at most one plain value): S, the first start date plus 7 days; G, the earliest grund
    date (the ``aggregate``: the first of the smallest); ``S < G`` false or either absent with a
    motivering answer value, or a motivering answer value: the rule holds. False (the general way
    decides) for anything else, and where the rule would not hold."""
    if "_item" in node:
        return False
    try:
        root = [node]
        periods = _linked(_linked(root, "formaga"), "formaga.period")
        starts = _dates(_answer_values(_linked(periods, "formaga.period.start")))
        grounds = _dates(_answer_values(_linked(_linked(root, "grund"), "grund.datum")))
        reasons = _answer_values(_linked(periods, "formaga.period.motivering"))
        if any(type(value) is not str or key != "valueString" for key, value in reasons):
            return False  # (a value fhirpathpy might not give: the general way)
        # (each date read, whether or not the rule needs it: one Python refuses, fhirpathpy may refuse)
        start = datetime.date.fromisoformat(starts[0]) + datetime.timedelta(days=7) if starts else None
        earliest = min(datetime.date.fromisoformat(g) for g in grounds) if grounds else None
    except (_NotPlain, ValueError, OverflowError):
        return False
    if reasons:
        return True  # X implies true, X being a comparison of plain dates (or empty)
    if start is None or earliest is None:
        return False  # empty implies false: empty
    return not start < earliest


# The certificate's grund-date rule (no grund date after the day the certificate was authored),
# answered ``[True]`` on plain dates (:func:`_authored_holds`).
_AUTHORED = ("authored.exists() implies item.where(linkId='grund').item.where(linkId='grund.datum').answer.value"
             ".all($this.toString() <= %resource.authored.toString().substring(0, 10))")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?")


def _authored_holds(node: dict[str, Any]) -> bool:
    """Whether :data:`_AUTHORED` gives ``[True]`` on ``node`` (its own ``%resource``), read on plain
    data only: ``authored`` absent or a date or full dateTime string (no ``_authored``), the grund
    dates full ``valueDate`` values (items as :func:`_linked` reads them). Then ``toString()`` gives
    each string as it is, and the rule holds where every grund date is at most ``authored``'s first
    ten characters (or there is no ``authored``). False (the general way decides) for anything else."""
    if "_item" in node or "_authored" in node:
        return False
    authored = node.get("authored", _MISSING)
    try:
        grounds = _dates(_answer_values(_linked(_linked([node], "grund"), "grund.datum")))
    except _NotPlain:
        return False
    if authored is _MISSING:
        return True
    if type(authored) is not str or not _DATE_TIME.fullmatch(authored):
        return False
    day = authored[:10]
    for ground in grounds:  # noqa: SIM110 - a plain loop, as the negative control breaks it
        if not ground <= day:
            return False
    return True


# The certificate's prognosis rule (an unclear prognosis needs a description), answered ``[True]``
# on plain answers (:func:`_prognos_holds`).
_PROGNOS = ("item.where(linkId='prognos').all(item.where(linkId='prognos.typ').answer.value.where(code in "
            "('oklar' | 'ej-aterfa')).exists() implies item.where(linkId='prognos.beskrivning').answer.value.exists())")


def _prognos_holds(node: dict[str, Any]) -> bool:
    """Whether :data:`_PROGNOS` gives ``[True]`` on ``node``, read on plain data only (items as
    :func:`_linked` reads them; every prognos.typ answer a ``valueCoding`` object with a string
    ``code`` or none, no ``_code``): for each prognos item, a beskrivning answer with a string
    ``valueString`` (then its criterion is true), or no typ code ``oklar``/``ej-aterfa``. False (the
    general way decides) for anything else."""
    if "_item" in node:
        return False
    try:
        for prognos in _linked([node], "prognos"):
            unclear = False
            for key, value in _answer_values(_linked([prognos], "prognos.typ")):
                if key != "valueCoding" or type(value) is not dict or "_code" in value:
                    return False
                code = value.get("code", _MISSING)
                if code is not _MISSING and type(code) is not str:
                    return False
                if code == "oklar" or code == "ej-aterfa":
                    unclear = True
            texts = _answer_values(_linked([prognos], "prognos.beskrivning"))
            if unclear and not any(key == "valueString" and type(value) is str for key, value in texts):
                return False
    except _NotPlain:
        return False
    return True


PLAIN_LISTED = True
"""Whether :func:`_all_listed` walks each entry resource by :func:`_plainly_listed` first (``False``:
by :func:`_listed` alone; the tests compare the two)."""


def _plainly_listed(node: dict[str, Any], urls: set[str]) -> bool | None:
    """:func:`_listed` on ``node`` without its trail (no ``(trail, key)`` pair made for each object and
    array below): ``None`` where an object ``reference`` stands below it, which only the trail can
    decide (:func:`_typed_reference`), else what :func:`_listed` gives, whose every other test reads
    no trail (a ``resourceType`` that is no string, a ``reference`` string among no fullUrl or of
    another type, ``_reference``, an array in an array, a value of no JSON type)."""
    if "reference" in node:
        ref = node["reference"]
        if type(ref) is str:
            if ref not in urls:
                return False
        elif type(ref) is dict:
            return None
        else:
            return False
    if "_reference" in node:
        return False
    if "resourceType" in node and type(node["resourceType"]) is not str:
        return False
    for value in node.values():
        kind = type(value)
        if kind is str:
            continue
        if kind is dict:
            found = _plainly_listed(value, urls)
            if found is not True:
                return found
        elif kind is list:
            for item in value:
                kind = type(item)
                if kind is dict:
                    found = _plainly_listed(item, urls)
                    if found is not True:
                        return found
                elif not (kind is str or kind is bool or kind is int or kind is float or item is None):
                    return False  # an array in an array, or no JSON value
        elif not (kind is bool or kind is int or kind is float or value is None):
            return False
    return True


def _listed(node: dict[str, Any], urls: set[str], trail: _Trail) -> bool:
    """:func:`_all_listed` on one object (reached by ``trail``) and everything below it."""
    if "resourceType" in node:
        name = node["resourceType"]  # (untrusted: checked before it becomes the trail)
        if type(name) is not str:
            return False
        trail = name
    if "reference" in node:
        ref = node["reference"]
        if type(ref) is str:
            if ref not in urls:
                return False
        elif type(ref) is not dict or _typed_reference(trail):
            return False
    if "_reference" in node:
        return False
    for key, value in node.items():
        kind = type(value)
        if kind is str or kind is bool or kind is int or kind is float or value is None:
            continue
        if kind is dict:
            if not _listed(value, urls, (trail, key)):
                return False
        elif kind is list:
            sub = (trail, key)
            for item in value:
                kind = type(item)
                if kind is dict:
                    if not _listed(item, urls, sub):
                        return False
                elif not (kind is str or kind is bool or kind is int or kind is float or item is None):
                    return False  # an array in an array, or no JSON value
        else:
            return False
    return True


def _typed_reference(trail: _Trail) -> bool:
    """Whether fhirpathpy may type the node ``trail`` reaches as a Reference: the type path its
    ``descendants()`` gives (``create_reduce_children``: the parent's path and the key,
    ``extension`` as ``Extension``, then ``pathsDefinedElsewhere`` and ``path2Type``; an object with a
    ``resourceType`` at that), a Reference or a type derived from one. True (may) where no object
    above has a ``resourceType``."""
    keys: list[str] = []
    while isinstance(trail, tuple):
        trail, key = trail
        keys.append(key)
    if trail is None:
        return True
    path = trail
    elsewhere, types = MODEL["pathsDefinedElsewhere"], MODEL["path2Type"]
    for key in reversed(keys):
        child = "Extension" if key == "extension" else path + "." + key
        child = elsewhere.get(child, child)
        path = types.get(child, child)
    parents = MODEL["type2Parent"]
    name: str | None = path
    while name is not None:  # (the model's types, each naming its parent: no cycle)
        if name == "Reference":
            return True
        name = parents.get(name)
    return False


# The submission's issuer rule (lisn-sub-6: a response to template 1.0, or every Practitioner a
# physician, LK), answered ``[True]`` without FHIRPath where its data is plain (:func:`_issuer_holds`).
_ISSUER = ("entry.resource.ofType(QuestionnaireResponse).where(questionnaire = "
           "'https://lisn.se/fhir/Questionnaire/lisn|1.0').exists() or entry.resource.ofType(Practitioner)"
           ".all(qualification.code.coding.where(system = 'urn:oid:1.2.752.116.3.1.3' and code = 'LK').exists())")


def _plain_objects(node: dict[str, Any], key: str) -> list[dict[str, Any]] | None:
    """``node``'s member ``key`` as :func:`_plain_list` reads it, with no ``_key`` beside it."""
    return None if "_" + key in node else _plain_list(node.get(key, _MISSING))


def _plain_text(node: dict[str, Any], key: str) -> bool:
    """Whether ``node``'s member ``key`` is absent or one string, with no ``_key`` beside it."""
    return "_" + key not in node and (key not in node or type(node[key]) is str)


def _issuer_holds(bundle: dict[str, Any]) -> bool:
    """Whether :data:`_ISSUER` gives ``[True]`` on ``bundle``, read on plain data only: a Bundle whose
    entries are an array of objects (no ``resourceType`` on them), each ``resource`` absent or an
    object with a string ``resourceType`` (``ofType`` of a resource tests it: no R4 resource type
    derives from another); every response's ``questionnaire`` absent or a string; every
    Practitioner's ``qualification`` and ``coding`` arrays of objects, ``code`` an object, ``system``
    and ``code`` of a coding absent or strings (no ``_`` keys for any of them, no ``resourceType`` on
    any of those objects: it would type them otherwise). Then no step can
    fail and each comparison is of strings: the rule holds where a response names template 1.0 or
    every Practitioner has a qualification coded LK in the profession code system. False (the
    general way decides) for anything else and wherever the rule would not hold."""
    if bundle.get("resourceType") != "Bundle":
        return False
    entries = _plain_objects(bundle, "entry")
    if entries is None:
        return False
    named = False
    physicians = True
    for entry in entries:
        if "resourceType" in entry or "_resource" in entry:
            return False
        resource = entry.get("resource", _MISSING)
        if resource is _MISSING:
            continue
        if type(resource) is not dict or type(resource.get("resourceType")) is not str:
            return False
        rtype = resource["resourceType"]
        if rtype == "QuestionnaireResponse":
            if not _plain_text(resource, "questionnaire"):
                return False
            if resource.get("questionnaire") == "https://lisn.se/fhir/Questionnaire/lisn|1.0":
                named = True
        elif rtype == "Practitioner":
            qualifications = _plain_objects(resource, "qualification")
            if qualifications is None:
                return False
            coded = False
            for qualification in qualifications:
                if "_code" in qualification or "resourceType" in qualification:
                    return False
                code = qualification.get("code", _MISSING)
                if code is _MISSING:
                    continue
                if type(code) is not dict or "resourceType" in code:
                    return False
                codings = _plain_objects(code, "coding")
                if codings is None:
                    return False
                for coding in codings:
                    if "resourceType" in coding or not (_plain_text(coding, "system") and _plain_text(coding, "code")):
                        return False
                    if coding.get("system") == "urn:oid:1.2.752.116.3.1.3" and coding.get("code") == "LK":
                        coded = True
            if not coded:
                physicians = False
    return named or physicians


# The rules :func:`holds` answers by a short way of their own where it gives ``True`` (one entry
# point, one switch: ``RULES_SHORT``): expression -> (the short way, whether only on a node that is
# its own ``%resource``). :func:`evaluate` takes the general way for them.
_SHORT_RULES: dict[str, tuple[Callable[[dict[str, Any]], bool], bool]] = {
    _FORMAGA: (_formaga_holds, False), _AUTHORED: (_authored_holds, True), _PROGNOS: (_prognos_holds, False),
    _ENDPOINT_NAMES_RECEIVER: (_endpoint_holds, True), _SUBSET_OF_FULL_URLS: (_all_listed, True),
    _ISSUER: (_issuer_holds, False)}


@lru_cache(maxsize=2048)
def _direct(expression: str) -> bool:
    """Whether ``expression`` has a direct form (:mod:`adapter.fhirpath.direct`). Its
    ``item.where(linkId = 'x')`` tests each item's ``linkId`` as a plain string, as the pruning
    would, making nothing: the pruning's copy is then work added, not saved (measured), and the
    items are left as they are."""
    fn = compiled(expression)
    return type(fn) is fhirpath.Expression and fn.direct is not None


def _pruned(expression: str, node: Any, resource: Any, originals: dict[int, Any]) -> tuple[Any, Any]:
    if node is not resource or not isinstance(node, dict):
        return node, resource
    if isinstance(node.get("entry"), list) and reference_only(expression):
        try:
            slim = _prune_entries(node, originals)
        except _Unprunable:
            return node, resource
        return slim, slim
    links = item_links(expression)
    if links is None or not isinstance(node.get("item"), list) or _direct(expression):
        return node, resource
    slim = _prune(node, links, originals)
    return slim, slim


# -- expressions that read nothing of a node that lacks their names --------------------------------
#
# Most core invariants stand on every value of their type and read only a few of its members
# (``contained.contained.empty()``: ``contained``). On a JSON object with none of those members,
# every step the expression takes from its focus gives an empty collection, so the result is the
# same as on an empty object, and can be worked out once. That holds when the expression reaches
# its focus only by member steps: it never names ``$this`` outside a ``where``/``select``/``all``/
# ``exists`` criterion (there ``$this`` is an item of a collection the expression navigated to),
# calls no function on the focus itself (a function parameter of fhirpathpy's delegated functions
# is evaluated on the focus too: such a call is allowed only inside a criterion), reads no
# variable but ``%ucum`` (``%resource``, ``%context`` and ``%rootResource`` may be or hold the
# focus), names no type as a member step (``Patient.name`` filters the focus by ``resourceType``),
# and calls none of the functions that read the root, the clock or other resources.

_CRITERIA = frozenset({"where", "select", "all", "exists"})
_TYPE_PARAMS = frozenset({"ofType", "is", "as"})
_REACHING = frozenset({"now", "today", "timeOfDay", "resolve", "aggregate", "iif", "repeat", "union", "exclude",
                       "subsetOf", "supersetOf", "intersect", "combine", "extension", "conformsTo", "memberOf"})
_SAFE_VARIABLES = frozenset({"ucum"})


class _Reaches(Exception):
    """The expression may read its focus other than by member steps."""


def _text_of(ast: dict[str, Any]) -> str:
    ident = (ast.get("children") or [{}])[0]
    if ident.get("type") != "Identifier" or not isinstance(ident.get("text"), str):
        raise _Reaches
    return str(ident["text"]).strip('"').replace("`", "")


def _function_parts(ast: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    functn = (ast.get("children") or [{}])[0]
    parts = functn.get("children") or []
    if functn.get("type") != "Functn" or not parts:
        raise _Reaches
    name = _text_of({"children": [parts[0]]})
    params = (parts[1].get("children") or []) if len(parts) > 1 else []
    return name, params


def _member_names(ast: dict[str, Any], at_root: bool, names: set[str]) -> None:
    """Add to ``names`` every member ``ast`` may read from the focus, evaluated where its input may be
    the focus (``at_root``; inside a criterion the input is an item); raise ``_Reaches`` when it may
    read the focus otherwise."""
    kind = ast.get("type")
    children = ast.get("children") or []
    if kind == "ThisInvocation":
        if at_root:
            raise _Reaches
    elif kind == "TotalInvocation":
        raise _Reaches
    elif kind == "IndexInvocation" or kind == "LiteralTerm" or kind == "TypeSpecifier":
        return
    elif kind == "ExternalConstantTerm":
        inner = (children or [{}])[0]
        if _text_of({"children": inner.get("children") or [{}]}) not in _SAFE_VARIABLES:
            raise _Reaches
    elif kind == "MemberInvocation":
        name = _text_of(ast)
        if not name or name[0] != name[0].lower() or name[0] == name[0].upper():
            raise _Reaches  # a type name (``Patient``) or an odd one
        if at_root:
            names.add(name)
    elif kind == "InvocationTerm" and children and children[0].get("type") == "FunctionInvocation":
        if at_root:
            raise _Reaches  # a function called on the focus itself
        _function(children[0], at_root, names)
    elif kind == "InvocationExpression" and len(children) == 2:
        _member_names(children[0], at_root, names)
        step = children[1]  # applied to what the left side gives: never the focus itself
        if step.get("type") == "FunctionInvocation":
            _function(step, at_root, names)
        elif step.get("type") == "MemberInvocation":
            _member_names(step, False, names)
        else:
            raise _Reaches
    elif kind == "FunctionInvocation":
        raise _Reaches  # only reached through the two cases above
    else:
        if not isinstance(kind, str) or not children:
            raise _Reaches
        for child in children:
            _member_names(child, at_root, names)


def _function(ast: dict[str, Any], at_root: bool, names: set[str]) -> None:
    """A function's parameters: a criterion is evaluated on each item; fhirpathpy evaluates any
    other parameter on ``$this``, which is the focus when no criterion has set it."""
    name, params = _function_parts(ast)
    if name in _REACHING:
        raise _Reaches
    if name in _TYPE_PARAMS:
        return  # the parameter is a type, no member step
    for param in params:
        _member_names(param, at_root and name not in _CRITERIA, names)


@lru_cache(maxsize=2048)
def focus_names(expression: str) -> tuple[str, ...] | None:
    """The member names ``expression`` may read from its focus, when it reads the focus only by
    member steps (see above); ``None`` when it may read it otherwise (or does not parse)."""
    try:
        fn = compiled(expression)  # (its tree: the table's tree is decoded once per expression)
        tree = fn.tree if isinstance(fn, fhirpath.Expression) else parse_fhirpath(expression)
        names: set[str] = set()
        for child in tree.get("children") or []:
            _member_names(child, True, names)
    except Exception:  # noqa: BLE001 - _Reaches, or an expression fhirpathpy cannot parse
        return None
    return tuple(sorted(names))


_ABSENT: dict[tuple[str, str | None], Any] = {}
_UNKNOWN = object()


def _when_absent(expression: str, type_path: str | None) -> tuple[tuple[str, ...], list[Any]] | None:
    """``(names, result)``: ``expression``'s result on any object (of type ``type_path``) with no key
    for any of ``names``; ``None`` when there is no such shortcut."""
    key = (expression, type_path)
    if key in _ABSENT:
        known: tuple[tuple[str, ...], list[Any]] | None = _ABSENT[key]
        return known
    found: tuple[tuple[str, ...], list[Any]] | None = None
    names = focus_names(expression)
    fn = compiled(expression)
    if names is not None and isinstance(fn, fhirpath.Expression) and (fn.direct is not None or fn.compiled is not None):
        empty: dict[str, Any] = {}
        try:
            result = fn(fhirpath.typed(empty, type_path) if type_path is not None else empty,
                        {"resource": empty, "rootResource": empty})
        except Exception:  # noqa: BLE001 - no shortcut: the evaluation says what goes wrong
            result = None
        if result is not None:
            found = (names, result)
    if len(_ABSENT) >= 4096:  # expressions come from the loaded profiles: a bound all the same
        _ABSENT.clear()
    _ABSENT[key] = found
    return found


_PLANS: dict[tuple[str, str | None], tuple[Any, Any]] = {}
# The quick plans: for an expression :func:`_data_only` takes, ``(keys, prefixes, result, form)``:
# its shortcut as :func:`_lacks` looks it up (``keys`` None: no shortcut) with its result, and its
# direct form. What :func:`evaluate`'s steps come to for it, with fewer look-ups and calls (some
# 80 evaluations per example validation: -1.4 % of its instructions, by callgrind).
_QUICK: dict[tuple[str, str | None], tuple[tuple[str, ...] | None, tuple[str, ...], list[Any], Any]] = {}


def _plan(expression: str, type_path: str | None) -> tuple[Any, Any]:
    """``(the shortcut of _when_absent, the compiled expression)`` for a plain evaluation, found
    once; for an expression :func:`_data_only` takes, its quick plan (``_QUICK``) too."""
    shortcut = _ABSENT.get((expression, type_path), _UNKNOWN)
    if shortcut is _UNKNOWN:
        shortcut = _when_absent(expression, type_path)
    fn = compiled(expression)
    plan = (shortcut, fn)
    if len(_PLANS) >= 4096:  # expressions come from the loaded profiles: a bound all the same
        _PLANS.clear()
        _QUICK.clear()
    _PLANS[(expression, type_path)] = plan
    if isinstance(fn, fhirpath.Expression) and _data_only(fn):
        keys, prefixes = _lookup(shortcut[0]) if shortcut is not None else (None, ())
        _QUICK[(expression, type_path)] = (keys, prefixes, shortcut[1] if shortcut is not None else [], fn.direct)
    return plan


def _choice_names() -> frozenset[str]:
    """The member names that may be an R4 choice element under some parent type (``value``,
    ``effective``…): the last step of every choice path of fhirpathpy's model, and of every path
    defined elsewhere as one. A member step of any other name reads only the keys ``name`` and
    ``_name`` of an object (:class:`adapter.fhirpath.navigation.Member`)."""
    choices = MODEL["choiceTypePaths"]
    names = {path.rsplit(".", 1)[-1] for path in choices}
    names |= {path.rsplit(".", 1)[-1] for path, target in MODEL["pathsDefinedElsewhere"].items() if target in choices}
    return frozenset(names)


_CHOICE_NAMES = _choice_names()
_LOOKUPS: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _lookup(names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(keys, prefixes)`` for :func:`_lacks`: ``x`` and ``_x`` as keys for every name, and as
    prefixes for one that may be a choice element (``value`` covers ``valueString``). A key that is
    also a prefix is looked up first all the same: a node holding it (``item``, a choice name under
    some other type) is then settled without going through its keys."""
    if len(_LOOKUPS) >= 4096:
        _LOOKUPS.clear()
    keys = tuple(k for name in names for k in (name, "_" + name))
    prefixes = tuple(k for name in names if name in _CHOICE_NAMES for k in (name, "_" + name))
    found = _LOOKUPS[names] = (keys, prefixes)
    return found


def _lacks(node: dict[str, Any], names: tuple[str, ...]) -> bool:
    """Whether ``node`` has no key a member step of one of ``names`` reads: ``x`` and ``_x``, and for
    a name that may be a choice element any key starting with one of them (``valueString``)."""
    found = _LOOKUPS.get(names)
    keys, prefixes = _lookup(names) if found is None else found
    for k in keys:  # noqa: SIM110 - a plain loop: called on most nodes, cheaper than any() over a generator
        if k in node:
            return False
    if prefixes:
        for k in node:  # noqa: SIM110
            if k.startswith(prefixes):
                return False
    return True


def _data_only(fn: Any) -> bool:
    """Whether ``fn`` is evaluated by its direct form reading no ``%`` variable: then
    :func:`evaluate` gives ``fn.on_data(node, type_path)`` whatever ``resource`` and ``root`` are,
    as no pruning applies to it (its item steps are left unpruned, :func:`_direct`; the reference
    pruning is for ``descendants()``, which no direct form has). Such an expression gets a quick
    plan (:func:`_plan`), which :func:`evaluate` and :func:`holds` follow on a JSON object."""
    if type(fn) is not fhirpath.Expression:
        return False
    form = fn.direct
    return form is not None and not form.variables


def _quickly(quick: tuple[Any, ...], expression: str, node: dict[str, Any],
             type_path: str | None) -> list[Any] | FhirPathProblem:
    """:func:`evaluate` of an expression with a quick plan (``_QUICK``) on a JSON object: the
    shortcut where ``node`` lacks its names (:func:`_lacks`), else the direct form on the one item
    ``Expression.on_data`` would give it, its result as ``on_data`` gives it back."""
    keys, prefixes, absent, form = quick
    if keys is not None:  # _lacks, inlined
        lacking = True
        for k in keys:
            if k in node:
                lacking = False
                break
        if lacking and prefixes:
            for k in node:
                if k.startswith(prefixes):
                    lacking = False
                    break
        if lacking:
            return list(absent)
    try:
        if type_path is None:
            path = node.get("resourceType")
            items: list[Any] = [node]
        else:
            path = node.get("resourceType", type_path)
            items = [(node, path)]
        one = form.one  # (the root entry: on one object and a type path, no per-item dispatch)
        found: list[Any] = one(items, node, path, {}) if one is not None and type(path) is str else form.body(items, {})
        return found if form.boolean else fhirpath.object_result(found)
    except Exception as exc:  # noqa: BLE001 - an evaluation error is a finding, not a crash
        return FhirPathProblem(expression, _ADDRESS.sub("", f"{type(exc).__name__}: {exc}"))


def evaluate(expression: str, node: Any, *, resource: Any, raw: bool = False,
             originals: dict[int, Any] | None = None, root: Any = None,
             type_path: str | None = None) -> list[Any] | FhirPathProblem:
    """Evaluate ``expression`` on ``node`` with ``%resource`` and ``%rootResource`` bound.

    ``originals`` receives ``id(copy) -> original`` for the objects the item pruning copied.
    ``root`` is ``%rootResource`` (the Bundle an entry stands in, where ``resolve()`` looks;
    default: ``resource``). ``type_path`` types ``node`` when it is not a resource (an element:
    ``Identifier``, ``Bundle.entry``), as FHIRPath needs for ``children()``, choice types and
    ``is``/``ofType``; without it an element's children have no type.
    """
    if not raw and type(node) is dict:
        quick = _QUICK.get((expression, type_path))
        if quick is not None:
            return _quickly(quick, expression, node, type_path)
        plan = _PLANS.get((expression, type_path))
        if plan is None:
            plan = _plan(expression, type_path)
            quick = _QUICK.get((expression, type_path))
            if quick is not None:
                return _quickly(quick, expression, node, type_path)
        shortcut, fn = plan
        if shortcut is not None and _lacks(node, shortcut[0]):
            return list(shortcut[1])
    else:
        fn = compiled(expression, raw=raw)
    if isinstance(fn, FhirPathProblem):
        return fn
    pruned_root = root is None or root is resource
    if node is resource and isinstance(node, dict):  # (else _pruned leaves both as they are)
        node, resource = _pruned(expression, node, resource, {} if originals is None else originals)
    try:
        if type(fn) is fhirpath.Expression:  # (the direct form, where it has one, makes no node)
            form = fn.direct
            if form is not None and not form.variables:
                found: list[Any] = fn.on_data(node, type_path)
                return found
            found = fn.on_data(node, type_path, {"resource": resource,
                                                 "rootResource": resource if pruned_root else root})
            return found
        variables = {"resource": resource, "rootResource": resource if pruned_root else root}
        found = fn(node if type_path is None else fhirpath.typed(node, type_path), variables)
        return found
    except Exception as exc:  # noqa: BLE001 - an evaluation error is a finding, not a crash
        return FhirPathProblem(expression, _ADDRESS.sub("", f"{type(exc).__name__}: {exc}"))


def holds(expression: str, node: Any, *, resource: Any, root: Any = None,
          type_path: str | None = None) -> bool | FhirPathProblem:
    """Whether an invariant holds on ``node`` (``root``, ``type_path``: as for :func:`evaluate`).

    Read as the HL7 validator reads a constraint (``FHIRPathEngine.convertToBoolean``, and
    :func:`adapter.validation.constraints.as_boolean` for the core invariants): a single boolean
    is itself, an empty result fails; anything else is a problem with the expression.
    """
    if type_path is None and RULES_SHORT and type(node) is dict:
        short = _SHORT_RULES.get(expression)
        if short is not None and (node is resource or not short[1]) and short[0](node):
            return True  # (answered before any plan is made)
    quick = _QUICK.get((expression, type_path)) if type(node) is dict else None
    if quick is not None:
        result = _quickly(quick, expression, node, type_path)  # (evaluate's first step, called here)
    else:
        result = evaluate(expression, node, resource=resource, root=root, type_path=type_path)
    if type(result) is list and len(result) == 1 and (result[0] is True or result[0] is False):
        return result[0]  # (the usual result: what the steps below give for it)
    if isinstance(result, FhirPathProblem):
        return result
    if not result:
        return False
    if len(result) == 1 and isinstance(result[0], bool):
        return result[0]
    return FhirPathProblem(expression, f"result is not a single boolean: {result[:3]!r}")


def locate(expression: str, node: Any, *, resource: Any) -> list[Any] | FhirPathProblem:
    """The nodes a location expression selects, as the very objects inside ``node``.

    Raw data keeps object identity, so callers can map each node back to its path
    with an index built once per resource (``paths_by_identity``).
    """
    originals: dict[int, Any] = {}
    result = evaluate(expression, node, resource=resource, raw=True, originals=originals)
    if isinstance(result, FhirPathProblem):
        return result
    found = [getattr(r, "data", r) for r in result]
    return [originals.get(id(f), f) for f in found]


def paths_by_identity(node: Any, path: str) -> dict[int, str]:
    """``id(object) -> FHIRPath location`` for every JSON object and array below ``node``."""
    out: dict[int, str] = {}
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            out[id(value)] = where
            for key, child in value.items():
                if isinstance(child, list):
                    for i, item in enumerate(child):
                        stack.append((item, f"{where}.{key}[{i}]"))
                elif isinstance(child, dict):
                    stack.append((child, f"{where}.{key}"))
    return out
