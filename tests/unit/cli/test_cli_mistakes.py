"""Every command, each ordinary mistake: one clear line naming what is wrong, the documented exit
code (0 done, 1 the input has errors, 2 usage or unreadable input, 3 environment), never a traceback.

The commands are enumerated from the click group, so a new command without a row in :data:`CASES`
fails :func:`test_every_command_has_cases`. The kinds of mistake: a missing file, an unwritable
path, an empty file, a garbage file, a bad URL (for the database commands: ``ADAPTER_DATABASE_URL``
and ``ADAPTER_DATA_DIR``). A few run as real processes (the ``adapter`` entry point) to show that
stderr holds no traceback there either.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from adapter.cli import cli
from adapter.cli._common import EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, EXIT_USAGE, describe

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
INERA = ROOT / "mappings" / "examples" / "inera-xml" / "lisn-depression.xml"
UNWRITABLE = "/proc/lisn-no-such/out"  # /proc refuses new entries, even to root


@dataclass(frozen=True)
class Case:
    kind: str
    args: tuple[str, ...]
    code: int
    names: str
    """What the message must name (a file, an option, an element); ``{T}`` is the temp folder."""
    env: dict[str, str] = field(default_factory=dict)
    short: bool = True
    """The answer is a few lines (not a report of every scenario, as ``adapter testkit`` prints)."""


# Environments for the commands that open the database.
BAD_URL = {"ADAPTER_DATABASE_URL": "notaurl"}
UNOPENABLE_DB = {"ADAPTER_DATABASE_URL": "sqlite:///" + UNWRITABLE + "/adapter.db"}
FOLDER_DB = {"ADAPTER_DATABASE_URL": "sqlite:///{T}/emptydir"}
UNWRITABLE_DIR = {"ADAPTER_DATA_DIR": UNWRITABLE}
GARBAGE_DB = {"ADAPTER_DATA_DIR": "{T}/garbage-db"}
UNKNOWN_DRIVER = {"ADAPTER_DATABASE_URL": "mysql://x@localhost/y"}
# A URL that is not SQLite counts as a server database: a command that opens the store with its audit
# seal refuses first for the production secrets it lacks (adapter.wiring), also exit 3.
PRODUCTION = "ADAPTER_ENV=production or a server database"


def db_cases(*args: str, sealed: bool = True) -> list[Case]:
    """The environment mistakes every database command meets the same way (exit 3)."""
    server = PRODUCTION if sealed else None
    return [
        Case("bad database URL", args, EXIT_ENVIRONMENT, server or "ADAPTER_DATABASE_URL=notaurl", BAD_URL),
        Case("unknown database driver", args, EXIT_ENVIRONMENT, server or "mysql://x@localhost/y", UNKNOWN_DRIVER),
        Case("database file cannot be made", args, EXIT_ENVIRONMENT, "ADAPTER_DATABASE_URL", UNOPENABLE_DB),
        Case("database file is a folder", args, EXIT_ENVIRONMENT, "{T}/emptydir", FOLDER_DB),
        Case("unwritable data folder", args, EXIT_ENVIRONMENT, "ADAPTER_DATA_DIR", UNWRITABLE_DIR),
        Case("garbage database file", args, EXIT_ENVIRONMENT, "{T}/garbage-db/adapter.db", GARBAGE_DB),
    ]


CASES: dict[str, list[Case]] = {
    "demo": [
        Case("data folder not a demo folder", ("demo", "--data-dir", "{T}"), EXIT_USAGE, "--data-dir"),
        Case("unwritable data folder", ("demo", "--data-dir", UNWRITABLE), EXIT_USAGE, "--data-dir"),
    ],
    "validate": [
        Case("missing file", ("validate", "{T}/missing.json"), EXIT_USAGE, "{T}/missing.json"),
        Case("empty file", ("validate", "{T}/empty.json"), EXIT_USAGE, "{T}/empty.json"),
        Case("garbage file", ("validate", "{T}/garbage.bin"), EXIT_USAGE, "{T}/garbage.bin"),
        Case("JSON array", ("validate", "{T}/array.json"), EXIT_INVALID, "resourceType"),
        Case("JSON null", ("validate", "{T}/null.json"), EXIT_INVALID, "resourceType"),
        Case("JSON object, no resource", ("validate", "{T}/object.json"), EXIT_INVALID, "resourceType"),
        Case("missing --ig", ("validate", "--ig", "{T}/missing.json", str(EXAMPLE)), EXIT_USAGE, "{T}/missing.json"),
        Case("garbage --ig", ("validate", "--ig", "{T}/garbage.json", str(EXAMPLE)), EXIT_USAGE, "{T}/garbage.json"),
        Case("empty --ig", ("validate", "--ig", "{T}/empty.json", str(EXAMPLE)), EXIT_USAGE, "{T}/empty.json"),
    ],
    "package": [
        Case("unwritable --out", ("package", "--out", UNWRITABLE), EXIT_USAGE, UNWRITABLE),
        Case("missing --profiles", ("package", "--profiles", "{T}/nodir", "--out", "{T}/dist"), EXIT_USAGE,
             "{T}/nodir"),
        Case("empty --profiles", ("package", "--profiles", "{T}/emptydir", "--out", "{T}/dist"), EXIT_USAGE,
             "{T}/emptydir"),
    ],
    "convert": [
        Case("missing file", ("convert", "--from", "fhir", "{T}/missing.json"), EXIT_USAGE, "{T}/missing.json"),
        Case("empty file", ("convert", "--from", "fhir", "{T}/empty.json"), EXIT_USAGE, "JSON"),
        Case("garbage file", ("convert", "--from", "inera-xml", "{T}/garbage.bin"), EXIT_USAGE, "XML"),
        Case("JSON array", ("convert", "--from", "fhir", "{T}/array.json"), EXIT_INVALID, "JSON"),
        Case("missing --mapping", ("convert", "--from", "x", str(INERA), "--mapping", "{T}/missing.yaml"),
             EXIT_USAGE, "--mapping"),
        Case("garbage --mapping", ("convert", "--from", "x", str(INERA), "--mapping", "{T}/garbage.bin"),
             EXIT_USAGE, "garbage.bin"),
        Case("unknown --from", ("convert", "--from", "no-such-format", str(INERA)), EXIT_USAGE, "no-such-format"),
        Case("unwritable -o", ("convert", "--from", "inera-xml", str(INERA), "-o", UNWRITABLE), EXIT_USAGE,
             UNWRITABLE),
        Case("several files, no -o", ("convert", "--from", "inera-xml", str(INERA), str(INERA)), EXIT_USAGE, "-o"),
    ],
    "to-xml": [
        Case("missing file", ("to-xml", "{T}/missing.json"), EXIT_USAGE, "{T}/missing.json"),
        Case("empty file", ("to-xml", "{T}/empty.json"), EXIT_USAGE, "JSON"),
        Case("garbage file", ("to-xml", "{T}/garbage.bin"), EXIT_USAGE, "UTF-8"),
        Case("JSON array", ("to-xml", "{T}/array.json"), EXIT_INVALID, "{T}/array.json"),
        Case("JSON null", ("to-xml", "{T}/null.json"), EXIT_INVALID, "{T}/null.json"),
        Case("JSON object, no Bundle", ("to-xml", "{T}/object.json"), EXIT_INVALID, "{T}/object.json"),
        Case("missing --key", ("to-xml", str(EXAMPLE), "--sign", "--key", "{T}/missing.pem", "--cert",
                               "{T}/keys/signing-cert.pem"), EXIT_USAGE, "--key"),
        Case("garbage --key", ("to-xml", str(EXAMPLE), "--sign", "--key", "{T}/garbage.bin", "--cert",
                               "{T}/keys/signing-cert.pem"), EXIT_USAGE, "{T}/garbage.bin"),
        Case("garbage --cert", ("to-xml", str(EXAMPLE), "--sign", "--key", "{T}/keys/signing-key.pem", "--cert",
                                "{T}/garbage.bin"), EXIT_USAGE, "{T}/garbage.bin"),
        Case("PEM --key without --cert", ("to-xml", str(EXAMPLE), "--sign", "--key", "{T}/keys/signing-key.pem"),
             EXIT_USAGE, "--cert"),
        Case("--key without --sign", ("to-xml", str(EXAMPLE), "--key", "{T}/keys/signing-key.pem", "--cert",
                                      "{T}/keys/signing-cert.pem"), EXIT_USAGE, "--sign"),
        Case("unwritable -o", ("to-xml", str(EXAMPLE), "-o", UNWRITABLE), EXIT_USAGE, UNWRITABLE),
    ],
    "verify": [
        Case("missing file", ("verify", "{T}/missing.xml", "--trust", "{T}/keys/ca.pem"), EXIT_USAGE,
             "{T}/missing.xml"),
        Case("empty file", ("verify", "{T}/empty.json", "--trust", "{T}/keys/ca.pem"), EXIT_USAGE, "{T}/empty.json"),
        Case("garbage file", ("verify", "{T}/garbage.bin", "--trust", "{T}/keys/ca.pem"), EXIT_USAGE,
             "{T}/garbage.bin"),
        Case("unsigned XML", ("verify", "{T}/unsigned.xml", "--trust", "{T}/keys/ca.pem"), EXIT_INVALID,
             "LISN_SIG_"),
        Case("missing --trust", ("verify", "{T}/signed.xml", "--trust", "{T}/missing.pem"), EXIT_USAGE, "--trust"),
        Case("garbage --trust", ("verify", "{T}/signed.xml", "--trust", "{T}/garbage.bin"), EXIT_USAGE,
             "{T}/garbage.bin"),
        Case("empty --trust", ("verify", "{T}/signed.xml", "--trust", "{T}/empty.json"), EXIT_USAGE,
             "{T}/empty.json"),
        Case("unwritable --signed-content", ("verify", "{T}/signed.xml", "--trust", "{T}/keys/ca.pem",
                                             "--signed-content", UNWRITABLE), EXIT_USAGE, "--signed-content"),
    ],
    "render": [
        Case("missing file", ("render", "{T}/missing.xml"), EXIT_USAGE, "{T}/missing.xml"),
        Case("empty file", ("render", "{T}/empty.json"), EXIT_USAGE, "XML"),
        Case("garbage file", ("render", "{T}/garbage.bin"), EXIT_USAGE, "XML"),
        Case("JSON array", ("render", "{T}/array.json"), EXIT_INVALID, "{T}/array.json"),
        Case("JSON null", ("render", "{T}/null.json"), EXIT_INVALID, "{T}/null.json"),
        Case("missing --trust", ("render", "{T}/signed.xml", "--trust", "{T}/missing.pem"), EXIT_USAGE, "--trust"),
        Case("signed, no --trust", ("render", "{T}/signed.xml"), EXIT_USAGE, "--trust"),
        Case("unwritable -o", ("render", str(EXAMPLE), "-o", UNWRITABLE), EXIT_USAGE, UNWRITABLE),
    ],
    "keys init": [
        Case("unwritable DIRECTORY", ("keys", "init", UNWRITABLE), EXIT_USAGE, UNWRITABLE),
        Case("DIRECTORY is a file", ("keys", "init", "{T}/garbage.bin"), EXIT_USAGE, "{T}/garbage.bin"),
        Case("partial key set", ("keys", "init", "{T}/partial-keys"), EXIT_USAGE, "--force"),
    ],
    "serve": [
        Case("port out of range", ("serve", "--port", "99999"), EXIT_USAGE, "--port"),
        Case("port in use", ("serve", "--port", "{BUSY_PORT}"), EXIT_ENVIRONMENT, "--port"),
        Case("bad database URL", ("serve", "--port", "0"), EXIT_ENVIRONMENT, PRODUCTION, BAD_URL),
        Case("unwritable data folder", ("serve", "--port", "0"), EXIT_ENVIRONMENT, "ADAPTER_DATA_DIR",
             UNWRITABLE_DIR),
    ],
    "db upgrade": db_cases("db", "upgrade", sealed=False),
    "clients add": [
        Case("missing --cert", ("clients", "add", "x", "--role", "admin", "--cert", "{T}/missing.pem"), EXIT_USAGE,
             "--cert"),
        Case("garbage --cert", ("clients", "add", "x", "--role", "admin", "--cert", "{T}/garbage.bin"), EXIT_USAGE,
             "--cert"),
        Case("duplicate name", ("clients", "add", "twice", "--role", "admin"), EXIT_INVALID, "twice"),
        *db_cases("clients", "add", "x", "--role", "admin"),
    ],
    "clients list": db_cases("clients", "list"),
    "clients disable": [
        Case("unknown client", ("clients", "disable", "nobody"), EXIT_USAGE, "nobody"),
        *db_cases("clients", "disable", "x"),
    ],
    "audit rekey": db_cases("audit", "rekey"),
    "testkit sender": [
        # The kit reports every scenario, then one line on why nothing answered (docs/testkit.md: exit 3).
        Case("bad URL", ("testkit", "sender", "--base-url", "notaurl", "--token", "t"), EXIT_ENVIRONMENT,
             "testkit: notaurl answered no request", short=False),
        Case("unreachable URL", ("testkit", "sender", "--base-url", "http://127.0.0.1:{CLOSED_PORT}/fhir",
                                 "--token", "t"), EXIT_ENVIRONMENT, "127.0.0.1:{CLOSED_PORT}", short=False),
        Case("missing --scenarios", ("testkit", "sender", "--base-url", "http://127.0.0.1:1/fhir", "--token", "t",
                                     "--scenarios", "{T}/nodir"), EXIT_USAGE, "{T}/nodir"),
        Case("unwritable --junit", ("testkit", "sender", "--base-url", "http://127.0.0.1:{CLOSED_PORT}/fhir",
                                    "--token", "t", "--junit", UNWRITABLE), EXIT_USAGE, UNWRITABLE, short=False),
    ],
    "testkit receiver": [
        Case("bad URL", ("testkit", "receiver", "--url", "notaurl", "--key", "{T}/keys/signing-key.pem", "--cert",
                         "{T}/keys/signing-cert.pem"), EXIT_ENVIRONMENT, "notaurl", short=False),
        Case("missing --key", ("testkit", "receiver", "--url", "http://127.0.0.1:1/inbox", "--key", "{T}/missing.pem",
                               "--cert", "{T}/keys/signing-cert.pem"), EXIT_USAGE, "--key"),
        Case("garbage --key", ("testkit", "receiver", "--url", "http://127.0.0.1:1/inbox", "--key", "{T}/garbage.bin",
                               "--cert", "{T}/keys/signing-cert.pem"), EXIT_USAGE, "garbage.bin"),
    ],
    "testkit files": [
        Case("missing FOLDER", ("testkit", "files", "--from", "inera-xml", "{T}/nodir"), EXIT_USAGE, "{T}/nodir"),
        Case("empty FOLDER", ("testkit", "files", "--from", "inera-xml", "{T}/emptydir"), EXIT_USAGE, "{T}/emptydir"),
        Case("missing --mapping", ("testkit", "files", "--from", "x", "--mapping", "{T}/missing.yaml", "{T}/emptydir"),
             EXIT_USAGE, "--mapping"),
        Case("unwritable --junit", ("testkit", "files", "--from", "inera-xml", "--junit", UNWRITABLE,
                                    str(INERA.parent)), EXIT_USAGE, UNWRITABLE),
    ],
    "clients token": [
        Case("unknown client", ("clients", "token", "nobody"), EXIT_USAGE, "nobody"),
        *db_cases("clients", "token", "x"),
    ],
    "recipients add": [
        Case("bad kommunkod", ("recipients", "add", "12", "--name", "x"), EXIT_USAGE, "12"),
        *db_cases("recipients", "add", "0180", "--name", "x"),
    ],
    "recipients list": db_cases("recipients", "list"),
    "audit verify": db_cases("audit", "verify"),
    "audit extract": [
        Case("not a personnummer", ("audit", "extract", "--patient", "1912"), EXIT_USAGE, "--patient"),
        *db_cases("audit", "extract", "--patient", "191212121212"),
    ],
    "worker": [
        Case("missing --recipients", ("worker", "--once", "--recipients", "{T}/missing.json"), EXIT_USAGE,
             "--recipients"),
        Case("garbage --recipients", ("worker", "--once", "--recipients", "{T}/garbage.bin"), EXIT_USAGE,
             "{T}/garbage.bin"),
        *db_cases("worker", "--once"),
    ],
    "queue list": [
        # Not a mistake: a data folder that does not exist yet is made and migrated (it used to crash).
        Case("new data folder", ("queue", "list", "--format", "json"), EXIT_OK, '"counts": []',
             {"ADAPTER_DATA_DIR": "{T}/fresh/data"}),
        *db_cases("queue", "list"),
    ],
    "queue show": db_cases("queue", "show", "1"),
    "queue retry": db_cases("queue", "retry", "1"),
    "queue dead-letter": db_cases("queue", "dead-letter", "1", "--reason", "x"),
    "reprocess": db_cases("reprocess", "x"),
    "stats": [
        Case("unknown --by", ("stats", "--by", "nonsense"), EXIT_USAGE, "nonsense"),
        Case("bad --from", ("stats", "--from", "2026-13"), EXIT_USAGE, "2026-13"),
        *db_cases("stats"),
    ],
    "stats report": [
        Case("unwritable --out", ("stats", "report", "--out", UNWRITABLE), EXIT_USAGE, UNWRITABLE),
        *db_cases("stats", "report", "--out", "{T}/report"),
    ],
    "stats synth": [
        Case("not a number", ("stats", "synth", "abc"), EXIT_USAGE, "COUNT"),
        Case("outside a test environment", ("stats", "synth", "5"), EXIT_USAGE, "ADAPTER_VALIDATION_TEST_ENVIRONMENT"),
        *[Case(c.kind, c.args, c.code, c.names, {**c.env, "ADAPTER_VALIDATION_TEST_ENVIRONMENT": "1"})
          for c in db_cases("stats", "synth", "5")],
    ],
}


def leaf_commands(group: click.Group = cli, prefix: str = "") -> list[str]:
    names = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # `adapter` itself is lazy: its commands load on lookup
        command = group.get_command(ctx, name)
        assert command is not None, name
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            if command.invoke_without_command:  # `adapter stats` runs on its own too
                names.append(full)
            names.extend(leaf_commands(command, full + " "))
        else:
            names.append(full)
    return names


def test_every_command_has_cases() -> None:
    missing = [name for name in leaf_commands() if not CASES.get(name)]
    assert not missing, (f"commands without mistake cases in {__file__}: {missing}; "
                         "add rows to CASES (missing file, unwritable path, empty, garbage, bad URL)")
    assert not set(CASES) - set(leaf_commands()), "cases for commands that do not exist"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the cases name: empty, garbage, array, null, keys, a signed and an unsigned document."""
    t = tmp_path_factory.mktemp("mistakes")
    (t / "empty.json").write_bytes(b"")
    (t / "garbage.bin").write_bytes(bytes(range(256)) * 3)
    (t / "garbage.json").write_text("{ not json", encoding="utf-8")
    (t / "array.json").write_text("[1, 2]", encoding="utf-8")
    (t / "null.json").write_text("null", encoding="utf-8")
    (t / "object.json").write_text('{"a": 1}', encoding="utf-8")
    (t / "emptydir").mkdir()
    (t / "garbage-db").mkdir()
    (t / "garbage-db" / "adapter.db").write_bytes(b"this is not a database, " * 200)
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "init", str(t / "keys"), "--algorithm", "ecdsa"]).exit_code == 0
    (t / "partial-keys").mkdir()
    (t / "partial-keys" / "ca.pem").write_bytes((t / "keys" / "ca.pem").read_bytes())
    signed = runner.invoke(cli, ["to-xml", str(EXAMPLE), "--sign", "--key", str(t / "keys" / "signing-key.pem"),
                                 "--cert", str(t / "keys" / "signing-cert.pem"), "-o", str(t / "signed.xml")])
    assert signed.exit_code == 0, signed.output
    assert runner.invoke(cli, ["to-xml", str(EXAMPLE), "-o", str(t / "unsigned.xml")]).exit_code == 0
    env = {"ADAPTER_DATA_DIR": str(t / "var")}
    assert runner.invoke(cli, ["clients", "add", "twice", "--role", "admin"], env=env).exit_code == 0
    return t


def _all_cases() -> list[tuple[str, Case]]:
    return [(name, case) for name, cases in CASES.items() for case in cases]


@pytest.mark.parametrize(("command", "case"), _all_cases(),
                         ids=[f"{name}: {case.kind}" for name, case in _all_cases()])
def test_mistake(command: str, case: Case, folder: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        subs = {"{T}": str(folder), "{BUSY_PORT}": str(busy.getsockname()[1]), "{CLOSED_PORT}": str(_closed_port())}
        args = [_sub(a, subs) for a in case.args]
        env = {"ADAPTER_DATA_DIR": str(folder / "var"), "ADAPTER_DATABASE_URL": None,
               **{k: _sub(v, subs) for k, v in case.env.items()}}
        result = CliRunner().invoke(cli, args, env=env)
    out = result.output
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == case.code, f"adapter {' '.join(args)} -> {result.exit_code}:\n{out}"
    assert _sub(case.names, subs) in out, f"the message does not name {case.names!r}:\n{out}"
    if case.code != EXIT_INVALID and case.short:
        assert len([line for line in out.splitlines() if line.strip()]) <= 4, out  # short, not a dump


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sub(text: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        text = text.replace(key, value)
    return text


def test_unexpected_exception_is_one_line_exit_70_and_traceback_with_debug(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    """A bug is not dressed as a user mistake: "internal error", exit 70; --debug shows the traceback."""
    import adapter.cli.validate as validate_cli

    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(validate_cli, "_one", broken)
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLE)])
    assert result.exit_code == EXIT_INTERNAL
    assert "internal error: ZeroDivisionError" in result.output and "report" in result.output
    assert "Traceback" not in result.output and "boom" not in result.output  # the text may carry patient data
    debug = CliRunner().invoke(cli, ["--debug", "validate", str(EXAMPLE)])
    assert isinstance(debug.exception, ZeroDivisionError)  # raised on, for the traceback
    env_debug = CliRunner().invoke(cli, ["validate", str(EXAMPLE)], env={"ADAPTER_DEBUG": "1"})
    assert isinstance(env_debug.exception, ZeroDivisionError)


def test_describe_table() -> None:
    """The one table: errors' classes and the environment's exceptions to exit codes."""
    from sqlalchemy import exc as sa_exc

    from adapter import errors

    assert describe(errors.InputRejected("x"))[1] == EXIT_USAGE
    assert describe(errors.ValidationFailed("x"))[1] == EXIT_INVALID
    assert describe(errors.TransformError("x"))[1] == EXIT_INVALID
    assert describe(errors.StoreUnavailable())[1] == EXIT_ENVIRONMENT
    assert describe(FileNotFoundError(2, "No such file or directory", "/x/y"))[0].startswith("error: /x/y")
    assert describe(sa_exc.OperationalError("SELECT", {}, Exception("gone")))[1] == EXIT_ENVIRONMENT
    assert describe(sa_exc.IntegrityError("INSERT", {}, Exception("dup")))[1] == EXIT_INTERNAL
    assert describe(KeyError("k"))[1] == EXIT_INTERNAL


def test_valid_input_still_exit_0(folder: Path) -> None:
    """The negative control of the table above: the same commands on good input succeed."""
    runner = CliRunner()
    assert runner.invoke(cli, ["validate", str(EXAMPLE)]).exit_code == EXIT_OK
    assert runner.invoke(cli, ["verify", str(folder / "signed.xml"), "--trust",
                               str(folder / "keys" / "ca.pem")]).exit_code == EXIT_OK
    assert runner.invoke(cli, ["convert", "--from", "inera-xml", str(INERA)]).exit_code == EXIT_OK


def test_convert_several_files_to_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    result = CliRunner().invoke(cli, ["convert", "--from", "inera-xml", str(INERA), "-o", str(out)])
    assert result.exit_code == EXIT_OK and (out.is_file()), result.output  # one FILE: -o is the file
    second = tmp_path / "copy.xml"
    second.write_bytes(INERA.read_bytes())
    folder = tmp_path / "many"
    result = CliRunner().invoke(cli, ["convert", "--from", "inera-xml", str(INERA), str(second), "-o", str(folder)])
    assert result.exit_code == EXIT_OK, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["copy.json", "lisn-depression.json"]


def test_audit_extract_reads_a_personnummer_with_or_without_dash(tmp_path: Path) -> None:
    from adapter import wiring
    from adapter.settings import Settings
    from adapter.store.audit import record

    env = {"ADAPTER_DATA_DIR": str(tmp_path), "ADAPTER_DATABASE_URL": None}
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    store = wiring.open_store(Settings.from_env({"ADAPTER_DATA_DIR": str(tmp_path)}))
    with store.session() as session:
        record(session, store.seal, actor="t", action="read", outcome="ok", patient="191212121212")
    store.engine.dispose()
    plain = runner.invoke(cli, ["audit", "extract", "--patient", "191212121212"], env=env)
    dashed = runner.invoke(cli, ["audit", "extract", "--patient", "19121212-1212"], env=env)
    assert plain.exit_code == dashed.exit_code == 0
    assert '"action": "read"' in plain.output and dashed.output == plain.output


@pytest.mark.parametrize("args", [["to-xml", "{T}/missing.json"], ["db", "upgrade"], ["verify", "{T}/garbage.bin",
                                                                                     "--trust", "{T}/keys/ca.pem"]])
def test_real_process_prints_no_traceback(args: list[str], folder: Path) -> None:
    """The installed entry point, not only CliRunner: stderr is one line, no traceback."""
    argv = [sys.executable, "-m", "adapter", *[a.replace("{T}", str(folder)) for a in args]]
    env = {**os.environ, "ADAPTER_DATA_DIR": str(folder / "var"), "ADAPTER_DATABASE_URL": "notaurl"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in done.stderr and done.returncode in (EXIT_USAGE, EXIT_ENVIRONMENT), done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr


RECEIVER = ROOT / "examples" / "receiver" / "receiver.py"


@pytest.mark.slow
@pytest.mark.parametrize(("args", "code", "names"), [
    (["--db", "{T}/r.db", "--trust", "{T}/missing.pem"], 2, "{T}/missing.pem"),
    (["--db", UNWRITABLE + "/r.db", "--trust", "{T}/keys/ca.pem"], 2, "--db"),
    (["--db", "{T}/r.db", "--trust", "{T}/keys/ca.pem", "--port", "99999"], 2, "--port"),
    (["--db", "{T}/r.db", "--trust", "{T}/keys/ca.pem", "--port", "{BUSY_PORT}"], 3, "--port"),
    (["--db", "{T}/r.db", "--trust", "{T}/keys/ca.pem", "--read-token-file", "{T}/missing"], 2, "{T}/missing"),
])
def test_reference_receiver_bad_arguments(args: list[str], code: int, names: str, folder: Path) -> None:
    """The example receiver script: one line and an exit code, as the commands."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        subs = {"{T}": str(folder), "{BUSY_PORT}": str(busy.getsockname()[1])}
        done = subprocess.run([sys.executable, str(RECEIVER), *[_sub(a, subs) for a in args]], capture_output=True,
                              text=True, timeout=60, check=False)
    assert "Traceback" not in done.stderr and done.returncode == code, done.stderr
    assert _sub(names, subs) in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("terminal", [True, False])
def test_batch_validate_shows_progress_only_on_a_terminal(terminal: bool) -> None:
    """Many files: a bar on stderr when it is a terminal (stdout is redirected), nothing otherwise."""
    import pty

    files = [str(EXAMPLE)] * 6
    master, slave = pty.openpty() if terminal else (None, None)
    try:
        done = subprocess.run([sys.executable, "-m", "adapter", "validate", "--format", "json", *files],
                              stdout=subprocess.PIPE, stderr=slave if terminal else subprocess.PIPE,
                              timeout=120, check=False)
        if terminal:
            os.close(slave)
            chunks = []
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other end is closed
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            err = b"".join(chunks).decode("utf-8", "replace")
        else:
            err = done.stderr.decode("utf-8")
    finally:
        if master is not None:
            os.close(master)
    assert done.returncode == EXIT_OK
    assert ("validate" in err and "6/6" in err) is terminal, err
