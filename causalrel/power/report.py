"""Power curves and the HTML page of a power study (the document model is the report's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..report.document import Document as _Doc
from ..report.figures import _plt
from ..report.figures import save as _save
from ..results import _jsonable
from .summary import clients_needed

__all__ = ["fig_power", "write_outputs"]


def fig_power(table: pd.DataFrame, effects: list[str], alpha: float, target: float):
    """Power vs clients, one line per sessions count and family; one panel per effect setting.

    Error bars are ±1.96 Monte Carlo SEs. Where the true effect is 0 the curve is the type-I
    error rate, drawn against the nominal ``alpha``.
    """
    plt = _plt()
    panels = [
        (setting, eff, g)
        for (setting, eff), g in table[table["effect"].isin(effects)].groupby(
            ["setting", "effect"], sort=False
        )
    ]
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False)
    styles = ["-", "--", ":", "-."]
    families = list(dict.fromkeys(table["family"]))
    sessions = sorted(table["sessions"].unique())
    for ax, (setting, eff, g) in zip(axes.flat, panels, strict=False):
        null = bool((g["true"] == 0).all())
        for fi, fam in enumerate(families):
            for si, t in enumerate(sessions):
                d = g[(g["family"] == fam) & (g["sessions"] == t)]
                d = d.groupby("clients", as_index=False)[["power", "power_mcse"]].mean()
                if d.empty:
                    continue
                ax.errorbar(
                    d["clients"], d["power"], yerr=1.96 * d["power_mcse"], capsize=2,
                    color=f"C{fi}", ls=styles[si % len(styles)], marker="o", ms=3,
                    label=f"{fam}, {t} sessions",
                )  # fmt: skip
        ax.axhline(alpha if null else target, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xticks(sorted(table["clients"].unique()))
        ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
        ax.set_ylim(0, 1 if not null else max(0.2, float(g["power"].max()) + 0.05))
        ax.set_xlabel("clients")
        ax.set_ylabel("type-I error" if null else "power")
        ax.set_title(f"{eff} (true {float(g['true'].iloc[0]):g})\n{setting}", fontsize=9)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_outputs(
    table: pd.DataFrame,
    out: str | Path,
    *,
    effects: list[str],
    alpha: float,
    target: float,
    run: dict[str, Any],
) -> dict[str, Path]:
    """Write ``power.csv``, ``power.json``, ``clients_needed.csv``, ``power.png``, ``power.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    needed = clients_needed(table, target, effects)
    paths = {
        "csv": out / "power.csv",
        "json": out / "power.json",
        "needed": out / "clients_needed.csv",
        "png": out / "power.png",
        "html": out / "power.html",
    }
    table.to_csv(paths["csv"], index=False)
    paths["json"].write_text(
        json.dumps(_jsonable(table.to_dict(orient="records")), indent=1) + "\n"
    )
    needed.to_csv(paths["needed"], index=False)
    _save(fig_power(table, effects, alpha, target), paths["png"])

    doc = _Doc()
    doc.h(1, "causalrel power: how many clients and sessions?")
    doc.p(
        f"{run['reps']} replications per cell, seed {run['seed']}, two-sided Wald test at "
        f"alpha = {alpha:g}, target power {target:g}. Families: "
        + ", ".join(f"`{k}` {v[0]} {v[1] or ''}" for k, v in run["families"].items())
        + ". Each replication simulates one data set and fits every family to it."
    )
    doc.h(2, f"Smallest number of clients reaching {target:.0%} power")
    doc.p(
        "Per sessions count, among the clients in the grid; missing where none reaches the "
        "target (extend --clients). `power_below` is the power at the next smaller grid size."
    )
    doc.table(needed)
    doc.img(
        paths["png"], "Power (or type-I error where the truth is 0) vs clients; bars ±1.96 MCSE"
    )
    doc.h(2, "All cells")
    doc.p(
        "Monte Carlo SEs (`_mcse`) per Morris, White & Crowther (2019). Bias, RMSE, coverage "
        "and power are over the fits that converged (share in `converged`)."
    )
    doc.table(table.round(4))
    paths["html"].write_text(doc.html("causalrel power"))
    return paths
