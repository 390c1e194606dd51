"""Every message id the profile checks can raise has Swedish and English text."""

from __future__ import annotations

import json
import re
from pathlib import Path

from adapter import messages

HERE = Path(__file__).resolve().parent
SOURCES = [HERE.parents[2] / "adapter" / "validation" / f"{name}.py"
           for name in ("profiles", "invariants", "identifiers", "bundle", "business")]
ID = re.compile(r'"((?:LISN|Validation|Terminology|Reference|Bundle|Profile|Problem)_[A-Za-z0-9_]+|_DT_Fixed_Wrong)"')


def _used_ids() -> set[str]:
    # prefixes such as "LISN_PERSONNUMMER" (completed in code) are not ids themselves
    found = {m for src in SOURCES for m in ID.findall(src.read_text(encoding="utf-8"))
             if m not in ("LISN_PERSONNUMMER", "LISN_SAMORDNINGSNUMMER")}
    table = json.loads((HERE / "identifiers.json").read_text(encoding="utf-8"))
    found |= {expected for rows in table.values() for _, expected in rows if expected}
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    found |= {e[1] for c in manifest["cases"] for e in c["expect"] if "#" not in e[1]}
    return found


def test_every_id_has_both_languages() -> None:
    catalogue = messages.catalogue()
    used = _used_ids()
    assert len(used) > 30
    for message_id in sorted(used):
        assert message_id in catalogue, message_id
        assert catalogue[message_id].get("sv") and catalogue[message_id].get("en"), message_id


def test_every_text_of_ours_is_used() -> None:
    ours = json.loads((HERE.parents[2] / "adapter" / "messages" / "profiles_validation.json").read_text("utf-8"))
    assert set(ours) - _used_ids() == set()
