"""The oracle tests can fail: with a deliberately wrong semantics compiled in, they do.

Each fault below breaks one rule in the compiler only (fhirpathpy is untouched); the oracle test
of ``test_oracle.py`` is then run on the example submission and must report disagreements.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fhirpath_oracle
import pytest
import test_oracle
from fhirpath_oracle import ROOT

from adapter.fhirpath import codegen, direct, functions, navigation, operators

EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _case_blind_equality(m: pytest.MonkeyPatch) -> None:
    real = operators._simple_pair

    def pair(a: Any, b: Any) -> Any:
        found = real(a, b)
        return found if found is None or type(found[0]) is not str else (found[0].lower(), found[1].lower())

    m.setattr(operators, "_simple_pair", pair)


def _empty_is_false(m: pytest.MonkeyPatch) -> None:
    m.setattr(operators, "_equal", lambda left, right, negate: lambda env, data: [
        (left(env, data) == right(env, data)) is not negate])


def _where_keeps_all(m: pytest.MonkeyPatch) -> None:
    m.setattr(functions, "_where", lambda crit, *specialised: lambda env, data: list(data))


def _where_equals_ignores_extensions(m: pytest.MonkeyPatch) -> None:
    real = navigation.Member.plain_string
    m.setattr(navigation.Member, "plain_string",
              lambda self, res: real(self, res) or (res.data.get(self.key) if isinstance(res.data, dict) else None))


def _ordering_inclusive(m: pytest.MonkeyPatch) -> None:
    m.setitem(operators._ORDER, ">", lambda x, y: x >= y)


def _with_linkid_extensions(tmp_path: Path) -> Path:
    """The example with a ``_linkId`` (primitive extension) beside every ``linkId``."""
    def mark(node: Any) -> None:
        if isinstance(node, dict):
            if "linkId" in node:
                node["_linkId"] = {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]}
            for value in node.values():
                mark(value)
        elif isinstance(node, list):
            for value in node:
                mark(value)

    document = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    mark(document)
    out = tmp_path / "examples" / "with-linkid-extensions.json"
    out.parent.mkdir()
    out.write_text(json.dumps(document), encoding="utf-8")
    return out


@pytest.mark.slow  # negative controls: each runs the oracle over the inputs until it catches the fault
@pytest.mark.parametrize("fault", [_case_blind_equality, _empty_is_false, _where_keeps_all, _ordering_inclusive,
                                   _where_equals_ignores_extensions])
def test_a_wrong_semantics_is_caught(fault: Callable[[pytest.MonkeyPatch], None], tmp_path: Path) -> None:
    document = _with_linkid_extensions(tmp_path) if fault is _where_equals_ignores_extensions else EXAMPLE
    with pytest.MonkeyPatch.context() as m:
        fault(m)
        fhirpath_oracle.ours.cache_clear()  # compile afresh, with the fault
        try:
            with pytest.raises(AssertionError, match="disagreements"):
                test_oracle.test_compiled_equals_fhirpathpy(document)
        finally:
            fhirpath_oracle.ours.cache_clear()


# -- the direct form (adapter.fhirpath.direct): a wrong direct evaluator is caught too ------------

def _direct_keeps_all(m: pytest.MonkeyPatch) -> None:
    m.setattr(direct, "_truthy", lambda result: True)


def _direct_all_always(m: pytest.MonkeyPatch) -> None:
    m.setattr(direct, "_all_true", lambda result: True)


def _direct_ignores_primitive_extensions(m: pytest.MonkeyPatch) -> None:
    real = direct._Step.__init__

    def init(self: Any, key: str) -> None:
        real(self, key)
        self.ext_key = "\0"  # never a key: ``_linkId`` left out

    m.setattr(direct._Step, "__init__", init)


def _direct_equality_case_blind(m: pytest.MonkeyPatch) -> None:
    real = direct._plain
    m.setattr(direct, "_plain", lambda pair: v.lower() if isinstance(v := real(pair), str) else v)


def _direct_where_equals_ignores_extensions(m: pytest.MonkeyPatch) -> None:
    def where_equals(key: str, literal: str, crit: Any) -> Any:
        return lambda items, v: [i for i in items if type(i) is tuple and type(i[0]) is dict and i[0].get(key) == literal]

    m.setattr(direct, "_where_equals", where_equals)


def _direct_order_inclusive(m: pytest.MonkeyPatch) -> None:
    m.setitem(direct._ORDER, "<=", lambda x, y: x < y)


_EXTENSIONS = (_direct_ignores_primitive_extensions, _direct_where_equals_ignores_extensions)


@pytest.mark.slow  # negative controls for the direct form: the oracle must see each fault
@pytest.mark.parametrize("fault", [_direct_keeps_all, _direct_all_always, _direct_equality_case_blind,
                                   _direct_order_inclusive, *_EXTENSIONS])
def test_a_wrong_direct_form_is_caught(fault: Callable[[pytest.MonkeyPatch], None], tmp_path: Path) -> None:
    document = _with_linkid_extensions(tmp_path) if fault in _EXTENSIONS else EXAMPLE
    with pytest.MonkeyPatch.context() as m:
        fault(m)
        m.setattr(codegen, "ENABLED", False)  # the closures under test (codegen's own faults: test_codegen.py)
        fhirpath_oracle.ours.cache_clear()  # compile afresh, with the fault
        try:
            with pytest.raises(AssertionError, match="direct form"):
                test_oracle.test_compiled_equals_fhirpathpy(document)
        finally:
            fhirpath_oracle.ours.cache_clear()
