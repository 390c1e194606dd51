"""FHIRPath compiled to Python closures, with fhirpathpy as parser, reference and fallback.

``compile(expression)`` takes fhirpathpy's parse tree (precomputed for the expressions the package
ships, :mod:`adapter.fhirpath.trees`; else parsed by fhirpathpy) and compiles it into closures
(:mod:`adapter.fhirpath.compiler`); the result is called like fhirpathpy's compiled form,
``fn(resource, {"resource": …})``, and returns what fhirpathpy returns for it (plain data, or with
``raw=True`` the nodes themselves, so that callers keep object identity). An expression with a
part the compiler does not cover is evaluated by fhirpathpy, from the same parse: such fallbacks
are counted (:func:`fallbacks`) and logged at debug level, never silent. Both paths know FHIR's
``hasValue()`` and ``resolve()`` (:mod:`adapter.fhirpath.fhir`) and neither prints ``trace()``.

Semantics are fhirpathpy's (FHIRPath N1 as it implements it, R4 model); the property tests in
``tests/unit/fhirpath/`` hold the compiled closures to fhirpathpy's results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from adapter import native  # noqa: F401 - first: it checks a compiled build before any compiled module loads
from adapter.fhirpath import direct, hoist
from adapter.fhirpath.compiler import compile_tree
from adapter.fhirpath.env import MODEL, RN, Compiled, Env, arraify, get_data, node
from adapter.fhirpath.fhir import USER_FUNCTIONS, scope
from adapter.fhirpath.params import Unsupported
from adapter.fhirpath.upstream import FP_Type, apply_parsed_path, parse, reset_clock, set_paths

if TYPE_CHECKING:
    import logging

__all__ = ["Expression", "Unsupported", "cached", "compile", "evaluate", "fallbacks", "fhirpathpy_options",
           "object_result", "typed"]

_FALLBACKS: Counter[str] = Counter()
_CLOCK = ("today", "now", "timeOfDay")


def _log() -> logging.Logger:
    import logging  # here: only a fallback is logged (about 3 ms to import; issue 15's CLI start)

    return logging.getLogger(__name__)


def fhirpathpy_options(raw: bool) -> dict[str, Any]:
    """fhirpathpy's options as this package uses it: FHIR's functions, ``trace()`` silent."""
    return {"returnRawData": raw, "userInvocationTable": USER_FUNCTIONS, "traceFn": lambda label, value: None}


class Expression:
    """A compiled expression: ``expr(resource, variables) -> list`` like fhirpathpy's compiled form."""

    compiled: Compiled | None
    """The closures (:mod:`adapter.fhirpath.compiler`); ``None``: fhirpathpy evaluates it."""
    reason: str
    """Why ``compiled`` is ``None`` (the part the compiler does not cover); else empty."""
    tree: Any
    """fhirpathpy's parse tree of ``text`` (shared: read it, never change it)."""

    def __init__(self, text: str, *, raw: bool = False) -> None:
        self.text, self.raw = text, raw
        self.tree = tree = parse(text)
        self._fallback: Callable[..., list[Any]] = set_paths(
            apply_parsed_path, parsedPath=tree, model=MODEL, options=fhirpathpy_options(raw))
        self._clock = any(f"{name}(" in text for name in _CLOCK)
        self._resolves = "resolve" in text
        # The direct form (on the JSON itself, no nodes), where it gives the same: decided here, once.
        self.direct: direct.Form | None = None
        with hoist.remembering():  # (each subtree's analysis once, for the compiler and the direct form)
            if not raw and not self._clock and not self._resolves:
                try:
                    self.direct = direct.compile_direct(tree)
                except Unsupported:  # (a tree the compiler refuses too: its fallback is fhirpathpy's)
                    self.direct = None
            if self.direct is None:
                self._closures()
        # Where the direct form serves, the closures are compiled at their first use (the node form
        # is then only asked for by tests and by callers that want nodes): about a fifth of the
        # first validation's compiling, which a one-file ``adapter validate`` pays for in full.
        # An expression with a direct form always has closures too: the direct form is made of the
        # compiler's parts where it does not compute a node itself (tests/unit/fhirpath/test_lazy_closures.py).

    def _closures(self) -> None:
        compiled: Compiled | None = None
        reason = ""
        try:
            compiled = compile_tree(self.tree)
        except Unsupported as exc:
            reason = str(exc)
            _FALLBACKS[self.text] += 1
            _log().debug("FHIRPath evaluated by fhirpathpy (%s): %s", exc, self.text)
        self.reason = reason  # (two threads may both compile at first use: the same result, set twice)
        self.compiled = compiled

    if not TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any:
            # Only for an attribute not set: ``compiled``/``reason`` before the closures are made.
            if name in ("compiled", "reason") and "tree" in self.__dict__:
                with hoist.remembering():
                    self._closures()
                return self.__dict__[name]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __call__(self, resource: Any, context: Mapping[str, Any] | None = None) -> list[Any]:
        if self.direct is not None:  # reads no clock, no other resource
            return self.direct_form(resource, context)
        return self.node_form(resource, context)

    def direct_form(self, resource: Any, context: Mapping[str, Any] | None = None) -> list[Any]:
        """The expression evaluated by its direct form (:mod:`adapter.fhirpath.direct`), which it must have."""
        assert self.direct is not None
        if not self.direct.variables:
            return _plain(direct.run(self.direct, resource))
        variables = {"context": resource, "ucum": "http://unitsofmeasure.org"}
        if context:
            variables.update(context)
        return _plain(direct.run(self.direct, resource, variables))

    def on_data(self, data: Any, type_path: Any, context: Mapping[str, Any] | None = None) -> list[Any]:
        """``self(typed(data, type_path), context)`` (``type_path=None``: ``self(data, context)``),
        by the direct form without making the node, where the expression has one."""
        form = self.direct
        if form is not None:
            if not form.variables and type(data) is dict:
                found = direct.test_on_object(form, data, type_path)
                return found if form.boolean else object_result(found)
            result = direct.run_typed(form, data, type_path, dict(context) if context else None)
            if len(result) == 1 and (result[0] is True or result[0] is False):
                return result  # (what _plain gives for it)
            return _plain(result)
        return self(data if type_path is None else node(data, type_path), context)

    def node_form(self, resource: Any, context: Mapping[str, Any] | None = None) -> list[Any]:
        """The expression evaluated on fhirpathpy's nodes (the compiled closures, or fhirpathpy),
        even where it has a direct form: what the direct form must give."""
        variables = {"context": resource, "ucum": "http://unitsofmeasure.org"}
        if context:
            variables.update(context)
        if self._resolves:
            with scope(variables.get("resource"), variables.get("rootResource")):
                return self._run(resource, variables)
        compiled = self.compiled
        if compiled is None or self._clock:
            return self._run(resource, variables)
        root = arraify(resource)  # _run's steps, inlined for the common case
        result = compiled(Env(root, variables), root)
        return _raw(result) if self.raw else _plain(result)

    def _run(self, resource: Any, variables: dict[str, Any]) -> list[Any]:
        if self.compiled is None:
            return self._fallback(resource, variables)
        if self._clock:
            reset_clock()  # today()/now() are fixed per evaluation, as fhirpathpy fixes them
        root = arraify(resource)
        result = self.compiled(Env(root, variables), root)
        return _raw(result) if self.raw else _plain(result)


def object_result(found: list[Any]) -> list[Any]:
    """:meth:`Expression.on_data`'s result from what :func:`direct.test_on_object` gave (``found``):
    one Boolean as it is (what ``nodes`` and ``_plain`` give back for it), else the plain data of
    the nodes ``direct.run_typed`` would have made of it."""
    if len(found) == 1 and (found[0] is True or found[0] is False):
        return found
    return _plain(direct.nodes(found))


def compile(text: str, *, raw: bool = False) -> Expression:  # noqa: A001 - fhirpathpy's name for it
    """Parse and compile ``text`` once; raises what fhirpathpy's parser raises on bad syntax."""
    return Expression(text, raw=raw)


@lru_cache(maxsize=4096)
def cached(text: str, raw: bool = False) -> Expression:
    """:func:`compile`, once per expression text (an expression that fails to parse is not kept)."""
    return Expression(text, raw=raw)


def evaluate(resource: Any, text: str, context: Mapping[str, Any] | None = None) -> list[Any]:
    """``fhirpathpy.evaluate(resource, text, context, r4)`` with the compiled form, parsed once per text."""
    return cached(text)(resource, context)


def typed(data: Any, type_path: str) -> Any:
    """``data`` as a node of FHIR type ``type_path`` (``Identifier``, ``Bundle.entry``): the input to
    give an element-level expression, so that its children are typed as fhirpathpy types them."""
    return node(data, type_path)


def fallbacks() -> dict[str, int]:
    """The expressions compiled so far that fhirpathpy evaluates, with how often each was compiled."""
    return dict(_FALLBACKS)


def _raw(items: list[Any]) -> list[Any]:
    """fhirpathpy's raw result: primitive-extension-only nodes (``_status``) left out."""
    return [i for i in items if not (type(i) is RN and isinstance(i.data, dict) and list(i.data) == ["extension"])]


def _plain(items: list[Any]) -> list[Any]:
    """fhirpathpy's plain result (its ``visit``): data out of the nodes, floats as Decimals."""
    out = []
    for item in items:
        if type(item) is bool:  # the common result of an invariant: _visit would give it back as it is
            out.append(item)
            continue
        value = _visit(item)
        if not (isinstance(value, dict) and list(value) == ["extension"]):
            out.append(value)
    return out


def _visit(item: Any) -> Any:
    if isinstance(item, list):
        return _plain(item)
    data = get_data(item)
    if isinstance(data, dict) and not isinstance(data, FP_Type):
        return {key: _visit(value) for key, value in data.items()}
    return data
