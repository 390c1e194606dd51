"""Signing: enveloped XML-DSig (optionally XAdES-BES) with signxml; verification against our trust store.

Takes: an XML document and keys (PEM or PKCS#12), or a signed document and trust anchors; a
submission Bundle whose Provenance carries a JWS over the QuestionnaireResponse.
Gives: the signed document, or a verification result with its reason.
No IO (except reading/writing key files in ``keys.py``), no Flask, no database.
"""

from adapter.signing.keys import (
           DevKeyPaths,
           Signer,
           init_dev_keys,
           load_certificates,
           load_key,
           load_signer,
           load_trust,
)
from adapter.signing.provenance import ProvenanceSignatureResult, verify_provenance_signatures
from adapter.signing.xmldsig import Verification, sign_document, verify_document

__all__ = ["DevKeyPaths", "ProvenanceSignatureResult", "Signer", "Verification", "init_dev_keys", "load_certificates",
           "load_key", "load_signer", "load_trust", "sign_document", "verify_document", "verify_provenance_signatures"]
