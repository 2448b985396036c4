"""Does ``analyze``'s verdict give the right answer? Simulated worlds with a known truth.

Worlds: an alliance effect only, a symptom effect only, both, neither; each with stable client
traits (correlated), and again with client-specific linear trajectories on top. For every world
``analyze`` (``--fast``: the frequentist families and the causal layer) is run and its
``summary.json["verdict"]`` compared with the truth: ``"effect"`` with the right sign where the
effect is non-zero, ``"no effect detected"`` where it is zero.

    python benchmarks/validate_verdict.py [--clients 300] [--sessions 12] [--seeds 1]
        [--out benchmarks/results/validate_verdict.json]

The worlds were written before the verdict's rules were tuned on anything, and are not tuned
on now: a wrong answer is a finding to fix in the rules or the families, not in this file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from causalrel.report import analyze
from causalrel.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
EFFECTS = {
    "alliance effect only": (-0.2, 0.0),
    "symptom effect only": (0.0, -0.15),
    "both": (-0.2, -0.15),
    "neither": (0.0, 0.0),
}
TIME = {
    "stable traits": {},
    "stable traits + client trajectories": {
        "time": "client",
        "trend": (0.03, -0.05),
        "trend_sd": (0.02, 0.03),
    },
}
KEYS = ("alliance->symptoms", "symptoms->alliance")


def expected(true: float) -> tuple[str, str | None]:
    if true == 0:
        return "no effect detected", None
    return "effect", "negative" if true < 0 else "positive"


def run_world(name: str, cross, time_name: str, clients: int, sessions: int, seed: int) -> list:
    sim = simulate(
        clients,
        sessions,
        cross=cross,
        trait_sd=(0.6, 0.6),
        trait_corr=0.4,
        seed=seed,
        **TIME[time_name],
    )
    with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        outcome = analyze(sim.panel(), out=Path(out), fast=True, seed=seed, progress=False)
        secs = time.perf_counter() - t0
    rows = []
    for key, true in zip(KEYS, cross, strict=True):
        v = outcome.verdict[key]
        answer, sign = expected(true)
        rows.append(
            {
                "world": name,
                "time": time_name,
                "seed": seed,
                "effect": key,
                "true": true,
                "answer": v["answer"],
                "sign": v["sign"],
                "right": v["answer"] == answer and v["sign"] == sign,
                "estimate": v["estimate"],
                "lower": v["lower"],
                "upper": v["upper"],
                "families": ",".join(v["families"]),
                "excluded": ",".join(v["excluded"]),
                "long_run": (v.get("long_run") or {}).get("estimate"),
                "difference": outcome.verdict["difference"]["answer"],
                "seconds": round(secs, 1),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=1, help="how many seeds: 101, 102, ...")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "validate_verdict.json"))
    args = ap.parse_args()
    rows = []
    for seed in range(1, args.seeds + 1):
        for time_name in TIME:
            for name, cross in EFFECTS.items():
                rows += run_world(name, cross, time_name, args.clients, args.sessions, 100 + seed)
                print(pd.DataFrame(rows[-2:]).drop(columns=["excluded"]).to_string(index=False))
    table = pd.DataFrame(rows)
    print(f"\nright answers: {int(table['right'].sum())} of {len(table)}")
    by_world = table.groupby(["time", "world", "effect"], sort=False)["right"].mean()
    print(by_world.to_string())
    Path(args.out).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
