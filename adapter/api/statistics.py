"""De-identified statistics for the role ``statistics`` (and ``admin``): aggregates only, never a row.

``GET /stats?by=sex,agegroup&from=2026-07&to=2026-11[&threshold=10][&format=csv]`` answers the
protected table as JSON (or CSV); ``GET /fhir/Measure/lisn-intyg/$evaluate-measure?periodStart=&periodEnd=&by=``
the same table as a MeasureReport. Both run the use case ``flows.stats.statistics_table``, which
checks the role and writes the audit row.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, request

from adapter import errors, messages
from adapter.api import http
from adapter.api.auth import require_role
from adapter.api.service import run, service
from adapter.clock import fhir_instant
from adapter.flows import stats as flow
from adapter.stats import render
from adapter.stats.measure import measure_report

bp = Blueprint("statistics", __name__)

MEASURE_ID = "lisn-intyg"
CAPABILITY = {"Measure": {
    "operation": [("evaluate-measure", "http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure")],
}}


def _query(month_from: str | None, month_to: str | None) -> flow.Query:
    raw_threshold = request.args.get("threshold")
    threshold = None
    if raw_threshold is not None:
        if not raw_threshold.isdigit() or len(raw_threshold) > 6:
            mid = "LISN_STATS_THRESHOLD"
            raise errors.InputRejected(messages.bilingual(mid, value=raw_threshold[:20]), message_id=mid)
        threshold = int(raw_threshold)
    by = tuple(n.strip() for n in request.args.get("by", "").split(",") if n.strip())
    return flow.Query(by=by, month_from=month_from, month_to=month_to, threshold=threshold)


@bp.get("/stats")
@require_role("statistics", "admin")
def table() -> Any:
    query = _query(request.args.get("from"), request.args.get("to"))
    result = run(lambda ctx: flow.statistics_table(query, ctx))
    if isinstance(result, errors.AdapterError):
        return http.answer(result)
    months = flow.check_query(query, 2)[1]
    if request.args.get("format") == "csv":
        return Response(render.as_csv(result), mimetype="text/csv", headers={"Cache-Control": "no-store"})
    return Response(json.dumps(render.as_json(result, months=months), ensure_ascii=False), mimetype="application/json",
                    headers={"Cache-Control": "no-store"})


@bp.get("/fhir/Measure/<measure_id>/$evaluate-measure")
@require_role("statistics", "admin")
def evaluate(measure_id: str) -> Any:
    http.checked(measure_id, what="id")
    if measure_id != MEASURE_ID:
        mid = "LISN_STATS_MEASURE_UNKNOWN"
        return http.answer(errors.NotFound(messages.bilingual(mid, id=measure_id, known=MEASURE_ID), message_id=mid))
    start, end = request.args.get("periodStart"), request.args.get("periodEnd")
    query = _query(start, end)
    result = run(lambda ctx: flow.statistics_table(query, ctx))
    if isinstance(result, errors.AdapterError):
        return http.answer(result)
    months = flow.check_query(query, 2)[1]
    period = (f"{months[0]}-01" if months[0] else "1900-01-01", _month_end(months[1]))
    return http.answer(measure_report(result, period=period, created=fhir_instant(service().clock.now())))


def _month_end(month: str | None) -> str:
    if month is None:
        return fhir_instant(service().clock.now())[:10]
    year, number = int(month[:4]), int(month[5:7])
    following = f"{year + number // 12:04d}-{number % 12 + 1:02d}-01"
    return (date.fromisoformat(following) - timedelta(days=1)).isoformat()
