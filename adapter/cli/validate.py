"""``adapter validate [--ig PATH]... FILE... [--format text|json] [--lang sv|en]`` (as the HL7 validator's -ig).

``--lang`` chooses the language of every text (Swedish by default); each issue names its
message id whatever the language.

Exit codes (``adapter.cli._common``): 0 no issue of severity error/fatal, 1 at least one (also JSON or
XML that is no FHIR resource), 2 a file or ``--ig`` source cannot be read (or the usage is wrong:
click's own 2). With many files on a terminal a progress bar shows on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from adapter import errors, messages
from adapter.cli._common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, echo_json, progress
from adapter.fhir.registry import Registry, default_registry
from adapter.issues import Issues
from adapter.settings import Settings
from adapter.validation import read_resource, validate_read

_LINE = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"
_COL = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col"


def register(cli: click.Group) -> None:
    cli.add_command(validate_command)


@click.command("validate")
@click.option("--ig", "igs", multiple=True, metavar="PATH",
              help="Add definitions (JSON or XML): a resource file, a folder or a FHIR package .tgz (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(list(messages.LANGS)), default=messages.DEFAULT_LANG, show_default=True,
              help="Language of the messages: sv (Swedish) or en (English).")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
def validate_command(igs: tuple[str, ...], fmt: str, lang: str, files: tuple[str, ...]) -> None:
    """Validate FHIR R4 resources (JSON or XML) against the LISN profiles and their Questionnaire."""
    with messages.use_lang(lang):
        _validate_files(igs, fmt, files)


def _validate_files(igs: tuple[str, ...], fmt: str, files: tuple[str, ...]) -> None:
    settings = Settings.from_env()
    registry = _registry(igs, fmt)
    outcomes, worst = [], EXIT_OK
    with progress(files, "validate", stdout_busy=fmt == "text") as names:
        for name in names:
            oo, code = _one(name, registry, settings)
            outcomes.append(oo)
            worst = max(worst, code)
            if fmt == "text":
                click.echo(render_text(oo, name))
    if fmt == "json":
        echo_json(outcomes[0] if len(outcomes) == 1 else outcomes)
    sys.exit(worst)


def _malformed_source(exc: BaseException) -> bool:
    """An error of reading a definition source (an unreadable file, a broken package or resource)."""
    tar = sys.modules.get("tarfile")  # not imported here: a TarError can only come after the loader imported it
    return isinstance(exc, (OSError, ValueError, TypeError, AttributeError)) or (
        tar is not None and isinstance(exc, tar.TarError))


def _registry(igs: tuple[str, ...], fmt: str) -> Registry:
    try:
        return default_registry(igs)
    except Exception as exc:
        if not _malformed_source(exc):
            raise
        issues = Issues()
        source, reason = getattr(exc, "source", None), getattr(exc, "reason", None)  # DefinitionSourceError
        issues.add("LISN_VALIDATION_IG_UNREADABLE", code="not-found", source=source or _failed_source(igs, exc),
                   reason=reason or type(exc).__name__)
        _print_and_exit(issues.outcome(), fmt)
        raise  # unreachable: _print_and_exit exits


def _failed_source(igs: tuple[str, ...], exc: BaseException) -> str:
    missing = [p for p in igs if not Path(p).exists()]
    return missing[0] if missing else ", ".join(igs)


def _print_and_exit(oo: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        echo_json(oo)
    else:
        click.echo(render_text(oo, ""), err=True)
    sys.exit(EXIT_USAGE)


def _one(name: str, registry: Registry, settings: Settings) -> tuple[dict[str, Any], int]:
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        issues = Issues()
        issues.add("LISN_VALIDATION_FILE_UNREADABLE", code="not-found", file=name, reason=exc.strerror or type(exc).__name__)
        return issues.outcome(), EXIT_USAGE
    try:
        oo = outcome_of(raw, registry, settings)
    except errors.InputRejected as exc:
        # JSON or XML that is no resource (an array, `null`, no resourceType) has errors (1), like a
        # resource that breaks a rule; what cannot be read as JSON or XML at all is unreadable (2).
        read = exc.message_id == "LISN_VALIDATION_UNSUPPORTED_RESOURCE"
        return exc.outcome, (EXIT_INVALID if read else EXIT_USAGE)
    return oo, (EXIT_INVALID if errors.has_errors(oo) else EXIT_OK)


def outcome_of(raw: bytes, registry: Registry, settings: Settings) -> dict[str, Any]:
    """The OperationOutcome of validating ``raw`` (JSON or XML) under ``settings``' limits, with
    line and column numbers; InputRejected for what cannot be read as a resource."""
    lines: dict[str, tuple[int, int | None]] = {}
    problems: list[Any] = []
    resource = read_resource(raw, limits=settings.limits, xml=settings.xml, lines=lines, problems=problems)
    return validate_read(resource, raw, registry, lines=lines, problems=problems,
                         test_environment=settings.validation.test_environment)


def render_text(oo: dict[str, Any], label: str) -> str:
    """One line per issue: severity, expression (line:col), text in the current language, [message id]."""
    lines = [f"== {label}"] if label else []
    word = "rad" if messages.current_lang() == "sv" else "line"
    for iss in oo.get("issue", []):
        ext = {e.get("url"): e.get("valueInteger") for e in iss.get("extension", [])}
        where = ", ".join(iss.get("expression", [])) or "-"
        if ext.get(_LINE):
            where += f" ({word} {ext[_LINE]}" + (f":{ext[_COL]})" if ext.get(_COL) else ")")
        text = (iss.get("details") or {}).get("text") or iss.get("diagnostics") or ""
        mid = errors.message_id_of(iss)
        lines.append(f"{iss.get('severity', '?').upper():<11} {where}  {text}" + (f"  [{mid}]" if mid else ""))
    return "\n".join(lines)
