"""Compile the validator's hot modules with mypyc, in place (optional; README.md, "The compiled validator").

    python native/build.py            # build: a C extension beside each listed module, and a stamp
    python native/build.py --clean    # remove them: the pure-Python modules are used again
    python native/build.py --list     # the modules compiled, one a line

The build needs mypy (which carries mypyc; in the ``native`` and ``test`` extras), a C compiler and
the Python headers. It writes ``adapter/_native.json``: each compiled module's source fingerprint. At
import, ``adapter/native.py`` compares it with the sources and refuses to start if a source changed
after the build (a stale extension would otherwise shadow the edit without a word).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "adapter"
STAMP = PACKAGE / "_native.json"
BUILD = ROOT / "build" / "native"

# The validation and FHIRPath modules. Left out: the packages' __init__ files (a class body with a
# TYPE_CHECKING branch, and the lazy names), and fhirpath/fhir.py (it patches fhirpathpy with a
# function that carries an attribute, which a compiled function cannot).
FOLDERS = ("validation", "fhirpath")
LEFT_OUT = {"adapter/fhirpath/fhir.py"}


def modules() -> list[str]:
    """The source paths compiled, relative to the repository, sorted."""
    found = []
    for folder in FOLDERS:
        for path in sorted((PACKAGE / folder).glob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if path.name != "__init__.py" and rel not in LEFT_OUT:
                found.append(rel)
    return found


def source_digest(data: bytes) -> str:
    """As ``adapter.native.source_digest`` (not imported from there: importing ``adapter.native``
    checks the build this script is about to replace; a test holds the two equal)."""
    return f"{zlib.crc32(data):08x}-{len(data)}"


def extensions() -> list[Path]:
    """Every C extension a build leaves in the package (the modules' and mypyc's shared one)."""
    return sorted(p for p in PACKAGE.rglob("*.so")) + sorted(p for p in ROOT.glob("*__mypyc*.so"))


def clean() -> int:
    removed = extensions()
    for path in removed:
        path.unlink()
    if STAMP.exists():
        STAMP.unlink()
    print(f"removed {len(removed)} compiled files; the pure-Python modules are used")
    return 0


def build() -> int:
    try:
        from mypyc.build import mypycify
        from setuptools import Distribution
    except ImportError as exc:
        print(f"native/build.py: {exc.name} is not installed (pip install -c constraints.txt -e '.[native]')", file=sys.stderr)
        return 3
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print(f"native/build.py: no C compiler ({os.environ.get('CC', 'cc')}) on PATH", file=sys.stderr)
        return 3
    sources = modules()
    if STAMP.exists() or extensions():
        clean()
    BUILD.mkdir(parents=True, exist_ok=True)
    # setuptools would read the project's pyproject.toml (a hatchling project) from the working
    # folder: build from a folder that holds only a link to the package instead.
    with tempfile.TemporaryDirectory() as work:
        os.symlink(PACKAGE, Path(work) / "adapter")
        here = os.getcwd()
        os.chdir(work)
        try:
            ext = mypycify(sources, opt_level=os.environ.get("MYPYC_OPT_LEVEL", "3"),
                           target_dir=str(BUILD / "c"))
            dist = Distribution({"name": "lisn-adapter-native", "ext_modules": ext})
            dist.script_args = ["build_ext", "--inplace", "--build-temp", str(BUILD / "tmp"),
                                "--build-lib", str(BUILD / "lib")]
            dist.parse_command_line()
            dist.run_commands()
            # the shared library lands in the working folder: move it to the repository's root,
            # which is on sys.path wherever ``adapter`` is importable from the checkout
            for shared in Path(work).glob("*__mypyc*.so"):
                shutil.move(str(shared), ROOT / shared.name)
        finally:
            os.chdir(here)
    stamp = {"compiler": "mypyc", "python": sys.version.split()[0],
             "modules": {path: source_digest((ROOT / path).read_bytes()) for path in sources}}
    STAMP.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"compiled {len(sources)} modules with mypyc; stamp {STAMP.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--list", action="store_true", help="print the modules a build compiles")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(modules()))
        return 0
    return clean() if args.clean else build()


if __name__ == "__main__":
    sys.exit(main())
