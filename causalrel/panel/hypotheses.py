"""Specification tests of the dynamic panel: Hansen/Sargan over-identification, Arellano–Bond AR.

Written here because linearmodels' J statistic is the one of an IV model with independent
rows: it knows neither the first-difference (``H``) weighting of the one-step Sargan test nor
the serial-correlation test of differenced residuals (Arellano & Bond 1991, eq. 8), which needs
the residuals' lag within each client and the estimator's influence matrix. The definitions
are those of R plm's ``sargan`` and ``mtest``, so the fixtures in ``tests/reference`` check
them:

* Hansen ``J = (Σ_i Z_i'e_i)' (Σ_i Z_i'ê1_i ê1_i'Z_i)^{-1} (Σ_i Z_i'e_i)`` with ``ê1`` the
  one-step residuals and ``e`` the residuals of the reported estimator; χ² with
  ``instruments - parameters`` degrees of freedom. Robust to heteroskedasticity; weakened by
  many instruments (Roodman 2009), which is why the number of instruments is reported.
* Sargan ``S = (Σ Z_i'ê1_i)' (Σ Z_i'H Z_i)^{-1} (Σ Z_i'ê1_i) / σ̂²``, ``σ̂² = ê1'ê1 / (2 (n - k))``
  (``Var(Δe) = 2σ²``): valid only with homoskedastic errors.
* AR(j): ``m_j = Σ_i e_i'e_{i,-j} / sqrt(V̂)`` where ``e_{i,-j}`` is the differenced residual
  ``j`` sessions earlier (zero where that session is not used) and ``V̂`` corrects for the
  estimated coefficients. First-differenced residuals of a model with serially uncorrelated
  errors show AR(1) but no AR(2); AR(2) is the test that matters.

Cluster level (``DynamicPanel.fit(cluster="therapist")``, as Stata's ``xtabond2 ...,
cluster()`` computes them, Roodman 2009): the clients' moments ``Z_i'ê_i`` and residual
products ``Σ_t e_it e_i,t-j`` are summed within clusters before any outer product (``clusters``
arguments below), so clients of one therapist may share shocks. The Hansen statistic is then
the minimum of the GMM objective with the cluster-level weight ``(Σ_c S_c S_c')^{-1}`` (``S_c``
the cluster sums of the one-step moments); it needs more clusters than instruments. With one
client per cluster every statistic equals the client-level one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "TestResult",
    "cluster_sums",
    "sum_by_cluster",
    "hansen_test",
    "sargan_test",
    "ar_test",
]


@dataclass
class TestResult:
    """A test statistic with its distribution's parameter and p-value."""

    stat: float
    pvalue: float
    df: int | None = None


def cluster_sums(a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum the rows of ``a`` within each client (rows sorted by client; ``starts`` = first rows)."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    return np.add.reduceat(a, starts, axis=0)


def sum_by_cluster(a: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Sum the rows of ``a`` (one per client) within clusters (each client's code 0..K-1);
    ``clusters=None`` leaves them per client."""
    if clusters is None:
        return a
    out = np.zeros((int(clusters.max()) + 1, *a.shape[1:]))
    np.add.at(out, clusters, a)
    return out


def hansen_test(Z: np.ndarray, e: np.ndarray, omega: np.ndarray, n_params: int) -> TestResult:
    """Hansen's J: ``(Z'e)' omega^{-1} (Z'e)`` with ``omega = Σ_i Z_i'ê_i ê_i'Z_i``."""
    m = Z.shape[1]
    df = m - n_params
    if df <= 0:
        return TestResult(0.0, float("nan"), df)
    z = Z.T @ e
    stat = float(z @ _solve_psd(omega, z))
    return TestResult(stat, float(stats.chi2.sf(stat, df)), df)


def sargan_test(Z: np.ndarray, e1: np.ndarray, zhz: np.ndarray, n_params: int) -> TestResult:
    """Sargan's test from one-step residuals with the first-difference weighting ``Σ Z_i'H Z_i``."""
    m = Z.shape[1]
    df = m - n_params
    if df <= 0:
        return TestResult(0.0, float("nan"), df)
    n = len(e1)
    s2 = float(e1 @ e1) / (2 * (n - n_params))
    z = Z.T @ e1
    stat = float(z @ _solve_psd(zhz, z)) / s2
    return TestResult(stat, float(stats.chi2.sf(stat, df)), df)


def ar_test(
    e: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    influence: np.ndarray,
    vcov: np.ndarray,
    lagged_row: np.ndarray,
    starts: np.ndarray,
    clusters: np.ndarray | None = None,
) -> TestResult:
    """Arellano–Bond test of serial correlation of order j in the differenced residuals.

    Parameters
    ----------
    e : (n,) residuals of the differenced equation.
    X, Z : regressors and instruments (rows as ``e``).
    influence : (k, m) array
        ``M`` with ``b - β ≈ M Z'e``: ``(X'Z A Z'X)^{-1} X'Z A`` for weight matrix ``A``.
    vcov : (k, k) array
        The (robust) covariance of the estimates.
    lagged_row : (n,) int array
        Row of the same client ``j`` sessions earlier, -1 where it is not used.
    starts : (G,) int array
        First row of each client.
    clusters : (G,) int array, optional
        Each client's cluster code 0..K-1: the residual products and moments are summed
        within clusters (``vcov`` should then be the cluster-robust covariance).
    """
    el = np.where(lagged_row >= 0, e[np.maximum(lagged_row, 0)], 0.0)
    c = sum_by_cluster(cluster_sums(e * el, starts)[:, 0], clusters)  # Σ_t e_it e_i,t-j
    g = sum_by_cluster(cluster_sums(Z * e[:, None], starts), clusters)  # Z_i'e_i
    num = float(c.sum())
    eve = float(c @ c)
    ex = el @ X  # (k,)
    zve = g.T @ c  # Σ_i Z_i' e_i (e_i' el_i), per cluster when clustered
    denom = eve - 2.0 * float(ex @ influence @ zve) + float(ex @ vcov @ ex)
    if not denom > 0:
        return TestResult(float("nan"), float("nan"))
    stat = num / np.sqrt(denom)
    return TestResult(float(stat), float(2 * stats.norm.sf(abs(stat))))


def _solve_psd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a^{-1} b`` for a symmetric PSD ``a``, with the pseudo-inverse if ``a`` is singular."""
    try:
        c = np.linalg.cholesky(a)
        return np.linalg.solve(c.T, np.linalg.solve(c, b))
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a, hermitian=True) @ b
