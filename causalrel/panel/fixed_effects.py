"""Fixed-effects (within) estimator of the cross-lagged model, on linearmodels' ``PanelOLS``.

Each client is compared only with themselves: client fixed effects absorb every stable
difference between clients (Allison 2009), so the lagged effects are within-client effects in
raw units. Both equations are estimated::

    y_it = b_yx x_i,t-1 + b_yy y_i,t-1 (+ δ_t) (+ γ_i t) + α_i + e_it
    x_it = b_xx x_i,t-1 + b_xy y_i,t-1 (+ δ_t) (+ γ_i t) + α_i + e_it

as R plm's ``plm(y ~ lag(x) + lag(y), model = "within")``. ``time`` decides the time terms:
``"none"`` (default) neither; ``"common"`` session fixed effects ``δ_t`` (plm's ``effect =
"twoways"``); ``"client"`` session effects and each client's own linear trend ``γ_i t`` (the
random-trend model, Wooldridge 2010 sec. 11.7), estimated by partialling client intercepts and
trends out of the rows used (Frisch–Waugh; equal to the dummy-variable regression with
``client + client:session + session``, checked against R's ``lm`` + ``sandwich::vcovCL``). It
is not detrending the data before lagging (the deprecated ``detrend=True``), which removes a
trend fitted to the whole series, lags included. Lags are by session number: a lag
across a missed session is missing (:meth:`SessionPanel.lagged`). Standard errors are clustered
by client (the "arellano"/HC0 estimator, no small-sample factor; plm's
``vcovHC(type = "HC0", cluster = "group")``), or by a client-level column such as the therapist
(``cluster="therapist"``), or two-way (``cluster=["therapist", "session"]`` or
``["client", "session"]``: Cameron, Gelbach & Miller 2011, ``V_A + V_session - V_(A x
session)``, linearmodels' two-column clusters; equal to ``sandwich::vcovCL`` with two cluster
variables and to plm's ``vcovDC`` for client and session, tests/reference/plm/plm_cluster_twoway.R).
Two-way clustering applies where the rows share shocks along two crossed dimensions: the
therapist's clients (or the client's own sessions) and the session number (e.g. the same week of
treatment); two client-level columns are not crossed with each other here (one nests the other,
or use the coarser one).

With the lagged outcome in the model the within estimator is biased in short panels (Nickell
1981: about ``-(1 + ρ)/(T - 1)`` for the autoregression ``ρ`` with ``T`` sessions per client);
:class:`~causalrel.panel.dynamic.DynamicPanel` removes that bias. ``lagged_outcome=False`` drops the
autoregression (no Nickell bias from it, but the cross-lag then also carries the outcome's
own persistence).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from linearmodels.panel import PanelOLS
from linearmodels.panel.utility import AbsorbingEffectError

from ..data import DataError, SessionPanel, client_column
from ..design import detrend_panel, merge_exclusions
from ..results import Effect, effect_key
from .design import (
    check_clients_for_clustering,
    check_clusters,
    cluster_columns,
    cluster_note,
    few_clients_note,
    lag_name,
    partial_client_trends,
    resolve_time,
    twoway_note,
    within_design,
)
from .results import PanelResults, param_rows

__all__ = ["FixedEffects"]

COV_TYPES = ("clustered", "robust", "unadjusted")


class FixedEffects:
    """Cross-lagged fixed-effects model (``causalrel fit fe``).

    Parameters
    ----------
    panel : SessionPanel
    time : {"none", "common", "client"}
        Change over sessions: none (default); ``"common"``: session fixed effects (a level per
        session number shared by all clients, e.g. the average improvement that would
        otherwise show up as a negative within-client link); ``"client"``: session effects and
        each client's own linear trend. A client needs four usable rows to add information
        beyond its own trend. ``"none"`` stays the default: benchmarks/validate_panel_time.py
        finds no value right in every world and size, because of the Nickell bias (the
        reverse cross-lag's intervals cover the truth in at most a quarter of the data sets);
        with a shared trend use ``"common"``, or the dynamic panel (dpd).
    time_effects : bool, optional
        Deprecated: ``time="common"``.
    detrend : bool, optional
        Deprecated (one release): removes each client's linear trend from both variables
        before lagging (:func:`causalrel.decompose.detrend`); use ``time="client"``.
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
    time_support = ("none", "common", "client")

    def __init__(
        self,
        panel: SessionPanel,
        *,
        time: str = "none",
        lagged_outcome: bool = True,
        time_effects: bool | None = None,
        detrend: bool | None = None,
    ) -> None:
        self.panel = panel
        self.time, self.detrend = resolve_time("fe", time, time_effects, detrend)
        self.lagged_outcome = bool(lagged_outcome)

    def fit(
        self,
        *,
        cov_type: str = "clustered",
        debiased: bool = False,
        cluster: str | Sequence[str] | None = None,
        level: float = 0.95,
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
            families' ``cluster``. Two columns (a list, or ``"therapist,session"``) give
            two-way clustering (Cameron, Gelbach & Miller 2011; module docstring): a
            client-level column or the client, crossed with the session column. The session
            column alone clusters by session number.
        level : float
            Level of the Wald intervals of ``effects`` and ``params`` (default 0.95).

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
            panel, note = detrend_panel(panel)
            notes.append(note)
        x, y = panel.x, panel.y
        if cluster is not None and cov_type != "clustered":
            raise DataError("cluster= needs cov_type='clustered' (the default).")
        columns = cluster_columns(panel, cluster)
        codes = {
            c: client_column(panel, c, "cluster", "the therapist")
            for c in columns
            if c not in (panel.client, panel.session)
        }
        start = time.perf_counter()
        eqs: dict[str, Any] = {}
        designs = {}
        n_clusters = dict.fromkeys(columns, 0)
        clients_used: list[int] = []  # clients per equation when clustered by client
        for outcome, cause in ((y, x), (x, y)):
            causes = [x, y] if self.lagged_outcome else [cause]
            design = within_design(panel, outcome, causes)
            frame, exog = design.frame, design.regressors
            if self.time == "client":  # client intercepts and trends partialled out
                frame, dummies = partial_client_trends(design, panel.client, panel.session)
                exog = [*exog, *dummies]
            mod = PanelOLS(
                frame[outcome],
                frame[exog],
                entity_effects=self.time != "client",
                time_effects=self.time == "common",
            )
            opts: dict[str, Any] = {"debiased": debiased}
            if cov_type == "clustered":
                # HC0 clustered by client unless debiased: the client effects are nested in
                # the clusters, and session effects are not counted either (as plm's HC0)
                opts.update(auto_df=debiased, count_effects=debiased)
                if not columns:
                    opts["cluster_entity"] = True
                    n_clients = int(frame.index.get_level_values(0).nunique())
                    clients_used.append(n_clients)
                    check_clients_for_clustering(
                        "fe", n_clients, len(design.regressors), f"the {outcome} equation"
                    )
                else:
                    labels = {}
                    for c in columns:
                        idx = frame.index.get_level_values(int(c == panel.session))
                        values = codes[c].reindex(idx) if c in codes else idx
                        labels[c] = pd.factorize(np.asarray(values))[0]
                        k = int(labels[c].max()) + 1
                        n_clusters[c] = max(n_clusters[c], k)
                        check_clusters(k, c, outcome)
                    opts["clusters"] = pd.DataFrame(labels, index=frame.index)
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
        for outcome, res in eqs.items():
            for cause in (x, y):
                name = lag_name(cause)
                if name in res.params.index:
                    within[effect_key(cause, outcome)] = Effect.from_normal(
                        res.params[name], res.std_errors[name], level
                    )
            lags = [n for n in res.params.index if n in designs[outcome].regressors]
            rows += param_rows(outcome, lags, res.params[lags], res.std_errors[lags], level)
            fit[f"r2.{outcome}"] = float(res.rsquared)
            fit[f"nobs.{outcome}"] = int(res.nobs)
        notes.append(
            "Client fixed effects (within estimator); SEs "
            + (
                (f"clustered by {' and '.join(columns)}" if columns else "clustered by client")
                if cov_type == "clustered"
                else cov_type
            )
            + {
                "none": "",
                "common": "; session effects",
                "client": "; session effects and client-specific linear trends",
            }[self.time]
            + (
                ". With a lagged outcome and few sessions per client the within estimator is "
                "biased downwards (Nickell 1981); compare the dynamic panel (dpd)."
                if self.lagged_outcome
                else ". No lagged outcome."
            )
        )
        few = few_clients_note(min(clients_used)) if clients_used else None
        notes += [few] if few else []
        if len(columns) == 1:
            notes.append(cluster_note(columns[0], n_clusters[columns[0]]))
        elif columns:
            notes.append(twoway_note(n_clusters))
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
            excluded=merge_exclusions({o: d.excluded for o, d in designs.items()}),
            seconds=seconds,
            notes=notes,
            engine=eqs,
        )
