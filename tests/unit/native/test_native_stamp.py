"""The compiled validator's start-up check (``adapter/native.py``): a C extension built from an older
source would shadow the source without a word, so a stale or half build stops the process at
import with one line (and ``adapter`` exits 3), and ``ADAPTER_REQUIRE_NATIVE=1`` turns a missing
build into the same stop instead of a quiet pure-Python run.

The checks run on a copy of the package in a temporary folder (placeholder extension files: the
check runs before any of them would load), and one runs the real ``adapter validate`` process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import pytest

from adapter import native

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
SUFFIX = EXTENSION_SUFFIXES[0]
MODULES = ["adapter/validation/scan.py", "adapter/fhirpath/env.py"]


def _package(tmp_path: Path, *, stamp: bool = True, extensions: bool = True) -> Path:
    """A package folder laid out as a build leaves it, for :func:`native.check` pointed at it."""
    pkg = tmp_path / "adapter"
    for path in MODULES:
        source = tmp_path / path
        source.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, source)
        if extensions:
            source.with_suffix(SUFFIX).write_bytes(b"")
    if stamp:
        modules = {p: native.source_digest((tmp_path / p).read_bytes()) for p in MODULES}
        (pkg / "_native.json").write_text(json.dumps({"compiler": "mypyc", "modules": modules}))
    return pkg


def _edit(source: Path) -> None:
    with source.open("a") as f:
        f.write("\n# edited\n")


@pytest.fixture
def point(monkeypatch: pytest.MonkeyPatch) -> Any:
    def to(pkg: Path) -> Any:
        monkeypatch.setattr(native, "PACKAGE", pkg)
        monkeypatch.setattr(native, "STAMP", pkg / "_native.json")
        monkeypatch.setattr(native, "_checked", None)
        monkeypatch.delenv("ADAPTER_REQUIRE_NATIVE", raising=False)
        return native.check
    return to


def test_a_build_made_from_the_sources_beside_it_passes(tmp_path: Path, point: Any) -> None:
    state = point(_package(tmp_path))()
    assert state == {"compiled": True, "modules": 2, "compiler": "mypyc"}


def test_no_build_passes_as_pure_python(tmp_path: Path, point: Any) -> None:
    state = point(_package(tmp_path, stamp=False, extensions=False))()
    assert state["compiled"] is False


def test_a_source_edited_after_the_build_stops_the_start(tmp_path: Path, point: Any) -> None:
    pkg = _package(tmp_path)
    _edit(tmp_path / MODULES[1])
    with pytest.raises(native.NativeBuildError, match=r"adapter/fhirpath/env\.py changed after it was compiled"):
        point(pkg)()


def test_extensions_without_a_stamp_stop_the_start(tmp_path: Path, point: Any) -> None:
    with pytest.raises(native.NativeBuildError, match="without a build stamp"):
        point(_package(tmp_path, stamp=False))()


def test_a_missing_extension_stops_the_start(tmp_path: Path, point: Any) -> None:
    pkg = _package(tmp_path)
    (tmp_path / MODULES[0]).with_suffix(SUFFIX).unlink()
    with pytest.raises(native.NativeBuildError, match=r"adapter/validation/scan\.py: its compiled module is missing"):
        point(pkg)()


def _required_stops(check: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "_checked", None)
    monkeypatch.setenv("ADAPTER_REQUIRE_NATIVE", "1")
    with pytest.raises(native.NativeBuildError, match="ADAPTER_REQUIRE_NATIVE=1"):
        check()


def test_a_required_build_that_is_not_there_stops_the_start(tmp_path: Path, point: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _required_stops(point(_package(tmp_path, stamp=False, extensions=False)), monkeypatch)


def test_a_build_for_another_python_is_not_taken_as_compiled(tmp_path: Path, point: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = _package(tmp_path)
    for path in MODULES:
        ext = (tmp_path / path).with_suffix(SUFFIX)
        ext.rename(ext.with_name(ext.name.replace(SUFFIX, ".cpython-39-x86_64-linux-gnu.so")))
    check = point(pkg)
    assert check()["compiled"] is False  # present, but this interpreter would import the .py files
    _required_stops(check, monkeypatch)


def test_without_the_fingerprint_a_stale_build_would_pass(tmp_path: Path, point: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the same edit as above goes through once the fingerprint does not see it."""
    pkg = _package(tmp_path)
    _edit(tmp_path / MODULES[1])
    real = native.source_digest

    def _blind(data: bytes) -> str:  # a fingerprint that does not see the edit
        return real(data.removesuffix(b"\n# edited\n"))

    monkeypatch.setattr(native, "source_digest", _blind)
    assert point(pkg)()["compiled"] is True


def test_adapter_validate_with_a_stale_build_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """The real process, on a copy of the package whose stamp names a source that has since changed."""
    shutil.copytree(ROOT / "adapter", tmp_path / "adapter", ignore=shutil.ignore_patterns("*.so", "_native.json"))
    _package(tmp_path)
    _edit(tmp_path / MODULES[0])
    env = {k: v for k, v in os.environ.items() if k != "ADAPTER_REQUIRE_NATIVE"}
    env["PYTHONPATH"] = str(tmp_path)
    for args in (["validate", str(EXAMPLE)], ["--version"]):
        done = subprocess.run([sys.executable, "-m", "adapter", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)
        assert done.returncode == 3, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert "adapter/validation/scan.py changed after it was compiled" in done.stderr
        assert done.stdout == ""


def test_the_build_script_stamps_with_the_fingerprint_the_check_reads() -> None:
    spec = importlib.util.spec_from_file_location("native_build", ROOT / "native" / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for data in (b"", b"x", (ROOT / MODULES[0]).read_bytes()):
        assert build.source_digest(data) == native.source_digest(data)
    assert native.source_digest(b"a") != native.source_digest(b"b")
    listed = build.modules()
    assert set(MODULES) <= set(listed) and not [m for m in listed if m.endswith("__init__.py")]


def test_the_build_without_a_compiler_is_one_line_and_exit_3_and_changes_nothing(tmp_path: Path) -> None:
    before = sorted(p.name for p in (ROOT / "adapter" / "validation").iterdir())
    done = subprocess.run([sys.executable, str(ROOT / "native" / "build.py")], capture_output=True, text=True,
                          env=dict(os.environ, CC=str(tmp_path / "no-such-cc")), timeout=120)
    assert done.returncode == 3
    assert done.stderr == f"native/build.py: no C compiler ({tmp_path / 'no-such-cc'}) on PATH\n"
    assert sorted(p.name for p in (ROOT / "adapter" / "validation").iterdir()) == before


def test_the_build_lists_the_modules_it_compiles() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "native" / "build.py"), "--list"], capture_output=True,
                          text=True, timeout=120)
    listed = done.stdout.split()
    assert done.returncode == 0 and len(listed) == 36
    assert "adapter/validation/walkgen.py" in listed and "adapter/fhirpath/fhir.py" not in listed
