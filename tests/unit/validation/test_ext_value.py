"""answers.ext_value reads memo's table itself (issue 15): it gives the first value of
``_ext_values`` (the general way) for every item and url, found or not, remembered or not, and
never a value remembered for another object that had the same id."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapter.validation import answers
from adapter.validation.answers import EXT, SDC, _ext_values, ext_value, ext_values

ROOT = Path(__file__).resolve().parents[3]


def _definitions() -> Iterator[Any]:
    for path in sorted((ROOT / "profiles").rglob("Questionnaire-*.json")):
        yield json.loads(path.read_text(encoding="utf-8"))
    corpus = Path(os.environ.get("ADAPTER_CONFORMANCE_DIR", "/nonexistent")) / "hl7-questionnaire" / "cases"
    for path in sorted(corpus.glob("*-q*.json")) if corpus.is_dir() else ():
        yield json.loads(path.read_text(encoding="utf-8"))
    yield {"item": [{"linkId": "a", "extension": [
        {"url": EXT + "minValue", "valueInteger": 1}, {"url": EXT + "minValue", "valueDecimal": 2.5},
        {"url": EXT + "maxValue"}, "not an extension", {"url": 3, "valueString": "x"},
        {"url": EXT + "regex", "valueString": "[0-9]+", "_valueString": {"id": "e"}}]},
        {"linkId": "b", "extension": "not a list"}, {"linkId": "c", "extension": {"url": EXT + "regex"}}]}


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def test_ext_value_is_the_first_of_the_general_way() -> None:
    checked = 0
    for definition in _definitions():
        for obj in _objects(definition):
            urls = {e.get("url") for e in obj.get("extension") or () if isinstance(e, dict)}
            for url in sorted((u for u in urls if isinstance(u, str)), key=str) + [
                    EXT + "minValue", EXT + "maxDecimalPlaces", SDC + "sdc-questionnaire-minQuantity"]:
                general = _ext_values(obj, url)
                want = general[0] if general else None
                assert ext_value(obj, url) == want  # (not remembered, or remembered by another test)
                assert ext_value(obj, url) == want  # remembered
                assert ext_values(obj, url) == general
                checked += 1
    assert checked > 100


def test_ext_value_ignores_what_another_object_of_that_id_left() -> None:
    item = {"linkId": "a", "extension": [{"url": EXT + "minValue", "valueInteger": 4}]}
    answers._MEMO[(id(item), EXT + "minValue")] = ({"linkId": "gone"}, [99])  # as if an id were reused
    assert ext_value(item, EXT + "minValue") == 4
    answers._MEMO[(id(item), EXT + "maxValue")] = ({"linkId": "gone"}, [99])
    assert ext_value(item, EXT + "maxValue") is None
