"""Build the FHIR NPM package of ``profiles/`` (``se.lisn.fhir-1.0.0.tgz``).

The layout is the conventional one read by the HL7 validator (``-ig``), the IG
publisher and FHIR package caches (https://confluence.hl7.org/display/FHIR/NPM+Package+Specification):

    package/package.json
    package/.index.json               index-version 1: filename, resourceType, id, url, version, kind, type
    package/<Type>-<id>.json          the conformance resources
    package/example/.index.json
    package/example/<Type>-<id>.json  the example instances

The archive is deterministic: the same ``profiles/`` gives the same bytes (entries
sorted, fixed mtime, owner and mode, gzip header without a timestamp), so a
rebuilt package can be compared by checksum.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapter.data import data_dir
from adapter.errors import InputRejected, ValidationFailed
from adapter.issues import Issues
from adapter.messages import bilingual

# npm's own fixed timestamp for reproducible tarballs (1985-10-26T08:15:00Z).
FIXED_MTIME = 499162500
INDEX_FIELDS = ("resourceType", "id", "url", "version", "kind", "type")
_NOT_RESOURCES = frozenset({"package.json", ".index.json"})


@dataclass(frozen=True)
class PackageFile:
    """One resource file going into the package."""

    folder: str  # "package" or "package/example"
    filename: str
    raw: bytes
    resource: dict[str, Any]


def build_package(out_dir: str | Path = "dist", *, source: str | Path | None = None) -> Path:
    """Write ``<name>-<version>.tgz`` for the package in ``source`` (default ``profiles/``) to ``out_dir``.

    Raises ``ValidationFailed`` (every problem found, one issue each) when a file is not a
    resource named ``<Type>-<id>.json``, and ``InputRejected`` when there is no usable
    ``package.json`` or the output cannot be written.
    """
    src = Path(source) if source is not None else data_dir("profiles")
    manifest_raw, manifest = _read_manifest(src)
    files = collect_files(src)
    members = [("package/package.json", manifest_raw)]
    for folder in ("package", "package/example"):
        chosen = [f for f in files if f.folder == folder]
        members.append((f"{folder}/.index.json", _index_bytes(chosen)))
        members.extend((f"{folder}/{f.filename}", f.raw) for f in chosen)
    target = Path(out_dir) / f"{manifest['name']}-{manifest['version']}.tgz"
    _write_atomically(target, tgz_bytes(members))
    return target


def _read_manifest(src: Path) -> tuple[bytes, dict[str, Any]]:
    path = src / "package.json"
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw)
    except (OSError, ValueError):
        raise InputRejected(bilingual("LISN_PACKAGE_MANIFEST_MISSING", path=str(path)),
                            message_id="LISN_PACKAGE_MANIFEST_MISSING") from None
    if not (isinstance(manifest, dict) and isinstance(manifest.get("name"), str)
            and isinstance(manifest.get("version"), str)):
        raise InputRejected(bilingual("LISN_PACKAGE_MANIFEST_INVALID", path=str(path)),
                            message_id="LISN_PACKAGE_MANIFEST_INVALID")
    return raw, manifest


def collect_files(src: Path) -> list[PackageFile]:
    """The resources of ``src/*.json`` and ``src/examples/*.json``, checked and sorted by file name."""
    issues = Issues()
    files: list[PackageFile] = []
    for folder, pattern in (("package", "*.json"), ("package/example", "examples/*.json")):
        for path in sorted(src.glob(pattern)):
            if path.name not in _NOT_RESOURCES:
                raw = path.read_bytes()
                found = _read_resource(path.name, raw, issues)
                if found is not None:
                    files.append(PackageFile(folder, path.name, raw, found))
    _check_unique_canonicals([f for f in files if f.folder == "package"], issues)
    if issues.has_errors:
        raise ValidationFailed(outcome=issues.outcome(), message_id="LISN_PACKAGE_INVALID")
    return files


def _read_resource(name: str, raw: bytes, issues: Issues) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        issues.add("LISN_PACKAGE_FILE_UNREADABLE", code="structure", file=name)
        return None
    rtype = data.get("resourceType") if isinstance(data, dict) else None
    rid = data.get("id") if isinstance(data, dict) else None
    if not (isinstance(rtype, str) and isinstance(rid, str)):
        issues.add("LISN_PACKAGE_FILE_NOT_RESOURCE", code="structure", file=name)
        return None
    expected = f"{rtype}-{rid}.json"
    ok = issues.check(name == expected, "LISN_PACKAGE_FILE_NAME_MISMATCH",
                      expression=f"{rtype}.id", file=name, expected=expected)
    return data if ok else None


def _check_unique_canonicals(files: list[PackageFile], issues: Issues) -> None:
    # Two files with one url|version would make resolution depend on load order.
    seen: dict[str, str] = {}
    for f in files:
        url = f.resource.get("url")
        if not isinstance(url, str):
            continue
        key = f"{url}|{f.resource.get('version', '')}"
        issues.check(key not in seen, "LISN_PACKAGE_DUPLICATE_CANONICAL",
                     expression=f"{f.resource['resourceType']}.url", canonical=key,
                     file=f.filename, other=seen.get(key, ""))
        seen.setdefault(key, f.filename)


def index_entry(f: PackageFile) -> dict[str, Any]:
    """One ``.index.json`` row: the file name and whichever index fields the resource has."""
    row: dict[str, Any] = {"filename": f.filename}
    row.update({k: f.resource[k] for k in INDEX_FIELDS if isinstance(f.resource.get(k), str)})
    return row


def _index_bytes(files: list[PackageFile]) -> bytes:
    index = {"index-version": 1, "files": [index_entry(f) for f in files]}
    return (json.dumps(index, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def tgz_bytes(members: list[tuple[str, bytes]]) -> bytes:
    """A gzip'd tar of ``(name, content)`` pairs, byte-for-byte reproducible."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), FIXED_MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(tar_buffer.getvalue())
    return out.getvalue()


def _write_atomically(target: Path, data: bytes) -> None:
    # A half-written package must never be mistaken for a good one (a reader may be a CI cache).
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".tgz")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise InputRejected(bilingual("LISN_PACKAGE_NOT_WRITABLE", path=str(target)),
                            message_id="LISN_PACKAGE_NOT_WRITABLE") from None
