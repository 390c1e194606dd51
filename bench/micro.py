"""In-process sections: validation and transform + sign, each against a baseline in the same run.

- validation: ``adapter.validation.validate_bytes`` (safe parse + every check) of the example submission,
  against fhir.resources (R4B models, pydantic) parsing the same bytes;
- transform + sign: ``render_municipal_xml`` + ``sign_document``, against a bare signxml
  enveloped RSA-SHA256 signature of the same XML.

A section whose stage is not importable yet is reported as ``unavailable`` with the
reason, never silently skipped. When the stage engineers' own scripts
(``bench/bench_validate.py``, ``bench/bench_transform_sign.py``) are present, their
``run(quick=...)`` (or ``measure(seconds)``) result is attached under ``stage_bench``.
"""

from __future__ import annotations

import importlib
import inspect
import traceback
from collections.abc import Callable
from typing import Any

from bench import certificates, keys, stats


def _unavailable(exc: BaseException) -> dict[str, Any]:
    return {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}


def _stage_bench(module: str, quick: bool) -> dict[str, Any] | None:
    """The result of the stage engineer's own benchmark script, when it exists and has ``run``."""
    try:
        mod = importlib.import_module(f"bench.{module}")
    except ModuleNotFoundError:
        return None
    run = getattr(mod, "run", None)
    measure = getattr(mod, "measure", None)  # bench_transform_sign.py: measure(seconds) -> rows
    if not callable(run) and not callable(measure):
        return {"status": "no run() or measure() function"}
    try:
        if callable(run):
            params = inspect.signature(run).parameters
            return run(quick=quick) if "quick" in params else run()
        return {"status": "ok", "rows": measure(0.5 if quick else 3.0)}
    except Exception as exc:  # noqa: BLE001 - a broken stage script must not hide our figures
        return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(limit=3)}


def validation(*, quick: bool) -> dict[str, Any]:
    try:
        from fhir.resources.R4B.bundle import Bundle as R4BBundle

        from adapter.fhir.registry import default_registry
        from adapter.validation import validate_bytes
    except ImportError as exc:
        return _unavailable(exc)
    raw = certificates.example_bytes()
    registry = default_registry()
    oo = validate_bytes(raw, registry)
    errors = [i for i in oo.get("issue", []) if i.get("severity") in ("error", "fatal")]
    runs, budget = (30, 1.0) if quick else (300, 5.0)
    # validate_bytes: safe parse + every check, what $validate and $process-message run.
    subject = stats.measure(lambda: validate_bytes(raw, registry), min_runs=runs, budget_s=budget)
    baseline = stats.measure(lambda: R4BBundle.model_validate_json(raw), min_runs=runs, budget_s=budget)
    return {
        "status": "ok",
        "document_bytes": len(raw),
        "example_errors": len(errors),
        "adapter_validate": subject,
        "baseline_fhir_resources_r4b_parse": baseline,
        "ratio_vs_baseline": stats.ratio(subject, baseline),
        "ratio_by_cpu": baseline["cpu_min_ms"] / subject["cpu_min_ms"],
        "stage_bench": _stage_bench("bench_validate", quick),
    }


def _bare_signxml(key: keys.BenchKey) -> Callable[[bytes], bytes]:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from lxml import etree
    from signxml import DigestAlgorithm, SignatureMethod, XMLSigner
    from signxml.algorithms import CanonicalizationMethod

    private = load_pem_private_key(key.key_pem, password=None)
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)

    def sign(xml: bytes) -> bytes:
        return etree.tostring(signer.sign(etree.fromstring(xml), key=private, cert=key.cert_pem.decode()))

    return sign


def _adapter_sign(key: keys.BenchKey) -> Callable[[bytes], bytes]:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from adapter.signing import sign_document

    # Both sides get the key loaded once, as a running service holds it.
    private = load_pem_private_key(key.key_pem, password=None)

    def sign(xml: bytes) -> bytes:
        return sign_document(xml, key=private, cert_chain=[key.cert_pem])  # type: ignore[arg-type]

    return sign


def transform_sign(*, quick: bool) -> dict[str, Any]:
    try:
        from adapter.outbound import render_municipal_xml
        from adapter.signing import sign_document  # noqa: F401 - availability check
    except ImportError as exc:
        return _unavailable(exc)
    bundle = certificates.example()
    key = keys.make_key()
    xml = render_municipal_xml(bundle)
    adapter_sign, bare_sign = _adapter_sign(key), _bare_signxml(key)
    adapter_sign(xml)
    runs, budget = (20, 1.0) if quick else (200, 5.0)
    subject = stats.measure(lambda: adapter_sign(render_municipal_xml(bundle)), min_runs=runs, budget_s=budget)
    transform = stats.measure(lambda: render_municipal_xml(bundle), min_runs=runs, budget_s=budget)
    baseline = stats.measure(lambda: bare_sign(xml), min_runs=runs, budget_s=budget)
    return {
        "status": "ok",
        "xml_bytes": len(xml),
        "adapter_transform_sign": subject,
        "adapter_transform_only": transform,
        "baseline_bare_signxml_sign": baseline,
        "ratio_vs_baseline": stats.ratio(subject, baseline),
        "ratio_by_cpu": baseline["cpu_min_ms"] / subject["cpu_min_ms"],
        "stage_bench": _stage_bench("bench_transform_sign", quick),
    }
