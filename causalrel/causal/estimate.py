"""Estimation: DoWhy's identification and back-door linear regression on the within-client
frame, with cluster-robust standard errors; :class:`CausalAnalysis` is the registered family
``dowhy``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import DOWHY, ignoring
from ..data import DataError, SessionPanel
from ..panel.design import check_clients_for_clustering, few_clients_note
from ..results import Effect
from . import refute as _refute
from .frame import TIMES, TRENDS, require_within_variation, within_frame
from .frame import lag_column as _lag
from .graph import slice_graph
from .results import CausalResults, DirectionResult

__all__ = ["CausalAnalysis", "causal_analysis"]

log = logging.getLogger(__name__)


def _quiet_dowhy() -> None:
    for name in ("dowhy", "dowhy.causal_model", "dowhy.causal_identifier", "dowhy.causal_refuters"):
        logging.getLogger(name).setLevel(logging.ERROR)


class CausalAnalysis:
    """DoWhy's identification, within-client estimation and refutation of both lagged effects.

    Parameters
    ----------
    panel : SessionPanel
        The validated data.
    time : {"common", "none", "client"}
        Change over sessions, in the words every family uses (:data:`TIMES`). Default
        ``"common"``: the session number, centred within client, is an observed common cause of
        every score (the average linear trend). ``"client"``: each client's own linear trend
        is removed from both scores first. ``"none"``: no time node.
    trend : {"linear", "none", "detrend"}, optional
        Deprecated spelling (one release) of ``time``: ``"linear"`` is ``"common"``,
        ``"detrend"`` is ``"client"``.

    Examples
    --------
    >>> res = CausalAnalysis(panel).fit(seed=1)           # doctest: +SKIP
    >>> res.estimates, res.refutations, res.sensitivity   # doctest: +SKIP
    """

    # -- what the family is (read by causalrel.families; see CONTRIBUTING.md) --
    name = "dowhy"
    summary = "causal layer (DoWhy): back-door identification, within-client estimate, refuters"
    assumes = (
        "Assumes the causal graph above: within-client (fixed-effects) regression adjusting for "
        "last session's outcome (and time), identified by DoWhy's back-door criterion."
    )
    distrust_when = (
        "Distrust it if a time-varying confounder could be as strong as the sensitivity table "
        "shows, and in short series (Nickell bias, as for fe)."
    )
    samples = False
    time_support = ("none", "common", "client")
    #: analyze's refuter simulations per effect, and the fewer ones of ``analyze --fast``.
    analyze_options = {"n_placebo": 200, "n_random_common_cause": 50, "n_subsets": 100}
    fast_options = {"n_placebo": 30, "n_random_common_cause": 20, "n_subsets": 20}
    #: How analyze's ``trend`` reaches it.
    trend_options = {w: {"time": t} for t, w in TIMES.items()}

    def __init__(
        self, panel: SessionPanel, *, time: str | None = None, trend: str | None = None
    ) -> None:
        if trend is not None:
            warnings.warn(
                "CausalAnalysis(trend=...) is deprecated; use time='common' (trend='linear'), "
                "time='client' (trend='detrend') or time='none'.",
                DeprecationWarning,
                stacklevel=2,
            )
            if trend not in TRENDS:
                raise DataError(f"trend must be one of {', '.join(TRENDS)}; got {trend!r}.")
            word = {w: t for t, w in TIMES.items()}[trend]
            if time is not None and time != word:
                raise DataError("dowhy: give time= or the deprecated trend=, not both.")
            time = word
        time = "common" if time is None else time
        if time not in TIMES:
            raise DataError(
                f"dowhy: time must be one of {', '.join(repr(t) for t in TIMES)}; got {time!r}."
            )
        self.panel = panel
        self.time = time
        self.trend = TIMES[time]  # the frame's word for it (causal.frame.TRENDS)

    def fit(
        self,
        *,
        refute: bool = True,
        n_placebo: int = 100,
        n_random_common_cause: int = 50,
        n_subsets: int = 50,
        subset_fraction: float = 0.8,
        seed: int | None = 1,
        level: float = 0.95,
        progress: bool = True,
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
        level : float
            Level of the intervals (cluster-robust Wald intervals).
        progress : bool
            Show tqdm progress bars on standard error (the refuters refit each effect hundreds
            of times; on by default like every long-running step in causalrel).

        Returns
        -------
        CausalResults
        """
        if not 0 < subset_fraction < 1:
            raise DataError(f"subset_fraction must lie between 0 and 1; got {subset_fraction}.")
        _quiet_dowhy()
        start = perf_counter()
        rng = np.random.default_rng(seed)
        p = self.panel
        directions, engine = {}, {}
        for cause, outcome in ((p.x, p.y), (p.y, p.x)):
            d = self._direction(cause, outcome, level)
            if refute:
                _refute.refute(
                    d, rng, n_placebo, n_random_common_cause, n_subsets, subset_fraction, progress
                )
            directions[d.key] = d
            engine[d.key] = d._estimate  # type: ignore[attr-defined]  # DoWhy's CausalEstimate
            # Keep the other DoWhy objects and the frame out of the result.
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
            f"Intervals are {level:.0%} cluster-robust by client; DoWhy's own OLS intervals treat "
            "sessions as independent and are shown for comparison. The robustness value at the "
            "5% level is computed by DoWhy from those OLS errors and is therefore optimistic.",
        ]
        few = few_clients_note(min(d.n_clients for d in directions.values()))
        notes += [few] if few else []
        return CausalResults.from_directions(
            p,
            directions,
            trend=self.trend,
            seed=seed,
            seconds=perf_counter() - start,
            notes=notes,
            engine=engine,
        )

    # -- one direction --------------------------------------------------------------------
    def _time_node(self) -> str | None:
        return self.panel.session if self.trend == "linear" else None

    def _direction(self, cause: str, outcome: str, level: float = 0.95) -> DirectionResult:
        from dowhy import CausalModel

        p = self.panel
        raw, within, excluded = within_frame(p, cause, outcome, trend=self.trend)
        treatment = _lag(cause)
        require_within_variation(raw, within, [treatment, outcome])
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
        check_clients_for_clustering(
            "dowhy",
            int(pd.unique(groups).size),
            len(ols.params),
            f"the effect of {treatment} on {outcome}",
        )
        clustered = _refit_clustered(ols, groups)
        est = float(estimate.value)
        if not np.isclose(clustered.params.iloc[1], est, rtol=1e-8, atol=1e-10):
            raise RuntimeError("DoWhy's estimate and the clustered refit disagree; please report.")
        effect = Effect.from_normal(est, float(clustered.bse.iloc[1]), level)
        scale = float(raw[outcome].std()) / max(float(raw[treatment].std()), 1e-300)
        if not np.isfinite(effect.se) or effect.se <= 1e-9 * scale:
            raise DataError(
                f"The within-client effect of {treatment} on {outcome} is numerically degenerate "
                f"(standard error {effect.se:.1g}): the data leave nothing to estimate it from. "
                "Check that both variables vary within clients."
            )
        effect_ols = Effect.from_normal(est, float(ols.bse.iloc[1]), level)
        # The contrast: the same regression on raw scores, where the traits still confound.
        raw_fit = _ols_clustered(raw, outcome, [treatment, *adjustment])
        raw_effect = Effect.from_normal(raw_fit.params[treatment], raw_fit.bse[treatment], level)
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


def _refit_clustered(ols: Any, groups: np.ndarray) -> Any:
    """DoWhy's statsmodels OLS refitted with standard errors clustered by client."""
    return ols.model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(groups)[0]})


def _ols_clustered(frame: pd.DataFrame, outcome: str, regressors: Sequence[str]) -> Any:
    import statsmodels.api as sm

    X = sm.add_constant(frame[list(regressors)].astype(float))
    return sm.OLS(frame[outcome].astype(float), X).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["client"])[0]}
    )


def causal_analysis(
    panel: SessionPanel,
    *,
    time: str = "common",
    fast: bool = False,
    seed: int | None = 1,
    progress: bool = True,
) -> CausalResults:
    """Run the causal layer with ``analyze``'s settings (``CausalAnalysis.analyze_options``, or
    ``fast_options`` when ``fast``).

    Parameters
    ----------
    panel : SessionPanel
    time : {"common", "none", "client"}
    fast : bool
        30 placebo permutations, 20 random common causes and 20 client subsets per effect
        instead of 200, 50 and 100.
    seed : int, optional
    progress : bool

    Returns
    -------
    CausalResults
    """
    n = CausalAnalysis.fast_options if fast else CausalAnalysis.analyze_options
    return CausalAnalysis(panel, time=time).fit(**n, seed=seed, progress=progress)
