"""Value functions (tests/unit/inbound/data/functions.yaml) over nested JSON, openEHR FLAT and XML alike.

Each case runs three times, on the same document written in each syntax: the function set is the
same everywhere, and every field a function reads counts as mapped (nothing is left unread).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree

from adapter.inbound import expressions
from adapter.inbound.functions import Evaluator, FunctionError
from adapter.inbound.sources import FlatSource, JsonSource, Source, XmlSource

CASES = yaml.safe_load((Path(__file__).parent / "data" / "functions.yaml").read_text(encoding="utf-8"))
SYNTAXES = ("json", "flat", "xml")


def _source(syntax: str, doc: dict[str, Any]) -> Source:
    if syntax == "json":
        return JsonSource(doc)
    if syntax == "flat":
        flat: dict[str, Any] = {}
        for key, value in doc.items():
            if not isinstance(value, list):
                flat[f"doc/{key}"] = value
                continue
            for i, v in enumerate(value):
                if isinstance(v, dict):
                    flat.update({f"doc/{key}:{i}/{k}": x for k, x in v.items()})
                else:
                    flat[f"doc/{key}:{i}"] = v
        return FlatSource(flat)
    root = etree.Element("doc")
    for key, value in doc.items():
        for v in value if isinstance(value, list) else [value]:
            el = etree.SubElement(root, key)
            if isinstance(v, dict):
                for k, x in v.items():
                    etree.SubElement(el, k).text = str(x)
            else:
                el.text = str(v)
    return XmlSource(root, {})


def _selector(syntax: str, name: str) -> str:
    return {"json": name, "flat": f"doc/{name}" if name == "a" else f"doc/{name}:{{i}}", "xml": name}[syntax]


def _written(value: Any, syntax: str) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return _selector(syntax, value[1:])
    if isinstance(value, dict):
        return {k: _written(v, syntax) for k, v in value.items()}
    if isinstance(value, list):
        return [_written(v, syntax) for v in value]
    return value


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_function(case: dict[str, Any], syntax: str) -> None:
    source = _source(syntax, case["doc"])
    expr = expressions.parse(_written(case["expr"], syntax))
    ev = Evaluator(source, {}, frozenset(), "Europe/Stockholm", lambda table, code: None)
    if "error" in case:
        with pytest.raises(FunctionError, match=case["error"]):
            ev.items(expr, source.root)
        return
    got = [i.value for i in ev.items(expr, source.root)]
    assert [str(v) for v in got] == [str(v) for v in case["want"]]
    assert source.unread([]) == [], "what a function reads counts as mapped"


@pytest.mark.parametrize(("raw", "reason"), [
    ({"date": "a", "format": 7}, "must be a text"),
    ({"substring": "a"}, "needs the option"),
    ({"substring": "a", "start": -1}, "whole number"),
    ({"truncate": "a", "to": "week"}, "must be one of"),
    ({"replace": "a", "pattern": "(a"}, "not a valid RE2"),
    ({"replace": "a", "pattern": "(?=a)"}, "not a valid RE2"),      # lookahead: RE2 refuses backtracking features
    ({"replace": "a", "pattern": "a" * 600}, "longer than"),
    ({"eval": "a"}, "exactly one function"),
    ({"date": "a", "upper": "b"}, "exactly one function"),
    ({"concat": "a"}, "a list of expressions"),
    ({"const": [1]}, "a scalar"),
    (7, "a selector or a mapping"),
])
def test_malformed_expressions_say_why(raw: Any, reason: str) -> None:
    with pytest.raises(expressions.ExpressionError, match=reason):
        expressions.parse(raw)


def test_replace_is_linear_in_the_text() -> None:
    # (a+)+$ over "aaaa…b" takes exponential time in a backtracking engine; RE2 does not backtrack.
    source = JsonSource({"a": "a" * 5000 + "b"})
    expr = expressions.parse({"replace": "a", "pattern": "(a+)+$", "with": "x"})
    ev = Evaluator(source, {}, frozenset(), "Europe/Stockholm", lambda table, code: None)
    start = time.perf_counter()
    assert ev.items(expr, source.root)[0].value == "a" * 5000 + "b"
    assert time.perf_counter() - start < 1.0
