"""Validate analyze's automatic MLR rule (causalrel.report.inference): where the rule keeps ML,
ML's intervals are right; where it picks MLR, MLR's are and ML's are not.

    python benchmarks/validate_mlr_rule.py [--reps 100] [--clients 300] [--seed 1]

Data: the RI-CLPM worlds of benchmarks/validate_sem_mlr.py (its generator, reused: traits with
SD 0.6, within VAR(1) with ar 0.3/0.4 and cross-lags -0.2/-0.1, 5 waves, innovations SD 0.4)
with three kinds of innovations: ``normal``; ``heavy`` (validate_sem_mlr's standardized
lognormal, skewness 3.7, excess kurtosis 31 *per innovation*, much less in the observed
scores); and ``contaminated``: normal innovations of which 5% have a 6 times larger SD
(symmetric, excess kurtosis 23 per innovation), which keeps the observed within-client
deviations clearly heavy-tailed. Each data set is fitted once with ``estimator="mlr"`` (the
constrained RI-CLPM is the true model), which gives both the ML and the MLR standard errors;
the rule (``choose_inference``) is applied to the same data. Printed and written to
benchmarks/results/validate_mlr_rule.json: per world, the share of data sets for which the rule
picks MLR and the 95% coverage of the four lagged effects with ML and with MLR standard errors,
overall and among the data sets where the rule picks each.

What it decides: the rule is right if coverage with the estimator it picks is near 0.95 in
every world (at least 0.92 for every effect, two Monte Carlo SEs at 100 reps), and where it
picks MLR, ML's coverage is worse. Measured: see the module's results file and the final lines
of its output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import validate_sem_mlr as vsm  # noqa: E402  (the generator and the per-data-set fit)

from causalrel.data import load_panel  # noqa: E402
from causalrel.report.inference import RULE, choose_inference  # noqa: E402

_innovations, _panel_data = vsm.innovations, vsm.panel_data
_last: dict = {}


def innovations(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """validate_sem_mlr's innovations plus ``contaminated`` (mean 0, variance 1)."""
    if kind == "contaminated":
        scale = np.where(rng.random((n, 2)) < 0.05, 6.0, 1.0) / np.sqrt(0.95 + 0.05 * 36)
        return rng.standard_normal((n, 2)) * scale
    return _innovations(kind, rng, n)


def panel_data(n: int, kind: str, rng: np.random.Generator) -> pd.DataFrame:
    """validate_sem_mlr's data, kept for the rule."""
    _last["data"] = data = _panel_data(n, kind, rng)
    return data


vsm.innovations, vsm.panel_data = innovations, panel_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    summary: dict = {"reps": args.reps, "clients": args.clients, "seed": args.seed, "rule": RULE}
    for label in ("normal", "heavy", "contaminated"):
        t0 = time.perf_counter()
        runs = []
        for _ in range(args.reps):
            r = vsm.one(args.clients, label, rng)
            if r is None:
                continue
            r["mlr_chosen"] = choose_inference(load_panel(_last["data"], warn=False)).estimator
            runs.append(r)
        df = pd.DataFrame(runs)
        df["mlr_chosen"] = df["mlr_chosen"] == "mlr"
        s: dict = {"fits": len(df), "share_mlr_chosen": float(df["mlr_chosen"].mean())}
        for name in ("ml", "mlr"):
            s[f"coverage95_{name}"] = {
                lab: float(df[f"cover_{name}_{lab}"].mean()) for lab in vsm.TRUTH
            }
        s["coverage95_chosen"] = {
            lab: float(
                np.where(df["mlr_chosen"], df[f"cover_mlr_{lab}"], df[f"cover_ml_{lab}"]).mean()
            )
            for lab in vsm.TRUTH
        }
        s["seconds"] = time.perf_counter() - t0
        summary[label] = s
        print(
            f"{label}: rule picks MLR in {s['share_mlr_chosen']:.0%} of {s['fits']} data sets; "
            f"95% coverage ML {s['coverage95_ml']}, MLR {s['coverage95_mlr']}, as chosen "
            f"{s['coverage95_chosen']}",
            flush=True,
        )
    right = all(
        min(summary[k]["coverage95_chosen"].values()) >= 0.92
        for k in ("normal", "heavy", "contaminated")
    )
    print(f"coverage with the estimator the rule picks >= 0.92 for every effect and world: {right}")
    summary["rule_right"] = right
    path = Path(__file__).resolve().parent / "results" / "validate_mlr_rule.json"
    path.write_text(json.dumps(summary, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
