"""Which ``time`` setting is right for the Bayesian MLM (and DSEM)? (issue 13, "defaults are a claim")

The same three worlds, criterion and Monte Carlo measures as
``benchmarks/validate_time_defaults.py`` (no trend; a shared trend; client trajectories), for the
Bayesian families under each ``time`` value they offer, at one size (150 clients x 8 sessions,
5% missing). Each replication is one fit with 4 chains x 1000 draws after 1000 tuning (no
automatic retry, no LOO or predictive check: the question is the model's bias and coverage,
not the sampler's); a fit that fails the diagnostics counts as not converged. The replications
run in one process so that each model structure is compiled once (``reuse=True``, set by the
power runner; :mod:`causalrel.bayes.compiled`). The committed output,
``benchmarks/results/validate_bayes_time.{csv,txt}``, is what the MLM's and DSEM's ``time``
defaults cite.

Measured (session 5, 8 replications, MLM only, 2134 s on 2 shared cores at load 4-7, three
compilations, the rest reused): only 12-75% of the MLM fits passed every diagnostic at 4 x 1000
draws without the automatic retry (1 to 6 per cell), too few to call any ``time`` value right;
the MLM's default stays ``"none"`` and the finding belongs to the convergence issue (14): the
MLM's defaults (4 x 2000 draws with one retry) are what makes it converge, not 4 x 1000.

Measured (session 8, ``--reps 4 --families mlm,dsem --times none,client --sampler default``,
5468 s at load 3-6; ``benchmarks/results/validate_bayes_time_default_mlm_dsem.txt``): every
fit passed its diagnostics at the default settings. DSEM with ``time="client"``: both
cross-lags unbiased in all three worlds (|bias| <= 0.018), 23 of 24 intervals covering; with
``"none"`` biased by a trend (-0.05 to -0.077) -> the DSEM's default is now ``"client"``
(``causalrel.bayes.dsem.DEFAULT_TIME``). MLM: no setting right in every world (centring on
observed means biases symptoms->alliance; ``"client"`` most, +0.05 to +0.07) -> its default
stays ``"none"`` and its notes say why (``causalrel.bayes.mlm.TIME_NOTE``).

Run: ``python benchmarks/validate_bayes_time.py [--reps 8] [--families mlm]`` (``--families
mlm,dsem`` adds the DSEM, many times slower). ``--sampler default`` fits with the families' own
sampler defaults instead (4 x 2000 draws after 1000 tuning, one automatic longer run when the
diagnostics fail; LOO and the predictive check stay off, as they do not change the estimates),
which is what a default ``time`` must be right under; ``--times none,client`` restricts the
``time`` values (output ``validate_bayes_time_default_<families>.{csv,txt}``). ``--worlds``
restricts the worlds (comma-separated names as in ``validate_time_defaults.WORLDS``). The
output files are rewritten after each world, so a run stopped part-way keeps the worlds it
finished (the header says which).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from validate_time_defaults import SIZES, WORLDS, run, verdicts

OUT = Path(__file__).parent / "results"
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4, "retry": False, "loo": False, "ppc": False}
#: the families' own sampler defaults (``BayesModel.fit``), without LOO and the predictive check
DEFAULT_SAMPLER = {"loo": False, "ppc": False}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=8)
    p.add_argument("--families", default="mlm")
    p.add_argument("--sampler", choices=["short", "default"], default="short")
    p.add_argument("--times", default=None, help="comma-separated time values (default: all)")
    p.add_argument("--worlds", default=None, help="comma-separated worlds (default: all)")
    a = p.parse_args(argv)
    fams = a.families.split(",")
    sampler = SAMPLER if a.sampler == "short" else DEFAULT_SAMPLER
    times = a.times.split(",") if a.times else None
    worlds = a.worlds.split(",") if a.worlds else list(WORLDS)
    unknown = sorted(set(worlds) - set(WORLDS))
    if unknown:
        p.error(f"unknown worlds {unknown}; choose from {list(WORLDS)}")
    stem = "validate_bayes_time" + ("" if a.sampler == "short" else "_default")
    stem += "" if fams == ["mlm"] and a.sampler == "short" else "_" + "_".join(fams)
    t0 = time.perf_counter()
    tables = []
    for world in worlds:
        tables.append(
            run(
                a.reps,
                1,
                SIZES[:1],
                families=fams,
                options={f: dict(sampler) for f in fams},
                scheduler="serial",
                times=times,
                worlds=[world],
            )
        )
        write(pd.concat(tables, ignore_index=True), stem, a, sampler, time.perf_counter() - t0)
    return 0


def write(table: pd.DataFrame, stem: str, a, sampler: dict, seconds: float) -> None:
    """Print and (re)write the output table of the worlds finished so far."""
    cols = ["world", "clients", "sessions", "family", "time", "effect", "true", "converged"]
    cols += ["bias", "bias_mcse", "rmse", "coverage", "coverage_mcse", "right"]
    done = list(dict.fromkeys(table["world"]))
    text = (
        f"validate_bayes_time: {a.reps} replications per cell, seed 13, sampler {a.sampler} "
        f"{sampler}, worlds {done}, {seconds:.0f} s\n\n"
        + table[cols].round(3).to_string(index=False)
        + "\n\nBoth cross-lags right (|bias| <= 15% of truth + 2 MCSE, coverage >= .85):\n"
        + verdicts(table).to_string()
        + "\n"
    )
    print(text, flush=True)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / f"{stem}.csv", index=False)
    (OUT / f"{stem}.txt").write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
