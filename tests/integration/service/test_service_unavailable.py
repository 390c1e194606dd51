"""A database that cannot be reached is a 503 the sender may retry, never a 500 (found by the fault run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapter import errors
from adapter.api import create_app


def test_unreachable_database_is_a_retryable_503(tmp_path: Path, shared: dict[str, Any]) -> None:
    gone = sa.create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'adapter.db'}")
    app = create_app({"TESTING": True, **shared, "ENGINE": gone, "MIGRATE": False})
    answer = app.test_client().post("/fhir/$process-message", data=b'{"resourceType": "Bundle"}',
                                    headers={"Authorization": "Bearer lisn_x_y",
                                             "Content-Type": "application/fhir+json"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    body = answer.get_json()
    assert [errors.message_id_of(i) for i in body["issue"]] == ["LISN_STORE_UNAVAILABLE"]
    assert body["issue"][0]["code"] == "transient"
    gone.dispose()
