"""The HL7 questionnaire corpus, warm: our validator against pyfhircheck, in the same run.

Each of the 74 cases (``$ADAPTER_CONFORMANCE_DIR/hl7-questionnaire``) is validated from its raw
bytes with its Questionnaire loaded beforehand (as ``adapter validate --ig Q.json QR.json`` does,
without the process start): ours is ``validate_bytes(raw, registry)``; pyfhircheck's is
``json.loads`` + ``Validator.validate_resource`` with the Questionnaire given through its
``external_reference_resolver`` (its Validator built once). Both loop over the whole corpus for
about the same time; the rate is cases per second. Runs go ours, pyfhircheck, ours, and the
ratio uses the median of our runs. Verdicts are counted too (no error = valid) against the
cases' ``expect_valid``.

pyfhircheck has dependencies of its own (fhir.resources for another FHIR version, among others),
so it runs in a virtualenv of its own, in a subprocess: ``--pyfhircheck-python PATH`` or
``$PYFHIRCHECK_PYTHON``, default ``bench/.venv-pyfhircheck/bin/python``. Make it with
``python -m venv bench/.venv-pyfhircheck && bench/.venv-pyfhircheck/bin/pip install pyfhircheck``.
Without it the comparison is skipped with a message saying so, and our rate is still printed.

``python -m bench.bench_corpus [--seconds N]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PYFHIRCHECK = ROOT / "bench" / ".venv-pyfhircheck" / "bin" / "python"

# Runs inside pyfhircheck's own interpreter: prints one JSON line.
_THEIRS = r"""
import json, sys, time
from pathlib import Path
from pyfhircheck import Validator
base, seconds = Path(sys.argv[1]), float(sys.argv[2])
cases = json.loads((base / "manifest.json").read_text())["cases"]
prepared = []
for c in cases:
    defs = {}
    for ig in c["ig"]:
        r = json.loads((base / ig).read_text())
        if isinstance(r.get("url"), str):
            defs[r["url"]] = r
            defs[r["url"] + "|" + str(r.get("version"))] = r
    prepared.append(((base / c["response"]).read_bytes(), defs, c["expect_valid"]))
validator = Validator()
def one(raw, defs):
    validator.external_reference_resolver = lambda url, defs=defs: defs.get(url) or defs.get(url.split("|")[0])
    report = validator.validate_resource(json.loads(raw))
    return not any(str(getattr(i.severity, "value", i.severity)).lower() in ("error", "fatal") for i in report.issues)
right = sum(one(raw, defs) == expect for raw, defs, expect in prepared)
rounds, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds or rounds < 2:
    for raw, defs, _ in prepared:
        one(raw, defs)
    rounds += 1
elapsed = time.perf_counter() - start
print(json.dumps({"cases": len(prepared), "right": right, "per_second": round(rounds * len(prepared) / elapsed, 1)}))
"""


def corpus_dir() -> Path | None:
    env = os.environ.get("ADAPTER_CONFORMANCE_DIR")
    base = (Path(env) if env else ROOT.parent / "shared" / "conformance") / "hl7-questionnaire"
    return base if (base / "manifest.json").is_file() else None


def ours(base: Path, seconds: float) -> dict[str, Any]:
    from adapter import errors
    from adapter.fhir.registry import default_registry
    from adapter.validation import validate_bytes

    cases = json.loads((base / "manifest.json").read_text(encoding="utf-8"))["cases"]
    prepared = [((base / c["response"]).read_bytes(), default_registry([str(base / ig) for ig in c["ig"]]),
                 c["expect_valid"]) for c in cases]
    right = sum((not errors.has_errors(validate_bytes(raw, reg))) == expect for raw, reg, expect in prepared)
    rounds, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or rounds < 2:
        for raw, reg, _ in prepared:
            validate_bytes(raw, reg)
        rounds += 1
    elapsed = time.perf_counter() - start
    return {"cases": len(prepared), "right": right, "per_second": round(rounds * len(prepared) / elapsed, 1)}


def theirs(base: Path, seconds: float, python: Path) -> dict[str, Any]:
    if not python.is_file():
        return {"status": "skipped", "reason": f"no pyfhircheck environment at {python} (see bench/bench_corpus.py)"}
    done = subprocess.run([str(python), "-c", _THEIRS, str(base), str(seconds)], capture_output=True, text=True,
                          timeout=600 + seconds * 4)
    if done.returncode != 0:
        return {"status": "failed", "reason": done.stderr.strip().splitlines()[-1:] or ["no output"]}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def run(*, quick: bool = False, seconds: float | None = None, python: Path | None = None) -> dict[str, Any]:
    base = corpus_dir()
    if base is None:
        return {"status": "skipped", "reason": "the HL7 questionnaire corpus is missing (set ADAPTER_CONFORMANCE_DIR)"}
    secs = seconds if seconds is not None else (1.0 if quick else 5.0)
    python = python or Path(os.environ.get("PYFHIRCHECK_PYTHON") or DEFAULT_PYFHIRCHECK)
    first = ours(base, secs)
    other = theirs(base, secs, python)
    second = ours(base, secs)
    rate = statistics.median([first["per_second"], second["per_second"]])
    out: dict[str, Any] = {"status": "ok", "loadavg_at_start": os.getloadavg(), "ours": [first, second],
                           "ours_per_second": rate, "pyfhircheck": other}
    if other.get("status") == "ok":
        out["ratio_vs_pyfhircheck"] = round(rate / other["per_second"], 2)
    return out


def table(result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"corpus: {result['status']}: {result['reason']}"
    first = result["ours"][0]
    rows = [f"HL7 questionnaire corpus, warm ({first['cases']} cases), load {result['loadavg_at_start'][0]:.1f}",
            f"  ours          {result['ours_per_second']:>9} cases/s   right {first['right']}/{first['cases']}"]
    other = result["pyfhircheck"]
    if other.get("status") == "ok":
        rows.append(f"  pyfhircheck   {other['per_second']:>9} cases/s   right {other['right']}/{other['cases']}")
        rows.append(f"  ratio         {result['ratio_vs_pyfhircheck']:>9}x  (target >= 3x)")
    else:
        rows.append(f"  pyfhircheck   {other['status']}: {other['reason']}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pyfhircheck-python", type=Path, default=None)
    args = parser.parse_args()
    result = run(seconds=args.seconds, python=args.pyfhircheck_python)
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
