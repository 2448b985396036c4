"""What the causal layer found: one :class:`DirectionResult` per lagged effect, and
:class:`CausalResults`, the family's :class:`~causalrel.results.ModelResults`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..data import SessionPanel
from ..design import merge_exclusions
from ..results import PARAM_COLUMNS, Effect, ModelResults, _jsonable, effect_key
from .frame import TIMES, TRENDS
from .graph import draw_graph

__all__ = ["DirectionResult", "CausalResults"]


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
class CausalResults(ModelResults):
    """Everything the causal layer found: the results contract plus tidy tables.

    The contract's fields hold the within-client (fixed-effects) estimates (``effects["within"]``,
    no between-client side), ``params`` in lavaan's columns (``outcome ~ lagged cause``, one row
    per estimate of :attr:`estimates`, with its ``effect``, ``data`` and ``se_type``) and
    ``excluded`` (the vocabulary of ``docs/results-contract.md``; ``:<outcome>`` where the two
    directions differ). Build it with :meth:`from_directions`.

    Attributes
    ----------
    directions : dict
        ``{"x->y": DirectionResult, "y->x": DirectionResult}``.
    trend : str
        How time was handled, in this layer's own words (see :data:`TRENDS`); :attr:`time`
        gives the same in the ``time`` vocabulary every family uses.
    seed : int or None
        The seed of every random draw.
    engine : dict
        The DoWhy ``CausalEstimate`` of each effect, by effect key.
    seconds : float
        Wall time of the whole causal layer.
    notes : list of str
        Plain-language remarks (assumptions, caveats).
    """

    panel: SessionPanel | None = field(default=None, repr=False)
    directions: dict[str, DirectionResult] = field(default_factory=dict)
    trend: str = "linear"
    seed: int | None = None

    @classmethod
    def from_directions(
        cls,
        panel: SessionPanel,
        directions: dict[str, DirectionResult],
        *,
        trend: str,
        seed: int | None,
        seconds: float = float("nan"),
        notes: list[str] | None = None,
        engine: dict[str, Any] | None = None,
    ) -> CausalResults:
        """The results of both directions in the contract's shape."""
        out = cls(
            model="dowhy",
            n_clients=max(d.n_clients for d in directions.values()),
            n_observations=max(d.n_observations for d in directions.values()),
            effects={"within": {k: d.effect for k, d in directions.items()}, "between": {}},
            params=pd.DataFrame(),
            diagnostics={"converged": True},
            excluded=merge_exclusions({d.outcome: d.excluded for d in directions.values()}),
            seconds=seconds,
            notes=list(notes or []),
            panel=panel,
            directions=directions,
            trend=trend,
            seed=seed,
            engine=dict(engine or {}),
        )
        out.params = out._params()
        return out

    def _params(self) -> pd.DataFrame:
        est = self.estimates
        if not len(est):
            return pd.DataFrame(columns=PARAM_COLUMNS)
        z = est["est"] / est["se"].where(est["se"] > 0)
        out = pd.DataFrame(
            {
                "lhs": [self.directions[k].outcome for k in est["effect"]],
                "op": "~",
                "rhs": [self.directions[k].treatment for k in est["effect"]],
                "est": est["est"],
                "se": est["se"],
                "z": z,
                "pvalue": 2 * stats.norm.sf(z.abs()),
                "ci.lower": est["lower"],
                "ci.upper": est["upper"],
                "effect": est["effect"],
                "data": est["data"],
                "se_type": est["se_type"],
            }
        )
        return out.reset_index(drop=True)

    def as_model_results(self) -> CausalResults:
        """Deprecated: the results are a :class:`ModelResults` themselves."""
        warnings.warn(
            "CausalResults.as_model_results() is deprecated: CausalResults is a ModelResults; "
            "use it directly.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self

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

    @property
    def time(self) -> str:
        """How time was handled, in every family's vocabulary: ``"none"``, ``"common"`` or
        ``"client"`` (the ``time=`` the analysis was built with)."""
        return {w: t for t, w in TIMES.items()}[self.trend]

    def to_dict(self) -> dict[str, Any]:
        """The results contract plus the causal tables: time, estimates, identification,
        refutations, sensitivity, benchmarks (JSON-safe). ``trend``/``trend_meaning`` repeat
        ``time`` in the layer's former words (kept for one release)."""
        out = super().to_dict()
        out.update(
            _jsonable(
                {
                    "time": self.time,
                    "time_meaning": TRENDS[self.trend],
                    "trend": self.trend,
                    "trend_meaning": TRENDS[self.trend],
                    "seed": self.seed,
                    "estimates": self.estimates.to_dict(orient="records"),
                    "identification": self.identification.to_dict(orient="records"),
                    "refutations": self.refutations.to_dict(orient="records"),
                    "sensitivity": self.sensitivity.to_dict(orient="records"),
                    "benchmarks": self.benchmarks.to_dict(orient="records"),
                }
            )
        )
        return out

    @property
    def placebo_draws(self) -> dict[str, np.ndarray]:
        """The placebo refuter's estimates (cause permuted within client), by effect key."""
        return {k: d.placebo_draws for k, d in self.directions.items() if len(d.placebo_draws)}

    #: How the report introduces the identification table (the report's causal section).
    identification_note = (
        "DoWhy is given the one-session slice of this graph. On raw scores the effect is "
        "not identified (stable traits open a back-door path no observed variable blocks); "
        "on within-client (person-mean-centred) scores the traits are gone and the back-door "
        "criterion gives the adjustment set below."
    )

    def draw_graph(self, **kwargs: Any) -> Any:
        """The unrolled causal graph (see :func:`draw_graph`)."""
        kwargs.setdefault("trend", self.trend == "linear")
        return draw_graph(self.panel, **kwargs)

    def plot_placebo(self) -> Any:
        """The within-client placebo estimates against the actual estimate, per effect."""
        import matplotlib.pyplot as plt

        draws = self.placebo_draws
        n = max(len(draws), 1)
        fig, axes = plt.subplots(1, n, figsize=(5.4 * n, 3.2))
        for ax, (key, d) in zip(np.atleast_1d(axes), draws.items(), strict=False):
            ax.hist(d, bins=20, color="#bbbbbb", label="placebo (permuted within client)")
            ax.axvline(self.directions[key].effect.est, color="#2ca02c", lw=2, label="estimate")
            ax.axvline(0, color="k", lw=0.8)
            ax.set_title(key, fontsize=10)
            ax.legend(fontsize=7)
        fig.suptitle(
            "Placebo refuter: the effect vanishes when the cause's timing is shuffled", fontsize=10
        )
        fig.tight_layout()
        return fig

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
