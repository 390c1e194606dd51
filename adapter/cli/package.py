"""``adapter package``: build the FHIR NPM package of the LISN profiles."""

from __future__ import annotations

from pathlib import Path

import click

from adapter import errors
from adapter.cli._common import EXIT_INVALID, EXIT_USAGE, fail
from adapter.fhir.package import build_package


@click.command("package")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("dist"),
              show_default=True, help="Folder to write se.lisn.fhir-<version>.tgz to.")
@click.option("--profiles", "source", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Package this folder instead of the bundled profiles/ (package.json + resources).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How errors are printed.")
def package_command(out_dir: Path, source: Path | None, fmt: str) -> None:
    """Write the FHIR NPM package (.tgz) for standard tools: HL7 validator -ig, IG publisher."""
    try:
        target = build_package(out_dir, source=source)
    except errors.InputRejected as exc:
        fail(exc, fmt, EXIT_USAGE)
    except errors.ValidationFailed as exc:
        fail(exc, fmt, EXIT_INVALID)
    else:
        click.echo(str(target))


def register(cli: click.Group) -> None:
    cli.add_command(package_command)
