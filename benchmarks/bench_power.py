"""Benchmark of ``causalrel.power``: RI-CLPM replications per minute, and scaling with workers.

Run from the repository root (about 2 minutes on 2 free cores; 8 at load 12)::

    python benchmarks/bench_power.py                  # 1,000 replications at 200 x 6, 2 processes
    python benchmarks/bench_power.py --scaling-reps 200  # replications per scaling run

1. The headline: 1,000 RI-CLPM replications (simulate + fit) at 200 clients x 6 sessions on
   local processes (``--workers``, default 2); the target is under 2 minutes on 2 cores.
2. Scaling: the same cell with ``--scaling-reps`` replications serially (1 process), on 2 local
   processes, and on a 2-worker Dask ``LocalCluster`` (one thread each, on loopback), with the
   speed-up over serial. Every run must give the identical table (checked here).

The machine's load average (1, 5, 15 min) is recorded before and after every timed run, since
the cores may be shared: a figure measured at load 6 on 2 cores had about a third of the
machine. ``--profile`` adds a cProfile of one replication's parts (simulate, panel, fit) to the
result. The result goes to ``benchmarks/results/bench_power.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (pool and cluster workers)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(**kwargs) -> tuple[float, pd.DataFrame, dict]:
    """Wall seconds, the table, and the load and CPU seconds of one run.

    CPU seconds count the workers once they have exited (a local pool is shut down at the end
    of the run; a Dask cluster's workers when the cluster closes, so ``main`` reads them then).
    """
    load = {"load_before": os.getloadavg()}
    cpu = _cpu()
    start = time.perf_counter()
    table = causalrel.power(**(CELL | kwargs))
    secs = time.perf_counter() - start
    load["load_after"] = os.getloadavg()
    load["cpu_seconds"] = _cpu() - cpu
    return secs, table, load


def profile_replication(n: int = 20) -> dict:
    """Seconds per replication in simulate, making the panel, and the fit (serial, n reps)."""
    from causalrel.power.design import Design, resolve_families
    from causalrel.power.fitting import Fitter, replication_panel
    from causalrel.power.runner import replication_seeds
    from causalrel.simulate import simulate

    cell = Design([200], [6], {"alliance->symptoms": -0.2}).cells()[0]
    ((name, opts),) = resolve_families("riclpm").values()
    fitter = Fitter(name, opts)
    parts = {"simulate": 0.0, "panel": 0.0, "fit": 0.0}
    fitter.fit(replication_panel(simulate(**cell.simulate_kwargs(), seed=0)))  # warm up
    for rep in range(n):
        seed, _ = replication_seeds(1, cell.key, rep)
        t0 = time.perf_counter()
        sim = simulate(**cell.simulate_kwargs(), seed=seed)
        t1 = time.perf_counter()
        panel = replication_panel(sim)
        t2 = time.perf_counter()
        fitter.fit(panel)
        t3 = time.perf_counter()
        parts["simulate"] += t1 - t0
        parts["panel"] += t2 - t1
        parts["fit"] += t3 - t2
    return {k: v / n for k, v in parts.items()} | {"load": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scaling-reps", type=int, default=200)
    ap.add_argument("--profile", action="store_true", help="time the parts of a replication")
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    result: dict = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "design": "riclpm, 200 clients x 6 sessions, alliance->symptoms=-0.2",
    }
    if args.profile:
        result["seconds_per_replication_serial"] = profile_replication()
    secs, table, load = timed(reps=args.reps, workers=args.workers)
    row = table[table["effect"] == "alliance->symptoms"].iloc[0]
    result["headline"] = {
        "cpu_seconds_per_rep": load["cpu_seconds"] / args.reps,
        "seconds_on_free_cores": load["cpu_seconds"] / args.workers,
        "command": f"causalrel.power('riclpm', [200], [6], reps={args.reps}, "
        f"workers={args.workers}, seed=1)",
        "reps": args.reps,
        "workers": args.workers,
        "seconds": secs,
        **load,
        "reps_per_second": args.reps / secs,
        "under_2_minutes": secs < 120,
        "power": row["power"],
        "power_mcse": row["power_mcse"],
        "converged": row["converged"],
    }
    print(f"{args.reps} replications on {args.workers} processes: {secs:.1f} s "
          f"(load {load['load_before'][0]:.1f} -> {load['load_after'][0]:.1f})", file=sys.stderr)  # fmt: skip

    n = args.scaling_reps
    runs = {}
    runs["serial (1 process)"] = timed(reps=n, scheduler="serial")
    runs["2 local processes"] = timed(reps=n, workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        # a cluster exists before a run: warm its imports (the local pool start-up is timed)
        client.run(lambda: __import__("causalrel.sem"))
        cpu0 = _cpu()
        runs["Dask LocalCluster, 2 workers"] = timed(reps=n, scheduler=client)
    runs["Dask LocalCluster, 2 workers"][2]["cpu_seconds"] = _cpu() - cpu0  # workers exited
    base, ref, _ = runs["serial (1 process)"]
    result["scaling"] = {
        name: {
            "reps": n,
            "seconds": s,
            "speedup": base / s,
            "identical_to_serial": bool(t.equals(ref)),
            "cpu_seconds_per_rep": load["cpu_seconds"] / n,
            **load,
        }
        for name, (s, t, load) in runs.items()
    }
    result["load_after"] = os.getloadavg()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
