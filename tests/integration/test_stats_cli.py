"""``adapter stats`` on the embedded SQLite: tables in three formats, the documented exit codes, and
``adapter stats synth`` refused outside a test environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapter.cli import cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"ADAPTER_DATA_DIR": str(tmp_path / "var"), "ADAPTER_DATABASE_URL": "",
            "ADAPTER_VALIDATION_TEST_ENVIRONMENT": "1"}


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["stats", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_synth_then_tables_in_every_format(env: dict[str, str]) -> None:
    assert run(env, "synth", "120", "--seed", "5")[:2] == (0, "120 synthetic statistics rows written (seed 5)\n")
    code, out, _ = run(env, "--by", "sex", "--format", "json")
    table = json.loads(out)
    assert code == 0 and table["total"]["count"] == 120
    assert sum(c["count"] for c in table["cells"]) == 120  # two large cells: nothing hidden
    code, out, _ = run(env, "--by", "sex,agegroup", "--format", "csv", "--from", "2026-07", "--to", "2026-11")
    assert code == 0 and out.splitlines()[0] == "Juridiskt kön,Åldersgrupp,Antal" and ",..\n" in out
    code, out, _ = run(env, "--by", "kommun")
    assert code == 0 and "Stockholm (0180)" in out and "dolt" in out


@pytest.mark.parametrize(("args", "mid"), [(["--by", "shoe"], "LISN_STATS_DIMENSION"),
                                           (["--from", "juli"], "LISN_STATS_MONTH"),
                                           (["synth", "0"], "LISN_STATS_COUNT")])
def test_bad_options_exit_2_naming_what(env: dict[str, str], args: list[str], mid: str) -> None:
    code, out, err = run(env, *args)
    assert code == 2 and mid in err and "Traceback" not in err + out


def test_synth_is_refused_outside_a_test_environment(env: dict[str, str]) -> None:
    env["ADAPTER_VALIDATION_TEST_ENVIRONMENT"] = "0"
    code, _, err = run(env, "synth", "10")
    assert code == 2 and "LISN_STATS_SYNTHETIC_PRODUCTION" in err
    env["ADAPTER_VALIDATION_TEST_ENVIRONMENT"] = "1"
    assert json.loads(run(env, "--format", "json")[1])["total"]["count"] == 0  # nothing was written


def test_an_unreachable_database_exits_3(env: dict[str, str]) -> None:
    env["ADAPTER_DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
    env["ADAPTER_ENV"] = "development"  # a server database is production otherwise (and wants its secrets)
    code, out, err = run(env, "--by", "sex")
    assert code == 3 and "LISN_STORE_UNAVAILABLE" in err and "Traceback" not in err + out


def test_report_writes_one_html_page(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "synth", "150")[0] == 0
    code, out, _ = run(env, "report", "--out", str(tmp_path / "rapport"))
    page = tmp_path / "rapport" / "statistik.html"
    assert code == 0 and out.strip() == str(page)
    html = page.read_text("utf-8")
    assert html.count("<svg") == 4 and "<b>150</b>" in html
    (tmp_path / "file").write_text("x")
    code, _, err = run(env, "report", "--out", str(tmp_path / "file" / "sub"))
    assert code == 2 and "LISN_STATS_OUT" in err


@pytest.mark.postgres
def test_a_database_without_the_statistics_tables_exits_3(env: dict[str, str], pg_url: str) -> None:
    import uuid

    import sqlalchemy as sa

    schema = f"t_nomig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        env["ADAPTER_DATABASE_URL"] = f"{pg_url}?options=-csearch_path%3D{schema}"
        env["ADAPTER_ENV"] = "development"
        code, out, err = run(env, "--by", "sex")
        assert code == 3 and "LISN_STATS_NOT_MIGRATED" in err and "Traceback" not in err + out
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
