"""Service commands: ``serve``, ``db upgrade``, ``clients``, ``recipients``, ``audit``.

Thin: each command reads the settings (``Settings.from_env``), opens the configured database
through ``adapter.wiring`` (``ADAPTER_DATABASE_URL``, else SQLite in ``ADAPTER_DATA_DIR``,
migrated on open), calls one store function and prints the result. Clients, recipients and the
audit chain are the store's own administration, not a flow of patient data.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.orm import Session

from adapter import wiring
from adapter.cli._common import (
    EXIT_ENVIRONMENT,
    EXIT_INVALID,
    EXIT_USAGE,
    EnvironmentProblem,
    echo_json,
    open_migrated_store,
    open_store,
)
from adapter.settings import Settings

if TYPE_CHECKING:
    from adapter.store.sql import SqlStore


def _settings() -> Settings:
    return Settings.from_env()


@contextmanager
def _refusal() -> Iterator[None]:
    """An unsafe or unusable configuration: one line naming what is missing, exit 3."""
    try:
        yield
    except wiring.UnsafeConfiguration as exc:
        click.echo(f"adapter: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)


@contextmanager
def _store(settings: Settings) -> Iterator[SqlStore]:
    with _refusal():
        store = open_migrated_store(settings)
    try:
        yield store
    finally:
        store.engine.dispose()


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    with _store(settings) as store, store.session() as session:
        yield session


def _pepper(settings: Settings) -> bytes:
    with _refusal():
        return wiring.token_pepper(settings)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0: any free port, printed at start).")
def serve(host: str, port: int) -> None:
    """Run the FHIR API (embedded default: SQLite in ADAPTER_DATA_DIR, migrated on start)."""
    from adapter.api import create_app
    from adapter.api.serving import make_embedded_server

    settings = _settings()
    if not settings.service.base_url:
        # Location headers and fullUrls should name the address this server actually listens on.
        settings = replace(settings, service=replace(settings.service, base_url=f"http://{host}:{port}/fhir"))
    _probe(host, port)  # before the app: a port in use is said at once, as exit 3
    try:
        with _refusal():
            app = create_app({"SETTINGS": settings})
    except OSError as exc:
        if exc.filename is None:
            raise
        raise EnvironmentProblem(f"ADAPTER_DATA_DIR={settings.database.data_dir}: {exc.filename} cannot be "
                                 f"created or written ({exc.strerror})") from None
    if settings.delivery.run_in_process:
        # The embedded default can deliver without a separate ``adapter worker`` (issue 7).
        wiring.start_in_process_relay(app.extensions["lisn"])
    server = make_embedded_server(app, host, port)
    click.echo(f"LISN adapter listening on http://{host}:{server.server_port}/fhir", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def _probe(host: str, port: int) -> None:
    """Refuse (exit 3) a --host/--port this process cannot listen on: in use, not ours, no such address."""
    import socket

    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
            probe.bind(address)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot listen on {host}:{port} (--host/--port): {exc.strerror or exc}") from None


@click.group("db")
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Bring the database to the newest schema."""
    from adapter.store import migrate

    store = open_store(_settings(), upgrade=False, audited=False)
    migrate.upgrade(store.engine, revision)
    click.echo("database at " + ", ".join(sorted(migrate.current(store.engine))))
    store.engine.dispose()


@click.group("clients")
def clients() -> None:
    """API clients: EHR systems (sender), municipalities, administrators."""


@clients.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["sender", "municipality", "admin", "statistics"]), required=True)
@click.option("--care-unit", "care_units", multiple=True, help="HSA-id of a care unit (sender; repeatable).")
@click.option("--kommunkod", help="The municipality this client acts for (municipality).")
@click.option("--cert", "cert_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Client certificate (PEM) forwarded by the trusted proxy.")
def clients_add(name: str, role: str, care_units: tuple[str, ...], kommunkod: str | None,
                cert_path: Path | None) -> None:
    """Register a client and print its API token (shown once; stored only hashed)."""
    from adapter.flows.access import cert_fingerprint
    from adapter.store.clients import add_client

    if role == "sender" and not care_units:
        raise click.UsageError("a sender needs at least one --care-unit")
    if role == "municipality" and not kommunkod:
        raise click.UsageError("a municipality needs --kommunkod")
    fingerprint = None
    if cert_path is not None:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError as exc:
            raise click.BadParameter(f"{cert_path} is not a PEM certificate ({str(exc).splitlines()[0]})",
                                     param_hint="--cert") from None
        fingerprint = cert_fingerprint(cert.public_bytes(Encoding.DER))
    from sqlalchemy.exc import IntegrityError

    settings = _settings()
    try:
        with _session(settings) as session:
            _, token = add_client(session, name=name, role=role, pepper=_pepper(settings), care_units=care_units,
                                  kommunkod=kommunkod, cert_sha256=fingerprint)
    except IntegrityError:  # the one unique column a new client can clash on is its name
        click.echo(f"error: a client named {name!r} already exists (NAME; `adapter clients token {name}` "
                   "issues it a new token)", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(token)


@clients.command("list")
def clients_list() -> None:
    """List the registered clients (never their tokens)."""
    from adapter.store.clients import list_clients

    with _session(_settings()) as session:
        for c in list_clients(session):
            scope = ",".join(c.care_units) if c.role == "sender" else (c.kommunkod or "")
            click.echo(f"{c.name}\t{c.role}\t{scope}")


@clients.command("token")
@click.argument("name")
def clients_token(name: str) -> None:
    """Issue a new token for a client (the old one stops working)."""
    from adapter.store.clients import rotate_token

    settings = _settings()
    with _session(settings) as session:
        token = rotate_token(session, name=name, pepper=_pepper(settings))
    if token is None:
        click.echo(f"no client {name!r}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(token)


@clients.command("disable")
@click.argument("name")
@click.option("--cert-only", is_flag=True, help="Forget only the client's certificate; its token still works.")
def clients_disable(name: str, cert_only: bool) -> None:
    """Switch a client off at once: its next request is 401 (token and certificate alike). Audited."""
    from adapter.store.audit import record
    from adapter.store.clients import disable

    with _store(_settings()) as store, store.session() as session:
        found = disable(session, name=name, certificate_only=cert_only)
        if found is not None:
            # Who did it (the operating-system user), and to which client (the `certificate` column
            # names the object of an administrative row: docs/service.md).
            record(session, store.seal, actor=wiring.OPERATOR.name, end_user=getpass.getuser(),
                   action="client-disable", outcome="certificate-removed" if cert_only else "disabled",
                   certificate=f"client:{name}")
    if found is None:
        click.echo(f"no client {name!r}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"client {name} " + ("certificate removed" if cert_only else "disabled"))


@click.group("recipients")
def recipients() -> None:
    """The recipient registry: socialnämnder by kommunkod."""


@recipients.command("add")
@click.argument("kommunkod")
@click.option("--name", required=True)
@click.option("--orgnr", "organisationsnummer")
@click.option("--mode", "delivery_mode", type=click.Choice(["push", "pull"]), default="pull", show_default=True)
@click.option("--endpoint", "endpoint_url")
@click.option("--mtls-cert", "mtls_cert_path")
@click.option("--mtls-key", "mtls_key_path")
@click.option("--ca-bundle", "ca_bundle_path", help="PEM trust anchors for the recipient's server certificate "
              "(default: the system store).")
@click.option("--max-attempts", type=int)
def recipients_add(kommunkod: str, **options: object) -> None:
    """Register (or update) the socialnämnd of KOMMUNKOD."""
    from adapter.store.recipients import add_recipient

    try:
        with _session(_settings()) as session:
            add_recipient(session, kommunkod=kommunkod, **options)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(f"recipient {kommunkod}: {exc}") from None
    click.echo(f"recipient {kommunkod} registered")


@recipients.command("list")
def recipients_list() -> None:
    """List the registered recipients."""
    from adapter.store.recipients import list_recipients

    with _session(_settings()) as session:
        for r in list_recipients(session):
            click.echo(f"{r.kommunkod}\t{r.name}\t{r.delivery_mode}\t{r.endpoint_url or '-'}")


@click.group("audit")
def audit() -> None:
    """The audit log: verify its hash chain, extract a patient's log."""


@audit.command("verify")
def audit_verify() -> None:
    """Check every row's MAC, the chain and the checkpoints kept outside the database; exit 1
    naming the first changed, forged, removed or truncated row."""
    from adapter.store.audit import verify

    with _store(_settings()) as store, store.session() as session:
        assert store.seal is not None  # an audited store always has its seal
        count, problem = verify(session, store.seal)
    if problem is not None:
        click.echo(f"audit chain BROKEN at row {problem.seq}: {problem.problem} ({count} rows read)", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(f"audit chain intact: {count} rows")


@audit.command("rekey")
def audit_rekey() -> None:
    """Once, after upgrading from the unkeyed chain: check it, MAC every row under the audit key
    and write the first checkpoint (docs/service.md, "Upgrading an existing log")."""
    from adapter.store.audit import rekey

    try:
        with _store(_settings()) as store, store.session() as session:
            assert store.seal is not None
            count = rekey(session, store.seal)
    except ValueError as exc:
        click.echo(f"audit rekey refused: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(f"audit chain re-keyed: {count} rows")


@audit.command("extract")
@click.option("--patient", required=True,
              help="Personnummer or samordningsnummer: 12 digits, with or without the dash (19121212-1212).")
def audit_extract(patient: str) -> None:
    """Every access to one patient's data, as JSON (for a log extract to the patient)."""
    from adapter.store.audit import as_dict, extract

    patient = _personnummer(patient)
    with _session(_settings()) as session:
        rows = [as_dict(r) for r in extract(session, patient=patient)]
    echo_json({"patient": patient, "entries": rows})


def _personnummer(given: str) -> str:
    """The 12-digit form the audit log keeps: 19121212-1212 and 191212121212 are one patient."""
    digits = given.strip()
    if len(digits) == 13 and digits[8] in "-+":
        digits = digits[:8] + digits[9:]
    if len(digits) != 12 or not digits.isdigit():
        raise click.BadParameter(f"{given!r} is not a 12-digit personnummer or samordningsnummer "
                                 "(YYYYMMDDNNNN or YYYYMMDD-NNNN)", param_hint="--patient")
    return digits


def register(cli: click.Group) -> None:
    for command in (serve, db, clients, recipients, audit):
        cli.add_command(command)
