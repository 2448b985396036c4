"""Dynamic panel estimators: Anderson–Hsiao IV and Arellano–Bond difference GMM.

Why: with a lagged outcome and client fixed effects, the within estimator is biased when clients
have few sessions (Nickell 1981, about ``-(1 + ρ)/(T - 1)`` for the autoregression), and the bias
spills into the cross-lagged effect. First differences remove the fixed effects; the lagged
difference ``Δo_{t-1}`` is then correlated with ``Δe_t``, and levels two or more sessions back
are valid instruments (Anderson & Hsiao 1981; Arellano & Bond 1991). Falkenström et al. (2017,
*JCCP* 85(6)) applied these to session-by-session alliance and symptom ratings.

Model, for each of the two variables as outcome ``o`` (the other is ``c``)::

    o_it = a o_i,t-1 + b c_i,t-1 (+ session effect) + η_i + e_it
    Δo_it = a Δo_i,t-1 + b Δc_i,t-1 (+ Δ session effect) + Δe_it,   t = 3, 4, ...

The alliance is treated as *predetermined* by default (it may respond to the same session's
symptom shock, so its levels from ``t - 2`` back are instruments), not strictly exogenous.

What comes from linearmodels and what is built here, and why
-------------------------------------------------------------
* The instrument matrices are built in :mod:`causalrel.panel.design`: linearmodels has no
  Arellano–Bond estimator and no GMM-style instruments.
* Estimation uses linearmodels: :class:`~linearmodels.iv.model.IV2SLS` for Anderson–Hsiao
  (exactly identified), :class:`~linearmodels.iv.model.IVGMM` for difference GMM. IVGMM *can*
  reproduce pgmm's one-step estimator: its ``fit(initial_weight=...)`` accepts any first-step
  weight, and we pass ``(Σ_i Z_i'H Z_i / n)^{-1}`` with ``H`` the tridiagonal (2, -1) covariance
  of first-differenced i.i.d. errors — a matrix IVGMM cannot form itself, since its weight
  estimators see rows, not the session order within a client; ``H`` is applied here through each
  row's neighbour at the previous session (a missed session breaks the chain, as in pgmm's
  zero rows). With ``iter_limit=1`` and ``cov_type="clustered"`` by client this is pgmm's
  one-step estimate with its robust SEs; with ``iter_limit=2`` and the clustered weight
  ``(Σ_i Z_i'ê_i ê_i'Z_i)^{-1}`` it is pgmm's two-step estimate (scale factors cancel). The
  fixtures in ``tests/reference`` confirm it: estimates agree with pgmm to 1e-8 and better.
  A linearmodels limitation that remains: it refuses rank-deficient instruments (pgmm uses a
  generalised inverse), so instruments without data or exactly redundant are dropped first
  (:func:`causalrel.panel.design.difference_design`; counted in
  ``fit["instruments_redundant.<outcome>"]``).
* Windmeijer's (2005) finite-sample correction of the two-step SEs is computed here: linearmodels'
  GMM covariance treats the weight matrix as known, which makes two-step SEs far too small.
* The Hansen/Sargan and Arellano–Bond AR tests are in :mod:`causalrel.panel.hypotheses` (see there).
* Standard errors clustered above the client (``fit(cluster="therapist")``) are computed here
  too (:func:`clustered_cov`): pgmm has no such option and linearmodels' clustered GMM
  covariance, like its two-step one, knows nothing of Windmeijer's correction. For one-step GMM
  and Anderson–Hsiao the result equals linearmodels' clustered covariance with the same
  clusters (a test checks it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS, IVGMM

from ..data import DataError, SessionPanel, client_column
from ..design import detrend_panel, first_differences, merge_exclusions
from ..results import Effect, effect_key
from .design import (
    CAUSE_TYPES,
    DifferenceDesign,
    check_clusters,
    cluster_note,
    difference_design,
    resolve_time,
)
from .hypotheses import ar_test, cluster_sums, hansen_test, sargan_test, sum_by_cluster
from .results import PanelResults, param_rows

__all__ = ["DynamicPanel", "EquationGMM", "fit_difference", "clustered_cov"]

METHODS = {
    "two-step": "two-step",
    "twostep": "two-step",
    "twosteps": "two-step",
    "one-step": "one-step",
    "onestep": "one-step",
    "anderson-hsiao": "anderson-hsiao",
    "ah": "anderson-hsiao",
}


@dataclass
class EquationGMM:
    """One differenced equation's estimates, covariance and specification tests."""

    outcome: str
    method: str
    names: list[str]
    params: np.ndarray
    cov: np.ndarray
    tests: dict[str, Any]
    n_obs: int
    n_clients: int
    n_instruments: int
    design: DifferenceDesign = field(repr=False)
    raw: Any = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    #: Number of clusters of ``cov`` when clustered by a column other than the client.
    n_clusters: int | None = None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def coef(self, name: str) -> tuple[float, float]:
        j = self.names.index(name)
        return float(self.params[j]), float(self.se[j])


def _zhz(Z: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """``Σ_i Z_i'H Z_i``: ``H`` has 2 on the diagonal and -1 between consecutive sessions."""
    has = prev >= 0
    a, b = Z[has], Z[prev[has]]
    cross = a.T @ b
    return 2.0 * (Z.T @ Z) - cross - cross.T


def _inv(a: np.ndarray, what: str, notes: list[str]) -> np.ndarray:
    """Inverse of a symmetric matrix; the pseudo-inverse (as pgmm) with a note if it is singular."""
    w = np.linalg.eigvalsh(a)
    if w.min() <= 1e-9 * max(w.max(), 1e-300):
        notes.append(f"The {what} is singular; a generalised inverse was used (as R's pgmm does).")
        return np.linalg.pinv(a, hermitian=True)
    return np.linalg.inv(a)


def fit_difference(
    design: DifferenceDesign, method: str = "two-step", clusters: np.ndarray | None = None
) -> EquationGMM:
    """Estimate one differenced equation by Anderson–Hsiao IV or one-/two-step difference GMM.

    ``clusters`` (optional): for each of the design's clients (``design.clients``, in order),
    the code 0..K-1 of its cluster (e.g. its therapist). The estimates do not change (the GMM
    weights stay the client-level ones, see :func:`clustered_cov`); the reported covariance
    ``cov`` is then cluster-robust at that level, and so are the Hansen and AR tests
    (:func:`_cluster_tests`; pgmm's client-level ones are kept in ``tests`` with the suffix
    ``_by_client``). The Sargan test assumes homoskedastic, independent errors and stays the
    client-level one.
    """
    d = design
    notes: list[str] = []
    Xa = np.hstack([d.V, d.X])  # (exog first, as linearmodels orders parameters)
    Za = np.hstack([d.V, d.Z])
    names = d.v_names + d.x_names
    y = d.y
    n, k = Xa.shape
    m = Za.shape[1]
    starts = d.starts
    G = d.n_clients
    exog = d.V if d.V.shape[1] else None
    if m < k:
        raise DataError(
            f"The {d.outcome} equation has {m} instruments for {k} parameters; it is not "
            "identified. Allow deeper lags (max_lag) or more sessions."
        )
    if G < 2:
        raise DataError(
            f"The {d.outcome} equation has rows from only {G} client(s); 2+ are needed."
        )

    if method == "anderson-hsiao":
        res = _guard(
            lambda: IV2SLS(y, exog, d.X, d.Z).fit(cov_type="clustered", clusters=d.groups), d
        )
        params = np.asarray(res.params, float)
        cov = np.asarray(res.cov, float)
        a_w = _inv(Za.T @ Za, "instrument cross-product matrix", notes)
        xz = Xa.T @ Za
        influence = np.linalg.solve(xz @ a_w @ xz.T, xz @ a_w)
        e = y - Xa @ params
        tests = _tests(e, e, Xa, Za, influence, cov, d, starts, zhz=None, k=k)
        if clusters is not None:
            cov = clustered_cov(influence, cluster_sums(Za * e[:, None], starts), clusters)
            tests = _cluster_tests(tests, e, e, y, Xa, Za, influence, cov, d, clusters, k, None)
        return EquationGMM(
            d.outcome, method, names, params, cov, tests, n, G, m, d, res, notes, _k(clusters)
        )

    zhz = _zhz(Za, d.neighbour(1))
    a1 = _inv(zhz, "first-step weight matrix (Σ Z'HZ)", notes)
    if method == "two-step" and G <= m:
        raise DataError(
            f"Two-step GMM for {d.outcome} needs more clients than instruments, to estimate "
            f"the weight matrix: {G} clients could be used and there are {m} instruments. "
            "Use collapse=True, a smaller max_lag, or method='one-step'."
        )
    model = _guard(lambda: IVGMM(y, exog, d.X, d.Z, weight_type="clustered", clusters=d.groups), d)
    iters = 1 if method == "one-step" else 2
    res = _guard(
        lambda: model.fit(
            iter_limit=iters, initial_weight=a1 * n, cov_type="clustered", clusters=d.groups
        ),
        d,
    )
    params = np.asarray(res.params, float)
    xz = Xa.T @ Za
    b1_inv = xz @ a1 @ xz.T
    b1 = np.linalg.inv(b1_inv)
    beta1 = b1 @ (xz @ (a1 @ (Za.T @ y)))
    e1 = y - Xa @ beta1
    s1 = cluster_sums(Za * e1[:, None], starts)
    omega1 = s1.T @ s1  # Σ_i Z_i'ê1_i ê1_i'Z_i
    one_step = b1 @ xz @ a1  # (k, m): b1 - β ≈ one_step Z'e
    if method == "one-step":
        cov = np.asarray(res.cov, float)  # = B1 X'Z A1 Ω1 A1 Z'X B1 (robust one-step)
        influence = one_step
        e = e1
        sandwich = one_step
    else:
        a2 = _inv(omega1, "second-step weight matrix (Σ Z'ee'Z)", notes)
        b2 = np.linalg.inv(xz @ a2 @ xz.T)
        e = y - Xa @ params
        v1 = b1 @ (xz @ a1 @ omega1 @ a1 @ xz.T) @ b1
        influence = b2 @ xz @ a2
        D = _windmeijer_d(Xa, Za, s1, e, a2, influence, starts)
        cov = _windmeijer(b2, D, v1)
        sandwich = influence + D @ one_step
    tests = _tests(e, e1, Xa, Za, influence, cov, d, starts, zhz=zhz, k=k, omega1=omega1)
    if clusters is not None:
        cov = clustered_cov(sandwich, s1, clusters)
        two_step = method == "two-step"
        tests = _cluster_tests(
            tests, e, e1, y, Xa, Za, influence, cov, d, clusters, k, xz if two_step else None
        )
        if np.isnan(tests["hansen"]) and tests["hansen_df"] > 0:
            notes.append(
                f"{d.outcome}: {int(clusters.max()) + 1} clusters for {m} instruments: the "
                "cluster-level Hansen test needs more clusters than instruments and is not "
                "reported (collapse=True or a smaller max_lag)."
            )
    if m > G:
        notes.append(
            f"{d.outcome}: {m} instruments for {G} clients; with more instruments than clients "
            "the Hansen test is weak. Consider collapse=True or max_lag."
        )
    return EquationGMM(
        d.outcome, method, names, params, cov, tests, n, G, m, d, res, notes, _k(clusters)
    )


def _k(clusters: np.ndarray | None) -> int | None:
    return None if clusters is None else int(clusters.max()) + 1


def _windmeijer_d(Xa, Za, be, e2, a2, left, starts) -> np.ndarray:
    """Windmeijer's (2005) ``D``: the derivative of the two-step estimate with respect to the
    one-step estimate through the weight matrix,
    ``D[:, k] = B2 X'Z A2 (Σ_i Z_i'(x_ik ê1_i' + ê1_i x_ik')Z_i) A2 Z'ê2``
    (``be``: the clients' ``Z_i'ê1_i``, ``left``: ``B2 X'Z A2``)."""
    k = Xa.shape[1]
    g = a2 @ (Za.T @ e2)  # A2 Z'ê2
    D = np.empty((k, k))
    for j in range(k):
        ax = cluster_sums(Za * Xa[:, j : j + 1], starts)  # (G, m): Z_i'x_ij
        dom = ax.T @ be
        dom = dom + dom.T
        D[:, j] = left @ (dom @ g)
    return D


def _windmeijer(b2: np.ndarray, D: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Windmeijer (2005) corrected covariance of the two-step estimator:
    ``V = B2 + D B2 + B2 D' + D V1 D'`` with ``V1`` the robust one-step covariance."""
    v = b2 + D @ b2 + b2 @ D.T + D @ v1 @ D.T
    return (v + v.T) / 2


def clustered_cov(sandwich: np.ndarray, client_moments: np.ndarray, clusters: np.ndarray):
    """Cluster-robust covariance ``M Ω_K M'`` of an IV/GMM estimate ``b - β ≈ M Z'e``.

    ``Ω_K = Σ_c (Σ_{i in c} Z_i'ê_i)(Σ_{i in c} Z_i'ê_i)'`` sums the clients' moments
    (``client_moments``, one row per client, one-step residuals) within each cluster
    (``clusters``: each client's code 0..K-1) before the outer products: clients of one
    therapist may share shocks, clients of different therapists may not. For the two-step
    estimator ``M = B2 X'Z A2 + D B1 X'Z A1`` (Windmeijer's expansion, ``D`` as in
    :func:`_windmeijer_d`): with one client per cluster, ``M Ω M'`` equals Windmeijer's
    ``B2 + D B2 + B2 D' + D V1 D'`` exactly (``A2 = Ω^{-1}``), which is how the fixture of
    ``tests/reference/plm/plm_dpd_cluster.R`` checks it against pgmm. The weight matrices stay
    the client-level ones, so clustering changes the standard errors, not the estimates: with
    the usual 20-50 therapists a weight matrix estimated from therapist sums would be singular
    or noisy whenever the instruments outnumber the therapists (Roodman 2009's
    too-many-instruments problem, at the cluster level).
    """
    sums = np.zeros((int(clusters.max()) + 1, client_moments.shape[1]))
    np.add.at(sums, clusters, client_moments)
    v = sandwich @ (sums.T @ sums) @ sandwich.T
    return (v + v.T) / 2


def _tests(e, e1, Xa, Za, influence, cov, d, starts, *, zhz, k, omega1=None) -> dict[str, Any]:
    out: dict[str, Any] = {"n_instruments": int(Za.shape[1])}
    if omega1 is None:
        s1 = cluster_sums(Za * e1[:, None], starts)
        omega1 = s1.T @ s1
    h = hansen_test(Za, e, omega1, k)
    out.update(hansen=h.stat, hansen_df=h.df, hansen_pvalue=h.pvalue)
    if zhz is not None:
        s = sargan_test(Za, e1, zhz, k)
        out.update(sargan=s.stat, sargan_df=s.df, sargan_pvalue=s.pvalue)
    for order in (1, 2, 3)[: 2 + d.lag_shift]:  # on first differences the AR(3) test matters
        r = ar_test(e, Xa, Za, influence, cov, d.neighbour(order), starts)
        out[f"ar{order}"] = r.stat
        out[f"ar{order}_pvalue"] = r.pvalue
    return out


def _cluster_tests(tests, e, e1, y, Xa, Za, influence, cov, d, clusters, k, xz) -> dict:
    """The Hansen and AR tests at the cluster level (:mod:`causalrel.panel.hypotheses`), as
    xtabond2 with ``cluster()``: moments and residual products summed within clusters, ``cov``
    the cluster-robust covariance. Hansen: with ``xz`` (two-step) the minimum of the GMM
    objective with the cluster-level weight (the two-step estimate re-weighted by clusters;
    the reported estimates keep the client-level weight), else the reported residuals ``e``
    with the cluster-level moment covariance; NaN when there are no more clusters than
    instruments. pgmm's client-level statistics are kept with the suffix ``_by_client``."""
    names = ["hansen", "hansen_df", "hansen_pvalue"] + [
        f"ar{j}{p}" for j in (1, 2, 3) for p in ("", "_pvalue") if f"ar{j}" in tests
    ]
    out = {k_: v for k_, v in tests.items() if k_ not in names}
    out.update({f"{n}_by_client": tests[n] for n in names})
    m = Za.shape[1]
    S = sum_by_cluster(cluster_sums(Za * e1[:, None], d.starts), clusters)
    omega = S.T @ S
    n_clusters = int(clusters.max()) + 1
    if m - k <= 0:
        h = hansen_test(Za, e, omega, k)
        out.update(hansen=h.stat, hansen_df=h.df, hansen_pvalue=h.pvalue)
    elif n_clusters <= m:
        out.update(hansen=float("nan"), hansen_df=m - k, hansen_pvalue=float("nan"))
    else:
        ek = e
        if xz is not None:
            a = np.linalg.pinv(omega, hermitian=True)
            bk = np.linalg.solve(xz @ a @ xz.T, xz @ (a @ (Za.T @ y)))
            ek = y - Xa @ bk
        h = hansen_test(Za, ek, omega, k)
        out.update(hansen=h.stat, hansen_df=h.df, hansen_pvalue=h.pvalue)
    for order in (1, 2, 3)[: 2 + d.lag_shift]:
        r = ar_test(e, Xa, Za, influence, cov, d.neighbour(order), d.starts, clusters)
        out[f"ar{order}"] = r.stat
        out[f"ar{order}_pvalue"] = r.pvalue
    return out


def _guard(call, d: DifferenceDesign):
    """Run a linearmodels call; turn its rank and singularity errors into DataErrors."""
    try:
        return call()
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise DataError(
            f"The {d.outcome} equation cannot be estimated with these instruments "
            f"({d.Z.shape[1]} instruments, {d.n} rows, {d.n_clients} clients): {exc} "
            "Try collapse=True, a smaller max_lag, or more data."
        ) from exc


class DynamicPanel:
    """Dynamic panel GMM for the cross-lagged within-client effects (``causalrel fit dpd``).

    Both equations, ``y_t ~ y_{t-1} + x_{t-1}`` and ``x_t ~ x_{t-1} + y_{t-1}``, are estimated
    in first differences with lagged levels as instruments.

    Parameters
    ----------
    panel : SessionPanel
    collapse : bool
        One instrument column per lag (default) instead of one per session and lag. The
        uncollapsed set grows with the square of the number of sessions and soon exceeds the
        number of clients, which biases GMM towards the within estimator and makes the Hansen
        test meaningless (Roodman 2009); pass ``False`` for Arellano & Bond's original set.
    max_lag : int, optional
        Deepest lagged level used as instrument (``None``: all).
    cause_type : {"predetermined", "exogenous", "endogenous"}
        How the other variable's lag is treated in each equation (default predetermined: the
        alliance may respond to the same session's symptoms; instruments from ``t - 2``).
    time : {"none", "common", "client"}
        Change over sessions. ``"common"`` (default): session effects (differenced session
        dummies, also instruments; plm's ``pgmm(effect = "twoways")``, which is R's default
        too). ``"none"``: no time terms, right only when nothing changes over sessions on
        average. ``"client"``: also each client's own linear trend, by the
        random-trend model (Wooldridge 2010 sec. 11.7): the differenced equation is estimated
        on the first differences of the data, where the trend is a client constant, with the
        differences from ``t - 3`` on as instruments (the errors are then MA(1)); a client
        needs four consecutive sessions. Equal to ``pgmm`` on the differenced data with
        instruments ``lag(., 3:99)``. Detrending the series before GMM (the deprecated
        ``detrend=True``) instead makes every session's value depend on every other one, which
        invalidates the lagged instruments. Why ``"common"`` is the default:
        benchmarks/validate_panel_time.py (results/validate_panel_time.json) measures both
        cross-lags under each value in worlds without change, with a shared trend and with
        client trends (600 x 6, 300 x 10, 150 x 15): ``"common"`` is right (bias below the
        bar, coverage near 0.95) without change and with a shared trend, where ``"none"`` is
        biased by up to +0.29; under client trends no value is right in every size
        (``"client"`` is consistent but its instruments are weak in short series).
    time_effects : bool, optional
        Deprecated: ``time="common"``.
    detrend : bool, optional
        Deprecated (one release): removes each client's linear trend first
        (:func:`causalrel.decompose.detrend`); use ``time="client"``.

    Examples
    --------
    >>> from causalrel.simulate import simulate
    >>> res = DynamicPanel(simulate(300, 8, seed=1).panel()).fit()
    >>> sorted(res.effects["within"])[:2]
    ['alliance->alliance', 'alliance->symptoms']
    """

    # -- what the family is (read by causalrel.families; see CONTRIBUTING.md) --
    name = "dpd"
    summary = "dynamic-panel GMM (Arellano-Bond), as R's plm::pgmm"
    assumes = (
        "Assumes Arellano-Bond differencing removes the stable traits and that earlier sessions' "
        "scores are valid instruments (no second-order serial correlation)."
    )
    distrust_when = (
        "Distrust it when the AR(2) or Hansen/Sargan test rejects, or when wide intervals show "
        "weak instruments (many instruments, few clients)."
    )
    samples = False
    time_support = ("none", "common", "client")

    def __init__(
        self,
        panel: SessionPanel,
        *,
        collapse: bool = True,
        max_lag: int | None = None,
        cause_type: str = "predetermined",
        time: str = "common",
        time_effects: bool | None = None,
        detrend: bool | None = None,
    ) -> None:
        if cause_type not in CAUSE_TYPES:
            raise DataError(
                f"cause_type must be one of {', '.join(CAUSE_TYPES)}; got {cause_type!r}."
            )
        self.panel = panel
        self.collapse = bool(collapse)
        self.max_lag = max_lag
        self.cause_type = cause_type
        self.time, self.detrend = resolve_time("dpd", time, time_effects, detrend)

    def fit(
        self, *, method: str = "two-step", cluster: str | None = None, level: float = 0.95
    ) -> PanelResults:
        """Estimate both equations.

        Parameters
        ----------
        method : {"two-step", "one-step", "anderson-hsiao"}
            Two-step GMM with Windmeijer-corrected SEs (default), one-step GMM with
            client-clustered SEs, or Anderson–Hsiao IV (one instrument per regressor).
        cluster : str, optional
            Cluster the standard errors by this client-level column instead of the client
            (e.g. ``"therapist"``: clients nested in therapists, who may share session-to-session
            shocks); the same option as the SEM and fixed-effects families' ``cluster``. The
            clients' moments ``Z_i'ê_i`` are summed within clusters in the robust (one-step,
            Anderson–Hsiao) or Windmeijer-corrected (two-step) covariance
            (:func:`clustered_cov`); estimates and weights are unchanged. The Hansen and
            AR tests are computed at the cluster level too (moments and residual products
            summed within clusters, as Stata's ``xtabond2`` with ``cluster()``; the Hansen
            test needs more clusters than instruments), pgmm's client-level ones kept as
            ``fit["<test>_by_client.<outcome>"]``; the Sargan test stays client-level.
        level : float
            Level of the Wald intervals of ``effects`` and ``params`` (default 0.95).

        Returns
        -------
        PanelResults
            ``effects["within"]`` holds ``"x->y"``, ``"y->x"``, ``"x->x"``, ``"y->y"`` (raw
            units); ``fit`` the Hansen/Sargan and AR(1)/AR(2) tests and the number of
            instruments per equation (keys ``"<test>.<outcome>"``).
        """
        key = str(method).lower().replace("_", "-")
        if key not in METHODS:
            raise DataError(
                f"Unknown method {method!r} for dpd; choose two-step, one-step or anderson-hsiao."
            )
        method = METHODS[key]
        panel = self.panel
        notes: list[str] = []
        if not (cluster is None or isinstance(cluster, str)) or "," in str(cluster or ""):
            raise DataError(
                f"cluster={cluster!r}: dpd clusters by one client-level column (e.g. "
                "'therapist'); two-way clustering is the fixed-effects family's (fe): its "
                "GMM moments are per client, so a session dimension has no cluster sum here."
            )
        codes = client_column(panel, cluster, "cluster", "the therapist") if cluster else None
        if self.detrend:
            panel, note = detrend_panel(panel)
            notes.append(note)
        data = panel  # the GMM's data: first differences for client-specific trends
        if self.time == "client":
            diffs = first_differences(panel.data, panel.client, panel.session, panel.variables)
            data = panel.with_values(diffs)
        start = time.perf_counter()
        eqs: dict[str, EquationGMM] = {}
        for outcome, cause in ((panel.y, panel.x), (panel.x, panel.y)):
            design = difference_design(
                data,
                outcome,
                cause,
                instruments="ah" if method == "anderson-hsiao" else "gmm",
                cause_type=self.cause_type,
                collapse=self.collapse,
                max_lag=self.max_lag,
                time_effects=self.time in ("common", "client"),
                lag_shift=int(self.time == "client"),
            )
            clusters = None
            if codes is not None:
                clusters = pd.factorize(codes.reindex(design.clients).to_numpy())[0]
                check_clusters(int(clusters.max()) + 1, cluster, outcome)
            eqs[outcome] = fit_difference(design, method, clusters)
        seconds = time.perf_counter() - start
        if cluster:
            k = max(eq.n_clusters or 0 for eq in eqs.values())
            notes.append(cluster_note(cluster, k))
            notes.append(
                f"Hansen and AR tests at the {cluster} level: the clients' moments and "
                f"residual products are summed within each {cluster} (as Stata's xtabond2 "
                "with cluster()); the client-level tests are in fit as "
                "'<test>_by_client.<outcome>', the Sargan test is client-level."
            )
        return _results(panel, eqs, method, self, notes, seconds, level)


def _results(panel, eqs, method, model, notes, seconds, level) -> PanelResults:
    x, y = panel.x, panel.y
    within: dict[str, Effect] = {}
    for outcome, eq in eqs.items():
        for cause in (x, y):
            est, se = eq.coef(f"{cause}_lag1")
            within[effect_key(cause, outcome)] = Effect.from_normal(est, se, level)
    rows = []
    for outcome, eq in eqs.items():
        rows += param_rows(outcome, eq.names, eq.params, eq.se, level)
    fit: dict[str, Any] = {"method": method}
    for outcome, eq in eqs.items():
        for name, value in eq.tests.items():
            fit[f"{name}.{outcome}"] = value
        fit[f"nobs.{outcome}"] = eq.n_obs
    for outcome, eq in eqs.items():
        fit[f"instruments_redundant.{outcome}"] = eq.design.dropped_instruments
        notes += eq.notes
    excluded = merge_exclusions({o: eq.design.excluded for o, eq in eqs.items()})
    for outcome, eq in eqs.items():
        k = 2 + eq.design.lag_shift  # the order whose correlation invalidates the instruments
        pk = eq.tests.get(f"ar{k}_pvalue")
        if pk is not None and np.isfinite(pk) and pk < 0.05:
            notes.append(
                f"{outcome}: AR({k}) test p = {pk:.3f}: the differenced residuals are serially "
                f"correlated at lag {k}, so the values {k} sessions back are not valid "
                "instruments and the estimates may be biased."
            )
        hp = eq.tests.get("hansen_pvalue")
        if hp is not None and np.isfinite(hp) and hp < 0.05:
            notes.append(
                f"{outcome}: Hansen test p = {hp:.3f}: the over-identifying restrictions are "
                "rejected; the instruments may be invalid (e.g. the cause is not predetermined)."
            )
    notes.append(
        f"Difference GMM ({method}); the cause is treated as {model.cause_type}; "
        f"{'collapsed' if model.collapse else 'uncollapsed'} instruments"
        + (f" up to lag {model.max_lag}" if model.max_lag else "")
        + {
            "none": "",
            "common": "; session effects",
            "client": "; session effects and client-specific linear trends (the random-trend "
            "model: GMM on first differences, instruments from t-3)",
        }[model.time]
        + ". Between-client differences are removed by differencing: no between effects."
    )
    ny = eqs[y]
    clients = set(ny.design.clients) | set(eqs[x].design.clients)
    return PanelResults(
        model="dpd",
        n_clients=len(clients),
        n_observations=int(ny.n_obs),
        effects={"within": within, "between": {}},
        params=pd.DataFrame(rows),
        fit=fit,
        diagnostics={"converged": True, "method": method},
        excluded=excluded,
        seconds=seconds,
        notes=notes,
        engine=eqs,
    )
