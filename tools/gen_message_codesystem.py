"""Generate profiles/CodeSystem-lisn-message-id.json: every message id the adapter reports.

Source: the message catalogue, ``adapter/messages/*.json`` (one object per stage:
``{"MESSAGE_ID": {"sv": "...", "en": "..."}}``). Each id becomes a concept whose ``display`` is
the Swedish text and whose English text is a ``designation`` (language ``en``); placeholders
(``{linkId}``) stay as they are: they are filled in per issue. Every OperationOutcome issue the
adapter writes names its id in ``details.coding`` with this CodeSystem's url as ``system``.

Run: python tools/gen_message_codesystem.py          (writes the file)
     python tools/gen_message_codesystem.py --check  (exit 1 when the file is not up to date)
tests/unit/test_messages.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapter import messages  # noqa: E402 - after the path set-up, so the tool runs from a checkout

TARGET = ROOT / "profiles" / "CodeSystem-lisn-message-id.json"


def build() -> dict[str, Any]:
    package = json.loads((ROOT / "profiles" / "package.json").read_text(encoding="utf-8"))
    concepts = [{"code": mid, "display": texts["sv"],
                 "designation": [{"language": "en", "value": texts["en"]}]}
                for mid, texts in sorted(messages.catalogue().items())]
    return {
        "resourceType": "CodeSystem",
        "id": "lisn-message-id",
        "language": "sv",
        "url": messages.SYSTEM,
        "version": package["version"],
        "name": "LisnMessageId",
        "title": "Meddelanden från LISN-adaptern",
        "status": "active",
        "experimental": False,
        "publisher": "LISN-projektet",
        "description": ("Id för varje meddelande som adaptern ger i en OperationOutcome (issue.details.coding). "
                        "Visningsnamnet är den svenska texten, den engelska är en designation; {namn} fylls i "
                        "per fel. Id som är desamma som HL7-validatorns behåller dess id; adapterns egna börjar "
                        "med LISN_. Genererad från adapter/messages/*.json av tools/gen_message_codesystem.py."),
        "jurisdiction": [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "SE", "display": "Sweden"}]}],
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }


def render() -> str:
    return json.dumps(build(), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python tools/gen_message_codesystem.py",
                  file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(build()['concept'])} message ids)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
