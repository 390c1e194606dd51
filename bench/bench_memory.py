"""Memory on the error paths: transient bytes allocated per input byte, for bodies near 2 MB.

Each body is validated once by ``adapter.validation.validate_bytes`` under ``tracemalloc``; the
figure is the traced peak above what was allocated before the call, divided by the body's
length (Python allocations only: lxml's and the C JSON decoder's internal buffers are not
traced, the objects they return are). The OperationOutcome the call returns is counted apart
(``outcome_bytes``: it is the result, not transient). The target (issue 15) is at most 10 bytes per input byte
on every error path. Bodies, all derived from the example submission (2 MiB is the body limit):

- ``long-string``: one free-text answer 2 MB long (over the template's 4,000-character maxLength);
- ``many-long-strings``: a free-text item repeated, each answer 5,000 characters, to about 2 MB;
- ``many-bad-items``: about 2 MB of items with unknown linkIds (one issue each);
- ``truncated``: the long-string body cut short (not JSON);
- ``bad-utf8``: the long-string body with an invalid byte near the end;
- ``too-deep``: arrays nested a million deep;
- ``over-limit``: one byte over the limit.

The baseline measured in the same run is the string pattern the position scanner used before
(``"((?:[^"\\]|\\.)*)"``, one backtracking frame per character) on the ``long-string`` body.

``python -m bench.bench_memory``
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = 2 * 1024 * 1024 - 4096  # just under the 2 MiB body limit


def _example() -> dict[str, Any]:
    return json.loads((ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json").read_bytes())


def _response(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse")


def _text_answers(node: Any, links: tuple[str, ...] = ("funktionsnedsattning", "aktivitetsbegransning")) -> list[dict[str, Any]]:
    """The free-text answers whose items have a maxLength (4,000) in the LISN template."""
    found = []
    for item in node.get("item", []):
        if item.get("linkId") in links:
            found += [a for a in item.get("answer", []) if "valueString" in a]
        found += _text_answers(item, links)
    return found


def _pad(bundle: dict[str, Any], grow: Callable[[dict[str, Any], int], None]) -> bytes:
    """``bundle`` grown by ``grow(bundle, n)`` with the largest ``n`` that stays under TARGET."""
    low, high = 1, 1
    while len(_with(bundle, grow, high)) < TARGET:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if len(_with(bundle, grow, mid)) < TARGET else (low, mid)
    return _with(bundle, grow, low)


def _with(bundle: dict[str, Any], grow: Callable[[dict[str, Any], int], None], n: int) -> bytes:
    copy_ = copy.deepcopy(bundle)
    grow(copy_, n)
    return json.dumps(copy_, ensure_ascii=False, indent=1).encode("utf-8")


def _long_string(b: dict[str, Any], n: int) -> None:
    _text_answers(_response(b))[0]["valueString"] = "Lång text. " * n


def _many_strings(b: dict[str, Any], n: int) -> None:
    for answer in _text_answers(_response(b)):
        answer["valueString"] = "å" * 5000
    _text_answers(_response(b))[0]["valueString"] = "å" * 5000
    parent = _parent_of(_response(b), "funktionsnedsattning")
    text_item = next(i for i in parent["item"] if i["linkId"] == "funktionsnedsattning")
    parent["item"] += [copy.deepcopy(text_item) for _ in range(n)]


def _parent_of(node: dict[str, Any], link: str) -> dict[str, Any]:
    for item in node.get("item", []):
        if item.get("linkId") == link:
            return node
        try:
            return _parent_of(item, link)
        except LookupError:
            continue
    raise LookupError(link)


def _bad_items(b: dict[str, Any], n: int) -> None:
    _response(b)["item"] += [{"linkId": f"okand-{i}", "answer": [{"valueString": "x"}]} for i in range(n)]


def bodies() -> dict[str, bytes]:
    example = _example()
    long_string = _pad(example, _long_string)
    return {
        "long-string": long_string,
        "many-long-strings": _pad(example, _many_strings),
        "many-bad-items": _pad(example, _bad_items),
        "truncated": long_string[:-10],
        "bad-utf8": long_string[:-100] + b"\xff" + long_string[-99:],
        "too-deep": b"[" * (TARGET // 2) + b"]" * (TARGET // 2),
        "over-limit": long_string + b" " * (2 * 1024 * 1024 + 1 - len(long_string)),
    }


def _traced(f: Callable[[], Any]) -> tuple[int, int, float, Any]:
    """Peak and retained (the result: the OperationOutcome) bytes above the start, seconds, result."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        result = f()
        seconds = time.perf_counter() - t0
        current, peak = tracemalloc.get_traced_memory()
        return peak - before, current - before, seconds, result
    finally:
        tracemalloc.stop()


def measure() -> dict[str, Any]:
    from adapter.fhir.registry import default_registry
    from adapter.validation import validate_bytes

    registry = default_registry()
    validate_bytes((ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json").read_bytes(), registry)
    rows = {}
    for name, body in bodies().items():
        peak, retained, seconds, oo = _traced(lambda body=body: validate_bytes(body, registry))
        ids = sorted({_message_id(i) for i in oo["issue"]})
        rows[name] = {"bytes": len(body), "peak_bytes": peak, "bytes_per_input_byte": round(peak / len(body), 2),
                      "outcome_bytes": retained, "transient_per_input_byte": round((peak - retained) / len(body), 2),
                      "seconds": round(seconds, 3), "issues": len(oo["issue"]), "ids": ids[:4]}
    text = bodies()["long-string"].decode("utf-8")
    start = text.index('"valueString": "Lång') + len('"valueString": ')
    old = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
    peak, _, seconds, _ = _traced(lambda: old.match(text, start))
    baseline = {"bytes": len(text.encode()), "peak_bytes": peak, "bytes_per_input_byte": round(peak / len(text.encode()), 2),
                "seconds": round(seconds, 3)}
    return {"status": "ok", "loadavg_at_start": os.getloadavg(), "target_bytes_per_input_byte": 10, "bodies": rows,
            "baseline_old_string_pattern": baseline}


def _message_id(issue: dict[str, Any]) -> str:
    for ext in issue.get("extension", []):
        if ext.get("url", "").endswith("operationoutcome-message-id"):
            return str(ext.get("valueString"))
    return "?"


def run(*, quick: bool = False) -> dict[str, Any]:
    return measure()


def table(result: dict[str, Any]) -> str:
    rows = [f"error paths under tracemalloc (load {result['loadavg_at_start'][0]:.1f}); target <= 10 bytes per input byte",
            f"  {'body':<20}{'bytes':>10}{'peak MB':>10}{'B/B':>8}{'OO MB':>8}{'transient B/B':>15}{'s':>8}  issues  ids"]
    for name, r in result["bodies"].items():
        flag = "" if r["transient_per_input_byte"] <= 10 else "  OVER"
        rows.append(f"  {name:<20}{r['bytes']:>10}{r['peak_bytes'] / 1e6:>10.1f}{r['bytes_per_input_byte']:>8}"
                    f"{r['outcome_bytes'] / 1e6:>8.1f}{r['transient_per_input_byte']:>15}"
                    f"{r['seconds']:>8}  {r['issues']:>6}  {', '.join(map(str, r['ids']))}{flag}")
    b = result["baseline_old_string_pattern"]
    rows.append(f"  {'(old string regex)':<20}{b['bytes']:>10}{b['peak_bytes'] / 1e6:>10.1f}{b['bytes_per_input_byte']:>8}"
                f"{b['seconds']:>8}  baseline: the scanner's previous pattern on the long string alone")
    return "\n".join(rows)


def main() -> None:
    result = measure()
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
