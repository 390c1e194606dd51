"""``python -m bench --quick`` runs every section and writes the JSON the docs are made from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import __main__ as bench_main

pytestmark = pytest.mark.slow  # the short benchmark run: about 45 s

ROOT = Path(__file__).resolve().parents[2]
RATE_KEYS = {"n", "per_second", "mean_ms", "min_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    # The PostgreSQL server of the test suite (tests/conftest.py); the bench makes a scratch
    # database beside the one named there and drops it afterwards.
    test_db = os.environ.get("ADAPTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/adapter_test")
    admin = test_db.rsplit("/", 1)[0] + "/postgres"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out), "--postgres-url", admin],
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "validation" in proc.stdout and "growth" in proc.stdout  # the table was printed
    return json.loads(out.read_text())


def test_every_section_ran(results: dict) -> None:
    assert set(bench_main.SECTIONS) <= set(results)
    for name in bench_main.SECTIONS:
        assert results[name]["status"] == "ok", (name, results[name].get("reason"))
    assert results["quick"] is True and results["machine"]["nproc"] >= 1


@pytest.mark.parametrize(("section", "subject", "baseline"), [
    ("validation", "adapter_validate", "baseline_fhir_resources_r4b_parse"),
    ("transform_sign", "adapter_transform_sign", "baseline_bare_signxml_sign"),
])
def test_micro_sections_have_rates_and_a_ratio(results: dict, section: str, subject: str, baseline: str) -> None:
    data = results[section]
    assert set(data[subject]) >= RATE_KEYS and set(data[baseline]) >= RATE_KEYS
    assert data[subject]["per_second"] > 0 and data["ratio_vs_baseline"] > 0 and data["ratio_by_cpu"] > 0


def test_http_runs_on_each_database_at_each_level(results: dict) -> None:
    http = results["http"]
    assert http["server"] == "deploy/gunicorn.conf.py"  # the shipped configuration is what is measured
    if os.environ.get("ADAPTER_REQUIRE_POSTGRES"):
        assert isinstance(http["databases"].get("postgresql"), list), http["databases"].get("postgresql")
    for db, runs in http["databases"].items():
        if db == "postgresql" and isinstance(runs, dict):
            continue  # no server outside CI: reported as unavailable, with the reason

        assert [r["submit"]["concurrency"] for r in runs] == http["levels"], db
        for r in runs:
            assert r["submit"]["ok"] == r["submit"]["requests"] > 0, (db, r["submit"]["status_codes"])
            assert set(r["submit"]) >= RATE_KEYS and r["ratio_vs_baseline"] > 0
            assert r["submit"]["server_cpu_ms_per_request"] > 0 and r["submit"]["loadavg_at_start"] >= 0


def test_growth_fits_every_stage(results: dict) -> None:
    stages = results["growth"]["stages"]
    assert {"parse", "parse_validate", "parse_transform"} <= set(stages)
    for data in stages.values():
        assert [r["factor"] for r in data["rows"]] == [1, 10, 100]
        assert isinstance(data["linear"], bool) and data["time_slope"] > 0


def test_cli_section_times_whole_processes_against_the_bundle_import(results: dict) -> None:
    cli = results["cli"]
    assert {"python -m adapter validate", "fhir.resources Bundle import", "python -c pass"} <= set(cli["subjects"])
    assert cli["pyc"] is True  # as installed: the adapter's .pyc files written by the warm-up run and read
    for name, s in cli["subjects"].items():
        assert s["runs"] == cli["rounds"] and s["wall_p50_ms"] > 0 and s["max_rss_mb"] > 0, name
    assert cli["ratio_wall_vs_baseline"]["python -m adapter validate"] > 0
