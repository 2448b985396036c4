"""The causal layer: DoWhy's identification, estimation and refutation of within-client effects.

Every model family estimates "alliance at one session -> symptoms at the next" (and the reverse)
under its own assumptions. This module states those assumptions as a causal graph and lets
DoWhy check what follows from them:

1. **Graph.** Session-by-session data unrolled in time: stable client traits (and, optionally,
   the therapist) affect every alliance and symptom score; alliance at session t affects symptoms
   at t+1, symptoms at t affect alliance at t+1; each variable carries over to the next session;
   same-session shocks correlate the two scores of a session; a shared time trend affects every
   score. :func:`unrolled_graph` builds it for a few sessions and :func:`draw_graph` draws it with
   matplotlib alone (the Graphviz ``dot`` program is not needed). DoWhy works on the one-step
   slice of that graph (:func:`slice_graph`): the scores of sessions t-1 and t, and the
   unobserved nodes that feed them.
2. **Identification.** On raw scores the effect is *not* identified: the stable traits open a
   back-door path (alliance_{t-1} <- traits -> symptoms_t) that no observed variable blocks.
   Within-client (person-mean) centring removes the traits, and on the within-client slice DoWhy
   finds the back-door set {last session's outcome (and time)}. Both identifications are
   reported.
3. **Estimation.** DoWhy's ``backdoor.linear_regression`` on the within-transformed rows, i.e. the
   fixed-effects (within) estimand: every variable of the regression is centred on its client's
   mean over the rows used, which equals regression with one dummy per client. DoWhy's standard
   errors treat rows as independent; the reported ones are cluster-robust by client (the same
   regression refitted with statsmodels), and the point estimates are checked to agree.
   Like every fixed-effects estimator with a lagged outcome it carries Nickell's bias of order
   1/T (T = sessions per client); the dynamic-panel families correct for it.
4. **Refutation.** A placebo treatment (the cause permuted *within* client), a random common
   cause (DoWhy's), client subsets (the data-subset refuter drawing whole clients), and DoWhy's
   linear partial-R² sensitivity analysis for an unobserved time-varying confounder (Cinelli &
   Hazlett's robustness value, benchmarked against last session's outcome).
   Each refuter is a test that can fail: the placebo fails when the real estimate does not stand
   out from the placebo distribution (no lagged effect beyond what shuffled timing gives), the
   subsets fail when more than 5% of client subsets give the estimate the other sign (a few
   clients carry it). DoWhy's random common cause fails only when adding an independent column
   moves the estimate, i.e. when the estimator itself is broken or numerically unstable.

Why the placebo and the subsets are written here rather than taken from DoWhy: DoWhy's
``placebo_treatment_refuter(placebo_type="permute")`` permutes the treatment across *all* rows,
and its ``data_subset_refuter`` drops single rows. With clients as the units, a permutation across
clients hands one client's within-client deviations to another, so the placebo no longer has a
zero mean within each client and carries between-client variance the within estimand was built to
exclude; a within-client permutation keeps each client's own distribution of alliance and breaks
only its timing, which is the hypothesis under test. Dropping rows keeps part of every client and
understates how much the answer depends on which clients were sampled; dropping whole clients
mirrors how the data were sampled (and leaves the remaining clients' centring intact). Both reuse
DoWhy's estimator object and significance test, so only the resampling is ours.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._warnings import DOWHY, ignoring
from .data import DataError, DataWarning, SessionPanel
from .results import Effect, ModelResults, _jsonable, effect_key

__all__ = [
    "TRENDS",
    "unrolled_graph",
    "slice_graph",
    "draw_graph",
    "within_frame",
    "permute_within",
    "CausalAnalysis",
    "CausalResults",
    "DirectionResult",
    "causal_analysis",
]

#: How shared time trends enter the analysis.
TRENDS = {
    "none": "no time node: scores are assumed to have no trend across sessions",
    "linear": "the session number (centred within client) is an observed common cause of every "
    "score, which removes the average linear trend",
    "detrend": "each client's own linear trend is removed from both scores first "
    "(causalrel.decompose.detrend), so no time node is needed",
}

# Unobserved node names of the sliced graph (not data columns; valid identifiers for sympy).
TRAITS = "client_traits"
THERAPIST = "therapist"
HISTORY = "earlier_sessions"
SHOCK_PREV = "shock_prev_session"
SHOCK_NOW = "shock_this_session"

#: Largest share of client subsets whose estimate may have the other sign (subset refuter).
SUBSET_FLIP_MAX = 0.05

#: Benchmark multiples of last session's outcome for the partial-R² sensitivity table.
BENCHMARK_FRACTIONS = (0.25, 0.5, 1.0, 2.0, 3.0)

log = logging.getLogger(__name__)


def _quiet_dowhy() -> None:
    for name in ("dowhy", "dowhy.causal_model", "dowhy.causal_identifier", "dowhy.causal_refuters"):
        logging.getLogger(name).setLevel(logging.ERROR)


# ---------------------------------------------------------------------------------------------
# Graphs
# ---------------------------------------------------------------------------------------------
def unrolled_graph(
    panel: SessionPanel, *, waves: int = 4, therapist: bool | None = None, trend: bool = True
) -> nx.DiGraph:
    """The time-unrolled causal graph for ``waves`` sessions.

    Nodes are ``"{x}_{t}"`` and ``"{y}_{t}"`` for t = 1..waves, the stable client traits
    ``"trait_{x}"`` and ``"trait_{y}"`` (unobserved), optionally ``"therapist"`` and
    ``"time_trend"``. Edge attribute ``kind`` is one of ``"trait"`` (a trait affects every score
    of its variable), ``"trait_corr"`` (the two traits correlate; no direction assumed),
    ``"effect"`` (x_t -> y_{t+1}), ``"reverse"`` (y_t -> x_{t+1}), ``"carry"``
    (autoregression), ``"shock"`` (same-session correlation; no direction assumed), ``"trend"``
    and ``"therapist"``. Node attribute ``observed`` is a bool.

    Parameters
    ----------
    panel : SessionPanel
        Supplies the variable names (and whether a therapist column exists).
    waves : int
        Number of sessions to unroll (the pattern repeats for every later session).
    therapist : bool, optional
        Include the therapist node; default: whether ``panel`` has a therapist column.
    trend : bool
        Include a shared time-trend node.
    """
    if waves < 2:
        raise DataError("unrolled_graph needs at least 2 waves to show a lagged effect.")
    x, y = panel.x, panel.y
    therapist = panel.therapist is not None if therapist is None else therapist
    g = nx.DiGraph()
    for v in (x, y):
        g.add_node(f"trait_{v}", observed=False, label=f"stable {v} level\n(client trait)")
    g.add_edge(f"trait_{x}", f"trait_{y}", kind="trait_corr")
    if therapist:
        g.add_node(THERAPIST, observed=True, label="therapist")
        for v in (x, y):
            g.add_edge(THERAPIST, f"trait_{v}", kind="therapist")
    if trend:
        g.add_node("time_trend", observed=True, label="session number\n(time trend)")
    for t in range(1, waves + 1):
        for v in (x, y):
            g.add_node(f"{v}_{t}", observed=True, label=f"{v} {t}", variable=v, wave=t)
            g.add_edge(f"trait_{v}", f"{v}_{t}", kind="trait")
            if trend:
                g.add_edge("time_trend", f"{v}_{t}", kind="trend")
        g.add_edge(f"{y}_{t}", f"{x}_{t}", kind="shock")
        if t > 1:
            g.add_edge(f"{x}_{t - 1}", f"{x}_{t}", kind="carry")
            g.add_edge(f"{y}_{t - 1}", f"{y}_{t}", kind="carry")
            g.add_edge(f"{x}_{t - 1}", f"{y}_{t}", kind="effect")
            g.add_edge(f"{y}_{t - 1}", f"{x}_{t}", kind="reverse")
    return g


def _lag(v: str) -> str:
    return f"{v}_lag1"


def slice_graph(
    panel: SessionPanel,
    *,
    within: bool = True,
    time_node: str | None = None,
) -> nx.DiGraph:
    """The one-step slice of the unrolled graph that DoWhy identifies effects on.

    Observed nodes are the data columns of one analysis row: ``{x}_lag1``, ``{y}_lag1`` (session
    t-1), ``x``, ``y`` (session t) and, with a trend, ``time_node``. Unobserved nodes:
    ``earlier_sessions`` (sessions before t-1, which reach session t only through t-1: the
    first-order Markov assumption every family makes), one same-session shock per session (the
    correlation of alliance and symptoms within a session, with no assumed direction), and, on
    raw scores (``within=False``), the stable ``client_traits`` (and the therapist) that affect
    every score. Within-client centring removes the traits, so ``within=True`` drops them.
    """
    x, y = panel.x, panel.y
    xl, yl = _lag(x), _lag(y)
    g = nx.DiGraph()
    g.add_edges_from(
        [
            (HISTORY, xl),
            (HISTORY, yl),
            (SHOCK_PREV, xl),
            (SHOCK_PREV, yl),
            (SHOCK_NOW, x),
            (SHOCK_NOW, y),
            (xl, x),  # carry-over
            (yl, y),  # carry-over
            (xl, y),  # the effect of interest
            (yl, x),  # the reverse effect
        ]
    )
    if not within:
        for v in (xl, yl, x, y):
            g.add_edge(TRAITS, v)
        if panel.therapist is not None:
            g.add_edge(THERAPIST, TRAITS)
    if time_node is not None:
        for v in (xl, yl, x, y):
            g.add_edge(time_node, v)
    return g


def _box_edge(p: tuple[float, float], q: tuple[float, float], half: tuple[float, float]):
    """Where the segment from box centre ``p`` towards ``q`` leaves the box of half-size ``half``."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    if dx == 0 and dy == 0:
        return p
    s = min(half[0] / abs(dx) if dx else np.inf, half[1] / abs(dy) if dy else np.inf)
    return (p[0] + s * dx, p[1] + s * dy)


def draw_graph(
    panel: SessionPanel,
    *,
    waves: int = 4,
    therapist: bool | None = None,
    trend: bool = True,
    ax: Any = None,
) -> Any:
    """Draw the time-unrolled graph with matplotlib; returns the Figure.

    Alliance scores run along the top row and symptom scores along the bottom row, one column
    per session; each variable's stable client level sits beyond its row. Dashed boxes are
    unobserved; dashed two-headed links are correlations with no assumed direction. Drawn by
    hand with matplotlib because DoWhy's and networkx's graph views need the Graphviz ``dot``
    program for a readable layout, which a plain ``pip install`` does not bring.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    g = unrolled_graph(panel, waves=waves, therapist=therapist, trend=trend)
    x, y = panel.x, panel.y
    step = 2.1
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.45 * waves + 4.2, 6.0))
    else:
        fig = ax.figure
    pos: dict[str, tuple[float, float]] = {}
    half: dict[str, tuple[float, float]] = {}
    for t in range(1, waves + 1):
        pos[f"{x}_{t}"], pos[f"{y}_{t}"] = (step * t, 2.0), (step * t, 0.0)
    mid = step * (waves + 1) / 2
    pos[f"trait_{x}"], pos[f"trait_{y}"] = (mid, 3.9), (mid, -1.9)
    if THERAPIST in g:
        pos[THERAPIST] = (0.0, 1.0)
    if "time_trend" in g:
        pos["time_trend"] = (step * (waves + 1) + 1.0, 1.0)
    for node in pos:
        big = not node.endswith(tuple(f"_{t}" for t in range(1, waves + 1)))
        half[node] = (1.05, 0.42) if big else (0.62, 0.3)
    colours = {
        "effect": "#1f77b4",
        "reverse": "#d62728",
        "carry": "#444444",
        "trait": "#9a9a9a",
        "therapist": "#777777",
    }
    widths = {"effect": 2.4, "reverse": 2.4, "carry": 1.6}
    for a, b, d in g.edges(data=True):
        kind = d["kind"]
        if kind == "trend":
            continue  # stated in the time box instead of eight more arrows
        p0 = _box_edge(pos[a], pos[b], half[a])
        p1 = _box_edge(pos[b], pos[a], half[b])
        if kind in ("shock", "trait_corr"):
            style = dict(arrowstyle="<|-|>", linestyle=(0, (3, 3)), color="#888888", lw=1.0)
            if kind == "trait_corr":  # around the right-hand side of the grid
                p0 = (pos[a][0] + half[a][0], pos[a][1])
                p1 = (pos[b][0] + half[b][0], pos[b][1])
                style["connectionstyle"] = "arc3,rad=-1.2"
            ax.add_patch(FancyArrowPatch(p0, p1, mutation_scale=10, **style))
            continue
        bend = "arc3,rad=0"
        if kind == "therapist":  # around the left-hand side of the grid, to the trait's left edge
            p0 = (pos[a][0], pos[a][1] + np.sign(pos[b][1] - pos[a][1]) * half[a][1])
            p1 = (pos[b][0] - half[b][0], pos[b][1])
            bend = f"arc3,rad={-0.35 if pos[b][1] > pos[a][1] else 0.35}"
        ax.add_patch(
            FancyArrowPatch(
                p0,
                p1,
                connectionstyle=bend,
                arrowstyle="-|>",
                mutation_scale=14,
                color=colours[kind],
                lw=widths.get(kind, 0.9),
                shrinkA=0,
                shrinkB=1,
                zorder=2,
            )
        )
    for node, (px, py) in pos.items():
        observed = g.nodes[node].get("observed", True)
        w, h = half[node]
        ax.add_patch(
            FancyBboxPatch(
                (px - w, py - h),
                2 * w,
                2 * h,
                boxstyle="round,pad=0.02",
                facecolor="#f3f6fa" if observed else "white",
                edgecolor="#333333",
                linestyle="-" if observed else "--",
                lw=1.2,
                zorder=3,
            )
        )
        label = g.nodes[node].get("label", node)
        if node == "time_trend":
            label += "\n→ every score"
        ax.text(px, py, label, ha="center", va="center", fontsize=8.5, zorder=4)
    handles = [
        plt.Line2D([], [], color=colours["effect"], lw=2.4, label=f"{x} → next {y} (effect)"),
        plt.Line2D([], [], color=colours["reverse"], lw=2.4, label=f"{y} → next {x} (reverse)"),
        plt.Line2D([], [], color=colours["carry"], lw=1.6, label="carry-over"),
        plt.Line2D([], [], color=colours["trait"], lw=0.9, label="stable trait → every score"),
        plt.Line2D([], [], color="#888888", ls="--", lw=1, label="correlation (no direction)"),
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        fontsize=8,
        frameon=False,
        ncol=3,
        bbox_to_anchor=(0.5, 0.02),
    )
    left = -1.2 if THERAPIST in g else step - 1.0
    right = step * (waves + 1) + (2.2 if "time_trend" in g else 1.6)
    ax.set_xlim(left, right)
    ax.set_ylim(-2.6, 4.6)
    ax.axis("off")
    ax.set_title(
        f"Causal graph unrolled over sessions ({y} rated before, {x} after each session;\n"
        "dashed boxes unobserved; the pattern repeats for every later session)",
        fontsize=9.5,
    )
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Data for one direction
# ---------------------------------------------------------------------------------------------
def within_frame(
    panel: SessionPanel,
    cause: str,
    outcome: str,
    *,
    trend: str = "linear",
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Rows for the lagged effect of ``cause`` on ``outcome``: raw and within-client centred.

    A row is a session t with the outcome at t and both variables at session t-1 (lags across a
    missed session are missing). Rows with a missing value are left out, and so are clients with
    fewer than two usable rows (a client's single row is all client mean, nothing within). Every
    column (including the session number when ``trend`` adjusts for time) is then centred on its
    client's mean over the rows kept, the within transformation of fixed-effects regression.

    Returns
    -------
    raw, within : DataFrame
        Columns ``client``, the outcome, ``{x}_lag1``, ``{y}_lag1`` (and the session column);
        ``within`` holds the centred values (``client`` unchanged), rows aligned.
    excluded : dict
        ``{reason: count}`` of rows left out.
    """
    if trend not in TRENDS:
        raise DataError(f"trend must be one of {', '.join(TRENDS)}; got {trend!r}.")
    if cause not in panel.variables or outcome not in panel.variables:
        raise DataError(
            f"cause and outcome must be '{panel.x}' or '{panel.y}'; got {cause!r}, {outcome!r}."
        )
    if trend == "detrend":
        from .decompose import detrend

        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", DataWarning
            )  # short-client notice: counted below as missing
            panel = detrend(panel)
    lag = panel.lagged()
    cols = [outcome, _lag(panel.x), _lag(panel.y)]
    time_cols = [panel.session] if trend == "linear" else []
    frame = lag[[panel.client, *cols, *time_cols]].copy()
    frame[panel.session] = lag[panel.session].astype(float)
    frame = frame[[panel.client, *cols, *time_cols]]
    excluded: dict[str, int] = {}
    first = lag[[_lag(panel.x), _lag(panel.y)]].isna().all(axis=1)
    complete = frame[cols].notna().all(axis=1)
    n_nolag = int((~complete & first).sum())
    n_missing = int((~complete & ~first).sum())
    if n_nolag:
        excluded["rows_without_previous_session"] = n_nolag
    if n_missing:
        excluded["rows_with_a_missing_rating"] = n_missing
    frame = frame[complete]
    per = frame.groupby(panel.client)[outcome].transform("size")
    single = per < 2
    if single.any():
        excluded["rows_of_clients_with_one_usable_row"] = int(single.sum())
    frame = frame[~single].reset_index(drop=True)
    if frame[panel.client].nunique() < 2:
        raise DataError(
            f"Too few usable rows for the effect of {cause} on next-session {outcome}: fewer than "
            "two clients have two consecutive sessions with both ratings."
        )
    if trend == "linear" and frame[panel.session].nunique() < 2:
        raise DataError("All usable rows have the same session number: no time trend to adjust.")
    frame = frame.rename(columns={panel.client: "client"})
    within = frame.copy()
    num = [c for c in frame.columns if c != "client"]
    within[num] = frame[num] - frame.groupby("client")[num].transform("mean")
    return frame, within, excluded


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass
class DirectionResult:
    """Identification, estimate and refutations for one lagged effect (cause -> next outcome)."""

    cause: str
    outcome: str
    treatment: str
    adjustment: list[str]
    identified_raw: bool
    identified_within: bool
    estimand: str
    effect: Effect
    effect_ols: Effect
    raw_effect: Effect
    n_clients: int
    n_observations: int
    excluded: dict[str, int]
    refutations: list[dict[str, Any]] = field(default_factory=list)
    sensitivity: dict[str, Any] = field(default_factory=dict)
    benchmarks: pd.DataFrame = field(default_factory=pd.DataFrame)
    placebo_draws: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    analyzer: Any = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return effect_key(self.cause, self.outcome)


@dataclass
class CausalResults:
    """Everything the causal layer found, as tidy tables and a JSON-safe dict.

    Attributes
    ----------
    directions : dict
        ``{"x->y": DirectionResult, "y->x": DirectionResult}``.
    trend : str
        How time was handled (see :data:`TRENDS`).
    seconds : float
        Wall time of the whole causal layer.
    notes : list of str
        Plain-language remarks (assumptions, caveats).
    """

    panel: SessionPanel = field(repr=False)
    directions: dict[str, DirectionResult]
    trend: str
    seed: int | None
    seconds: float = float("nan")
    notes: list[str] = field(default_factory=list)

    @property
    def effects(self) -> dict[str, Effect]:
        """The within-client estimates with cluster-robust 95% intervals, by effect key."""
        return {k: d.effect for k, d in self.directions.items()}

    @property
    def estimates(self) -> pd.DataFrame:
        """One row per (effect, data): the within estimate and the raw-score contrast."""
        rows = []
        for key, d in self.directions.items():
            for data, eff, se_kind in (
                ("within-client (fixed effects)", d.effect, "cluster-robust by client"),
                ("within-client, OLS errors (DoWhy)", d.effect_ols, "OLS (rows independent)"),
                ("raw scores (client traits ignored)", d.raw_effect, "cluster-robust by client"),
            ):
                rows.append(
                    {
                        "effect": key,
                        "data": data,
                        **eff.to_dict(),
                        "se_type": se_kind,
                        "adjusted_for": ", ".join(d.adjustment),
                        "n_clients": d.n_clients,
                        "n_observations": d.n_observations,
                    }
                )
        return pd.DataFrame(rows)

    @property
    def identification(self) -> pd.DataFrame:
        """Whether DoWhy identifies each effect on raw scores and on within-client scores."""
        rows = []
        for key, d in self.directions.items():
            rows.append(
                {
                    "effect": key,
                    "treatment": d.treatment,
                    "outcome": d.outcome,
                    "identified_on_raw_scores": d.identified_raw,
                    "identified_within_client": d.identified_within,
                    "backdoor_set": ", ".join(d.adjustment),
                    "estimand": d.estimand,
                }
            )
        return pd.DataFrame(rows)

    @property
    def refutations(self) -> pd.DataFrame:
        """One row per (effect, refuter): estimate, refuted effect, p-value, verdict."""
        rows = [r for d in self.directions.values() for r in d.refutations]
        cols = [
            "effect",
            "refuter",
            "estimate",
            "new_effect",
            "new_effect_sd",
            "p_value",
            "n_simulations",
            "passed",
            "meaning",
        ]
        return pd.DataFrame(rows, columns=cols)

    @property
    def sensitivity(self) -> pd.DataFrame:
        """Robustness values and benchmark-based bias-adjusted estimates, one row per effect."""
        rows = []
        for key, d in self.directions.items():
            rows.append({"effect": key, **d.sensitivity})
        return pd.DataFrame(rows)

    @property
    def benchmarks(self) -> pd.DataFrame:
        """A confounder k times as strong as last session's outcome: the adjusted estimates."""
        frames = [d.benchmarks.assign(effect=k) for k, d in self.directions.items()]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        out = pd.concat(frames, ignore_index=True)
        return out[["effect", *[c for c in out.columns if c != "effect"]]]

    def as_model_results(self) -> ModelResults:
        """The within estimates in the results contract, to sit beside the model families."""
        d0 = next(iter(self.directions.values()))
        return ModelResults(
            model="dowhy",
            n_clients=max(d.n_clients for d in self.directions.values()),
            n_observations=max(d.n_observations for d in self.directions.values()),
            effects={"within": dict(self.effects), "between": {}},
            params=self.estimates,
            fit={},
            diagnostics={"converged": True},
            excluded=dict(d0.excluded),
            seconds=self.seconds,
            notes=list(self.notes),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: estimates, identification, refutations, sensitivity, notes."""
        return _jsonable(
            {
                "trend": self.trend,
                "trend_meaning": TRENDS[self.trend],
                "seed": self.seed,
                "seconds": self.seconds,
                "effects": {k: e.to_dict() for k, e in self.effects.items()},
                "estimates": self.estimates.to_dict(orient="records"),
                "identification": self.identification.to_dict(orient="records"),
                "refutations": self.refutations.to_dict(orient="records"),
                "sensitivity": self.sensitivity.to_dict(orient="records"),
                "benchmarks": self.benchmarks.to_dict(orient="records"),
                "excluded": {k: d.excluded for k, d in self.directions.items()},
                "notes": list(self.notes),
            }
        )

    def draw_graph(self, **kwargs: Any) -> Any:
        """The unrolled causal graph (see :func:`draw_graph`)."""
        kwargs.setdefault("trend", self.trend == "linear")
        return draw_graph(self.panel, **kwargs)

    def plot_sensitivity(self) -> Any:
        """Contours of the bias-adjusted estimate over confounder strengths, one panel per effect.

        Axes: the share of the residual within-client variance of the cause (x axis) and of the
        outcome (y axis) that an unobserved time-varying confounder explains (partial R²).
        The red line is where the estimate would reach zero; dots are confounders 1x, 2x, ...
        as strong as last session's outcome.
        """
        import matplotlib.pyplot as plt

        dirs = [d for d in self.directions.values() if d.analyzer is not None]
        fig, axes = plt.subplots(1, max(len(dirs), 1), figsize=(5.6 * max(len(dirs), 1), 4.6))
        axes = np.atleast_1d(axes)
        for ax, d in zip(axes, dirs, strict=False):
            an = d.analyzer
            grid = np.linspace(0.0, 0.5, 101)
            r2t, r2y = np.meshgrid(grid, grid)
            with np.errstate(all="ignore"):
                adj = an.compute_bias_adjusted(r2t.ravel(), r2y.ravel())["bias_adjusted_estimate"]
            adj = np.asarray(adj).reshape(r2t.shape)
            cs = ax.contour(r2t, r2y, adj, levels=9, colors="#777777", linewidths=0.8)
            ax.clabel(cs, fontsize=7, fmt="%.3g")
            ax.contour(r2t, r2y, adj, levels=[0.0], colors="#d62728", linewidths=2)
            if len(d.benchmarks):
                b = d.benchmarks
                ax.scatter(b["r2_confounder_cause"], b["r2_confounder_outcome"], color="k", s=18)
                for _, row in b.iterrows():
                    ax.annotate(
                        f"{row['times_as_strong']:g}x",
                        (row["r2_confounder_cause"], row["r2_confounder_outcome"]),
                        textcoords="offset points",
                        xytext=(4, 3),
                        fontsize=7,
                    )
            ax.set_xlim(0, 0.5)
            ax.set_ylim(0, 0.5)
            ax.set_xlabel(f"partial R² of confounder with {d.treatment} (cause)")
            ax.set_ylabel(f"partial R² of confounder with {d.outcome} (outcome)")
            ax.set_title(f"{d.key}: estimate {d.effect.est:.3g}; red = explained away", fontsize=9)
        fig.suptitle(
            "How strong would an unobserved time-varying confounder have to be?\n"
            "(dots: a confounder k times as strong as last session's outcome)",
            fontsize=10,
        )
        fig.tight_layout()
        return fig


# ---------------------------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------------------------
class CausalAnalysis:
    """DoWhy's identification, within-client estimation and refutation of both lagged effects.

    Parameters
    ----------
    panel : SessionPanel
        The validated data.
    trend : {"linear", "none", "detrend"}
        How shared time trends are handled (see :data:`TRENDS`). Default ``"linear"``: the
        session number, centred within client, is an observed common cause of every score.

    Examples
    --------
    >>> res = CausalAnalysis(panel).fit(seed=1)           # doctest: +SKIP
    >>> res.estimates, res.refutations, res.sensitivity   # doctest: +SKIP
    """

    def __init__(self, panel: SessionPanel, *, trend: str = "linear") -> None:
        if trend not in TRENDS:
            raise DataError(f"trend must be one of {', '.join(TRENDS)}; got {trend!r}.")
        self.panel = panel
        self.trend = trend

    def fit(
        self,
        *,
        refute: bool = True,
        n_placebo: int = 100,
        n_random_common_cause: int = 50,
        n_subsets: int = 50,
        subset_fraction: float = 0.8,
        seed: int | None = 1,
        progress: bool = False,
    ) -> CausalResults:
        """Identify, estimate and (optionally) refute both lagged effects.

        Parameters
        ----------
        refute : bool
            Run the refuters and the sensitivity analysis (the estimates alone take < 1 s).
        n_placebo, n_random_common_cause, n_subsets : int
            Simulations per refuter and effect.
        subset_fraction : float
            Share of clients kept in each client-subset refutation.
        seed : int, optional
            Seed for every random draw (placebo permutations, random causes, subsets).
        progress : bool
            Show tqdm progress bars on standard error.

        Returns
        -------
        CausalResults
        """
        if not 0 < subset_fraction < 1:
            raise DataError(f"subset_fraction must lie between 0 and 1; got {subset_fraction}.")
        _quiet_dowhy()
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        p = self.panel
        directions = {}
        for cause, outcome in ((p.x, p.y), (p.y, p.x)):
            d = self._direction(cause, outcome)
            if refute:
                self._refute(
                    d, rng, n_placebo, n_random_common_cause, n_subsets, subset_fraction, progress
                )
            directions[d.key] = d
            # Keep the DoWhy objects out of the result (they hold a copy of the data).
            for attr in ("_model", "_estimate", "_estimand", "_within"):
                setattr(d, attr, None)
        notes = [
            "Within-client (fixed-effects) estimand: every variable is centred on its client's "
            "mean, which removes stable client traits (and the therapist) but, with last "
            "session's outcome among the regressors, leaves Nickell's bias of order 1/T "
            "(T = sessions per client); the dynamic-panel families (dpd, dpml) correct for it.",
            f"Time: {TRENDS[self.trend]}.",
            "Identification assumes the graph: no unobserved confounder that varies from session "
            "to session, and effects that reach the next session only (first-order lags). The "
            "sensitivity analysis asks how strong a violation of the first would have to be.",
            "Intervals are 95% cluster-robust by client; DoWhy's own OLS intervals treat "
            "sessions as independent and are shown for comparison. The robustness value at the "
            "5% level is computed by DoWhy from those OLS errors and is therefore optimistic.",
        ]
        return CausalResults(
            panel=p,
            directions=directions,
            trend=self.trend,
            seed=seed,
            seconds=time.perf_counter() - start,
            notes=notes,
        )

    # -- one direction --------------------------------------------------------------------
    def _time_node(self) -> str | None:
        return self.panel.session if self.trend == "linear" else None

    def _direction(self, cause: str, outcome: str) -> DirectionResult:
        from dowhy import CausalModel

        p = self.panel
        raw, within, excluded = within_frame(p, cause, outcome, trend=self.trend)
        treatment = _lag(cause)
        _require_within_variation(raw, within, [treatment, outcome])
        data_cols = [c for c in within.columns if c != "client"]
        ident = {}
        with ignoring(*DOWHY):  # "variables are assumed unobserved": by design
            for name, is_within in (("raw", False), ("within", True)):
                g = slice_graph(p, within=is_within, time_node=self._time_node())
                model = CausalModel(within[data_cols], treatment, outcome, graph=g)
                ident[name] = (model, model.identify_effect())
        model, estimand = ident["within"]
        identified_raw = ident["raw"][1].estimands.get("backdoor") is not None
        if estimand.estimands.get("backdoor") is None:
            raise RuntimeError(
                f"DoWhy could not identify the within-client effect of {treatment} on {outcome}; "
                "the sliced graph is malformed."
            )
        adjustment = list(estimand.get_backdoor_variables())
        with ignoring(*DOWHY):
            estimate = model.estimate_effect(
                estimand,
                method_name="backdoor.linear_regression",
                effect_modifiers=[],
                confidence_intervals=True,
            )
        ols = estimate.estimator.model
        groups = within["client"].to_numpy()
        clustered = _refit_clustered(ols, groups)
        est = float(estimate.value)
        if not np.isclose(clustered.params.iloc[1], est, rtol=1e-8, atol=1e-10):
            raise RuntimeError("DoWhy's estimate and the clustered refit disagree; please report.")
        effect = Effect.from_normal(est, float(clustered.bse.iloc[1]))
        scale = float(raw[outcome].std()) / max(float(raw[treatment].std()), 1e-300)
        if not np.isfinite(effect.se) or effect.se <= 1e-9 * scale:
            raise DataError(
                f"The within-client effect of {treatment} on {outcome} is numerically degenerate "
                f"(standard error {effect.se:.1g}): the data leave nothing to estimate it from. "
                "Check that both variables vary within clients."
            )
        effect_ols = Effect.from_normal(est, float(ols.bse.iloc[1]))
        # The contrast: the same regression on raw scores, where the traits still confound.
        raw_fit = _ols_clustered(raw, outcome, [treatment, *adjustment])
        raw_effect = Effect.from_normal(raw_fit.params[treatment], raw_fit.bse[treatment])
        d = DirectionResult(
            cause=cause,
            outcome=outcome,
            treatment=treatment,
            adjustment=adjustment,
            identified_raw=bool(identified_raw),
            identified_within=True,
            estimand=str(estimand.estimands["backdoor"]["estimand"]),
            effect=effect,
            effect_ols=effect_ols,
            raw_effect=raw_effect,
            n_clients=int(within["client"].nunique()),
            n_observations=len(within),
            excluded=excluded,
        )
        d._model, d._estimand, d._estimate = model, estimand, estimate  # type: ignore[attr-defined]
        d._within = within  # type: ignore[attr-defined]
        return d

    # -- refuters -------------------------------------------------------------------------
    def _refute(
        self,
        d: DirectionResult,
        rng: np.random.Generator,
        n_placebo: int,
        n_random: int,
        n_subsets: int,
        fraction: float,
        progress: bool,
    ) -> None:
        from dowhy.causal_refuter import CausalRefutation, test_significance
        from dowhy.causal_refuters.random_common_cause import refute_random_common_cause
        from tqdm.auto import tqdm

        estimate, estimand = d._estimate, d._estimand  # type: ignore[attr-defined]
        within: pd.DataFrame = d._within  # type: ignore[attr-defined]
        data = within.drop(columns="client")
        clients = within["client"].to_numpy()
        codes, uniques = pd.factorize(clients)

        def reestimate(frame: pd.DataFrame) -> float:
            with ignoring(*DOWHY):  # DoWhy's pandas deprecation notices
                new = estimate.estimator.get_new_estimator_object(estimand)
                new.fit(frame, effect_modifier_names=[])
                value = new.estimate_effect(frame, treatment_value=1, control_value=0).value
            return float(value)

        def bar(n: int, what: str):
            return tqdm(range(n), desc=f"{d.key}: {what}", disable=not progress, leave=False)

        # Placebo: the cause permuted within client (timing broken, client distribution kept).
        draws = []
        for _ in bar(n_placebo, "placebo (within-client permutation)"):
            perm = permute_within(codes, rng)
            frame = data.copy()
            frame[d.treatment] = data[d.treatment].to_numpy()[perm]
            draws.append(reestimate(frame))
        draws = np.asarray(draws)
        ref = CausalRefutation(estimate.value, float(draws.mean()), "placebo (within-client)")
        # The placebo draws are the estimate's distribution when only the timing is broken; the
        # refuter asks whether the real estimate stands out from it (DoWhy's significance test:
        # empirical below 100 draws is replaced by its normal approximation). Asking whether 0
        # lies in that distribution, as DoWhy's own placebo refuter does, cannot fail: the
        # distribution is centred on 0 by construction.
        sig = test_significance(estimate, draws)
        d.placebo_draws = draws
        d.refutations.append(
            _refutation_row(
                d,
                "placebo treatment (permuted within client)",
                ref.new_effect,
                draws.std(ddof=1) if len(draws) > 1 else float("nan"),
                sig["p_value"],
                len(draws),
                passed=bool(sig["is_statistically_significant"]),
                meaning=(
                    "The cause shuffled across each client's own sessions (timing broken, each "
                    "client's values kept): the placebo effect is zero on average. Passed = the "
                    "real estimate lies outside the placebo distribution (p < 0.05), i.e. it "
                    "depends on the order of the sessions; failed = shuffled timing produces "
                    "estimates as large, so the data do not show a lagged effect."
                ),
            )
        )
        # Random common cause (DoWhy's refuter).
        with ignoring(*DOWHY):
            rcc = refute_random_common_cause(
                data,
                estimand,
                estimate,
                num_simulations=n_random,
                random_state=int(rng.integers(2**31 - 1)),
                show_progress_bar=progress,
            )
        d.refutations.append(
            _refutation_row(
                d,
                "random common cause (DoWhy)",
                rcc.new_effect,
                float("nan"),
                rcc.refutation_result["p_value"],
                n_random,
                passed=not rcc.refutation_result["is_statistically_significant"],
                meaning=(
                    "An independent random variable added as a confounder: the estimate should "
                    "not move. Passed = the estimate lies inside the refuted distribution."
                ),
            )
        )
        # Data subset by client.
        k = max(2, int(round(fraction * len(uniques))))
        sub = []
        for _ in bar(n_subsets, f"subsets of {fraction:.0%} of clients"):
            keep = rng.choice(len(uniques), size=k, replace=False)
            rows = np.isin(codes, keep)
            sub.append(reestimate(data[rows].reset_index(drop=True)))
        sub = np.asarray(sub)
        # Whether the estimate lies inside its own subsample distribution cannot fail; whether
        # its sign survives leaving out a fifth of the clients can: a few influential clients
        # (or an estimate indistinguishable from zero) flip it in many subsets.
        flipped = float(np.mean(np.sign(sub) != np.sign(d.effect.est))) if len(sub) else 1.0
        d.refutations.append(
            _refutation_row(
                d,
                f"data subset ({fraction:.0%} of clients)",
                float(sub.mean()),
                sub.std(ddof=1) if len(sub) > 1 else float("nan"),
                flipped,
                len(sub),
                passed=flipped <= SUBSET_FLIP_MAX,
                meaning=(
                    "Re-estimated on random subsets of whole clients: the conclusion should not "
                    "hang on a few clients. p_value = the share of subsets whose estimate has "
                    f"the other sign; passed = at most {SUBSET_FLIP_MAX:.0%} of them."
                ),
            )
        )
        self._sensitivity(d)

    def _sensitivity(self, d: DirectionResult) -> None:
        """DoWhy's linear partial-R² sensitivity analysis (Cinelli & Hazlett 2020)."""
        from dowhy.causal_refuters.add_unobserved_common_cause import (
            sensitivity_linear_partial_r2,
        )

        estimate = d._estimate  # type: ignore[attr-defined]
        data = d._within.drop(columns="client")  # type: ignore[attr-defined]
        benchmark = _lag(d.outcome)
        analyzer, fractions = None, list(BENCHMARK_FRACTIONS)
        with ignoring(*DOWHY):
            while fractions:
                try:
                    analyzer = sensitivity_linear_partial_r2(
                        data,
                        estimate,
                        [d.treatment],
                        frac_strength_treatment=[float(f) for f in fractions],
                        frac_strength_outcome=[float(f) for f in fractions],
                        benchmark_common_causes=[benchmark],
                        significance_level=0.05,
                        plot_estimate=False,
                    )
                    break
                except ValueError:  # a multiple too strong to be possible (R² >= 1): drop it
                    fractions = fractions[:-1]
        if analyzer is None:
            d.sensitivity = {"error": "the partial-R² sensitivity analysis could not be run"}
            return
        s = analyzer.stats
        rv, rv_a = float(s["robustness_value"]), float(s["robustness_value_alpha"])
        b = analyzer.benchmarking_results.copy()
        b.insert(0, "times_as_strong", fractions)
        b.insert(0, "benchmark", benchmark)
        b = b.rename(
            columns={
                "r2tu_w": "r2_confounder_cause",
                "r2yu_tw": "r2_confounder_outcome",
                "bias_adjusted_lower_CI": "bias_adjusted_lower",
                "bias_adjusted_upper_CI": "bias_adjusted_upper",
            }
        )
        lo, hi = (
            b[["bias_adjusted_lower", "bias_adjusted_upper"]].min(axis=1),
            b[["bias_adjusted_lower", "bias_adjusted_upper"]].max(axis=1),
        )
        b["bias_adjusted_lower"], b["bias_adjusted_upper"] = lo, hi
        b["explains_away"] = np.sign(b["bias_adjusted_estimate"]) != np.sign(d.effect.est)
        d.benchmarks = b.reset_index(drop=True)
        first_away = b.loc[b["explains_away"], "times_as_strong"]
        d.sensitivity = {
            "estimate": d.effect.est,
            "partial_r2_cause_outcome": float(s["r2yt_w"]),
            "robustness_value": rv,
            "robustness_value_5pct": rv_a,
            "benchmark": benchmark,
            "explained_away_at_times_benchmark": (
                float(first_away.iloc[0]) if len(first_away) else None
            ),
            "interpretation": (
                f"An unobserved time-varying confounder would have to explain at least "
                f"{rv:.1%} of the residual within-client variance of both {d.treatment} and "
                f"{d.outcome} to bring the estimate to zero (and {rv_a:.1%} to make it "
                "non-significant at 5%). "
                + (
                    f"A confounder {first_away.iloc[0]:g} times as strong as last session's "
                    f"{d.outcome} ({benchmark}) would explain it away."
                    if len(first_away)
                    else f"Even a confounder {fractions[-1]:g} times as strong as last "
                    f"session's {d.outcome} ({benchmark}) would not explain it away."
                )
            ),
        }
        d.sensitivity["robustness_value_5pct_note"] = "from DoWhy's OLS errors (optimistic)"
        d.analyzer = analyzer


def permute_within(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices that shuffle rows within each group (client) and never across groups.

    ``values[permute_within(codes, rng)]`` keeps each client's own multiset of values and moves
    them to random sessions of the same client: the within-client placebo.
    """
    groups = np.asarray(groups)
    shuffled = np.lexsort((rng.random(len(groups)), groups))  # by group, random within group
    perm = np.empty(len(groups), dtype=int)
    perm[np.argsort(groups, kind="stable")] = shuffled
    return perm


def _refutation_row(
    d: DirectionResult,
    refuter: str,
    new_effect: float,
    sd: float,
    p_value: float,
    n: int,
    *,
    passed: bool,
    meaning: str,
) -> dict[str, Any]:
    return {
        "effect": d.key,
        "refuter": refuter,
        "estimate": d.effect.est,
        "new_effect": float(new_effect),
        "new_effect_sd": float(sd),
        "p_value": float(p_value),
        "n_simulations": int(n),
        "passed": bool(passed),
        "meaning": meaning,
    }


def _refit_clustered(ols: Any, groups: np.ndarray) -> Any:
    """DoWhy's statsmodels OLS refitted with standard errors clustered by client."""
    return ols.model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(groups)[0]})


def _ols_clustered(frame: pd.DataFrame, outcome: str, regressors: Sequence[str]) -> Any:
    import statsmodels.api as sm

    X = sm.add_constant(frame[list(regressors)].astype(float))
    return sm.OLS(frame[outcome].astype(float), X).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["client"])[0]}
    )


def _require_within_variation(raw: pd.DataFrame, within: pd.DataFrame, cols: list[str]) -> None:
    """Refuse an effect whose cause or outcome hardly varies within clients (a number from
    rounding error would look precise: an interval of width 1e-16)."""
    for c in cols:
        total, inside = float(raw[c].var()), float(within[c].var())
        if not (np.isfinite(inside) and inside > 1e-10 * max(total, 1e-300)):
            raise DataError(
                f"'{c}' does not vary within clients in the rows used (within-client variance "
                f"{inside:.1g} of {total:.3g}): the causal layer cannot estimate a within-client "
                "effect from it."
            )


def causal_analysis(
    panel: SessionPanel,
    *,
    trend: str = "linear",
    fast: bool = False,
    seed: int | None = 1,
    progress: bool = False,
) -> CausalResults:
    """Run the causal layer with the report's settings (fewer simulations when ``fast``).

    Parameters
    ----------
    panel : SessionPanel
    trend : {"linear", "none", "detrend"}
    fast : bool
        30 placebo permutations, 20 random common causes and 20 client subsets per effect
        instead of 200, 50 and 100.
    seed : int, optional
    progress : bool

    Returns
    -------
    CausalResults
    """
    n = (30, 20, 20) if fast else (200, 50, 100)
    return CausalAnalysis(panel, trend=trend).fit(
        n_placebo=n[0], n_random_common_cause=n[1], n_subsets=n[2], seed=seed, progress=progress
    )
