"""Helpers shared by the CLI commands: the exit codes, printing outcomes, the top-level error handler.

The exit codes are defined here once and every command uses them (README, "Commands"):

====  ==========================================================================================
0     done; the input is valid
1     the input was read and has errors (validation, mapping, a bad signature, a refused change)
2     usage error, or an input that cannot be read (missing, unreadable, empty, not JSON/XML)
3     the environment: the database is unreachable, misconfigured or not migrated; a port in use
70    an internal error (a bug): one line, the traceback only with ``--debug`` / ``ADAPTER_DEBUG=1``
====  ==========================================================================================

:class:`AdapterGroup` is the click group of ``adapter``: whatever a command does not handle
itself becomes one line on stderr with the code of the table above, never a traceback.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

from adapter import errors

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERNAL = 70

# The error classes' exit codes (the most specific class in an error's MRO wins), beside errors.HTTP.
_EXIT: dict[type[errors.AdapterError], int] = {
    errors.AdapterError: EXIT_INVALID,
    errors.InputRejected: EXIT_USAGE,
    errors.RetryLater: EXIT_ENVIRONMENT,
}


# Errors defined beside the part that raises them, by name (importing it here would slow every command).
_EXIT_BY_NAME = {"UnsafeConfiguration": EXIT_ENVIRONMENT}  # adapter.wiring: production is missing a secret


def exit_code_for(exc: errors.AdapterError) -> int:
    """The exit code of an :class:`~adapter.errors.AdapterError` (tables :data:`_EXIT`, :data:`_EXIT_BY_NAME`)."""
    for c in type(exc).__mro__:
        if c in _EXIT:
            return _EXIT[c]
        if c.__name__ in _EXIT_BY_NAME:
            return _EXIT_BY_NAME[c.__name__]
    return EXIT_INVALID


class EnvironmentProblem(click.ClickException):
    """Something outside the input stops the command (database, network, port): exit 3."""

    exit_code = EXIT_ENVIRONMENT


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def outcome_text(oo: dict[str, Any], label: str = "") -> str:
    """A human-readable rendering of an OperationOutcome, one line per issue."""
    lines = []
    for iss in oo.get("issue", []):
        where = ", ".join(iss.get("expression", []))
        mid = errors.message_id_of(iss) or ""
        text = (iss.get("details") or {}).get("text") or iss.get("diagnostics") or ""
        lines.append(f"{iss.get('severity', '?').upper():<11} {where or '-'}  {text}"
                     + (f"  [{mid}]" if mid else ""))
    head = f"== {label}" if label else ""
    return "\n".join(([head] if head else []) + lines)


def fail(exc: errors.AdapterError, fmt: str = "text", code: int | None = None) -> NoReturn:
    """Print an AdapterError's outcome to stderr (text) or stdout (json) and exit
    (``code``, else the error class's code from :func:`exit_code_for`)."""
    if fmt == "json":
        echo_json(exc.outcome)
    else:
        click.echo(outcome_text(exc.outcome), err=True)
    sys.exit(exit_code_for(exc) if code is None else code)


T = TypeVar("T")

PROGRESS_MIN = 5
"""Fewer items than this finish before a bar would help."""


@contextmanager
def progress(items: Sequence[T], label: str, *, stdout_busy: bool = False) -> Iterator[Iterator[T]]:
    """Iterate ``items`` with a progress bar on stderr when stderr is a terminal, quiet otherwise.

    ``stdout_busy``: the command prints a line per item on stdout; when that is the same terminal,
    the lines are the progress and a bar would only tear them.
    """
    show = (len(items) >= PROGRESS_MIN and sys.stderr.isatty()
            and not (stdout_busy and sys.stdout.isatty()))
    if not show:
        yield iter(items)
        return
    with click.progressbar(items, label=label, file=sys.stderr, show_pos=True) as bar:
        yield iter(bar)


def database_url_shown(url: str) -> str:
    """The database URL without its password (for messages)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given, it has no password part
        return url


def _database_url() -> str:
    from adapter.settings import Settings

    try:
        return database_url_shown(Settings.from_env().database.effective_url())
    except Exception:  # noqa: BLE001 - only for a message
        return os.environ.get("ADAPTER_DATABASE_URL", "?")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def describe(exc: BaseException) -> tuple[str, int]:
    """One line and an exit code for an exception no command handled (``(text, EXIT_INTERNAL)`` for a bug)."""
    if isinstance(exc, errors.AdapterError):
        return outcome_text(exc.outcome), exit_code_for(exc)
    module = type(exc).__module__ or ""
    if module.startswith(("sqlalchemy", "psycopg")):
        return _database_problem(exc)
    if isinstance(exc, ModuleNotFoundError) and exc.name in _DB_DRIVERS:
        return (f"error: the database driver {exc.name!r} for ADAPTER_DATABASE_URL={_database_url()} is not installed "
                f"(supported: SQLite, and PostgreSQL with the 'postgres' extra)"), EXIT_ENVIRONMENT
    if isinstance(exc, ImportError) and not (exc.name or "").startswith("adapter"):
        # A dependency missing or broken (a command's module is imported when the command runs):
        # the installation, not the input. The message says which package (adapter.validation.identifiers).
        return f"error: the installation is incomplete: {_first_line(exc)}", EXIT_ENVIRONMENT
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return f"error: {exc.filename}: {exc.strerror or type(exc).__name__}", EXIT_USAGE
        return f"error: {exc.strerror or _first_line(exc)} ({type(exc).__name__})", EXIT_ENVIRONMENT
    return (f"internal error: {type(exc).__name__} (a bug: please report this; "
            f"run with --debug or ADAPTER_DEBUG=1 for the traceback)"), EXIT_INTERNAL


_DB_DRIVERS = {"MySQLdb", "pymysql", "psycopg2", "psycopg", "cx_Oracle", "oracledb", "pyodbc"}


def _database_problem(exc: BaseException) -> tuple[str, int]:
    from sqlalchemy import exc as sa_exc

    url = _database_url()
    if isinstance(exc, sa_exc.ArgumentError):
        return f"error: ADAPTER_DATABASE_URL={url} is not a database URL ({_first_line(exc)})", EXIT_ENVIRONMENT
    if isinstance(exc, sa_exc.NoSuchModuleError):
        return f"error: ADAPTER_DATABASE_URL={url}: unsupported database ({_first_line(exc)})", EXIT_ENVIRONMENT
    if isinstance(exc, sa_exc.ProgrammingError | sa_exc.OperationalError) and _no_table(exc):
        return (f"error: the database {url} is not migrated (run `adapter db upgrade`): "
                f"{_first_line(getattr(exc, 'orig', exc))}"), EXIT_ENVIRONMENT
    if (isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError)
            or type(exc) is sa_exc.DatabaseError):  # e.g. SQLite: "file is not a database"
        detail = _first_line(getattr(exc, "orig", None) or exc)
        return f"error: cannot use the database {url}: {detail}", EXIT_ENVIRONMENT
    return (f"internal error: {type(exc).__name__} from the database {url} (a bug: please report this; "
            f"run with --debug or ADAPTER_DEBUG=1 for the traceback)"), EXIT_INTERNAL


def _no_table(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


class AdapterGroup(click.Group):
    """The ``adapter`` group: any exception a command lets through becomes one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as exc:
            if _debug(ctx):
                raise
            text, code = describe(exc)
            click.echo(text, err=True)
            ctx.exit(code)


class LazyGroup(AdapterGroup):
    """An :class:`AdapterGroup` whose commands are imported when they run.

    ``lazy`` maps a command name to ``(module, short help)``; the module's ``register(group)`` adds
    its commands to this group when one of them is first looked up. ``--help`` lists the commands
    from the table without importing any module (a module loaded already shows its command's own text).
    """

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            importlib.import_module(self.lazy[cmd_name][0]).register(self)
        return self.commands.get(cmd_name)

    def listed_help(self, name: str, limit: int) -> str | None:
        """The short help ``--help`` shows for ``name`` (None: a hidden command)."""
        command = self.commands.get(name)
        if command is None:  # not loaded: the table's text, shortened as click shortens a command's help
            return click.Command(name, help=self.lazy[name][1]).get_short_help_str(limit)
        return None if command.hidden else command.get_short_help_str(limit)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, text) for name in names if (text := self.listed_help(name, limit)) is not None]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _debug(ctx: click.Context) -> bool:
    env = os.environ.get("ADAPTER_DEBUG", "").strip().lower()
    return bool(ctx.meta.get("adapter.debug")) or env not in ("", "0", "false", "no")


def open_store(settings: Any, **options: Any) -> Any:
    """``wiring.open_store``; a data folder that cannot be made (``ADAPTER_DATA_DIR``) is exit 3."""
    from adapter import wiring

    try:
        return wiring.open_store(settings, **options)
    except OSError as exc:
        if exc.filename is None:
            raise
        where = (f"ADAPTER_DATABASE_URL={database_url_shown(settings.database.url)}" if settings.database.url
                 else f"ADAPTER_DATA_DIR={settings.database.data_dir}")
        raise EnvironmentProblem(f"{where}: {exc.filename} cannot be created or written ({exc.strerror})") from None


def open_migrated_store(settings: Any) -> Any:
    """The configured store (``wiring.open_store``), refused with exit 3 unless its schema is the newest.

    The embedded SQLite default is migrated on open; a server database is migrated by
    ``adapter db upgrade`` only, so a command against an un-migrated one stops here with that advice.
    """
    from alembic.script import ScriptDirectory

    from adapter.store import migrate

    store = open_store(settings)
    try:
        at = migrate.current(store.engine)
        missing = set(ScriptDirectory.from_config(migrate.alembic_config(store.engine)).get_heads()) - at
    except BaseException:
        store.engine.dispose()
        raise
    if missing:
        store.engine.dispose()
        url = database_url_shown(settings.database.effective_url())
        state = f"at {', '.join(sorted(at))}" if at else "empty"
        raise EnvironmentProblem(f"the database {url} is not migrated ({state}): run `adapter db upgrade`")
    return store
