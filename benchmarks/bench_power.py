"""Benchmark of ``causalrel.power``: RI-CLPM replications per minute, and scaling with workers.

Run from the repository root (about 5 minutes on 2 cores)::

    python benchmarks/bench_power.py                  # 1,000 replications at 200 x 6, 2 processes
    python benchmarks/bench_power.py --scaling-reps 200  # replications per scaling run

1. The headline: 1,000 RI-CLPM replications (simulate + fit) at 200 clients x 6 sessions on
   local processes (``--workers``, default 2); the target is under 2 minutes on 2 cores.
2. Scaling: the same cell with ``--scaling-reps`` replications serially (1 process), on 2 local
   processes, and on a 2-worker Dask ``LocalCluster`` (one thread each, on loopback), with the
   speed-up over serial. Every run must give the identical table (checked here).

The machine's load average is recorded before and after, since the cores may be shared. The
result goes to ``benchmarks/results/bench_power.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

import causalrel  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "bench_power.json"
CELL = dict(families="riclpm", clients=[200], sessions=[6],
            effects={"alliance->symptoms": -0.2}, seed=1, progress=False, estimate=False)  # fmt: skip


def timed(**kwargs) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    table = causalrel.power(**(CELL | kwargs))
    return time.perf_counter() - start, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scaling-reps", type=int, default=200)
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    result: dict = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "design": "riclpm, 200 clients x 6 sessions, alliance->symptoms=-0.2",
    }
    secs, table = timed(reps=args.reps, workers=args.workers)
    row = table[table["effect"] == "alliance->symptoms"].iloc[0]
    result["headline"] = {
        "reps": args.reps,
        "workers": args.workers,
        "seconds": secs,
        "reps_per_second": args.reps / secs,
        "under_2_minutes": secs < 120,
        "power": row["power"],
        "power_mcse": row["power_mcse"],
        "converged": row["converged"],
    }
    print(f"{args.reps} replications on {args.workers} processes: {secs:.1f} s", file=sys.stderr)

    n = args.scaling_reps
    runs = {}
    runs["serial (1 process)"] = timed(reps=n, scheduler="serial")
    runs["2 local processes"] = timed(reps=n, workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        # a cluster exists before a run: warm its imports (the local pool start-up is timed)
        client.run(lambda: __import__("causalrel.sem"))
        runs["Dask LocalCluster, 2 workers"] = timed(reps=n, scheduler=client)
    base, ref = runs["serial (1 process)"]
    result["scaling"] = {
        name: {
            "reps": n,
            "seconds": s,
            "speedup": base / s,
            "identical_to_serial": bool(t.equals(ref)),
        }
        for name, (s, t) in runs.items()
    }
    result["load_after"] = os.getloadavg()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
