"""The evaluation state and the value model shared by every compiled closure.

Values are fhirpathpy's own: a collection is a Python list whose items are raw system values
(``str``, ``int``, ``Decimal``, ``bool``, ``FP_DateTime``, ``FP_Time``, ``FP_Quantity``) or
``ResourceNode``s (a piece of the resource with its FHIR type path). Keeping the very same classes
lets the compiled code hand values to fhirpathpy's own functions wherever their semantics are
intricate (date/time precision, quantities, type tests), so both engines agree by construction
there; the compiler itself removes the interpreter's overhead (AST dispatch, per-call registry
merges, regex work on every identifier and literal).

``Env`` mirrors fhirpathpy's ``ctx`` dictionary: ``$this``, ``$index`` and ``$total`` are set and
left behind exactly where fhirpathpy sets them, so that even its quirks (a function parameter
evaluated on the ``$this`` a previous ``where()`` left) give the same result.
"""

from __future__ import annotations

from collections import abc
from collections.abc import Callable
from typing import Any, cast

from adapter.fhirpath.upstream import MODEL, RN, get_data, is_capitalized

# fhirpathpy's functions take its ``ctx`` dict; the ones we call read only the model from it.
FP_CTX: dict[str, Any] = {"model": MODEL}

Items = list[Any]


class Unset:
    """The marker for ``$this``/``$index``/``$total`` before fhirpathpy would have set them."""


UNSET = Unset()


class Env:
    """Per-evaluation state: the root collection, ``%`` variables, the ``$`` variables, and the
    results of hoisted subexpressions (:mod:`adapter.fhirpath.hoist`)."""

    __slots__ = ("root", "vars", "this", "index", "total", "memo")

    def __init__(self, root: Items, variables: dict[str, Any]) -> None:
        self.root = root
        self.vars = variables
        self.this: Any = UNSET
        self.index: Any = UNSET
        self.total: Any = UNSET
        self.memo: dict[int, Any] | None = None

    def this_or_root(self) -> Items:
        """What fhirpathpy evaluates a function's parameters on: ``$this``, else the root."""
        return cast(Items, self.root if self.this is UNSET else self.this)


Compiled = Callable[[Env, Items], Items]

_new = object.__new__
_SCALARS = frozenset({str, int, float, bool, type(None)})


def node(data: Any, path: Any) -> Any:
    """``ResourceNode(data, path)`` without its constructor's overhead (same attributes). ``path``:
    a type path or ``None``; a resource's own ``resourceType`` replaces it whatever its JSON type
    (an untrusted document may hold a number there), as fhirpathpy's constructor does."""
    n = _new(RN)
    kind = type(data)
    if kind is dict:
        if "resourceType" in data:
            path = data["resourceType"]
    elif kind not in _SCALARS and isinstance(data, abc.Mapping) and "resourceType" in data:
        path = data["resourceType"]
    n.path = path
    n.data = data
    n._data = None
    n.propName = None
    n.index = None
    return n


def as_node(value: Any) -> Any:
    """fhirpathpy's ``ResourceNode.create_node(value)``: a node stays, anything else is wrapped."""
    return value if type(value) is RN else node(value, None)


def arraify(value: Any) -> Items:
    """fhirpathpy's ``util.arraify``: a list stays, ``None`` and ``[]`` are empty, else ``[value]``."""
    if isinstance(value, list):
        return value
    if value is None:
        return []
    return [value]


def flatten(values: Items) -> Items:
    """One level of list nesting removed (fhirpathpy's ``util.flatten``)."""
    out: Items = []
    for v in values:
        if isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


def is_true(result: Items) -> bool:
    """fhirpathpy's ``util.is_true`` on a collection: one item equal to ``True``."""
    return len(result) == 1 and bool(result[0] == True)  # noqa: E712 - a node compares its data


__all__ = ["MODEL", "RN", "get_data", "is_capitalized"]
