"""Results as JUnit XML (for CI systems) and as one self-contained HTML page (for a person).

Both take :class:`Case` rows, so scenario runs and vendor-file batches report the same way.
The HTML has no scripts and loads nothing: styles inline, every body escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from adapter.testkit.runner import ScenarioResult


@dataclass
class Detail:
    """One step of a case: what was sent, what came back, and each check."""

    name: str
    request: str = ""
    response: str = ""
    checks: list[tuple[str, bool, str, str]] = field(default_factory=list)  # expected, ok, found, rule
    error: str = ""
    passed: bool = True
    skipped: bool = False


@dataclass
class Case:
    id: str
    name: str
    rule: str
    passed: bool
    seconds: float
    details: list[Detail]
    message: str = ""  # why it failed, in one line
    source: str = ""


def _pretty(body: str) -> str:
    """JSON indented for reading; anything else as it came."""
    if body[:1] not in ("{", "["):
        return body
    try:
        return json.dumps(json.loads(body), ensure_ascii=False, indent=2)
    except ValueError:
        return body


def _exchange_text(result_step: object) -> tuple[str, str]:
    ex = getattr(result_step, "exchange", None)
    if ex is None:
        return "", ""
    req = f"{ex.method} {ex.url}\n" + "".join(f"{k}: {v}\n" for k, v in ex.request_headers.items())
    if ex.request_body:
        req += "\n" + _pretty(ex.request_body)
    if ex.status is None:
        return req, f"(no answer: {ex.error})"
    resp = f"HTTP {ex.status}  ({ex.seconds * 1000:.0f} ms)\n" + "".join(
        f"{k}: {v}\n" for k, v in ex.response_headers.items())
    if ex.response_body:
        resp += "\n" + _pretty(ex.response_body)
    return req, resp


def cases_from(results: Iterable[ScenarioResult]) -> list[Case]:
    out = []
    for r in results:
        details = []
        for s in r.steps:
            req, resp = _exchange_text(s)
            if s.attempts > 1:
                resp = f"(answer {s.attempts}, polled)\n" + resp
            details.append(Detail(s.name, req, resp, [(c.expected, c.ok, c.found, c.rule or s.rule)
                                                       for c in s.checks], s.error, s.passed))
        skipped = [st.name for st in r.scenario.steps[len(r.steps):]]
        for name in skipped:
            details.append(Detail(name, error="not run: an earlier step failed", passed=False, skipped=True))
        message = ""
        if not r.passed:
            failed = next((s for s in r.steps if not s.passed), None)
            if failed is not None:
                bad = [c for c in failed.checks if not c.ok]
                message = (f"step '{failed.name}': " + (failed.error or "; ".join(
                    f"expected {c.expected}, found {c.found}" for c in bad)))
        out.append(Case(r.scenario.id, r.scenario.name, r.scenario.rule, r.passed, r.seconds, details, message,
                        str(r.scenario.source)))
    return out


# -- JUnit XML -------------------------------------------------------------------------------------

def junit(suite: str, cases: list[Case]) -> bytes:
    failures = sum(1 for c in cases if not c.passed)
    root = ET.Element("testsuites", name="adapter testkit", tests=str(len(cases)), failures=str(failures))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0",
                       time=f"{sum(c.seconds for c in cases):.3f}",
                       timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    for c in cases:
        tc = ET.SubElement(ts, "testcase", classname=f"testkit.{suite}", name=f"{c.id}: {c.name}",
                           time=f"{c.seconds:.3f}", file=c.source)
        if not c.passed:
            fail = ET.SubElement(tc, "failure", message=c.message[:500], type="ExpectationFailed")
            fail.text = "\n".join(
                [f"rule: {c.rule}"] + [f"[{d.name}] {'ok ' if ok else 'FAIL'} expected {exp}; found {found}"
                                       + (f" (rule: {rule})" if rule and not ok else "")
                                       for d in c.details for exp, ok, found, rule in d.checks]
                + [f"[{d.name}] {d.error}" for d in c.details if d.error])
        out = ET.SubElement(tc, "system-out")
        out.text = "\n\n".join(f"== {d.name}\n>>> {d.request}\n<<< {d.response}" for d in c.details if d.request)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


# -- HTML ------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px} .meta{color:#57606a;margin-bottom:16px}
.totals{display:flex;gap:12px;margin:12px 0 20px}
.tot{padding:8px 14px;border-radius:6px;font-weight:600} .tot.pass{background:#dafbe1;color:#116329}
.tot.fail{background:#ffebe9;color:#a40e26} .tot.all{background:#eaeef2}
table.index{border-collapse:collapse;width:100%;margin-bottom:24px}
table.index td,table.index th{border-bottom:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top}
.v{font-weight:700;white-space:nowrap} .v.pass{color:#116329} .v.fail{color:#a40e26} .v.skip{color:#6e7781}
section.case{border:1px solid #d0d7de;border-radius:8px;margin:0 0 18px;padding:12px 16px}
section.case.fail{border-left:6px solid #cf222e} section.case.pass{border-left:6px solid #1a7f37}
section.case h2{font-size:16px;margin:0 0 4px} .rule{color:#57606a;margin:2px 0 8px}
.why{background:#ffebe9;padding:6px 10px;border-radius:6px;margin:6px 0}
.step{margin:10px 0 0 0;padding-top:8px;border-top:1px dashed #d0d7de} .step h3{font-size:14px;margin:0 0 6px}
table.checks{border-collapse:collapse;width:100%;font-size:13px}
table.checks td{border-bottom:1px solid #eaeef2;padding:3px 6px;vertical-align:top}
table.checks td:first-child{width:48px} table.checks td:nth-child(2){width:50%}
details{margin:6px 0} summary{cursor:pointer;color:#0969da}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px;white-space:pre-wrap;
word-break:break-all;max-height:360px;overflow:auto;font-size:12px}
.src{color:#57606a;font-size:12px}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _verdict(ok: bool) -> str:
    return f'<span class="v {"pass" if ok else "fail"}">{"PASS" if ok else "FAIL"}</span>'


def html_report(title: str, target: str, cases: list[Case], unit: str = "scenarios") -> str:
    passed = sum(1 for c in cases if c.passed)
    failed = len(cases) - passed
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = "".join(f'<tr><td>{_verdict(c.passed)}</td><td><a href="#{_e(c.id)}">{_e(c.id)}</a></td>'
                   f"<td>{_e(c.name)}</td><td>{c.seconds:.2f} s</td></tr>" for c in cases)
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1><div class=\"meta\">Target: <code>{_e(target)}</code> · {now}</div>",
             f'<div class="totals"><span class="tot all">{len(cases)} {_e(unit)}</span>'
             f'<span class="tot pass">{passed} passed</span><span class="tot fail">{failed} failed</span></div>',
             f'<table class="index"><tr><th>verdict</th><th>id</th><th>{_e(unit.rstrip("s"))}</th><th>time</th></tr>{rows}</table>']
    for c in cases:
        parts.append(f'<section class="case {"pass" if c.passed else "fail"}" id="{_e(c.id)}">'
                     f"<h2>{_verdict(c.passed)} {_e(c.name)}</h2>"
                     f'<div class="rule"><b>Rule:</b> {_e(c.rule) or "—"}</div>'
                     f'<div class="src">{_e(c.source)}</div>')
        if c.message:
            parts.append(f'<div class="why"><b>Why it failed:</b> {_e(c.message)}</div>')
        for d in c.details:
            head = '<span class="v skip">NOT RUN</span>' if d.skipped else _verdict(d.passed)
            parts.append(f'<div class="step"><h3>{head} {_e(d.name)}</h3>')
            if d.checks:
                parts.append('<table class="checks">' + "".join(
                    f"<tr><td>{_verdict(ok)}</td><td>expected {_e(exp)}"
                    + (f'<div class="rule">{_e(rule)}</div>' if rule else "")
                    + f"</td><td>found {_e(found)}</td></tr>" for exp, ok, found, rule in d.checks) + "</table>")
            if d.error:
                parts.append(f'<div class="{"src" if d.skipped else "why"}">{_e(d.error)}</div>')
            if d.request:
                parts.append(f"<details><summary>request</summary><pre>{_e(d.request)}</pre></details>")
            if d.response:
                parts.append(f"<details{' open' if not d.passed else ''}><summary>response</summary>"
                             f"<pre>{_e(d.response)}</pre></details>")
            parts.append("</div>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)
