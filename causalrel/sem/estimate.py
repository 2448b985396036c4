"""Maximum-likelihood estimation of a parameter table: start values, optimiser, information.

The pipeline (each step a small function, as in lavaan):

1. group the data into missingness patterns (:class:`~causalrel.sem.fiml.Patterns`);
2. estimate the saturated model by EM (needed for the chi-square and SRMR anyway);
3. start values: simple rules (:meth:`RAMModel.start_theta`), then a cheap fit of the model to
   the saturated moments as if they were complete data (one "pattern");
4. FIML by Newton's method in a trust region (scipy ``trust-exact``) with the exact gradient
   and the exact Hessian (:mod:`causalrel.sem.fiml`), which needs only a handful of
   iterations from those starts; a quasi-Newton (BFGS) fallback if it stalls;
5. standard errors from the inverse of the observed information (the Hessian of the FIML
   log-likelihood at the estimates; lavaan's default under ``missing = "ml"``:
   ``information = "observed"``, ``observed.information = "hessian"``) or of the expected
   information (``h1.information = "structured"``: pattern-wise Fisher information at the
   model-implied moments; lavaan's default for complete data);
6. checks: convergence, positive-definite implied covariances, negative variances (Heywood
   cases), a singular information matrix (an unidentified model). Each gives a
   :class:`~causalrel.results.ConvergenceWarning` that says what to try.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..data import DataError
from ..results import ConvergenceWarning
from .fiml import Patterns, available_moments, em_saturated, fiml_loglik, moment_hessian
from .matrices import RAMModel
from .partable import ParTable

__all__ = ["SEMFit", "fit_partable", "HeywoodWarning"]


class HeywoodWarning(ConvergenceWarning):
    """An improper solution: a negative variance or a non-positive-definite implied matrix."""


@dataclass
class SEMFit:
    """Everything one ML/FIML fit computed (used by the results and fit-measure code)."""

    partable: ParTable
    model: RAMModel
    patterns: Patterns
    theta: np.ndarray
    vcov: np.ndarray
    loglik: float
    h1: dict[str, Any]
    information: str
    converged: bool
    iterations: int
    message: str
    implied: dict[str, np.ndarray]
    problems: list[str] = field(default_factory=list)
    meanstructure: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> float:
        return self.patterns.n_total

    @property
    def npar(self) -> int:
        """Free parameters after equality constraints (intercepts excluded without means)."""
        return self.model.q - (0 if self.meanstructure else int(self._n_free_intercepts()))

    def _n_free_intercepts(self) -> int:
        t = self.partable.table
        return t.loc[(t["op"] == "~1") & (t["free"] > 0), "free"].nunique()

    def params(self, level: float = 0.95) -> pd.DataFrame:
        """The lavaan-style parameter table with est, se, z, pvalue, CI and std.all."""
        return parameter_table(self, level=level)


# ---------------------------------------------------------------------------------------------
# Objective
# ---------------------------------------------------------------------------------------------
class _Objective:
    """-loglik / N with its exact gradient and Hessian; caches the last evaluation."""

    def __init__(self, model: RAMModel, pats: Patterns) -> None:
        self.model = model
        self.pats = pats
        self.N = pats.n_total
        self._key: bytes | None = None
        self._val: dict[str, Any] = {}

    def _eval(self, theta: np.ndarray) -> dict[str, Any]:
        key = theta.tobytes()
        if key != self._key:
            self._key = key
            try:
                imp = self.model.implied(theta)
                r = fiml_loglik(imp["Sigma"], imp["mu"], self.pats)
                r["imp"] = imp
            except np.linalg.LinAlgError:
                r = {"loglik": -np.inf}
            self._val = r
        return self._val

    def fun(self, theta: np.ndarray) -> float:
        ll = self._eval(theta)["loglik"]
        return float(-ll / self.N) if np.isfinite(ll) else np.inf

    def jac(self, theta: np.ndarray) -> np.ndarray:
        r = self._eval(theta)
        if not np.isfinite(r["loglik"]):
            return np.zeros_like(theta)
        return -self.model.chain(theta, r["G"], r["gmu"], r["imp"]) / self.N

    def hess(self, theta: np.ndarray) -> np.ndarray:
        r = self._eval(theta)
        if not np.isfinite(r["loglik"]):
            return np.eye(len(theta))
        return -loglik_hessian(self.model, self.pats, theta, r) / self.N


def loglik_hessian(model: RAMModel, pats: Patterns, theta: np.ndarray, r: dict[str, Any],
                   expected: bool = False) -> np.ndarray:
    """Exact Hessian of the FIML log-likelihood in the parameters (or minus the expected
    information with ``expected=True``)."""
    dS, dm = model.jacobian(theta, r["imp"])
    q, p = model.q, model.p
    JS = dS.reshape(q, p * p)
    Kss, Kmm, Kms = moment_hessian(pats, r["E"], r["Q"], r["v"], expected=expected)
    cross = dm @ Kms @ JS.T
    H = JS @ Kss @ JS.T + dm @ Kmm @ dm.T + cross + cross.T
    if not expected:
        H = H + model.second_order(theta, r["G"], r["gmu"], r["imp"])
    return 0.5 * (H + H.T)


def _minimize(obj: _Objective, theta0: np.ndarray, max_iter: int) -> optimize.OptimizeResult:
    res = optimize.minimize(
        obj.fun, theta0, jac=obj.jac, hess=obj.hess, method="trust-exact",
        options={"gtol": 1e-8, "maxiter": max_iter},
    )
    if not res.success and np.isfinite(res.fun):
        # trust-exact stops when the trust region cannot shrink further although the gradient
        # is tiny; accept that, else polish with BFGS from where it stopped.
        g = np.abs(obj.jac(res.x)).max()
        if g < 1e-5:
            res.success = True
            res.message = f"converged (gradient {g:.1e})"
        else:
            res2 = optimize.minimize(obj.fun, res.x, jac=obj.jac, method="BFGS",
                                     options={"gtol": 1e-8, "maxiter": 20 * max_iter})
            res2.nit = res.nit + res2.nit
            res = res2
    return res


# ---------------------------------------------------------------------------------------------
# Fit
# ---------------------------------------------------------------------------------------------
def _single_threaded_blas():
    """A context that keeps BLAS on one thread: the matrices here are small, and OpenBLAS
    threads contending for a busy machine make a 100 x 100 product 100x slower."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with PyMC / scipy
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER = None


def fit_partable(
    partable: ParTable,
    data: pd.DataFrame | np.ndarray,
    *,
    information: str = "observed",
    start: np.ndarray | None = None,
    max_iter: int = 200,
) -> SEMFit:
    """Fit a model by ML (complete data) or FIML (missing data).

    Parameters
    ----------
    partable : ParTable
        The model.
    data : DataFrame or array
        One row per case (client); columns named as ``partable.observed`` (a DataFrame) or in
        that order (an array). NaN marks a missing value. Rows with nothing observed are
        dropped (the caller counts them).
    information : {"observed", "expected"}
        Which information matrix the standard errors come from (see module docstring).
    start : array, optional
        Start values for the free parameters (else automatic).
    max_iter : int
        Maximum Newton iterations.

    Returns
    -------
    SEMFit
    """
    with _single_threaded_blas():
        return _fit_partable(partable, data, information=information, start=start,
                             max_iter=max_iter)


def _fit_partable(partable: ParTable, data: pd.DataFrame | np.ndarray, *, information: str,
                  start: np.ndarray | None, max_iter: int) -> SEMFit:
    if information not in ("observed", "expected"):
        raise DataError("information must be 'observed' or 'expected'.")
    if isinstance(data, pd.DataFrame):
        missing = [v for v in partable.observed if v not in data.columns]
        if missing:
            raise DataError(f"The data have no column(s) {missing} that the model uses.")
        Y = data[partable.observed].to_numpy(dtype=float)
    else:
        Y = np.asarray(data, dtype=float)
    model = RAMModel(partable)
    if model.q == 0:
        raise DataError("The model has no free parameters.")
    pats = Patterns.from_array(Y)
    if pats.n_total == 0:
        raise DataError("No case has any observed value of the model's variables.")
    meanstructure = bool(partable.options.get("meanstructure", True))
    if not meanstructure:
        if not pats.mask.all():
            raise DataError("A model without a mean structure needs complete data; "
                            "use meanstructure=True (FIML) with missing values.")
        pats.mean[:] = 0.0  # saturated means: the centred data (what lavaan does)
    _, var_avail = available_moments(pats)
    if np.any(~(var_avail > 1e-12 * max(1.0, np.nanmax(var_avail)))):
        bad = [partable.observed[i]
               for i in np.flatnonzero(~(var_avail > 1e-12 * max(1.0, np.nanmax(var_avail))))]
        raise DataError(f"Variable(s) {bad} have zero variance (or no values) in the data "
                        "used: a model cannot estimate effects of or on a constant.")
    complete = pats.n_patterns == 1 and bool(pats.mask.all())
    h1 = em_saturated(pats)
    var_h1 = np.diag(h1["Sigma"])
    corr = h1["Sigma"] / np.sqrt(np.outer(var_h1, var_h1))
    h1_ok = bool(h1["converged"]) and np.linalg.eigvalsh(corr).min() >= 1e-9
    notes: list[str] = []
    if not h1_ok:
        if complete:
            raise DataError("The observed variables are perfectly collinear (their covariance "
                            "matrix is singular): drop a redundant variable or wave. "
                            "(Detrending each client over the modelled waves does this.)")
        h1["converged"] = False
        notes.append(
            "The saturated model cannot be estimated (too few clients with data for this many "
            "waves; its likelihood has no maximum), so the chi-square test and the fit indices "
            "based on it (cfi, tli, rmsea, srmr) are not available. The model's own estimates, "
            "standard errors, loglik, aic and bic are; fewer waves give a testable model."
        )
        mean_a, var_a = available_moments(pats)
        h1["mu"], var_h1 = mean_a, var_a

    # Start values: simple rules, then a fit to the saturated moments as if complete.
    theta0 = model.start_theta(var_h1, h1["mu"]) if start is None else np.asarray(start, float)
    iterations = 0
    res = None
    if start is None and h1_ok:
        moments = Patterns.from_moments(h1["mu"], h1["Sigma"], pats.n_total)
        obj0 = _Objective(model, moments)
        if np.isfinite(obj0.fun(theta0)):
            r0 = _minimize(obj0, theta0, max_iter)
            if r0.success and np.isfinite(r0.fun):
                theta0 = r0.x
                iterations += int(r0.nit)
                if complete:  # the saturated moments are the data's: this is the ML fit
                    res = r0
    obj = _Objective(model, pats)
    if not np.isfinite(obj.fun(theta0)):
        raise DataError("The start values give a non-positive-definite implied covariance "
                        "matrix; give start values (start=...) or check the model.")
    if res is None:
        res = _minimize(obj, theta0, max_iter)
        iterations += int(res.nit)
    theta = res.x
    converged = bool(res.success) and np.isfinite(res.fun)
    message = str(res.message)

    r = obj._eval(theta)
    problems: list[str] = []
    if not np.isfinite(r["loglik"]):
        raise DataError("Estimation failed: the implied covariance matrix is not positive "
                        "definite at the solution. Check the model and the data.")
    info = -loglik_hessian(model, pats, theta, r, expected=(information == "expected"))
    try:
        evals = np.linalg.eigvalsh(info)
        if evals.min() <= 1e-10 * max(1.0, evals.max()):
            raise np.linalg.LinAlgError
        vcov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        vcov = np.full_like(info, np.nan)
        problems.append(
            "the information matrix is singular: the model is not identified (or a parameter "
            "sits on a boundary); standard errors are not available. Fix a parameter, add "
            "constraints (e.g. constrained=True) or use fewer waves"
        )
    imp = r["imp"]
    S = imp["S"]
    neg = [model.names[i] for i in range(model.n)
           if S[i, i] < 0 and _is_free_var(partable, model.names[i])]
    if neg:
        problems.append(
            f"negative variance estimate(s) for {', '.join(neg)} (a Heywood case): the model "
            "is probably too complex for these data. Try constrained=True, fewer waves, or the "
            "CLPM if the random-intercept variance is near zero"
        )
    checks = [("implied covariance of the observed variables", imp["Sigma"])]
    if not neg:  # a negative variance already makes the latent covariance improper
        checks.append(("implied covariance of the latent variables", imp["C"][model.p:, model.p:]))
    for what, M in checks:
        if M.size and np.linalg.eigvalsh(M).min() < -1e-10:
            problems.append(f"the {what} is not positive definite: an improper solution; "
                            "try constrained=True or fewer waves")
    return SEMFit(partable=partable, model=model, patterns=pats, theta=theta, vcov=vcov,
                  loglik=float(r["loglik"]), h1=h1, information=information,
                  converged=converged, iterations=iterations, message=message, implied=imp,
                  problems=problems, meanstructure=meanstructure, notes=notes)


def _is_free_var(pt: ParTable, name: str) -> bool:
    t = pt.table
    rows = t[(t["op"] == "~~") & (t["lhs"] == name) & (t["rhs"] == name)]
    return bool(len(rows)) and bool((rows["free"] > 0).any())


def warn_problems(fit: SEMFit, what: str) -> None:
    """Emit the warnings a fit collected (non-convergence, Heywood cases, singular info)."""
    if not fit.converged:
        warnings.warn(
            f"{what}: the optimiser did not converge ({fit.message}); the estimates are not "
            "trustworthy. Try constrained=True, fewer waves, or other start values.",
            ConvergenceWarning, stacklevel=3,
        )
    for msg in fit.problems:
        warnings.warn(f"{what}: {msg}.", HeywoodWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# Parameter table
# ---------------------------------------------------------------------------------------------
def parameter_table(fit: SEMFit, level: float = 0.95) -> pd.DataFrame:
    """lavaan's ``parameterEstimates()`` plus ``std.all`` (``standardizedSolution()``)."""
    t = fit.partable.table
    model = fit.model
    free = t["free"].to_numpy()
    theta = fit.theta
    se_free = np.sqrt(np.clip(np.diag(fit.vcov), 0, None))
    est = np.empty(len(t))
    se = np.zeros(len(t))
    A, S, a = model.matrices(theta)
    for idx, (mat, i, j) in enumerate(model.row_cells):
        est[idx] = A[i, j] if mat == "A" else (S[i, j] if mat == "S" else a[i])
        if free[idx] > 0:
            se[idx] = se_free[free[idx] - 1]
    z = np.where(free > 0, est / np.where(se > 0, se, np.nan), np.nan)
    crit = stats.norm.ppf(0.5 + level / 2)
    out = pd.DataFrame({
        "lhs": t["lhs"], "op": t["op"], "rhs": t["rhs"], "label": t["label"],
        "est": est, "se": se, "z": z,
        "pvalue": 2 * stats.norm.sf(np.abs(z)),
        "ci.lower": np.where(free > 0, est - crit * se, est),
        "ci.upper": np.where(free > 0, est + crit * se, est),
    })
    out["std.all"] = standardized(fit, est)
    if not fit.meanstructure:
        out = out[out["op"] != "~1"].reset_index(drop=True)
    return out


def standardized(fit: SEMFit, est: np.ndarray) -> np.ndarray:
    """lavaan's ``std.all`` (with ``cov.std = TRUE``): variables scaled by their implied SDs;
    covariances between different variables by the SDs of their (residual) variances."""
    model = fit.model
    t = fit.partable.table
    C = fit.implied["C"]
    S = fit.implied["S"]
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.diag(C).copy()
        var[np.abs(var) < np.finfo(float).eps] = np.nan
        sd = np.sqrt(np.where(var > 0, var, np.nan))
        rsd = np.sqrt(np.abs(np.diag(S)))
        pos = {name: i for i, name in enumerate(model.names)}
        out = np.full(len(t), np.nan)
        for idx, r in enumerate(t.itertuples(index=False)):
            e = est[idx]
            if r.op == "=~":
                out[idx] = e * sd[pos[r.lhs]] / sd[pos[r.rhs]]
            elif r.op == "~":
                out[idx] = e * sd[pos[r.rhs]] / sd[pos[r.lhs]]
            elif r.op == "~~":
                i, j = pos[r.lhs], pos[r.rhs]
                out[idx] = e / var[i] if i == j else e / (rsd[i] * rsd[j])
            else:
                out[idx] = e / sd[pos[r.lhs]]
    return out
