"""``adapter reprocess``: derive a submission's document again from its raw input and re-queue
its dead letters under the same submission (linked: same id, a 'reprocessed' step)."""

from __future__ import annotations

import json
from pathlib import Path

from acceptance_helpers import Harness, example, harness, messages, states
from click.testing import CliRunner

from adapter.cli import cli
from adapter.signing import verify_document


def dead_lettered(tmp_path: Path) -> tuple[Harness, str, str]:
    h = harness(tmp_path, {"0180": "http://127.0.0.1:9/inbox"})
    assert h.call("ehr", "POST", "/fhir/$process-message", example("Bundle-lisn-example-submission")).status_code == 200
    [msg] = messages(h.engine)
    done = runner(h, tmp_path).invoke(cli, ["queue", "dead-letter", msg.key, "--reason", "rejected: schema"])
    assert done.exit_code == 0, done.output
    return h, msg.submission_id, msg.key


def runner(h: Harness, data_dir: Path) -> CliRunner:
    return CliRunner(env={"ADAPTER_DATABASE_URL": h.engine.url.render_as_string(hide_password=False),
                          "ADAPTER_DATA_DIR": str(data_dir)})


def test_reprocess_requeues_the_dead_letter_with_a_fresh_signed_document(tmp_path: Path) -> None:
    h, submission, key = dead_lettered(tmp_path)
    dry = runner(h, tmp_path).invoke(cli, ["reprocess", submission, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["requeued"] == [] and states(h.engine) == {"dead": 1}
    result = runner(h, tmp_path).invoke(cli, ["reprocess", submission])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["requeued"] == [key]
    [msg] = messages(h.engine)
    assert (msg.key, msg.state, msg.attempts, msg.last_error) == (key, "pending", 0, "reprocessed")
    assert verify_document(msg.document, trust=[h.trust.read_bytes()]).ok
    task = h.call("ehr", "GET", f"/fhir/Task/{submission}").get_json()
    assert task["businessStatus"]["coding"][0]["code"] == "reprocessed"


def test_reprocess_of_an_unknown_submission_is_an_outcome(tmp_path: Path) -> None:
    h = harness(tmp_path, {"0180": None})
    result = runner(h, tmp_path).invoke(cli, ["reprocess", "no-such-submission"])
    assert result.exit_code == 1
    assert "[LISN_DELIVERY_REPROCESS_NO_RAW]" in result.output
