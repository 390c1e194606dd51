"""The statistics over HTTP (issue 19): only the role statistics (and admin) reads them, only
aggregates, each read audited; the role reads no certificate; the JSON table and the MeasureReport
agree with a direct count of the rows, with small cells hidden."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from service_helpers import Api

from adapter.flows.ports import StatisticsRecord
from adapter.stats.row import statistics_row
from adapter.stats.synth import received_at, synthetic_certificates
from adapter.store.clients import add_client
from adapter.validation import validate


@pytest.fixture
def scb(api: Api) -> Api:
    svc = api.app.extensions["lisn"]
    with svc.store.session() as session:
        _, api.tokens["scb"] = add_client(session, name="scb", role="statistics", pepper=svc.pepper)
    return api


def load(api: Api, count: int = 300) -> list[StatisticsRecord]:
    rows = []
    for n, bundle in enumerate(synthetic_certificates(count, seed=7)):
        facts = dataclasses.asdict(statistics_row(bundle, received_at(bundle)))
        rows.append(StatisticsRecord(submission_id=f"synthetic-{n:08d}", **facts))
    with api.app.extensions["lisn"].store.transaction() as tx:
        for row in rows:
            tx.add_statistics(row)
    return rows


def test_only_statistics_and_admin_read_and_each_read_is_audited(scb: Api) -> None:
    assert scb.get("/stats?by=sex", who=None).status_code == 401
    for who in ("ehr", "stockholm"):
        r = scb.get("/stats?by=sex", who=who)
        assert r.status_code == 403 and r.json["resourceType"] == "OperationOutcome"
        assert scb.get("/fhir/Measure/lisn-intyg/$evaluate-measure", who=who).status_code == 403
    assert scb.get("/stats?by=sex", who="scb").status_code == 200
    assert scb.get("/stats", who="admin").status_code == 200
    reads = [(r["actor"], r["outcome"]) for r in scb.audit_rows() if r["action"] == "statistics-read"]
    assert reads == [("scb", "ok"), ("admin", "ok")]


def test_the_statistics_role_reads_no_certificate(scb: Api) -> None:
    receipt = scb.submit_example().json
    task_id = receipt["entry"][1]["resource"]["id"]
    for path in (f"/fhir/Task/{task_id}", "/fhir/Task", "/fhir/Consent?patient=191212121212",
                 "/municipal/certificates"):
        r = scb.get(path, who="scb")
        assert r.status_code == 403, path
    assert scb.get(f"/fhir/Task/{task_id}", who="admin").status_code == 200  # the path itself is readable


def test_the_table_matches_a_direct_count_with_small_cells_hidden(scb: Api) -> None:
    rows = load(scb)
    r = scb.get("/stats?by=sex,capacity&from=2026-07&to=2026-11", who="scb")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    table = r.json
    direct = Counter((row.sex, row.work_capacity) for row in rows)
    assert table["total"]["count"] == len(rows)
    for cell in table["cells"]:
        real = direct[(cell["sex"], cell["capacity"])]
        if "count" not in cell:
            assert cell["suppressed"] in ("primary", "secondary")
        else:
            assert cell["count"] == real and not 0 < real < 5
    assert not any(0 < direct[k] < 5 for k in direct if any(
        c.get("count") == direct[k] and (c["sex"], c["capacity"]) == k for c in table["cells"]))
    csv = scb.get("/stats?by=region&format=csv", who="scb")
    assert csv.headers["Content-Type"].startswith("text/csv") and csv.text.startswith("Län,Antal\n")


def test_small_cells_are_hidden_by_kommun(scb: Api) -> None:
    rows = load(scb)
    table = scb.get("/stats?by=kommun", who="scb").json
    direct = Counter(row.kommunkod for row in rows)
    small = {k for k, n in direct.items() if n < 5}
    assert small, "the synthetic data has small municipalities"
    shown = {c["kommun"]: c.get("count") for c in table["cells"]}
    assert all(shown[k] is None for k in small)
    assert all(shown[k] in (None, n) for k, n in direct.items())


def test_the_measure_report_is_valid_fhir_and_shows_the_same_numbers(scb: Api) -> None:
    load(scb)
    report = scb.get("/fhir/Measure/lisn-intyg/$evaluate-measure?periodStart=2026-07&periodEnd=2026-11&by=sex,agegroup",
                     who="scb").json
    assert report["resourceType"] == "MeasureReport" and report["period"] == {"start": "2026-07-01",
                                                                              "end": "2026-11-30"}
    assert [i for i in validate(report)["issue"] if i["severity"] in ("error", "fatal")] == []
    table = scb.get("/stats?by=sex,agegroup&from=2026-07&to=2026-11", who="scb").json
    group = report["group"][0]
    assert group["population"][0]["count"] == table["total"]["count"]
    by_sex = {s["value"]["text"]: s["population"][0].get("count") for s in group["stratifier"][0]["stratum"]}
    assert by_sex == {m["sex"]: m.get("count") for m in table["margins"] if "sex" in m}
    cells = {tuple(c["value"]["text"] for c in s["component"]): s["population"][0] for s in
             group["stratifier"][2]["stratum"]}
    for cell in table["cells"]:
        shown: dict[str, Any] = cells[(cell["sex"], cell["agegroup"])]
        assert shown.get("count") == cell.get("count")
        assert ("extension" in shown) == ("count" not in cell)


def test_bad_queries_are_outcomes(scb: Api) -> None:
    for path, mid in (("/stats?by=shoe", "LISN_STATS_DIMENSION"), ("/stats?from=2026-13", "LISN_STATS_MONTH"),
                      ("/stats?threshold=x", "LISN_STATS_THRESHOLD"),
                      ("/fhir/Measure/other/$evaluate-measure", "LISN_STATS_MEASURE_UNKNOWN")):
        r = scb.get(path, who="scb")
        assert r.status_code in (400, 404) and r.json["resourceType"] == "OperationOutcome"
        ids = [e["valueCode"] if "valueCode" in e else e.get("valueString") for i in r.json["issue"]
               for e in i.get("extension", [])]
        assert mid in repr(r.json), (path, ids)


def test_the_measure_definition_is_served_and_names_every_dimension(scb: Api) -> None:
    from adapter.stats.dimensions import FIELDS

    measure = scb.get("/fhir/Measure/lisn-intyg", who=None).json
    assert measure["url"] == "https://lisn.se/fhir/Measure/lisn-intyg"
    assert [s["code"]["text"] for s in measure["group"][0]["stratifier"]] == list(FIELDS)
    assert [i for i in validate(measure)["issue"] if i["severity"] in ("error", "fatal")] == []


def test_an_empty_period_is_a_valid_report_without_empty_values(scb: Api) -> None:
    report = scb.get("/fhir/Measure/lisn-intyg/$evaluate-measure?by=sex,agegroup", who="scb").json
    assert report["group"][0]["population"][0]["count"] == 0
    assert [s["code"] for s in report["group"][0]["stratifier"]] == [[{"text": "sex"}], [{"text": "agegroup"}],
                                                                     [{"text": "sex"}, {"text": "agegroup"}]]
    assert [i for i in validate(report)["issue"] if i["severity"] in ("error", "fatal")] == []
    table = scb.get("/stats?by=sex", who="scb").json
    assert table == {"dimensions": ["sex"], "threshold": 5, "total": {"count": 0}}
