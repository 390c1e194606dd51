"""``stats.row.statistics_row`` walks the response once and reuses the walk for the period (1.0:
the response itself) instead of walking it again for the index, the period, the activities and the
hours. Compared with the row computed the general way (each part from its own walk, as before) on
synthetic certificates, the examples (1.0 and 1.1) and random mutations of them (items removed,
duplicated, periods emptied); negative control: a row that takes the whole response for the period
is caught."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.submission import Submission
from adapter.stats import codes, row, synth
from adapter.stats.codes import UNKNOWN

ROOT = Path(__file__).resolve().parents[3]
AT = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def general_row(bundle: dict[str, Any], received_at: datetime) -> row.StatisticsRow:
    """The row as it was computed: every part from a walk of its own."""
    sub = Submission(bundle)
    qr = sub.response or {}
    found = row._index(qr)
    period = row._first_period(qr)
    signed = row._date(qr.get("authored")) or received_at.date()
    debut = row._first_date(found.get("debut", []))
    debut_days = (signed - debut).days if debut else None
    sex, born = row.person_facts(sub)
    return row.StatisticsRow(
        sex=sex, age_band=codes.band(row._age(born, received_at.date()), codes.AGE_BANDS),
        kommunkod=sub.kommunkod or UNKNOWN, region=codes.region_of(sub.kommunkod),
        care_provider=row._care_provider(sub), month=received_at.strftime("%Y-%m"),
        template_version=row._template_version(sub.questionnaire),
        diagnosis_chapter=codes.icd10_chapter(row._first_code(found.get("diagnos.kod", []))),
        work_capacity=row._first_code(found.get("formaga.arbete", [])) or UNKNOWN,
        activity_band=codes.band(row._activity_hours(period), codes.ACTIVITY_BANDS),
        prognosis=row._first_code(found.get("prognos.typ", [])) or UNKNOWN,
        debut_days=debut_days, debut_band=codes.band(debut_days, codes.DAY_BANDS),
        replacement=sub.event == "certificate-replacement",
        activities=row._activities(period),
        measures=tuple(sorted(set(row._codes(found.get("atgarder.typ", []))))))


def _nodes(qr: dict[str, Any]) -> list[list[Any]]:
    """Every item list in the response (``item`` of the response, of items and of answers)."""
    out, stack = [], [qr]
    while stack:
        node = stack.pop()
        for key in ("item", "answer"):
            children = node.get(key)
            if isinstance(children, list):
                if key == "item":
                    out.append(children)
                stack.extend(c for c in children if isinstance(c, dict))
    return out


def _mutated(bundle: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    qr = Submission(out).response or {}
    for _ in range(rng.randint(1, 3)):
        lists = [x for x in _nodes(qr) if x]
        if not lists:
            break
        chosen = rng.choice(lists)
        at = rng.randrange(len(chosen))
        action = rng.random()
        if action < 0.5:
            del chosen[at]
        elif action < 0.8:
            chosen.insert(at, copy.deepcopy(chosen[at]))
        else:
            chosen[at].pop("item", None)
    return out


def _bundles() -> list[dict[str, Any]]:
    examples = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "profiles/examples").glob("Bundle-*.json"))]
    rng = random.Random(15)
    mutated = [_mutated(rng.choice(examples), rng) for _ in range(600)]
    return examples + mutated + list(synth.synthetic_certificates(150))


def _differences() -> int:
    return sum(row.statistics_row(b, AT) != general_row(b, AT) for b in _bundles())


def test_the_one_walk_row_is_the_general_row() -> None:
    bundles = _bundles()
    assert any(row._first_period(Submission(b).response or {}) is not (Submission(b).response or {}) for b in bundles)
    assert _differences() == 0


_TRUE_FIRST_PERIOD = row._first_period


def _general_with_true_period(bundle: dict[str, Any]) -> row.StatisticsRow:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(row, "_first_period", _TRUE_FIRST_PERIOD)
        return general_row(bundle, AT)


def test_negative_control_the_response_for_the_period_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast row made wrong (the whole response taken for the period): the comparison with the
    general row (its true period restored) must notice."""
    monkeypatch.setattr(row, "_first_period", lambda qr, items=None: qr)
    assert sum(row.statistics_row(b, AT) != _general_with_true_period(b) for b in _bundles()) > 0
