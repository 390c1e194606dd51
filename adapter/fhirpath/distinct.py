"""Union and distinctness (FHIRPath N1 §6.5 ``|``, §5.1 ``distinct()``/``isDistinct()``, §5.4 ``union()``).

As fhirpathpy computes them (``existence.distinct_fn``, ``combining.union_op``), which is not
FHIRPath equality: items are told apart by a key, ``json.dumps(item, sort_keys=True)``, or
``str(item)`` where that raises ``TypeError`` (a Decimal, a date/time or Quantity value, a node,
an object holding one of those); of the items with one key, the last is kept, at the place of the
first (``util.uniq``). Then

* a collection of nodes only (and the empty one) is deduplicated on the nodes' *data*, and the
  result is made of new nodes ``ResourceNode.create_node(data)``: their type path is lost (``None``),
  but for a resource, typed by its ``resourceType``;
* a collection of Quantities only goes through fhirpathpy's own conversion code (called as it is);
* any other collection is deduplicated on the items themselves: a node's key is then its
  ``str()``, the object's address, so two nodes are the same only when they are one object.

What costs in fhirpathpy is ``json.dumps`` building a new encoder per item (and, for a node, the
``TypeError`` it raises): here one encoder is made once, a string's key is computed directly (the
encoder's own ``encode_basestring_ascii``) and a node's directly (``str``), and a collection of
strings only is deduplicated on the strings (the encoding of a string is injective). The keys are
the same, so the result is the same; the property tests hold it to fhirpathpy.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any

from adapter.fhirpath.env import FP_CTX, RN, Items, node
from adapter.fhirpath.upstream import FP_Quantity, fp_distinct

_ENCODE = json.JSONEncoder(sort_keys=True).encode  # what json.dumps(x, sort_keys=True) builds per call


def _key(item: Any) -> str:
    kind = type(item)
    if kind is str:
        return str(encode_basestring_ascii(item))  # JSONEncoder.encode's own path for a str
    if kind is RN:
        return str(item)  # a node is never JSON-serialisable: fhirpathpy's fallback key
    try:
        return _ENCODE(item)
    except TypeError:
        return str(item)


def uniq(items: Items) -> Items:
    """fhirpathpy's ``util.uniq``: one item per key, the last one, at the first one's place."""
    if all(type(x) is str for x in items):
        strings: dict[str, str] = {}
        for x in items:
            strings[x] = x
        return list(strings.values())
    keyed: dict[str, Any] = {}
    for x in items:
        keyed[_key(x)] = x
    return list(keyed.values())


def _all_nodes(items: Items) -> bool:
    return all(isinstance(v, RN) for v in items)


def distinct(items: Items) -> Items:
    """fhirpathpy's ``distinct_fn`` (see the module's text)."""
    if _all_nodes(items):
        return [d if isinstance(d, RN) else node(d, None) for d in uniq([v.data for v in items])]
    if all(isinstance(v, FP_Quantity) for v in items):
        return list(fp_distinct(FP_CTX, items))
    return uniq(items)


def is_distinct(items: Items) -> bool:
    """fhirpathpy's ``isdistinct_fn``: as many items as :func:`distinct` gives."""
    if _all_nodes(items):
        return len(items) == len(uniq([v.data for v in items]))
    return len(items) == len(distinct(items))


def union(a: Items, b: Items) -> Items:
    """``a | b`` and ``a.union(b)``: fhirpathpy's ``union_op``."""
    return distinct(a + b)
