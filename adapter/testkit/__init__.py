"""The conformance test kit: scenarios (YAML data) run over HTTP against any LISN sender endpoint
or municipal receiver, and a vendor's export files converted and validated as a batch.

- :mod:`adapter.testkit.scenario`: load and check scenario files, fill their templates;
- :mod:`adapter.testkit.expect`: the expectations and their matcher (pure);
- :mod:`adapter.testkit.runner`: run scenarios with ``requests``;
- :mod:`adapter.testkit.documents`: the signed municipal XML the kit pushes when it plays the adapter;
- :mod:`adapter.testkit.files`: a folder of export files through the inbound mapping and the validator;
- :mod:`adapter.testkit.report`: JUnit XML and a self-contained HTML report.

The kit is a client: it reaches a deployment only over HTTP and imports nothing of the service
(no use case, no storage, no web app). ``adapter testkit`` (``adapter/cli/testkit.py``) is its face.
See docs/testkit.md.
"""

from __future__ import annotations

from adapter.testkit.scenario import SCENARIOS, Scenario, ScenarioError, load_scenarios

__all__ = ["SCENARIOS", "Scenario", "ScenarioError", "load_scenarios"]
