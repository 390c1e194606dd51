"""Convert time per example: this engine against the engine before (git), measured in the same run.

Run from the checkout: ``python -m bench.bench_convert [--seconds 2] [--base REV] [--json out.json]``.

The old engine (``adapter/inbound`` and ``mappings/`` at ``--base``, by default the merge-base
with ``main``) is unpacked into a temporary package beside this one, so both run in this process,
on the same examples, in alternating batches (a change in machine load hits both alike). For each
example in ``mappings/examples`` it prints the map-only and the convert (map + validate) time per
call of both engines and their ratio (new / old; below 1.0 is faster); formats the old engine did
not have are timed against parsing the same bytes alone (the floor any engine pays).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapter.fhir.parse import parse_json, parse_xml  # noqa: E402
from adapter.inbound import convert_export, map_export  # noqa: E402

EXAMPLES = ROOT / "mappings" / "examples"


def old_engine(base: str, into: Path) -> ModuleType:
    """``adapter.inbound`` at ``base`` as the package ``old_inbound``, reading ``mappings/`` of ``base``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", base, "adapter/inbound", "mappings"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / "old_inbound"
    (into / "adapter" / "inbound").rename(package)
    for module in package.glob("*.py"):
        text = module.read_text(encoding="utf-8")
        module.write_text(re.sub(r"\badapter\.inbound\b", "old_inbound", text), encoding="utf-8")
    sys.path.insert(0, str(into))
    export = importlib.import_module("old_inbound.export")
    export.mappings_dir = lambda: into / "mappings"  # type: ignore[attr-defined]
    return importlib.import_module("old_inbound")


def merge_base() -> str:
    found = subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True, text=True)
    return found.stdout.strip() or "HEAD"


def paired(fns: list[Callable[[], object]], seconds: float) -> list[float]:
    """Seconds per call of each function, measured in alternating batches of five."""
    for fn in fns:
        fn()
    counts, times = [0] * len(fns), [0.0] * len(fns)
    deadline = time.perf_counter() + seconds * len(fns)
    while time.perf_counter() < deadline:
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(5):
                fn()
            times[i] += time.perf_counter() - start
            counts[i] += 5
    return [t / c for t, c in zip(times, counts)]


def examples() -> list[tuple[str, Path, dict[str, str]]]:
    out = []
    for path in sorted(EXAMPLES.glob("*/*")):
        if path.is_file() and not path.name.endswith(".inputs.json"):
            sidecar = path.with_name(path.name.split(".")[0] + ".inputs.json")
            inputs = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
            out.append((path.parent.name, path, inputs))
    return out


def measure(seconds: float, base: str) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = old_engine(base, Path(tmp))
        old_formats = set(old.known_formats())
        for fmt, path, inputs in examples():
            raw = path.read_bytes()
            parse = (lambda: parse_xml(raw)) if raw.lstrip()[:1] == b"<" else (lambda: parse_json(raw))
            new_map = partial(map_export, raw, fmt, inputs=inputs)
            new_convert = partial(convert_export, raw, fmt, inputs=inputs)
            row: dict[str, Any] = {"example": f"{fmt}/{path.name}"}
            if fmt in old_formats:
                old_map = partial(old.map_export, raw, fmt)
                old_convert = partial(old.convert_export, raw, fmt)
                t = paired([new_map, old_map, new_convert, old_convert], seconds)
                row.update(map_ms=t[0] * 1e3, old_map_ms=t[1] * 1e3, map_ratio=t[0] / t[1],
                           convert_ms=t[2] * 1e3, old_convert_ms=t[3] * 1e3, convert_ratio=t[2] / t[3])
            else:
                t = paired([new_map, new_convert, parse], seconds)
                row.update(map_ms=t[0] * 1e3, convert_ms=t[1] * 1e3, parse_ms=t[2] * 1e3,
                           map_vs_parse=t[0] / t[2])
            rows.append(row)
    return rows


def report(rows: list[dict[str, Any]], base: str) -> str:
    lines = [f"convert time per example, this engine vs. the engine at {base[:12]} (same run, alternating batches)",
             f"{'example':58} {'map ms':>8} {'old':>8} {'ratio':>6} {'convert ms':>11} {'old':>8} {'ratio':>6}"]
    for r in rows:
        if "old_map_ms" in r:
            lines.append(f"{r['example']:58} {r['map_ms']:8.2f} {r['old_map_ms']:8.2f} {r['map_ratio']:6.2f} "
                         f"{r['convert_ms']:11.2f} {r['old_convert_ms']:8.2f} {r['convert_ratio']:6.2f}")
        else:
            lines.append(f"{r['example']:58} {r['map_ms']:8.2f} {'(new)':>8} {'':>6} {r['convert_ms']:11.2f} "
                         f"{'':>8} {'':>6}   parse alone {r['parse_ms']:.2f} ms, map/parse {r['map_vs_parse']:.1f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="per subject and example")
    ap.add_argument("--base", default=None, help="git revision of the old engine (default: merge-base with main)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    base = args.base or merge_base()
    rows = measure(args.seconds, base)
    print(report(rows, base))
    result = {"base": base, "python": platform.python_version(), "rows": rows}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
