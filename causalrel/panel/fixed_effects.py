"""Fixed-effects (within) estimator of the cross-lagged model, on linearmodels' ``PanelOLS``.

Each client is compared only with themselves: client fixed effects absorb every stable
difference between clients (Allison 2009), so the lagged effects are within-client effects in
raw units. Both equations are estimated::

    y_it = b_yx x_i,t-1 + b_yy y_i,t-1 (+ session effect) + α_i + e_it
    x_it = b_xx x_i,t-1 + b_xy y_i,t-1 (+ session effect) + α_i + e_it

as R plm's ``plm(y ~ lag(x) + lag(y), model = "within")``. Lags are by session number: a lag
across a missed session is missing (:meth:`SessionPanel.lagged`). Standard errors are clustered
by client (the "arellano"/HC0 estimator, no small-sample factor; plm's
``vcovHC(type = "HC0", cluster = "group")``).

With the lagged outcome in the model the within estimator is biased in short panels (Nickell
1981: about ``-(1 + ρ)/(T - 1)`` for the autoregression ``ρ`` with ``T`` sessions per client);
:class:`~causalrel.panel.gmm.DynamicPanel` removes that bias. ``lagged_outcome=False`` drops the
autoregression (no Nickell bias from it, but the cross-lag then also carries the outcome's
own persistence).
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from linearmodels.panel import PanelOLS
from linearmodels.panel.utility import AbsorbingEffectError

from ..data import DataError, SessionPanel, client_column
from ..results import Effect, effect_key
from .design import lag_name, within_design
from .results import PanelResults, param_rows

__all__ = ["FixedEffects"]

COV_TYPES = ("clustered", "robust", "unadjusted")


class FixedEffects:
    """Cross-lagged fixed-effects model (``causalrel fit fe``).

    Parameters
    ----------
    panel : SessionPanel
    time_effects : bool
        Also absorb session effects (a common level per session number), e.g. the average
        trend of improvement that would otherwise show up as a negative within-client link.
    detrend : bool
        Remove each client's own linear trend from both variables first
        (:func:`causalrel.decompose.detrend`; clients with fewer than 3 ratings of a
        variable lose them). Falkenström et al. (2017) found estimates depend strongly on it.
    lagged_outcome : bool
        Include the outcome's own lag (default). ``False`` fits ``y_t ~ x_{t-1}`` and
        ``x_t ~ y_{t-1}``; the autoregressive effects are then absent from ``effects``.

    Examples
    --------
    >>> from causalrel.simulate import simulate
    >>> res = FixedEffects(simulate(200, 10, seed=1).panel()).fit()
    >>> res.effects["within"]["alliance->symptoms"].est < 0
    True
    """

    # -- what the family is (read by causalrel.families; see CONTRIBUTING.md) --
    name = "fe"
    summary = "fixed-effects regression on lagged values (within-client; short-panel bias)"
    assumes = (
        "Assumes that removing each client's mean (fixed effects) removes all confounding, and "
        "that last session's scores are the only lagged influences."
    )
    distrust_when = (
        "Distrust it in short series: with a lagged outcome it is biased by order 1/T (Nickell "
        "1981); shared trends also bias it unless removed."
    )
    samples = False
    time_support = ()  # no time option yet (issue 13)

    def __init__(
        self,
        panel: SessionPanel,
        *,
        time_effects: bool = False,
        detrend: bool = False,
        lagged_outcome: bool = True,
    ) -> None:
        self.panel = panel
        self.time_effects = bool(time_effects)
        self.detrend = bool(detrend)
        self.lagged_outcome = bool(lagged_outcome)

    def fit(
        self, *, cov_type: str = "clustered", debiased: bool = False, cluster: str | None = None
    ) -> PanelResults:
        """Estimate both equations with PanelOLS.

        Parameters
        ----------
        cov_type : {"clustered", "robust", "unadjusted"}
            Standard errors clustered by client (default), heteroskedasticity-robust, or
            classical.
        debiased : bool
            Apply linearmodels' small-sample scaling ``n / (n - d - k)`` (``d`` estimated effects
            not nested in the clusters, ``k`` regressors). Default ``False``: the plain
            (HC0) estimator, identical to plm's ``vcovHC(method = "arellano", type = "HC0")``.
        cluster : str, optional
            Cluster the standard errors by this client-level column instead of the client
            (e.g. ``"therapist"``: clients nested in therapists); linearmodels' clustered
            covariance, HC0 as above (equal to ``sandwich::vcovCL(type = "HC0",
            cadjust = FALSE)`` on the dummy-variable regression). The same option as the SEM
            families' ``cluster``.

        Returns
        -------
        PanelResults
            ``effects["within"]``: ``"x->y"``, ``"y->x"`` and (with the lagged outcome)
            ``"x->x"``, ``"y->y"``, raw units; ``fit``: R² of each equation (``"r2.<outcome>"``,
            within clients, and after session effects if any) and its number of rows.
        """
        if cov_type not in COV_TYPES:
            raise DataError(f"cov_type must be one of {', '.join(COV_TYPES)}; got {cov_type!r}.")
        panel = self.panel
        notes: list[str] = []
        if self.detrend:
            from ..decompose import detrend

            panel = detrend(panel, panel.variables)
            notes.append("Variables were detrended (each client's linear session trend removed).")
        x, y = panel.x, panel.y
        if cluster is not None and cov_type != "clustered":
            raise DataError("cluster= needs cov_type='clustered' (the default).")
        codes = client_column(panel, cluster, "cluster", "the therapist") if cluster else None
        start = time.perf_counter()
        eqs: dict[str, Any] = {}
        designs = {}
        for outcome, cause in ((y, x), (x, y)):
            causes = [x, y] if self.lagged_outcome else [cause]
            design = within_design(panel, outcome, causes)
            frame = design.frame
            mod = PanelOLS(
                frame[outcome],
                frame[design.regressors],
                entity_effects=True,
                time_effects=self.time_effects,
            )
            opts: dict[str, Any] = {"debiased": debiased}
            if cov_type == "clustered":
                # HC0 clustered by client unless debiased: the client effects are nested in
                # the clusters, and session effects are not counted either (as plm's HC0)
                opts.update(auto_df=debiased, count_effects=debiased)
                if codes is None:
                    opts["cluster_entity"] = True
                else:
                    clients = frame.index.get_level_values(0)
                    opts["clusters"] = pd.DataFrame(
                        {"cluster": codes.reindex(clients).to_numpy()}, index=frame.index
                    )
            try:
                eqs[outcome] = mod.fit(cov_type=cov_type, **opts)
            except (ValueError, AbsorbingEffectError) as exc:
                raise DataError(
                    f"The fixed-effects equation for {outcome} cannot be estimated: {exc}"
                ) from exc
            designs[outcome] = design
        seconds = time.perf_counter() - start

        within: dict[str, Effect] = {}
        rows: list[dict] = []
        fit: dict[str, Any] = {}
        excluded: dict[str, int] = {}
        for outcome, res in eqs.items():
            for cause in (x, y):
                name = lag_name(cause)
                if name in res.params.index:
                    within[effect_key(cause, outcome)] = Effect.from_normal(
                        res.params[name], res.std_errors[name]
                    )
            rows += param_rows(outcome, list(res.params.index), res.params, res.std_errors)
            fit[f"r2.{outcome}"] = float(res.rsquared)
            fit[f"nobs.{outcome}"] = int(res.nobs)
            excluded.update(designs[outcome].excluded)
        notes.append(
            "Client fixed effects (within estimator); SEs "
            + (
                (f"clustered by {cluster}" if cluster else "clustered by client")
                if cov_type == "clustered"
                else cov_type
            )
            + ("; session effects" if self.time_effects else "")
            + (
                ". With a lagged outcome and few sessions per client the within estimator is "
                "biased downwards (Nickell 1981); compare the dynamic panel (dpd)."
                if self.lagged_outcome
                else ". No lagged outcome."
            )
        )
        clients = set()
        for d in designs.values():
            clients |= set(d.frame.index.get_level_values(0))
        return PanelResults(
            model="fe",
            n_clients=len(clients),
            n_observations=int(eqs[y].nobs),
            effects={"within": within, "between": {}},
            params=pd.DataFrame(rows),
            fit=fit,
            diagnostics={"converged": True},
            excluded=excluded,
            seconds=seconds,
            notes=notes,
            equations=eqs,
        )
