"""Write the simulated data sets that tests/reference/lavaan/lavaan_clpm.R,
tests/reference/lavaan/lavaan_multigroup.R and tests/reference/lavaan/lavaan_lcmsr.R fit with lavaan.

Run from the repository root (then run the R scripts):

    python tests/reference/lavaan/make_lavaan_data.py
    Rscript tests/reference/lavaan/lavaan_clpm.R
    Rscript tests/reference/lavaan/lavaan_multigroup.R
    Rscript tests/reference/lavaan/lavaan_mlr.R
    Rscript tests/reference/lavaan/lavaan_lcmsr.R

Long format (client, session, alliance, symptoms), as causalrel reads it; the R script makes
the wide format itself (x<s> = alliance at session s, y<s> = symptoms).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from causalrel.simulate import simulate

OUT = Path(__file__).resolve().parent

SETS = {
    # complete data: 300 clients x 5 sessions, correlated stable traits
    "lavaan_data_complete.csv": dict(n_clients=300, n_sessions=5, trait_corr=0.3, seed=101),
    # missing data: 300 clients x 6 sessions, MCAR ratings, skipped sessions, MAR dropout
    "lavaan_data_missing.csv": dict(
        n_clients=300,
        n_sessions=6,
        trait_corr=0.3,
        mcar=0.08,
        skip=0.03,
        dropout=0.06,
        dropout_on_symptoms=0.5,
        seed=102,
    ),
}


def with_covariates():
    """Missing data plus client-level covariates: a 0/1 treatment arm that shifts both
    variables and a continuous severity score related to the symptom level (5% missing)."""
    sim = simulate(300, 5, trait_corr=0.3, mcar=0.08, dropout=0.05, seed=103)
    data = sim.data.copy()
    rng = np.random.default_rng(103)
    clients = data["client"].unique()
    arm = pd.Series(rng.integers(0, 2, len(clients)), index=clients)
    level = data.groupby("client")["symptoms"].mean()
    severity = pd.Series(
        level.reindex(clients).fillna(0).to_numpy() + rng.normal(0, 0.5, len(clients)),
        index=clients,
    )
    severity[rng.random(len(clients)) < 0.05] = np.nan
    data["arm"] = data["client"].map(arm)
    data["severity"] = data["client"].map(severity).round(4)
    data["alliance"] += 0.4 * data["arm"]
    data["symptoms"] -= 0.3 * data["arm"]
    return data.round(4)


def multigroup():
    """Two treatment arms (a string column) with different cross-lagged effects, missing data.

    Each arm is simulated on its own (causalrel.simulate) and the two are stacked with distinct
    client ids; the arm with the stronger alliance -> symptoms effect also has higher means.
    """
    arms = {
        "control": dict(ar=(0.3, 0.4), cross=(-0.05, 0.1), seed=201),
        "treatment": dict(ar=(0.35, 0.3), cross=(-0.35, 0.0), trait_mean=(0.3, -0.2), seed=202),
    }
    parts = []
    offset = 0
    for arm, kw in arms.items():
        sim = simulate(250, 5, trait_corr=0.3, mcar=0.06, dropout=0.05, **kw)
        d = sim.data.copy()
        d["client"] += offset
        d.insert(1, "arm", arm)
        offset = int(d["client"].max())
        parts.append(d)
    return pd.concat(parts, ignore_index=True).round(4)


def clustered_skewed():
    """Clients nested in 25 therapists (therapist shifts), skewed symptom scores (an
    exponential transform of the simulated ones) and missing ratings: the case for
    estimator="MLR" with cluster="therapist" (tests/reference/lavaan/lavaan_mlr.R)."""
    sim = simulate(
        300,
        5,
        n_therapists=25,
        therapist_sd=(0.4, 0.4),
        trait_corr=0.3,
        mcar=0.05,
        dropout=0.05,
        seed=104,
    )
    data = sim.data.copy()
    data["symptoms"] = np.exp(0.8 * data["symptoms"])
    return data.round(4)


def lcmsr_data(missing: bool) -> pd.DataFrame:
    """Client-specific linear trajectories (each client's own slope per variable, besides an
    average trend) for the LCM-SR: 300 clients x 6 sessions complete, or x 7 sessions with
    MCAR ratings, skipped sessions and MAR dropout; plus a client-level treatment arm (text,
    random) and a continuous severity score related to the symptom slope (3% missing)."""
    kw = dict(mcar=0.08, skip=0.03, dropout=0.05, dropout_on_symptoms=0.5) if missing else {}
    sim = simulate(
        300,
        7 if missing else 6,
        trait_corr=0.3,
        time="client",
        trend=(0.05, -0.1),
        trend_sd=(0.2, 0.25),
        seed=106 if missing else 105,
        **kw,
    )
    data = sim.data.copy()
    rng = np.random.default_rng(107)
    slopes = sim.truth.clients.set_index("client")["trend_symptoms"]
    clients = data["client"].unique()
    arm = pd.Series(np.where(rng.random(len(clients)) < 0.5, "control", "treatment"), index=clients)
    severity = pd.Series(
        5 * slopes.reindex(clients).to_numpy() + rng.normal(0, 0.5, len(clients)), index=clients
    )
    severity[rng.random(len(clients)) < 0.03] = np.nan
    data["arm"] = data["client"].map(arm)
    data["severity"] = data["client"].map(severity).round(4)
    return data.round(4)


if __name__ == "__main__":
    for name, kw in SETS.items():
        sim = simulate(**kw)
        sim.data.round(4).to_csv(OUT / name, index=False)
        print(name, len(sim.data), "rows")
    with_covariates().to_csv(OUT / "lavaan_data_covariates.csv", index=False)
    multigroup().to_csv(OUT / "lavaan_data_multigroup.csv", index=False)
    clustered_skewed().to_csv(OUT / "lavaan_data_cluster.csv", index=False)
    lcmsr_data(False).to_csv(OUT / "lavaan_data_lcmsr_complete.csv", index=False)
    lcmsr_data(True).to_csv(OUT / "lavaan_data_lcmsr_missing.csv", index=False)
