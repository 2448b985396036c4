"""The verdict of the full ``analyze`` (Bayesian families included) on the IMPLEMENT data.

Runs ``causalrel.analyze(causalrel.datasets.implement_panel(), fast=False)``: every family,
the MLM and the DSEM sampled with their ``analyze`` defaults, and writes the run's
``summary.json`` to ``benchmarks/results/implement_verdict_full.json`` with a ``benchmark``
entry (wall seconds, peak resident memory of this process, the command). It prints, per
direction, the answer, which families counted and why the others did not, and the
convergence diagnostics of the two samplers.

    python benchmarks/implement_verdict.py [--seed 1]
        [--out benchmarks/results/implement_verdict_full.json]

Slow (the two samplers; tens of minutes on 2 shared cores): run it in the background. The
peak memory of the whole process tree is best read from ``/usr/bin/time -v``; the figure
written here is ``getrusage``'s maximum resident set of this process and its children.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from causalrel.datasets import implement_panel
from causalrel.report import analyze

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("alliance->symptoms", "symptoms->alliance")
SAMPLERS = ("mlm", "dsem")


def peak_rss_mb() -> float:
    """Largest resident set (MB) of this process or any of its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024  # Linux reports kilobytes


def report(summary: dict) -> str:
    """The verdict per direction and the samplers' convergence, as plain lines."""
    lines = []
    for key in KEYS:
        v = summary["verdict"][key]
        lines.append(
            f"{key}: {v['answer']} (sign {v['sign']}), estimate {v['estimate']} "
            f"[{v['lower']}, {v['upper']}]; counted: {', '.join(v['families']) or 'none'}"
        )
        for name, why in (v.get("excluded") or {}).items():
            lines.append(f"    not counted {name}: {why}")
    for name in SAMPLERS:
        diag = (summary["models"].get(name) or {}).get("diagnostics") or {}
        lines.append(
            f"{name}: converged={diag.get('converged')} "
            f"diagnostics={json.dumps(diag, default=str)[:600]}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "implement_verdict_full.json")
    )
    args = ap.parse_args()
    panel = implement_panel()
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        outcome = analyze(panel, out=Path(folder), fast=False, seed=args.seed, progress=True)
        seconds = time.perf_counter() - t0
        summary = json.loads((Path(folder) / "summary.json").read_text())
    summary["benchmark"] = {
        "command": "python benchmarks/implement_verdict.py " + " ".join(sys.argv[1:]),
        "wall_seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "ok": outcome.ok,
        "not_converged": outcome.not_converged,
        "failures": outcome.failures,
    }
    Path(args.out).write_text(json.dumps(summary, indent=1, default=str))
    print(report(summary))
    print(f"wall {seconds:.0f} s, peak RSS {peak_rss_mb():.0f} MB, ok={outcome.ok}")


if __name__ == "__main__":
    main()
