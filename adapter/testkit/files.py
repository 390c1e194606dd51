"""A vendor's export files, converted (inbound mapping) and validated as a batch.

Each file is one case: it passes when it maps to a submission Bundle with no error; the
details are the OperationOutcome's issues, each with its FHIRPath and message id. This is
``adapter convert`` over a folder, with the same mapping and validator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from adapter import errors
from adapter.inbound import convert_export
from adapter.testkit.expect import message_id
from adapter.testkit.report import Case, Detail

INPUTS_SUFFIX = ".inputs.json"


def export_files(folder: Path) -> list[Path]:
    """The export files of ``folder`` (not hidden, not recursive, not ``*.inputs.json``), in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(INPUTS_SUFFIX))


def side_inputs(path: Path) -> dict[str, str]:
    """The side inputs of one export: ``<name>.inputs.json`` beside it (as in mappings/examples), if any."""
    beside = path.with_name(path.stem + INPUTS_SUFFIX)
    if not beside.is_file():
        return {}
    data = json.loads(beside.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{beside}: not a JSON object of NAME: VALUE")
    return {str(k): str(v) for k, v in data.items()}


def _issue_rows(oo: errors.OperationOutcome) -> list[tuple[str, bool, str, str]]:
    rows = []
    for iss in oo.get("issue", []):
        if message_id(iss) == "ALL_OK":
            continue
        ok = iss.get("severity") not in ("error", "fatal")
        where = ", ".join(iss.get("expression") or []) or "-"
        text = (iss.get("details") or {}).get("text") or iss.get("diagnostics") or ""
        rows.append((f"no error at {where}", ok, f"{iss.get('severity')}: {text}", message_id(iss) or ""))
    return rows


def check_file(path: Path, fmt: str, mapping: Path | None, inputs: dict[str, str]) -> Case:
    start = time.monotonic()
    name = path.name
    try:
        raw = path.read_bytes()
        inputs = side_inputs(path) | inputs
        bundle, oo = convert_export(raw, fmt, mapping=mapping, inputs=inputs)
    except OSError as exc:
        return Case(name, name, f"converts from {fmt} and validates", False, time.monotonic() - start,
                    [Detail("read", error=f"cannot read: {exc.strerror}", passed=False)],
                    f"cannot read: {exc.strerror}", str(path))
    except (errors.InputRejected, errors.MappingError) as exc:
        oo, bundle = exc.outcome, None
    except ValueError as exc:  # an unusable <name>.inputs.json (json.JSONDecodeError is one)
        return Case(name, name, f"converts from {fmt} and validates", False, time.monotonic() - start,
                    [Detail("side inputs", error=str(exc), passed=False)], f"side inputs: {exc}", str(path))
    rows = _issue_rows(oo)
    passed = bundle is not None and not errors.has_errors(oo)
    first = next((r for r in rows if not r[1]), None)
    message = "" if passed else (f"{first[2]} ({first[0].removeprefix('no error at ')}) [{first[3]}]" if first
                                 else "did not map to a submission Bundle")
    detail = Detail("convert and validate", request=f"adapter convert --from {fmt} {path}",
                    response=json.dumps(oo, ensure_ascii=False, indent=2), checks=rows or [
                        ("a submission Bundle without errors", passed, "no issues", "")], passed=passed)
    return Case(name, name, f"converts from {fmt} and validates against the LISN profiles", passed,
                time.monotonic() - start, [detail], message, str(path))


def check_files(files: list[Path], fmt: str, mapping: Path | None = None, inputs: dict[str, str] | None = None,
                progress: Callable[[Case], None] | None = None) -> list[Case]:
    cases = []
    for path in files:
        case = check_file(path, fmt, mapping, inputs or {})
        cases.append(case)
        if progress:
            progress(case)
    return cases
