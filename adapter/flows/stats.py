"""De-identified statistics: the row kept at receipt, its updates, and the protected tables.

Steps of a read (:func:`statistics_table`): only the roles ``statistics`` and ``admin`` may
read; the query names known dimensions and months; the store counts; small cells are
suppressed, and so is whatever would let one be worked out (``adapter.stats.disclosure``); one
audit row. Rows are written by :func:`record_receipt` in the transaction that accepts the
certificate, and updated in the transactions that decide consent, deliver, replace or withdraw.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import Any, NoReturn

from adapter import errors, messages
from adapter.fhir.submission import Submission
from adapter.flows.context import Context, audit, refuse
from adapter.flows.ports import StatisticsRecord, SubmissionRecord, Tx
from adapter.stats import codes, dimensions, synth
from adapter.stats.disclosure import Table, protect
from adapter.stats.row import StatisticsRow, statistics_row

log = logging.getLogger(__name__)
CERTIFICATE_EVENTS = ("certificate", "certificate-replacement")
READERS = ("statistics", "admin")


@dataclass(frozen=True)
class Query:
    """What a reader asks for: dimensions by their public names, months ``YYYY-MM`` (inclusive)."""

    by: tuple[str, ...] = ()
    month_from: str | None = None
    month_to: str | None = None
    threshold: int | None = None
    """None: the configured ``statistics.min_cell``; a reader may only ask for more protection."""


# -- written with the certificate ----------------------------------------------------------------

def record_receipt(row: SubmissionRecord, ctx: Context) -> None:
    """The statistics row of an accepted certificate (a withdrawal has none); a replacement marks
    the certificate it replaces."""
    if row.event not in CERTIFICATE_EVENTS or row.bundle is None:
        return
    facts = statistics_row(row.bundle, row.received_at)
    ctx.tx.add_statistics(StatisticsRecord(submission_id=row.id, **row_fields(facts)))
    if row.event == "certificate-replacement" and row.replaces:
        for earlier in ctx.tx.submissions_of(row.replaces, row.care_unit_hsa or ""):
            if earlier.accepted_key and earlier.id != row.id:
                ctx.tx.update_statistics(earlier.id, {"status": "replaced"})


def row_fields(facts: StatisticsRow) -> dict[str, Any]:
    """The fields of a statistics row by name, as ``dataclasses.asdict`` gives them, without its
    deep copy of every value (the row is new and only this record keeps it; the one mutable
    value, the activities, is copied all the same)."""
    found = {f.name: getattr(facts, f.name) for f in fields(facts)}
    found["activities"] = dict(facts.activities)
    return found


def note_decision(row: SubmissionRecord, permitted: bool, ctx: Context) -> None:
    """Consent outcome: released, withheld (never permitted), or revoked (permitted once, no longer)."""
    outcome = "released" if permitted else "revoked" if ctx.tx.ever_permitted(row.id) else "withheld"
    ctx.tx.update_statistics(row.id, {"consent": outcome})


def note_withdrawn(submission_id: str, tx: Tx) -> None:
    tx.update_statistics(submission_id, {"status": "withdrawn"})


def note_delivered(submission_id: str, at: datetime, tx: Tx) -> None:
    """Days from the certificate's signing (``QuestionnaireResponse.authored``) to its first delivery."""
    row = tx.submission(submission_id)
    if row is None or row.event not in CERTIFICATE_EVENTS:
        return
    signed = _signed(row)
    days = (at.date() - signed).days if signed else None
    if days is not None:
        tx.update_statistics(submission_id, {"delivery_days": days,
                                             "delivery_band": codes.band(days, codes.DAY_BANDS)})


def _signed(row: SubmissionRecord) -> date | None:
    authored = Submission(row.bundle or {}).authored
    try:
        return date.fromisoformat(authored[:10]) if authored else None
    except ValueError:
        return None


def add_synthetic(count: int, seed: int, ctx: Context) -> int:
    """Rows for ``count`` fictitious certificates (``adapter.stats.synth``), with drawn outcomes; only in a
    test environment (``ADAPTER_VALIDATION_TEST_ENVIRONMENT``), so production statistics stay real.
    Their keys start with ``synthetic-``. Returns how many were written."""
    if not ctx.settings.validation.test_environment:
        mid = "LISN_STATS_SYNTHETIC_PRODUCTION"
        raise errors.InputRejected(messages.bilingual(mid), message_id=mid)
    rng = random.Random(seed)
    for number, bundle in enumerate(synth.synthetic_certificates(count, seed=seed)):
        facts = asdict(statistics_row(bundle, synth.received_at(bundle)))
        drawn = synth.outcome(rng)
        facts.update(consent=drawn.consent, status=drawn.status, delivery_days=drawn.delivery_days,
                     delivery_band=codes.band(drawn.delivery_days, codes.DAY_BANDS))
        key = f"synthetic-{uuid.UUID(int=rng.getrandbits(128)).hex[:26]}"
        ctx.tx.add_statistics(StatisticsRecord(submission_id=key, **facts))
        if number and number % 1000 == 0:
            log.info("%d synthetic statistics rows", number)
    audit(ctx, action="statistics-synthetic", outcome=f"{count} rows")
    return count


# -- read, protected ----------------------------------------------------------------------------

def statistics_table(query: Query, ctx: Context) -> Table | errors.AdapterError:
    """A protected table of counts (never a row); only for the roles ``statistics`` and ``admin``."""
    if ctx.client.role not in READERS:
        mid = "LISN_STATS_ROLE"
        return refuse(ctx, errors.Forbidden(messages.bilingual(mid), message_id=mid), action="statistics-read",
                      patient=None)
    fields, months, threshold = check_query(query, ctx.settings.statistics.min_cell)
    counts = ctx.tx.tally_statistics(fields, months=months)
    audit(ctx, action="statistics-read", outcome="ok")
    return protect(query.by, counts, threshold=threshold)


REPORT = {"sex_capacity": ("sex", "capacity"), "region_debut": ("region", "debut"),
          "sex_consent": ("sex", "consent"), "month_sex": ("month", "sex")}
"""The tables behind the charts of ``adapter stats report`` (docs/statistics.md)."""


def report_tables(month_from: str | None, month_to: str | None, ctx: Context) -> dict[str, Table] | errors.AdapterError:
    """The protected tables of the report (:data:`REPORT`), read in one transaction with one audit row."""
    if ctx.client.role not in READERS:
        mid = "LISN_STATS_ROLE"
        return refuse(ctx, errors.Forbidden(messages.bilingual(mid), message_id=mid), action="statistics-report",
                      patient=None)
    tables = {}
    for name, by in REPORT.items():
        query = Query(by=by, month_from=month_from, month_to=month_to)
        fields, months, threshold = check_query(query, ctx.settings.statistics.min_cell)
        tables[name] = protect(by, ctx.tx.tally_statistics(fields, months=months), threshold=threshold)
    audit(ctx, action="statistics-report", outcome="ok")
    return tables


def check_query(query: Query, min_cell: int) -> tuple[tuple[str, ...], tuple[str | None, str | None], int]:
    """The row fields, the month bounds and the threshold of a query; InputRejected naming what is wrong."""
    if len(query.by) > dimensions.MAX_DIMENSIONS:
        _reject("LISN_STATS_TOO_MANY", "by", limit=dimensions.MAX_DIMENSIONS, count=len(query.by))
    fields = []
    for name in query.by:
        found = dimensions.field_of(name)
        if found is None:
            _reject("LISN_STATS_DIMENSION", "by", name=name, valid=", ".join(dimensions.FIELDS))
        fields.append(found)
    months = []
    for label, value in (("from", query.month_from), ("to", query.month_to)):
        month = dimensions.month_of(value) if value else None
        if value and month is None:
            _reject("LISN_STATS_MONTH", label, name=label, value=value)
        months.append(month)
    threshold = max(min_cell, query.threshold or 0)
    if threshold < 2:
        _reject("LISN_STATS_THRESHOLD", "threshold", value=threshold)
    return tuple(fields), (months[0], months[1]), threshold


def _reject(mid: str, where: str, **args: object) -> NoReturn:
    raise errors.InputRejected(outcome=errors.bad_request(messages.bilingual(mid, **args), expression=where,
                                                          message_id=mid), message_id=mid)
