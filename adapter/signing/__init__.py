"""Signing: enveloped XML-DSig (optionally XAdES-BES) with signxml; verification against our trust store.

Takes: an XML document and keys (PEM or PKCS#12), or a signed document and trust anchors.
Gives: the signed document, or a verification result with its reason.
No IO, no Flask, no database.
"""
