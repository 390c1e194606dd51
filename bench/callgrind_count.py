"""Instructions per validation, counted by valgrind's callgrind: a measure other processes do not move.

``python -m bench.callgrind_count example|corpus [--valgrind PATH]`` runs this very module twice
under ``valgrind --tool=callgrind`` in a fresh process with ``PYTHONHASHSEED=0``: once with the
measured work and once without it, each after the same warm-up and ``gc.freeze()``, and prints the
difference divided by the work: instructions per validation of the example submission (150 warm,
40 measured), or per case of the HL7 questionnaire corpus (30 warm rounds of its 74 cases, 6
measured; ``ADAPTER_CONFORMANCE_DIR`` as for bench/bench_corpus.py). Two runs of one build give the
same count; a corpus count moves by up to a few per cent with the heap's layout (another build,
another environment's length), so compare builds measured in one environment. docs/performance.md
gives the figures. Needs valgrind (Debian: ``apt-get install valgrind``); without it, one line and
exit status 2.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
MEASURED = {"example": 40, "corpus": 6}
_SUMMARY = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def work(mode: str, n: int) -> None:
    """The work counted (run inside valgrind): warm up, freeze, then ``n`` measured repetitions."""
    if mode == "example":
        from adapter.validation import validate_bytes

        raw = EXAMPLE.read_bytes()
        for _ in range(150):
            validate_bytes(raw)
        gc.collect()
        gc.freeze()
        for _ in range(n):
            validate_bytes(raw)
        return
    from bench.bench_corpus import _Ours, corpus_dir

    base = corpus_dir()
    if base is None:
        raise SystemExit("the HL7 questionnaire corpus is missing (set ADAPTER_CONFORMANCE_DIR)")
    ours = _Ours(base)
    for _ in range(30):
        for raw, reg, _expect in ours.prepared:
            ours.validate(raw, reg)
    gc.collect()
    gc.freeze()
    for _ in range(n):
        for raw, reg, _expect in ours.prepared:
            ours.validate(raw, reg)


def instructions(callgrind_out: str) -> int:
    """The total instruction count of a callgrind output file's text (its ``summary:`` line)."""
    found = _SUMMARY.search(callgrind_out)
    if found is None:
        raise ValueError("no 'summary:' line in the callgrind output")
    return int(found.group(1))


def count(mode: str, valgrind: str) -> int:
    """Instructions per validation (``example``) or per corpus case (``corpus``)."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (MEASURED[mode], 0):
            out = Path(tmp) / f"callgrind.{n}"
            subprocess.run([valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m",
                            "bench.callgrind_count", "--work", mode, str(n)], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            totals.append(instructions(out.read_text(encoding="utf-8", errors="replace")))
    per = MEASURED[mode] * (74 if mode == "corpus" else 1)
    return round((totals[0] - totals[1]) / per)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.callgrind_count", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MEASURED), nargs="?")
    parser.add_argument("--valgrind", default="valgrind", help="the valgrind program (default: from PATH)")
    parser.add_argument("--work", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)  # inside valgrind
    args = parser.parse_args(argv)
    if args.work:
        work(args.work[0], int(args.work[1]))
        return 0
    if args.mode is None:
        parser.error("say what to count: example or corpus")
    valgrind = shutil.which(args.valgrind)
    if valgrind is None:
        print(f"bench.callgrind_count: no valgrind at {args.valgrind!r} (Debian: apt-get install valgrind)",
              file=sys.stderr)
        return 2
    unit = "validation of the example" if args.mode == "example" else "case of the HL7 questionnaire corpus"
    print(f"{count(args.mode, valgrind):,} instructions per {unit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
