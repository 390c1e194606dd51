"""Warming a long-running process before its first request: the FHIRPath code generated at start.

A FHIRPath direct form runs its closures for its first :data:`adapter.fhirpath.codegen.AFTER`
evaluations and is then written out as one generated function (1–3 ms an expression, in the
evaluation that crosses the count), so that a one-file ``adapter validate`` generates nothing. In a
server worker those counts are crossed inside requests: with the shipped gunicorn configuration on
PostgreSQL at concurrency 4, a fresh worker's first 400 submissions had a p99 of 184 ms without this
warm-up and 57 ms with it (``python -m bench.bench_warm``, docs/performance.md).

:func:`warm_up` validates the shipped example submissions that many times first, so that the
expressions they meet are generated, and the profiles, compiled Questionnaires and value sets
they use are loaded, before the worker takes a request (``deploy/gunicorn.conf.py``,
``post_worker_init``). The examples are fictitious persons (Skatteverket's test personnummer); the
results are not kept. A missing example is an error at start, not a cold worker.
"""

from __future__ import annotations

from adapter.data import data_dir
from adapter.fhir.registry import default_registry
from adapter.validation.entry import validate_bytes

EXAMPLES: tuple[str, ...] = ("Bundle-lisn-example-submission.json", "Bundle-lisn-example-submission-1.1.json")


def warm_up(*, rounds: int | None = None) -> int:
    """Validate each shipped example submission ``rounds`` times (default: the generation count,
    :data:`adapter.fhirpath.codegen.AFTER`); returns the number of validations made."""
    from adapter.fhirpath import codegen

    count = max(codegen.AFTER, 1) if rounds is None else rounds
    reg = default_registry()
    folder = data_dir("profiles") / "examples"
    raws = [(folder / name).read_bytes() for name in EXAMPLES]  # (FileNotFoundError: a broken installation)
    for raw in raws:
        for _ in range(count):
            validate_bytes(raw, reg)
    return count * len(raws)
