"""When is a short-and-wide SEM stable enough to count? Coverage by data values per parameter.

The verdict's ``identified`` rule (``causalrel.verdict``) used to exclude every SEM with more
free parameters than clients. FIML, however, uses every observed rating: a client with 12
waves of two scores contributes up to 24 data values, and the RI-CLPM's free parameters (wave
means, variances, lags) are estimated from all of them. This script measures, on simulated
RI-CLPM worlds of IMPLEMENT's shape (few clients, many waves), how the SEMs' 95% intervals for
the two cross-lags cover the truth as the number of clients shrinks, against the number of
observed data values per free parameter; the rule's threshold is read off the committed result.

    python benchmarks/validate_verdict_identified.py [--reps 20] [--sessions 12]
        [--clients 57 32 24 18] [--families dpml riclpm]
        [--out benchmarks/results/validate_verdict_identified.json]

(the results file is rewritten after every family x clients cell; an RI-CLPM fit with 24
clients can take a minute when it ends improper.)

A fit counts as "usable" when it converged to a proper solution (no Heywood case, finite
standard errors); coverage is over usable fits and both cross-lags. The rule's threshold is
where (nearly) every fit is usable; the committed run (DPML cells in
``validate_verdict_identified.json``, RI-CLPM cells in ``validate_verdict_identified_riclpm.json``,
made with ``--families riclpm --clients 57 32 --reps 15``) is small, so its coverages carry a
Monte Carlo SE of about 4 points.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from causalrel.families import fit_model
from causalrel.simulate import simulate
from causalrel.verdict import observed_values

ROOT = Path(__file__).resolve().parents[1]
CROSS = (-0.2, -0.15)
KEYS = ("alliance->symptoms", "symptoms->alliance")


def one(family: str, clients: int, sessions: int, seed: int) -> dict:
    sim = simulate(
        clients, sessions, cross=CROSS, trait_sd=(0.6, 0.6), trait_corr=0.4, mcar=0.1, seed=seed
    )
    row = {"family": family, "clients": clients, "seed": seed}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_model(family, sim.panel(), progress=False)
    except Exception as exc:  # e.g. a singular saturated covariance: refused with advice
        return {**row, "usable": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    npar, values = int(res.fit["npar"]), observed_values(res)
    row.update(npar=npar, values=values, per_param=values / npar)
    row["usable"] = bool(res.converged)
    for key, true in zip(KEYS, CROSS, strict=True):
        e = res.effects["within"][key]
        finite = np.isfinite([e.se, e.lower, e.upper]).all()
        row["usable"] &= bool(finite)
        row[f"covers:{key}"] = bool(e.lower <= true <= e.upper) if finite else None
        row[f"est:{key}"] = e.est
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--clients", type=int, nargs="+", default=[57, 32, 24, 18])
    ap.add_argument("--families", nargs="+", default=["dpml", "riclpm"])
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "validate_verdict_identified.json")
    )
    ap.add_argument(
        "--extend",
        action="store_true",
        help="keep the fits already in --out and add only the missing replications (the seeds "
        "are 1000 * clients + rep, so an extended run equals a fresh one of the same size)",
    )
    args = ap.parse_args()
    rows, seconds = [], 0.0
    if args.extend and Path(args.out).exists():
        old = json.loads(Path(args.out).read_text())
        rows, seconds = old["rows"], float(old.get("seconds", 0))
    done = {(r["family"], r["clients"], r["seed"]) for r in rows}
    t0 = time.perf_counter()
    for family in args.families:
        for n in args.clients:
            for rep in range(args.reps):
                if (family, n, 1000 * n + rep) not in done:
                    rows.append(one(family, n, args.sessions, 1000 * n + rep))
            # after every cell: a partial run counts
            write(args, rows, seconds + time.perf_counter() - t0)


def write(args: argparse.Namespace, rows: list, seconds: float) -> None:
    table = pd.DataFrame(rows)
    summary = pd.concat([summarise(g) for _, g in table.groupby(["family", "clients"], sort=False)])
    print(summary.to_string(index=False) + "\n", flush=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "settings": vars(args),
                "cross": CROSS,
                "seconds": round(seconds),
                "summary": summary.to_dict("records"),
                "rows": rows,
            },
            indent=1,
            default=float,
        )
    )


def summarise(t: pd.DataFrame) -> pd.DataFrame:
    """One cell: share of usable fits and the usable fits' coverage, with Monte Carlo SEs.

    The coverage's MCSE treats each fit as one draw of its mean coverage over the two
    cross-lags (0, 0.5 or 1), so the correlation of a fit's two intervals is accounted for.
    """
    usable = t[t["usable"]]
    cover = [c for c in t.columns if c.startswith("covers:")]
    per_fit = usable[cover].astype(float).mean(axis=1) if len(usable) else pd.Series([])
    p = float(t["usable"].mean())
    return pd.DataFrame(
        [
            {
                "family": t["family"].iloc[0],
                "clients": int(t["clients"].iloc[0]),
                "fits": len(t),
                "usable": p,
                "usable_mcse": float(np.sqrt(p * (1 - p) / len(t))),
                "npar": float(t["npar"].median()) if "npar" in t else np.nan,
                "values_per_param": float(t["per_param"].median()) if "per_param" in t else np.nan,
                "coverage": float(per_fit.mean()) if len(per_fit) else np.nan,
                "coverage_mcse": float(per_fit.std(ddof=1) / np.sqrt(len(per_fit)))
                if len(per_fit) > 1
                else np.nan,
            }
        ]
    )


if __name__ == "__main__":
    main()
