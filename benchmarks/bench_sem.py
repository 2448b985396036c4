"""Time causalrel's RI-CLPM against lavaan on the same data, in one run, and print the ratio.

    python benchmarks/bench_sem.py [--repeat 5] [--big 100000] [--no-lavaan]

Data: ``causalrel.simulate`` with N = 500 clients x 8 sessions, 5% dropout per session and 5%
missing ratings (the issue's case; FIML), and the same without missingness (complete data).
lavaan's time is its own ``fit@timing$total`` for ``lavaan(..., missing = "ML")`` (the
Mulder & Hamaker RI-CLPM, wave-specific lags), the median of ``--repeat`` fits in one R
session (so R's start-up and lavaan's loading are not counted). causalrel's time is
``SEMResults.seconds`` (estimation, standard errors and fit measures; not data loading), the
median of ``--repeat`` fits. The estimates of the two are compared as well.

Then N = ``--big`` clients (default 100,000) with causalrel alone, to show that the time grows
with the number of distinct missingness patterns rather than with the number of clients.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from causalrel.sem import RICLPM, riclpm_syntax
from causalrel.simulate import simulate

WAVES = list(range(1, 9))

R_CODE = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1]); syntax <- paste(readLines(args[2]), collapse = "\n")
reps <- as.integer(args[3]); secs <- numeric(reps)
for (i in seq_len(reps)) {
  fit <- lavaan(syntax, data = dat, missing = "ML", meanstructure = TRUE, int.ov.free = TRUE)
  secs[i] <- fit@timing$total
}
pe <- parameterEstimates(fit)
write.csv(pe[, c("lhs", "op", "rhs", "est", "se")], args[4], row.names = FALSE)
cat(median(secs), "\n")
"""


def wide(panel) -> pd.DataFrame:
    w = panel.wide([panel.x, panel.y], WAVES)
    w.columns = [f"{'x' if v == panel.x else 'y'}{s}" for v, s in w.columns]
    return w.dropna(how="all")


def time_causalrel(panel, repeat: int):
    secs, res = [], None
    for _ in range(repeat):
        res = RICLPM(panel, waves=WAVES).fit()
        secs.append(res.seconds)
    return float(np.median(secs)), res


def time_lavaan(panel, repeat: int, tmp: Path) -> tuple[float, pd.DataFrame]:
    data, syn, script, out = (tmp / n for n in ("d.csv", "m.lav", "b.R", "pe.csv"))
    wide(panel).to_csv(data, index=False)
    syn.write_text(riclpm_syntax(WAVES))
    script.write_text(R_CODE)
    proc = subprocess.run(
        ["Rscript", str(script), str(data), str(syn), str(repeat), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(proc.stdout.split()[-1]), pd.read_csv(out)


def agreement(res, pe: pd.DataFrame) -> tuple[float, float]:
    key = ["lhs", "op", "rhs"]
    p = res.params.assign(rhs=res.params["rhs"].fillna(""))
    j = pe.fillna({"rhs": ""}).merge(p, on=key, suffixes=("_lav", ""))
    est = (np.abs(j["est"] - j["est_lav"]) / np.maximum(1, np.abs(j["est_lav"]))).max()
    m = j["se_lav"] > 0
    se = (np.abs(j["se"][m] / j["se_lav"][m] - 1)).max()
    return float(est), float(se)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--no-lavaan", action="store_true")
    args = ap.parse_args()
    have_r = shutil.which("Rscript") is not None and not args.no_lavaan
    cases = {
        "missing (FIML)": simulate(500, 8, mcar=0.05, dropout=0.05, trait_corr=0.3, seed=2024),
        "complete": simulate(500, 8, trait_corr=0.3, seed=2024),
    }
    summary = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        for label, sim in cases.items():
            panel = sim.panel()
            ours, res = time_causalrel(panel, args.repeat)
            line = (
                f"N=500 x 8, {label}: causalrel {ours:.3f} s "
                f"({res.diagnostics['n_patterns']} patterns, "
                f"{res.diagnostics['iterations']} Newton steps)"
            )
            entry = {"causalrel_s": ours, "patterns": res.diagnostics["n_patterns"]}
            if have_r:
                lav, pe = time_lavaan(panel, args.repeat, Path(tmpdir))
                d_est, d_se = agreement(res, pe)
                line += (
                    f"; lavaan {lav:.3f} s; ratio causalrel/lavaan = {ours / lav:.3f} "
                    f"(lavaan is {lav / ours:.1f}x slower); max |est diff| {d_est:.1e}, "
                    f"max SE rel diff {d_se:.1e}"
                )
                entry.update(lavaan_s=lav, ratio=ours / lav, est_diff=d_est, se_rel_diff=d_se)
            print(line, flush=True)
            summary[label] = entry
    if args.big:
        for n in (args.big // 10, args.big):
            sim = simulate(n, 8, mcar=0.05, dropout=0.05, trait_corr=0.3, seed=7)
            panel = sim.panel()
            t0 = time.perf_counter()
            res = RICLPM(panel, waves=WAVES).fit()
            total = time.perf_counter() - t0
            print(
                f"N={n} x 8, missing: causalrel {res.seconds:.2f} s estimation "
                f"({total:.2f} s with reshaping), {res.diagnostics['n_patterns']} patterns; "
                f"cross-lag x->y {res.within.iloc[0]['est']:.3f} "
                f"(truth {sim.truth.within[list(sim.truth.within)[0]]:.3f})",
                flush=True,
            )
            summary[f"N={n}"] = {
                "causalrel_s": res.seconds,
                "patterns": res.diagnostics["n_patterns"],
            }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
