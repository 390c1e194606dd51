"""The arithmetic behind the benchmark figures: percentiles, linearity fit, grown certificates."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench import bench_cli, certificates, growth, stats


def test_percentile_interpolates() -> None:
    values = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert stats.percentile(values, 50) == 2.0
    assert stats.percentile(values, 95) == pytest.approx(3.8)
    assert stats.percentile([7.0], 99) == 7.0


def test_summarise_rate_and_milliseconds() -> None:
    s = stats.summarise([0.001, 0.002, 0.003, 0.004], wall_s=2.0)
    assert s["n"] == 4 and s["per_second"] == 2.0
    assert s["p50_ms"] == pytest.approx(2.5) and s["max_ms"] == pytest.approx(4.0)


def test_ratio_is_baseline_over_subject() -> None:
    assert stats.ratio({"mean_ms": 2.0}, {"mean_ms": 1.0}) == 0.5


def test_slope_of_linear_cost_is_one() -> None:
    assert growth.loglog_slope([1, 10, 100], [3, 30, 300]) == pytest.approx(1.0)


def test_slope_of_quadratic_cost_is_two() -> None:
    slope = growth.loglog_slope([1, 10, 100], [1, 100, 10000])
    assert slope == pytest.approx(2.0)
    assert slope > growth.LINEAR_SLOPE_LIMIT


def test_distinct_certificate_ids() -> None:
    base = certificates.example()
    a, b = certificates.with_certificate_id(base), certificates.with_certificate_id(base)
    ids = {certificates.response_of(x)["identifier"]["value"] for x in (base, a, b)}
    assert len(ids) == 3
    assert a["identifier"] != b["identifier"]


@pytest.mark.parametrize("factor", [1, 10, 100])
def test_grown_certificate_repeats_grund_and_lengthens_text(factor: int) -> None:
    base = certificates.example()
    big = certificates.grown(base, factor)
    grund = [i for i in certificates.response_of(big)["item"] if i["linkId"] == "grund"]
    assert len(grund) == 2 * factor
    text = next(i for i in certificates.response_of(big)["item"] if i["linkId"] == "funktionsnedsattning")
    orig = next(i for i in certificates.response_of(base)["item"] if i["linkId"] == "funktionsnedsattning")
    assert len(text["answer"][0]["valueString"]) == factor * len(orig["answer"][0]["valueString"]) + factor - 1


def test_cli_subjects_write_and_read_pyc_files_unless_told_not_to(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    """An installed package has its .pyc files: the subjects run without PYTHONDONTWRITEBYTECODE, even
    when the calling environment sets it, so the warm-up run writes them; --no-pyc sets it."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    for _, env, _ in bench_cli.subjects().values():
        assert env is not None and "PYTHONDONTWRITEBYTECODE" not in env
    assert bench_cli.subject_env(pyc=False)["PYTHONDONTWRITEBYTECODE"] == "1"
    for pyc, folder in ((True, tmp_path / "with"), (False, tmp_path / "without")):
        folder.mkdir()
        (folder / "probe_module.py").write_text("X = 1\n")
        bench_cli.run_once([sys.executable, "-c", "import probe_module"], bench_cli.subject_env(pyc), folder)
        assert (folder / "__pycache__").is_dir() is pyc, pyc


def test_cli_no_pyc_subjects_import_a_copy_without_byte_compiled_files(tmp_path: Path) -> None:
    source = bench_cli.source_copy(tmp_path)
    assert (source / "adapter" / "cli" / "__init__.py").is_file()
    assert not list(source.rglob("__pycache__")) and not list(source.rglob("*.pyc"))
    commands = bench_cli.subjects(pyc=False, source=source)
    argv, env, cwd = commands["python -m adapter validate"]
    assert cwd == source and env is not None and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert bench_cli._imported_from(cwd, env).is_relative_to(source.resolve())
    _, baseline_env, _ = commands[bench_cli.BASELINE]
    assert baseline_env is not None and str(source) not in baseline_env.get("PYTHONPATH", "")
    assert not list(source.rglob("*.pyc"))  # importing it wrote none


def test_the_fhirpathpy_variant_evaluates_every_invariant_with_fhirpathpy() -> None:
    """bench_validate's ``validate, FHIRPath by fhirpathpy``: no compiled or direct form may survive
    from an earlier run (the evaluation plans held them, and the variant measured our own engine)."""
    from adapter import fhirpath
    from adapter.validation import invariants, validate_bytes
    from bench import bench_validate

    raw = bench_validate.EXAMPLE.read_bytes()
    validate_bytes(raw)  # plans made with the compiler
    assert any(isinstance(fn, fhirpath.Expression) and fn.compiled is not None
               for _, fn in invariants._PLANS.values())
    with bench_validate._variant("fhirpathpy"):
        validate_bytes(raw)
        used = [fn for _, fn in invariants._PLANS.values() if isinstance(fn, fhirpath.Expression)]
        assert used and all(fn.compiled is None and fn.direct is None for fn in used)
    validate_bytes(raw)
    assert any(isinstance(fn, fhirpath.Expression) and fn.compiled is not None
               for _, fn in invariants._PLANS.values())


def test_bench_warm_baseline_is_the_shipped_config_without_its_warm_up(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """bench_warm's baseline differs from deploy/gunicorn.conf.py in the hook's warm-up alone."""
    import gc
    import runpy

    from adapter.validation import warm
    from bench import bench_warm, http_e2e

    config = tmp_path / "no-warm-up.conf.py"
    config.write_text(bench_warm._NO_WARM_UP.format(shipped=str(http_e2e.SHIPPED_CONFIG)), encoding="utf-8")
    shipped, cold = runpy.run_path(str(http_e2e.SHIPPED_CONFIG)), runpy.run_path(str(config))
    settings = {k for k in shipped if not k.startswith("__") and k not in ("post_worker_init", "multiprocessing", "os")}
    assert settings and all(cold[k] == shipped[k] for k in settings)
    calls: list[int] = []
    monkeypatch.setattr(warm, "warm_up", lambda: calls.append(1) or 0)
    try:
        cold["post_worker_init"](None)
        assert calls == []  # the baseline's hook does not warm up
        shipped["post_worker_init"](None)
        assert calls == [1]  # the shipped one does
    finally:
        gc.unfreeze()
