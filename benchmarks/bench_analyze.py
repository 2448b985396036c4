"""Benchmark of ``causalrel analyze``: wall time of ``--fast`` and of the full run.

Run from the repository root::

    python benchmarks/bench_analyze.py                 # both runs on data/sessions.csv
    python benchmarks/bench_analyze.py --only fast     # just --fast
    python benchmarks/bench_analyze.py --file my.csv --therapist ""   # other data

Each run is the real command line (``python -m causalrel.cli analyze ...``) in a subprocess, so
the time includes starting Python, importing the libraries (PyMC, DoWhy) and writing the report:
what a user waits for. Targets (issue 6): ``--fast`` under 1 minute and the full run under 10
minutes on a 2-core machine. Per-step times are read back from ``summary.json`` (each family's
``seconds``, the causal layer's ``seconds``). Prints one JSON object; exits 1 if a target is
missed or a run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"fast": 60.0, "full": 600.0}


def run(kind: str, file: Path, therapist: str, out: Path) -> dict:
    cmd = [sys.executable, "-m", "causalrel.cli", "analyze", str(file), "--out", str(out)]
    if therapist:
        cmd += ["--therapist", therapist]
    if kind == "fast":
        cmd.append("--fast")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    result = {
        "command": " ".join(["causalrel", *cmd[3:]]),
        "wall_seconds": round(wall, 1),
        "target_seconds": TARGETS[kind],
        "exit_code": proc.returncode,
    }
    summary_path = out / "summary.json"
    if summary_path.exists():
        s = json.loads(summary_path.read_text())
        result["steps"] = {
            name: (round(m["seconds"], 1) if "seconds" in m else next(iter(m)))
            for name, m in s["models"].items()
        }
        result["failed"] = s["failed"]
        result["not_converged"] = s["not_converged"]
    else:
        result["stderr_tail"] = proc.stderr[-2000:]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", default=str(ROOT / "data" / "sessions.csv"))
    ap.add_argument("--therapist", default="therapist", help='therapist column ("" for none)')
    ap.add_argument("--only", choices=["fast", "full"], help="run just one of the two")
    args = ap.parse_args()
    kinds = [args.only] if args.only else ["fast", "full"]
    report = {"cpus": os.cpu_count(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            report["runs"][kind] = run(kind, Path(args.file), args.therapist, Path(tmp) / kind)
    print(json.dumps(report, indent=2))
    bad = [
        k
        for k, r in report["runs"].items()
        if r["exit_code"] != 0 or r["wall_seconds"] > r["target_seconds"]
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
