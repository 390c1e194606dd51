"""The command line: ``adapter <command>``. It only translates.

Each module in this package adds its commands with ``register(group)``. The group is lazy: a
module is imported only when one of its commands runs (or its own ``--help`` is asked for), so
``adapter validate`` loads the validator and not the database, the service or Flask (issue 15,
target 3; ``bench/bench_cli.py``). :data:`COMMANDS` names each command's module and its short help
for ``adapter --help``; a new command gets a row there, and ``tests/unit/cli/test_cli_lazy.py``
fails while a module's real commands and the table differ.

Commands call the same library functions the HTTP service calls, and print OperationOutcomes for errors.
"""

from __future__ import annotations

import click

from adapter.cli._common import LazyGroup, describe

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module in adapter.cli, short help = the first sentence of the command's help)
    "audit": ("service", "The audit log: verify its hash chain, extract a patient's log."),
    "clients": ("service", "API clients: EHR systems (sender), municipalities, administrators."),
    "convert": ("convert", "Print the submission Bundle for FILE, an export in FORMAT; "
                           "exit 1 when it does not map or validate."),
    "db": ("service", "Database schema (Alembic migrations)."),
    "demo": ("demo", "Run the whole flow once: submit, consent, sign, push and pull, then verify what arrived."),
    "keys": ("xml", "Development keys for signing (never for production)."),
    "package": ("package", "Write the FHIR NPM package (.tgz) for standard tools: HL7 validator -ig, IG publisher."),
    "queue": ("delivery", "Inspect and steer the delivery outbox."),
    "recipients": ("service", "The recipient registry: socialnämnder by kommunkod."),
    "render": ("xml", "Render FILE (municipal XML, or a submission Bundle as JSON) as HTML or PDF for a case worker."),
    "reprocess": ("delivery", "Derive a submission's documents again from its raw input (after a mapping or "
                              "template fix) and re-queue its dead-lettered deliveries with them, under the "
                              "same submission."),
    "serve": ("service", "Run the FHIR API (embedded default: SQLite in ADAPTER_DATA_DIR, migrated on start)."),
    "stats": ("stats", "Counts of accepted certificates by dimension, small cells hidden (never a row, never a person)."),
    "testkit": ("testkit", "Conformance scenarios against a LISN sender endpoint or a municipal receiver, "
                           "and vendor files."),
    "to-xml": ("xml", "Print the municipal XML for FILE, a submission Bundle (JSON); optionally signed."),
    "validate": ("validate", "Validate FHIR R4 resources (JSON or XML) against the LISN profiles and their "
                             "Questionnaire."),
    "verify": ("xml", "Verify the signature of FILE (municipal XML): exit 0 when valid and trusted, 1 otherwise."),
    "worker": ("delivery", "Run the outbox relay until SIGTERM or SIGINT (finishes the message in hand, then stops)."),
}


def _version(ctx: click.Context, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    try:
        from adapter import native

        built = native.describe()
    except Exception as exc:  # noqa: BLE001 - native.NativeBuildError (a stale compiled build): one line, exit 3
        text, code = describe(exc)
        click.echo(text, err=True)
        ctx.exit(code)
    click.echo(f"adapter, version {version('lisn-adapter')} ({built})")
    ctx.exit()


@click.group(cls=LazyGroup, lazy={name: (f"{__name__}.{module}", short) for name, (module, short) in COMMANDS.items()},
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda c, p, v: _version(c, v),
              help="Show the version (and whether the validator runs compiled) and exit.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error (also ADAPTER_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """LISN adapter: läkarintyg till socialnämnden, from EHR to municipality.

    Exit codes: 0 done or valid, 1 the input has errors, 2 usage or unreadable input,
    3 environment (database, port), 70 internal error.
    """
    ctx.meta["adapter.debug"] = debug


def main() -> None:
    cli(prog_name="adapter")
