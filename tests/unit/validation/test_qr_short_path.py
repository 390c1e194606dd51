"""The QuestionnaireResponse walk's short path against its general path.

``validate_response`` walks the items on a compiled Questionnaire (:func:`questionnaire_response.compiled`:
each item definition read once, enableWhen read once, a quick answer test from
:mod:`adapter.validation.answer_plan` in front of ``check_answer``); ``general=True`` walks them as
before (:class:`questionnaire_response._Walker`). Both must give the same issues, in the same order,
with the same texts (or fail the same way) on every response of the examples, the validation cases
and the conformance corpus, on systematic mutations of each (other value types, values taken from
the Questionnaire's options and bounds, answers and items deleted, doubled, moved, renamed, nested)
and on hypothesis-made ones. A quick answer test that passes an answer must mean ``check_answer``
finds nothing. Negative controls show that the comparison notices a wrong short path.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhir.parse import parse_json
from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation import answer_plan, answers, enable_when, questionnaire_response
from adapter.validation.answers import Ctx, check_answer
from adapter.validation.questionnaire import as_list
from adapter.validation.questionnaire_response import validate_response
from tests.unit.validation.test_passes_shortcuts import CASES, _registry

Node = dict[str, Any]


def _responses(node: Any) -> Iterator[Node]:
    """Every QuestionnaireResponse in a document (itself, Bundle entries, contained resources)."""
    if isinstance(node, dict):
        if node.get("resourceType") == "QuestionnaireResponse":
            yield node
        for value in node.values():
            yield from _responses(value)
    elif isinstance(node, list):
        for value in node:
            yield from _responses(value)


def _sources() -> list[tuple[str, Node, Registry]]:
    out = []
    for name, raw, igs in CASES:
        try:
            doc = parse_json(raw)
        except Exception:  # noqa: BLE001 - a case that is not JSON has no response to walk
            continue
        for n, qr in enumerate(_responses(doc)):
            out.append((f"{name}#{n}", qr, _registry(igs)))
    return out


SOURCES = _sources()


def _outcome(qr: Node, registry: Registry, general: bool) -> Any:
    issues = Issues()
    try:
        validate_response(qr, registry, issues, general=general)
    except Exception as exc:  # noqa: BLE001 - both paths must fail alike, too
        return ("raised", type(exc).__name__, issues.items)
    return issues.items


def _differs(qr: Node, registry: Registry) -> bool:
    return _outcome(qr, registry, True) != _outcome(qr, registry, False)


@pytest.fixture(autouse=True)
def _fresh_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plans and compiled Questionnaires made afresh in each test (those made under a monkeypatch die with it)."""
    monkeypatch.setattr(answers, "_MEMO", {})


def test_the_corpus_has_responses_of_every_kind() -> None:
    names = {name.split("/")[0] for name, _qr, _reg in SOURCES}
    assert len(SOURCES) >= 80 and "hl7-questionnaire" in names, names


@pytest.mark.parametrize("name,qr,registry", SOURCES, ids=[s[0] for s in SOURCES])
def test_every_response_walks_as_the_general_path(name: str, qr: Node, registry: Registry) -> None:
    general = _outcome(qr, registry, True)
    assert _outcome(qr, registry, False) == general
    assert _outcome(qr, registry, False) == general  # and again from the remembered plan


# -- systematic mutations ---------------------------------------------------------------------

_VALUES: list[tuple[str, Any]] = [
    ("valueBoolean", True), ("valueBoolean", "true"), ("valueInteger", 5), ("valueInteger", -3), ("valueInteger", 0),
    ("valueInteger", 2**40), ("valueInteger", 1.5), ("valueInteger", True), ("valueDecimal", 1.25),
    ("valueDecimal", 7), ("valueDecimal", 10**30), ("valueDecimal", 0.001), ("valueDecimal", False),
    ("valueDate", "2020-01-01"), ("valueDate", "2020-13-01"), ("valueDate", "1900"), ("valueDate", "2099-12"),
    ("valueDateTime", "2020-01-01T10:00:00+01:00"), ("valueDateTime", "2020-01-01T10:00"), ("valueDateTime", "2020"),
    ("valueTime", "10:00:00"), ("valueTime", "25:00:00"), ("valueTime", "23:59:59"), ("valueString", "x"),
    ("valueString", " "), ("valueString", "a\nb"), ("valueString", "Ja"), ("valueString", "x" * 300),
    ("valueString", ""), ("valueString", 5), ("valueUri", "http://x"), ("valueUri", "urn:uuid:1"), ("valueUri", "a b"),
    ("valueUri", "urn:oid:1.2.3"), ("valueCoding", {"system": "http://x", "code": "y"}),
    ("valueCoding", {"display": "free"}), ("valueCoding", "code"), ("valueCoding", {"code": "y"}),
    ("valueQuantity", {"value": 5, "unit": "kg"}), ("valueQuantity", {"value": 500, "system": "http://unitsofmeasure.org",
                                                                     "code": "mg"}),
    ("valueQuantity", {"unit": "kg"}), ("valueReference", {"reference": "Patient/1"}),
    ("valueReference", {"reference": "#x"}), ("valueReference", {"display": "x"}),
    ("valueAttachment", {"contentType": "text/plain", "data": "aGVsbG8="}), ("valueAttachment", {"title": "x"}),
    ("valueFoo", {}),
]


def _from_definition(qitem: Node) -> list[tuple[str, Any]]:
    """Values an answer to ``qitem`` can take that its own definition suggests: its options (and
    near misses of them), its initial values, and values at, below and above its bounds."""
    out: list[tuple[str, Any]] = []
    for opt in as_list(qitem.get("answerOption")) + as_list(qitem.get("initial")):
        for key, value in (opt.items() if isinstance(opt, dict) else ()):
            if key.startswith("value"):
                out.append((key, value))
                if isinstance(value, dict):
                    out.append((key, {**value, "display": "Another display"}))
                    out.append((key, {k: v for k, v in value.items() if k != "system"}))
                elif isinstance(value, str):
                    out.append((key, value.upper() + "x"))
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    out.append((key, value + 1))
    for ext in as_list(qitem.get("extension")):
        for key, value in (ext.items() if isinstance(ext, dict) else ()):
            if key.startswith("value") and isinstance(value, (int, float, str)) and not isinstance(value, bool):
                for answer_key in ("valueInteger", "valueDecimal", "valueDate", "valueDateTime", "valueTime",
                                   "valueString"):
                    out.append((answer_key, value))
                if isinstance(value, (int, float)):
                    out += [("valueInteger", value - 1), ("valueDecimal", value + 0.5), ("valueInteger", value + 1)]
            if key == "valueQuantity" and isinstance(value, dict):
                out.append(("valueQuantity", value))
                if isinstance(value.get("value"), (int, float)):
                    out.append(("valueQuantity", {**value, "value": value["value"] * 2}))
            if key == "valueCoding" and isinstance(value, dict):
                out.append(("valueQuantity", {"value": 1, "system": value.get("system"), "code": value.get("code"),
                                              "unit": value.get("display")}))
    return out


def _answers(node: Node) -> Iterator[Node]:
    for item in as_list(node.get("item")):
        if isinstance(item, dict):
            for answer in as_list(item.get("answer")):
                if isinstance(answer, dict):
                    yield answer
                    yield from _answers(answer)
            yield from _answers(item)


def _containers(node: Node) -> Iterator[Node]:
    """The response and every item and answer in it (the nodes that hold items)."""
    yield node
    for item in as_list(node.get("item")):
        if isinstance(item, dict):
            yield from _containers(item)
            for answer in as_list(item.get("answer")):
                if isinstance(answer, dict):
                    yield from _containers(answer)


def _set_value(answer: Node, key: str, value: Any) -> None:
    for k in [k for k in answer if k.startswith("value")]:
        del answer[k]
    answer[key] = value


def _questionnaire_items(qr: Node, registry: Registry) -> dict[str, Node]:
    q = questionnaire_response.resolve_questionnaire(qr, registry, Issues(), path="QuestionnaireResponse")
    return questionnaire_response.index_for(q).items if q is not None else {}


def _mutations(qr: Node, registry: Registry, rng: random.Random, limit: int) -> Iterator[Node]:
    """Mutated copies of ``qr``: values, answers and items changed one at a time (a sample of at most ``limit``)."""
    qitems = _questionnaire_items(qr, registry)
    made: list[tuple[str, Any]] = []
    n_answers = sum(1 for _ in _answers(qr))
    n_nodes = sum(1 for _ in _containers(qr))
    links = [*qitems, "no-such-link", ""]
    for i in range(n_answers):
        made += [("value", (i, k, v)) for k, v in _VALUES]
        made += [("answer", (i, op)) for op in ("delete", "double", "nest", "empty")]
    for qitem in qitems.values():
        made += [("value-of", (str(qitem.get("linkId")), k, v)) for k, v in _from_definition(qitem)]
    for i in range(n_nodes):
        made += [("node", (i, op)) for op in ("delete-first", "double-first", "reverse", "rename", "text", "answer-on",
                                              "drop-answers", "hoist")]
        made += [("relink", (i, rng.choice(links)))]
    made += [("status", s) for s in ("draft", "in-progress", "completed", "amended", None)]
    made += [("authored", a) for a in ("1990-01-01", "2099-01-01T10:00:00Z", "nonsense", 5)]
    rng.shuffle(made)
    for kind, arg in made[:limit]:
        doc = copy.deepcopy(qr)
        if kind == "value":
            i, k, v = arg
            _set_value(list(_answers(doc))[i], k, copy.deepcopy(v))
        elif kind == "value-of":
            link, k, v = arg
            targets = [item for node in _containers(doc) for item in as_list(node.get("item"))
                       if isinstance(item, dict) and item.get("linkId") == link]
            if targets:
                target = rng.choice(targets)
                answers = as_list(target.get("answer"))
                if answers and isinstance(answers[0], dict):
                    _set_value(answers[0], k, copy.deepcopy(v))
                else:
                    target["answer"] = [{k: copy.deepcopy(v)}]
        elif kind == "answer":
            i, op = arg
            answer = list(_answers(doc))[i]
            holder = next(item for node in _containers(doc) for item in as_list(node.get("item"))
                          if isinstance(item, dict) and any(a is answer for a in as_list(item.get("answer"))))
            if op == "delete":
                holder["answer"] = [a for a in holder["answer"] if a is not answer]
            elif op == "double":
                holder["answer"].append(copy.deepcopy(answer))
            elif op == "nest":
                answer["item"] = [copy.deepcopy(holder)]
            else:
                answer.clear()
        elif kind in ("node", "relink"):
            i, op = arg
            node = list(_containers(doc))[i]
            items = [it for it in as_list(node.get("item")) if isinstance(it, dict)]
            if kind == "relink":
                if items:
                    rng.choice(items)["linkId"] = op
            elif op == "delete-first" and items:
                node["item"].remove(items[0])
            elif op == "double-first" and items:
                node["item"].append(copy.deepcopy(items[0]))
            elif op == "reverse" and items:
                node["item"].reverse()
            elif op == "rename" and "linkId" in node:
                node["linkId"] = str(node["linkId"]) + "x"
            elif op == "text" and "linkId" in node:
                node["text"] = "Not the question's text"
            elif op == "answer-on" and "linkId" in node:
                node.setdefault("answer", []).append({"valueString": "extra"})
            elif op == "drop-answers":
                node.pop("answer", None)
            elif op == "hoist" and items:
                doc.setdefault("item", []).append(copy.deepcopy(items[-1]))
        elif kind == "status":
            if arg is None:
                doc.pop("status", None)
            else:
                doc["status"] = arg
        else:
            doc["authored"] = arg
        yield doc


@pytest.mark.parametrize("name,qr,registry", SOURCES, ids=[s[0] for s in SOURCES])
def test_mutated_responses_walk_as_the_general_path(name: str, qr: Node, registry: Registry) -> None:
    rng = random.Random(name)
    compared = 0
    for doc in _mutations(qr, registry, rng, limit=150 if "lisn" in name else 60):
        general = _outcome(doc, registry, True)
        assert _outcome(doc, registry, False) == general, (name, doc)
        compared += 1
    assert compared >= 10


def test_a_passed_answer_is_one_check_answer_finds_nothing_in() -> None:
    """The quick test itself, on every answer of every response and its mutations (also under items
    not enabled): where it passes an answer, check_answer adds no issue."""
    seen = passed = 0
    for name, qr, registry in SOURCES:
        q = questionnaire_response.resolve_questionnaire(qr, registry, Issues(), path="QuestionnaireResponse")
        if q is None:
            continue
        qitems = questionnaire_response.index_for(q).items
        for doc in [qr, *_mutations(qr, registry, random.Random(name), limit=40)]:
            for node in _containers(doc):
                link = node.get("linkId")
                qitem = qitems.get(link) if isinstance(link, str) else None
                if qitem is None or qitem.get("type") in ("group", "display"):
                    continue
                answers = [a for a in as_list(node.get("answer")) if isinstance(a, dict)]
                test = answer_plan.answer_test(qitem)
                for answer in answers:
                    ctx = Ctx(Issues(), registry, q)
                    seen += 1
                    if test(ctx, answer, len(answers)):
                        passed += 1
                        check_answer(ctx, qitem, answer, "QuestionnaireResponse.item[0].answer[0]", len(answers))
                        assert ctx.issues.items == [], (name, qitem.get("linkId"), answer)
    assert passed >= 1000 and seen - passed >= 1000, (seen, passed)  # both ways well exercised


def test_the_short_path_passes_the_answers_of_the_valid_examples() -> None:
    """The point of the quick test: a valid response is checked without check_answer."""
    checked = 0
    for name, qr, registry in SOURCES:
        if name.startswith(("Bundle-lisn-example-submission", "QuestionnaireResponse-lisn")):
            compiled = questionnaire_response.compiled(
                questionnaire_response.resolve_questionnaire(qr, registry, Issues(), path="QR") or {})
            for node in _containers(qr):
                d = compiled.by_link.get(node.get("linkId"))  # type: ignore[arg-type]
                for answer in as_list(node.get("answer")):
                    assert d is not None and d.clean is not None
                    assert d.clean(Ctx(Issues(), registry, compiled.questionnaire), answer, 1), (name, answer)
                    checked += 1
    assert checked >= 20


# -- hypothesis: mutated documents, mutated Questionnaires -------------------------------------

_PRIMITIVES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                        st.text(max_size=12), st.sampled_from(["", "2020-01-01", "10:00:00", "urn:uuid:x", "Ja", "1"]))


def _all_containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, (dict, list)):
        out.append(node)
        for child in (node.values() if isinstance(node, dict) else node):
            _all_containers(child, out)
    return out


@st.composite
def _mutated(draw: st.DrawFn, originals: list[tuple[str, Node, Any]]) -> tuple[Node, Any]:
    """A copy of one of ``originals`` (name, document, what goes with it) changed in 1 to 5 places."""
    _name, original, registry = draw(st.sampled_from(originals))
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 5))):
        nodes = _all_containers(doc, [])
        target = nodes[draw(st.integers(0, len(nodes) - 1))]
        keys = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            continue
        key = keys[draw(st.integers(0, len(keys) - 1))]
        if key == "questionnaire":
            continue
        op = draw(st.sampled_from(["delete", "duplicate", "retype", "replace", "shuffle"]))
        if op == "delete":
            del target[key]
        elif op == "duplicate" and isinstance(target, list):
            target.insert(key, copy.deepcopy(target[key]))
        elif op == "retype":
            target[key] = draw(st.sampled_from([[target[key]], {"x": target[key]}, str(target[key])[:20], 7, True, None]))
        elif op == "shuffle" and isinstance(target, list):
            target[:] = draw(st.permutations(target))
        else:
            target[key] = draw(_PRIMITIVES)
    return doc, registry


_WITH_ITEMS = [s for s in SOURCES if as_list(s[1].get("item"))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(_WITH_ITEMS))
def test_hypothesis_mutated_responses_walk_as_the_general_path(case: tuple[Node, Registry]) -> None:
    doc, registry = case
    assert _outcome(doc, registry, False) == _outcome(doc, registry, True)


def _with_questionnaire() -> list[tuple[str, Node, Node]]:
    """(name, Questionnaire, response) of the sources whose Questionnaire resolves."""
    out = []
    for name, qr, registry in SOURCES:
        q = questionnaire_response.resolve_questionnaire(qr, registry, Issues(), path="QuestionnaireResponse")
        if q is not None and not str(qr.get("questionnaire", "")).startswith("#"):
            out.append((name, q, qr))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(_with_questionnaire()))
def test_responses_to_mutated_questionnaires_walk_as_the_general_path(case: tuple[Node, Node]) -> None:
    """The definition side: a broken or changed template compiles to the same walk."""
    q, original = case
    if not all(isinstance(q.get(k), (str, type(None))) for k in ("url", "version", "id")):
        return
    q["resourceType"] = "Questionnaire"
    qr = copy.deepcopy(original)
    qr["questionnaire"], qr["contained"] = "#the-q", [{**q, "id": "the-q"}]
    registry = Registry()
    assert _outcome(qr, registry, False) == _outcome(qr, registry, True)


# -- enableWhen: the answers found below a focus ------------------------------------------------

def _find_former(focus: Node, question: str, found: list[Node]) -> None:
    """enable_when._find as it was before it skipped leaves (the reference)."""
    for item in as_list(focus.get("item")):
        if not isinstance(item, dict):
            continue
        if item.get("linkId") == question:
            found.extend(a for a in as_list(item.get("answer")) if isinstance(a, dict))
        _find_former(item, question, found)
    for answer in as_list(focus.get("answer")):
        if isinstance(answer, dict):
            _find_former(answer, question, found)


def _search_differs(doc: Node) -> bool:
    """Whether enable_when._find and the former search differ for any focus and question in ``doc``."""
    focuses = [n for n in _all_containers(doc, []) if isinstance(n, dict)]
    for question in sorted({str(n.get("linkId")) for n in focuses} | {"no-such-link"}):
        for focus in focuses:
            found: list[Node] = []
            former: list[Node] = []
            enable_when._find(focus, question, found)
            _find_former(focus, question, former)
            if [id(a) for a in found] != [id(a) for a in former]:
                return True
    return False


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(_WITH_ITEMS))
def test_answers_below_a_focus_are_those_of_the_former_search(case: tuple[Node, Registry]) -> None:
    assert not _search_differs(case[0])


# -- negative controls ----------------------------------------------------------------------------

def _any_difference(limit: int = 60) -> bool:
    for name, qr, registry in SOURCES:
        if _differs(qr, registry):
            return True
        for doc in _mutations(qr, registry, random.Random(name), limit=limit):
            if _differs(doc, registry):
                return True
    return False


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_negative_control_a_quick_test_passing_everything_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _any_difference(limit=20)
    monkeypatch.setattr(questionnaire_response, "answer_test", lambda qitem: lambda ctx, answer, count: True)
    monkeypatch.setattr(answers, "_MEMO", {})
    assert _any_difference()


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_negative_control_a_lenient_number_test_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that says "don't know" costs time only (check_answer still decides); one that passes
    numbers outside their bounds or options (here: every number) is caught."""
    monkeypatch.setattr(answer_plan, "_number_test", lambda qitem, vtype: (lambda ctx, value, count: True))
    monkeypatch.setattr(answers, "_MEMO", {})
    assert _any_difference()


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_negative_control_a_wrong_enable_when_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enable_when.Enabler, "enabled", lambda self, root, stack, problems: True)
    assert _any_difference()


def test_negative_control_a_wrong_search_below_a_focus_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not any(_search_differs(qr) for _name, qr, _reg in SOURCES[:20])

    def first_level_only(focus: Node, question: str, found: list[Node]) -> None:
        for item in as_list(focus.get("item")):
            if isinstance(item, dict) and item.get("linkId") == question:
                found.extend(a for a in as_list(item.get("answer")) if isinstance(a, dict))

    monkeypatch.setattr(enable_when, "_find", first_level_only)
    assert any(_search_differs(qr) for _name, qr, _reg in SOURCES)


def test_an_enable_when_at_the_end_of_the_calendar_gives_the_same_outcome_on_both_paths() -> None:
    """An enableWhen on an item with no answer is still evaluated on the short path; one comparing
    with an instant that a zone offset carries into year 0 (answers.date_key once raised
    OverflowError there, on both paths) is evaluated alike and raises on neither."""
    q = {"resourceType": "Questionnaire", "url": "http://example.org/q", "status": "active", "item": [
        {"linkId": "a", "type": "dateTime"},
        {"linkId": "b", "type": "string", "required": True,
         "enableWhen": [{"question": "a", "operator": ">", "answerDateTime": "0001-01-01T00:00:00+01:00"}]}]}
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": "http://example.org/q", "status": "completed",
          "item": [{"linkId": "a", "answer": [{"valueDateTime": "2020-01-01T00:00:00Z"}]}]}
    registry = Registry([q])
    general = _outcome(qr, registry, True)
    # no "raised"; b is enabled (2020 is after 0000-12-31T23:00Z) and required: missing
    assert [i["details"]["coding"][0]["code"] for i in general] == ["QUESTIONNAIRE_QR_ITEM_MISSING"]
    assert _outcome(qr, registry, False) == general
