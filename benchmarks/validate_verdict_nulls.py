"""How often does the verdict say "inconclusive" when there is no effect? (issue 15)

The verdict calls a direction "no effect detected" only when *every* credible family's 95%
interval includes zero (the issue's contract); one family whose interval misses zero makes it
"inconclusive", and a majority missing on one side a false "effect". Under a true null each
family misses zero about 5% of the time. This script measures how often each answer comes
out, and each family's own type-I error, in the
"neither" world of ``benchmarks/validate_verdict.py`` (no effect either way; stable traits, and
stable traits plus client trajectories) on seeds that world never used (201, 202, ...).

Each seed runs ``analyze --fast`` with the families that counted in every run of
``validate_verdict.py`` (``riclpm``, ``dpml``, ``dpd`` and their ``time="client"`` refits; the
CLPM, FE and the causal layer were excluded by their rules in all 80 of its runs: stable
traits, Nickell bias, refuters), so the verdict is the one ``analyze --fast`` gives.

    python benchmarks/validate_verdict_nulls.py [--seeds 100] \
        [--out benchmarks/results/validate_verdict_nulls.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
from validate_verdict import KEYS, TIME

from causalrel.report import analyze
from causalrel.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ["riclpm", "dpml", "dpd"]


def run_seed(time_name: str, clients: int, sessions: int, seed: int) -> list[dict]:
    """One ``analyze --fast`` of the null world: per direction, the answer and who missed zero."""
    sim = simulate(
        clients, sessions, cross=(0.0, 0.0), trait_sd=(0.6, 0.6), trait_corr=0.4, seed=seed,
        **TIME[time_name],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = analyze(
            sim.panel(), out=Path(out), fast=True, seed=seed, progress=False, families=FAMILIES
        )
    rows = []
    for key in KEYS:
        v = outcome.verdict[key]
        rows.append(
            {
                "time": time_name,
                "seed": seed,
                "direction": key,
                "answer": v["answer"],
                "families": ",".join(v["families"]),
                "missed_zero": ",".join(v["significant"]),
            }
        )
    return rows


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per world and direction: the share of each answer, and each family's type-I error."""
    out = []
    for (t, key), g in table.groupby(["time", "direction"], sort=False):
        row = {"time": t, "direction": key, "seeds": len(g)}
        for answer in ("no effect detected", "inconclusive", "effect"):
            row[answer] = (g["answer"] == answer).mean()
        counted = g["families"].str.split(",").explode()
        missed = g["missed_zero"].str.split(",").explode()
        for fam in sorted(set(counted) - {""}):
            row[f"type-I {fam}"] = (missed == fam).sum() / (counted == fam).sum()
        out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=100, help="how many seeds: 201, 202, ...")
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "validate_verdict_nulls.json")
    )
    args = ap.parse_args()
    rows: list[dict] = []
    t0 = time.perf_counter()
    for seed in range(201, 201 + args.seeds):
        for time_name in TIME:
            rows += run_seed(time_name, args.clients, args.sessions, seed)
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    shares = summary(table)
    text = shares.round(3).to_string(index=False)
    print(text)
    settings = {**vars(args), "families": FAMILIES, "seconds": round(time.perf_counter() - t0)}
    record = {"settings": settings, "summary": shares.to_dict("records"), "rows": rows}
    Path(args.out).write_text(json.dumps(record, indent=1))
    Path(args.out).with_suffix(".txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
