"""Message texts as data, Swedish first.

Each stage keeps its texts in ``adapter/messages/<stage>.json``: an object
``{"MESSAGE_ID": {"sv": "...", "en": "..."}}``. Placeholders use
``str.format`` syntax (``{linkId}``). Ids shared with the HL7 Java validator
keep its id (``QUESTIONNAIRE_QR_ITEM_MISSING``); adapter-only ids start with
``LISN_``. One file per stage (rather than one ``sv.json`` and one
``en.json``) keeps both languages of a message side by side and lets the
stages evolve without editing a shared file.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            for key, texts in json.loads(entry.read_text(encoding="utf-8")).items():
                if key in merged:
                    raise RuntimeError(f"message id {key} defined twice (in {entry.name})")
                merged[key] = texts
    return merged


class _Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def text(message_id: str, lang: str = "sv", **args: Any) -> str:
    """The text of a message in ``lang`` (falls back to Swedish, then to the id itself)."""
    texts = catalogue().get(message_id)
    if texts is None:
        return message_id + (" " + ", ".join(f"{k}={v}" for k, v in sorted(args.items())) if args else "")
    template = texts.get(lang) or texts.get("sv") or message_id
    return template.format_map(_Default(args))


def bilingual(message_id: str, **args: Any) -> str:
    """'Swedish text (English text)', as shown to clinicians and to integrators alike."""
    sv = text(message_id, "sv", **args)
    en = text(message_id, "en", **args)
    return sv if sv == en else f"{sv} ({en})"
