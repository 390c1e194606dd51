"""``adapter testkit files``: a folder of a vendor's exports converted and validated as a batch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapter.cli import cli

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "mappings" / "examples"


@pytest.mark.slow  # three formats, the registry loaded cold: a few seconds
def test_the_example_exports_of_every_format_pass(tmp_path: Path) -> None:
    for fmt in ("inera-xml", "inera-lisjp", "openehr-flat"):  # lisjp takes side inputs from <name>.inputs.json
        result = CliRunner().invoke(cli, ["testkit", "files", "--from", fmt, str(EXAMPLES / fmt)])
        assert result.exit_code == 0, result.output
        assert ", 0 with errors" in result.output


def test_a_batch_with_bad_files_names_each_and_its_first_error(tmp_path: Path) -> None:
    good = (EXAMPLES / "inera-xml" / "lisn-depression.xml").read_text(encoding="utf-8")
    assert "191212121212" in good
    (tmp_path / "a-good.xml").write_text(good, encoding="utf-8")
    (tmp_path / "b-bad-pnr.xml").write_text(good.replace("191212121212", "191212121213"), encoding="utf-8")
    (tmp_path / "c-garbage.xml").write_text("not xml", encoding="utf-8")
    junit, html = tmp_path / "files.xml", tmp_path / "files.html"
    folder = tmp_path
    result = CliRunner().invoke(cli, ["testkit", "files", "--from", "inera-xml", str(folder), "--junit", str(junit),
                                      "--html", str(html)])
    assert result.exit_code == 1, result.output
    assert "files: 3 files, 1 valid, 2 with errors" in result.output
    assert "b-bad-pnr.xml" in result.output and "[LISN_PERSONNUMMER_CHECKSUM]" in result.output
    assert "c-garbage.xml" in result.output and "[LISN_INPUT_NOT_XML]" in result.output
    cases = {tc.get("name", "").split(":")[0]: tc.find("failure") is None for tc in ET.parse(junit).getroot().iter("testcase")}
    assert cases == {"a-good.xml": True, "b-bad-pnr.xml": False, "c-garbage.xml": False}
    assert "Bundle.entry[2].resource.identifier[0].value" in html.read_text(encoding="utf-8")


def test_usage_errors_are_exit_2_without_a_traceback(tmp_path: Path) -> None:
    unknown = CliRunner().invoke(cli, ["testkit", "files", "--from", "nope", str(EXAMPLES / "inera-xml")])
    assert unknown.exit_code == 2 and "unknown format 'nope'" in unknown.output
    empty = CliRunner().invoke(cli, ["testkit", "files", "--from", "inera-xml", str(tmp_path)])
    assert empty.exit_code == 2 and "holds no files" in empty.output
    assert "Traceback" not in unknown.output + empty.output


@pytest.mark.slow  # a subprocess on a pseudo-terminal
def test_a_terminal_gets_a_progress_bar(tmp_path: Path) -> None:
    for i in range(3):
        shutil.copy(EXAMPLES / "inera-xml" / "lisn-depression.xml", tmp_path / f"e{i}.xml")
    primary, secondary = os.openpty()
    proc = subprocess.run([sys.executable, "-c", "from adapter.cli import main; main()", "testkit", "files",
                           "--from", "inera-xml", str(tmp_path)], stdout=subprocess.PIPE, stderr=secondary,
                          timeout=120, check=False)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert proc.returncode == 0
    assert b"inera-xml files" in shown and b"3/3" in shown and b"#" in shown, shown[-400:]
