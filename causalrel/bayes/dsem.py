"""DSEM: a bivariate multilevel VAR(1) with latent client means (Asparouhov, Hamaker & Muthén 2018).

Each client ``i`` has latent means ``mu_i`` and within-client deviations ``w_it = y_it - mu_i``
that follow a VAR(1) with client-specific autoregressive and cross-lagged effects ``Phi_i``::

    w_it = Phi_i w_i,t-1 + e_it,    e_it ~ N(0, Sigma_i),   Sigma_i = diag(s_i) R diag(s_i)

The random effects ``(mu_i, vec Phi_i[, log s_i])`` are multivariate normal between clients with
an LKJ prior on their correlation matrix, optionally regressed on client covariates, and the
means optionally shifted by a therapist effect. Because ``mu_i`` is estimated jointly with
``Phi_i`` instead of being replaced by the observed client mean, the model has no Nickell
(1981) or Lüdtke et al. (2008) bias from person-mean centring.

Why this is written by hand: no Python library fits DSEM (Mplus and R's ``mlts``/Stan do), and
PyMC's own hierarchical VAR example loops over groups in Python. Here the likelihood is one
vectorised expression over all client-sessions:

* every client gets a full grid of sessions from its first to its last rated session, so a
  missed session is an empty slot and a lag never jumps over it;
* observed ratings enter as data; only missing ratings and missed-session cells are latent
  parameters (``missing``), scattered into the grid with one ``set_subtensor``;
* the grid is one dense ``(client, slot, variable)`` array, clients aligned at their first
  session and padded after their last: the lag is ``W[:, :-1]`` against ``W[:, 1:]`` with
  transitions into padding masked out, and client effects broadcast over slots, so there is
  no Python loop over clients, no scan over time and no gather whose gradient is a slow
  scatter-add (a flat layout with ``mu[client_of_cell]`` was 3x slower per gradient);
* the lagged effects (and log innovation SDs) are non-centred given the latent means
  (``b_i = gamma + L z_i`` with the means' block of ``z_i`` solved from the centred means, the
  same joint distribution), and everything is sampled on standardised data (results are
  transformed back to raw units), which keeps the posterior close to unit scale for NUTS.

The first session of each client enters with the stationary variance of each variable's own
AR(1) (``s_k^2 / (1 - a_kk^2)``, cross-lags ignored), an approximation to the VAR's stationary
distribution that avoids conditioning on the first observed value.

The order of the ratings within a session (``same_session=``, the SEMs' vocabulary and result
keys, :func:`causalrel.sem.models.same_session_path`): ``"covariance"`` (default) reports the
VAR above, whose correlated innovations leave the same-session link undirected.
``"symptoms->alliance"`` (symptoms rated before the session act on the alliance rated after
it; ``"alliance->symptoms"`` the other order) reports its just-identified structural form
``A0 w_it = B_i w_i,t-1 + u_it`` with ``A0 = I - b E_(outcome, cause)`` and uncorrelated
structural innovations ``u``. It is the same model (the same likelihood and draws), so no
term is sampled: every draw gives ``b = Sigma_oc / Sigma_cc`` (the regression of the
outcome's innovation on the cause's), the outcome's direct lagged effects
``B_o. = Phi_o. - b Phi_c.`` (the cause's unchanged) and its structural innovation SD
``sqrt(Sigma_oo - b^2 Sigma_cc)``, for the average lags, each client's and the random
effects' SDs, correlations and covariate slopes (a linear map of the lags). As in the SEMs
(where the free-lag RI-CLPM with the path is the same reparameterisation of the covariance
version), ``b`` is ``effects.within["symptoms->alliance (same session)"]`` and the lagged
keys into the outcome are the direct effects. The algebra is scale-free (``b`` carries the
raw-unit factor of a lag from cause to outcome), so it is done on the standardised draws and
transformed back like the lags. Client-specific innovation SDs (``random_innovations``) would
make ``b`` differ by client: that combination is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import ARVIZ_DIAGNOSTICS, INFERENCEDATA, ignoring
from ..data import DataError, SessionPanel
from ..results import Effect, between_key, effect_key
from ..sem.models import same_session_key, same_session_path
from .base import BayesModel
from .blas import settle_blas
from .common import (
    check_n_clients,
    client_rows,
    effect,
    param_row,
    params_frame,
)
from .compiled import bucket
from .grid import TREND_UNIT, SessionGrid
from .ppc import Replicates
from .priors import Prior, describe_priors, lkj_cholesky, prior_key, resolve_priors
from .results import BayesResults

__all__ = ["DSEM", "DEFAULT_PRIORS", "same_session_structure", "direct_lag_map"]

#: Default priors, on the standardised scale the model samples on (each variable divided by its
#: pooled SD). They are weakly informative: a standardised lagged effect beyond +-1 is implausible
#: for a stationary process, and a between-client SD of a lagged effect beyond 0.5 too.
DEFAULT_PRIORS: dict[str, Prior] = {
    "mean": Prior("normal", mu=0.0, sigma=1.0),
    "lag": Prior("normal", mu=0.0, sigma=0.5),
    "sd_mean": Prior("gamma", alpha=2.0, beta=2.0),
    "sd_lag": Prior("gamma", alpha=2.0, beta=20.0),
    "sigma": Prior("halfnormal", sigma=1.0),
    "log_sigma": Prior("normal", mu=-0.5, sigma=1.0),
    "sd_log_sigma": Prior("gamma", alpha=2.0, beta=8.0),
    "trend": Prior("normal", mu=0.0, sigma=1.0),
    "sd_trend": Prior("gamma", alpha=2.0, beta=4.0),
    "cor": Prior("lkj", eta=2.0),
    "sd_therapist": Prior("halfnormal", sigma=0.5),
    "beta": Prior("normal", mu=0.0, sigma=0.5),
}

#: The default ``time``: each client's own latent linear trend. Measured at the default sampler
#: settings (``benchmarks/validate_bayes_time.py --sampler default --times none,client``;
#: committed output ``benchmarks/results/validate_bayes_time_default_mlm_dsem.txt``; 150 clients
#: x 8 sessions, 4 replications per world, every fit converged): with ``"client"`` both
#: cross-lags were unbiased in all three worlds (no trend, a shared trend, client trajectories;
#: |bias| <= 0.018 on truths -0.2 and -0.1) and 23 of 24 95% intervals covered the truth; with
#: ``"none"`` a trend biased them (-0.05 to -0.077; coverage down to .25). Four replications
#: cannot show coverage >= .85 in a cell (one miss is .75), so this is a small run.
DEFAULT_TIME = "client"

LAGS = ("xx", "xy", "yx", "yy")  # "xy" = x at t-1 -> y at t
_VAR = {"x": 0, "y": 1}


def same_session_structure(
    sigma: np.ndarray, rho: np.ndarray, path: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """The same-session path ``b`` and the structural innovation SDs, per draw.

    Parameters
    ----------
    sigma : ndarray, shape (..., 2)
        Innovation SDs of the reduced-form VAR (x, y).
    rho : ndarray, shape (...)
        Their correlation.
    path : (str, str)
        ``(cause, outcome)`` letters, e.g. ``("y", "x")`` for symptoms -> alliance
        (:func:`causalrel.sem.models.same_session_path`).

    Returns
    -------
    b : ndarray, shape (...)
        ``Sigma_oc / Sigma_cc = rho sigma_o / sigma_c``: the outcome's innovation regressed on
        the cause's, in the units of ``sigma`` (outcome per cause).
    sd : ndarray, shape (..., 2)
        Structural innovation SDs: the cause's unchanged, the outcome's
        ``sqrt(Sigma_oo - b^2 Sigma_cc) = sigma_o sqrt(1 - rho^2)``; structurally uncorrelated.
    """
    c, o = (_VAR[v] for v in path)
    sigma = np.asarray(sigma, dtype=float)
    rho = np.asarray(rho, dtype=float)
    b = rho * sigma[..., o] / sigma[..., c]
    sd = sigma.copy()
    sd[..., o] = sigma[..., o] * np.sqrt(1.0 - rho**2)
    return b, sd


def direct_lag_map(b: np.ndarray, path: tuple[str, str]) -> np.ndarray:
    """The linear map from reduced-form to direct lagged effects, shaped ``b.shape + (4, 4)``.

    Lags are vectors in :data:`LAGS` order (``"xy"`` = x at t-1 -> y at t). With the
    same-session path ``cause -> outcome`` (``path``) of size ``b``, the outcome's direct
    lags are ``B[s->o] = Phi[s->o] - b Phi[s->c]`` for both lagged sources ``s``; the
    cause's row is unchanged (``Phi = A0^-1 B`` with ``A0 = I - b E_(o, c)``).
    """
    c, o = path
    b = np.asarray(b, dtype=float)
    m = np.broadcast_to(np.eye(4), b.shape + (4, 4)).copy()
    for s in "xy":
        m[..., LAGS.index(s + o), LAGS.index(s + c)] = -b
    return m


class DSEM(BayesModel):
    """Bivariate multilevel VAR(1) with latent client means (dynamic SEM), fitted with NUTS.

    Parameters
    ----------
    panel : SessionPanel
        The data (:func:`causalrel.load_panel`). ``x`` is the alliance, ``y`` the symptoms.
    random_lags : bool
        Client-specific autoregressive and cross-lagged effects (default). ``False`` keeps only
        the latent means random: a simpler structure for few clients.
    random_innovations : bool
        Client-specific innovation SDs (log-normal between clients). Not with a directed
        ``same_session`` path (its size would then differ by client).
    time : {"none", "common", "client"}
        Change over sessions (issue 13's vocabulary). ``"none"``: stationary latent means.
        ``"common"``: one fixed linear trend of the latent means shared by all clients.
        ``"client"`` (default; :data:`DEFAULT_TIME` says what chose it, and ``detrend=True``
        alone means ``"none"``): client-specific linear trends, ``mu_it = mu_i + tau_i (t - c_i)`` with
        ``c_i`` the middle of client ``i``'s sessions and ``tau_i`` a random effect in the
        between-level covariance (as a time covariate with a random slope in Mplus' DSEM); the
        model-based counterpart of ``detrend``: estimated jointly with the lags, so it does not
        bias the autoregressions downwards the way removing each client's observed trend does
        in short series. Use it when symptoms fall and the alliance rises over treatment.
    therapist : bool, optional
        Add therapist random effects on the latent means (three levels). Default: when the panel
        has a therapist column.
    covariates : sequence of str, optional
        Client-level covariates (from ``panel.covariates``; a client's mean is used) on which all
        random effects are regressed (between level). Standardised internally.
    detrend : bool
        Deprecated (one release): remove each client's linear trend first
        (:func:`causalrel.decompose.detrend`); ``time="client"`` is the model-based way.
    centred_means : bool
        Sample the latent client means centred (default) and the other random effects
        non-centred given them. With more than a handful of sessions per client the data pin
        each client's mean down well, where a non-centred mean mixes poorly (measured: bulk ESS
        of the average mean ~180 of 4000 draws non-centred vs >1500 centred, 200 x 20 panel).
        ``False`` makes every random effect non-centred (better for very short series).
    priors : mapping, optional
        Priors replacing the defaults (:data:`DEFAULT_PRIORS`, standardised scale), by class:
        ``mean lag sd_mean sd_lag sigma log_sigma sd_log_sigma trend sd_trend cor sd_therapist
        beta`` (a trend is per 10 sessions on that scale).
    same_session : str
        The order of the ratings within a session, as in the SEMs: ``"covariance"`` (default)
        leaves the two ratings of a session correlated with no direction;
        ``"symptoms->alliance"`` (symptoms rated before the session, the alliance after it)
        reports the same-session innovation covariance as a directed path,
        ``effects.within["symptoms->alliance (same session)"]``, and the alliance's lagged
        effects as the direct ones (``"alliance->symptoms"`` the other order). The same model
        and draws, reported in its structural form (module docstring).
    trend : bool, optional
        Deprecated spelling (one release): ``trend=True`` is ``time="client"``.
    reuse : bool
        Build the model for reuse (:mod:`causalrel.bayes.compiled`): data as ``pm.Data``
        containers, so that another model of the same structure (family, options, sizes) in this
        process samples with this one's compiled code and new data, paying sampling only. Costs
        the first compilation about 1.4x (measured, see ``BayesModel._data``); for repeated fits
        of one design (validation grids, power studies). Default ``False``: one fit, constants.

    Examples
    --------
    >>> res = DSEM(panel).fit(draws=1000, seed=1)  # doctest: +SKIP
    >>> res.within  # doctest: +SKIP
    """

    # -- what the family is (read by causalrel.families; see CONTRIBUTING.md) --
    name = "dsem"
    summary = "Bayesian dynamic SEM: latent means, random lags per client (PyMC)"
    assumes = (
        "Assumes a multilevel VAR(1) around latent client means (with a shared or each "
        "client's own linear trend under time='common' or 'client'), random lagged effects and "
        "stationary deviations; the two ratings of a session correlate with no direction "
        "unless same_session names their order; missing sessions are imputed inside the model."
    )
    distrust_when = (
        "Distrust it when the sampler diagnostics fail, when priors dominate (few clients), or "
        "when change over treatment is far from linear."
    )
    samples = True
    between_meaning = "correlation of the latent client means"
    time_support = ("none", "common", "client")
    #: analyze's sampler settings (as MLM's; benchmarks/results/).
    analyze_options = {"draws": 2000, "tune": 1000, "chains": 4}
    #: How analyze's ``trend`` reaches it: "linear" -> random latent trends, "detrend" ->
    #: observed trends removed first.
    trend_options = {
        "linear": {"time": "client"},
        "detrend": {"detrend": True},
        "none": {"time": "none"},
    }

    #: LOO off by default: with a random effect per client and latent cells many Pareto k exceed
    #: 0.7 (measured: ~600 of 3800 transitions on a 200 x 20 panel), so PSIS-LOO is unreliable
    #: here; ``fit(loo=True)`` computes it pointwise over session transitions, conditional on each
    #: client's effects and imputed values.
    loo_default = False

    def __init__(
        self,
        panel: SessionPanel,
        *,
        random_lags: bool = True,
        random_innovations: bool = False,
        time: str | None = None,
        therapist: bool | None = None,
        covariates: tuple[str, ...] | list[str] | None = None,
        detrend: bool = False,
        centred_means: bool = True,
        priors: Mapping[str, Any] | None = None,
        same_session: str = "covariance",
        trend: bool | None = None,
        reuse: bool = False,
    ) -> None:
        self.reuse = bool(reuse)
        self.same_session = same_session
        self._same = same_session_path(panel, same_session)
        if self._same is not None and random_innovations:
            raise DataError(
                f"dsem: same_session='{same_session}' needs one innovation covariance for all "
                "clients, but random_innovations=True gives each client its own innovation "
                "SDs, so the same-session path (cov / var of the two innovations) would differ "
                "between clients. Use random_innovations=False with this same_session, or keep "
                "same_session='covariance'."
            )
        covariates = tuple(covariates or ())
        # the default follows the validation (DEFAULT_TIME); detrend=True alone means "none"
        time = self._time(time, trend, self.name, "none" if detrend else DEFAULT_TIME)
        if time != "none" and detrend:
            raise DataError(
                f"dsem: choose one of time='{time}' (latent trends, estimated with the lags) and "
                "detrend=True (observed trends removed before fitting), not both."
            )
        unknown = [cv for cv in covariates if cv not in panel.covariates]
        if unknown:
            raise DataError(
                f"dsem: covariate(s) {unknown} are not among the panel's covariates "
                f"{list(panel.covariates)}; name them in load_panel(..., covariates=...)."
            )
        self._setup(panel, therapist=therapist, detrend=detrend)
        panel = self.panel
        self.random_lags = bool(random_lags)
        self.random_innovations = bool(random_innovations)
        self.time = time
        self.trend = time == "client"  # random latent trends (the former trend=True)
        self.centred_means = bool(centred_means)
        self.priors = resolve_priors(DEFAULT_PRIORS, priors)
        self.grid = SessionGrid(panel, therapist=self.therapist, covariates=covariates)
        self.notes += self.grid.notes
        self.random_names = self._random_names()
        fewer = []
        if self.random_lags:
            fewer.append("random_lags=False (only the latent means random)")
        if self.trend:
            fewer.append("time='common' (one trend for all clients, no random trends)")
        simpler = " or ".join(fewer) or "fewer random effects"
        msg = check_n_clients(self.grid.clients, len(self.random_names), "dsem", simpler)
        if msg:
            self.notes.append(msg)
        sd_families = {self.priors[k].dist for k in self._sd_classes()}
        if len(sd_families) > 1:
            raise DataError(
                "dsem: the priors on random-effect SDs (sd_mean, sd_lag, sd_trend, sd_log_sigma) "
                "must be of "
                f"one family; got {sorted(sd_families)}."
            )
        self.model = None

    # -- structure -----------------------------------------------------------------------------
    def _random_names(self) -> list[str]:
        x, y = self.panel.x, self.panel.y
        names = [f"mean({x})", f"mean({y})"]
        if self.random_lags:
            names += [self._lag_key(k) for k in LAGS]
        if self.trend:
            names += [f"trend({x})", f"trend({y})"]
        if self.random_innovations:
            names += [f"log_sigma({x})", f"log_sigma({y})"]
        return names

    def _sd_classes(self) -> list[str]:
        out = ["sd_mean"]
        if self.random_lags:
            out.append("sd_lag")
        if self.trend:
            out.append("sd_trend")
        if self.random_innovations:
            out.append("sd_log_sigma")
        return out

    def _lag_key(self, code: str) -> str:
        v = {"x": self.panel.x, "y": self.panel.y}
        return effect_key(v[code[0]], v[code[1]])

    def _sd_prior(self) -> Prior:
        """One prior for the K random-effect SDs, from the per-class priors."""
        counts = {"sd_mean": 2, "sd_lag": 4, "sd_trend": 2, "sd_log_sigma": 2}
        classes = self._sd_classes()
        first = self.priors[classes[0]]
        params = {}
        for key in first.params:
            parts = [
                np.broadcast_to(np.asarray(self.priors[c].params[key], float), counts[c])
                for c in classes
            ]
            params[key] = np.concatenate(parts)
            if key in ("nu", "alpha") and np.ptp(params[key]) > 0:
                raise DataError(f"dsem: the priors on random-effect SDs must share their '{key}'.")
            if key in ("nu", "alpha"):
                params[key] = float(params[key][0])
        return Prior(first.dist, **params)

    def build(self):
        """The PyMC model (built once, cached in ``self.model``)."""
        if self.model is not None:
            return self.model
        import pymc as pm
        import pytensor.tensor as pt

        settle_blas()  # before anything compiles: no BLAS warning users cannot act on

        g, p = self.grid, self.priors
        n, k = g.n_clients, len(self.random_names)
        n_miss = len(g.miss_pos)
        # latent cells padded when built for reuse: panels alike share one compilation
        n_pad = bucket(n_miss) if self.reuse else n_miss
        coords = {
            "client": np.asarray(g.clients).astype(str),
            "variable": [self.panel.x, self.panel.y],
            "lag": [self._lag_key(c) for c in LAGS],
        }
        with pm.Model(coords=coords) as model:
            # every data-dependent array is a pm.Data container (a shared variable), so the
            # compiled model is reused with new data of the same structure (compiled.py)
            valid = self._data("valid", g.valid)
            n_trans = self._data("n_transitions", float(g.n_transitions))
            gamma_mean = p["mean"].make("gamma_mean", shape=2, data=self.reuse)
            gamma_lag = p["lag"].make("gamma_lag", shape=4, data=self.reuse)
            parts = []
            if self.random_lags:
                parts.append(gamma_lag)
            if self.trend:
                parts.append(p["trend"].make("gamma_trend", shape=2, data=self.reuse))
            if self.random_innovations:
                parts.append(p["log_sigma"].make("gamma_log_sigma", shape=2, data=self.reuse))
            chol = lkj_cholesky(
                "chol_re", k, p["cor"].params["eta"], self._sd_prior(), data=self.reuse
            )
            loc_mu = pt.broadcast_to(gamma_mean[None, :], (n, 2))
            beta = None
            if g.cov is not None:
                beta = p["beta"].make("beta", shape=(k, g.cov.shape[1]), data=self.reuse)
                shift = pt.dot(self._data("cov", g.cov), beta.T)
                loc_mu = loc_mu + shift[:, :2]
            if self.therapist:
                sd_t = p["sd_therapist"].make("sd_therapist", shape=2, data=self.reuse)
                z_t = pm.Normal("z_therapist", 0.0, 1.0, shape=(len(g.therapists), 2))
                loc_mu = loc_mu + (z_t * sd_t)[self._data("therapist_idx", g.therapist_idx)]
            l11 = chol[:2, :2]
            if self.centred_means:
                # centred latent means (well identified by a client's sessions) ...
                # (the bivariate normal density written out: PyMC's MvNormal solves a triangular
                # system per client, 40x slower per gradient in the C backend)
                mu = pm.Flat("client_mean", dims=("client", "variable"))
                d0, d1 = mu[:, 0] - loc_mu[:, 0], mu[:, 1] - loc_mu[:, 1]
                z0 = d0 / l11[0, 0]
                z1 = pt.stack([z0, (d1 - l11[1, 0] * z0) / l11[1, 1]], axis=1)
                pm.Potential(
                    "client_mean_density",
                    -0.5 * pt.sum(z1**2)
                    - n * (pt.log(l11[0, 0]) + pt.log(l11[1, 1]) + np.log(2 * np.pi)),
                )
            else:
                z1 = pm.Normal("z_mean", 0.0, 1.0, shape=(n, 2))
                mu = pm.Deterministic(
                    "client_mean", loc_mu + pt.dot(z1, l11.T), dims=("client", "variable")
                )
            if k > 2:
                # ... and non-centred further random effects, conditional on the means
                z2 = pm.Normal("z", 0.0, 1.0, shape=(n, k - 2))
                rest = (
                    pt.concatenate(parts)[None, :]
                    + pt.dot(z1, chol[2:, :2].T)
                    + pt.dot(z2, chol[2:, 2:].T)
                )
                if beta is not None:
                    rest = rest + shift[:, 2:]
            if self.random_lags:
                phi = pm.Deterministic("client_lag", rest[:, :4], dims=("client", "lag"))
                ph = phi[:, None, :]
            else:
                phi = pt.broadcast_to(gamma_lag[None, :], (n, 4))
                ph = gamma_lag[None, None, :]
            if self.trend:
                # random linear trends of the latent means, in the between-level covariance
                t0 = 4 if self.random_lags else 0
                tau = pm.Deterministic(
                    "client_trend", rest[:, t0 : t0 + 2], dims=("client", "variable")
                )
            if self.random_innovations:
                log_s = rest[:, -2:]
                s_first = pm.Deterministic(
                    "client_sigma", pt.exp(log_s), dims=("client", "variable")
                )
                sx_t, sy_t = s_first[:, None, 0], s_first[:, None, 1]
                lsx_t, lsy_t = log_s[:, None, 0], log_s[:, None, 1]
            else:
                sigma = p["sigma"].make("sigma", shape=2, data=self.reuse)
                sx_t, sy_t = sigma[0], sigma[1]
                lsx_t, lsy_t = pt.log(sigma[0]), pt.log(sigma[1])
                s_first = sigma[None, :]
            r01 = pm.Beta("rho01", 2.0, 2.0)
            rho = pm.Deterministic("rho", 2.0 * r01 - 1.0)

            filled = self._data("filled", np.append(g.filled, 0.0))  # last: sink of padding
            if n_pad:
                # padding cells write into the sink (never read) and get a standard normal
                # density, so they are independent of the model and mix at once
                pos = np.full(n_pad, g.filled.size, dtype=np.int64)
                pos[:n_miss] = g.miss_pos
                pad = np.zeros(n_pad)
                pad[n_miss:] = 1.0
                missing = pm.Flat("missing", shape=n_pad)
                vflat = pt.set_subtensor(filled[self._data("miss_pos", pos)], missing)
                if self.reuse:
                    pm.Potential(
                        "missing_padding", -0.5 * pt.sum(self._data("miss_pad", pad) * missing**2)
                    )
            else:
                vflat = filled
            v = vflat[:-1].reshape((n, g.n_slots, 2))
            w = v - mu[:, None, :]
            if self.time != "none":
                t_d = self._data("time", g.time)[:, :, None]
                if self.time == "common":
                    tau = p["trend"].make("gamma_trend", shape=2, data=self.reuse)[None, :]
                w = w - tau[:, None, :] * t_d
            wp, wc = w[:, :-1], w[:, 1:]
            ex = wc[..., 0] - ph[..., 0] * wp[..., 0] - ph[..., 2] * wp[..., 1]
            ey = wc[..., 1] - ph[..., 1] * wp[..., 0] - ph[..., 3] * wp[..., 1]
            ux, uy = ex / sx_t, ey / sy_t
            one_m = 1.0 - rho**2
            quad = (ux**2 - 2.0 * rho * ux * uy + uy**2) / (2.0 * one_m)
            lp = -lsx_t - lsy_t - quad
            const = n_trans * (-0.5 * pt.log(one_m) - np.log(2 * np.pi))
            if self.random_innovations:
                pm.Potential("transitions", pt.sum(lp * valid) + const)
            else:
                pm.Potential(
                    "transitions",
                    pt.sum(-quad * valid) + n_trans * (-lsx_t - lsy_t) + const,
                )
            # first session: stationary variance of each variable's own AR(1)
            w1 = w[:, 0]
            ar = pt.stack([phi[:, 0], phi[:, 3]], axis=1)
            sd1 = s_first / pt.sqrt(1.0 - pt.clip(ar**2, 0.0, 0.9))
            pm.Potential("first_session", pt.sum(pm.logp(pm.Normal.dist(0.0, sd1), w1)))
        self.model = model
        return model

    # -- fitting --------------------------------------------------------------------------------
    def _key(self) -> tuple:
        """What the compiled model depends on besides its ``pm.Data`` (compiled.py's key)."""
        g = self.grid
        return (
            self.name,
            self.random_lags,
            self.random_innovations,
            self.time,
            self.centred_means,
            prior_key(self.priors, values=False),  # prior values are pm.Data
            g.n_clients,
            g.n_slots,
            bucket(len(g.miss_pos)),
            None if g.therapists is None else len(g.therapists),
            None if g.cov is None else g.cov.shape[1],
        )

    def _simpler(self) -> str:
        drift = (
            "" if self.trend else "; if scores drift over treatment, time='client' (--time client)"
        )
        if self.random_lags or self.random_innovations:
            return (
                "a simpler random-effects structure (random_lags=False, random_innovations=False)"
                + drift
            )
        return "fewer clients with very short series" + drift

    # -- summaries ------------------------------------------------------------------------------
    def _lag_factor(self, code: str) -> float:
        """Raw-unit factor of a standardised lag ``code`` (cause -> outcome)."""
        sc = self.grid.scale
        i = {"x": 0, "y": 1}
        return float(sc[i[code[1]]] / sc[i[code[0]]])

    def _auxiliary(self) -> list[str]:
        """Draws no result needs once summarised: the non-centred standard normals, the
        packed Cholesky factor (its SDs and correlations are kept), the Beta behind ``rho``
        and the latent cells (summarised in ``imputed``; the bulk of the draws)."""
        aux = ["chol_re", "rho01"] + (["missing"] if len(self.grid.miss_pos) else [])
        aux += ["z"] if len(self.random_names) > 2 else []
        return aux + ([] if self.centred_means else ["z_mean"])

    def _imputed(self, post: Any) -> pd.DataFrame:
        """Posterior summary of every latent cell (missing rating or missed session), raw units.

        Columns ``client, session, variable, est, se, lower, upper`` (mean, SD, equal-tailed
        ``level`` interval), one row per latent cell, ordered by client and session.
        """
        g = self.grid
        cols = ["client", "session", "variable", "est", "se", "lower", "upper"]
        n = len(g.miss_pos)
        if not n:
            return pd.DataFrame(columns=cols)
        ci, slot, var = np.unravel_index(g.miss_pos, (g.n_clients, g.n_slots, 2))
        d = np.asarray(post["missing"])[..., :n].reshape(-1, n)
        d = g.loc[var] + g.scale[var] * d
        q = np.quantile(d, [0.5 - self.level / 2, 0.5 + self.level / 2], axis=0)
        names = np.array([self.panel.x, self.panel.y])
        return pd.DataFrame(
            {
                "client": np.asarray(g.clients)[ci],
                "session": g.first_session[ci] + slot,
                "variable": names[var],
                "est": d.mean(axis=0),
                "se": d.std(axis=0, ddof=1),
                "lower": q[0],
                "upper": q[1],
            },
            columns=cols,
        )

    def _diagnosed(self) -> list[str]:
        names = ["gamma_mean", "gamma_lag", "chol_re_stds", "rho"]
        names += ["gamma_log_sigma"] if self.random_innovations else ["sigma"]
        if self.time != "none":
            names.append("gamma_trend")
        if self.therapist:
            names.append("sd_therapist")
        if self.grid.cov is not None:
            names.append("beta")
        return names

    def _diagnose(self, idata: Any, info: dict) -> dict[str, Any]:
        out = super()._diagnose(idata, info)
        out["rhat_max_all"] = _rhat_all(idata)  # latent cells and client effects too
        return out

    def _loglik(self, idata: Any) -> list[tuple[str, str]]:
        """Pointwise over session transitions, conditional on client effects and imputed cells."""
        self._add_loglik(idata)
        return [("transitions", "")]

    def _reported(self, post: Any) -> dict[str, Any]:
        """The posterior arrays the summaries report, standardised, ``(chain, draw, ...)``.

        ``gamma_lag``, ``client_lag`` (random lags), ``sigma`` (one innovation SD per
        variable), ``rho``, the random effects' ``sds`` and ``corr`` and ``beta``
        (covariates): as sampled, the reduced-form VAR. With a directed same-session path
        (``same_session``) its structural form instead: the lags into the outcome are the
        direct ones (:func:`direct_lag_map`, applied to the average lags, each client's, and
        the random effects' covariance and covariate slopes), the outcome's innovation SD the
        structural one, ``rho`` 0 and ``same`` the path ``b``
        (:func:`same_session_structure`).
        """
        out: dict[str, Any] = {
            "gamma_lag": np.asarray(post["gamma_lag"]),
            "client_lag": np.asarray(post["client_lag"]) if self.random_lags else None,
            "sigma": None if self.random_innovations else np.asarray(post["sigma"]),
            "rho": np.asarray(post["rho"]),
            "sds": np.asarray(post["chol_re_stds"]),
            "corr": np.asarray(post["chol_re_corr"]),
            "beta": np.asarray(post["beta"]) if self.grid.cov is not None else None,
            "same": None,
        }
        if self._same is None:
            return out
        b, out["sigma"] = same_session_structure(out["sigma"], out["rho"], self._same)
        m = direct_lag_map(b, self._same)
        out["same"], out["rho"] = b, np.zeros_like(b)
        out["gamma_lag"] = np.einsum("...ij,...j->...i", m, out["gamma_lag"])
        if self.random_lags:
            out["client_lag"] = np.einsum("...ij,...nj->...ni", m, out["client_lag"])
            k = len(self.random_names)
            mk = np.broadcast_to(np.eye(k), b.shape + (k, k)).copy()
            mk[..., 2:6, 2:6] = m  # the lags follow the two means (_random_names)
            sds, corr = out["sds"], out["corr"]
            cov = sds[..., :, None] * corr * sds[..., None, :]
            cov = mk @ cov @ np.swapaxes(mk, -1, -2)
            out["sds"] = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
            out["corr"] = cov / (out["sds"][..., :, None] * out["sds"][..., None, :])
            if out["beta"] is not None:
                out["beta"] = mk @ out["beta"]
        return out

    def _summarise(self, idata: Any, seconds: float, sampler: str) -> BayesResults:
        g, post = self.grid, idata.posterior
        x, y = self.panel.x, self.panel.y
        sc, loc = g.scale, g.loc
        names = {"x": x, "y": y}
        eff = partial(effect, level=self.level)
        row = partial(param_row, level=self.level)
        rows: list[dict[str, Any]] = []
        within: dict[str, Effect] = {}
        between: dict[str, Effect] = {}
        draws: dict[str, np.ndarray] = {}
        rep = self._reported(post)

        gm = np.asarray(post["gamma_mean"])
        for j, v in enumerate((x, y)):
            rows.append(row(v, "~1", "", loc[j] + sc[j] * gm[..., j], term=f"mean({v})"))
        gl = rep["gamma_lag"]
        for j, code in enumerate(LAGS):
            d = gl[..., j] * self._lag_factor(code)
            key = self._lag_key(code)
            within[key] = eff(d)
            draws[key] = d.ravel()
            rows.append(row(names[code[1]], "~", names[code[0]], d, term=key))
        if self._same is not None:
            cause, out = self._same
            d = rep["same"] * self._lag_factor(cause + out)
            key = same_session_key(names[cause], names[out])
            within[key] = eff(d)
            draws[key] = d.ravel()
            rows.append(row(names[out], "~", names[cause], d, term=key))
        if self.time != "none":
            gt = np.asarray(post["gamma_trend"])
            for j, v in enumerate((x, y)):
                d = gt[..., j] * sc[j] / TREND_UNIT
                rows.append(row(v, "~", self.panel.session, d, term=f"trend({v})"))
        if self.random_innovations:
            gls = np.asarray(post["gamma_log_sigma"])
            for j, v in enumerate((x, y)):
                d = np.log(sc[j]) + gls[..., j]
                rows.append(row(v, "log_sd", "innovation", d, term=f"log_sigma({v})"))
        else:
            sg = rep["sigma"]
            for j, v in enumerate((x, y)):
                rows.append(row(v, "sd", "innovation", sc[j] * sg[..., j], term=f"sigma({v})"))
        if self._same is None:  # a directed same-session path leaves none (structural form)
            term = f"cor_innovation({x},{y})"
            rows.append(row(f"innovation({x})", "cor", f"innovation({y})", rep["rho"], term=term))

        sds, corr = rep["sds"], rep["corr"]
        factors = self._re_factors()
        for j, name in enumerate(self.random_names):
            d = sds[..., j] * factors[j]
            rows.append(row(name, "sd", self.panel.client, d, term=f"sd({name})"))
            between[f"sd({name})"] = eff(d)
        for a in range(len(self.random_names)):
            for b in range(a + 1, len(self.random_names)):
                d = corr[..., a, b]
                ra, rb = self.random_names[a], self.random_names[b]
                rows.append(row(ra, "cor", rb, d, term=f"cor({ra},{rb})"))
        between = {between_key(x, y): eff(corr[..., 0, 1]), **between}
        if self.therapist:
            st = np.asarray(post["sd_therapist"])
            for j, v in enumerate((x, y)):
                d = sc[j] * st[..., j]
                th = self.panel.therapist
                rows.append(row(f"mean({v})", "sd", th, d, term=f"sd_therapist(mean({v}))"))
                between[f"sd_therapist(mean({v}))"] = eff(d)
        if g.cov is not None:
            beta = rep["beta"]
            for j, name in enumerate(self.random_names):
                for c, cv in enumerate(g.covariates):
                    d = beta[..., j, c] * factors[j] / g.cov_scale[c]
                    rows.append(row(name, "~", cv, d, term=f"{name} ~ {cv}"))

        notes = list(self.notes)
        notes.append(
            "effects.within are the average (fixed) lagged effects of the latent-centred VAR(1), "
            f"raw units, posterior mean, posterior SD and {self.level:.0%} credible interval; "
            f"effects.between['{between_key(x, y)}'] is the correlation of the latent client "
            "means, 'sd(...)' entries the between-client SDs of the random effects."
        )
        if self.time == "client":
            notes.append(
                "time='client': the latent means follow each client's own linear trend: "
                "'trend(...)' rows are the average change per session (raw units), "
                "'sd(trend(...))' its between-client SD, and 'mean(...)' the level at the middle "
                "of a client's sessions."
            )
        elif self.time == "common":
            notes.append(
                "time='common': the latent means follow one linear trend shared by all clients: "
                "'trend(...)' rows are the change per session (raw units), and 'mean(...)' the "
                "level at the middle of a client's sessions."
            )
        notes.append("params: a lagged effect 'y ~ x' has x at the previous session (term 'x->y').")
        if self._same is not None:
            cause, out = (names[v] for v in self._same)
            key = same_session_key(cause, out)
            notes.append(
                f"same_session='{self.same_session}': {cause} is taken to be rated before "
                f"{out} in each session, so the same-session innovation covariance is reported "
                f"as a directed path {out} ~ {cause} (effects.within['{key}'], params term "
                f"'{key}'; b = cov / var of the innovations per draw), with uncorrelated "
                f"structural innovations ('sigma({out})' is the structural SD). The lagged "
                f"effects into {out} ({effect_key(out, out)}, {effect_key(cause, out)}) are "
                f"then the direct ones, not passing through the same session's {cause} "
                "rating (for the average, each client's, and the random effects' SDs and "
                "correlations); the model, its likelihood and draws are those of the "
                "covariance version (a reparameterisation, as for the free-lag RI-CLPM)."
            )
        if len(g.miss_pos):
            n_miss_rating = g.n_missing_ratings
            notes.append(
                f"{len(g.miss_pos)} latent cells: {n_miss_rating} missing ratings and "
                f"{g.n_missed_sessions} missed session(s) (both variables) imputed within the model."
            )
        notes.append(describe_priors(self.priors) + " (standardised scale)")
        return BayesResults(
            model=self.name,
            n_clients=g.n_clients,
            n_observations=g.n_rows,
            effects={"within": within, "between": between},
            params=params_frame(rows),
            fit={},
            excluded=dict(g.excluded),
            seconds=seconds,
            notes=notes,
            idata=idata,
            clients=self._client_table(post, rep["client_lag"]),
            priors=dict(self.priors),
            sampler=sampler,
            draws=draws,
            imputed=self._imputed(post),
        )

    def _re_factors(self) -> np.ndarray:
        sc = self.grid.scale
        f = [sc[0], sc[1]]
        if self.random_lags:
            f += [self._lag_factor(c) for c in LAGS]
        if self.trend:
            f += [sc[0] / TREND_UNIT, sc[1] / TREND_UNIT]  # raw units per session
        if self.random_innovations:
            f += [1.0, 1.0]  # SD of a log SD does not change with units
        return np.asarray(f, dtype=float)

    def _client_table(self, post: Any, cl: np.ndarray | None) -> pd.DataFrame:
        """Each client's random effects, raw units; ``cl`` the client lags as reported
        (:meth:`_reported`; None without random lags)."""
        g = self.grid
        x, y = self.panel.x, self.panel.y
        blocks = []
        cm = np.asarray(post["client_mean"])
        for j, v in enumerate((x, y)):
            blocks.append((f"mean({v})", g.loc[j] + g.scale[j] * cm[..., j]))
        if self.random_lags:
            for j, code in enumerate(LAGS):
                blocks.append((self._lag_key(code), cl[..., j] * self._lag_factor(code)))
        if self.trend:
            ct = np.asarray(post["client_trend"])
            for j, v in enumerate((x, y)):
                blocks.append((f"trend({v})", ct[..., j] * g.scale[j] / TREND_UNIT))
        if self.random_innovations:
            cs = np.asarray(post["client_sigma"])
            for j, v in enumerate((x, y)):
                blocks.append((f"sigma({v})", g.scale[j] * cs[..., j]))
        return pd.concat(
            [client_rows(g.clients, n, d, self.level) for n, d in blocks], ignore_index=True
        )

    def _draw_arrays(self, post: Any) -> dict[str, Any]:
        """Per-draw client effects on the standardised scale, shaped ``(chain, draw, ...)``.

        ``mu`` (client, 2), ``trend`` (client, 2; or None without latent trends), ``phi``
        (client, 4; fixed lags broadcast), ``sigma`` (client, 2; a shared SD broadcast),
        ``rho`` and the imputed cells ``missing`` (or None).
        """
        g = self.grid
        nc, nd = post.sizes["chain"], post.sizes["draw"]
        if self.random_lags:
            phi = np.asarray(post["client_lag"])
        else:
            phi = np.broadcast_to(
                np.asarray(post["gamma_lag"])[:, :, None, :], (nc, nd, g.n_clients, 4)
            )
        if self.random_innovations:
            sig = np.asarray(post["client_sigma"])
        else:
            sig = np.broadcast_to(
                np.asarray(post["sigma"])[:, :, None, :], (nc, nd, g.n_clients, 2)
            )
        return {
            "mu": np.asarray(post["client_mean"]),
            "trend": self._trend_draws(post),
            "phi": phi,
            "sigma": sig,
            "rho": np.asarray(post["rho"]),
            "missing": np.asarray(post["missing"])[..., : len(g.miss_pos)]
            if len(g.miss_pos)
            else None,
        }

    def _trend_draws(self, post: Any) -> np.ndarray | None:
        """Each client's latent trend per draw ``(chain, draw, client, 2)``; None without."""
        if self.time == "client":
            return np.asarray(post["client_trend"])
        if self.time == "common":
            gt = np.asarray(post["gamma_trend"])
            return np.broadcast_to(gt[:, :, None, :], gt.shape[:2] + (self.grid.n_clients, 2))
        return None

    def _one_step(self, a: dict[str, Any], ch: int) -> tuple[np.ndarray, ...]:
        """Chain ``ch``'s one-step-ahead moments of every non-first slot (standardised scale).

        Returns ``w`` (the deviations ``w_it`` from the latent means, observed or imputed), the
        latent means ``mu_it`` themselves (``mu_i``, plus the client's trend with ``trend``)
        and the conditional means of ``w_it`` given the previous slot, ``Phi_i w_i,t-1``, each
        shaped ``(draw, client, slot - 1, 2)``, and the innovation SDs ``(draw, client, 1, 2)``;
        written once for the log-likelihood and the posterior predictive replicates.
        """
        g = self.grid
        nd = a["mu"].shape[1]
        v = np.broadcast_to(g.filled, (nd, g.filled.size)).copy()
        if a["missing"] is not None:
            v[:, g.miss_pos] = a["missing"][ch]
        level = np.broadcast_to(a["mu"][ch][:, :, None, :], (nd, g.n_clients, g.n_slots, 2))
        if a["trend"] is not None:
            level = level + a["trend"][ch][:, :, None, :] * g.time[None, :, :, None]
        w = v.reshape(nd, g.n_clients, g.n_slots, 2) - level
        wp = w[:, :, :-1]
        ph = a["phi"][ch][:, :, None, :]
        cond = np.stack(
            [
                ph[..., 0] * wp[..., 0] + ph[..., 2] * wp[..., 1],
                ph[..., 1] * wp[..., 0] + ph[..., 3] * wp[..., 1],
            ],
            axis=-1,
        )
        return w[:, :, 1:], level[:, :, 1:], cond, a["sigma"][ch][:, :, None, :]

    def _add_loglik(self, idata: Any) -> None:
        """Pointwise log-likelihood of each session transition, added to ``idata``."""
        import xarray as xr

        g, post = self.grid, idata.posterior
        a = self._draw_arrays(post)
        nc, nd = post.sizes["chain"], post.sizes["draw"]
        keep = np.flatnonzero(g.valid.ravel())
        out = np.empty((nc, nd, len(keep)))
        for ch in range(nc):
            wc, _, cond, sg = self._one_step(a, ch)
            u = (wc - cond) / sg
            ux, uy = u[..., 0], u[..., 1]
            r = a["rho"][ch][:, None, None]
            om = 1 - r**2
            lp = (
                -np.log(sg[..., 0] * g.scale[0])
                - np.log(sg[..., 1] * g.scale[1])
                - 0.5 * np.log(om)
                - (ux**2 - 2 * r * ux * uy + uy**2) / (2 * om)
                - np.log(2 * np.pi)
            )
            out[ch] = lp.reshape(nd, -1)[:, keep]
        ds = xr.Dataset(
            {"transitions": (("chain", "draw", "transition"), out)},
            coords={"chain": post["chain"], "draw": post["draw"]},
        )
        with ignoring(*INFERENCEDATA):
            if "log_likelihood" in idata.groups():
                idata.log_likelihood["transitions"] = ds["transitions"]
            else:
                idata.add_groups({"log_likelihood": ds})

    def _replicate(self, posterior: Any, rng: np.random.Generator) -> Replicates:
        """Every observed rating at a non-first slot, drawn one session ahead, in raw units.

        For each draw: ``mu_it + Phi_i w_i,t-1 + e`` with ``e`` bivariate normal (the draw's
        innovation SDs and correlation) and ``w_i,t-1`` the previous slot's observed or imputed
        deviation; ``mu_it + Phi_i w_i,t-1`` is the conditional mean (``mu_it = mu_i`` unless
        the latent means trend). A client's first slot has
        no previous one and is not replicated.
        """
        g = self.grid
        a = self._draw_arrays(posterior)
        nc, nd = posterior.sizes["chain"], posterior.sizes["draw"]
        seen = ~np.isnan(g.raw[:, 1:])  # (client, slot - 1, 2): observed ratings after slot 0
        reps = [np.empty((nc, nd, int(seen[..., k].sum()))) for k in (0, 1)]
        means = [np.empty_like(r) for r in reps]
        for ch in range(nc):
            _, level, cond, sg = self._one_step(a, ch)
            z = rng.standard_normal(cond.shape)
            r = a["rho"][ch][:, None, None]
            e0 = sg[..., 0] * z[..., 0]
            e1 = sg[..., 1] * (r * z[..., 0] + np.sqrt(1 - r**2) * z[..., 1])
            m = level + cond
            new = m + np.stack([e0, e1], axis=-1)
            for k in (0, 1):
                reps[k][ch] = g.loc[k] + g.scale[k] * new[..., k][:, seen[..., k]]
                means[k][ch] = g.loc[k] + g.scale[k] * m[..., k][:, seen[..., k]]
        names = (self.panel.x, self.panel.y)
        observed, client, session = {}, {}, {}
        for k, v in enumerate(names):
            ci, slot = np.nonzero(seen[..., k])
            observed[v] = g.raw[:, 1:, k][seen[..., k]]
            client[v] = np.asarray(g.clients)[ci]
            session[v] = g.first_session[ci] + slot + 1
        return Replicates(
            observed=observed,
            replicated=dict(zip(names, reps, strict=True)),
            mean=dict(zip(names, means, strict=True)),
            client=client,
            session=session,
            chains=np.asarray(posterior["chain"]),
            draws=np.asarray(posterior["draw"]),
        )


def _rhat_all(idata: Any) -> float:
    """Largest R-hat over every sampled variable (random effects and latent cells included)."""
    import arviz as az

    with ignoring(*ARVIZ_DIAGNOSTICS):
        r = az.rhat(idata.posterior)
    vals = [np.nanmax(np.asarray(r[v], dtype=float)) for v in r.data_vars if np.asarray(r[v]).size]
    vals = [v for v in vals if np.isfinite(v)]
    return float(max(vals)) if vals else float("nan")
