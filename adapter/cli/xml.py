"""``adapter keys init``, ``to-xml``, ``verify``, ``render``: the outbound XML, its signature and views.

Thin: each command reads its files, calls adapter.outbound / adapter.signing, prints, and exits
with the codes of ``adapter.cli._common``: 0 ok, 1 the input has errors (not a Bundle, an invalid
signature, a failed check), 2 unreadable input or a usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from adapter import errors, messages
from adapter.cli._common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, echo_json, fail, outcome_text
from adapter.fhir.parse import parse_json, parse_xml, sniff
from adapter.signing import Verification, init_dev_keys, load_certificates, load_key, sign_document, verify_document

if TYPE_CHECKING:
    from adapter.outbound.html import Source


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(errors.InputRejected(messages.text("LISN_INPUT_UNREADABLE", file=path, reason=exc.strerror),
                                  message_id="LISN_INPUT_UNREADABLE"))
        raise  # unreachable: fail() exits


def _write(data: bytes, out: Path | None, option: str = "-o/--output") -> None:
    if out is None:
        sys.stdout.buffer.write(data)  # bytes as produced: never re-encoded or re-indented
        sys.stdout.buffer.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        fail(errors.InputRejected(messages.text("LISN_OUTPUT_UNWRITABLE", option=option, path=out,
                                                reason=exc.strerror), message_id="LISN_OUTPUT_UNWRITABLE"),
             code=EXIT_USAGE)


def _bundle(path: Path) -> dict[str, Any]:
    """The submission Bundle in ``path``, validated as the service validates it before rendering.

    The mapping and the view are written for valid certificates: a Bundle with errors (a code that
    is a number, a list where one value belongs) stops here with its errors, what and where, exit 1,
    instead of reaching them."""
    raw = _read(path)
    try:
        data = parse_json(raw)
    except errors.InputRejected as exc:
        fail(exc)
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        # Read, but not what this command takes: the input has an error (exit 1), as in validate.
        fail(errors.ValidationFailed(messages.text("LISN_INPUT_FILE_NOT_BUNDLE", file=path),
                                     message_id="LISN_INPUT_NOT_BUNDLE"))
    _valid_or_exit(raw, path)
    return cast(dict[str, Any], data)


def _valid_or_exit(raw: bytes, path: Path) -> None:
    from adapter.cli.validate import outcome_of  # here: `adapter keys` and `verify` do without validation
    from adapter.fhir.registry import default_registry
    from adapter.settings import Settings

    try:
        oo = outcome_of(raw, default_registry(), Settings.from_env())
    except errors.InputRejected as exc:
        fail(exc)
    if errors.has_errors(oo):
        found = [i for i in oo.get("issue", []) if i.get("severity") in ("error", "fatal")]
        click.echo(outcome_text({"issue": found}, messages.text("LISN_INPUT_FILE_INVALID", file=path)), err=True)
        sys.exit(EXIT_INVALID)


@click.group("keys")
def keys() -> None:
    """Development keys for signing (never for production)."""


@keys.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--algorithm", type=click.Choice(["rsa", "ecdsa"]), default="rsa", show_default=True,
              help="RSA-3072 or ECDSA P-256.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def keys_init(directory: Path, algorithm: str, force: bool) -> None:
    """Write DIRECTORY/ca.pem, signing-key.pem, signing-cert.pem: a test CA and signer, NOT FOR PRODUCTION.

    Idempotent: when DIRECTORY already holds all three, they are kept (exit 0; --force replaces them).
    """
    names = ("ca.pem", "signing-key.pem", "signing-cert.pem")
    existing = [p for p in names if (directory / p).exists()]
    if len(existing) == len(names) and not force:
        click.echo(f"{directory} already holds development keys: kept (--force replaces them).")
        return
    if existing and not force:
        fail(errors.InputRejected(messages.text("LISN_KEYS_EXIST", directory=directory, files=", ".join(existing)),
                                  message_id="LISN_KEYS_EXIST"))
    try:
        paths = init_dev_keys(directory, algorithm=algorithm)
    except OSError as exc:
        fail(errors.InputRejected(messages.text("LISN_OUTPUT_UNWRITABLE", option="DIRECTORY", path=directory,
                                                reason=exc.strerror), message_id="LISN_OUTPUT_UNWRITABLE"),
             code=EXIT_USAGE)
    click.echo(f"CA (trust anchor):      {paths.ca}\nSigning key:            {paths.key}\n"
               f"Signing cert + chain:   {paths.cert}\nThese are TEST keys — NOT FOR PRODUCTION.")


@click.command("to-xml")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(["auto", "original", "replacing", "withdrawn", "replaced"]),
              default="auto", show_default=True, help="auto: from the MessageHeader event; replaced needs schema 1.1.")
@click.option("--replaces", default=None, help="Certificate id replaced (default: the Bundle's replaces extension).")
@click.option("--replaced-by", default=None, help="With --status replaced: the id of the certificate that replaces it.")
@click.option("--sign", "do_sign", is_flag=True, help="Sign the document (enveloped XML-DSig).")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Private key, PEM or PKCS#12.")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Signer certificate and chain, PEM (default: from the PKCS#12 key file).")
@click.option("--passphrase", default=None, help="Passphrase of the key file.")
@click.option("--xades", is_flag=True, help="Add XAdES-BES properties (SigningTime, SigningCertificateV2).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def to_xml(file: Path, status: str, replaces: str | None, replaced_by: str | None, do_sign: bool, key: Path | None, cert: Path | None,
           passphrase: str | None, xades: bool, output: Path | None) -> None:
    """Print the municipal XML for FILE, a submission Bundle (JSON); optionally signed."""
    from adapter.outbound import render_municipal_xml  # here: `adapter keys` and `verify` do without it
    from adapter.outbound.municipal import status_of

    if not do_sign:
        given = [name for name, value in (("--key", key), ("--cert", cert), ("--passphrase", passphrase),
                                          ("--xades", xades)) if value]
        if given:  # never write an unsigned document when signing was meant
            raise click.UsageError(f"{', '.join(given)} given without --sign: add --sign, or leave them out")
    elif key is None:
        raise click.UsageError("--sign needs --key (and --cert unless the key is PKCS#12)")
    elif cert is None and _is_pem_file(key):
        raise click.UsageError(f"--sign with the PEM key {key} needs --cert (only a PKCS#12 key file holds "
                               "its certificate)")
    bundle = _bundle(file)
    if status == "auto":
        status = status_of(bundle)
    signer = _signer(key, cert, passphrase) if do_sign and key is not None else None
    try:
        xml = render_municipal_xml(bundle, status=status, replaces=replaces, replaced_by=replaced_by)
        if signer is not None:
            private_key, chain = signer
            algorithm = "ecdsa-sha256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
            xml = sign_document(xml, key=private_key, cert_chain=chain, algorithm=algorithm, xades=xades)
    except errors.AdapterError as exc:
        fail(exc)
    _write(xml, output)


def _is_pem_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4096).lstrip().startswith(b"-----BEGIN")
    except OSError:
        return False  # load_key names the file


def _signer(key: Path, cert: Path | None, passphrase: str | None) -> tuple[Any, list[x509.Certificate]]:
    """The key (--key) and chain (--cert, else the PKCS#12 --key); an unreadable file is exit 2."""
    try:
        return load_key(key, passphrase), load_certificates(cert or key, passphrase)
    except errors.AdapterError as exc:
        fail(exc, code=EXIT_USAGE)



def _json_scalar(raw: bytes) -> bool:
    """``null``, ``3``, ``"x"``: JSON, so "not a Bundle" (exit 1) rather than "invalid XML"."""
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _trust(paths: tuple[Path, ...]) -> list[x509.Certificate]:
    try:
        return [c for path in paths for c in load_certificates(path)]
    except errors.AdapterError as exc:
        fail(exc, code=EXIT_USAGE)
        raise  # unreachable: fail() exits


def _line(result: Verification) -> str:
    return f"{'OK' if result.ok else 'FAIL'} [{result.code}] {result.text()}"


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trust", "trust", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Trust anchors (PEM CA certificates); repeatable. Nothing else is trusted.")
@click.option("--format", "out_format", type=click.Choice(["text", "json"]), default="text")
@click.option("--signed-content", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="When valid, write exactly what the signature covers to this file (the part to use).")
def verify(file: Path, trust: tuple[Path, ...], out_format: str, signed_content: Path | None) -> None:
    """Verify the signature of FILE (municipal XML): exit 0 when valid and trusted, 1 otherwise."""
    xml = _read(file)
    anchors = _trust(trust)
    try:
        parse_xml(xml, keep_pis=True)  # what verify_document reads: not XML at all is unreadable input (2)
    except errors.InputRejected as exc:
        fail(errors.InputRejected(f"{file}: {exc}", message_id=exc.message_id), out_format)
    result = verify_document(xml, trust=anchors)
    if out_format == "json":
        echo_json(result.outcome())
    else:
        click.echo(_line(result))
    if result.ok and signed_content is not None and result.signed_content is not None:
        _write(result.signed_content, signed_content, "--signed-content")
    sys.exit(EXIT_OK if result.ok else EXIT_INVALID)


@click.command("render")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "out_format", type=click.Choice(["html", "pdf"]), default="html", show_default=True)
@click.option("--trust", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify the signature against these CA certificates; a signed document is shown only so, "
                   "from its signed content.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def render(file: Path, out_format: str, trust: tuple[Path, ...], output: Path | None) -> None:
    """Render FILE (municipal XML, or a submission Bundle as JSON) as HTML or PDF for a case worker.

    A signed document needs --trust: it is rendered from what its signature covers, and an
    invalid signature renders nothing (exit 1, with the reason).
    """
    from adapter.outbound import render_html, render_pdf  # here: `adapter keys` and `verify` do without it

    if out_format == "pdf" and output is None and sys.stdout.isatty():
        raise click.UsageError("--format pdf writes binary: give -o FILE (or redirect stdout)")
    raw = _read(file)
    source: Source = _bundle(file) if sniff(raw) == "json" or _json_scalar(raw) else raw
    if trust and isinstance(source, bytes):
        source = verify_document(source, trust=_trust(trust))
        if not source.ok:
            click.echo(_line(source), err=True)
            sys.exit(EXIT_INVALID)
    try:
        if out_format == "pdf":
            _write(render_pdf(source), output)
        else:
            _write(render_html(source).encode("utf-8"), output)
    except errors.AdapterError as exc:
        fail(exc)


def register(cli: click.Group) -> None:
    for command in (keys, to_xml, verify, render):
        cli.add_command(command)
