"""Peak memory of one DSEM fit (issue 14): 200 clients x 20 sessions, 10% missing, 4 x 1000.

Run it under ``/usr/bin/time -v`` (its "Maximum resident set size" is the figure issue 14
asks for); the script prints one JSON line with its own peak (``ru_maxrss``), the resident
size after compiling and after the fit, and the bytes the results keep (``idata``, by
group). ``--keep-draws`` fits with ``keep_draws=True`` (every draw kept, float64).

    /usr/bin/time -v python benchmarks/bench_bayes_memory.py [--keep-draws] [--backend jax]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from pathlib import Path

from causalrel.bayes import DSEM
from causalrel.results import ConvergenceWarning
from causalrel.simulate import simulate


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep-draws", action="store_true")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()
    model = DSEM(simulate(200, 20, cross_sd=0.1, mcar=0.1, seed=1).panel())
    start = _rss_mb()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = model.fit(
            draws=args.draws,
            tune=1000,
            chains=4,
            cores=2,
            seed=1,
            progress=False,
            retry=False,
            keep_draws=args.keep_draws,
            backend=args.backend,
        )
    kept = {g: getattr(res.idata, g).nbytes / 2**20 for g in res.idata.groups()}
    print(
        json.dumps(
            {
                "model": "dsem 200x20, 10% missing",
                "draws": f"4 x {args.draws}",
                "keep_draws": args.keep_draws,
                "backend": res.diagnostics.get("backend"),
                "seconds": time.perf_counter() - t0,
                "compile_seconds": res.diagnostics.get("compile_seconds"),
                "rss_mb_before_fit": start,
                "rss_mb_after_fit": _rss_mb(),
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "idata_mb_by_group": kept,
                "idata_mb": sum(kept.values()),
                "converged": res.converged,
                "load_average": [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
