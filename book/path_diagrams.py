"""Path diagrams of the book's panel models, drawn with matplotlib (chapters 5, 7 and 10).

SEM conventions: squares are observed scores, circles latent variables, single-headed arrows
regressions or loadings, double-headed arrows (co)variances. Blue is the alliance's effect on
next-session symptoms, red the reverse, black carry-over. Three waves stand for all of them.
Written for the book rather than taken from a graph library (graphviz, semopy's plots)
because those need system binaries or a fitted model, and a teaching diagram needs neither.
"""

from __future__ import annotations

from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

MODELS = ("clpm", "riclpm", "lcmsr", "dsem")
TITLES = {
    "clpm": "CLPM",
    "riclpm": "RI-CLPM",
    "lcmsr": "LCM-SR (RI-CLPM + client slopes)",
    "dsem": "DSEM (two levels, random lags)",
}
_X = (0.0, 2.0, 4.0)  # the three waves' horizontal positions
_EFFECT = {"xy": "C0", "yx": "C3", "auto": "black"}


def _node(ax, xy, label, latent=False, filled=False):
    if latent:
        patch = Circle(xy, 0.32, fc="0.85" if filled else "white", ec="black", lw=1)
    else:
        patch = Rectangle((xy[0] - 0.34, xy[1] - 0.24), 0.68, 0.48, fc="white", ec="black")
    ax.add_patch(patch)
    ax.text(*xy, label, ha="center", va="center", fontsize=8)


def _arrow(ax, a, b, colour="black", both=False, rad=0.0, ls="-"):
    ax.add_patch(
        FancyArrowPatch(
            a,
            b,
            arrowstyle="<|-|>" if both else "-|>",
            mutation_scale=8,
            color=colour,
            lw=1,
            ls=ls,
            shrinkA=11,
            shrinkB=11,
            connectionstyle=f"arc3,rad={rad}",
        )
    )


def _lagged(ax, top, bottom, random=False):
    """Carry-over and cross-lags among two rows of nodes at the three waves."""
    for t in range(len(_X) - 1):
        _arrow(ax, top[t], top[t + 1], _EFFECT["auto"])
        _arrow(ax, bottom[t], bottom[t + 1], _EFFECT["auto"])
        _arrow(ax, top[t], bottom[t + 1], _EFFECT["xy"])
        _arrow(ax, bottom[t], top[t + 1], _EFFECT["yx"])
        if random:  # a dot on the path: its coefficient varies between clients
            mid = ((top[t][0] + bottom[t + 1][0]) / 2, (top[t][1] + bottom[t + 1][1]) / 2)
            ax.plot(*mid, "o", color=_EFFECT["xy"], ms=5, zorder=5)
    for t in range(len(_X)):
        _arrow(ax, top[t], bottom[t], "grey", both=True, rad=0.35, ls="--")


def draw(ax, model: str) -> None:
    """Draw the path diagram of ``model`` (one of :data:`MODELS`) on the axes ``ax``."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r}")
    ax.set_title(TITLES[model], fontsize=9)
    ax.set_aspect("equal")
    ax.axis("off")
    if model == "clpm":
        top = [(x, 0.9) for x in _X]
        bottom = [(x, -0.9) for x in _X]
        for t, (a, b) in enumerate(zip(top, bottom, strict=True), start=1):
            _node(ax, a, f"A{t}")
            _node(ax, b, f"S{t}")
        _lagged(ax, top, bottom)
        ax.set_xlim(-1, 5)
        ax.set_ylim(-3.4, 3.4)
        return
    obs_top = [(x, 1.5) for x in _X]
    obs_bottom = [(x, -1.5) for x in _X]
    w_top = [(x, 0.55) for x in _X]
    w_bottom = [(x, -0.55) for x in _X]
    for t in range(len(_X)):
        _node(ax, obs_top[t], f"A{t + 1}")
        _node(ax, obs_bottom[t], f"S{t + 1}")
        _node(ax, w_top[t], f"wA{t + 1}", latent=True)
        _node(ax, w_bottom[t], f"wS{t + 1}", latent=True)
        _arrow(ax, w_top[t], obs_top[t])
        _arrow(ax, w_bottom[t], obs_bottom[t])
    _lagged(ax, w_top, w_bottom, random=model == "dsem")
    level = {"riclpm": ("RIA", "RIS"), "lcmsr": ("RIA", "RIS"), "dsem": ("μA", "μS")}[model]
    centres = (2.0,) if model != "lcmsr" else (1.1,)
    for cx in centres:
        ri_top, ri_bottom = (cx, 2.85), (cx, -2.85)
        _node(ax, ri_top, level[0], latent=True, filled=model == "dsem")
        _node(ax, ri_bottom, level[1], latent=True, filled=model == "dsem")
        for t in range(len(_X)):
            _arrow(ax, ri_top, obs_top[t])
            _arrow(ax, ri_bottom, obs_bottom[t])
        _arrow(ax, ri_top, ri_bottom, "grey", both=True, rad=1.3 if cx > 1.5 else 1.0, ls="--")
    if model == "lcmsr":
        sl_top, sl_bottom = (2.9, 2.85), (2.9, -2.85)
        _node(ax, sl_top, "SA", latent=True)
        _node(ax, sl_bottom, "SS", latent=True)
        for t in range(len(_X)):
            _arrow(ax, sl_top, obs_top[t], "0.45")
            _arrow(ax, sl_bottom, obs_bottom[t], "0.45")
        ax.text(4.2, 2.85, "loadings\n0, 1, 2", fontsize=7, va="center")
    if model == "dsem":
        ax.text(
            3.0, 2.85, "client level:\nlatent means,\nrandom lags (dot)", fontsize=7, va="center"
        )
    ax.set_xlim(-2.0, 5.3)
    ax.set_ylim(-3.4, 3.4)
