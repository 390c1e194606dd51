"""messages.text remembers each (id, language) template and formats with the arguments as given
(a missing placeholder only then through ``_Default``). It must render what the former way renders
(copied here) for every id of the catalogue in both languages, with every placeholder given, none,
some and extra ones, and for unknown ids; a negative control shows a wrong shortcut is noticed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from adapter import messages


def _former(message_id: str, lang: str | None = None, **args: Any) -> str:
    texts = messages.catalogue().get(message_id)
    if texts is None:
        return message_id + (" " + ", ".join(f"{k}={v}" for k, v in sorted(args.items())) if args else "")
    template = texts.get(lang or messages.current_lang()) or texts.get(messages.DEFAULT_LANG) or message_id
    return template.format_map(messages._Default(args))


def _argument_sets(template: str) -> list[dict[str, Any]]:
    names = sorted(set(re.findall(r"\{(\w+)", template)))
    every = {n: f"<{n}>" for n in names}
    return [{}, every, dict(list(every.items())[:1]), {**every, "extra": 3}, dict.fromkeys(names, 7)]


@pytest.mark.parametrize("lang", [None, "sv", "en"])
def test_every_text_is_what_the_former_way_renders(lang: str | None) -> None:
    for message_id, texts in messages.catalogue().items():
        for args in _argument_sets(" ".join(texts.values())):
            for _ in range(2):  # remembered the second time
                assert messages.text(message_id, lang, **args) == _former(message_id, lang, **args), message_id
    assert messages.text("NO_SUCH_ID", lang, b=1, a=2) == _former("NO_SUCH_ID", lang, b=1, a=2)


def test_the_current_language_is_followed() -> None:
    message_id = next(m for m, t in messages.catalogue().items() if t.get("sv") != t.get("en"))
    with messages.use_lang("en"):
        assert messages.text(message_id) == _former(message_id, "en")
    with messages.use_lang("sv"):
        assert messages.text(message_id) == _former(message_id, "sv")


def test_a_wrong_shortcut_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: remembering templates under the id alone (not the language) is caught."""
    message_id = next(m for m, t in messages.catalogue().items() if t.get("sv") != t.get("en"))
    monkeypatch.setattr(messages, "_TEMPLATES", {})
    real = messages._TEMPLATES

    class ByIdOnly(dict[Any, Any]):
        def get(self, key: Any, default: Any = None) -> Any:
            return real.get(next((k for k in real if k[0] == key[0]), key), default)

        def __setitem__(self, key: Any, value: Any) -> None:
            real[key] = value

    monkeypatch.setattr(messages, "_TEMPLATES", ByIdOnly())
    messages.text(message_id, "sv")
    assert messages.text(message_id, "en") != _former(message_id, "en")
