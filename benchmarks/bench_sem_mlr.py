"""Time causalrel's RI-CLPM with estimator="mlr" (and cluster="therapist") against lavaan's
MLR on the same data, in one run, and print the ratio.

    python benchmarks/bench_sem_mlr.py [--repeat 5] [--no-lavaan]

Data: ``causalrel.simulate`` with N = 500 clients x 8 sessions in 25 therapists, 5% dropout
per session and 5% missing ratings (FIML), symptom scores made skewed by an exponential
transform (the case MLR is for). lavaan's time is the elapsed time of
``lavaan(..., estimator = "MLR", missing = "ML"[, cluster = "therapist"])`` plus the
``fitMeasures()`` call that computes the robust CFI/RMSEA (inside R, median of ``--repeat``;
R's start-up and lavaan's loading not counted). causalrel's time is ``SEMResults.seconds``
(estimation, robust standard errors, scaled test and all fit measures), median of ``--repeat``.
The estimates, robust SEs and scaled chi-squares of the two are compared as well, and the
time of the ML fit is printed to show what MLR adds (the casewise scores only).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from bench_sem import WAVES, agreement, wide

from causalrel.data import load_panel
from causalrel.sem import RICLPM, riclpm_syntax
from causalrel.simulate import simulate

R_CODE = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1]); syntax <- paste(readLines(args[2]), collapse = "\n")
reps <- as.integer(args[3]); cl <- if (args[5] == "") NULL else args[5]
secs <- numeric(reps)
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  fit <- lavaan(syntax, data = dat, missing = "ML", meanstructure = TRUE, int.ov.free = TRUE,
                estimator = "MLR", cluster = cl)
  fm <- fitMeasures(fit, c("chisq.scaled", "cfi.robust", "rmsea.robust"))
  secs[i] <- proc.time()[["elapsed"]] - t0  # the fit and its robust fit measures
}
pe <- parameterEstimates(fit)
write.csv(pe[, c("lhs", "op", "rhs", "est", "se")], args[4], row.names = FALSE)
cat(median(secs), fm[["chisq.scaled"]], "\n")
"""


def skewed_clustered(seed: int = 2024):
    sim = simulate(
        500,
        8,
        n_therapists=25,
        therapist_sd=(0.4, 0.4),
        trait_corr=0.3,
        mcar=0.05,
        dropout=0.05,
        seed=seed,
    )
    data = sim.data.copy()
    data["symptoms"] = np.exp(0.8 * data["symptoms"])
    return load_panel(data, therapist="therapist", warn=False)


def time_causalrel(panel, repeat: int, **fit_opts):
    secs, res = [], None
    for _ in range(repeat):
        res = RICLPM(panel, waves=WAVES).fit(**fit_opts)
        secs.append(res.seconds)
    return float(np.median(secs)), res


def time_lavaan(panel, repeat: int, tmp: Path, cluster: str | None):
    data, syn, script, out = (tmp / n for n in ("d.csv", "m.lav", "b.R", "pe.csv"))
    w = wide(panel)
    if cluster:
        w[cluster] = panel.data.groupby(panel.client)[cluster].first().reindex(w.index)
    w.to_csv(data, index=False)
    syn.write_text(riclpm_syntax(WAVES))
    script.write_text(R_CODE)
    proc = subprocess.run(
        ["Rscript", str(script), str(data), str(syn), str(repeat), str(out), cluster or ""],
        capture_output=True,
        text=True,
        check=True,
    )
    secs, chisq_scaled = (float(v) for v in proc.stdout.split()[-2:])
    return secs, chisq_scaled, pd.read_csv(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-lavaan", action="store_true")
    args = ap.parse_args()
    have_r = shutil.which("Rscript") is not None and not args.no_lavaan
    panel = skewed_clustered()
    ml, _ = time_causalrel(panel, args.repeat)
    print(f"N=500 x 8, skewed, 25 therapists: causalrel ML {ml:.3f} s", flush=True)
    summary = {"ml_s": ml}
    with tempfile.TemporaryDirectory() as tmpdir:
        for label, cluster in (("MLR", None), ("MLR cluster=therapist", "therapist")):
            ours, res = time_causalrel(panel, args.repeat, estimator="mlr", cluster=cluster)
            line = (
                f"  {label}: causalrel {ours:.3f} s (+{ours - ml:.3f} s over ML); "
                f"chisq.scaled {res.fit['chisq.scaled']:.3f}"
            )
            entry = {"causalrel_s": ours}
            if have_r:
                lav, lav_chisq, pe = time_lavaan(panel, args.repeat, Path(tmpdir), cluster)
                d_est, d_se = agreement(res, pe)
                line += (
                    f"; lavaan {lav:.3f} s; ratio causalrel/lavaan = {ours / lav:.3f} "
                    f"(lavaan is {lav / ours:.1f}x slower); max |est diff| {d_est:.1e}, "
                    f"max robust SE rel diff {d_se:.1e}, chisq.scaled diff "
                    f"{res.fit['chisq.scaled'] - lav_chisq:+.1e}"
                )
                entry.update(lavaan_s=lav, ratio=ours / lav, est_diff=d_est, se_rel_diff=d_se)
            print(line, flush=True)
            summary[label] = entry
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
