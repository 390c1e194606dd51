"""The optional compiled validator (``native/build.py``): which modules run compiled, and a check at
start-up that they were built from the sources beside them.

``python native/build.py`` compiles the validation and FHIRPath modules with mypyc in place and
writes ``adapter/_native.json`` (each compiled module's source fingerprint). Python imports a C extension
before the ``.py`` beside it, so a source edited after the build would be shadowed by the old
extension without a word. :func:`check` runs when ``adapter.validation`` or ``adapter.fhirpath`` is
first imported, before any compiled module, and raises :class:`NativeBuildError` (an
``ImportError``: ``adapter`` commands print one line and exit 3) when:

- the stamp is missing but extensions are there, or the stamp is there but an extension is missing;
- a source's fingerprint differs from the stamp's (rebuild, or ``python native/build.py --clean``);
- ``ADAPTER_REQUIRE_NATIVE=1`` is set and this interpreter would not load the compiled modules
  (no build, or a build for another Python version).

Without a build and without ``ADAPTER_REQUIRE_NATIVE`` the pure-Python modules run, as always.
"""

from __future__ import annotations

import json
import os
import zlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
STAMP = PACKAGE / "_native.json"
FOLDERS = ("validation", "fhirpath")

_checked: dict[str, Any] | None = None


class NativeBuildError(ImportError):
    """The compiled modules and their sources disagree, or a required build is absent."""


def source_digest(data: bytes) -> str:
    """The stamp's fingerprint of a source: CRC-32 and length (to notice an edit, not an attacker:
    whoever can write the sources can write the stamp; zlib costs ``adapter validate`` less than
    hashlib)."""
    return f"{zlib.crc32(data):08x}-{len(data)}"


def _suffix() -> str:
    return EXTENSION_SUFFIXES[0]  # this interpreter's own ABI tag: '.cpython-311-x86_64-linux-gnu.so'


def _extensions() -> list[Path]:
    found: list[Path] = []
    for folder in FOLDERS:
        with os.scandir(PACKAGE / folder) as entries:
            found.extend(Path(e.path) for e in entries if e.name.endswith(".so"))
    return sorted(found)


def _read_state() -> dict[str, Any]:
    """The build's state from one listing of the two folders and one reading of the stamp; raises
    :class:`NativeBuildError` for a stale or half build."""
    root = PACKAGE.parent
    extensions = _extensions()
    if not STAMP.exists():
        if extensions:
            raise NativeBuildError(
                f"compiled modules without a build stamp ({extensions[0].relative_to(root)}, "
                f"{len(extensions)} in all): run 'python native/build.py' or 'python native/build.py --clean'")
        return {"compiled": False, "modules": 0, "compiler": None}
    stamp = json.loads(STAMP.read_text(encoding="utf-8"))
    built = {(e.parent, e.name.split(".", 1)[0]) for e in extensions}  # an extension for any Python
    for path, digest in stamp["modules"].items():
        source = root / path
        if (source.parent, source.stem) not in built:
            raise NativeBuildError(f"{path}: its compiled module is missing: run 'python native/build.py' "
                                   f"or 'python native/build.py --clean'")
        if source_digest(source.read_bytes()) != digest:
            raise NativeBuildError(f"{path} changed after it was compiled: run 'python native/build.py' "
                                   f"again, or 'python native/build.py --clean' for the pure-Python modules")
    ours = set(extensions)
    compiled = all((root / path).with_suffix(_suffix()) in ours for path in stamp["modules"])
    return {"compiled": compiled, "modules": len(stamp["modules"]), "compiler": stamp.get("compiler")}


def check() -> dict[str, Any]:
    """Raise :class:`NativeBuildError` when a build is stale or half there, or required and absent
    (see the module's text); else return :func:`status`. Done once per process."""
    global _checked
    if _checked is None:
        state = _read_state()
        if os.environ.get("ADAPTER_REQUIRE_NATIVE") == "1" and not state["compiled"]:
            raise NativeBuildError("ADAPTER_REQUIRE_NATIVE=1 but the compiled validator is not there for this "
                                   "Python (run 'python native/build.py')")
        _checked = state
    return _checked


def status() -> dict[str, Any]:
    """What a build left and whether this interpreter loads it: ``{"compiled": bool, "modules": int,
    "compiler": str | None}`` (``compiled`` only when every stamped module has an extension for this
    Python's ABI). The state :func:`check` found at import, not read again."""
    return check()


def describe() -> str:
    """One line for ``adapter --version`` and the benchmarks."""
    state = status()
    if state["compiled"]:
        return f"validator: compiled with {state['compiler']} ({state['modules']} modules)"
    return "validator: pure Python"


check()  # on import: adapter.validation and adapter.fhirpath import this module first
