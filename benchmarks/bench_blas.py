"""Does PyTensor's BLAS link matter for causalrel? Times of the MLM's phases, side by side.

In a pip install PyTensor finds no BLAS it can link (numpy's bundled OpenBLAS has renamed
symbols) and warns that operations "will be severely degraded". Only the MLM's posterior
predictive check and log-likelihood run through PyTensor's C backend (nutpie samples with
numba; the DSEM's checks are numpy), so these are the phases timed here, each configuration in
a fresh process (the BLAS decision is made once per process), in one run:

- ``c``: what causalrel does (:func:`causalrel.bayes.blas.settle_blas`): PyTensor's own choice,
  here empty flags, i.e. its NumPy-C-API BLAS (numpy's OpenBLAS), warning silenced;
- ``numba``: the same functions compiled in PyTensor's NUMBA mode;
- ``openblas``: C backend linked to a system OpenBLAS (only where ``libopenblas.so`` exists,
  e.g. after ``apt-get install libopenblas-dev``).

    python benchmarks/bench_blas.py [--configs c,numba,openblas] [--draws 1000] [--out FILE]

Measured (2026-12-01, ``--configs numba,c --draws 300``, MLM on ``data/sessions.csv``, 4
chains; load average 4-7 on the 2 cores, so the seconds are inflated; output in
``benchmarks/results/bench_blas.json``):

====================  ========  ===========  ===========  ==========  =======
configuration         sampling  PPC (first)  PPC (again)  log-lik     warning
====================  ========  ===========  ===========  ==========  =======
C, empty flags        24.2 s    6.1 s        0.9 s        23.4 s      none
NUMBA mode            25.4 s    9.6 s        1.5 s        15.7 s      none
====================  ========  ===========  ===========  ==========  =======

Sampling is the same either way (nutpie compiles with numba whatever PyTensor's flags are).
NUMBA mode is slower for the check and faster for the log-likelihood: no clear gain, so
causalrel keeps PyTensor's default C backend and only silences the warning (which, with empty
flags, changes no computation). Without :func:`~causalrel.bayes.blas.settle_blas` the same run
prints the warning once per process; with it, none (``blas_warnings`` above, and
``tests/test_install.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENBLAS = Path("/usr/lib/x86_64-linux-gnu/libopenblas.so")

CHILD = r"""
import json, sys, time, warnings
import numpy as np
mode = sys.argv[1]
t0 = time.perf_counter()
import causalrel as cr
from causalrel.bayes import MLM
from causalrel.bayes import ppc as _ppc
from causalrel.bayes.blas import settle_blas
from causalrel.bayes.sampling import sample
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    flags = settle_blas()
    panel = cr.load_panel(sys.argv[2], therapist="therapist", warn=False)
    m = MLM(panel)
    model = m.build()
    idata, info = sample(model, draws=int(sys.argv[3]), tune=int(sys.argv[3]), chains=4, seed=1, progress=False)
    if mode == "numba":  # functions compiled from here on (PPC, log-likelihood) use NUMBA
        import pytensor
        pytensor.config.mode = "NUMBA"
    rng = np.random.default_rng(1)
    times = {}
    for label in ("ppc_first", "ppc_again"):
        t = time.perf_counter()
        m._replicate(_ppc.thin(idata.posterior, rng), rng)
        times[label] = time.perf_counter() - t
    t = time.perf_counter()
    list(m._loglik(idata))  # a generator for the MLM (one equation at a time)
    times["loglik"] = time.perf_counter() - t
blas_warnings = [str(w.message)[:60] for w in caught if "BLAS" in str(w.message)]
print(json.dumps({"mode": mode, "ldflags": flags, "sample_seconds": info["sample_seconds"],
                  "compile_seconds": info["compile_seconds"], **times,
                  "total_seconds": time.perf_counter() - t0, "blas_warnings": blas_warnings}))
"""


def run(mode: str, data: Path, draws: int) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        flags = [f"base_compiledir={cache}"]  # a cold PyTensor cache for every configuration
        if mode == "openblas":
            flags.append("blas__ldflags=-lopenblas")
        env["PYTENSOR_FLAGS"] = ",".join(flags)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                "numba" if mode == "numba" else "c",
                str(data),
                str(draws),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
    if out.returncode != 0:  # a configuration that cannot run here is a result too
        return {"config": mode, "error": out.stderr.strip().splitlines()[-1]}
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    rec["config"] = mode
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="c,numba,openblas")
    ap.add_argument("--data", default=str(ROOT / "data" / "sessions.csv"))
    ap.add_argument("--draws", type=int, default=1000, help="draws and tuning steps per chain")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_blas.json"))
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c != "openblas" or OPENBLAS.exists()]
    rows = [run(c, Path(args.data), args.draws) for c in configs]
    cols = [
        "config",
        "ldflags",
        "compile_seconds",
        "sample_seconds",
        "ppc_first",
        "ppc_again",
        "loglik",
        "blas_warnings",
    ]
    for r in rows:
        if "error" in r:
            print(f"config={r['config']}  failed: {r['error']}")
            continue
        print(
            "  ".join(f"{k}={r[k]:.1f}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in cols)
        )
    load = os.getloadavg()
    Path(args.out).write_text(json.dumps({"load_average": load, "runs": rows}, indent=1))
    print(f"load average {load[0]:.1f}; wrote {args.out}")


if __name__ == "__main__":
    main()
