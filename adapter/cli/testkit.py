"""``adapter testkit sender|receiver|files``: the conformance test kit (adapter/testkit, docs/testkit.md).

Exit codes: 0 every scenario (or file) passed; 1 at least one failed; 2 usage or an unusable
scenario file; 3 the target answered no request at all (not running, wrong URL, TLS refused).
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from adapter.cli._common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, outcome_text

EXIT_ENVIRONMENT = 3


def _vars(assignments: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for a in assignments:
        name, sep, value = a.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--var {a!r}: write NAME=VALUE")
        out[name.strip()] = value
    return out


def _load(kind: str, folder: Path | None, only: tuple[str, ...], extra: dict[str, str]) -> list[Any]:
    from adapter.testkit import ScenarioError, load_scenarios

    try:
        scenarios = load_scenarios(kind, folder, set(extra))
    except ScenarioError as exc:
        click.echo(f"testkit: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if only:
        scenarios = [s for s in scenarios if any(fnmatch.fnmatch(s.id, pattern) for pattern in only)]
        if not scenarios:
            click.echo(f"testkit: no scenario matches {', '.join(only)}", err=True)
            sys.exit(EXIT_USAGE)
    return scenarios


def _line(ok: bool, ident: str, name: str, seconds: float, why: str = "") -> None:
    mark = click.style("PASS", fg="green") if ok else click.style("FAIL", fg="red", bold=True)
    click.echo(f"{mark} {ident:<44} {name} ({seconds:.2f} s)")
    if why:
        click.echo(f"       {why}")


def _write_reports(suite: str, title: str, target: str, cases: list[Any], junit: Path | None,
                   html: Path | None, unit: str = "scenarios") -> None:
    from adapter.testkit.report import html_report
    from adapter.testkit.report import junit as junit_xml

    try:
        if junit:
            junit.write_bytes(junit_xml(suite, cases))
            click.echo(f"JUnit XML: {junit}")
        if html:
            html.write_text(html_report(title, target, cases, unit), encoding="utf-8")
            click.echo(f"HTML report: {html}")
    except OSError as exc:
        click.echo(f"testkit: cannot write the report: {exc.strerror}: {exc.filename}", err=True)
        sys.exit(EXIT_USAGE)


def _run(kind: str, target: Any, variables: dict[str, str], scenarios: list[Any], signers: Any,
         junit: Path | None, html: Path | None) -> None:
    from adapter.testkit.report import cases_from
    from adapter.testkit.runner import Runner, summary

    def progress(r: Any) -> None:
        cases = cases_from([r])
        _line(r.passed, r.scenario.id, r.scenario.name, r.seconds, cases[0].message)

    results = Runner(target, variables, signers).run(scenarios, progress)
    passed, failed = summary(results)
    seconds = sum(r.seconds for r in results)
    click.echo(f"{kind}: {len(results)} scenarios, {passed} passed, {failed} failed ({seconds:.1f} s)")
    _write_reports(kind, f"LISN test kit: {kind} scenarios", target.base_url, cases_from(results), junit, html)
    if not any(r.reached for r in results):
        click.echo(f"testkit: {target.base_url} answered no request ({results[0].error if results else ''})",
                   err=True)
        sys.exit(EXIT_ENVIRONMENT)
    sys.exit(EXIT_OK if failed == 0 else EXIT_INVALID)


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed([
        click.option("--scenarios", "folder", type=click.Path(file_okay=False, path_type=Path),
                     help="A folder of scenario files (*.yaml) instead of the kit's own."),
        click.option("--only", multiple=True, metavar="ID", help="Run only scenarios whose id (file name "
                     "without .yaml) matches this pattern, e.g. '0[2-9]-*'; repeatable."),
        click.option("--var", "assignments", multiple=True, metavar="NAME=VALUE",
                     help="A scenario variable (e.g. --var kommunkod=0180 --var care_unit=SE...); repeatable."),
        click.option("--ca", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="CA bundle (PEM) to verify the target's TLS certificate with."),
        click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per request."),
        click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here."),
        click.option("--html", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here."),
    ]):
        f = opt(f)
    return f


@click.group("testkit")
def testkit() -> None:
    """Conformance scenarios against a LISN sender endpoint or a municipal receiver, and vendor files."""


@testkit.command("sender")
@click.option("--base-url", required=True, help="The FHIR base of the LISN endpoint, e.g. https://host/fhir.")
@click.option("--token", envvar="ADAPTER_TESTKIT_TOKEN", help="The sender client's bearer token "
              "(or $ADAPTER_TESTKIT_TOKEN).")
@click.option("--cert", "client_cert", type=click.Path(dir_okay=False, exists=True), help="Client certificate (PEM).")
@click.option("--key", "client_key", type=click.Path(dir_okay=False, exists=True), help="Its private key (PEM).")
@_common
def sender(base_url: str, token: str | None, client_cert: str | None, client_key: str | None, folder: Path | None,
           only: tuple[str, ...], assignments: tuple[str, ...], ca: str | None, timeout: float,
           junit: Path | None, html: Path | None) -> None:
    """Play an EHR system: valid, invalid, duplicate, conflicting, replacing and withdrawing submissions,
    consent registration and revocation, Task polling. Exit 0 all passed, 1 a scenario failed."""
    from adapter.testkit.runner import Target
    from adapter.testkit.scenario import DEFAULT_VARS

    if not token and not client_cert:
        raise click.UsageError("give the sender's credentials: --token T, or --cert C --key K")
    if bool(client_cert) != bool(client_key):
        raise click.UsageError("--cert and --key go together")
    extra = _vars(assignments)
    scenarios = _load("sender", folder, only, extra)
    target = Target(base_url, token=token, client_cert=(client_cert, client_key) if client_cert and client_key
                    else None, verify=ca or True, timeout=timeout)
    _run("sender", target, DEFAULT_VARS | extra, scenarios, None, junit, html)


@testkit.command("receiver")
@click.option("--url", required=True, help="The municipality's push endpoint, e.g. https://kommun/inbox.")
@click.option("--key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The signing key whose CA the receiver trusts (PEM).")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Its certificate chain (PEM: signer first, then the CA).")
@click.option("--keys-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("testkit-keys"),
              show_default=True, help="Without --key/--cert: TEST keys are made here (once); the receiver must "
              "trust KEYS_DIR/ca.pem.")
@click.option("--client-cert", type=click.Path(dir_okay=False, exists=True), help="TLS client certificate (mTLS).")
@click.option("--client-key", type=click.Path(dir_okay=False, exists=True), help="Its private key.")
@_common
def receiver(url: str, key: Path | None, cert: Path | None, keys_dir: Path, client_cert: str | None,
             client_key: str | None, folder: Path | None, only: tuple[str, ...], assignments: tuple[str, ...],
             ca: str | None, timeout: float, junit: Path | None, html: Path | None) -> None:
    """Play the adapter: push signed municipal XML (a good certificate, a bad signature, an untrusted signer,
    a replay, a withdrawal, an unknown recipient). Exit 0 all passed, 1 a scenario failed."""
    from adapter.signing import init_dev_keys
    from adapter.testkit.documents import Signers
    from adapter.testkit.runner import Target
    from adapter.testkit.scenario import DEFAULT_VARS

    if bool(key) != bool(cert):
        raise click.UsageError("--key and --cert go together")
    if key is None or cert is None:
        key, cert = keys_dir / "signing-key.pem", keys_dir / "signing-cert.pem"
        if not key.is_file():
            init_dev_keys(keys_dir)
            click.echo(f"made TEST signing keys in {keys_dir}; the receiver must trust {keys_dir / 'ca.pem'}")
    extra = _vars(assignments)
    scenarios = _load("receiver", folder, only, extra)
    target = Target(url, client_cert=(client_cert, client_key) if client_cert and client_key else None,
                    verify=ca or True, timeout=timeout)
    from adapter.errors import SigningError

    signers = Signers(key, cert)
    try:
        _ = signers.trusted
    except SigningError as exc:
        click.echo(f"testkit: cannot use the signing key: {exc} [{exc.message_id}]", err=True)
        sys.exit(EXIT_USAGE)
    _run("receiver", target, DEFAULT_VARS | extra, scenarios, signers, junit, html)


@testkit.command("files")
@click.option("--from", "source_format", required=True, metavar="FORMAT",
              help="The export format (as adapter convert --from: inera-xml, openehr-flat, ...).")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--mapping", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Use this mapping file instead of the format's own.")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE", help="A side input of the mapping.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here.")
def files(source_format: str, folder: Path, mapping: Path | None, assignments: tuple[str, ...],
          junit: Path | None, html: Path | None) -> None:
    """Convert and validate every file of FOLDER (a vendor's exports) as a batch: a progress bar on a
    terminal, a summary, exit 0 when every file maps and validates, 1 when one does not."""
    from adapter import errors
    from adapter.inbound import known_formats
    from adapter.inbound.inputs import parse_assignments
    from adapter.testkit.files import check_files, export_files

    if mapping is None and source_format not in known_formats():
        raise click.UsageError(f"unknown format {source_format!r}; known: {', '.join(known_formats())}")
    try:
        inputs = parse_assignments(assignments)
    except errors.InputRejected as exc:
        raise click.UsageError(outcome_text(exc.outcome)) from None
    paths = export_files(folder)
    if not paths:
        click.echo(f"testkit: {folder} holds no files", err=True)
        sys.exit(EXIT_USAGE)
    if sys.stderr.isatty():  # a bar on a terminal; nothing in a log
        bar_context: Any = click.progressbar(length=len(paths), label=f"{source_format} files", file=sys.stderr,
                                             show_pos=True, item_show_func=lambda c: c.id if c else None)
        with bar_context as bar:
            cases = check_files(paths, source_format, mapping, inputs, progress=lambda c: bar.update(1, c))
    else:
        cases = check_files(paths, source_format, mapping, inputs)
    for c in cases:
        if not c.passed:
            _line(False, c.id, "", c.seconds, c.message)
    failed = sum(1 for c in cases if not c.passed)
    click.echo(f"files: {len(cases)} files, {len(cases) - failed} valid, {failed} with errors "
               f"({sum(c.seconds for c in cases):.1f} s)")
    _write_reports("files", f"LISN test kit: {source_format} export files", str(folder), cases, junit, html, "files")
    sys.exit(EXIT_OK if failed == 0 else EXIT_INVALID)


def register(cli: click.Group) -> None:
    cli.add_command(testkit)
