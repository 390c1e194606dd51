"""Function and operator parameters, as fhirpathpy's ``make_param`` evaluates them.

A parameter is compiled once into a *maker*: ``maker(env, focus)`` gives the value the function
receives. ``Expr`` parameters (``where(criterion)``) stay unevaluated: the maker gives a callable
that sets ``$this`` to its argument and evaluates. Every other kind is evaluated on ``focus``
(fhirpathpy's ``parentData``) after ``$this`` is set to it, then checked as fhirpathpy checks it
(a singleton ``Boolean``, ``String``, ``Integer`` or ``Number``; the same exceptions).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from adapter.fhirpath.env import Compiled, Env, Items, arraify
from adapter.fhirpath.upstream import PARAM_CHECKS, TypeInfo

Maker = Callable[[Env, Items], Any]
_CHECKS = PARAM_CHECKS


class Unsupported(Exception):
    """An expression (or a node of it) outside the compiled subset: evaluate it with fhirpathpy."""


class Const:
    """A literal (or a union of literals): the same values on every evaluation, folded once."""

    __slots__ = ("values",)

    def __init__(self, values: Items) -> None:
        self.values = values

    def __call__(self, env: Env, data: Items) -> Items:
        return list(self.values)


_IMMUTABLE = (str, int, float, bool, Decimal)


def expr_param(body: Compiled) -> Maker:
    """An ``Expr`` parameter: a callable ``f(item)`` evaluating ``body`` with ``$this = item``."""

    def make(env: Env, focus: Items) -> Callable[[Any], Items]:
        def run(item: Any) -> Items:
            this = env.this = arraify(item)
            return body(env, this)

        return run

    return make


def at_root_param(body: Compiled) -> Maker:
    """``AnyAtRoot``: evaluated on ``$this`` (set to the root when there is none yet)."""

    def make(env: Env, focus: Items) -> Items:
        this = env.this = env.this_or_root()
        return body(env, this)

    return make


def type_param(ast: dict[str, Any]) -> Maker:
    """``TypeSpecifier``: ``Quantity``, ``FHIR.Patient``, ``System.String``: known when compiling."""
    if not isinstance(ast.get("text"), str):
        raise Unsupported("type specifier without text")
    names = ast["text"].replace("`", "").split(".")
    if len(names) not in (1, 2):
        raise Unsupported(f"type specifier {ast.get('text')!r}")
    info = TypeInfo(name=names[-1], namespace=names[0] if len(names) == 2 else None)
    return lambda env, focus: info


def value_param(body: Compiled, kind: Any) -> Maker:
    """``Any``, ``Boolean``, ``String``, ``Integer``, ``Number`` (in a list: may be empty)."""
    if kind == "Any":
        def any_value(env: Env, focus: Items) -> Items:
            env.this = focus
            return body(env, focus)

        return any_value
    optional = isinstance(kind, list)
    name = kind[0] if optional else kind
    if name not in _CHECKS:
        raise Unsupported(f"parameter type {name}")
    check = _CHECKS[name]
    boolean = name == "Boolean"

    def checked(env: Env, focus: Items) -> Any:
        env.this = focus
        res = body(env, focus)
        if optional and not res:
            return []
        if len(res) > 1:
            raise Exception("Unexpected collection" + json.dumps(res) + "; expected singleton of type " + name)
        if boolean and len(res) == 1 and (res[0] is True or res[0] is False):
            return res[0]  # what fhirpathpy's check_boolean_param gives a bool: itself
        return [] if not res else check(res[0])

    if isinstance(body, Const):
        try:
            fixed = checked(Env([], {}), [])
        except Exception:  # noqa: BLE001 - it raises on every evaluation: the checks say how
            return checked
        if isinstance(fixed, _IMMUTABLE) or fixed == []:
            def constant(env: Env, focus: Items) -> Any:
                env.this = focus
                return fixed if fixed != [] else []  # a literal checked once, as it is each time

            return constant
    return checked


def boolean_operand(res: Items) -> Any:
    """What ``value_param(body, ["Boolean"])`` gives for a body's result ``res`` (same checks, same errors)."""
    if not res:
        return []
    if len(res) == 1 and (res[0] is True or res[0] is False):
        return res[0]
    if len(res) > 1:
        raise Exception("Unexpected collection" + json.dumps(res) + "; expected singleton of type Boolean")
    return _CHECKS["Boolean"](res[0])


def maker_for(kind: Any, ast: dict[str, Any], compile_node: Callable[[dict[str, Any]], Compiled]) -> Maker:
    """The maker for one parameter of fhirpathpy type ``kind``."""
    if kind == "Expr":
        return expr_param(compile_node(ast))
    if kind == "AnyAtRoot":
        return at_root_param(compile_node(ast))
    if kind == "TypeSpecifier":
        return type_param(ast)
    if kind == "Identifier":
        raise Unsupported("identifier parameter")
    return value_param(compile_node(ast), kind)
