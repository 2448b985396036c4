"""Benchmark of causalrel.panel: time and peak memory on a large panel, and against R plm.

Run from the repository root::

    python benchmarks/bench_panel.py                      # 100,000 clients x 10 sessions
    python benchmarks/bench_panel.py --clients 20000      # smaller
    python benchmarks/bench_panel.py --r-clients 2000     # size of the plm comparison (0: skip)

Each model is fitted in its own subprocess so that its peak resident memory can be measured
(``ru_maxrss`` of the child, minus the child's memory after loading the data). Times are
``ModelResults.seconds`` (estimation only, both equations) and the child's wall time for the
fit call. The plm comparison times ``plm(model = "within")`` and ``pgmm`` (both equations) with
``system.time`` on the same data in R, and the same models here; it needs ``Rscript`` with plm.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

MODELS = {
    "fe": ("fe", {}),
    "fe_time_common": ("fe", {"time": "common"}),
    "dpd_two_step_collapsed": ("dpd", {}),
    "dpd_one_step_collapsed": ("dpd", {"method": "one-step"}),
    "dpd_two_step_uncollapsed": ("dpd", {"collapse": False}),
    "dpd_anderson_hsiao": ("dpd", {"method": "anderson-hsiao"}),
}


def child(path: str, name: str, opts: str) -> None:
    """Fit one model on the Parquet file ``path``; print JSON with time and memory."""
    from causalrel import fit_model, load_panel

    panel = load_panel(path, warn=False)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    res = fit_model(name, panel, **json.loads(opts))
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": res.seconds,
                "wall": wall,
                "peak_mb": peak / 1024,
                "extra_mb": (peak - base) / 1024,
                "rows": panel.n_rows,
                "n_observations": res.n_observations,
                "effect": res.effects["within"][f"{panel.x}->{panel.y}"].est,
                "instruments": res.fit.get(f"n_instruments.{panel.y}"),
            }
        )
    )


def run_child(path: Path, model: str, opts: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), model, json.dumps(opts)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


R_SCRIPT = textwrap.dedent(
    """
    suppressPackageStartupMessages(library(plm))
    args <- commandArgs(trailingOnly = TRUE)
    d <- read.csv(args[1])
    pd <- pdata.frame(d, index = c("client", "session"))
    time_it <- function(expr) unname(system.time(expr)["elapsed"])
    fy <- symptoms ~ lag(symptoms, 1) + lag(alliance, 1) | lag(symptoms, 2:99) + lag(alliance, 2:99)
    fx <- alliance ~ lag(alliance, 1) + lag(symptoms, 1) | lag(alliance, 2:99) + lag(symptoms, 2:99)
    out <- c(
      fe = time_it({
        plm(symptoms ~ lag(alliance) + lag(symptoms), pd, model = "within")
        plm(alliance ~ lag(alliance) + lag(symptoms), pd, model = "within")
      }),
      dpd_two_step_collapsed = time_it({
        pgmm(fy, pd, effect = "individual", model = "twosteps", collapse = TRUE)
        pgmm(fx, pd, effect = "individual", model = "twosteps", collapse = TRUE)
      }),
      dpd_two_step_uncollapsed = time_it({
        pgmm(fy, pd, effect = "individual", model = "twosteps")
        pgmm(fx, pd, effect = "individual", model = "twosteps")
      })
    )
    cat(paste(names(out), out, sep = "=", collapse = ","))
    """
)


def compare_with_plm(n_clients: int, n_sessions: int, tmp: Path) -> None:
    from causalrel.simulate import simulate

    if shutil.which("Rscript") is None:
        print("Rscript not found: plm comparison skipped")
        return
    sim = simulate(n_clients, n_sessions, seed=2)
    csv = tmp / "plm_bench.csv"
    parquet = tmp / "plm_bench.parquet"
    sim.data.to_csv(csv, index=False)
    sim.data.to_parquet(parquet)
    script = tmp / "bench.R"
    script.write_text(R_SCRIPT)
    t0 = time.perf_counter()
    out = subprocess.run(
        ["Rscript", str(script), str(csv)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        print("R failed:", out.stderr[-500:])
        return
    r_times = {k: float(v) for k, v in (kv.split("=") for kv in out.stdout.strip().split(","))}
    print(f"\nplm comparison, {n_clients} clients x {n_sessions} sessions ({len(sim.data)} rows)")
    print(f"(R total wall incl. start-up {time.perf_counter() - t0:.1f} s)")
    print(f"{'model':28s} {'plm s':>8s} {'causalrel s':>12s} {'plm/causalrel':>14s}")
    for model, r_sec in r_times.items():
        name, opts = MODELS[model]
        ours = run_child(parquet, name, opts)
        if "error" in ours:
            print(f"{model:28s} {r_sec:8.2f}  error: {ours['error']}")
            continue
        print(f"{model:28s} {r_sec:8.2f} {ours['seconds']:12.2f} {r_sec / ours['seconds']:14.1f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--r-clients", type=int, default=2000)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args()

    from causalrel.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        sim = simulate(args.clients, args.sessions, mcar=0.05, skip=0.05, seed=1)
        path = tmp / "bench.parquet"
        sim.data.to_parquet(path)
        print(
            f"{args.clients} clients x {args.sessions} sessions: {len(sim.data)} rows "
            f"(simulated in {time.perf_counter() - t0:.1f} s; 5% missed sessions, 5% missing "
            "ratings)"
        )
        print(
            f"{'model':28s} {'fit s':>7s} {'wall s':>7s} {'peak MB':>8s} {'+MB':>7s} "
            f"{'rows used':>10s} {'instr':>6s} {'x->y':>7s}"
        )
        for model in args.models:
            name, opts = MODELS[model]
            r = run_child(path, name, opts)
            if "error" in r:
                print(f"{model:28s} error: {r['error']}")
                continue
            print(
                f"{model:28s} {r['seconds']:7.2f} {r['wall']:7.2f} {r['peak_mb']:8.0f} "
                f"{r['extra_mb']:7.0f} {r['n_observations']:10d} {r['instruments'] or '':>6} "
                f"{r['effect']:7.3f}"
            )
        print(f"truth x->y: {sim.truth.within[f'{sim.names[0]}->{sim.names[1]}']}")
        if args.r_clients:
            compare_with_plm(args.r_clients, args.sessions, tmp)


if __name__ == "__main__":
    main()
