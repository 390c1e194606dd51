"""The HTTP bench keeps what the server logged for any 5xx answer, so that a failure seen under load
(once: 75 of 400 submissions at concurrency 16 on PostgreSQL, 2026-12-03, not reproduced) can be
diagnosed from the results instead of being lost with the bench's temporary folder."""

from __future__ import annotations

from pathlib import Path

from bench.http_e2e import server_errors
from bench.report import _http_lines


def test_the_servers_internal_errors_are_counted_most_frequent_first(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    log.write_text("[INFO] Booting worker\n"
                   "[ERROR] internal error: WriteConflict at flows/context.py:108 run\n"
                   "[ERROR] internal error: KeyError at flows/submit.py:40 submit\n"
                   "[ERROR] internal error: WriteConflict at flows/context.py:108 run\n", encoding="utf-8")
    assert server_errors(log) == ["2x WriteConflict at flows/context.py:108 run",
                                  "1x KeyError at flows/submit.py:40 submit"]
    quiet = tmp_path / "quiet.log"
    quiet.write_text("[INFO] Booting worker\n", encoding="utf-8")
    assert server_errors(quiet) == []


def test_the_report_shows_statuses_and_server_errors_only_when_some_failed() -> None:
    def run(ok: int, errors: list[str] | None = None) -> dict[str, object]:
        sub = {"concurrency": 16, "per_second": 10.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "ok": ok,
               "requests": 400, "status_codes": {"200": ok, **({"500": 400 - ok} if ok < 400 else {})},
               "server_cpu_ms_per_request": 30.0, "loadavg_at_start": 1.0}
        return {"submit": sub, "ratio_vs_baseline": 0.1, **({"server_errors": errors} if errors else {})}
    section = {"status": "ok", "baseline_path": "/fhir/metadata",
               "databases": {"postgresql": [run(400), run(325, ["75x WriteConflict at a.py:1 f"])]}}
    lines = _http_lines(section)
    assert "statuses" not in lines[1] and "statuses {'200': 325, '500': 75}" in lines[2]
    assert lines[3] == "    server: 75x WriteConflict at a.py:1 f"
