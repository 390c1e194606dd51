"""The README's main job: ``adapter demo`` runs the whole flow with real processes and checks itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

pytestmark = pytest.mark.slow  # three demo runs with real processes: about 45 s


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "adapter", "demo", "--data-dir", str(folder)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for wanted in ("status: awaiting-consent", "status: consent-ok", "status: delivered",
                   "adapter verify: OK", "kvitterat", "audit chain intact",
                   "Statistik över det som skickades"):
        assert wanted in done.stdout
    for name in ("received-0180.xml", "pulled-1480.xml"):
        root = etree.parse(str(folder / name)).getroot()
        assert root.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    # A second run starts from a clean demo folder; a folder that is not the demo's is left alone.
    again = subprocess.run([sys.executable, "-m", "adapter", "demo", "--data-dir", str(folder)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    foreign = tmp_path / "not-a-demo"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    refused = subprocess.run([sys.executable, "-m", "adapter", "demo", "--data-dir", str(foreign)],
                             capture_output=True, text=True, timeout=60, check=False)
    # A usage mistake (exit 2) naming the option, not a failed demo (1).
    assert refused.returncode == 2 and "--data-dir" in refused.stderr and (foreign / "keep.txt").exists()
