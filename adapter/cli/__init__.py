"""The command line: ``adapter <command>``. It only translates.

Each module in this package adds its commands with ``register(group)``; a new
module is picked up without editing this file. Commands call the same library
functions the HTTP service calls, and print OperationOutcomes for errors.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from adapter.cli._common import AdapterGroup


@click.group(cls=AdapterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lisn-adapter", prog_name="adapter")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error (also ADAPTER_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """LISN adapter: läkarintyg till socialnämnden, from EHR to municipality.

    Exit codes: 0 done or valid, 1 the input has errors, 2 usage or unreadable input,
    3 environment (database, port), 70 internal error.
    """
    ctx.meta["adapter.debug"] = debug


def _register_all() -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            module = importlib.import_module(f"{__name__}.{mod.name}")
            register = getattr(module, "register", None)
            if register is not None:
                register(cli)


_register_all()


def main() -> None:
    cli(prog_name="adapter")
