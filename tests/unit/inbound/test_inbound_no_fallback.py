"""No silent fallback (issue 13): a validator that cannot be imported is a crash, never a pass.

On the old code ``convert_export`` swallowed the ImportError and answered with the mapped Bundle
and only a warning, so an invalid certificate went through unchecked.
"""

from __future__ import annotations

import sys

import pytest
from inbound_helpers import EXAMPLES

from adapter.inbound import convert_export

INERA = EXAMPLES / "inera-xml" / "lisn-depression.xml"


def test_a_broken_validator_import_is_a_crash_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle, oo = convert_export(INERA.read_bytes(), "inera-xml")
    assert bundle is not None  # the export itself maps and validates
    # Anything in the validator's import chain failing: Python raises ImportError on import.
    monkeypatch.setitem(sys.modules, "adapter.validation", None)
    with pytest.raises(ImportError):
        convert_export(INERA.read_bytes(), "inera-xml")


def test_no_import_error_is_swallowed_anywhere() -> None:
    from pathlib import Path

    import adapter

    root = Path(adapter.__file__).parent
    guarded = [str(p.relative_to(root)) for p in root.rglob("*.py") if "except ImportError" in p.read_text("utf-8")]
    assert guarded == []
