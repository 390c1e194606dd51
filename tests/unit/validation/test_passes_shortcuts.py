"""The shortcuts of the passes beside the structure walk, each against its general path.

Issue positions: :func:`add_positions` remembers each expression's locations (``_locations``) and
turns into line and column only the offsets an issue takes. The general path works out the
locations afresh (the former code, copied here), turns every location found into line and column
(``_Scanner.scan``) and applies them (:func:`apply_positions`). Both must give the same outcome on
every example, every conformance case and hypothesis-made documents and expressions; a negative
control shows the comparison notices a wrong shortcut.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir.registry import Registry, default_registry
from adapter.validation import positions
from adapter.validation.entry import read_resource, validate
from tests.conftest import conformance_dir
from tests.unit.validation.test_positions import JSON, _locations

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("*.json"))
_CUT = re.compile(r"[.\[]")


def _corpus() -> Iterator[tuple[str, bytes, tuple[str, ...]]]:
    """(name, raw JSON, definitions) of every example, every validation case kept as data and every
    JSON conformance case. Definitions named ``plain:…`` go to an empty registry (as the data
    cases are run), others to the LISN one (as ``adapter validate --ig``)."""
    for path in EXAMPLES:
        yield path.name, path.read_bytes(), ()
    cases = ROOT / "tests" / "cases" / "validation"
    for case in yaml.safe_load((cases / "manifest.yaml").read_text(encoding="utf-8"))["cases"]:
        if str(case["input"]).endswith(".json"):
            yield (f"cases/{case['name']}", (cases / case["input"]).read_bytes(),
                   tuple(f"plain:{cases / ig}" for ig in case.get("ig") or []) or ("plain:",))
    base = conformance_dir()
    if base is None:
        return
    for name, key in (("hl7-questionnaire", "response"), ("hl7-base", "file")):
        folder = base / name
        if not (folder / "manifest.json").is_file():
            continue
        for case in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["cases"]:
            file = folder / case[key]
            if file.suffix == ".json":
                yield f"{name}/{case[key]}", file.read_bytes(), tuple(str(folder / ig) for ig in case.get("ig", []))


_REGISTRIES: dict[tuple[str, ...], Registry] = {}


def _registry(igs: tuple[str, ...]) -> Registry:
    if igs not in _REGISTRIES:
        if igs and igs[0].startswith("plain:"):
            registry = Registry()
            for ig in igs:
                if ig != "plain:":
                    registry.load_path(Path(ig[len("plain:"):]))
        else:
            registry = default_registry(list(igs)) if igs else default_registry()
        _REGISTRIES[igs] = registry
    return _REGISTRIES[igs]


CASES = list(_corpus())


def _unplaced(raw: bytes, igs: tuple[str, ...]) -> dict[str, Any] | None:
    """The outcome of a case, without positions (None for input that is not read)."""
    try:
        resource = read_resource(raw)
    except Exception:  # noqa: BLE001 - a case refused at reading has no positions to compare
        return None
    return validate(resource, _registry(igs))


# -- issue positions ---------------------------------------------------------------------------

def _wanted_inside_afresh(paths: list[list[str]], every_split: bool) -> tuple[dict[str, str], set[str]]:
    """The locations to look for, worked out as before they were remembered (the general path)."""
    wanted, inside = {"": ""}, {""}
    for issue_paths in paths:
        for path in issue_paths:
            cuts = [m.start() for m in _CUT.finditer(path)]
            cuts.append(len(path))
            for i, start in enumerate(cuts if every_split else cuts[:1]):
                ends = cuts[i:]
                for n, end in enumerate(ends):
                    part = wanted.setdefault(path[start:end], path[start:end])
                    if n < len(ends) - 1:
                        inside.add(part)
    return wanted, inside


def _positions_general(oo: dict[str, Any], raw: bytes) -> None:
    if not any(iss.get("expression") for iss in oo.get("issue", [])):
        return
    paths = [[positions._normalised(e) for e in iss.get("expression") or []] for iss in oo.get("issue", [])]
    try:
        text = raw.decode("utf-8-sig")
        spots, root = positions._Scanner(text, *_wanted_inside_afresh(paths, False)).scan()
        if "." in root or "[" in root:
            spots, root = positions._Scanner(text, *_wanted_inside_afresh(paths, True)).scan()
    except (UnicodeDecodeError, ValueError, IndexError, RecursionError):
        return
    positions.apply_positions(oo, spots, root)


def _same_positions(oo: dict[str, Any], raw: bytes) -> bool:
    fast, slow = copy.deepcopy(oo), copy.deepcopy(oo)
    positions.add_positions(fast, raw)
    _positions_general(slow, raw)
    return fast == slow


@pytest.mark.parametrize("name,raw,igs", CASES, ids=[c[0] for c in CASES])
def test_positions_of_every_case_are_those_of_the_general_path(name: str, raw: bytes, igs: tuple[str, ...]) -> None:
    oo = _unplaced(raw, igs)
    if oo is None:
        return
    assert _same_positions(oo, raw)


_STEP = st.sampled_from(["a", "b", "ab", "resourceType", "x.y", "valueString"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(alphabet="ab", min_size=1, max_size=2), JSON, max_size=5),
       st.sampled_from([None, 0, 2]), st.sampled_from(["R", "R.odd", "R[0]"]), st.data())
def test_positions_of_made_documents_are_those_of_the_general_path(
        document: dict[str, Any], indent: int | None, root: str, data: st.DataObject) -> None:
    text = json.dumps({"resourceType": root, **document}, indent=indent, ensure_ascii=False)
    every = sorted(dict(_locations(json.loads(text))))
    # expressions: locations of the document (each choice written both ways) and some that are not there
    chosen = data.draw(st.lists(st.sampled_from(every) | st.builds(lambda s, i: f".{s}[{i}]", _STEP, st.integers(0, 2)),
                                max_size=4))
    issues = [{"expression": [root + p for p in data.draw(st.permutations(chosen))[:2]]} for _ in range(2)]
    issues.append({"expression": [root + ".a.value.ofType(string)"]})
    assert _same_positions({"issue": issues}, text.encode())


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_position_shortcut_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative controls: a shortcut that gets the line wrong, or that forgets the locations holding
    the wanted one (so that the scan never enters them), fails the comparison."""
    raw = json.dumps({"resourceType": "QuestionnaireResponse", "status": "completed",
                      "item": [{"linkId": "a", "answer": [{"valueString": "x"}]}]}, indent=2).encode()
    oo = {"issue": [{"expression": ["QuestionnaireResponse.item[0].answer[0].value.ofType(string)"]}]}
    assert _same_positions(oo, raw)
    real = positions._apply

    def one_line_off(oo: Any, paths: Any, spots: Any, root: str, line_col: Any = None) -> None:
        real(oo, paths, spots, root, line_col and (lambda offset: (line_col(offset)[0] + 1, None)))

    monkeypatch.setattr(positions, "_apply", one_line_off)  # only the shortcut passes a line_col
    assert not _same_positions(oo, raw)
    monkeypatch.undo()
    monkeypatch.setattr(positions, "_locations", lambda path, every_split: ((path, False),))
    assert not _same_positions(oo, raw)



def test_issues_out_of_text_order_count_each_newline_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines are worked out for the offsets the issues take in increasing order (a scan of the text
    from its start for every issue out of order would make many issues cost text x issues)."""
    items = [{"linkId": f"x{i}", "answer": [{"valueString": "v"}]} for i in range(30)]
    raw = json.dumps({"resourceType": "QuestionnaireResponse", "item": items}, indent=1).encode()
    oo = {"issue": [{"expression": [f"QuestionnaireResponse.item[{i}].answer[0]"]} for i in reversed(range(30))]}
    asked: list[int] = []
    real = positions._Scanner.line_col

    def recorded(self: Any, offset: int) -> tuple[int, int | None]:
        asked.append(offset)
        return real(self, offset)

    monkeypatch.setattr(positions._Scanner, "line_col", recorded)
    assert _same_positions(oo, raw)
    fast = asked[:30]  # the shortcut's calls come first (the general path then converts every location found)
    assert len(fast) == 30 and fast == sorted(fast)


def test_plain_values_skipped_with_their_next_key_are_noticed_when_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan reads a skipped plain value and the next key in one match (``_SKIP_TO_NEXT_KEY``);
    the general path is the scan asked for every location (it never skips). Made documents are
    compared so in test_positions_sparse; here a skip that passes over a key is shown to be caught."""
    text = json.dumps({"resourceType": "R", "a": "x", "b": 2, "c": "y", "d": {"e": True}}, indent=1)
    every = dict(_locations(json.loads(text)))
    full, _ = positions._Scanner(text, set(every)).scan()

    def sparse_is_full() -> bool:
        wanted, inside = positions._wanted_inside([["R.b"], ["R.d.e"]], every_split=False)
        spots, root = positions._Scanner(text, wanted, inside).scan()
        return root == "R" and spots == {p: full[p] for p in wanted}

    assert sparse_is_full()
    value = r'(?:"[^"\\]*+"|[\-0-9.eE+]++|true|false|null)'
    two_at_once = re.compile(rf'[ \t\r\n]*+{value}[ \t\r\n]*+(?:\}}|,[ \t\r\n]*+"[^"\\]*+"[ \t\r\n]*+:'
                             rf'[ \t\r\n]*+{value}[ \t\r\n]*+,[ \t\r\n]*+"([^"\\]*+)"[ \t\r\n]*+:)')
    monkeypatch.setattr(positions, "_SKIP_TO_NEXT_KEY", two_at_once)  # passes over every other key
    assert not sparse_is_full()


# -- the QuestionnaireResponse walk --------------------------------------------------------------

def _with_plans(monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    """Plans made afresh (an empty memo), each changed by ``change``."""
    from adapter.validation import answers, questionnaire_response

    monkeypatch.setattr(answers, "_MEMO", {})
    made = questionnaire_response._plan
    monkeypatch.setattr(questionnaire_response, "_plan", lambda qitem: change(made(qitem)))


def _outcomes() -> list[tuple[str, dict[str, Any] | None]]:
    return [(name, _unplaced(raw, igs)) for name, raw, igs in CASES if b"QuestionnaireResponse" in raw]


def test_items_without_sdc_expressions_skip_the_sdc_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk calls the SDC checks only for items whose plan says they have an expression; the
    general path (every item's plan saying so) gives the same outcome for every case."""
    import dataclasses

    fast = _outcomes()
    assert any(name.startswith("cases/sdc-calculated") for name, _ in fast)
    _with_plans(monkeypatch, lambda plan: dataclasses.replace(plan, sdc=True))
    assert _outcomes() == fast
    # negative control: a plan that says no expression where there is one hides the SDC issues
    _with_plans(monkeypatch, lambda plan: dataclasses.replace(plan, sdc=False))
    assert _outcomes() != fast


# -- Bundle references -----------------------------------------------------------------------------

def _references_general(resource: Any, path: str) -> list[tuple[str, str]]:
    """Every Reference.reference with its location: the plain walk (the former code)."""
    found: list[tuple[str, str]] = []

    def visit(value: Any, where: str) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and not ref.startswith("#") and where != path:
                found.append((ref, where))
            for key, child in value.items():
                if key != "contained" and isinstance(child, (dict, list)):
                    visit(child, f"{where}.{key}")
        else:
            for i, item in enumerate(value):
                if isinstance(item, (dict, list)):
                    visit(item, f"{where}[{i}]")

    if isinstance(resource, (dict, list)):
        visit(resource, path)
    return found


def _resources() -> Iterator[Any]:
    for _name, raw, _igs in CASES:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        yield data
        for entry in data.get("entry") or [] if isinstance(data, dict) and isinstance(data.get("entry"), list) else []:
            yield entry.get("resource") if isinstance(entry, dict) else entry


def _ref_holders(inner: Any) -> Any:
    keys = st.sampled_from(["reference", "contained", "a", "b", "resourceType"])
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3)


REF = st.recursive(st.none() | st.integers() | st.sampled_from(["#a", "Patient/1", "urn:uuid:1", ""]),
                   _ref_holders, max_leaves=20)


def _agrees_on_every_case(walk: Any) -> bool:
    found = [(walk(resource, "X"), _references_general(resource, "X")) for resource in _resources()]
    assert sum(len(general) for _, general in found) > 50  # the cases do hold references
    return all(fast == general for fast, general in found)


def test_references_of_every_case_are_those_of_the_plain_walk() -> None:
    from adapter.validation.bundle import references

    assert _agrees_on_every_case(references)
    # negative control: a walk that loses the last reference of a resource is caught
    assert not _agrees_on_every_case(lambda resource, path: references(resource, path)[:-1])


@settings(max_examples=300, deadline=None)
@given(REF)
def test_references_of_made_values_are_those_of_the_plain_walk(value: Any) -> None:
    from adapter.validation.bundle import references

    assert references(value, "X") == _references_general(value, "X")


def test_resolving_by_the_fullurl_index_is_resolving_by_every_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """``resolve_reference`` with :func:`entries_by_full_url` gives what looking at every entry gives,
    for every reference of every Bundle case (and each reference made relative and versioned);
    negative control: an index that misses an entry is caught."""
    from adapter.validation import bundle_rules

    def both(index: Any) -> Iterator[tuple[list[int], list[int]]]:
        for data in _resources():
            if not (isinstance(data, dict) and isinstance(data.get("entry"), list)):
                continue
            entries = data["entry"]
            by_url = index(entries)
            for entry in entries:
                for ref, _ in _references_general(entry.get("resource") if isinstance(entry, dict) else None, ""):
                    full = entry.get("fullUrl") if isinstance(entry, dict) else None
                    for r in (ref, ref.rsplit("/", 2)[-2] + "/" + ref.rsplit("/", 1)[-1] if ref.count("/") > 1 else ref,
                              ref + "/_history/1"):
                        yield (bundle_rules.resolve_reference(entries, r, full, by_url),
                               bundle_rules.resolve_reference(entries, r, full))

    pairs = list(both(bundle_rules.entries_by_full_url))
    assert len(pairs) > 50 and any(fast for fast, _ in pairs)
    assert all(fast == slow for fast, slow in pairs)
    missing_first = lambda entries: {u: i[1:] for u, i in bundle_rules.entries_by_full_url(entries).items()}  # noqa: E731
    assert any(fast != slow for fast, slow in both(missing_first))


# -- the JSON depth limit --------------------------------------------------------------------------

def _depth(value: Any) -> int:
    """How deep containers nest in ``value`` (a scalar 0, ``{}`` 1): the general definition."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _level_check_agrees(too_deep: Any, value: Any) -> bool:
    depth = _depth(value)
    text = json.dumps(value)
    return all(too_deep(value, limit, given) == (depth > 0 and depth > limit)  # a scalar is never too deep
               for limit in {-1, 0, 1, depth - 1, depth, depth + 1, 64} for given in (None, text))


def _nested(inner: Any) -> Any:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="ab", max_size=2), inner, max_size=3)


NESTED = st.recursive(st.none() | st.integers() | st.text(alphabet="{[]}a", max_size=3), _nested, max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(NESTED)
def test_the_depth_check_level_by_level_is_the_depth(value: Any) -> None:
    from adapter.fhir.parse import _too_deep

    assert _level_check_agrees(_too_deep, value)


def test_the_depth_check_of_every_case_and_a_wrong_one() -> None:
    from adapter.fhir.parse import _too_deep

    values = []
    for _, raw, _ in CASES:
        try:
            values.append(json.loads(raw))
        except ValueError:
            continue  # (cases of malformed JSON)
    assert len(values) > 100 and all(_level_check_agrees(_too_deep, v) for v in values)
    deep = [[[[[[1]]]]]] * 3
    assert _level_check_agrees(_too_deep, deep)
    # negative control: a check one level short is caught
    assert not _level_check_agrees(lambda value, limit, text=None: _too_deep(value, limit + 1, text), deep)


# -- identifiers ----------------------------------------------------------------------------------

class _PlainScan:
    """The identifier walk as it was (methods on the scan object): the general path."""

    KEYS, CODINGS = ("identifier", "valueIdentifier"), ("coding", "valueCoding")

    def __init__(self, issues: Any, path: str, form: bool, test_environment: bool) -> None:
        self.issues, self.path, self.form, self.test_environment = issues, path, form, test_environment
        self.steps: list[str | int] = []

    def where(self) -> str:
        return self.path + "".join(f".{s}" if isinstance(s, str) else f"[{s}]" for s in self.steps)

    def object(self, value: dict[str, Any], key: str) -> None:
        from adapter.validation import identifiers

        if key in self.KEYS:
            identifiers._check_identifier(value, self, self.test_environment)  # type: ignore[arg-type]
        elif key in self.CODINGS:
            identifiers._check_icd(value, self, self.form)  # type: ignore[arg-type]
        for child_key, child in value.items():
            if child_key == "contained":
                continue
            if isinstance(child, list):
                self.steps.append(child_key)
                self.array(child, child_key)
                self.steps.pop()
            elif isinstance(child, dict) and "resourceType" not in child:
                self.steps.append(child_key)
                self.object(child, child_key)
                self.steps.pop()

    def array(self, value: list[Any], key: str) -> None:
        for i, item in enumerate(value):
            if isinstance(item, (dict, list)):
                self.steps.append(i)
                (self.object if isinstance(item, dict) else self.array)(item, key)  # type: ignore[operator]
                self.steps.pop()


def _identifier_issues(resource: dict[str, Any], plain: bool, test_environment: bool = False) -> list[dict[str, Any]]:
    from adapter.issues import Issues
    from adapter.validation import identifiers

    issues = Issues()
    if plain:
        _PlainScan(issues, "R", resource.get("resourceType") != "QuestionnaireResponse", test_environment).object(resource, "")
    else:
        identifiers.validate_identifiers(resource, issues, path="R", test_environment=test_environment)
    return issues.items


_SYSTEMS = ["http://electronichealth.se/identifier/personnummer", "urn:oid:1.2.752.29.4.19", "urn:oid:2.5.4.97",
            "urn:oid:1.2.752.116.1.1.1", "1.2.752.116.1.1.1.1.3", "x"]
_IDENT = st.fixed_dictionaries({"system": st.sampled_from(_SYSTEMS),
                                "value": st.sampled_from(["191212121212", "191212121213", "SE2321000016-1", "x"]),
                                "code": st.sampled_from(["F32", "A00", "F321", "x"])})
def _identifier_holders(inner: Any) -> Any:
    keys = st.sampled_from(["identifier", "valueIdentifier", "coding", "valueCoding", "contained", "item", "resourceType"])
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner | st.just("Patient"), max_size=3)


_HOLDER = st.recursive(_IDENT, _identifier_holders, max_leaves=12)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@settings(max_examples=300, deadline=None)
@given(_HOLDER, st.sampled_from(["Patient", "QuestionnaireResponse"]), st.booleans())
def test_identifier_issues_of_made_resources_are_those_of_the_plain_walk(
        holder: Any, rtype: str, test_environment: bool) -> None:
    resource = {"resourceType": rtype, "x": holder}
    assert (_identifier_issues(resource, False, test_environment)
            == _identifier_issues(resource, True, test_environment))


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_identifier_issues_of_every_case_are_those_of_the_plain_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapter.validation import scan

    resources = [r for r in _resources() if isinstance(r, dict)]
    assert all(_identifier_issues(r, False) == _identifier_issues(r, True) for r in resources)
    bad = {"resourceType": "Patient", "extension": [{"valueIdentifier": {"system": _SYSTEMS[0], "value": "191212121213"}}]}
    assert _identifier_issues(bad, False) == _identifier_issues(bad, True) != []
    # negative control: a walk that no longer looks under valueIdentifier is caught
    monkeypatch.delitem(scan._KINDS, "valueIdentifier")
    assert _identifier_issues(bad, False) != _identifier_issues(bad, True)


# -- UCUM terms ------------------------------------------------------------------------------------

_ATOMS = ["m", "g", "s", "L", "min", "h", "[in_i]", "[lb_av]", "%", "1", "mg", "kg", "dL", "mmol", "x", "[x]"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_ATOMS), st.sampled_from(["", "2", "-1", "3"])), min_size=1, max_size=4),
       st.lists(st.tuples(st.sampled_from(_ATOMS), st.sampled_from(["", "2"])), max_size=2),
       st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-10**6, max_value=10**6))
def test_remembered_unit_terms_are_worked_out_terms(top: list[tuple[str, str]], bottom: list[tuple[str, str]],
                                                    value: Any) -> None:
    """``canonical`` (terms remembered when short) is what working every term out gives."""
    from adapter.validation import quantities

    code = ".".join(a + e for a, e in top) + ("/" + ".".join(a + e for a, e in bottom) if bottom else "")
    for _ in range(2):  # the second time from the memory
        assert quantities.canonical(value, code) == _canonical_worked_out(value, code)


def _canonical_worked_out(value: Any, code: str) -> Any:
    from decimal import Decimal

    from adapter.validation import quantities

    num, _, den = code.partition("/")
    top, bottom = quantities._product(num), quantities._product(den) if den else (Decimal(1), (0, 0, 0, 0, 0))
    if top is None or bottom is None:
        return None
    return value * top[0] / bottom[0], tuple(a - b for a, b in zip(top[1], bottom[1]))


def test_a_wrong_remembered_term_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a memory that answers for another unit is caught by the comparison."""
    from decimal import Decimal

    from adapter.validation import quantities

    assert quantities.canonical(Decimal(5), "mg/dL") == _canonical_worked_out(Decimal(5), "mg/dL")
    monkeypatch.setattr(quantities, "_short_term", lambda text: quantities._product("g"))
    assert quantities.canonical(Decimal(5), "mg/dL") != _canonical_worked_out(Decimal(5), "mg/dL")


# -- UTF-8 with an optional byte order mark ---------------------------------------------------------

def _decoded(decode: Any, raw: bytes) -> Any:
    try:
        return decode(raw)
    except UnicodeDecodeError as exc:
        return ("error", exc.start, exc.end, exc.reason, exc.object)


_BYTES = st.lists(st.sampled_from([b"\xef\xbb\xbf", b"{", b"a", b"\xc3\xa9", b"\xc3", b"\xff", b"\xef\xbb", b"\xed\xa0\x80"]),
                  max_size=6).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(_BYTES)
def test_utf8_with_a_bom_is_the_codec(raw: bytes) -> None:
    from adapter.fhir.parse import decode_utf8_sig

    assert _decoded(decode_utf8_sig, raw) == _decoded(lambda b: b.decode("utf-8-sig"), raw)


def test_utf8_with_a_bom_of_every_case_and_a_wrong_one() -> None:
    from adapter.fhir.parse import decode_utf8_sig

    inputs = [raw for _, raw, _ in CASES] + [b"\xef\xbb\xbf" + raw for _, raw, _ in CASES[:20]] + [b"\xef\xbb\xbf\xff"]
    assert all(_decoded(decode_utf8_sig, r) == _decoded(lambda b: b.decode("utf-8-sig"), r) for r in inputs)
    # negative control: a decoder that keeps the byte order mark is caught
    assert not all(_decoded(lambda b: b.decode("utf-8"), r) == _decoded(lambda b: b.decode("utf-8-sig"), r)
                   for r in inputs)
