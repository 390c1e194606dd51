"""The municipal XML: a submission Bundle to a schema-valid document (issue 5 §1–2).

The document is built by the mapping engine from ``mappings/outbound/`` (chosen by the template's
major version) and validated against ``schemas/`` with lxml before it is returned; a schema
failure is a bug in a mapping or schema and raises :class:`~adapter.errors.TransformError` with
the element path.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Protocol, cast

from lxml import etree

from adapter import errors, messages
from adapter.fhir.registry import Registry
from adapter.fhir.submission import XML_STATUS_BY_EVENT, Submission
from adapter.outbound.assessment import AnswerIndex, assess
from adapter.outbound.engine import Context, build_serialised, submission_values
from adapter.outbound.mapping import OutboundMapping, mapping_for
from adapter.signing.xmldsig import hand_over

STATUSES = ("original", "replacing", "withdrawn", "replaced")


def _once(part: Any) -> Any:
    """A property of :class:`Submission`, computed once per instance."""
    return cached_property(part.fget)


class _Parts(Submission):
    """A Submission whose parts are resolved once: a render asks for the response, the patient and
    the practitioner's role many times, and each ask resolves references across the Bundle (here
    over the entries' keys, made once)."""

    header = _once(Submission.header)
    response = _once(Submission.response)
    patient = _once(Submission.patient)
    practitioner_role = _once(Submission.practitioner_role)
    practitioner = _once(Submission.practitioner)
    care_unit = _once(Submission.care_unit)
    care_provider = _once(Submission.care_provider)
    recipient = _once(Submission.recipient)
    protected_identity = _once(Submission.protected_identity)

    @cached_property
    def _keys(self) -> list[tuple[Any, str, str, dict[str, Any]]]:
        """Each entry's resource with what :meth:`Submission.resolve` compares a reference with."""
        return [(e.get("fullUrl"), f"{r.get('resourceType')}/{r.get('id')}", e.get("fullUrl") or "", r)
                for e in self.entries() if isinstance(r := e.get("resource"), dict)]

    def resolve(self, reference: Any) -> dict[str, Any] | None:
        """:meth:`Submission.resolve` (the same first match, a test holds them equal)."""
        ref = reference.get("reference") if isinstance(reference, dict) else reference
        if not isinstance(ref, str):
            return None
        tail = "/" + ref
        for full_url, typed, url, resource in self._keys:
            if full_url == ref or typed == ref or url.endswith(tail):
                return resource
        return None


def status_of(bundle: dict[str, Any]) -> str:
    """The status of the document a submission Bundle becomes, from its MessageHeader event."""
    return XML_STATUS_BY_EVENT.get(Submission(bundle).event or "", "original")


def render_municipal_xml(bundle: dict[str, Any], *, registry: Registry | None = None, status: str | None = None,
                         replaces: str | None = None, replaced_by: str | None = None,
                         schema_version: str | None = None) -> bytes:
    """The municipal XML (UTF-8 bytes, no pretty-printing) for a validated submission Bundle.

    ``status`` is ``original``, ``replacing`` (then ``replaces`` or the Bundle's ``replaces``
    extension names the certificate replaced), ``withdrawn`` or, from schema version 1.1,
    ``replaced`` (then ``replaced_by`` names the certificate that replaces it); None takes it from
    the Bundle's MessageHeader event, so that a withdrawal Bundle never renders as a valid
    certificate. ``schema_version`` forces a schema version of the template's major version
    (default: the one that names the template's items, see :func:`mapping_for`).
    """
    mapping, ctx = prepare(bundle, status=status, replaces=replaces, replaced_by=replaced_by,
                           schema_version=schema_version)
    try:
        xml, root = build_serialised(mapping, ctx, registry)
    except ValueError:  # lxml: a control character or similar that XML 1.0 cannot carry
        mid = "LISN_OUTBOUND_NOT_XML_TEXT"
        raise errors.TransformError(messages.bilingual(mid), message_id=mid) from None
    validate_document(root, mapping)
    # The bytes are those the mapping wrote (what lxml would write for the tree, a test holds them
    # equal): not serialised again. The tree goes on to the signer with them, so that signing them
    # need not parse them again.
    return hand_over(xml, root)


def prepare(bundle: dict[str, Any], *, status: str | None = None, replaces: str | None = None,
            replaced_by: str | None = None, schema_version: str | None = None) -> tuple[OutboundMapping, Context]:
    """The mapping and the context :func:`render_municipal_xml` builds the document from (its
    arguments); TransformError for a Bundle without a response or a status the mapping cannot carry."""
    sub = _Parts(bundle)
    qr = sub.response
    if qr is None:
        mid = "LISN_OUTBOUND_NO_RESPONSE"
        raise errors.TransformError(messages.bilingual(mid), message_id=mid, expression="Bundle.entry")
    replaces = replaces or sub.replaces
    status = status or XML_STATUS_BY_EVENT.get(sub.event or "", "original")
    mapping = mapping_for(sub.questionnaire, schema_version=schema_version)
    if status not in mapping.statuses or (status == "replacing" and not replaces) \
            or (status == "replaced" and not replaced_by):
        mid = "LISN_OUTBOUND_BAD_STATUS"
        raise errors.TransformError(messages.bilingual(mid, status=status, allowed=", ".join(mapping.statuses),
                                                       version=mapping.schema_version), message_id=mid)
    index = AnswerIndex()
    # The summary objects themselves, not their as_dict() copy: the engine reads their fields, and
    # a date field writes as its ISO form either way.
    values = submission_values(sub, assess(qr, index=index), status=status,
                               replaces=replaces if status == "replacing" else None,
                               replaced_by=replaced_by if status == "replaced" else None)
    resources = {"patient": sub.patient, "practitioner": sub.practitioner, "care_unit": sub.care_unit,
                 "care_provider": sub.care_provider, "recipient": sub.recipient,
                 "practitioner_role": sub.practitioner_role}
    return mapping, Context(values=values, resources=resources, index=index)


class _LogEntry(Protocol):
    """The parts of lxml's ``_LogEntry`` used here (lxml-stubs leave ``_ErrorLog`` opaque)."""

    path: str
    message: str


def _entries(log: etree._ErrorLog) -> Sequence[_LogEntry]:
    return cast("Sequence[_LogEntry]", log)


def validate_document(root: etree._Element, mapping: OutboundMapping) -> None:
    """Raise TransformError with the element path of the first schema violation."""
    if mapping.schema.validate(root):
        return
    first = _entries(mapping.schema.error_log)[0]
    path = readable_path(root, first.path or "/")
    mid = "LISN_OUTBOUND_XSD_INVALID"
    detail = first.message
    raise errors.TransformError(messages.bilingual(mid, path=path, detail=detail), message_id=mid,
                                outcome=errors.outcome([errors.issue(
                                    "error", "exception", messages.bilingual(mid, path=path, detail=detail),
                                    expression=path, message_id=mid,
                                    diagnostics="; ".join(f"{e.path}: {e.message}" for e in _entries(mapping.schema.error_log)))]))


def readable_path(root: etree._Element, xpath: str) -> str:
    """``/intyg/svar/diagnos[2]/kod`` for lxml's ``/*/*[6]/*[6]/*[1]`` (an index only where a name repeats)."""
    try:
        # An error-log path is a location path, so the result is a node-set (a list).
        found = cast(list[Any], root.getroottree().xpath(xpath))
    except etree.XPathError:
        return xpath
    if not found or not isinstance(found[0], etree._Element):
        return xpath
    steps = []
    for el in [found[0], *found[0].iterancestors()]:
        name = etree.QName(el).localname
        parent = el.getparent()
        same = [] if parent is None else [s for s in parent if s.tag == el.tag]
        steps.append(f"{name}[{same.index(el) + 1}]" if len(same) > 1 else name)
    return "/" + "/".join(reversed(steps))
