"""``constraints.run_constraints`` following the quick plans itself gives the outcomes it gives
through ``invariants.evaluate``.

With ``constraints.QUICK`` on, a core constraint with a quick plan (``invariants._QUICK``) is
evaluated on a JSON object by ``invariants._quickly`` directly (``evaluate``'s first step for it), and
a result of one ``true`` is passed over at once; off, every constraint goes through ``evaluate`` and
``as_boolean``. Both must give the same OperationOutcome on the examples, the validation test cases
and both HL7 corpora (JSON ones). (``test_invariant_quick.py`` holds each quick evaluation to the
general steps.) Negative control: a quick path that passes every constraint is caught.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_invariant_quick import EXAMPLE, _inputs, _registry

from adapter.validation import constraints, invariants, validate


def _outcome(resource: Any, igs: tuple[str, ...] | None, quick: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(constraints, "QUICK", quick)
        invariants.forget_compiled()
        first = validate(resource, _registry(igs))
        second = validate(resource, _registry(igs))  # (the quick plans made by the first)
    invariants.forget_compiled()
    return [json.dumps(o, sort_keys=True, default=str) if isinstance(o, dict) else repr(o) for o in (first, second)]


@pytest.mark.parametrize(("path", "igs"), list(_inputs()))
def test_quick_constraints_give_the_same_outcome(path: Path, igs: tuple[str, ...] | None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        resource = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        pytest.skip("not JSON")
    if not isinstance(resource, dict):
        pytest.skip("not a JSON object")
    assert _outcome(resource, igs, True, monkeypatch) == _outcome(resource, igs, False, monkeypatch)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_quick_path_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: every constraint with a quick plan passed (its result taken as ``[True]``)."""
    resource = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    resource["entry"].append({"fullUrl": "urn:uuid:00000000-0000-0000-0000-000000000000"})  # (bdl-5 fails)
    right = _outcome(resource, None, True, monkeypatch)
    assert right == _outcome(resource, None, False, monkeypatch)

    class Passing:
        def __getattr__(self, name: str) -> Any:
            return getattr(invariants, name)

        @staticmethod
        def _quickly(*args: Any) -> list[Any]:
            return [True]

    monkeypatch.setattr(constraints, "invariants", Passing())
    assert _outcome(resource, None, True, monkeypatch) != right
