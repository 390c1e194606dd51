"""The parts of fhirpathpy this package builds on, imported (and typed) in one place.

fhirpathpy's engine is not annotated; its functions are given the type ``Callable[..., Any]``
here once, so that the rest of the package stays checked by ``mypy --strict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import fhirpathpy
from fhirpathpy import engine
from fhirpathpy.engine import nodes, util
from fhirpathpy.engine.evaluators import evaluators as _evaluators
from fhirpathpy.engine.invocations import equality, invocation_registry, navigation
from fhirpathpy.engine.invocations.constants import constants
from fhirpathpy.models import models
from fhirpathpy.parser import parse as _parse

Fn = Callable[..., Any]

RN: Any = nodes.ResourceNode
TypeInfo: Any = nodes.TypeInfo
FP_Quantity: Any = nodes.FP_Quantity
FP_Type: Any = nodes.FP_Type
FP_DateTime: Any = nodes.FP_DateTime
FP_Time: Any = nodes.FP_Time

MODEL = cast(dict[str, Any], models["r4"])  # choice types (answer.value → valueDate)
REGISTRY = cast(dict[str, dict[str, Any]], invocation_registry)
PARAM_CHECKS = cast(dict[str, Fn], engine.param_check_table)
EVALUATORS = cast(dict[str, Fn], _evaluators)

parse = cast(Fn, _parse)
apply_parsed_path = cast(Fn, fhirpathpy.apply_parsed_path)
set_paths = cast(Fn, util.set_paths)
get_data = cast(Fn, util.get_data)
is_capitalized = cast(Callable[[Any], bool], util.is_capitalized)
reset_clock = cast(Fn, constants.reset)
fp_children = cast(Fn, navigation.children)
fp_descendants = cast(Fn, navigation.descendants)
fp_equal = cast(Fn, equality.equal)
fp_unequal = cast(Fn, equality.unequal)
fp_equality_module: Any = equality  # adapter.fhirpath.fhir wraps its typecheck (typed dates)
