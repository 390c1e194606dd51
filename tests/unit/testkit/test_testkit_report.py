"""The kit's reports: JUnit XML counts and explains failures; the HTML escapes everything it shows."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from adapter.testkit.report import Case, Detail, html_report, junit

FAILED = Case("02-x", "refuses <b>bad</b>", "rule R", False, 0.1, [
    Detail("submit", "POST /x\n\n<script>alert(1)</script>", "HTTP 200\n\n{\"a\": 1}",
           [("status 422", False, "status 200", "rule R")], passed=False),
    Detail("later", error="not run: an earlier step failed", passed=False, skipped=True)],
    "step 'submit': expected status 422, found status 200", "s.yaml")
PASSED = Case("01-y", "accepts", "rule Q", True, 0.2, [Detail("submit", checks=[("status 200", True, "status 200", "")])])


def test_junit_counts_and_explains_failures() -> None:
    root = ET.fromstring(junit("sender", [PASSED, FAILED]))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {tc.get("name"): tc.find("failure") for tc in suite.iter("testcase")}
    assert cases["01-y: accepts"] is None
    failure = cases["02-x: refuses <b>bad</b>"]
    assert failure is not None and "expected status 422, found status 200" in (failure.get("message") or "")
    assert "FAIL expected status 422; found status 200 (rule: rule R)" in (failure.text or "")


def test_html_escapes_bodies_and_names_and_shows_verdicts() -> None:
    page = html_report("T", "http://x", [PASSED, FAILED])
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "refuses &lt;b&gt;bad&lt;/b&gt;" in page
    assert "1 passed" in page and "1 failed" in page and "Why it failed:" in page and "NOT RUN" in page
    assert "found status 200" in page and "rule R" in page
