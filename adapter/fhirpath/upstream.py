"""The parts of fhirpathpy this package builds on, imported (and typed) in one place.

fhirpathpy's engine is not annotated; its functions are given the type ``Callable[..., Any]``
here once, so that the rest of the package stays checked by ``mypy --strict``.

:func:`parse` takes the tree of an expression the package ships from the precomputed table
(:mod:`adapter.fhirpath.trees`) and parses with fhirpathpy's ANTLR parser only an expression
that is not in it. fhirpathpy's package imports that parser (and the antlr4 runtime, some 20 ms)
for its ``parse`` alone, which nothing of its evaluator uses: when this module is the first to
import fhirpathpy, ``fhirpathpy.parser`` is first registered as a stand-in whose ``parse`` imports
the real parser on its first call (:func:`_defer_parser`), so that a validation meeting only
shipped expressions never loads antlr4. Every name of the real module stays reachable through it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from adapter.fhirpath import trees

_PARSER = "fhirpathpy.parser"
_LOCK = threading.Lock()
_REAL: list[types.ModuleType] = []


def _real_parser() -> types.ModuleType:
    """fhirpathpy's parser module, imported on first use (in place of the stand-in)."""
    with _LOCK:
        if not _REAL:
            stand_in = sys.modules.get(_PARSER)
            if stand_in is not None and getattr(stand_in, "_adapter_stand_in", False):
                del sys.modules[_PARSER]
            try:
                _REAL.append(importlib.import_module(_PARSER))
            except BaseException:
                if stand_in is not None:
                    sys.modules[_PARSER] = stand_in
                raise
        return _REAL[0]


def _deferred_parse(value: Any) -> Any:
    return _real_parser().parse(value)


def _stand_in_getattr(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_real_parser(), name)


def _defer_parser() -> None:
    """Register the stand-in for ``fhirpathpy.parser`` before fhirpathpy is imported (if it is not yet).

    The parser's runtime must be installed even when it is not loaded: deferring it must not turn a
    broken installation into a failure met later, at an expression outside the table (no silent
    fallback), so its absence stops the import here, as the real parser's import would."""
    if "fhirpathpy" in sys.modules or _PARSER in sys.modules:
        return
    spec = importlib.util.find_spec("fhirpathpy")
    if spec is None or not spec.submodule_search_locations:
        return  # not installed as a package directory: let the ordinary import say what is wrong
    if importlib.util.find_spec("antlr4") is None:
        raise ModuleNotFoundError("fhirpathpy's parser needs the antlr4 runtime (antlr4-python3-runtime), "
                                  "which is not installed", name="antlr4")
    stand_in = types.ModuleType(_PARSER, "fhirpathpy's parser, imported on the first call of parse().")
    stand_in.__spec__ = importlib.machinery.ModuleSpec(_PARSER, None, is_package=True)
    stand_in.__path__ = [str(Path(location, "parser")) for location in spec.submodule_search_locations]
    stand_in.parse = _deferred_parse  # type: ignore[attr-defined]
    stand_in.__getattr__ = _stand_in_getattr  # type: ignore[method-assign]
    stand_in._adapter_stand_in = True  # type: ignore[attr-defined]
    sys.modules[_PARSER] = stand_in


_defer_parser()

import fhirpathpy  # noqa: E402 - after the stand-in is registered
from fhirpathpy import engine  # noqa: E402
from fhirpathpy.engine import nodes, util  # noqa: E402
from fhirpathpy.engine.evaluators import evaluators as _evaluators  # noqa: E402
from fhirpathpy.engine.invocations import equality, existence, invocation_registry, navigation  # noqa: E402
from fhirpathpy.engine.invocations.constants import constants  # noqa: E402

if getattr(sys.modules.get(_PARSER), "_adapter_stand_in", False) and not hasattr(fhirpathpy, "parser"):
    fhirpathpy.parser = sys.modules[_PARSER]  # as the import system sets a loaded submodule

Fn = Callable[..., Any]

RN: Any = nodes.ResourceNode
TypeInfo: Any = nodes.TypeInfo
FP_Quantity: Any = nodes.FP_Quantity
FP_Type: Any = nodes.FP_Type
FP_DateTime: Any = nodes.FP_DateTime
FP_Time: Any = nodes.FP_Time



def _r4_model() -> dict[str, Any]:
    """fhirpathpy's R4 model (``fhirpathpy.models.models["r4"]``), read alone when fhirpathpy.models is
    not imported yet: that module reads the models of all four FHIR versions (1.5 MB of JSON)."""
    loaded = sys.modules.get("fhirpathpy.models")
    if loaded is not None:
        return cast(dict[str, Any], loaded.models["r4"])
    directory = Path(fhirpathpy.__file__).parent / "models" / "r4"
    return {path.name[:-5]: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(directory.iterdir()) if path.name.endswith(".json")}


MODEL = _r4_model()  # choice types (answer.value → valueDate)
MODELS: dict[str, dict[str, Any]] = {"r4": MODEL}  # the fhirpathpy models this package uses, by version
REGISTRY = cast(dict[str, dict[str, Any]], invocation_registry)
PARAM_CHECKS = cast(dict[str, Fn], engine.param_check_table)
EVALUATORS = cast(dict[str, Fn], _evaluators)

VERSION = str(fhirpathpy.__version__)
_TABLE: list[trees.Table] = []


def table() -> trees.Table:
    """The precomputed trees (loaded on first use; empty, with a warning, when made for another fhirpathpy)."""
    if not _TABLE:
        _TABLE.append(trees.load(VERSION))
    return _TABLE[0]


def fhirpathpy_parse(text: str) -> Any:
    """fhirpathpy's own parse (its ANTLR parser, imported on first use)."""
    return _deferred_parse(text)


def parse(text: str) -> Any:
    """fhirpathpy's parse tree of ``text``: from the precomputed table, else parsed by fhirpathpy."""
    tree = table().get(text) if isinstance(text, str) else None
    return tree if tree is not None else fhirpathpy_parse(text)


apply_parsed_path = cast(Fn, fhirpathpy.apply_parsed_path)
set_paths = cast(Fn, util.set_paths)
get_data = cast(Fn, util.get_data)
is_capitalized = cast(Callable[[Any], bool], util.is_capitalized)
reset_clock = cast(Fn, constants.reset)
fp_children = cast(Fn, navigation.children)
fp_descendants = cast(Fn, navigation.descendants)
fp_equal = cast(Fn, equality.equal)
fp_unequal = cast(Fn, equality.unequal)
fp_distinct = cast(Fn, existence.distinct_fn)
fp_equality_module: Any = equality  # adapter.fhirpath.fhir wraps its typecheck (typed dates)
