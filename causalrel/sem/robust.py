"""Robust inference for the SEM engine (``estimator="MLR"``), computed as lavaan 0.6 does.

Everything here is built from the *casewise scores*: the derivative of each client's FIML
log-likelihood contribution with respect to the implied means and covariances (a function of
the client's observed values only, so missing ratings cost nothing extra), chained to the
parameters with the model's Jacobian.

- **Standard errors** (lavaan's ``se = "robust.huber.white"``): the sandwich
  ``H^-1 B H^-1`` with the information the ML standard errors use as the bread (the observed
  information -- the Hessian -- by default, as lavaan under ``missing = "ml"``) and the
  cross-product of the casewise scores at the estimates as the meat.
- **Cluster-robust** (lavaan's ``cluster =`` with MLR on a single-level model): the scores
  are summed within clusters (e.g. therapists) before the cross-product, times
  ``sqrt(C / (C - 1))`` for ``C`` clusters (per group), in the meat of the standard errors
  and of the test statistic.
- **Scaled test statistic** (lavaan's ``test = "yuan.bentler.mplus"``, the default with MLR):
  the likelihood-ratio chi-square divided by ``c = (tr(B1 A1^-1) - tr(B0 H^-1)) / df``, where
  ``A1`` and ``B1`` are the observed information and score cross-product of the saturated
  model at its (EM) estimates and ``B0``, ``H`` the same for the fitted model.
- **Robust CFI / TLI / RMSEA** under FIML (lavaan's ``cfi.robust``, ``tli.robust``,
  ``rmsea.robust``; the "FIML-corrected" indices of Zhang & Savalei 2023, *Structural
  Equation Modeling* 30(1), 84-95, version V3): the model and the independence model are
  evaluated as complete-data ML against the saturated FIML moments, and their scaling
  constants come from the FIML saturated information ``Wm``, the complete-data information
  ``Wc`` at those moments and the scores' covariance.
- **Scaled difference test** (Satorra & Bentler 2001; lavaan's ``lavTestLRT`` for MLR):
  :func:`scaled_difference`.

Moments are in the basis ``(mu, vech Sigma)``; the traces do not depend on the basis.
Written here (not taken from a library) because the scores and informations are those of this
engine's FIML parameterisation; lavaan's source was read for what it computes, not copied.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import block_diag

from ..data import DataError
from .fiml import Patterns, _padded_inverse, available_moments, fiml_loglik, moment_hessian

__all__ = [
    "ESTIMATORS",
    "moment_scores",
    "moment_jacobian",
    "moment_information",
    "robust_inference",
    "fiml_corrected",
    "scaled_difference",
    "cluster_codes",
]

#: The estimators of the SEM families (lavaan's names, lower case).
ESTIMATORS = ("ml", "mlr")


def _duplication(p: int) -> np.ndarray:
    """``D`` with ``vec(S) = D vech(S)`` for symmetric ``S`` (vech in ``triu_indices`` order)."""
    i, j = np.triu_indices(p)
    D = np.zeros((p * p, len(i)))
    cols = np.arange(len(i))
    D[i * p + j, cols] = 1.0
    D[j * p + i, cols] = 1.0
    return D


def moment_scores(pats: Patterns, mu: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    """Casewise scores ``d l_i / d(mu, vech Sigma)`` at the given moments, shape (N, p + p*).

    Client ``i`` with observed block ``o`` contributes ``E d_i`` (means) and
    ``-1/2 (E - E d_i d_i' E)`` (covariances, off-diagonal elements counted twice) with
    ``E = inv(Sigma_oo)`` (padded) and ``d_i = y_io - mu_o``.
    """
    if pats.rows is None:
        raise DataError("Casewise scores need the data rows (Patterns.from_array).")
    p = pats.p
    E, _ = _padded_inverse(Sigma, pats)
    Y = pats.rows
    d = np.where(np.isnan(Y), 0.0, Y - mu[None])
    v = np.empty_like(d)
    order = np.argsort(pats.index, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(pats.index, minlength=len(E)))])
    for g in range(len(E)):
        rows = order[bounds[g] : bounds[g + 1]]
        v[rows] = d[rows] @ E[g]
    i, j = np.triu_indices(p)
    w = np.where(i == j, 1.0, 2.0)
    sv = -0.5 * w * (E[:, i, j][pats.index] - v[:, i] * v[:, j])
    return np.hstack([v, sv])


def moment_jacobian(model, theta: np.ndarray, imp: dict[str, np.ndarray]) -> np.ndarray:
    """``d(mu, vech Sigma) / d theta`` of one group, shape (p + p*, q) (lavaan's Delta)."""
    dS, dm = model.jacobian(theta, imp)
    i, j = np.triu_indices(model.p)
    return np.vstack([dm.T, dS[:, i, j].T])


def moment_information(
    pats: Patterns, mu: np.ndarray, Sigma: np.ndarray, expected: bool = False
) -> np.ndarray:
    """Minus the Hessian of the FIML log-likelihood in ``(mu, vech Sigma)`` (a total, not per
    case), observed (default) or expected."""
    r = fiml_loglik(Sigma, mu, pats)
    Kss, Kmm, Kms = moment_hessian(pats, r["E"], r["Q"], r["v"], expected=expected)
    D = _duplication(pats.p)
    ms = Kms @ D
    H = np.block([[Kmm, ms], [ms.T, D.T @ Kss @ D]])
    return -0.5 * (H + H.T)


def cluster_codes(values, where: str = "") -> np.ndarray:
    """Integer codes of a cluster column (one value per case); missing values are an error."""
    s = pd.Series(values)
    if s.isna().any():
        raise DataError(
            f"{int(s.isna().sum())} case(s){where} have no value of the cluster "
            "column: give them one (e.g. their therapist) or drop them."
        )
    codes, uniq = pd.factorize(s, sort=False)
    if len(uniq) < 2:
        raise DataError(
            f"The cluster column has only {len(uniq)} value(s){where}: "
            "cluster-robust standard errors need at least two clusters."
        )
    return codes


def _cluster_sum(S: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """Scores summed within clusters, scaled by ``sqrt(C / (C - 1))`` (as lavaan)."""
    if codes is None:
        return S
    C = int(codes.max()) + 1
    out = np.zeros((C, S.shape[1]))
    np.add.at(out, codes, S)
    return out * np.sqrt(C / (C - 1.0))


def robust_inference(
    models,
    pats_list,
    theta: np.ndarray,
    implied,
    h1_list,
    bread_inv: np.ndarray,
    clusters: list | None = None,
) -> dict[str, Any]:
    """Sandwich covariance and the pieces of the Yuan-Bentler scaling.

    Parameters
    ----------
    models, pats_list, implied, h1_list
        One entry per group: the RAM model, the patterns (with their rows), the implied
        moments at ``theta`` and the saturated (EM) moments.
    bread_inv : (q, q)
        Inverse of the (total) information used for the ML standard errors.
    clusters : list of int arrays, optional
        Cluster codes of each group's kept rows.

    Returns
    -------
    dict
        ``vcov`` (the robust covariance of the estimates), ``B0`` (score cross-product),
        ``trace_h1``, ``trace_h0``, ``trace_ugamma``, and per group ``Delta``, ``A1``
        (saturated observed information), ``B1`` (saturated score cross-product).
    """
    q = len(theta)
    B0 = np.zeros((q, q))
    Delta, A1, B1 = [], [], []
    trace_h1 = 0.0
    for g, (model, pats, imp, h1) in enumerate(
        zip(models, pats_list, implied, h1_list, strict=True)
    ):
        codes = None if clusters is None else clusters[g]
        D = moment_jacobian(model, theta, imp)
        S0 = _cluster_sum(moment_scores(pats, imp["mu"], imp["Sigma"]) @ D, codes)
        B0 += S0.T @ S0
        S1 = _cluster_sum(moment_scores(pats, h1["mu"], h1["Sigma"]), codes)
        b1 = S1.T @ S1
        a1 = moment_information(pats, h1["mu"], h1["Sigma"])
        trace_h1 += float(np.trace(np.linalg.solve(a1, b1)))
        Delta.append(D)
        A1.append(a1)
        B1.append(b1)
    vcov = bread_inv @ B0 @ bread_inv
    trace_h0 = float(np.sum(B0 * bread_inv.T))
    return dict(
        vcov=0.5 * (vcov + vcov.T),
        B0=B0,
        trace_h1=trace_h1,
        trace_h0=trace_h0,
        trace_ugamma=trace_h1 - trace_h0,
        Delta=Delta,
        A1=A1,
        B1=B1,
    )


def _complete_chisq(
    pats: Patterns, h1: dict, Sigma: np.ndarray, mu: np.ndarray
) -> tuple[float, Patterns]:
    """Complete-data ML chi-square of moments (Sigma, mu) against the saturated moments."""
    c = Patterns.from_moments(h1["mu"], h1["Sigma"], pats.n_total)
    ll1 = fiml_loglik(h1["Sigma"], h1["mu"], c, derivs=False)["loglik"]
    ll0 = fiml_loglik(Sigma, mu, c, derivs=False)["loglik"]
    return 2.0 * (ll1 - ll0), c


def _fimlc_trace(
    Wm: np.ndarray, Wmi: np.ndarray, Wc: np.ndarray, Gamma: np.ndarray, Delta: np.ndarray
) -> float:
    """``tr(U Wm^-1 Wc Wm^-1 U Gamma)`` with ``U = Wm - Wm Delta (Delta' Wm Delta)^-1 Delta' Wm``
    (block-diagonal over groups, totals; lavaan's ``k.fimlc``, version V3)."""
    WD = Wm @ Delta
    U = Wm - WD @ np.linalg.solve(Delta.T @ WD, WD.T)
    M = U @ Wmi
    return float(np.sum((M @ Wc @ M.T) * Gamma.T))


def fiml_corrected(fit) -> dict[str, float]:
    """The FIML-corrected statistics behind lavaan's robust CFI/TLI/RMSEA under missing data.

    Returns ``XX3`` (the complete-data chi-square of the model at the FIML estimates against
    the saturated FIML moments), ``k3`` (the trace whose ratio to the degrees of freedom is
    its scaling constant), and the same for the independence model (``XX3_null``,
    ``k3_null``).
    """
    rb = fit.robust
    p = fit.group_patterns[0].p
    Wm, Wmi, Wc, Gam, xx3, xx3_null, DB = [], [], [], [], 0.0, 0.0, []
    for g, (pats, h1, imp) in enumerate(
        zip(fit.group_patterns, fit.group_h1, fit.group_implied, strict=True)
    ):
        a1, b1 = rb["A1"][g], rb["B1"][g]
        a1i = np.linalg.inv(a1)
        x, comp = _complete_chisq(pats, h1, imp["Sigma"], imp["mu"])
        xx3 += x
        mb, vb = available_moments(pats)  # the independence model's FIML estimates
        x0, _ = _complete_chisq(pats, h1, np.diag(vb), mb)
        xx3_null += x0
        Wm.append(a1)
        Wmi.append(a1i)
        Wc.append(moment_information(comp, h1["mu"], h1["Sigma"], expected=True))
        Gam.append(a1i @ b1 @ a1i)
        i, j = np.triu_indices(p)
        db = np.zeros((p + len(i), 2 * p))  # d(mu, vech Sigma) / d(means, variances)
        db[np.arange(p), np.arange(p)] = 1.0
        diag = np.flatnonzero(i == j)
        db[p + diag, p + i[diag]] = 1.0
        DB.append(db)
    Wm_all, Wmi_all, Wc_all, G_all = (block_diag(*x) for x in (Wm, Wmi, Wc, Gam))
    Delta_all = np.vstack(rb["Delta"])
    k = _fimlc_trace(Wm_all, Wmi_all, Wc_all, G_all, Delta_all)
    kb = _fimlc_trace(Wm_all, Wmi_all, Wc_all, G_all, block_diag(*DB))
    return dict(XX3=xx3, k3=k, XX3_null=xx3_null, k3_null=kb)


def scaled_difference(
    chisq0: float, df0: int, c0: float, chisq1: float, df1: int, c1: float
) -> tuple[float, float]:
    """Satorra-Bentler (2001) scaled chi-square difference of nested models (0 restricted).

    Returns ``(T, cd)``: ``T = (chisq0 - chisq1) / cd`` with
    ``cd = (df0 c0 - df1 c1) / (df0 - df1)`` (lavaan's ``lavTestLRT`` method for MLR; a
    saturated model, ``df1 = 0``, contributes nothing). ``T`` is NaN when ``cd <= 0`` (the
    correction is not defined; the strictly positive version of Satorra & Bentler 2010 would
    be needed).
    """
    t1 = df1 * c1 if df1 > 0 else 0.0
    cd = (df0 * c0 - t1) / (df0 - df1)
    T = (chisq0 - chisq1) / cd if cd > 0 else float("nan")
    return float(max(T, 0.0) if np.isfinite(T) else T), float(cd)
