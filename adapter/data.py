"""Where the project's data folders are: ``profiles/``, ``mappings/``, ``schemas/`` and ``examples/``.

From a source checkout they are the top-level folders; from an installed wheel
they are ``adapter/_data/<name>`` (put there by hatch ``force-include``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name`` (``"profiles"``, ``"mappings"``, ``"examples"``...), wherever the adapter is installed."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} not found beside the adapter package")
