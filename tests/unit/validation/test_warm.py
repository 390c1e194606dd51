"""A server worker generates its FHIRPath code before its first request (``adapter.validation.warm``).

The checks run in fresh processes: in this one, other tests have long since generated the code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapter.validation import walkgen, warm

ROOT = Path(__file__).resolve().parents[3]

# What a process holds after its setup: the direct forms of the invariants validation met, and how
# many of them run generated code (adapter.fhirpath.codegen) rather than their counted closures.
_REPORT = """
import gc, json
from adapter import fhirpath
from adapter.validation import invariants
forms = {key: fn.direct for key, (_, fn) in list(invariants._PLANS.items())
         if isinstance(fn, fhirpath.Expression) and fn.direct is not None}
not_generated = [expression for (expression, _), f in forms.items()
                 if getattr(getattr(f.body, "__code__", None), "co_filename", "") != "<fhirpath>"]
print(json.dumps({"forms": len(forms), "generated": len(forms) - len(not_generated), "frozen": gc.get_freeze_count(),
                  "not_generated": not_generated}))
"""


def _state_after(setup: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", setup + _REPORT], capture_output=True, text=True, cwd=ROOT,
                         timeout=300, check=True).stdout
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


def test_the_shipped_worker_hook_generates_the_code_before_the_first_request() -> None:
    hook = f"import runpy\nrunpy.run_path({str(ROOT / 'deploy' / 'gunicorn.conf.py')!r})['post_worker_init'](None)\n"
    state = _state_after(hook)
    assert state["forms"] > 40, state
    # Every form the examples meet, but those the generated structure visits leave out once they are
    # made (walkgen.settle: the warm-up evaluates them only before, too few times to generate them,
    # and a worker's requests then reach them only where a shape's guard fails).
    assert all(walkgen._names(expression) is not None for expression in state["not_generated"]), state
    assert state["generated"] + len(state["not_generated"]) == state["forms"], state
    assert state["generated"] > 40, state
    assert state["frozen"] > 0, state  # and then frozen out of the garbage collector's walks


def test_without_the_warm_up_a_validation_leaves_the_code_ungenerated() -> None:
    """The failing side: one validation (a worker's first request) generates nothing yet."""
    once = ("from adapter.validation import validate_bytes\nfrom adapter.data import data_dir\n"
            "validate_bytes((data_dir('profiles') / 'examples' / 'Bundle-lisn-example-submission.json').read_bytes())\n")
    state = _state_after(once)
    assert state["forms"] > 40 and state["generated"] == 0, state


def test_warm_up_validates_each_example_the_given_number_of_times() -> None:
    assert warm.warm_up(rounds=2) == 2 * len(warm.EXAMPLES)


def test_a_missing_example_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "EXAMPLES", ("Bundle-no-such-example.json",))
    with pytest.raises(FileNotFoundError, match="Bundle-no-such-example.json"):
        warm.warm_up(rounds=1)
