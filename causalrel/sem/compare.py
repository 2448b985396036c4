"""Comparing nested SEMs: the likelihood-ratio (chi-square difference) test, and the
chi-bar-square test when the restriction puts variances on the boundary (Stoel, Garre, Dolan
& van den Wittenboer 2006, *Psychological Methods* 11(4), 439-455).

CLPM vs RI-CLPM is the standard case: the CLPM is the RI-CLPM with the random-intercept
covariance matrix ``[[var RIx, cov], [cov, var RIy]]`` set to zero, a point on the boundary of
the cone of positive semi-definite matrices. The ordinary chi-square difference test (3 df)
is then conservative. Under H0 the LR statistic follows a mixture of chi-squares whose weights
depend on the cone and on the asymptotic covariance ``V`` of the three estimates. This cone
has faces of dimension 0 (the vertex), 1 (rank-one matrices) and 3 (the interior), so

    p = w1 P(chi2_1 > T) + w3 P(chi2_3 > T).

The weights are computed here by projecting draws ``Z ~ N(0, V)`` onto the cone in the metric
``V^-1`` (a fixed-seed Monte Carlo; the projection onto a rank-one face is a 1-D search over
the angle). ``V`` is taken from the RI-CLPM fit. Written here because no Python package
provides chi-bar-square weights for this cone.

RI-CLPM vs LCM-SR (:func:`compare_slopes`; the RI-CLPM is the LCM-SR with ``time="client"``
and wave-specific means, its slope variances and all covariances of the slopes set to 0) is
the random-slope case of Stram & Lee (1994, *Biometrics* 50(4), 1171-1177): the 4 x 4
covariance matrix of ``(RIx, RIy, Sx, Sy)`` loses its slope block. At that point the four
covariances between slopes and intercepts (and any effects of covariates on the slopes) are
locally unconstrained (the PSD condition ``S_slopes >= C' S_RI^-1 C`` is quadratic in them), and
the slope block ``(var Sx, var Sy, cov)`` is restricted to the 2 x 2 PSD cone. The tangent cone
is ``R^k x PSD_2`` with ``k = df - 3``, so under H0

    T ~ w0 chi2_k + w1 chi2_(k+1) + w3 chi2_(k+3),

with ``(w0, w1, w3)`` the PSD_2 weights (:func:`chibar_weights_psd2`) of the marginal
asymptotic covariance of the three slope-block estimates (profiling out free directions in
the ``V^-1`` metric leaves the marginal covariance), taken from the LCM-SR fit. For one slope
(Stram & Lee's case) the same construction gives their 50:50 mixture of ``chi2_k`` and
``chi2_(k+1)``. The theory assumes estimates kept inside the cone; this engine (like lavaan)
leaves variances unbounded, so with no slope variance most LCM-SR fits are improper
(negative slope variances) and the statistic is smaller than the constrained one would be.
Measured (benchmarks/validate_lcmsr.py, 100 RI-CLPM data sets of 600 clients x 7 sessions,
no slopes): rejection at 5% by the naive chi2(7) test 0.02, by the chi-bar-square 0.08 (Monte
Carlo SE about 0.027); both tests rejected in all 100 data sets with client slopes.

When either fit has ``estimator="mlr"`` the difference is the Satorra-Bentler (2001) scaled
difference (lavaan's ``lavTestLRT`` method for MLR, :func:`causalrel.sem.robust.scaled_difference`),
and the chi-bar-square weights come from the robust covariance of the full model's estimates.
The scaling factor of a fit made with ``estimator="ml"`` is computed from its estimates (the
estimates of ML and MLR are the same; only the scores' cross-products are needed), and when
either fit is clustered (``cluster=``) both scaling factors are the cluster-robust ones, so a
comparison never mixes a normal-theory and a robust statistic. Measured against lavaan's
``lavTestLRT`` for the pairs ``analyze`` tests (tests/reference/lavaan/lavaan_mlr_lrt.R).

For multiple-group fits, :func:`wald_equal_across_groups` tests whether parameters of one type
(by default the lagged effects) are equal across groups from a single free fit, the Wald
counterpart of ``compare_nested(fit with group_equal="regressions", free fit)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..data import DataError
from .robust import robust_inference, scaled_difference

__all__ = [
    "NestedTest",
    "WaldTest",
    "compare_nested",
    "compare_slopes",
    "chibar_weights_psd2",
    "wald_equal_across_groups",
]


@dataclass
class NestedTest:
    """Result of :func:`compare_nested`."""

    chisq: float
    df: int
    pvalue: float
    pvalue_chibar: float | None
    weights: dict[int, float] | None
    restricted: str
    full: str
    method: str = "likelihood ratio"
    chisq_unscaled: float | None = None
    scaling_factor: float | None = None
    estimator: str = "ml"
    cluster: str | None = None

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["test"] = self.describe()
        return out

    def describe(self) -> str:
        """The test in words, as the report names it (which statistic, which p-value)."""
        if self.scaling_factor is None:
            stat = "likelihood-ratio test (normal-theory ML)"
        else:
            where = f", clustered by {self.cluster}" if self.cluster is not None else ""
            stat = f"Satorra-Bentler (2001) scaled difference test (MLR{where})"
        if self.pvalue_chibar is not None:
            return f"{stat}, chi-bar-square p-value"
        return stat

    def __str__(self) -> str:
        scaled = " (scaled)" if self.scaling_factor is not None else ""
        s = (
            f"{self.restricted} vs {self.full}: chisq diff{scaled} = {self.chisq:.3f}, "
            f"df = {self.df}, p = {self.pvalue:.4g}"
        )
        if self.pvalue_chibar is not None:
            s += f"; chi-bar-square p = {self.pvalue_chibar:.4g}"
        return s


def chibar_weights_psd2(V: np.ndarray, draws: int = 20000, seed: int = 1) -> dict[int, float]:
    """Weights of the chi-bar-square for ``(v11, v22, v12)`` on the 2x2 PSD cone.

    Parameters
    ----------
    V : (3, 3) array
        Asymptotic covariance of the estimates of (var1, var2, cov).
    draws, seed
        Monte Carlo size and seed (fixed: the answer is reproducible).

    Returns
    -------
    dict
        ``{0: w0, 1: w1, 3: w3}``.
    """
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(V)
    Vi = np.linalg.inv(V)
    Z = rng.standard_normal((draws, 3)) @ L.T
    inside = (Z[:, 0] >= 0) & (Z[:, 1] >= 0) & (Z[:, 0] * Z[:, 1] >= Z[:, 2] ** 2)
    # Rank-one faces: a a' with a = (cos t, sin t): direction d(t) = (c^2, s^2, c s).
    t = np.linspace(0, np.pi, 721)[:-1]
    D = np.stack([np.cos(t) ** 2, np.sin(t) ** 2, np.cos(t) * np.sin(t)], axis=1)  # (K, 3)
    num = Z @ Vi @ D.T  # <z, d>_V^-1, (draws, K)
    den = np.einsum("ki,ij,kj->k", D, Vi, D)
    gain = np.where(num > 0, num**2 / den, 0.0)  # reduction of the distance by projecting
    best = gain.max(axis=1)
    vertex = ~inside & (best <= 1e-12)
    w0 = float(vertex.mean())
    w3 = float(inside.mean())
    return {0: w0, 1: 1.0 - w0 - w3, 3: w3}


def compare_nested(restricted, full, *, boundary: bool | None = None) -> NestedTest:
    """Likelihood-ratio test of a restricted model against a fuller one.

    Parameters
    ----------
    restricted, full : SEMResults
        Fits of nested models on the same data (e.g. CLPM and RI-CLPM with the same waves).
    boundary : bool, optional
        Use the chi-bar-square for the random-intercept covariance matrix (CLPM vs RI-CLPM).
        Default: when ``restricted`` is a CLPM and ``full`` an RI-CLPM, single-group fits
        (for several groups the cone is a product of cones; the ordinary, conservative
        chi-square difference test is reported).

    Returns
    -------
    NestedTest
        With ``estimator="mlr"`` for either fit, the Satorra-Bentler (2001) scaled
        difference (``method="satorra.bentler.2001"``, cluster-robust when either fit is
        clustered); else the likelihood-ratio statistic. ``describe()`` names the test.
    """
    test, _ = _nested(restricted, full, boundary)
    return test


def _nested(restricted, full, boundary: bool | None) -> tuple[NestedTest, pd.DataFrame]:
    """:func:`compare_nested`, and the covariance of the full model's estimates the
    chi-bar-square weights use (the robust one when the test is scaled)."""
    ll0, ll1 = restricted.fit["loglik"], full.fit["loglik"]
    df = int(full.fit["npar"] - restricted.fit["npar"])
    if df <= 0:
        raise DataError("The full model must have more free parameters than the restricted one.")
    if restricted.n_clients != full.n_clients:
        raise DataError("The two fits used different clients; fit both on the same data and waves.")
    chisq = max(2.0 * (ll1 - ll0), 0.0)
    pair = (restricted, full)
    estimators = {r.diagnostics.get("estimator", "ml") for r in pair}
    clusters = {r.diagnostics.get("cluster") for r in pair} - {None}
    if len(clusters) > 1:
        raise DataError(
            f"The two fits are clustered by different columns ({', '.join(sorted(clusters))}); "
            "fit both with the same cluster=."
        )
    cluster = next(iter(clusters), None)
    unscaled = cd = None
    method, estimator = "likelihood ratio", "ml"
    V = full.vcov
    if "mlr" in estimators:
        codes = None
        if cluster is not None:
            codes = next(r.engine.cluster_codes for r in pair if r.engine.cluster == cluster)
        (x0, d0, c0, _), (x1, d1, c1, V) = (_robust_test(r, cluster, codes) for r in pair)
        unscaled = chisq
        chisq, cd = scaled_difference(x0, d0, c0, x1, d1, c1)
        method, estimator = "satorra.bentler.2001", "mlr"
    p = float(stats.chi2.sf(chisq, df))
    if boundary is None:
        single = getattr(full.engine, "n_groups", 1) == 1
        boundary = restricted.model == "clpm" and full.model == "riclpm" and single
    pbar, weights = None, None
    if boundary:
        if df != 3:
            raise DataError(
                "The chi-bar-square here is for CLPM vs RI-CLPM (3 parameters: two "
                "random-intercept variances and their covariance)."
            )
        names = ["RIx~~RIx", "RIy~~RIy", "RIx~~RIy"]
        weights = chibar_weights_psd2(V.loc[names, names].to_numpy())
        pbar = float(weights[1] * stats.chi2.sf(chisq, 1) + weights[3] * stats.chi2.sf(chisq, 3))
    test = NestedTest(
        chisq=chisq,
        df=df,
        pvalue=p,
        pvalue_chibar=pbar,
        weights=weights,
        restricted=restricted.model,
        full=full.model,
        method=method,
        chisq_unscaled=unscaled,
        scaling_factor=cd,
        estimator=estimator,
        cluster=cluster,
    )
    return test, V


def _robust_test(res, cluster: str | None, codes) -> tuple[float, int, float, pd.DataFrame]:
    """``(chisq, df, scaling factor, robust vcov)`` of one fit for the scaled difference.

    An MLR fit with these clusters has them already; otherwise (an ML fit, or an MLR fit
    without the clusters the other fit has) the robust pieces are computed at its estimates,
    which are the same under ML and MLR.
    """
    sem, fit = res.engine, res.fit
    if sem.estimator == "mlr" and sem.cluster == cluster:
        return fit["chisq"], int(fit["df"]), fit["chisq.scaling.factor"], res.vcov
    if codes is not None and [len(c) for c in codes] != [
        int(p.n_total) for p in sem.group_patterns
    ]:
        raise DataError(
            f"The two fits have different clients, so the clusters by '{cluster}' of one "
            "cannot be used for the other; fit both on the same data with the same cluster=."
        )
    bread = sem.vcov_ml if sem.vcov_ml is not None else sem.vcov
    if not np.isfinite(bread).all():
        raise DataError(f"The {res.model} fit has no standard errors (singular information).")
    rb = robust_inference(
        sem.models, sem.group_patterns, sem.theta, sem.group_implied, sem.group_h1, bread, codes
    )
    df = int(fit["df"])
    c = rb["trace_ugamma"] / df if df > 0 else float("nan")
    vcov = pd.DataFrame(rb["vcov"], index=res.vcov.index, columns=res.vcov.columns)
    return fit["chisq"], df, c, vcov


#: The slope block of the LCM-SR's growth-factor covariance matrix (vcov names).
SLOPE_BLOCK = ["Sx~~Sx", "Sy~~Sy", "Sx~~Sy"]


def compare_slopes(riclpm, lcmsr) -> NestedTest:
    """Likelihood-ratio test of the slope variances: RI-CLPM against the LCM-SR.

    Parameters
    ----------
    riclpm : SEMResults
        ``RICLPM(panel, time="common")`` fitted on the same waves and options.
    lcmsr : SEMResults
        ``RICLPM(panel, time="client")`` (wave-specific means, the default
        ``linear_means=False``, so that the RI-CLPM is nested in it).

    Returns
    -------
    NestedTest
        ``chisq`` and ``pvalue``: the ordinary (conservative) chi-square difference test on
        ``df`` degrees of freedom (Satorra-Bentler scaled for ``estimator="mlr"``);
        ``pvalue_chibar``: the chi-bar-square p-value, ``weights`` maps each component's
        degrees of freedom ``k, k+1, k+3`` (``k = df - 3``) to its weight (see the module
        docstring). Single-group fits only for the chi-bar-square (for several groups the
        cone is a product of cones; ``pvalue_chibar`` is then None).
    """
    for res, want in ((riclpm, "common"), (lcmsr, "client")):
        if res.model != "riclpm" or res.diagnostics.get("time") != want:
            raise DataError(
                "compare_slopes(riclpm, lcmsr) needs an RI-CLPM fit "
                "(time='common') and an LCM-SR fit (RICLPM(..., time='client')), "
                "in that order."
            )
    fixed = lcmsr.diagnostics.get("slopes", {}).get("fixed_at_zero")
    if fixed:
        raise DataError(
            "The LCM-SR's slope variance was not supported by the data ("
            + lcmsr.diagnostics["slopes"]["reason"]
            + f"): it was refitted with {' and '.join(fixed)} fixed at 0, so there is no "
            "free fit to test; read it as no evidence of client trajectories (or fit "
            "RICLPM(..., time='client', slope_variances='free') to test the improper fit)."
        )
    if "Sx~1" in lcmsr.vcov.index:
        raise DataError(
            "The LCM-SR with linear_means=True has a linear mean trajectory and "
            "does not nest the RI-CLPM's wave-specific means; fit it with "
            "linear_means=False (the default) for this test."
        )
    if list(riclpm.waves) != list(lcmsr.waves):
        raise DataError("Fit the RI-CLPM and the LCM-SR on the same waves.")
    test, V = _nested(riclpm, lcmsr, boundary=False)
    k = test.df - 3
    test.restricted, test.full = "riclpm", "lcmsr"
    if getattr(lcmsr.engine, "n_groups", 1) == 1 and k >= 0:
        w = chibar_weights_psd2(V.loc[SLOPE_BLOCK, SLOPE_BLOCK].to_numpy())
        t = test.chisq
        test.weights = {k: w[0], k + 1: w[1], k + 3: w[3]}
        # chi2_0 is a point mass at 0 (P(chi2_0 > t) = 0 for t > 0)
        test.pvalue_chibar = float(
            sum(wj * (stats.chi2.sf(t, df) if df > 0 else 0.0) for df, wj in test.weights.items())
        )
    return test


@dataclass
class WaldTest:
    """Result of :func:`wald_equal_across_groups`."""

    chisq: float
    df: int
    pvalue: float
    what: str
    groups: list

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __str__(self) -> str:
        return (
            f"Wald test of equal {self.what} across groups {self.groups}: "
            f"chisq = {self.chisq:.3f}, df = {self.df}, p = {self.pvalue:.4g}"
        )


def wald_equal_across_groups(res, what: str = "regressions") -> WaldTest:
    """Wald test that the parameters of one type are equal in every group.

    Parameters
    ----------
    res : SEMResults
        A multiple-group fit (``group=...``) in which those parameters are free per group.
    what : {"regressions", "lagged"}
        ``"regressions"``: every ``~`` row (lavaan's ``group.equal = "regressions"``; the same
        restriction as refitting with ``group_equal="regressions"``); ``"lagged"``: only the
        lagged effects (without covariate effects).

    Returns
    -------
    WaldTest
        ``W = (R theta)' (R V R')^-1 (R theta)`` with one row of ``R`` per distinct pair
        (group-1 parameter, group-g parameter) that is not already the same parameter.
    """
    sem = getattr(res, "engine", None)
    if sem is None or sem.n_groups < 2:
        raise DataError(
            "The Wald test of equality across groups needs a multiple-group fit (group=...)."
        )
    if what not in ("regressions", "lagged"):
        raise DataError("what must be 'regressions' or 'lagged'.")
    t = sem.partable.table
    rows = t[(t["op"] == "~") & (t["free"] > 0)]
    if what == "lagged":
        lag = rows["lhs"].str.fullmatch(r"w?[xy]\d+") & rows["rhs"].str.fullmatch(r"w?[xy]\d+")
        rows = rows[lag]
    first = {(r.lhs, r.rhs): int(r.free) for r in rows[rows["group"] == 1].itertuples()}
    pairs = sorted(
        {
            (first[(r.lhs, r.rhs)], int(r.free))
            for r in rows[rows["group"] > 1].itertuples()
            if (r.lhs, r.rhs) in first and first[(r.lhs, r.rhs)] != r.free
        }
    )
    if not pairs:
        raise DataError(f"The {what} are already equal across groups in this fit.")
    R = np.zeros((len(pairs), sem.model.q))
    for i, (a, b) in enumerate(pairs):
        R[i, a - 1], R[i, b - 1] = -1.0, 1.0
    d = R @ sem.theta
    if not np.isfinite(sem.vcov).all():
        raise DataError("The fit has no standard errors (singular information matrix).")
    W = float(d @ np.linalg.solve(R @ sem.vcov @ R.T, d))
    df = int(np.linalg.matrix_rank(R))
    return WaldTest(
        chisq=W, df=df, pvalue=float(stats.chi2.sf(W, df)), what=what, groups=list(sem.group_labels)
    )
