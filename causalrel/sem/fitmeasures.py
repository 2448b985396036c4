"""Fit measures as lavaan defines them (``fitMeasures()``), including under FIML.

- ``chisq``: the likelihood-ratio test against the saturated (H1) model, whose means and
  covariances are estimated by EM under missing data: ``2 (logl_H1 - logl_H0)``.
- The baseline is lavaan's independence model: free means and variances, zero covariances,
  also fitted by FIML. Its likelihood factorises over variables, so its estimates are each
  variable's available-case mean and (divisor-n) variance.
- ``cfi``, ``tli``, ``rmsea`` (N in the denominator, as lavaan's ``likelihood = "normal"``)
  with its 90% interval (non-central chi-square, the same root-finding as lavaan),
  ``srmr`` (lavaan's default, Bentler's: residual correlations standardised by the observed
  -- under FIML the H1 -- standard deviations, including the means when the model has a mean
  structure), ``loglik``, ``aic``, ``bic``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, stats

from .fiml import LOG2PI, available_moments

__all__ = ["fit_measures", "baseline_loglik", "rmsea_ci"]


def baseline_loglik(pats) -> float:
    """FIML log-likelihood of the independence model (free means and variances)."""
    _, var = available_moments(pats)
    nj = (pats.n[:, None] * pats.mask).sum(0)
    return float(np.sum(-0.5 * nj * (LOG2PI + np.log(var) + 1.0)))


def rmsea_ci(chisq: float, df: float, n: float, level: float = 0.90) -> tuple[float, float]:
    """lavaan's RMSEA confidence interval (``lav_fit_rmsea_ci``)."""
    if not (np.isfinite(chisq) and df >= 1):
        return 0.0, 0.0
    upper_p, lower_p = 1 - (1 - level) / 2, (1 - level) / 2

    def cdf(lam: float) -> float:
        return stats.chi2.cdf(chisq, df) if lam <= 0 else stats.ncx2.cdf(chisq, df, lam)

    if cdf(0) - upper_p < 0:
        lower = 0.0
    else:
        lam = optimize.brentq(lambda lam: cdf(lam) - upper_p, 0, chisq, xtol=1e-10)
        lower = float(np.sqrt(lam / (n * df)))
    n_rmsea = max(n, chisq * 4)
    if cdf(n_rmsea) - lower_p > 0 or cdf(0) - lower_p < 0:
        upper = 0.0
    else:
        lam = optimize.brentq(lambda lam: cdf(lam) - lower_p, 0, n_rmsea, xtol=1e-10)
        upper = float(np.sqrt(lam / (n * df)))
    return lower, upper


def srmr(sample_cov: np.ndarray, sample_mean: np.ndarray, Sigma: np.ndarray, mu: np.ndarray,
         meanstructure: bool = True) -> float:
    """Bentler's SRMR as lavaan computes it (``srmr_bentler``; with means if modelled)."""
    sd = np.sqrt(np.diag(sample_cov))
    R = (sample_cov - Sigma) / np.outer(sd, sd)
    vech = R[np.tril_indices(len(sd))]
    total = float(np.sum(vech**2))
    count = len(vech)
    if meanstructure:
        rm = (sample_mean - mu) / sd
        total += float(np.sum(rm**2))
        count += len(rm)
    return float(np.sqrt(total / count))


def fit_measures(fit) -> dict[str, Any]:
    """The fit measures of a :class:`~causalrel.sem.estimate.SEMFit`, keyed like lavaan's."""
    pats = fit.patterns
    p = pats.p
    N = pats.n_total
    npar = fit.npar
    n_moments = p * (p + 1) // 2 + (p if fit.meanstructure else 0)
    df = n_moments - npar
    ll0, ll1 = fit.loglik, float(fit.h1["loglik"])
    chisq = max(2.0 * (ll1 - ll0), 0.0)
    llb = baseline_loglik(pats)
    chisq_b = 2.0 * (ll1 - llb)
    df_b = p * (p - 1) // 2
    pvalue = float(stats.chi2.sf(chisq, df)) if df > 0 else float("nan")
    if df > 0 or chisq > 0:
        denom = max(chisq_b - df_b, chisq - df, 0.0)
        cfi = 1.0 - max(chisq - df, 0.0) / denom if denom > 0 else 1.0
    else:
        cfi = 1.0
    tli = (chisq_b / df_b - chisq / df) / (chisq_b / df_b - 1.0) if df > 0 else 1.0
    rmsea = float(np.sqrt(max(chisq / N / df - 1.0 / N, 0.0))) if df > 0 else 0.0
    lo, hi = rmsea_ci(chisq, df, N)
    out = {
        "chisq": chisq,
        "df": int(df),
        "pvalue": pvalue,
        "cfi": float(cfi),
        "tli": float(tli),
        "rmsea": rmsea,
        "rmsea.ci.lower": lo,
        "rmsea.ci.upper": hi,
        "srmr": srmr(fit.h1["Sigma"], fit.h1["mu"], fit.implied["Sigma"], fit.implied["mu"],
                     fit.meanstructure),
        "loglik": ll0,
        "unrestricted.loglik": ll1,
        "aic": -2.0 * ll0 + 2.0 * npar,
        "bic": -2.0 * ll0 + np.log(N) * npar,
        "npar": int(npar),
        "ntotal": int(N),
        "baseline.chisq": chisq_b,
        "baseline.df": int(df_b),
        "n_patterns": int(pats.n_patterns),
    }
    if not fit.h1.get("converged", True):  # no saturated model: nothing to test against
        for k in ("chisq", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
                  "srmr", "unrestricted.loglik", "baseline.chisq"):
            out[k] = float("nan")
    return out
