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

With ``estimator="mlr"`` (:mod:`causalrel.sem.robust`) also lavaan's ``chisq.scaled`` (the
Yuan-Bentler statistic, Mplus variant), ``df.scaled``, ``pvalue.scaled``,
``chisq.scaling.factor``, ``rmsea.scaled``, and the FIML-corrected ``cfi.robust``,
``tli.robust``, ``rmsea.robust``.

Multiple groups as lavaan: the log-likelihoods, chi-squares (model and baseline) and degrees of
freedom are sums over groups, the RMSEA and its interval are multiplied by sqrt(G) (Steiger
1998), the SRMR is the groups' SRMRs weighted by their sizes, and ``chisq.group`` lists each
group's contribution to the chi-square.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, stats

from .fiml import LOG2PI, available_moments, fiml_loglik
from .robust import fiml_corrected

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


def srmr(
    sample_cov: np.ndarray,
    sample_mean: np.ndarray,
    Sigma: np.ndarray,
    mu: np.ndarray,
    meanstructure: bool = True,
) -> float:
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
    groups = fit.group_patterns
    G = len(groups)
    p = groups[0].p
    N = fit.n
    npar = fit.npar
    n_moments = p * (p + 1) // 2 + (p if fit.meanstructure else 0)
    df = G * n_moments - npar
    ll0 = fit.loglik
    ll1_g = [float(h1["loglik"]) for h1 in fit.group_h1]
    ll0_g = [_group_loglik(fit, g) for g in range(G)] if G > 1 else [ll0]
    ll1 = float(sum(ll1_g))
    chisq = max(2.0 * (ll1 - ll0), 0.0)
    llb = float(sum(baseline_loglik(pats) for pats in groups))
    chisq_b = 2.0 * (ll1 - llb)
    df_b = G * (p * (p - 1) // 2)
    pvalue = float(stats.chi2.sf(chisq, df)) if df > 0 else float("nan")
    if df > 0 or chisq > 0:
        denom = max(chisq_b - df_b, chisq - df, 0.0)
        cfi = 1.0 - max(chisq - df, 0.0) / denom if denom > 0 else 1.0
    else:
        cfi = 1.0
    tli = (chisq_b / df_b - chisq / df) / (chisq_b / df_b - 1.0) if df > 0 else 1.0
    rmsea = float(np.sqrt(max(chisq / N / df - 1.0 / N, 0.0))) if df > 0 else 0.0
    lo, hi = rmsea_ci(chisq, df, N)
    srmr_g = [
        srmr(h1["Sigma"], h1["mu"], imp["Sigma"], imp["mu"], fit.meanstructure)
        for h1, imp in zip(fit.group_h1, fit.group_implied, strict=True)
    ]
    n_g = np.array([pats.n_total for pats in groups])
    out = {
        "chisq": chisq,
        "df": int(df),
        "pvalue": pvalue,
        "cfi": float(cfi),
        "tli": float(tli),
        "rmsea": rmsea * np.sqrt(G),
        "rmsea.ci.lower": lo * np.sqrt(G),
        "rmsea.ci.upper": hi * np.sqrt(G),
        "srmr": float(np.sum(n_g * np.array(srmr_g)) / N),
        "loglik": ll0,
        "unrestricted.loglik": ll1,
        "aic": -2.0 * ll0 + 2.0 * npar,
        "bic": -2.0 * ll0 + np.log(N) * npar,
        "npar": int(npar),
        "ntotal": int(N),
        "baseline.chisq": chisq_b,
        "baseline.df": int(df_b),
        "n_patterns": int(sum(pats.n_patterns for pats in groups)),
    }
    if G > 1:
        out["ngroups"] = G
        out["chisq.group"] = {
            str(lab): max(2.0 * (a - b), 0.0)
            for lab, a, b in zip(fit.group_labels, ll1_g, ll0_g, strict=True)
        }
        out["ntotal.group"] = {
            str(lab): int(n) for lab, n in zip(fit.group_labels, n_g, strict=True)
        }
    robust_keys: tuple[str, ...] = ()
    if getattr(fit, "estimator", "ml") == "mlr":
        robust = _robust_measures(fit, chisq, df, df_b, N, G)
        out.update(robust)
        robust_keys = tuple(k for k in robust if k != "df.scaled")
    if not all(h1.get("converged", True) for h1 in fit.group_h1):  # nothing to test against
        for k in (
            "chisq",
            "pvalue",
            "cfi",
            "tli",
            "rmsea",
            "rmsea.ci.lower",
            "rmsea.ci.upper",
            "srmr",
            "unrestricted.loglik",
            "baseline.chisq",
            *robust_keys,
        ):
            out[k] = float("nan")
        if G > 1:
            out["chisq.group"] = {k: float("nan") for k in out["chisq.group"]}
    return out


def _incremental(
    x2: float, df: float, x2_b: float, df_b: float, c: float, c_b: float
) -> tuple[float, float]:
    """lavaan's robust CFI and TLI (``lav_fit_cfi``/``lav_fit_tli`` with ``c.hat``)."""
    t1 = max(x2 - c * df, 0.0)
    t2 = max(x2 - c * df, x2_b - c_b * df_b, 0.0)
    cfi = 1.0 if np.isclose(t1, 0) and np.isclose(t2, 0) else 1.0 - t1 / t2
    u1, u2 = (x2 - c * df) * df_b, (x2_b - c_b * df_b) * df
    tli = 1.0 - u1 / u2 if df > 0 and abs(u2) > 0 else 1.0
    return float(cfi), float(tli)


def _robust_measures(fit, chisq: float, df: int, df_b: int, N: float, G: int) -> dict[str, float]:
    """The scaled test and the robust fit indices of an MLR fit (as lavaan's MLR)."""
    nan = float("nan")
    keys = (
        "chisq.scaled",
        "pvalue.scaled",
        "chisq.scaling.factor",
        "rmsea.scaled",
        "cfi.robust",
        "tli.robust",
        "rmsea.robust",
    )
    out: dict[str, float] = {k: nan for k in keys}
    out["df.scaled"] = int(df)
    rb = fit.robust
    if rb is None or df <= 0:
        return out
    c = rb["trace_ugamma"] / df
    if c > 0:
        out["chisq.scaling.factor"] = float(c)
        out["chisq.scaled"] = chisq / c
        out["pvalue.scaled"] = float(stats.chi2.sf(chisq / c, df))
        out["rmsea.scaled"] = float(
            np.sqrt(max(chisq / N / rb["trace_ugamma"] - 1.0 / N, 0.0)) * np.sqrt(G)
        )
    try:
        fc = fiml_corrected(fit)
    except np.linalg.LinAlgError:
        return out
    c3, c3b = fc["k3"] / df, fc["k3_null"] / df_b
    out["cfi.robust"], out["tli.robust"] = _incremental(
        fc["XX3"], df, fc["XX3_null"], df_b, c3, c3b
    )
    out["rmsea.robust"] = float(np.sqrt(max(fc["XX3"] / N / df - c3 / N, 0.0)) * np.sqrt(G))
    return out


def _group_loglik(fit, g: int) -> float:
    """The log-likelihood of group ``g`` (0-based) at the estimates."""
    imp = fit.group_implied[g]
    return float(
        fiml_loglik(imp["Sigma"], imp["mu"], fit.group_patterns[g], derivs=False)["loglik"]
    )
