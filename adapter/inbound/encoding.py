"""The encoding an XML export declares must be the one its bytes are in.

A file that declares ``ISO-8859-1`` but holds UTF-8 bytes parses without error and turns
"Läkarsson" into "LÃ¤karsson": garbled clinical text that would be signed and delivered.
So a single-byte declaration over bytes that are valid, non-ASCII UTF-8 is refused (real
Latin-1 Swedish text is never valid UTF-8: "ä" is one byte followed by an ASCII letter),
as is a declaration that contradicts a byte-order mark. XML 1.0 §4.3.3, Appendix F.
"""

from __future__ import annotations

import codecs
import re

from adapter import errors, messages

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?\sencoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_UNICODE = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32"})


def declared(raw: bytes) -> str | None:
    """The normalised name of the encoding in the XML declaration (None when there is none)."""
    m = _DECLARATION.match(raw.removeprefix(codecs.BOM_UTF8)[:200])
    if not m:
        return None
    try:
        return codecs.lookup(m.group(1).decode("ascii")).name
    except LookupError:
        return m.group(1).decode("ascii").lower()


def check_declared(raw: bytes) -> None:
    """Raise InputRejected when the declared encoding contradicts the bytes."""
    name = declared(raw)
    if name is None:
        return
    bom = next((enc for mark, enc in _BOMS if raw.startswith(mark)), None)
    if bom and not name.startswith(bom):
        _refuse(name, f"a {bom.upper()} byte-order mark")
    if name in _UNICODE or all(b < 0x80 for b in raw):
        return
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return  # not UTF-8: the single-byte declaration may well be true
    _refuse(name, "UTF-8 bytes")


def _refuse(name: str, found: str) -> None:
    mid = "LISN_INPUT_ENCODING_MISMATCH"
    raise errors.InputRejected(messages.bilingual(mid, declared=name.upper(), found=found), message_id=mid,
                               expression="/")
