"""The report's figures (matplotlib, Agg): data, every family's within-client effects, the
between-client associations. Families' own figures (the causal graph, the sensitivity
contours, the placebo distribution) are drawn by their results objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..data import SessionPanel
from ..families import FAMILIES, family_spec
from ..results import between_key, effect_key
from .tables import rows, status

__all__ = ["FIGURES", "fig_variance", "fig_associations", "fig_forest", "fig_between", "save"]

#: Figure key -> file name in the report folder.
FIGURES = {
    "variance": "variance_decomposition.png",
    "associations": "associations.png",
    "forest": "forest_within.png",
    "between": "between_by_family.png",
    "dag": "causal_graph.png",
    "sensitivity": "sensitivity.png",
    "placebo": "placebo.png",
}


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            import matplotlib.pyplot as plt

            plt.switch_backend("Agg")
        except Exception:  # a backend that cannot switch: keep it
            pass
    import matplotlib.pyplot as plt

    return plt


def fig_variance(description: dict[str, Any]):
    """Stacked bars: share of each variable's variance between clients (therapists) and within."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    names = list(description["variables"])
    for i, v in enumerate(names):
        e = description["variables"][v]
        ther = e.get("therapist_share", 0.0) or 0.0
        between = e["between_share"] - ther
        within = 1 - e["between_share"]
        left = 0.0
        for share, colour, label in (
            (ther, "#9467bd", "therapists"),
            (between, "#ff7f0e", "between clients"),
            (within, "#1f77b4", "within clients (session to session)"),
        ):
            if share <= 0:
                continue
            ax.barh(i, share, left=left, color=colour, label=label if i == 0 else None)
            if share >= 0.08:  # a narrower bar has no room for its label
                ax.text(
                    left + share / 2, i, f"{share:.0%}", ha="center", va="center", color="white"
                )
            left += share
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of variance (random-intercept model)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False, fontsize=8)
    ax.set_title("Variance decomposition")
    fig.tight_layout()
    return fig


def fig_associations(description: dict[str, Any], panel: SessionPanel):
    """Pooled, between-client and within-client correlations, plus lag-1 within correlations."""
    plt = _plt()
    c = description["correlations"]
    lag = description["lagged_within_correlations"]
    kxy, kyx = effect_key(panel.x, panel.y), effect_key(panel.y, panel.x)
    labels = [
        "pooled\n(all rows)",
        "between\n(client means)",
        "within\n(same session)",
        f"within, lag 1\n{panel.x} →\nnext {panel.y}",
        f"within, lag 1\n{panel.y} →\nnext {panel.x}",
    ]
    vals = [c["pooled"], c["between"], c["within"], lag.get(kxy, np.nan), lag.get(kyx, np.nan)]
    colours = ["#7f7f7f", "#ff7f0e", "#1f77b4", "#1f77b4", "#1f77b4"]
    fig, ax = plt.subplots(figsize=(8.4, 3.8))
    ax.bar(range(len(vals)), vals, color=colours)
    for i, v in enumerate(vals):
        if np.isfinite(v):
            ax.text(
                i,
                v + (0.02 if v >= 0 else -0.02),
                f"{v:+.2f}",
                ha="center",
                va="bottom" if v >= 0 else "top",
                fontsize=9,
            )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(vals)), labels, fontsize=8)
    lim = max(0.3, np.nanmax(np.abs(vals)) * 1.3)
    ax.set_ylim(-lim, lim)
    ax.set_ylabel("correlation")
    ax.set_title(f"Correlation of {panel.x} and {panel.y}: pooled vs between vs within clients")
    fig.tight_layout()
    return fig


def _no_estimate(ax: Any, y: float, text: str, colour: str) -> None:
    """Say in a plot's row why it has no point (failed, skipped, not estimated)."""
    ax.text(
        0.5,
        y,
        text,
        va="center",
        ha="center",
        transform=ax.get_yaxis_transform(),
        fontsize=8,
        color=colour,
        bbox=dict(fc="white", ec="none", pad=1),
    )


def _forest_panel(ax, rows, key: str, title: str, truth: float | None = None) -> None:
    ys = np.arange(len(rows))[::-1]
    for y, (_name, res, state) in zip(ys, rows, strict=True):
        e = res.effects.get("within", {}).get(key) if res is not None else None
        if e is None or not np.isfinite(e.est):
            _no_estimate(ax, y, state if res is None else "not estimated", "#b00020")
            continue
        ok = res.converged
        # an estimate the family also refutes (the causal layer) stands out in green
        colour = "#2ca02c" if hasattr(res, "refutations") else "#1f77b4"
        ax.errorbar(
            e.est,
            y,
            xerr=[[e.est - e.lower], [e.upper - e.est]] if np.isfinite(e.lower) else None,
            fmt="o",
            mfc=colour if ok else "white",
            color=colour,
            capsize=3,
        )
        if not ok:
            ax.text(
                0.98,
                y,
                "not converged",
                va="center",
                ha="right",
                fontsize=7,
                transform=ax.get_yaxis_transform(),
                color="#b00020",
            )
    ax.axvline(0, color="k", lw=0.8)
    if truth is not None:
        ax.axvline(truth, color="#d62728", ls="--", lw=1, label="truth")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(ys, [r[0] for r in rows])
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("effect per unit (raw scale), 95% interval")


def fig_forest(outcome: Any, panel: SessionPanel, truth: Mapping[str, float] | None):
    """Within-client x -> next y and y -> next x, every family, with intervals."""
    plt = _plt()
    rows_ = [(n, r, status(outcome, n)) for n, r in rows(outcome)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows_) + 1.8), sharey=True)
    for ax, (a, b) in zip(axes, ((panel.x, panel.y), (panel.y, panel.x)), strict=True):
        key = effect_key(a, b)
        _forest_panel(
            ax, rows_, key, f"{a} → next session's {b}", None if truth is None else truth.get(key)
        )
    fig.suptitle("Within-client lagged effects by model family", fontsize=11)
    fig.tight_layout()
    return fig


def fig_between(outcome: Any, panel: SessionPanel):
    """The between-client association each family reports (or why it has none)."""
    plt = _plt()
    kb = between_key(panel.x, panel.y)
    names = outcome.settings["families"]
    fig, ax = plt.subplots(figsize=(7.6, 0.75 * len(names) + 1.6))
    ys = np.arange(len(names))[::-1]
    for y, name in zip(ys, names, strict=True):
        res = outcome.results.get(name)
        e = res.effects.get("between", {}).get(kb) if res is not None else None
        if e is None or not np.isfinite(e.est):
            text = status(outcome, name) if res is None else "no between-client estimate"
            _no_estimate(ax, y, text, "#777777")
            continue
        ax.errorbar(
            e.est,
            y,
            xerr=[[e.est - e.lower], [e.upper - e.est]] if np.isfinite(e.lower) else None,
            fmt="o",
            color="#ff7f0e",
            capsize=3,
        )
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(ys, [_between_label(name) for name in names], fontsize=7)
    ax.set_xlabel(f"between-client association {kb}, 95% interval (what each number is: left)")
    ax.set_title("Between-client association by family", fontsize=10)
    fig.tight_layout()
    return fig


def _between_label(name: str) -> str:
    """The family's name and what its between-client number is (its ``between_meaning``)."""
    import textwrap

    base = name.split(":")[0]  # "riclpm:time=client" is the riclpm
    meaning = family_spec(base, strict=False).between_meaning if base in FAMILIES else ""
    return name if not meaning else name + "\n" + "\n".join(textwrap.wrap(meaning, 34))


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` and close it."""
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
