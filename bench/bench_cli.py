"""The whole ``adapter validate FILE`` process against importing fhir.resources' Bundle model (issue 15, target 3).

Each subject is a fresh process, started and waited for in rounds; within a round the subjects
run one after the other, and the order rotates from round to round, so that a change of load
hits them alike:

- ``adapter validate`` by the installed entry point (the ``adapter`` script beside this Python);
- ``python -m adapter validate``;
- baseline ``python -c "from fhir.resources.R4B.bundle import Bundle"`` (the model a validator built
  on fhir.resources loads before it reads a byte);
- ``python -c pass``, the interpreter's own start: a floor, shown for reading, not a target;
- with ``--base REV``: ``python -m adapter validate`` of the checkout at REV (``git archive`` into a
  temporary folder, first on ``PYTHONPATH``; the same Python and packages), the before of a change.

Byte-compiled files: an installed package has its ``.pyc`` files (pip writes them), so by default
every subject runs with ``PYTHONDONTWRITEBYTECODE`` unset (whatever the calling environment says)
and the untimed warm-up run of each subject writes them; the adapter's are then read, not compiled
from source, in the timed rounds. ``--no-pyc`` measures the other case, the adapter compiled from
source in every process: its subjects run from a copy of this checkout's ``adapter`` folder without
``__pycache__`` (and the ``--base`` checkout) with ``PYTHONDONTWRITEBYTECODE=1``; the baseline and
the floor read their installed ``.pyc`` files either way. The output says which case it measured.

The file is the example submission (``profiles/examples/Bundle-lisn-example-submission.json``):
it is valid, so every check runs (its diagnosis code included). A run whose exit code is not 0 stops
the benchmark: a fast failure is no figure. Per process: the wall time (``time.perf_counter``
around start and wait), the CPU time and the peak resident memory of that child (``os.wait4``:
the child's ``getrusage``). On Linux a child's peak RSS counts its parent's at the fork, so the
rounds run in a small process of their own (``run()`` starts ``python -m bench.bench_cli --json``),
never inside a big one such as ``python -m bench``. Prints medians, the largest RSS and the ratios of the medians against
the baseline (above 1: slower than the baseline), and one JSON object.

``python -m bench.bench_cli [--rounds N]``; ``python -m bench --only cli`` runs it as a section.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
BASELINE = "fhir.resources Bundle import"
FLOOR = "python -c pass"


Subject = tuple[list[str], dict[str, str] | None, Path]


def subject_env(pyc: bool = True) -> dict[str, str]:
    """The subjects' environment: this one with ``PYTHONDONTWRITEBYTECODE`` unset (``pyc``) or set."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if not pyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def source_copy(into: Path) -> Path:
    """This checkout's ``adapter`` package without its ``__pycache__`` folders, beside links to the data
    folders, under ``into/source``: imported from there, every module is compiled from source."""
    target = into / "source"
    shutil.copytree(ROOT / "adapter", target / "adapter", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("profiles", "mappings", "schemas"):
        (target / name).symlink_to(ROOT / name, target_is_directory=True)
    return target


def _first_on_path(folder: Path, env: dict[str, str]) -> dict[str, str]:
    return {**env, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def subjects(base: Path | None = None, *, pyc: bool = True, source: Path | None = None) -> dict[str, Subject]:
    """The command lines and environments, by name (the entry point only when it is installed beside
    this Python; ``base``: a checkout of another revision; ``pyc``: see the module's text; ``source``:
    a :func:`source_copy` the adapter's subjects import the adapter from)."""
    out: dict[str, list[str]] = {}
    script = shutil.which("adapter", path=str(Path(sys.executable).parent))
    if script is not None:
        out["adapter validate"] = [script, "validate", str(EXAMPLE)]
    out["python -m adapter validate"] = [sys.executable, "-m", "adapter", "validate", str(EXAMPLE)]
    out[BASELINE] = [sys.executable, "-c", "from fhir.resources.R4B.bundle import Bundle"]
    out[FLOOR] = [sys.executable, "-c", "pass"]
    env = subject_env(pyc)
    found: dict[str, Subject] = {name: (argv, env, ROOT) for name, argv in out.items()}
    if source is not None:
        for name in found:
            if "adapter" in name:
                found[name] = (found[name][0], _first_on_path(source, env), source)
    if base is not None:  # run from there: `python -m` puts the working folder first on sys.path
        found[f"python -m adapter validate @{base.name}"] = (out["python -m adapter validate"],
                                                             _first_on_path(base, env), base)
    return found


def checkout(rev: str, into: Path) -> Path:
    """The package and its data folders (``adapter.data``) of revision ``rev`` under ``into/<rev>``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "adapter", "profiles", "mappings", "schemas"],
                             capture_output=True, check=True).stdout
    target = into / rev.replace("/", "-").replace("~", "-").replace("^", "-")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def run_once(argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> dict[str, float]:
    """One process: wall ms, CPU ms (user + system), peak RSS in MB; raises when it does not exit 0."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.strip()[-500:]}")
    return {"wall_ms": wall * 1000, "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
            "max_rss_mb": usage.ru_maxrss / 1024}  # Linux: ru_maxrss in KiB


def measure(rounds: int = 15, base: str | None = None, *, pyc: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        return _measure(rounds, checkout(base, Path(tmp)) if base else None, base, pyc=pyc,
                        source=None if pyc else source_copy(Path(tmp)))


def _imported_from(cwd: Path, env: dict[str, str] | None) -> Path:
    where = subprocess.run([sys.executable, "-c", "import adapter; print(adapter.__file__)"], cwd=cwd, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    return Path(where).resolve()


def _measure(rounds: int, base_dir: Path | None, base: str | None, *, pyc: bool = True,
             source: Path | None = None) -> dict[str, Any]:
    commands = subjects(base_dir, pyc=pyc, source=source)
    if base_dir is not None:  # the base subject must run the base's code, not this checkout's
        where = _imported_from(base_dir, commands[f"python -m adapter validate @{base_dir.name}"][1])
        if not where.is_relative_to(base_dir.resolve()):
            raise RuntimeError(f"--base: the adapter imported from {base_dir} is {where}")
    if source is not None:  # --no-pyc: the copy without byte-compiled files, not this checkout
        where = _imported_from(source, commands["python -m adapter validate"][1])
        if not where.is_relative_to(source.resolve()):
            raise RuntimeError(f"--no-pyc: the adapter imported from {source} is {where}")
    names = list(commands)
    for subject in commands.values():
        # once each, untimed: the page cache warm and, unless --no-pyc, the byte-compiled files written
        run_once(*subject)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    load = os.getloadavg()
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            samples[name].append(run_once(*commands[name]))
    summary = {name: _summary(runs) for name, runs in samples.items()}
    ref = summary[BASELINE]
    return {"file": str(EXAMPLE.relative_to(ROOT)), "rounds": rounds, "base": base, "pyc": pyc,
            "loadavg_at_start": list(load),
            "loadavg_at_end": list(os.getloadavg()), "python": sys.executable, "subjects": summary,
            "ratio_wall_vs_baseline": {n: round(s["wall_p50_ms"] / ref["wall_p50_ms"], 2)
                                       for n, s in summary.items() if n != BASELINE},
            "ratio_cpu_vs_baseline": {n: round(s["cpu_p50_ms"] / ref["cpu_p50_ms"], 2)
                                      for n, s in summary.items() if n != BASELINE}}


def _summary(runs: list[dict[str, float]]) -> dict[str, float]:
    wall = sorted(r["wall_ms"] for r in runs)
    cpu = sorted(r["cpu_ms"] for r in runs)
    return {"runs": len(runs), "wall_p50_ms": round(statistics.median(wall), 1), "wall_min_ms": round(wall[0], 1),
            "wall_max_ms": round(wall[-1], 1), "cpu_p50_ms": round(statistics.median(cpu), 1),
            "max_rss_mb": round(max(r["max_rss_mb"] for r in runs), 1)}


def run(*, quick: bool = False, pyc: bool = True) -> dict[str, Any]:
    """:func:`measure` in a fresh small process (see the module's text: RSS), as one JSON object."""
    proc = subprocess.run([sys.executable, "-m", "bench.bench_cli", "--json", "--rounds", "4" if quick else "15",
                           *([] if pyc else ["--no-pyc"])],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    if proc.returncode != 0:
        return {"status": "failed", "reason": proc.stderr.strip()[-1000:]}
    return dict(json.loads(proc.stdout))


def table(result: dict[str, Any]) -> str:
    if result.get("status") != "ok":
        return f"whole process: {result.get('status')}: {result.get('reason')}"
    load = result["loadavg_at_start"]
    pyc = ("the adapter's .pyc files written by a warm-up run and read (as installed)" if result.get("pyc", True)
           else "--no-pyc: the adapter compiled from source in every process")
    rows = [f"whole process, {result['file']}, {result['rounds']} rounds, load {load[0]:.2f} at the start, "
            f"{result['loadavg_at_end'][0]:.2f} at the end; target: adapter validate <= 1x the baseline",
            f"  {pyc}",
            f"  {'subject':<32}{'wall p50 ms':>12}{'min':>8}{'max':>8}{'cpu p50 ms':>12}{'max RSS MB':>12}"
            f"{'x baseline (wall, cpu)':>24}"]
    for name, s in result["subjects"].items():
        ratio = ("1 (baseline)" if name == BASELINE else
                 f"{result['ratio_wall_vs_baseline'][name]:.2f}, {result['ratio_cpu_vs_baseline'][name]:.2f}")
        rows.append(f"  {name:<32}{s['wall_p50_ms']:>12}{s['wall_min_ms']:>8}{s['wall_max_ms']:>8}"
                    f"{s['cpu_p50_ms']:>12}{s['max_rss_mb']:>12}{ratio:>24}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--base", metavar="REV", help="also python -m adapter validate of this git revision")
    parser.add_argument("--no-pyc", dest="pyc", action="store_false",
                        help="the adapter compiled from source in every process (default: its .pyc files read)")
    ns = parser.parse_args()
    result = {"status": "ok", **measure(ns.rounds, ns.base, pyc=ns.pyc)}
    if not ns.json:
        print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
