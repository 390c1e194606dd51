"""``adapter convert``: map an EHR export to the submission Bundle and validate it.

Exit codes (``adapter.cli._common``): 0 every file mapped and valid, 1 a file does not map or
validate, 2 a file, mapping or ``--set`` cannot be read or the usage is wrong. With several files
``-o`` names a folder (``DIR/<file stem>.json`` each) and a progress bar shows on a terminal.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from adapter import errors, messages
from adapter.cli._common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, echo_json, outcome_text, progress
from adapter.inbound import convert_export, known_formats
from adapter.inbound.inputs import parse_assignments


def _print_outcome(oo: errors.OperationOutcome, fmt: str, label: str = "") -> None:
    if fmt == "json":
        echo_json(oo)
    else:
        click.echo(outcome_text(oo, label), err=True)


@click.command("convert")
@click.option("--from", "source_format", required=True, metavar="FORMAT",
              help="Source format: a file name in mappings/inbound/ (e.g. fhir, inera-xml, openehr-flat).")
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Use this mapping file instead of mappings/inbound/FORMAT.yaml.")
@click.option("--format", "out_format", type=click.Choice(["text", "json"]), default="text",
              help="How issues are printed: text on stderr, or an OperationOutcome (JSON) on stdout.")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="A side input the mapping declares (e.g. --set kommun=0180); repeatable.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write the Bundle to this file (one FILE) or folder (several; DIR/<stem>.json), not stdout.")
def convert(source_format: str, files: tuple[Path, ...], mapping: Path | None, out_format: str,
            assignments: tuple[str, ...], output: Path | None) -> None:
    """Print the submission Bundle for FILE, an export in FORMAT; exit 1 when it does not map or validate."""
    try:
        inputs = parse_assignments(assignments)
    except errors.InputRejected as exc:
        _print_outcome(exc.outcome, out_format)
        raise SystemExit(EXIT_USAGE) from None
    if len(files) > 1 and output is None:
        raise click.UsageError("several FILEs need -o DIR (a folder for one Bundle per file)")
    if len(files) > 1 and output is not None and output.exists() and not output.is_dir():
        raise click.UsageError(f"-o {output}: with several FILEs, -o names a folder")
    worst = EXIT_OK
    with progress(files, "convert") as items:
        for file in items:
            target = output / f"{file.stem}.json" if output is not None and len(files) > 1 else output
            worst = max(worst, _one(file, source_format, mapping, inputs, out_format, target,
                                    label=str(file) if len(files) > 1 else ""))
    raise SystemExit(worst)


def _one(file: Path, source_format: str, mapping: Path | None, inputs: dict[str, str], out_format: str,
         target: Path | None, *, label: str) -> int:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        _print_outcome(errors.bad_request(messages.text("LISN_INPUT_UNREADABLE", file=file, reason=exc.strerror),
                                          message_id="LISN_INPUT_UNREADABLE"), out_format, label)
        return EXIT_USAGE
    try:
        bundle, oo = convert_export(raw, source_format, mapping=mapping, inputs=inputs)
    except (errors.InputRejected, errors.MappingError) as exc:  # unreadable; no such format, a broken mapping
        _print_outcome(exc.outcome, out_format, label)
        return EXIT_USAGE
    if bundle is None or errors.has_errors(oo):
        _print_outcome(oo, out_format, label)
        return EXIT_INVALID
    text = json.dumps(bundle, ensure_ascii=False, indent=2)
    if target is None:
        click.echo(text)
    else:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise click.UsageError(f"-o {target} cannot be written: {exc.strerror}") from None
    warnings = [i for i in oo.get("issue", []) if i.get("severity") == "warning"]
    if warnings:
        click.echo(outcome_text({"issue": warnings}, label), err=True)
    return EXIT_OK


def register(cli: click.Group) -> None:
    cli.add_command(convert)
    convert.help = (convert.help or "") + f" Formats: {', '.join(known_formats())}."
