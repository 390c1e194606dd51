"""Run scenarios over HTTP (``requests``) and keep everything a report shows.

Credentials never reach a result: the ``Authorization`` header is recorded as ``Bearer ***``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from adapter.testkit.documents import Signers, render
from adapter.testkit.expect import Check, Response, match, path_values
from adapter.testkit.scenario import Scenario, ScenarioError, Step, build_body, fill

MAX_SHOWN = 64 * 1024  # characters of a body kept for the report


@dataclass(frozen=True)
class Target:
    """Where and as whom: a base URL (sender: the FHIR base; receiver: the push URL)."""

    base_url: str
    token: str | None = None
    client_cert: tuple[str, str] | None = None
    verify: bool | str = True
    timeout: float = 30.0


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    seconds: float = 0.0
    error: str = ""


@dataclass
class StepResult:
    name: str
    rule: str
    exchange: Exchange | None
    checks: list[Check]
    attempts: int = 1
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.checks) and all(c.ok for c in self.checks)


@dataclass
class ScenarioResult:
    scenario: Scenario
    steps: list[StepResult]
    seconds: float
    variables: dict[str, str]

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.passed for s in self.steps) and len(self.steps) == len(self.scenario.steps)

    @property
    def error(self) -> str:
        return next((s.error for s in self.steps if s.error), "")

    @property
    def reached(self) -> bool:
        """Whether any request of the scenario got an HTTP answer."""
        return any(s.exchange is not None and s.exchange.status is not None for s in self.steps)


def _shown(data: bytes | None) -> str:
    if not data:
        return ""
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"\n… ({len(text) - MAX_SHOWN} more characters)"


def _url(base: str, path: str) -> str:
    if not path:
        return base
    return base.rstrip("/") + "/" + path.lstrip("/")


class Runner:
    def __init__(self, target: Target, variables: dict[str, str], signers: Signers | None = None,
                 session: requests.Session | None = None) -> None:
        self.target, self.variables, self.signers = target, variables, signers
        self.session = session or requests.Session()

    def run(self, scenarios: list[Scenario], progress: Callable[[ScenarioResult], None] | None = None,
            ) -> list[ScenarioResult]:
        results = []
        for scenario in scenarios:
            result = self.run_one(scenario)
            results.append(result)
            if progress:
                progress(result)
        return results

    def run_one(self, scenario: Scenario) -> ScenarioResult:
        start = time.monotonic()
        variables = dict(self.variables) | {name: str(uuid.uuid4()) for name in scenario.fresh}
        answers: dict[str, Response] = {}
        steps: list[StepResult] = []
        for step in scenario.steps:
            result = self._step(scenario, step, variables, answers)
            steps.append(result)
            if not result.passed:
                break  # later steps build on this one
        return ScenarioResult(scenario, steps, time.monotonic() - start, variables)

    def _request(self, scenario: Scenario, step: Step, variables: dict[str, str]) -> tuple[str, dict[str, str], bytes | None]:
        headers = {k: fill(v, variables) for k, v in step.headers.items()}
        body_spec = step.body
        data: bytes | None
        if body_spec is not None and "document" in body_spec:
            if self.signers is None:
                raise ScenarioError(f"{scenario.source}: document bodies need signing keys (--key, --cert)")
            data, doc_headers = render(body_spec["document"], scenario.source, variables, self.signers)
            headers = doc_headers | headers
        else:
            data = build_body(body_spec, scenario.source, variables)
        if step.auth == "client" and self.target.token:
            headers.setdefault("Authorization", f"Bearer {self.target.token}")
        return _url(self.target.base_url, fill(step.path, variables)), headers, data

    def _send(self, method: str, url: str, headers: dict[str, str], data: bytes | None) -> tuple[Exchange, Response | None]:
        shown_headers = {k: ("Bearer ***" if k.lower() == "authorization" else v) for k, v in headers.items()}
        exchange = Exchange(method, url, shown_headers, _shown(data))
        start = time.monotonic()
        try:
            # verify and cert per request: a session's own are overridden by REQUESTS_CA_BUNDLE and the like
            resp = self.session.request(method, url, headers=headers, data=data, timeout=self.target.timeout,
                                        allow_redirects=False, verify=self.target.verify, cert=self.target.client_cert)
        except requests.RequestException as exc:
            exchange.seconds = time.monotonic() - start
            exchange.error = f"{type(exc).__name__}: {exc}"
            return exchange, None
        exchange.seconds = time.monotonic() - start
        exchange.status = resp.status_code
        exchange.response_headers = dict(resp.headers)
        exchange.response_body = _shown(resp.content)
        return exchange, Response(resp.status_code, dict(resp.headers), resp.content.decode("utf-8", errors="replace"))

    def _step(self, scenario: Scenario, step: Step, variables: dict[str, str],
              answers: dict[str, Response]) -> StepResult:
        try:
            url, headers, data = self._request(scenario, step, variables)
        except ScenarioError as exc:
            return StepResult(step.name, step.rule, None, [], error=str(exc))
        deadline = time.monotonic() + (step.poll.timeout if step.poll else 0)
        attempts = 0
        while True:
            attempts += 1
            exchange, response = self._send(step.method, url, headers, data)
            if response is None:
                return StepResult(step.name, step.rule, exchange, [], attempts, error=exchange.error)
            checks = [match(fill(spec, variables), response, answers) for spec in step.expect]
            done = all(c.ok for c in checks)
            if done or step.poll is None or time.monotonic() >= deadline:
                break
            time.sleep(step.poll.interval)
        answers[step.name] = response
        result = StepResult(step.name, step.rule, exchange, checks, attempts)
        if result.passed:
            for name, path in step.capture.items():
                try:
                    values = path_values(response.json, fill(path, variables))
                except Exception as exc:  # noqa: BLE001 - a FHIRPath the engine cannot evaluate
                    values, why = [], str(exc)
                else:
                    why = "no value"
                if not values or not isinstance(values[0], str | int):
                    result.error = f"capture {name}: {path} gave {why if not values else repr(values[0])}"
                    break
                variables[name] = str(values[0])
        return result


def summary(results: list[ScenarioResult]) -> tuple[int, int]:
    """(passed, failed)."""
    passed = sum(1 for r in results if r.passed)
    return passed, len(results) - passed
