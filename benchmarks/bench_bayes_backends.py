"""nutpie's numba backend against its JAX backend on the same models, side by side (issue 22).

For each model and backend a fresh worker process (its own empty PyTensor compile directory
and JAX compilation cache: a *cold* start) builds the causalrel model, compiles it with
``nutpie.compile_pymc_model(model, backend=...)`` and samples it twice with the same seed: the
first run pays compilation (JAX traces and compiles lazily, at its first evaluation, so its
cost shows in the first run), the second is sampling only and must give identical draws
(same seed, same backend). Then a second worker per model and backend, reusing those
directories (a new process with *warm* disk caches: PyTensor's numba cache, JAX's persistent
compilation cache), measures what an on-disk cache saves. Backends alternate within each model
so that both see the same machine load; every row carries ``uptime``'s load averages.

Models: the MLM on IMPLEMENT (``causalrel.datasets.implement_panel()``), the MLM on a simulated
100 x 15 panel, the DSEM on 200 x 20 with 10% missing ratings (as ``bench_bayes.py``). All
4 chains x 1000 draws after 1000 tuning on 2 cores.

    python benchmarks/bench_bayes_backends.py --out benchmarks/results/bench_bayes_backends.json
    python benchmarks/bench_bayes_backends.py --models dsem_200x20 --parallel
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("mlm_implement", "mlm_100x15", "dsem_200x20")
BACKENDS = ("numba", "jax")


def _load() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def _model(name: str):
    from causalrel.bayes import DSEM, MLM
    from causalrel.datasets import implement_panel
    from causalrel.simulate import simulate

    if name == "mlm_implement":
        return MLM(implement_panel())
    if name == "mlm_100x15":
        return MLM(simulate(100, 15, cross_sd=0.1, mcar=0.1, seed=1).panel())
    if name == "dsem_200x20":
        return DSEM(simulate(200, 20, cross_sd=0.1, mcar=0.1, seed=1).panel())
    raise ValueError(name)


def worker(name: str, backend: str, draws: int, seed: int) -> dict:
    """One cold or warm process: compile, sample twice with one seed, diagnose."""
    import numpy as np

    if backend == "jax":
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ["BENCH_JAX_CACHE"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import nutpie

    from causalrel.bayes.diagnostics import diagnose

    t_start = time.perf_counter()
    fam = _model(name)
    model = fam.build()
    t_build = time.perf_counter() - t_start
    t0 = time.perf_counter()
    kw = {"backend": backend}
    if backend == "jax":
        kw["gradient_backend"] = "jax"
    compiled = nutpie.compile_pymc_model(model, **kw)
    t_compile = time.perf_counter() - t0
    opts = dict(draws=draws, tune=1000, chains=4, cores=2, seed=seed, progress_bar=False)
    opts["target_accept"] = 0.9
    runs = []
    for _ in range(2):
        t1 = time.perf_counter()
        idata = nutpie.sample(compiled, **opts)
        runs.append((time.perf_counter() - t1, idata))
    (s1, a), (s2, b) = runs
    names = [v for v in fam._diagnosed() if v in a.posterior]
    identical = all(
        np.array_equal(a.posterior[v].values, b.posterior[v].values) for v in a.posterior
    )
    d = diagnose(b, names)
    row = {
        "model": name,
        "backend": backend,
        "seconds_build": t_build,
        "seconds_compile_call": t_compile,
        "seconds_first_sample": s1,
        "seconds_first_fit": t_compile + s1,
        "seconds_sampling": s2,
        "seconds_compile_effective": t_compile + s1 - s2,
        "ess_bulk_min": d["ess_bulk_min"],
        "ess_tail_min": d["ess_tail_min"],
        "ess_bulk_per_second": d["ess_bulk_min"] / s2,
        "ess_tail_per_second": d["ess_tail_min"] / s2,
        "rhat_max": d["rhat_max"],
        "divergences": d["divergences"],
        "converged": d["converged"],
        "identical_draws_same_seed": bool(identical),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": _load(),
    }
    within = getattr(fam, "_summarise", None)
    if within is not None:
        res = fam._summarise(b, s2, "nutpie")
        row["within"] = {k: round(e.est, 4) for k, e in res.effects["within"].items()}
    return row


def _run_workers(name, backends, phase, dirs, args) -> list[dict]:
    """The backends' workers one after the other, or all at once with ``--parallel``."""
    if not args.parallel:
        return [_run_worker(name, b, phase, dirs[b], args) for b in backends]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(backends)) as pool:
        jobs = [pool.submit(_run_worker, name, b, phase, dirs[b], args) for b in backends]
        return [j.result() for j in jobs]


def _run_worker(name, backend, phase, dirs, args) -> dict:
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = f"base_compiledir={dirs['pytensor']}"
    env["BENCH_JAX_CACHE"] = dirs["jax"]
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = "1"
    cmd = [sys.executable, __file__, "--worker", name, "--backends", backend]
    cmd += ["--draws", str(args.draws), "--seed", str(args.seed)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        row = {"model": name, "backend": backend, "error": out.stderr[-2000:]}
    else:
        row = json.loads(out.stdout.strip().splitlines()[-1])
    row.update(phase=phase, seconds_process_wall=wall, load_average_end=_load())
    row["cache_mb"] = {k: _size_mb(Path(v)) for k, v in dirs.items()}
    return row


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--phases", default="cold,warm", help="cold, warm or both")
    ap.add_argument(
        "--parallel",
        action="store_true",
        help="run the backends' workers at the same time (the same load for both; each gets "
        "a share of the cores, so absolute times are longer)",
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.backends, args.draws, args.seed)))
        return
    root = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    rows = []
    backends = args.backends.split(",")
    for name in args.models.split(","):
        dirs = {}
        for b in backends:
            dirs[b] = {
                "pytensor": str(root / name / b / "pytensor"),
                "jax": str(root / name / b / "jax"),
            }
            for p in dirs[b].values():
                Path(p).mkdir(parents=True, exist_ok=True)
        for phase in args.phases.split(","):
            order = backends if phase == "cold" else backends[::-1]  # alternate
            for row in _run_workers(name, order, phase, dirs, args):
                row["parallel"] = args.parallel
                print(json.dumps(row, default=float), flush=True)
                rows.append(row)
                if args.out:
                    Path(args.out).write_text(json.dumps(rows, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
