"""``adapter convert``: map an EHR export to the submission Bundle and validate it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from adapter import errors, messages
from adapter.cli._common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, echo_json, outcome_text
from adapter.inbound import convert_export, known_formats
from adapter.inbound.inputs import parse_assignments


def _print_outcome(oo: errors.OperationOutcome, fmt: str) -> None:
    if fmt == "json":
        echo_json(oo)
    else:
        click.echo(outcome_text(oo), err=True)


@click.command("convert")
@click.option("--from", "source_format", required=True, metavar="FORMAT",
              help="Source format: a file name in mappings/inbound/ (e.g. fhir, inera-xml, openehr-flat).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Use this mapping file instead of mappings/inbound/FORMAT.yaml.")
@click.option("--format", "out_format", type=click.Choice(["text", "json"]), default="text",
              help="How issues are printed: text on stderr, or an OperationOutcome (JSON) on stdout.")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="A side input the mapping declares (e.g. --set kommun=0180); repeatable.")
def convert(source_format: str, file: Path, mapping: Path | None, out_format: str,
            assignments: tuple[str, ...]) -> None:
    """Print the submission Bundle for FILE, an export in FORMAT; exit 1 when it does not map or validate."""
    try:
        inputs = parse_assignments(assignments)
    except errors.InputRejected as exc:
        _print_outcome(exc.outcome, out_format)
        sys.exit(EXIT_USAGE)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        _print_outcome(errors.bad_request(messages.text("LISN_INPUT_UNREADABLE", file=file, reason=exc.strerror),
                                          message_id="LISN_INPUT_UNREADABLE"), out_format)
        sys.exit(EXIT_USAGE)
    try:
        bundle, oo = convert_export(raw, source_format, mapping=mapping, inputs=inputs)
    except errors.InputRejected as exc:
        _print_outcome(exc.outcome, out_format)
        sys.exit(EXIT_USAGE)
    except errors.MappingError as exc:  # no such format, or a broken mapping file
        _print_outcome(exc.outcome, out_format)
        sys.exit(EXIT_USAGE)
    if bundle is None or errors.has_errors(oo):
        _print_outcome(oo, out_format)
        sys.exit(EXIT_INVALID)
    click.echo(json.dumps(bundle, ensure_ascii=False, indent=2))
    warnings = [i for i in oo.get("issue", []) if i.get("severity") == "warning"]
    if warnings:
        click.echo(outcome_text({"issue": warnings}), err=True)
    sys.exit(EXIT_OK)


def register(cli: click.Group) -> None:
    cli.add_command(convert)
    convert.help = (convert.help or "") + f" Formats: {', '.join(known_formats())}."
