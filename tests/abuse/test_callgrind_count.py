"""bench/callgrind_count.py: the count it reads, and its one line when valgrind is missing.

The counting itself (two valgrind runs, about a minute each) is exercised by hand; its figures are in
docs/performance.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import callgrind_count

ROOT = Path(__file__).resolve().parents[2]


def test_the_summary_line_is_the_count() -> None:
    text = "version: 1\ncreator: callgrind-3.24\nevents: Ir\nsummary: 123456789\ntotals: 123456789\n"
    assert callgrind_count.instructions(text) == 123_456_789


def test_an_output_without_a_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="summary"):
        callgrind_count.instructions("events: Ir\ntotals: 5\n")


def test_without_valgrind_one_line_and_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.callgrind_count", "example", "--valgrind",
                           "/no/such/valgrind"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no valgrind" in done.stderr


def test_the_work_runs_outside_valgrind_too() -> None:
    """The measured work itself (what valgrind runs), once, without valgrind: it must not fail."""
    callgrind_count.work("example", 1)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (apt-get install valgrind)")
def test_a_count_of_the_corpus_is_in_a_sane_range() -> None:
    from bench.bench_corpus import corpus_dir

    if corpus_dir() is None:
        pytest.skip("the HL7 questionnaire corpus is missing (set ADAPTER_CONFORMANCE_DIR)")
    per_case = callgrind_count.count("corpus", shutil.which("valgrind") or "valgrind")
    assert 50_000 < per_case < 5_000_000
