"""Loop-invariant hoisting (adapter.fhirpath.hoist): what is hoisted, that it runs once, that it
changes no result; and that the oracle catches a hoisting that is wrong in any of four ways."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fhirpath_oracle import ROOT, disagreement, ours, resources
from test_oracle import SEMANTICS

from adapter import fhirpath
from adapter.fhirpath import compiler, hoist
from adapter.fhirpath.upstream import parse

EXAMPLE = json.loads((ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json").read_text(encoding="utf-8"))
HOISTING = [e for e in SEMANTICS if "%" in e and ("select(" in e or "where(" in e or "all(" in e or "aggregate(" in e)]


def _compiled(expression: str, m: pytest.MonkeyPatch) -> tuple[fhirpath.Expression, list[hoist.Hoisted]]:
    """``expression`` compiled afresh, with the hoisted nodes made for it."""
    made: list[hoist.Hoisted] = []

    class Recorded(hoist.Hoisted):
        __slots__ = ()

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    m.setattr(compiler, "Hoisted", Recorded)
    expr = fhirpath.compile(expression)
    assert expr.compiled is not None  # (the closures: made here, at first use, where a direct form serves)
    return expr, made


def _source(ast: dict[str, Any]) -> str:
    """The text of a syntax-tree node as fhirpathpy's parser keeps it (without spaces)."""
    if ast.get("text"):
        return str(ast["text"])
    parts = [_source(c) for c in ast.get("children") or []]
    ops = ast.get("terminalNodeText") or []
    return parts[0] + ops[0] + parts[1] if len(parts) == 2 and len(ops) == 1 else "".join(parts)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize(("expression", "hoisted"), [
    ("entry.where(fullUrl = %resource.entry.resource.ofType(MessageHeader).destination.receiver.reference.first())",
     ["%resource.entry.resource.ofType(MessageHeader).destination.receiver.reference.first()"]),
    ("entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction'))",
     ["(%resource.type='batch'or%resource.type='transaction')"]),
    # $this in the inner where() is the inner item: the whole is the same for every entry
    ("entry.select(%resource.entry.where(fullUrl = $this.fullUrl).fullUrl)", ["%resource.entry.where(fullUrl=$this.fullUrl).fullUrl"]),
    ("entry.select(%resource.id | %context.id)", ["%resource.id|%context.id"]),
    ("entry.select(%resource.id | $this.fullUrl)", ["%resource.id"]),
    # startsWith's parameter is evaluated on $this, the entry: only the input is hoisted
    ("entry.select(%resource.entry.fullUrl.first().startsWith(fullUrl))", ["%resource.entry.fullUrl.first()"]),
    ("entry.select(%resource.entry.count() + $index)", ["%resource.entry.count()"]),
    ("entry.aggregate($total + %resource.entry.count(), 0)", ["%resource.entry.count()"]),
    ("entry.select(iif(%resource.type = 'message', fullUrl, {}))", ["%resource.type='message'"]),
    # within the hoisted subexpression, what its own where() repeats is hoisted again
    ("entry.select(%resource.entry.where(%resource.id.exists()).count())",
     ["%resource.id.exists()", "%resource.entry.where(%resource.id.exists()).count()"]),
    ("%resource.entry.fullUrl.first() = 'x'", []),  # within no criterion: evaluated once anyway
    # used twice in the expression: one result for both (but a single step on a variable)
    ("%resource.entry.fullUrl.first().exists() and %resource.entry.fullUrl.first() = 'x' and %resource.id = %resource.id",
     ["%resource.entry.fullUrl.first()", "%resource.entry.fullUrl.first()"]),
    ("%resource.entry.exists() implies entry.all(fullUrl = %resource.entry.fullUrl.first())",
     ["%resource.entry.fullUrl.first()"]),
    ("entry.select('a' | 'b')", []),  # a constant: folded when compiled
    ("entry.select(%resource)", []),  # a variable alone: nothing to save
    ("entry.select($this.fullUrl | fullUrl)", []),
])
def test_what_reads_only_variables_within_a_criterion_is_hoisted(expression: str, hoisted: list[str]) -> None:
    sources: dict[int, str] = {}
    real = compiler.key_of

    def key_of(ast: dict[str, Any]) -> int:
        key = real(ast)
        sources[key] = _source(ast)
        return key

    with pytest.MonkeyPatch.context() as m:
        m.setattr(compiler, "key_of", key_of)
        made = _compiled(expression, m)[1]
    assert [sources[h.key] for h in made] == hoisted


@pytest.mark.parametrize("text", ["$this.fullUrl", "fullUrl", "%resource.entry.fullUrl.first().startsWith(fullUrl)",
                                  "%resource.entry.count() + $index", "$total + 1", "%resource.iif($index > 0, 1, 2)",
                                  "%resource.entry.repeat($index)", "exists()", "%resource.where($total = 1)"])
def test_reads_of_the_item_and_the_dollar_variables_are_seen(text: str) -> None:
    assert hoist.free_variables(parse(text)["children"][0]) is None


@pytest.mark.parametrize(("text", "names"), [
    ("%resource.entry.where($this.fullUrl = $index.toString())", {"resource"}),
    ("%resource.entry.aggregate($total + $index, 0)", {"resource"}), ("%a.iif($this.exists(), %b, {})", {"a", "b"}),
    ("%resource.entry.fullUrl.startsWith(%ucum)", {"resource", "ucum"}), ("'a' + %b", {"b"}),
    ("(%resource is Bundle) and %resource.entry.resource.ofType(Patient).exists()", {"resource"}),
])
def test_variables_read_are_named(text: str, names: set[str]) -> None:
    assert hoist.free_variables(parse(text)["children"][0]) == names


def test_one_key_per_distinct_subtree() -> None:
    def key(text: str) -> int:
        return hoist.key_of(parse(text)["children"][0])

    assert key("%a.b or %c") == key("%a.b  or  %c")
    assert len({key("%a.b or %c"), key("%a.bor %c"), key("%a.b or %d"), key("%a.b and %c")}) == 4


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_hoisted_subexpression_is_evaluated_once_per_evaluation() -> None:
    text = "entry.where(fullUrl = %resource.entry.fullUrl.last()).count()"
    with pytest.MonkeyPatch.context() as m:
        expression, made = _compiled(text, m)
    runs: list[int] = []
    body = made[0].body
    made[0].body = lambda env, data: runs.append(1) or body(env, data)
    assert len(EXAMPLE["entry"]) > 2
    # (the node form's hoisting; the generated direct form's: test_codegen.py)
    assert expression.node_form(EXAMPLE, {"resource": EXAMPLE}) == [1]
    assert expression.node_form(EXAMPLE, {"resource": EXAMPLE}) == [1]
    assert len(runs) == 2  # once per evaluation, not once per entry, nor once ever


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_subexpression_used_twice_is_evaluated_once() -> None:
    text = "%resource.entry.fullUrl.last().exists() and entry.fullUrl contains %resource.entry.fullUrl.last()"
    with pytest.MonkeyPatch.context() as m:
        expression, made = _compiled(text, m)
    assert len(made) == 2 and made[0].key == made[1].key
    runs: list[int] = []
    for node in made:
        body = node.body
        node.body = lambda env, data, body=body: runs.append(1) or body(env, data)  # type: ignore[misc]
    assert expression(EXAMPLE, {"resource": EXAMPLE}) == [True]
    assert len(runs) == 1


def test_hoisting_changes_no_result_on_the_example() -> None:
    assert len(HOISTING) >= 12
    problems = [found for resource, variables in resources(EXAMPLE) for e in HOISTING for raw in (True, False)
                if (found := disagreement(e, resource, variables, raw))]
    assert not problems, problems[:3]


# -- the same check catches a wrong hoisting -----------------------------------------------------

def _reads_this_as_invariant(m: pytest.MonkeyPatch) -> None:
    real = hoist.free_variables

    def blind(ast: dict[str, Any], bound: frozenset[str] = frozenset()) -> set[str] | None:
        return real(ast, bound | {"this", "index"})  # $this and $index taken for the subexpression's own

    m.setattr(hoist, "free_variables", blind)


def _this_not_left_behind(m: pytest.MonkeyPatch) -> None:
    real = hoist.Hoisted.__call__

    def call(self: hoist.Hoisted, env: Any, data: Any) -> Any:
        this = env.this
        result = real(self, env, data)
        if self.key in (env.memo or {}):
            env.this = this  # as if the subexpression had set nothing
        return result

    m.setattr(hoist.Hoisted, "__call__", call)


def _nodes_not_copied(m: pytest.MonkeyPatch) -> None:
    m.setattr(hoist, "_copy", lambda item: item)


def _one_node_copied_twice(m: pytest.MonkeyPatch) -> None:
    real = hoist._fresh
    m.setattr(hoist, "_fresh", lambda value, copies: real(value, {}))  # the result's and $this's copies apart


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize("fault", [_reads_this_as_invariant, _this_not_left_behind, _nodes_not_copied,
                                   _one_node_copied_twice])
def test_a_wrong_hoisting_is_caught(fault: Callable[[pytest.MonkeyPatch], None]) -> None:
    with pytest.MonkeyPatch.context() as m:
        fault(m)
        ours.cache_clear()  # compile afresh, with the fault
        try:
            problems = [found for resource, variables in resources(EXAMPLE) for e in HOISTING
                        if (found := disagreement(e, resource, variables, True))]
        finally:
            ours.cache_clear()
    assert problems


def _subtrees(ast: dict[str, Any]) -> list[dict[str, Any]]:
    out = [ast]
    for child in ast.get("children") or []:
        if isinstance(child, dict):
            out.extend(_subtrees(child))
    return out


_BOUNDS = [frozenset(), frozenset({"data"}), frozenset({"data", "this"}), frozenset({"this"}),
           frozenset({"data", "this", "index"}), frozenset({"data", "this", "index", "total"})]
_CORE = json.loads((ROOT / "tests" / "unit" / "fhirpath" / "r4_core_invariants.json").read_text(encoding="utf-8"))


def _expressions() -> list[str]:
    core = [i["expression"] if isinstance(i, dict) else i for i in _CORE["invariants"]]
    return sorted({e for e in [*SEMANTICS, *core] if isinstance(e, str)})


def test_remembering_answers_every_subtree_as_asking_afresh() -> None:
    """``hoist.remembering`` (each subtree's analysis once per compile) gives what the analysis
    gives without it, for every subtree of every core invariant and semantics case, under every
    set of bound names, asked twice (the second answer is the remembered one)."""
    compared = 0
    for expression in _expressions():
        try:
            tree = parse(expression)
        except Exception:  # noqa: BLE001, S112 - the cases include expressions fhirpathpy refuses
            continue
        nodes = _subtrees(tree)
        fresh = [[hoist.free_variables(n, b) for b in _BOUNDS] for n in nodes]
        keys = [hoist.key_of(n) for n in nodes]
        hoistable = [hoist.hoistable(n) for n in nodes]
        with hoist.remembering():
            for _ in range(2):
                assert [[hoist.free_variables(n, b) for b in _BOUNDS] for n in nodes] == fresh, expression
                assert [hoist.key_of(n) for n in nodes] == keys, expression
                assert [hoist.hoistable(n) for n in nodes] == hoistable, expression
        compared += len(nodes)
    assert compared > 10_000


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_remembering_that_forgets_the_bound_names_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a memo keyed by the subtree alone (not by what is bound) answers wrongly."""
    table: dict[int, Any] = {}
    original = hoist._free_variables

    def careless(ast: dict[str, Any], bound: frozenset[str]) -> Any:
        if id(ast) not in table:
            table[id(ast)] = (ast, original(ast, bound))
        return table[id(ast)][1]

    tree = parse("where(%a = $this).exists()")
    right = [hoist.free_variables(n, b) for n in _subtrees(tree) for b in _BOUNDS]
    monkeypatch.setattr(hoist, "_free_variables", careless)
    with hoist.remembering():
        wrong = [hoist.free_variables(n, b) for n in _subtrees(tree) for b in _BOUNDS]
    assert wrong != right


def _bodies() -> list[dict[str, Any]]:
    bodies = []
    for expression in _expressions():
        try:
            bodies.append(compiler._children(parse(expression), 1)[0])
        except Exception:  # noqa: BLE001, S112 - the cases include expressions fhirpathpy refuses
            continue
    return bodies


def test_repeated_counts_are_counted_once_per_expression_as_afresh() -> None:
    """``compiler.repeated_counts`` (the compiler's and the direct form's count of repeated
    subexpressions, shared within ``hoist.remembering``) gives the count made afresh, for every
    core invariant and semantics case; asked again in the block it is the same object."""
    repeated = 0
    for body in _bodies():
        fresh = compiler._repeated(body, Counter(), compiler._repeated(body, Counter()))
        with hoist.remembering():
            first = compiler.repeated_counts(body)
            assert first == fresh
            assert compiler.repeated_counts(body) is first
        repeated += any(n > 1 for n in fresh.values())
    assert repeated > 5  # (expressions that do repeat a subexpression are among them)


def test_a_repeated_count_remembered_for_another_expression_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a memo that ignores which expression it is asked of answers wrongly."""
    bodies = _bodies()
    right = [compiler._repeated(b, Counter(), compiler._repeated(b, Counter())) for b in bodies]
    kept: list[Any] = []
    monkeypatch.setattr(compiler, "remembered", lambda key, ast, compute: kept[0] if kept else kept.append(compute()) or kept[0])
    with hoist.remembering():
        wrong = [compiler.repeated_counts(b) for b in bodies]
    assert wrong != right
