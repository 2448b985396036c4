"""Speed of the Bayesian families: NUTS backends on the DSEM, and PyMC vs brms on the MLM.

DSEM part (issue 5's target): 200 clients x 20 sessions, 10% missing ratings, 4 chains x 1000
draws (1000 tuning) on 2 cores, under 3 minutes with min bulk ESS >= 400 and R-hat <= 1.01.
Each backend runs in turn (never in parallel: they share the two cores).

MLM part: the person-mean-centred MLM on the brms reference data
(tests/reference/brms/brms_mlm_data.csv), 4 x 1000 draws, ESS per second of sampling next to
brms' (tests/reference/brms/brms_mlm.json, written by tests/reference/brms/brms_mlm.R on the same
machine kind).

Reuse part (issue 22): in one process, a first DSEM fit (200 x 20, 10% missing, 4 x 1000)
compiles; a second fit of another panel of the same design (other missing cells, same padded
shape) reuses the compilation; likewise the MLM on the brms data (a second fit on the same
design with other data), printed beside brms' committed wall time. Each line carries the load
average (the machine is shared; times scale with it).

    python benchmarks/bench_bayes.py --part dsem --samplers nutpie,numpyro,pymc
    python benchmarks/bench_bayes.py --part mlm
    python benchmarks/bench_bayes.py --part reuse --out benchmarks/results/bench_bayes_reuse.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from causalrel import load_panel
from causalrel.bayes import DSEM, MLM
from causalrel.results import ConvergenceWarning
from causalrel.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
FIX = {t: ROOT / "tests" / "reference" / t for t in ("brms", "lme4")}


def bench_dsem(sampler: str, seed: int) -> dict:
    sim = simulate(200, 20, cross_sd=0.1, mcar=0.1, seed=1)
    panel = sim.panel()
    t0 = time.perf_counter()
    model = DSEM(panel)
    model.build()
    build = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = model.fit(
            draws=1000, tune=1000, chains=4, cores=2, seed=seed, sampler=sampler, progress=False
        )
    total = time.perf_counter() - t0
    d = res.diagnostics
    sample_s = d.get("sample_seconds", res.seconds)
    return {
        "part": "dsem",
        "sampler": sampler,
        "seconds_total": total,
        "seconds_build": build,
        "seconds_compile": d.get("compile_seconds"),
        "seconds_fit": res.seconds,
        "seconds_sampling": sample_s,
        "rhat_max": d["rhat_max"],
        "rhat_max_all": d["rhat_max_all"],
        "ess_bulk_min": d["ess_bulk_min"],
        "ess_tail_min": d["ess_tail_min"],
        "divergences": d["divergences"],
        "ess_bulk_min_per_second_sampling": d["ess_bulk_min"] / sample_s,
        "converged": d["converged"],
        "cells": int(model.grid.n_cells),
        "latent_cells": int(len(model.grid.miss_pos)),
        "within": {k: round(e.est, 4) for k, e in res.effects["within"].items()},
        "truth": sim.truth.within,
    }


def bench_mlm(sampler: str, seed: int) -> list[dict]:
    panel = load_panel(pd.read_csv(FIX["brms"] / "brms_mlm_data.csv"), warn=False)
    model = MLM(panel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = model.fit(
            draws=1000,
            tune=1000,
            chains=4,
            cores=2,
            seed=seed,
            sampler=sampler,
            progress=False,
            loo=False,
        )
    sample_s = res.diagnostics.get("sample_seconds", res.seconds)
    rows = []
    brms = json.loads((FIX["brms"] / "brms_mlm.json").read_text())
    params = res.params
    for out in ("symptoms", "alliance"):
        ours = params[params["term"].str.contains(f"^{out} ~|\\({out}", regex=True)]
        b = brms[out]["benchmark"]
        brms_sampling = float(np.max(list(b["sampling_seconds_per_chain"].values()))) * 2
        rows.append(
            {
                "part": "mlm",
                "equation": out,
                "pymc_sampler": sampler,
                "pymc_ess_bulk_min": float(ours["ess_bulk"].min()),
                "pymc_rhat_max": float(ours["r_hat"].max()),
                "pymc_seconds_sampling_both_equations": sample_s,
                "pymc_seconds_compile": res.diagnostics.get("compile_seconds"),
                "brms_ess_bulk_min": b["ess_bulk_min"],
                "brms_rhat_max": b["rhat_max"],
                "brms_seconds_wall": b["seconds_wall"],
                "brms_seconds_sampling_est": brms_sampling,
                "brms_seconds_compile": b["compile_seconds"],
            }
        )
    # PyMC samples both equations in one model: charge each equation the whole time
    for r in rows:
        r["pymc_ess_per_second"] = (
            r["pymc_ess_bulk_min"] / r["pymc_seconds_sampling_both_equations"]
        )
        r["brms_ess_per_second"] = r["brms_ess_bulk_min"] / r["brms_seconds_sampling_est"]
    return rows


def _load() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def bench_reuse(seed: int) -> list[dict]:
    """First and second fit of one structure in one process (compile once, reuse)."""
    from causalrel.bayes.compiled import bucket, cache_info, clear_cache

    clear_cache()
    rows = []
    opts = dict(draws=1000, tune=1000, chains=4, cores=2, seed=seed, progress=False)

    def design(data_seed: int):
        return simulate(200, 20, cross_sd=0.1, mcar=0.1, seed=data_seed)

    # the second panel: the next replication whose latent cells fall in the first's padded
    # bucket (measured: seeds 1 and 2 have 806 and 784 cells, buckets 861 and 790)
    first = bucket(len(DSEM(design(1).panel()).grid.miss_pos))
    second = next(
        s for s in range(2, 60) if bucket(len(DSEM(design(s).panel()).grid.miss_pos)) == first
    )
    for fit_no, data_seed in enumerate((1, second), start=1):
        sim = design(data_seed)
        t0 = time.perf_counter()
        model = DSEM(sim.panel(), reuse=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = model.fit(**opts, retry=False)
        d = res.diagnostics
        rows.append(
            {
                "part": "reuse",
                "model": "dsem 200x20, 10% missing, 4x1000",
                "fit": fit_no,
                "reused_compilation": d["reused_compilation"],
                "seconds_total": time.perf_counter() - t0,
                "seconds_compile": d["compile_seconds"],
                "seconds_sampling": d["sample_seconds"],
                "latent_cells": int(len(model.grid.miss_pos)),
                "ess_bulk_min": d["ess_bulk_min"],
                "ess_bulk_min_per_second_sampling": d["ess_bulk_min"] / d["sample_seconds"],
                "converged": d["converged"],
                "load_average": _load(),
            }
        )
        print(json.dumps(rows[-1], default=float), flush=True)
    brms = json.loads((FIX["brms"] / "brms_mlm.json").read_text())
    eqs = ("symptoms", "alliance")
    brms_wall = sum(brms[o]["benchmark"]["seconds_wall"] for o in eqs)
    brms_compile = sum(brms[o]["benchmark"]["compile_seconds"] for o in eqs)
    data = pd.read_csv(FIX["brms"] / "brms_mlm_data.csv")
    rng = np.random.default_rng(seed)
    for fit_no in (1, 2):
        frame = data.copy()
        if fit_no == 2:  # other data of the same design: the ratings jittered
            for v in ("alliance", "symptoms"):
                frame[v] = frame[v] + rng.normal(0, 0.1 * frame[v].std(), len(frame))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = MLM(load_panel(frame, warn=False)).fit(**opts, retry=False)
        d = res.diagnostics
        total = time.perf_counter() - t0
        rows.append(
            {
                "part": "reuse",
                "model": "mlm on brms_mlm_data.csv, 4x1000 (loo, ppc)",
                "fit": fit_no,
                "reused_compilation": d["reused_compilation"],
                "seconds_total": total,
                "seconds_compile": d["compile_seconds"],
                "seconds_sampling": d["sample_seconds"],
                "brms_seconds_wall_committed": brms_wall,
                "brms_seconds_compile_committed": brms_compile,
                "ratio_to_brms_wall": total / brms_wall,
                "ratio_to_brms_wall_and_compile": total / (brms_wall + brms_compile),
                "ess_bulk_min": d["ess_bulk_min"],
                "converged": d["converged"],
                "load_average": _load(),
            }
        )
        print(json.dumps(rows[-1], default=float), flush=True)
    rows.append({"part": "reuse", "cache": cache_info(), "load_average": _load()})
    print(json.dumps(rows[-1], default=float), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["dsem", "mlm", "reuse", "all"], default="all")
    ap.add_argument("--samplers", default="nutpie")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    results = []
    if args.part == "reuse":
        results += bench_reuse(args.seed)
        args.samplers = ""
    for sampler in filter(None, args.samplers.split(",")):
        if args.part in ("dsem", "all"):
            r = bench_dsem(sampler, args.seed)
            print(json.dumps(r, default=float), flush=True)
            results.append(r)
        if args.part in ("mlm", "all"):
            for r in bench_mlm(sampler, args.seed):
                print(json.dumps(r, default=float), flush=True)
                results.append(r)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
