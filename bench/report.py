"""The short table printed after a run: one line per figure, each with its baseline ratio."""

from __future__ import annotations

from typing import Any


def _fmt(x: Any, digits: int = 1) -> str:
    return f"{x:,.{digits}f}" if isinstance(x, (int, float)) else str(x)


def _micro_lines(name: str, section: dict[str, Any], subject: str, baseline: str) -> list[str]:
    if section.get("status") != "ok":
        return [f"{name:<28} unavailable: {section.get('reason', section.get('status'))}"]
    s, b = section[subject], section[baseline]
    return [f"{name:<28} {_fmt(s['per_second'])}/s  p50 {_fmt(s['p50_ms'], 2)} ms  p95 {_fmt(s['p95_ms'], 2)} ms"
            f"  p99 {_fmt(s['p99_ms'], 2)} ms  (best cpu {_fmt(s['cpu_min_ms'], 2)} ms)",
            f"{'  baseline ' + baseline:<28} {_fmt(b['per_second'])}/s  (best cpu {_fmt(b['cpu_min_ms'], 2)} ms)"
            f"  ratio {section['ratio_vs_baseline']:.2f}x, by cpu {section.get('ratio_by_cpu', float('nan')):.2f}x"]


def _http_lines(section: dict[str, Any]) -> list[str]:
    if section.get("status") != "ok":
        return [f"{'http end to end':<28} unavailable: {section.get('reason', section.get('status'))}"]
    lines = [f"http baseline GET {section['baseline_path']}: see ratio column (submissions vs baseline at same concurrency)"]
    for db, runs in section["databases"].items():
        if isinstance(runs, dict):
            lines.append(f"  {db:<8} unavailable: {runs.get('reason')}")
            continue
        for r in runs:
            sub = r["submit"]
            lines.append(f"  {db:<8} c={sub['concurrency']:<3} {_fmt(sub['per_second'])}/s  p50 {_fmt(sub['p50_ms'])}"
                         f"  p95 {_fmt(sub['p95_ms'])}  p99 {_fmt(sub['p99_ms'])} ms  ok {sub['ok']}/{sub['requests']}"
                         f"  ratio vs baseline {r['ratio_vs_baseline']:.3f}"
                         f"  server cpu {_fmt(sub.get('server_cpu_ms_per_request'))} ms/req"
                         f"  load {_fmt(sub.get('loadavg_at_start'))}"
                         + (f"  statuses {sub['status_codes']}" if sub["ok"] != sub["requests"] else ""))
            lines += [f"    server: {line}" for line in r.get("server_errors", [])]
    return lines


def _growth_lines(section: dict[str, Any]) -> list[str]:
    lines = []
    for stage, data in section["stages"].items():
        cells = "  ".join(f"{r['factor']}x: {_fmt(r['cpu_min_ms'], 2)} ms cpu {r['peak_memory_bytes'] / 1e6:.2f} MB"
                          for r in data["rows"])
        verdict = "linear" if data["linear"] else "NOT linear"
        lines.append(f"growth {stage:<21} {cells}  slope t {data['time_slope']:.2f} m {data['memory_slope']:.2f}"
                     f" -> {verdict}")
    return lines


def table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    if "validation" in results:
        lines += _micro_lines("validation", results["validation"], "adapter_validate",
                              "baseline_fhir_resources_r4b_parse")
    if "transform_sign" in results:
        lines += _micro_lines("transform+sign", results["transform_sign"], "adapter_transform_sign",
                              "baseline_bare_signxml_sign")
    if "http" in results:
        lines += _http_lines(results["http"])
    if "growth" in results:
        lines += _growth_lines(results["growth"])
    if "cli" in results:
        from bench import bench_cli

        lines += bench_cli.table(results["cli"]).splitlines()
    return "\n".join(lines)
