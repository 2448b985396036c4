"""Performance measures of a simulation study, each with its Monte Carlo standard error.

Formulas are those of Morris, White & Crowther (2019, *Statistics in Medicine* 38(11),
table 6), over the ``n`` replications whose fit converged (``θ`` the true value, ``θ̂_i`` the
estimates, ``SE_i`` their standard errors):

=================  =====================================  =====================================
measure            estimate                               Monte Carlo SE
=================  =====================================  =====================================
bias               mean(θ̂) - θ                            sqrt(var(θ̂) / n)
empirical SE       sd(θ̂)                                  emp_se / sqrt(2 (n - 1))
model SE           sqrt(mean(SE²))                        sqrt(var(SE²) / (4 n model_se²))
MSE / RMSE         mean((θ̂ - θ)²), its square root        sqrt(Σ((θ̂-θ)² - MSE)² / (n(n-1))),
                                                          / (2 RMSE) for the RMSE (delta method)
coverage           share of 95% intervals holding θ        sqrt(c (1 - c) / n)
power / type I     share with Wald p < alpha               sqrt(p (1 - p) / n)
=================  =====================================  =====================================

The test is the two-sided Wald z test ``|θ̂ / SE| > z_(1 - alpha/2)`` for every family (for the
Bayesian families a normal approximation to the posterior); coverage uses each family's own
95% interval. ``type1_error`` is the rejection rate where the true effect is 0 (missing
elsewhere), ``power`` the rejection rate whatever the truth. Written here rather than taken
from a package: no maintained Python package computes these MCSEs (R has ``rsimsum``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .design import Cell

__all__ = ["performance", "summarise", "clients_needed", "TABLE_COLUMNS"]

#: columns of the tidy power table, in order (cell-design columns go after ``setting``).
TABLE_COLUMNS = [
    "family", "clients", "sessions", "effect", "true", "true_std", "setting", "reps",
    "n_converged",
    "converged", "power", "power_mcse", "type1_error", "type1_error_mcse", "mean", "bias",
    "bias_mcse", "emp_se", "emp_se_mcse", "model_se", "model_se_mcse", "rmse", "rmse_mcse",
    "coverage", "coverage_mcse",
]  # fmt: skip


def performance(
    est: np.ndarray,
    se: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    true: float,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Morris et al. (2019) measures and MCSEs from the converged replications of one effect."""
    est, se = np.asarray(est, float), np.asarray(se, float)
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    n = len(est)
    nan = math.nan
    out = dict.fromkeys(TABLE_COLUMNS[TABLE_COLUMNS.index("power") :], nan)
    if n == 0:
        return out
    z = stats.norm.ppf(1 - alpha / 2)
    reject = np.abs(est / se) > z
    power = float(reject.mean())
    cover = float(((lower <= true) & (true <= upper)).mean())
    err2 = (est - true) ** 2
    mse = float(err2.mean())
    rmse = math.sqrt(mse)
    out.update(
        power=power,
        power_mcse=math.sqrt(power * (1 - power) / n),
        mean=float(est.mean()),
        bias=float(est.mean() - true),
        rmse=rmse,
        coverage=cover,
        coverage_mcse=math.sqrt(cover * (1 - cover) / n),
        model_se=math.sqrt(float((se**2).mean())),
    )
    if true == 0:
        out["type1_error"], out["type1_error_mcse"] = out["power"], out["power_mcse"]
    if n > 1:
        emp_se = float(est.std(ddof=1))
        mse_mcse = math.sqrt(float(((err2 - mse) ** 2).sum()) / (n * (n - 1)))
        out.update(
            bias_mcse=emp_se / math.sqrt(n),
            emp_se=emp_se,
            emp_se_mcse=emp_se / math.sqrt(2 * (n - 1)),
            model_se_mcse=math.sqrt(float((se**2).var(ddof=1)) / (4 * n * out["model_se"] ** 2)),
            rmse_mcse=mse_mcse / (2 * rmse) if rmse > 0 else 0.0,
        )
    return out


def summarise(
    records: Mapping[str, Iterable[dict[str, Any]]], cells: list[Cell], alpha: float = 0.05
) -> pd.DataFrame:
    """The tidy table: one row per cell x family x effect, in grid order."""
    varied = sorted({k for c in cells for k in c.varied})
    rows = []
    for cell in cells:
        frame = pd.DataFrame(list(records[cell.id]))
        std = cell.standardized
        for (family, effect), g in frame.groupby(["family", "effect"], sort=False):
            ok = g[g["converged"] & np.isfinite(g["est"]) & np.isfinite(g["se"])]
            reps = int(g["rep"].nunique())
            true = float(g["true"].iloc[0])
            rows.append(
                {
                    "family": family,
                    "clients": cell.clients,
                    "sessions": cell.sessions,
                    "effect": effect,
                    "true": true,
                    "true_std": std[effect],
                    "setting": cell.setting,
                    **{k: cell.varied.get(k) for k in varied},
                    "reps": reps,
                    "n_converged": len(ok),
                    "converged": len(ok) / reps,
                    **performance(ok["est"], ok["se"], ok["lower"], ok["upper"], true, alpha),
                }
            )
    cols = TABLE_COLUMNS[:7] + varied + TABLE_COLUMNS[7:]
    table = pd.DataFrame(rows, columns=cols)
    # grid order for settings and families, numeric order for the rest
    order = {
        "setting": {v: i for i, v in enumerate(dict.fromkeys(c.setting for c in cells))},
        "family": {v: i for i, v in enumerate(dict.fromkeys(table["family"]))},
    }
    return table.sort_values(
        ["setting", *varied, "family", "effect", "sessions", "clients"],
        key=lambda s: s.map(order[s.name]) if s.name in order else s,
        kind="stable",
    ).reset_index(drop=True)


def clients_needed(
    table: pd.DataFrame, target: float = 0.8, effects: Iterable[str] | None = None
) -> pd.DataFrame:
    """The smallest number of clients in the grid reaching ``target`` power, per sessions count.

    One row per family x setting x sessions x effect (effects with a non-zero truth; by default
    every one in the table). ``clients_needed`` is missing when no grid size reaches the target
    (extend ``clients``); ``power`` is the power there, ``power_below`` that of the next smaller
    grid size (the answer lies between the two sizes).
    """
    t = table[table["true"] != 0]
    if effects is not None:
        t = t[t["effect"].isin(list(effects))]
    fixed = [c for c in t.columns if c not in TABLE_COLUMNS]
    rows = []
    for keys, g in t.groupby(["family", "setting", *fixed, "sessions", "effect"], sort=False,
                             dropna=False):  # fmt: skip
        g = g.sort_values("clients")
        hit = g[g["power"] >= target]
        row = dict(zip(["family", "setting", *fixed, "sessions", "effect"], keys, strict=True))
        row["true"] = float(g["true"].iloc[0])
        row["target"] = target
        if len(hit):
            n = int(hit["clients"].iloc[0])
            below = g[g["clients"] < n]
            row.update(
                clients_needed=n,
                power=float(hit["power"].iloc[0]),
                power_mcse=float(hit["power_mcse"].iloc[0]),
                power_below=float(below["power"].iloc[-1]) if len(below) else math.nan,
            )
        else:
            row.update(
                clients_needed=math.nan,
                power=float(g["power"].iloc[-1]),
                power_mcse=float(g["power_mcse"].iloc[-1]),
                power_below=math.nan,
            )
        rows.append(row)
    return pd.DataFrame(rows)
