"""How often load_panel's search for missing-value codes is right (issue 16).

Without ``na_values`` or ``ranges``, :func:`causalrel.load_panel` stops at a value repeated far
outside the rest of a rating column (a likely code such as -99) and at a single value very far
out (a typo, 1e300). The thresholds (``CODE_FENCE``, ``CODE_GAP``, ``SINGLE_GAP`` in
``causalrel/data.py``) are a default, so this script measures both error rates on simulated
symptom columns of several shapes:

* false alarms: clean data (normal, heavy-tailed t(3), a 1-7 rating scale, a 0-27 sum score
  with a floor, skewed counts, log-normal) stopped for a "code" that is not one;
* detection: the same data with a code (-99, 999, 99, -9, 9) in 1% or 5% of rows, stopped
  with a message naming that code.

    python benchmarks/validate_codes.py --reps 200 --out benchmarks/results/validate_codes.json
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd

from causalrel import DataError, load_panel


def shapes(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    z = rng.normal(size=n)
    return {
        "normal": z,
        "t3": rng.standard_t(3, size=n),
        "rating 1-7": np.clip(np.round(4 + 1.3 * z), 1, 7),
        "sum score 0-27 (floor)": np.clip(np.round(6 + 6 * z), 0, 27),
        "counts (skewed)": rng.poisson(np.exp(0.8 * z + 0.5)).astype(float),
        "log-normal": np.exp(z),
    }


def frame(values: np.ndarray, rng: np.random.Generator, n_clients: int) -> pd.DataFrame:
    n = len(values)
    sessions = n // n_clients
    return pd.DataFrame(
        {
            "client": np.repeat(np.arange(1, n_clients + 1), sessions),
            "session": np.tile(np.arange(1, sessions + 1), n_clients),
            "alliance": rng.normal(size=n),
            "symptoms": values,
        }
    )


def outcome(df: pd.DataFrame) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_panel(df)
    except DataError as exc:
        msg = str(exc)
        if "missing-value code" in msg or "implausible" in msg or "absurd" in msg:
            return msg
        raise
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for n_clients, sessions in [(50, 8), (300, 15)]:
        n = n_clients * sessions
        for _ in range(args.reps):
            for shape, values in shapes(rng, n).items():
                df = frame(values, rng, n_clients)
                rows.append(dict(n=n, shape=shape, code=None, share=0.0, stopped=bool(outcome(df))))
                for code in (-99, 999, 99, -9, 9):
                    for share in (0.01, 0.05):
                        spoilt = df.copy()
                        k = max(2, int(share * n))
                        spoilt.loc[rng.choice(n, k, replace=False), "symptoms"] = code
                        msg = outcome(spoilt)
                        named = f" {code} in " in msg
                        rows.append(dict(n=n, shape=shape, code=code, share=share, stopped=named))
    res = pd.DataFrame(rows)
    clean = res[res.code.isna()].groupby(["shape", "n"])["stopped"].mean().unstack()
    coded = res[res.code.notna()]
    found = coded.groupby(["shape", "code"])["stopped"].mean().unstack()
    print("false alarms (share of clean columns stopped), by rows:\n", clean.round(3))
    print(
        "\ndetection (share of coded columns stopped naming the code), by code:\n", found.round(3)
    )
    summary = {
        "reps": args.reps,
        "false_alarm_rate": clean.round(4).to_dict(),
        "detection_rate": found.round(4).to_dict(),
    }
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(summary, fh, indent=2, default=str)
            fh.write("\n")


if __name__ == "__main__":
    main()
