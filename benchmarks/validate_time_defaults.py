"""Which ``time`` setting is right for each frequentist family? (issue 13, "defaults are a claim")

Three simulated worlds, none tuned on: no trend; a shared trend (everyone's alliance rises and
symptoms fall at the same average rate); client trajectories (each client's own linear slopes
around the shared trend). Every frequentist family is fitted under each ``time`` value it
offers, at two sizes, and the table gives bias, RMSE and 95%-interval coverage of both
cross-lags (Morris, White & Crowther 2019 measures with Monte Carlo SEs, computed by
``causalrel.power``, whose runner does the replications in parallel with reproducible seeds).

A setting is *right in a world* when |bias| <= 0.15 x |truth| + 2 MCSE and coverage >= 0.85 for
both cross-lags, over the replications that converged (an improper SEM solution counts as not
converged; the share converged is in the table). The committed output,
``benchmarks/results/validate_time_defaults.{csv,txt}``, is what the families' defaults and their
notes cite. Families whose ``time`` option is not there yet are fitted with the options that mean
the same (FE/DPD: ``time_effects`` = common, ``detrend`` = client), so the table also measures
what those settings do today. The committed run predates fe/dpd's ``time=`` (issue 13): it fitted
them with ``time_effects`` / ``detrend``; fe/dpd's own ``time`` values are validated by
``benchmarks/validate_panel_time.py``.

Run: ``python benchmarks/validate_time_defaults.py [--reps 20] [--workers 2]`` (2267 s with one
worker on 2 busy cores at 20 replications, the committed run; ``--quick`` for a 4-replication smoke run).

``--families riclpm dpml`` fits only those and writes
``benchmarks/results/validate_time_defaults_riclpm_dpml.{csv,txt}`` beside the full table: the
SEMs' rerun after ``time="client"`` gained its boundary handling (``slope_variances="auto"``:
a slope variance the data do not support is fixed at 0 instead of leaving an improper
solution, so those replications now count as converged). That table is what the SEM defaults
cite. ``--families riclpm --reps 50`` (1480 s with 2 workers on 2 busy cores) writes
``validate_time_defaults_riclpm.*``: the RI-CLPM rerun with smaller Monte Carlo error.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import causalrel
from causalrel.families import accepts, family_spec

OUT = Path(__file__).parent / "results"
XY, YX = "alliance->symptoms", "symptoms->alliance"
EFFECTS = {XY: -0.2, YX: -0.1}

#: the worlds: simulate() arguments besides sizes and lagged effects
WORLDS = {
    "no trend": {"mcar": 0.05},
    "shared trend": {"mcar": 0.05, "time": "common", "trend": (0.05, -0.10)},
    "client trajectories": {
        "mcar": 0.05,
        "time": "client",
        "trend": (0.05, -0.10),
        "trend_sd": (0.03, 0.06),
    },
}
SIZES = [(150, 8), (400, 12)]
FAMILIES = ["clpm", "riclpm", "dpml", "fe", "dpd"]
#: what each time value means for a family that has no ``time`` option yet
LEGACY = {"common": {"time_effects": True}, "client": {"detrend": True}}


def settings(family: str) -> dict[str, dict]:
    """``{time value: options}`` for the values the family can fit."""
    if accepts(family, "time"):
        return {t: {"time": t} for t in family_spec(family).time_support}
    out = {"none": {}}
    for t, opts in LEGACY.items():
        if all(accepts(family, k) for k in opts):
            out[t] = opts
    return out


def run(
    reps: int,
    workers: int | None,
    sizes,
    families=FAMILIES,
    options=None,
    scheduler=None,
    times=None,
    worlds=None,
) -> pd.DataFrame:
    """The replications of every world x size for ``families`` (extra fit ``options`` each;
    only the ``time`` values in ``times`` and the worlds in ``worlds`` when given)."""
    fams = {
        f"{fam}|{t}": {"model": fam, **opts, **((options or {}).get(fam, {}))}
        for fam in families
        for t, opts in settings(fam).items()
        if times is None or t in times
    }
    tables = []
    for world, design in WORLDS.items():
        if worlds is not None and world not in worlds:
            continue
        for clients, sessions in sizes:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # non-convergence is counted in the table
                table = causalrel.power(
                    fams,
                    [clients],
                    [sessions],
                    EFFECTS,
                    reps=reps,
                    seed=13,
                    design=design,
                    workers=workers,
                    scheduler=scheduler,
                    progress=sys.stderr.isatty(),
                    estimate=False,
                )
            table = table[table["effect"].isin([XY, YX])].copy()
            table.insert(0, "world", world)
            tables.append(table)
            print(f"{world}, {clients} x {sessions}: {time.perf_counter() - t0:.0f} s", flush=True)
    out = pd.concat(tables, ignore_index=True)
    out[["family", "time"]] = out["family"].str.split("|", expand=True)
    ok = (out["bias"].abs() <= 0.15 * out["true"].abs() + 2 * out["bias_mcse"]) & (
        out["coverage"] >= 0.85
    )
    out["right"] = ok
    return out


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per family and time value: in how many world x size cells both cross-lags are right."""
    both = table.groupby(["family", "time", "world", "clients", "sessions"])["right"].all()
    per = both.groupby(["family", "time"]).agg(["sum", "size"])
    per.columns = ["cells right", "cells"]
    worlds = both.groupby(["family", "time", "world"]).all().unstack("world")
    return per.join(worlds[[w for w in WORLDS if w in worlds.columns]])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="4 replications at the small size")
    p.add_argument(
        "--families",
        nargs="+",
        choices=FAMILIES,
        default=None,
        help="fit only these families; the output is named after them (default: all)",
    )
    a = p.parse_args(argv)
    reps, sizes = (4, SIZES[:1]) if a.quick else (a.reps, SIZES)
    families = a.families or FAMILIES
    stem = "validate_time_defaults" + ("_" + "_".join(a.families) if a.families else "")
    t0 = time.perf_counter()
    table = run(reps, a.workers, sizes, families=families)
    cols = ["world", "clients", "sessions", "family", "time", "effect", "true", "converged"]
    cols += ["bias", "bias_mcse", "rmse", "coverage", "coverage_mcse", "right"]
    show = table[cols].round(3)
    summary = verdicts(table)
    text = (
        f"validate_time_defaults: {reps} replications per cell, seed 13, "
        f"{time.perf_counter() - t0:.0f} s\n\n"
        + show.to_string(index=False)
        + "\n\nBoth cross-lags right (|bias| <= 15% of truth + 2 MCSE, coverage >= .85):\n"
        + summary.to_string()
        + "\n"
    )
    print(text)
    if not a.quick:
        OUT.mkdir(exist_ok=True)
        table.to_csv(OUT / f"{stem}.csv", index=False)
        (OUT / f"{stem}.txt").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
