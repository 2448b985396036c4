"""Plots of Bayesian fits: forest plot, per-client caterpillar plot, trace/rank plots, PPC.

Forest and caterpillar plots are drawn with matplotlib directly from the results tables (raw
units, 95% intervals), so they show exactly what ``effects`` and ``clients`` hold; trace and rank
plots are ArviZ's, on the sampled parameters, and so is the posterior predictive density overlay.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["forest_plot", "caterpillar_plot", "trace_plot", "ppc_plot"]


def _axes(ax: Any, height: float):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, height))
    return ax


def forest_plot(res: Any, ax: Any = None):
    """Posterior means and 95% credible intervals of the within and between effects.

    Returns the matplotlib ``Axes``.
    """
    rows = []
    for side in ("within", "between"):
        for key, e in res.effects.get(side, {}).items():
            rows.append((f"{side}: {key}", e))
    ax = _axes(ax, 0.35 * len(rows) + 1.2)
    y = np.arange(len(rows))[::-1]
    for yi, (_, e) in zip(y, rows, strict=True):
        ax.plot([e.lower, e.upper], [yi, yi], color="0.3", lw=1.5)
        ax.plot([e.est], [yi], "o", color="C0")
    ax.axvline(0, color="0.6", lw=0.8, ls="--")
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set_xlabel("posterior mean and 95% credible interval (raw units)")
    ax.set_title(f"{res.model}: effects")
    return ax


def caterpillar_plot(res: Any, effect: str | None = None, ax: Any = None):
    """Each client's posterior cross-lagged effect with its 95% interval, sorted.

    "For whom does the alliance matter?": clients whose interval excludes zero stand out; the
    horizontal line is the average (fixed) effect. ``effect`` defaults to x -> y.
    """
    table = res.clients
    if table is None or len(table) == 0:
        raise ValueError(f"{res.model}: no per-client effects to plot (fit with random lags).")
    effects = list(dict.fromkeys(table["effect"]))
    if effect is None:
        within = list(res.effects["within"])
        effect = within[0] if within[0] in effects else next(e for e in effects if "->" in e)
    if effect not in effects:
        raise ValueError(f"No per-client '{effect}'. Available: {', '.join(effects)}.")
    t = table[table["effect"] == effect].sort_values("est").reset_index(drop=True)
    ax = _axes(ax, 4.0)
    x = np.arange(len(t))
    excl = (t["lower"] > 0) | (t["upper"] < 0)
    ax.vlines(x, t["lower"], t["upper"], color=np.where(excl, "C3", "0.6"), lw=1)
    ax.plot(x, t["est"], "o", ms=2.5, color="C0")
    avg = res.effects["within"].get(effect)
    if avg is not None:
        ax.axhline(avg.est, color="C0", lw=1, label="average effect")
    ax.axhline(0, color="0.3", lw=0.8, ls="--")
    ax.set_xlabel(f"clients, sorted ({int(excl.sum())} of {len(t)} intervals exclude 0, red)")
    ax.set_ylabel(f"{effect} (raw units)")
    ax.set_title(f"{res.model}: client-specific {effect}")
    ax.set_xticks([])
    return ax


def trace_plot(res: Any, var_names: list[str] | None = None, kind: str = "rank_bars"):
    """ArviZ trace (``kind="trace"``) or rank plot (``"rank_bars"``, ``"rank_vlines"``)."""
    import arviz as az

    post = res.idata.posterior
    if var_names is None:
        wanted = [
            "gamma_lag",
            "gamma_mean",
            "chol_re_stds",
            "rho",
            "y_b",
            "x_b",
            "y_chol_stds",
            "x_chol_stds",
        ]
        var_names = [v for v in wanted if v in post]
    if kind == "trace":
        return az.plot_trace(res.idata, var_names=var_names)
    return az.plot_rank(res.idata, var_names=var_names, kind=kind.replace("rank_", ""))


def ppc_plot(res: Any, var: str | None = None, ax: Any = None):
    """Densities of one-step-ahead replicated ratings over the observed ones (``az.plot_ppc``).

    ``var`` is an outcome's column name (default: every outcome, one panel each). Needs a fit
    with ``ppc=True`` (the default). Returns the matplotlib ``Axes`` (an array for several).
    """
    import arviz as az

    idata = res.idata
    if idata is None or "posterior_predictive" not in idata.groups():
        raise ValueError(f"{res.model}: no posterior predictive replicates; fit with ppc=True.")
    names = list(idata.posterior_predictive.data_vars)
    if var is not None and var not in names:
        raise ValueError(f"No replicates of '{var}'. Available: {', '.join(names)}.")
    return az.plot_ppc(
        idata,
        var_names=[var] if var is not None else names,
        num_pp_samples=min(100, idata.posterior_predictive.sizes["draw"]),
        random_seed=0,
        ax=ax,
    )
