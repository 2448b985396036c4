"""MLM: the person-mean-centred multilevel model of Falkenström, Granström & Holmqvist (2013).

Two equations, one per direction, each a two-level (optionally three-level) linear model::

    y_i,t+1 = b0 + b1 xw_it + b2 yw_it + b3 xb_i + u0_i + u1_i xw_it [+ v_j] + e
    x_i,t+1 = c0 + c1 xw_it + c2 yw_it + c3 yb_i + u0'_i + u1'_i yw_it [+ v'_j] + e'

``xw_it = x_it - xb_i`` is the session's deviation from the client's mean ``xb_i`` over the
client's observed sessions (person-mean centring, within) and ``xb_i`` is entered grand-mean
centred (between); ``(u0, u1)`` are correlated random intercepts and slopes of the cross-lag,
``v_j`` an optional therapist intercept. Lags are matched by session number, so a missed
session makes the next row's predictors missing rather than reaching back two sessions.

Because the observed client mean includes the outcome's own future, the within coefficients
carry the Nickell (1981) bias of order ``-(1 + rho) / (T - 1)`` in short series: ``DSEM``
(latent centring) removes it; this model is here as the field's standard and for comparison.
It is written directly in PyMC rather than through bambi so that its priors, parameterisation
(non-centred random effects, as in brms) and outputs match the DSEM and the brms reference.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import INFERENCEDATA, ignoring
from ..data import DataError, SessionPanel
from ..design import (
    add_lags,
    centre_within,
    lag_exclusions,
    lag_name,
    merge_exclusions,
    person_means,
)
from ..results import Effect, between_key, effect_key
from .base import BayesModel
from .blas import settle_blas
from .common import check_n_clients, client_rows, effect, param_row, params_frame, warn_clients
from .ppc import Replicates
from .priors import Prior, describe_priors, prior_key, resolve_priors, sd_corr_cholesky
from .results import BayesResults

__all__ = ["MLM", "mlm_design"]

#: What the ``time`` default rests on (issue 13: a default must be shown right, or its notes say
#: why not). Measured at the default sampler settings (``benchmarks/validate_bayes_time.py
#: --sampler default --times none,client``; ``benchmarks/results/
#: validate_bayes_time_default_mlm_dsem.txt``).
TIME_NOTE = (
    "time='{time}'. Neither time='none' nor time='client' made the MLM's two cross-lags right "
    "in all three simulated worlds of the committed validation (no trend, a shared trend, client trajectories; 150 "
    "clients x 8 sessions; benchmarks/results/validate_bayes_time_default_mlm_dsem.txt): "
    "centring on observed client means biased symptoms->alliance under every setting, by "
    "+0.05 to +0.07 (truth -0.1) with time='client' and by -0.03 to +0.04 with time='none' (the "
    "default, right in the shared-trend world only). For the cross-lags prefer the DSEM "
    "(latent centring: with its default time='client' its cross-lags were unbiased in all "
    "three); the MLM is the familiar comparison."
)

CLASSES = ("Intercept", "b", "sd", "sigma", "cor", "sd_therapist")


def mlm_design(panel: SessionPanel) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The two equations' data: outcome at session t+1, within and between predictors at t.

    Returns ``({outcome: frame}, info)``; each frame has columns ``client, session`` (of the
    outcome), ``[therapist,] outcome, {x}_within, {y}_within, {cause}_between`` where the
    between column is the client mean of the other variable (grand-mean centred over clients).
    ``info`` lists clients that cannot be used and why, and ``excluded``: the rows and clients
    left out per the contract's vocabulary (:data:`causalrel.design.EXCLUSIONS`). Lags,
    centring and the exclusion counts come from the shared design layer
    (:mod:`causalrel.design`), as in the other families.
    """
    x, y, c, s = panel.x, panel.y, panel.client, panel.session
    d = panel.data
    means = person_means(d, c, [x, y])
    info: dict[str, Any] = {"no_values": {}, "no_lag": []}
    for v in (x, y):
        none = list(means.index[means[v].isna()])
        if none:
            info["no_values"][v] = none
    cols = [c, s] + ([panel.therapist] if panel.therapist else [])
    _, within = centre_within(d, c, [x, y])
    frame = d[cols + [x, y]].copy()
    wcols = [f"{x}_within", f"{y}_within"]
    frame[wcols] = within[[x, y]].to_numpy()
    # the predictors are the previous session's deviations (by session number), under the
    # current deviations' names
    lagged = add_lags(frame, c, s, wcols).drop(columns=wcols)
    lagged = lagged.rename(columns={lag_name(w): w for w in wcols})
    centred = means - means.mean()
    eqs: dict[str, pd.DataFrame] = {}
    counts: dict[str, dict[str, int]] = {}
    for out, other in ((y, x), (x, y)):
        e = lagged.copy()
        e[f"{other}_between"] = e[c].map(centred[other])
        need = [out, *wcols, f"{other}_between"]
        used, counts[out] = lag_exclusions(
            e,
            c,
            s,
            lagged=e[[*wcols, f"{other}_between"]].notna().all(axis=1).to_numpy(),
            current=e[out].notna().to_numpy(),
        )
        eqs[out] = e.loc[used, cols + need].reset_index(drop=True)
    used = set(eqs[x][c]) | set(eqs[y][c])
    info["no_lag"] = [k for k in d[c].unique() if k not in used]
    info["excluded"] = merge_exclusions(counts)
    return eqs, info


class MLM(BayesModel):
    """Person-mean-centred multilevel model with random intercepts and cross-lag slopes.

    Parameters
    ----------
    panel : SessionPanel
        The data (:func:`causalrel.load_panel`). ``x`` is the alliance, ``y`` the symptoms.
    time : {"none", "common", "client"}
        Change over sessions (issue 13's vocabulary). ``"none"`` (default): no session term.
        ``"common"``: a fixed effect of session (the outcome's session number, centred) in
        both equations, i.e. change shared by all clients. ``"client"``: that effect plus its
        random slope (each client's own linear trajectory), in the clients' covariance with
        the intercept and the cross-lag slope.
    therapist : bool, optional
        Add a therapist random intercept to both equations (three levels). Default: when the
        panel has a therapist column.
    detrend : bool
        Deprecated (one release): remove each client's linear trend first
        (:func:`causalrel.decompose.detrend`); ``time="client"`` models the trends instead.
    centred_intercepts : bool
        Sample the client intercepts centred (default; the slopes stay non-centred given
        them). Several sessions per client pin a client's level down, where non-centred
        intercepts mix poorly (measured: bulk ESS of the intercept ~40 of 2000 draws). The
        joint prior is the same either way.
    priors : mapping, optional
        Priors replacing the data-scaled defaults, by class (``Intercept b sd sigma cor
        sd_therapist``, both equations) or ``"{outcome}:{class}"`` (one equation), in raw
        units. Defaults, for outcome o: Intercept ~ normal(mean o, 2.5 sd o); b ~ normal(0,
        2.5 sd o / sd predictor); sd ~ halfnormal(sd o) for the intercept and sd o / sd of
        the slope's predictor for the slope; sigma ~ halfnormal(sd o); cor ~ lkj(2);
        sd_therapist ~ halfnormal(sd o).
    reuse : bool
        Build the model for reuse (:mod:`causalrel.bayes.compiled`): data as ``pm.Data``
        containers, so that another model of the same structure (family, options, sizes) in this
        process samples with this one's compiled code and new data, paying sampling only. Costs
        the first compilation about 1.4x (measured, see ``BayesModel._data``); for repeated fits
        of one design (validation grids, power studies). Default ``False``: one fit, constants.

    Examples
    --------
    >>> res = MLM(panel).fit(seed=1)  # doctest: +SKIP
    >>> res.within  # doctest: +SKIP
    """

    # -- what the family is (read by causalrel.families; see CONTRIBUTING.md) --
    name = "mlm"
    summary = "Bayesian multilevel model of person-mean-centred lags (PyMC)"
    assumes = (
        "Assumes a Bayesian multilevel regression on person-mean-centred predictors with random "
        "intercepts and slopes; the observed client mean stands in for the true one."
    )
    distrust_when = (
        "Distrust it in short series (centring on observed means carries Nickell-type bias) and "
        "whenever R-hat > 1.01, divergences or a small effective sample size are reported."
    )
    samples = True
    between_meaning = (
        "regression slope of the outcome on the client's mean of the other score "
        "(a slope in raw units, not a correlation)"
    )
    time_support = ("none", "common", "client")
    #: analyze's sampler settings: at 1000 draws the random-effect SDs of the shipped data fell
    #: short of the diagnostics (bulk ESS ~320 < 400, R-hat 1.012: benchmarks/results/).
    analyze_options = {"draws": 2000, "tune": 1000, "chains": 4}

    def __init__(
        self,
        panel: SessionPanel,
        *,
        time: str | None = None,
        therapist: bool | None = None,
        detrend: bool = False,
        centred_intercepts: bool = True,
        priors: Mapping[str, Any] | None = None,
        reuse: bool = False,
    ) -> None:
        self.reuse = bool(reuse)
        self.centred_intercepts = bool(centred_intercepts)
        self.time = self._time(time, None, self.name)
        if self.time != "none" and detrend:
            raise DataError(
                f"mlm: choose one of time='{self.time}' (session effect in the model) and "
                "detrend=True (observed trends removed before fitting), not both."
            )
        self._setup(panel, therapist=therapist, detrend=detrend)
        panel = self.panel
        self.eqs, info = mlm_design(panel)
        self.excluded: dict[str, int] = dict(info["excluded"])
        for v, clients in info["no_values"].items():
            self.notes.append(
                warn_clients(
                    f"mlm: '{v}' is missing in every session of {len(clients)} client(s), so "
                    "their client mean and within-client deviations are undefined; their rows "
                    "are left out",
                    clients,
                )
            )
        if info["no_lag"]:
            self.notes.append(
                warn_clients(
                    f"mlm: {len(info['no_lag'])} client(s) have no two consecutive sessions "
                    "with ratings, so no lag; they are left out",
                    info["no_lag"],
                )
            )

        for out, e in self.eqs.items():
            if len(e) == 0:
                raise DataError(
                    f"mlm: no client has two consecutive sessions with '{out}' and both "
                    "predictors observed; the model cannot be fitted."
                )
            msg = check_n_clients(
                e[panel.client].unique(),
                2,
                f"mlm ({out} equation)",
                "a model without random slopes",
            )
            if msg:
                self.notes.append(msg)
        self.priors = self._priors(priors)
        self.model = None

    # -- priors ---------------------------------------------------------------------------------
    def _preds(self, out: str) -> list[str]:
        x, y = self.panel.x, self.panel.y
        other = x if out == y else y
        preds = [f"{x}_within", f"{y}_within", f"{other}_between"]
        return preds + ([self.panel.session] if self.time != "none" else [])

    def _tag(self, out: str) -> str:
        """PyMC name prefix of an equation (``y``: the symptoms equation, ``x``: the alliance's)."""
        return "y" if out == self.panel.y else "x"

    def _slope(self, out: str) -> str:
        x, y = self.panel.x, self.panel.y
        return f"{x}_within" if out == y else f"{y}_within"

    def default_priors(self) -> dict[str, Prior]:
        """The data-scaled default priors, ``"{outcome}:{class}"``."""
        out_priors: dict[str, Prior] = {}
        for out, e in self.eqs.items():
            so = float(e[out].std(ddof=1)) or 1.0
            sp = np.array([float(e[p].std(ddof=1)) or 1.0 for p in self._preds(out)])
            ss = float(e[self._slope(out)].std(ddof=1)) or 1.0
            out_priors[f"{out}:Intercept"] = Prior(
                "normal", mu=float(e[out].mean()), sigma=2.5 * so
            )
            out_priors[f"{out}:b"] = Prior("normal", mu=0.0, sigma=2.5 * so / sp)
            sd = [so, so / ss]
            if self.time == "client":  # the session slope's SD: sd o per SD of session
                sd.append(so / (float(e[self.panel.session].std(ddof=1)) or 1.0))
            out_priors[f"{out}:sd"] = Prior("halfnormal", sigma=np.array(sd))
            out_priors[f"{out}:sigma"] = Prior("halfnormal", sigma=so)
            out_priors[f"{out}:cor"] = Prior("lkj", eta=2.0)
            if self.therapist:
                out_priors[f"{out}:sd_therapist"] = Prior("halfnormal", sigma=so)
        return out_priors

    def _priors(self, user: Mapping[str, Any] | None) -> dict[str, Prior]:
        expanded: dict[str, Any] = {}
        for key, prior in (user or {}).items():
            if key in CLASSES:
                for out in self.eqs:
                    expanded.setdefault(f"{out}:{key}", prior)
            else:
                expanded[key] = prior
        for key, prior in (user or {}).items():  # equation-specific keys win over class keys
            if key not in CLASSES:
                expanded[key] = prior
        return resolve_priors(self.default_priors(), expanded)

    # -- model ----------------------------------------------------------------------------------
    def build(self):
        """The PyMC model: both equations in one model (independent likelihoods)."""
        if self.model is not None:
            return self.model
        import pymc as pm
        import pytensor.tensor as pt

        settle_blas()  # before anything compiles: no BLAS warning users cannot act on

        c = self.panel.client
        with pm.Model() as model:
            for out, e in self.eqs.items():
                p = {
                    k.split(":", 1)[1]: v for k, v in self.priors.items() if k.startswith(out + ":")
                }
                tag = self._tag(out)
                clients, cid = np.unique(e[c].to_numpy(), return_inverse=True)
                Xv = np.array(e[self._preds(out)], dtype=float)  # writable copy (pandas 3 CoW)
                if self.time != "none":  # session, centred: the intercept is at the mean session
                    Xv[:, 3] -= Xv[:, 3].mean()
                # data and data-scaled prior parameters are pm.Data containers, so that the
                # compiled model is reused with new data of the same structure (compiled.py)
                X = self._data(f"{tag}_X", Xv)
                slope = self._data(f"{tag}_slope", np.array(e[self._slope(out)], dtype=float))
                cid_d = self._data(f"{tag}_cid", cid.astype(np.int64))
                b0 = p["Intercept"].make(f"{tag}_Intercept", data=self.reuse)
                b = p["b"].make(f"{tag}_b", shape=Xv.shape[1], data=self.reuse)
                k = 3 if self.time == "client" else 2  # random effects per client
                # SDs and correlation as separate parameters (sd_corr_cholesky): with
                # LKJCholeskyCov the client slope SD mixed poorly where its posterior reaches
                # zero (measured: 120 clients x 10 sessions in 20 therapists, 4 x 1000 draws,
                # two seeds: bulk ESS 180-230, R-hat 1.02; separate: 360-440, sampling 3x faster)
                chol = sd_corr_cholesky(
                    f"{tag}_chol", k, p["cor"].params["eta"], p["sd"], data=self.reuse
                )
                n = len(clients)
                # client-level part of the location: intercept + between predictor
                xb = np.zeros(n)
                xb[cid] = Xv[:, 2]
                loc = b0 + b[2] * self._data(f"{tag}_xb", xb)
                row_therapist = None
                if self.therapist:
                    # therapist intercepts, non-centred (their SD is often near zero); nested in
                    # the client intercepts' location when each client has one therapist, so
                    # that a therapist's shift and its clients' intercepts do not trade off
                    # along a ridge of the likelihood (measured: R-hat 1.03 at sd_therapist
                    # with the shift added to the rows instead)
                    ther, tid = np.unique(e[self.panel.therapist].to_numpy(), return_inverse=True)
                    sd_t = p["sd_therapist"].make(f"{tag}_sd_therapist", data=self.reuse)
                    z_t = pm.Normal(f"{tag}_z_therapist", 0.0, 1.0, shape=len(ther))
                    v_t = sd_t * z_t
                    per_client = np.full(n, -1)
                    per_client[cid] = tid
                    nested = bool(pd.Series(tid).groupby(cid).nunique().max() == 1)
                    if nested:
                        loc = loc + v_t[self._data(f"{tag}_therapist_of_client", per_client)]
                    else:
                        row_therapist = v_t[self._data(f"{tag}_therapist_of_row", tid)]
                if self.centred_intercepts:
                    # centred client intercepts (well identified by a client's sessions),
                    # slopes non-centred given them: the same joint normal as u = z @ chol.T
                    a = pm.Normal(f"{tag}_client_intercept", loc, chol[0, 0], shape=n)
                    z0 = (a - loc) / chol[0, 0]
                    z1 = pm.Normal(f"{tag}_z", 0.0, 1.0, shape=n)
                    cols = [a - loc, chol[1, 0] * z0 + chol[1, 1] * z1]
                    if k == 3:
                        z2 = pm.Normal(f"{tag}_z_time", 0.0, 1.0, shape=n)
                        cols.append(chol[2, 0] * z0 + chol[2, 1] * z1 + chol[2, 2] * z2)
                    u = pt.stack(cols, axis=1)
                    mean = a[cid_d] + pt.dot(X[:, :2], b[:2]) + u[cid_d, 1] * slope
                else:
                    z = pm.Normal(f"{tag}_z", 0.0, 1.0, shape=(n, k))
                    u = pt.dot(z, chol.T)
                    mean = loc[cid_d] + u[cid_d, 0] + pt.dot(X[:, :2], b[:2]) + u[cid_d, 1] * slope
                if self.time != "none":  # fixed effect of session (and its random slope)
                    mean = mean + X[:, 3] * b[3]
                    if k == 3:
                        mean = mean + u[cid_d, 2] * X[:, 3]
                pm.Deterministic(f"{tag}_u", u)
                if row_therapist is not None:
                    mean = mean + row_therapist
                sigma = p["sigma"].make(f"{tag}_sigma", data=self.reuse)
                obs = self._data(f"{tag}_y", np.array(e[out], dtype=float))
                pm.Normal(f"{tag}_obs", mean, sigma, observed=obs)
        self.model = model
        return model

    def _key(self) -> tuple:
        """What the compiled model depends on besides its ``pm.Data`` (compiled.py's key)."""
        c, t = self.panel.client, self.panel.therapist
        sizes = []
        for out, e in self.eqs.items():
            n_ther, nested = None, None
            if self.therapist:
                n_ther = int(e[t].nunique())
                nested = bool(e.groupby(c)[t].nunique().max() == 1)
            sizes.append((out, int(e[c].nunique()), n_ther, nested))
        return (
            self.name,
            self.time,
            self.therapist,
            self.centred_intercepts,
            prior_key(self.priors, values=False),
            tuple(sizes),
        )

    def _simpler(self) -> str:
        return "a simpler model (therapist=False)"

    def _replicate(self, posterior: Any, rng: np.random.Generator) -> Replicates:
        """Each equation's outcome drawn from its likelihood node given the observed predictors.

        PyMC's forward sampler draws the ``{tag}_obs`` nodes for the draws in ``posterior``, so
        the replicates follow the model as built (therapist level included); their means come
        from a copy of the model with each likelihood's location as a deterministic (not in
        the fitted model, whose trace would then hold a mean per row and draw).
        """
        import logging

        import pymc as pm
        from pymc.model.fgraph import clone_model

        tags = {self._tag(out): out for out in self.eqs}
        model = clone_model(self.build())
        with model:
            for t in tags:
                rv = model[f"{t}_obs"]
                pm.Deterministic(f"{t}_mean", rv.owner.op.dist_params(rv.owner)[0])
        log = logging.getLogger("pymc.sampling.forward")
        level = log.level
        log.setLevel(logging.WARNING)  # not "Sampling: [x_obs, y_obs]" after every fit
        try:
            with warnings.catch_warnings():
                # every free parameter comes from the posterior draws, so the Potential of the
                # SD/correlation prior (priors.sd_corr_cholesky) has already shaped them
                warnings.filterwarnings("ignore", message="The effect of Potentials")
                rep = pm.sample_posterior_predictive(
                    posterior,
                    model=model,
                    var_names=[f"{t}_{k}" for t in tags for k in ("obs", "mean")],
                    random_seed=rng,
                    progressbar=False,
                    return_inferencedata=False,
                )
        finally:
            log.setLevel(level)
        c, s = self.panel.client, self.panel.session
        return Replicates(
            observed={out: self.eqs[out][out].to_numpy(float) for out in self.eqs},
            replicated={out: np.asarray(rep[f"{t}_obs"]) for t, out in tags.items()},
            mean={out: np.asarray(rep[f"{t}_mean"]) for t, out in tags.items()},
            client={out: self.eqs[out][c].to_numpy() for out in self.eqs},
            session={out: self.eqs[out][s].to_numpy() for out in self.eqs},
            chains=np.asarray(posterior["chain"]),
            draws=np.asarray(posterior["draw"]),
        )

    def _auxiliary(self) -> list[str]:
        """The non-centred standard normals (the results use the client effects they make)
        and the unconstrained parts of the SD/correlation prior (its SDs and correlations are
        kept)."""
        aux = ["z", "chol_cpc_unconstrained", "chol_sd_unit"]
        aux += ["z_time"] if self.time == "client" and self.centred_intercepts else []
        return [f"{self._tag(out)}_{z}" for out in self.eqs for z in aux]

    def _diagnosed(self) -> list[str]:
        names = []
        for out in self.eqs:
            tag = self._tag(out)
            names += [f"{tag}_Intercept", f"{tag}_b", f"{tag}_chol_stds", f"{tag}_sigma"]
            if self.therapist:
                names.append(f"{tag}_sd_therapist")
        return names

    def _loglik(self, idata: Any) -> Iterator[tuple[str, str]]:
        """Each equation's pointwise log-likelihood, added to ``idata`` one at a time.

        One at a time so that the caller can drop an equation's (draws x rows) array before
        the next is computed (``BayesModel._loo``): the peak memory of LOO is one equation's.
        """
        import pymc as pm

        for out in self.eqs:
            var = f"{self._tag(out)}_obs"
            with ignoring(*INFERENCEDATA):
                ds = pm.compute_log_likelihood(
                    idata,
                    var_names=[var],
                    model=self.model,
                    extend_inferencedata=False,
                    progressbar=False,
                )
                if "log_likelihood" in idata.groups():
                    idata.log_likelihood[var] = ds[var]
                else:
                    idata.add_groups({"log_likelihood": ds})
            yield var, f"{out}:"

    def _summarise(self, idata: Any, seconds: float, sampler: str) -> BayesResults:
        post = idata.posterior
        x, y, c = self.panel.x, self.panel.y, self.panel.client
        eff = partial(effect, level=self.level)
        row = partial(param_row, level=self.level)
        rows: list[dict[str, Any]] = []
        within: dict[str, Effect] = {}
        between: dict[str, Effect] = {}
        client_frames = []
        draws: dict[str, np.ndarray] = {}
        for out, e in self.eqs.items():
            other = x if out == y else y
            tag = self._tag(out)
            b0 = np.asarray(post[f"{tag}_Intercept"])
            b = np.asarray(post[f"{tag}_b"])
            rows.append(row(out, "~1", "", b0, term=f"{out} ~ Intercept"))
            for j, pred in enumerate(self._preds(out)):
                rows.append(row(out, "~", pred, b[..., j], term=f"{out} ~ {pred}"))
            within[effect_key(x, out)] = eff(b[..., 0])
            within[effect_key(y, out)] = eff(b[..., 1])
            draws[effect_key(x, out)] = b[..., 0].ravel()
            draws[effect_key(y, out)] = b[..., 1].ravel()
            between[between_key(other, out)] = eff(b[..., 2])
            sds = np.asarray(post[f"{tag}_chol_stds"])
            corr = np.asarray(post[f"{tag}_chol_corr"])[..., 0, 1]
            slope_key = effect_key(other, out)
            i_name, s_name = f"{out}:Intercept", f"{out}:{slope_key}"
            rows.append(row(i_name, "sd", c, sds[..., 0], term=f"sd({out}: Intercept | {c})"))
            rows.append(row(s_name, "sd", c, sds[..., 1], term=f"sd({out}: {slope_key} | {c})"))
            term = f"cor({out}: Intercept, {slope_key} | {c})"
            rows.append(row(i_name, "cor", s_name, corr, term=term))
            between[f"sd(intercept {out})"] = eff(sds[..., 0])
            between[f"sd({slope_key})"] = eff(sds[..., 1])
            if self.time == "client":  # the session slope: its SD and correlations
                ses = self.panel.session
                t_name = f"{out}:{ses}"
                rows.append(row(t_name, "sd", c, sds[..., 2], term=f"sd({out}: {ses} | {c})"))
                cc = np.asarray(post[f"{tag}_chol_corr"])
                for j, nm, lab in ((0, i_name, "Intercept"), (1, s_name, slope_key)):
                    term = f"cor({out}: {lab}, {ses} | {c})"
                    rows.append(row(nm, "cor", t_name, cc[..., j, 2], term=term))
                between[f"sd({ses} -> {out})"] = eff(sds[..., 2])
            if self.therapist:
                st = np.asarray(post[f"{tag}_sd_therapist"])
                th = self.panel.therapist
                rows.append(row(i_name, "sd", th, st, term=f"sd({out}: Intercept | {th})"))
                between[f"sd_therapist(intercept {out})"] = eff(st)
            sg = np.asarray(post[f"{tag}_sigma"])
            rows.append(row(out, "sd", "residual", sg, term=f"sigma({out})"))
            # each client's cross-lag: fixed + random slope
            clients = np.unique(e[c].to_numpy())
            u = np.asarray(post[f"{tag}_u"])[..., 1]
            slope_j = 0 if out == y else 1
            client_frames.append(
                client_rows(clients, slope_key, b[..., slope_j][..., None] + u, self.level)
            )
        notes = list(self.notes)
        notes.append(
            "effects.within are the fixed within-client (person-mean-centred) lagged effects, raw "
            f"units, posterior mean, SD and {self.level:.0%} credible interval; they carry the Nickell bias of "
            f"short series (about -(1 + rho)/(T - 1)). effects.between['{between_key(x, y)}'] is "
            f"the coefficient of a client's mean {x} on next-session {y} (and "
            f"'{between_key(y, x)}' the reverse); 'sd(...)' are between-client SDs."
        )
        notes.append(TIME_NOTE.format(time=self.time))
        notes.append(describe_priors(self.priors) + " (raw units)")
        n_obs = len(
            set(map(tuple, pd.concat(self.eqs.values())[[c, self.panel.session]].to_numpy()))
        )
        n_clients = len(set(self.eqs[x][c]) | set(self.eqs[y][c]))
        return BayesResults(
            model=self.name,
            n_clients=n_clients,
            n_observations=n_obs,
            effects={"within": within, "between": between},
            params=params_frame(rows),
            fit={},
            excluded=dict(self.excluded),
            seconds=seconds,
            notes=notes,
            idata=idata,
            clients=pd.concat(client_frames, ignore_index=True),
            priors=dict(self.priors),
            sampler=sampler,
            draws=draws,
        )
