"""The HL7 questionnaire corpus, warm: our validator against pyfhircheck, in the same run.

Each of the 74 cases (``$ADAPTER_CONFORMANCE_DIR/hl7-questionnaire``) is validated from its raw
bytes with its Questionnaire loaded beforehand (as ``adapter validate --ig Q.json QR.json`` does,
without the process start): ours is ``validate_bytes(raw, registry)``; pyfhircheck's is
``json.loads`` + ``Validator.validate_resource`` with the Questionnaire given through its
``external_reference_resolver`` (its Validator built once). Both loop over the whole corpus for
the same time; the rate is cases per second. The two alternate in slices (ours, theirs, ten times
each, pyfhircheck kept warm in its process between slices), so that a change in the machine's
load hits both; the ratio is of the medians. Verdicts are counted too (no error = valid) against the
cases' ``expect_valid``. Each slice also reports its rate per second of CPU time (``time.process_time``,
in each process): other processes on a shared machine disturb it much less than wall time.

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

# Runs inside pyfhircheck's own interpreter. Prints its verdict count, then for each line
# "seconds" read from stdin loops over the corpus that long and prints cases per second.
_THEIRS = r"""
import json, sys, time
from pathlib import Path
from pyfhircheck import Validator
base = Path(sys.argv[1])
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
print(json.dumps({"cases": len(prepared), "right": sum(one(raw, defs) == expect for raw, defs, expect in prepared)}), flush=True)
for line in sys.stdin:
    rounds, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < float(line) or rounds < 1:
        for raw, defs, _ in prepared:
            one(raw, defs)
        rounds += 1
    print(json.dumps({"per_second": rounds * len(prepared) / (time.perf_counter() - start),
                      "cpu_per_second": rounds * len(prepared) / max(time.process_time() - cpu, 1e-9)}), flush=True)
"""
SLICES = 10  # alternations: the machine's load shifts both alike


def corpus_dir() -> Path | None:
    env = os.environ.get("ADAPTER_CONFORMANCE_DIR")
    base = (Path(env) if env else ROOT.parent / "shared" / "conformance") / "hl7-questionnaire"
    return base if (base / "manifest.json").is_file() else None


class _Ours:
    """Our validator over the prepared corpus (Questionnaires loaded once per case)."""

    def __init__(self, base: Path) -> None:
        from adapter import errors
        from adapter.fhir.registry import default_registry
        from adapter.validation import validate_bytes

        self.validate = validate_bytes
        cases = json.loads((base / "manifest.json").read_text(encoding="utf-8"))["cases"]
        self.prepared = [((base / c["response"]).read_bytes(), default_registry([str(base / ig) for ig in c["ig"]]),
                          c["expect_valid"]) for c in cases]
        self.right = sum((not errors.has_errors(validate_bytes(raw, reg))) == expect for raw, reg, expect in self.prepared)

    def rate(self, seconds: float) -> tuple[float, float]:
        """Cases per second of wall time and of CPU time (``time.process_time``)."""
        rounds, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds or rounds < 1:
            for raw, reg, _ in self.prepared:
                self.validate(raw, reg)
            rounds += 1
        done = rounds * len(self.prepared)
        return done / (time.perf_counter() - start), done / max(time.process_time() - cpu, 1e-9)


def _theirs(base: Path, python: Path) -> subprocess.Popen[str] | str:
    if not python.is_file():
        return f"no pyfhircheck environment at {python} (see bench/bench_corpus.py)"
    return subprocess.Popen([str(python), "-c", _THEIRS, str(base)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _ask(proc: subprocess.Popen[str], seconds: float | None) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    if seconds is not None:
        proc.stdin.write(f"{seconds}\n")
        proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError((proc.stderr.read() if proc.stderr else "").strip().splitlines()[-1:] or "no output")
    return dict(json.loads(line))


def run(*, quick: bool = False, seconds: float | None = None, python: Path | None = None) -> dict[str, Any]:
    """Ours and pyfhircheck alternately, ``SLICES`` times each, for about ``seconds`` in all."""
    base = corpus_dir()
    if base is None:
        return {"status": "skipped", "reason": "the HL7 questionnaire corpus is missing (set ADAPTER_CONFORMANCE_DIR)"}
    per_slice = (seconds if seconds is not None else (2.0 if quick else 10.0)) / (2 * SLICES)
    ours = _Ours(base)
    from adapter import native

    out: dict[str, Any] = {"status": "ok", "loadavg_at_start": os.getloadavg(), "validator": native.describe(),
                           "cases": len(ours.prepared),
                           "right": ours.right}
    proc = _theirs(base, python or Path(os.environ.get("PYFHIRCHECK_PYTHON") or DEFAULT_PYFHIRCHECK))
    mine: list[float] = []
    mine_cpu: list[float] = []
    other: dict[str, Any] = {"status": "skipped", "reason": proc} if isinstance(proc, str) else {"status": "ok"}
    try:
        if not isinstance(proc, str):
            other.update(_ask(proc, None))
        rates: list[float] = []
        cpu_rates: list[float] = []
        for _ in range(SLICES):
            wall, cpu = ours.rate(per_slice)
            mine.append(wall)
            mine_cpu.append(cpu)
            if not isinstance(proc, str):
                answer = _ask(proc, per_slice)
                rates.append(answer["per_second"])
                cpu_rates.append(answer["cpu_per_second"])
        if rates:
            other["per_second"] = round(statistics.median(rates), 1)
            other["cpu_per_second"] = round(statistics.median(cpu_rates), 1)
            other["slices"] = [round(r, 1) for r in rates]
    except (RuntimeError, OSError, ValueError) as exc:
        other = {"status": "failed", "reason": str(exc)}
    finally:
        if not isinstance(proc, str):
            proc.kill()
            proc.wait()
    out["ours_per_second"] = round(statistics.median(mine), 1)
    out["ours_cpu_per_second"] = round(statistics.median(mine_cpu), 1) if mine_cpu else None
    out["ours_slices"] = [round(r, 1) for r in mine]
    out["pyfhircheck"] = other
    if other.get("status") == "ok":
        out["ratio_vs_pyfhircheck"] = round(out["ours_per_second"] / other["per_second"], 2)
        out["cpu_ratio_vs_pyfhircheck"] = round(out["ours_cpu_per_second"] / other["cpu_per_second"], 2)
    return out


def table(result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"corpus: {result['status']}: {result['reason']}"
    rows = [f"HL7 questionnaire corpus, warm ({result['cases']} cases), load {result['loadavg_at_start'][0]:.1f}, "
            f"{SLICES} alternating slices each, medians, {result['validator']}",
            f"  ours          {result['ours_per_second']:>9} cases/s   right {result['right']}/{result['cases']}"]
    other = result["pyfhircheck"]
    if other.get("status") == "ok":
        rows.append(f"  pyfhircheck   {other['per_second']:>9} cases/s   right {other['right']}/{other['cases']}")
        rows.append(f"  ratio         {result['ratio_vs_pyfhircheck']:>9}x  (target >= 3x)")
        rows.append(f"  by CPU time   {result['ours_cpu_per_second']} against {other['cpu_per_second']} cases/s: "
                    f"{result['cpu_ratio_vs_pyfhircheck']}x")
    else:
        rows.append(f"  pyfhircheck   {other['status']}: {other['reason']}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="in all, both validators")
    parser.add_argument("--pyfhircheck-python", type=Path, default=None)
    args = parser.parse_args()
    result = run(seconds=args.seconds, python=args.pyfhircheck_python)
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
