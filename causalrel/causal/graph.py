"""The causal graph: the time-unrolled picture of what every family assumes, and its one-step slice.

:func:`unrolled_graph` builds the graph over a few sessions and :func:`draw_graph` draws it with
matplotlib alone (the Graphviz ``dot`` program is not needed); :func:`slice_graph` is the
one-step slice DoWhy identifies effects on (sessions t-1 and t, and the unobserved nodes that
feed them).
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np

from ..data import DataError, SessionPanel
from .frame import lag_column as _lag

__all__ = ["unrolled_graph", "slice_graph", "draw_graph"]

# Unobserved node names of the sliced graph (not data columns; valid identifiers for sympy).
TRAITS = "client_traits"
THERAPIST = "therapist"
HISTORY = "earlier_sessions"
SHOCK_PREV = "shock_prev_session"
SHOCK_NOW = "shock_this_session"


def unrolled_graph(
    panel: SessionPanel,
    *,
    waves: int = 4,
    therapist: bool | None = None,
    trend: bool = True,
    same_session: str = "covariance",
) -> nx.DiGraph:
    """The time-unrolled causal graph for ``waves`` sessions.

    Nodes are ``"{x}_{t}"`` and ``"{y}_{t}"`` for t = 1..waves, the stable client traits
    ``"trait_{x}"`` and ``"trait_{y}"`` (unobserved), optionally ``"therapist"`` and
    ``"time_trend"``. Edge attribute ``kind`` is one of ``"trait"`` (a trait affects every score
    of its variable), ``"trait_corr"`` (the two traits correlate; no direction assumed),
    ``"effect"`` (x_t -> y_{t+1}), ``"reverse"`` (y_t -> x_{t+1}), ``"carry"``
    (autoregression), ``"shock"`` (same-session residual covariance, no direction assumed; edge
    attribute ``bidirected=True``), ``"same_session"`` (a directed same-session effect),
    ``"trend"`` and ``"therapist"``. Node attribute ``observed`` is a bool.

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
    same_session : str
        What links the two scores of one session. ``"covariance"`` (default): a residual
        covariance with no direction, which is what every family estimates (the SEMs'
        ``wx ~~ wy``; the regression families leave the two equations' errors free to
        correlate). An effect key, ``"{y}->{x}"`` or ``"{x}->{y}"``: a directed same-session
        effect, for a design whose rating order fixes it (symptoms rated before the session,
        the alliance after it: ``"symptoms->alliance"``). ``"none"``: no link.
    """
    if waves < 2:
        raise DataError("unrolled_graph needs at least 2 waves to show a lagged effect.")
    x, y = panel.x, panel.y
    link = _same_session_link(panel, same_session)
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
        if link == "covariance":
            g.add_edge(f"{y}_{t}", f"{x}_{t}", kind="shock", bidirected=True)
        elif link is not None:
            cause, outcome = link
            g.add_edge(f"{cause}_{t}", f"{outcome}_{t}", kind="same_session")
        if t > 1:
            g.add_edge(f"{x}_{t - 1}", f"{x}_{t}", kind="carry")
            g.add_edge(f"{y}_{t - 1}", f"{y}_{t}", kind="carry")
            g.add_edge(f"{x}_{t - 1}", f"{y}_{t}", kind="effect")
            g.add_edge(f"{y}_{t - 1}", f"{x}_{t}", kind="reverse")
    return g


def _same_session_link(panel: SessionPanel, same_session: str) -> str | tuple[str, str] | None:
    """``"covariance"``, ``None`` (no link) or the (cause, outcome) of a directed link."""
    x, y = panel.x, panel.y
    directed = {f"{y}->{x}": (y, x), f"{x}->{y}": (x, y)}
    if same_session == "covariance":
        return "covariance"
    if same_session == "none":
        return None
    if same_session in directed:
        return directed[same_session]
    choices = ", ".join(f"'{c}'" for c in ["covariance", *directed, "none"])
    raise DataError(f"same_session must be one of {choices}; got {same_session!r}.")


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
    same_session: str = "covariance",
    ax: Any = None,
) -> Any:
    """Draw the time-unrolled graph with matplotlib; returns the Figure.

    Alliance scores run along the top row and symptom scores along the bottom row, one column
    per session; each variable's stable client level sits beyond its row. Dashed boxes are
    unobserved; dashed two-headed links are covariances with no assumed direction. The
    same-session link is drawn as the model has it (``same_session``, see
    :func:`unrolled_graph`): a dashed two-headed residual covariance by default, or a solid
    arrow for a directed same-session effect. Its patches carry the gid
    ``"same_session:<from>-><to>"`` (``"same_session:<y>~~<x>"`` for the covariance). Drawn by
    hand with matplotlib because DoWhy's and networkx's graph views need the Graphviz ``dot``
    program for a readable layout, which a plain ``pip install`` does not bring.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    g = unrolled_graph(
        panel, waves=waves, therapist=therapist, trend=trend, same_session=same_session
    )
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
        "same_session": "#9467bd",
    }
    widths = {"effect": 2.4, "reverse": 2.4, "carry": 1.6, "same_session": 1.6}
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
            patch = FancyArrowPatch(p0, p1, mutation_scale=12, **style)
            if kind == "shock":
                patch.set_gid(f"same_session:{g.nodes[a]['variable']}~~{g.nodes[b]['variable']}")
            ax.add_patch(patch)
            continue
        bend = "arc3,rad=0"
        if kind == "therapist":  # around the left-hand side of the grid, to the trait's left edge
            p0 = (pos[a][0], pos[a][1] + np.sign(pos[b][1] - pos[a][1]) * half[a][1])
            p1 = (pos[b][0] - half[b][0], pos[b][1])
            bend = f"arc3,rad={-0.35 if pos[b][1] > pos[a][1] else 0.35}"
        patch = FancyArrowPatch(
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
        if kind == "same_session":
            patch.set_gid(f"same_session:{g.nodes[a]['variable']}->{g.nodes[b]['variable']}")
        ax.add_patch(patch)
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
    ]
    link = _same_session_link(panel, same_session)
    both = " (traits; same session)" if link == "covariance" else " (traits)"
    handles.append(
        plt.Line2D([], [], color="#888888", ls="--", lw=1, label="covariance, no direction" + both)
    )
    if link not in ("covariance", None):
        label = f"{link[0]} → {link[1]}, same session"
        handles.append(plt.Line2D([], [], color=colours["same_session"], lw=1.6, label=label))
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
