"""The precomputed FHIRPath parse trees (adapter/fhirpath/trees.json) and the deferred ANTLR parser.

The table must be exactly what fhirpathpy's parser gives for every entry (parsed again here, so a
stale table fails), hold every expression the package ships (tools/gen_fhirpath_trees.py), and be
refused, loudly, when it was made under another fhirpathpy version. ``adapter validate`` of the
example submission must not import antlr4 (fhirpathpy's parser runtime).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from adapter import fhirpath
from adapter.fhirpath import trees, upstream

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_fhirpath_trees", ROOT / "tools" / "gen_fhirpath_trees.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_entry_is_what_fhirpathpy_parses() -> None:
    table = upstream.table()
    assert len(table) > 250
    for text in table.trees:
        fresh = upstream.fhirpathpy_parse(text)
        stored = table.get(text)
        assert stored == fresh, text
        assert json.dumps(stored) == json.dumps(fresh), text  # the same keys in the same order too


def test_the_file_is_what_the_tool_writes_now() -> None:
    """Every shipped expression is in it (a new profile constraint without a regeneration fails)."""
    tool = _tool()
    assert set(upstream.table().trees) <= set(tool.expressions())
    assert tool.render() == trees.FILE.read_text(encoding="utf-8"), "stale: run python tools/gen_fhirpath_trees.py"


def test_the_tool_collects_profile_constraints_locations_and_questionnaire_expressions() -> None:
    tool = _tool()
    found: set[str] = set()
    tool._walk({"snapshot": {"element": [{"constraint": [
        {"key": "x-1", "expression": "a.exists()",
         "extension": [{"url": tool.LOCATION_EXT, "valueString": "a.b"}]}]}]},
        "item": [{"extension": [
            {"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression",
             "valueExpression": {"language": "text/fhirpath", "expression": "%resource.item.count() > 1"}},
            {"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
             "valueExpression": {"language": "text/cql", "expression": "not fhirpath"}},
            {"url": tool.QUESTIONNAIRE_CONSTRAINT, "extension": [
                {"url": "key", "valueId": "q-1"}, {"url": "expression", "valueString": "answer.exists()"}]}]}]},
        found)
    assert found == {"a.exists()", "a.b", "%resource.item.count() > 1", "answer.exists()"}


def test_an_expression_fhirpathpy_refuses_is_left_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tool = _tool()
    monkeypatch.setattr(tool, "expressions", lambda: ["a.b", "a = #"])
    path = tmp_path / "trees.json"
    path.write_text(tool.render(), encoding="utf-8")
    table = trees.load(upstream.VERSION, path)
    assert list(table.trees) == ["a.b"] and table.get("a.b") == upstream.fhirpathpy_parse("a.b")


def test_a_table_made_under_another_fhirpathpy_is_refused_loudly(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    text = trees.FILE.read_text(encoding="utf-8")
    current = f'"fhirpathpy":{json.dumps(upstream.VERSION)}'
    assert current in text
    same = tmp_path / "same.json"
    same.write_text(text, encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text(text.replace(current, '"fhirpathpy":"0.0.1"', 1), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="adapter.fhirpath.trees"):
        assert len(trees.load(upstream.VERSION, same)) == len(upstream.table())
        assert not caplog.records
        refused = trees.load(upstream.VERSION, other)
    assert len(refused) == 0 and refused.get("true") is None
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert f"generated under fhirpathpy 0.0.1, installed is {upstream.VERSION}" in caplog.text


@pytest.mark.parametrize("damage", [
    lambda t: t[: len(t) // 2],  # cut short
    lambda t: t.replace('"format":1', '"format":2', 1),
    lambda t: t.replace('"count":', '"count":1', 1),
    lambda t: t.replace(",\n", "\n", 1),
    lambda t: json.dumps(json.loads(t)),  # valid JSON, but not a line per entry
])
def test_a_damaged_table_is_refused_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture, damage) -> None:
    path = tmp_path / "trees.json"
    path.write_text(damage(trees.FILE.read_text(encoding="utf-8")), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="adapter.fhirpath.trees"):
        assert len(trees.load(upstream.VERSION, path)) == 0
    assert "not used" in caplog.text


def test_without_a_table_every_expression_is_parsed_by_fhirpathpy(monkeypatch: pytest.MonkeyPatch) -> None:
    text = next(iter(upstream.table().trees))
    expected = upstream.table().get(text)
    monkeypatch.setattr(upstream, "_TABLE", [trees.EMPTY])
    assert upstream.parse(text) == expected
    patient = {"resourceType": "Patient", "name": [{"given": ["Ada"]}]}
    assert fhirpath.compile("Patient.name.given")(patient) == ["Ada"]


def test_each_lookup_is_a_fresh_tree() -> None:
    text = next(iter(upstream.table().trees))
    first = upstream.parse(text)
    first["children"][0]["type"] = "Changed"
    assert upstream.parse(text)["children"][0]["type"] != "Changed"


def test_an_expression_outside_the_table_is_parsed_by_fhirpathpy() -> None:
    text = "Patient.name.where(use = 'official').given.first() = 'Ada' and 1 'mg' < 2 'mg'"
    assert text not in upstream.table()
    assert upstream.parse(text) == upstream.fhirpathpy_parse(text)
    assert upstream.parse(text)["children"][0]["type"] == "AndExpression"
    with pytest.raises(Exception) as raised:  # noqa: PT011 - ANTLR's own error, as fhirpathpy raises it
        upstream.parse("Patient.name = #")
    assert type(raised.value).__name__ == "LexerNoViableAltException"


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_adapter_validate_of_the_example_imports_no_antlr4() -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "adapter", "validate", str(EXAMPLE)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "adapter.fhirpath.upstream" in imported and "fhirpathpy.engine" in imported
    assert not [m for m in imported if m == "antlr4" or m.startswith(("antlr4.", "fhirpathpy.parser."))]


def test_an_expression_outside_the_table_imports_the_parser() -> None:
    """The other side of the test above: the check sees antlr4 when it is imported."""
    done = _fresh("import sys\n"
                  "from adapter import fhirpath\n"
                  "assert 'antlr4' not in sys.modules\n"
                  "fhirpath.compile('hasValue() or (children().count() > id.count())')\n"
                  "assert 'antlr4' not in sys.modules, 'a shipped expression loaded the parser'\n"
                  "print(fhirpath.compile(\"'a' + 'b'\")({}))\n"
                  "assert 'antlr4' in sys.modules\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['ab']"


def test_fhirpathpy_works_whole_after_the_adapter_deferred_its_parser() -> None:
    done = _fresh("import sys\n"
                  "import adapter.fhirpath\n"
                  "import fhirpathpy, fhirpathpy.parser\n"
                  "from fhirpathpy.parser import parse\n"
                  "from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer\n"
                  "assert fhirpathpy.parser.ASTPathListener.__name__ == 'ASTPathListener'\n"
                  "assert parse('a')['children'][0]['type'] == 'TermExpression'\n"
                  "print(fhirpathpy.evaluate({'a': [1, 2]}, 'a.count()'), fhirpathpy.compile('a.first()')({'a': [3]}))\n"
                  "assert sys.modules['fhirpathpy.parser'].__file__.endswith('__init__.py')\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[2] [3]"


def test_fhirpathpy_imported_first_is_left_as_it_is() -> None:
    done = _fresh("import sys, fhirpathpy\n"
                  "real = sys.modules['fhirpathpy.parser']\n"
                  "from adapter.fhirpath import upstream\n"
                  "assert sys.modules['fhirpathpy.parser'] is real\n"
                  "print(upstream.parse('a.b') == real.parse('a.b'), upstream.parse('x.y.z') == real.parse('x.y.z'))\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True True"


def test_the_r4_model_read_alone_is_fhirpathpys() -> None:
    done = _fresh("import sys\n"
                  "from adapter.fhirpath import upstream\n"
                  "assert 'fhirpathpy.models' not in sys.modules\n"
                  "from fhirpathpy.models import models\n"
                  "assert upstream.MODEL == models['r4'] and set(upstream.MODEL) == set(models['r4'])\n"
                  "assert upstream.MODELS == {'r4': models['r4']} and models['r4'] != models['r5']\n"
                  "print(len(upstream.MODEL['path2Type']))\n")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 1000


def test_a_missing_parser_runtime_stops_the_import_at_once() -> None:
    """Deferring the parser must not defer a broken installation to the first unknown expression:
    with antlr4 hidden, importing the package fails at once, naming it (and without the hiding, the
    same script imports: the control)."""
    hide = ("import sys, importlib.abc\n"
            "class Hide(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'antlr4' or name.startswith('antlr4.'):\n"
            "            raise ModuleNotFoundError(name, name=name)\n"
            "        return None\n")
    probe = ("try:\n"
             "    import adapter.fhirpath\n"
             "    print('imported')\n"
             "except ModuleNotFoundError as exc:\n"
             "    print('refused', exc.name)\n")
    hidden = _fresh(hide + "sys.meta_path.insert(0, Hide())\n" + probe)
    assert hidden.returncode == 0, hidden.stderr
    assert hidden.stdout.strip() == "refused antlr4"
    control = _fresh(hide + probe)
    assert control.stdout.strip() == "imported", control.stderr
