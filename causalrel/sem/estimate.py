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
6. with ``estimator="mlr"``: robust (sandwich) standard errors and the pieces of the scaled
   test statistic from the casewise scores, optionally summed within clusters
   (:mod:`causalrel.sem.robust`);
7. checks: convergence, positive-definite implied covariances, negative variances (Heywood
   cases), a singular information matrix (an unidentified model). Each gives a
   :class:`~causalrel.results.ConvergenceWarning` that says what to try.

Multiple groups (a table made with ``parse_model(..., groups=G)``): each group has its own
model matrices (:class:`RAMModel` with ``group=g``), missingness patterns and saturated model;
the objective, gradient and Hessian are sums over groups, in the one parameter vector whose
shared indices carry the equality constraints across groups.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.optimize._trustregion import _minimize_trust_region
from scipy.optimize._trustregion_exact import IterativeSubproblem

from ..data import DataError
from ..results import ConvergenceWarning
from .defined import defined_table
from .fiml import (
    Patterns,
    available_moments,
    em_saturated,
    fiml_loglik,
    moment_hessian,
    sigma_quadratic,
    sigma_quadratic_is_cheaper,
)
from .matrices import RAMModel
from .partable import ParTable
from .robust import ESTIMATORS, cluster_codes, robust_inference

__all__ = ["SEMFit", "fit_partable", "HeywoodWarning"]


class HeywoodWarning(ConvergenceWarning):
    """An improper solution: a negative variance or a non-positive-definite implied matrix."""


@dataclass
class SEMFit:
    """Everything one ML/FIML fit computed (used by the results and fit-measure code).

    With several groups, ``models``, ``group_patterns``, ``group_h1`` and ``group_implied``
    hold one entry per group (in the order of ``group_labels``); ``model``, ``patterns``,
    ``h1`` and ``implied`` are the first group's (the only group of a single-group model).
    """

    partable: ParTable
    models: list[RAMModel]
    group_patterns: list[Patterns]
    theta: np.ndarray
    vcov: np.ndarray
    loglik: float
    group_h1: list[dict[str, Any]]
    information: str
    converged: bool
    iterations: int
    message: str
    group_implied: list[dict[str, np.ndarray]]
    problems: list[str] = field(default_factory=list)
    meanstructure: bool = True
    notes: list[str] = field(default_factory=list)
    group_labels: list[Any] = field(default_factory=lambda: [1])
    estimator: str = "ml"
    cluster: str | None = None
    robust: dict[str, Any] | None = None
    vcov_ml: np.ndarray | None = None
    cluster_codes: list = field(default_factory=list)

    @property
    def model(self) -> RAMModel:
        return self.models[0]

    @property
    def patterns(self) -> Patterns:
        return self.group_patterns[0]

    @property
    def h1(self) -> dict[str, Any]:
        return self.group_h1[0]

    @property
    def implied(self) -> dict[str, np.ndarray]:
        return self.group_implied[0]

    @property
    def n_groups(self) -> int:
        return len(self.models)

    @property
    def n(self) -> float:
        return float(sum(p.n_total for p in self.group_patterns))

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
    """-loglik / N with its exact gradient and Hessian; caches the last evaluation.

    ``model`` and ``pats`` may be lists (one per group): the log-likelihood of a
    multiple-group model is the sum of the groups' log-likelihoods.
    """

    def __init__(self, model: RAMModel | list[RAMModel], pats: Patterns | list[Patterns]) -> None:
        self.models = model if isinstance(model, list) else [model]
        self.pats = pats if isinstance(pats, list) else [pats]
        self.N = sum(p.n_total for p in self.pats)
        self._key: bytes | None = None
        self._val: dict[str, Any] = {}

    def _eval(self, theta: np.ndarray) -> dict[str, Any]:
        key = theta.tobytes()
        if key != self._key:
            self._key = key
            try:
                parts = []
                for model, pats in zip(self.models, self.pats, strict=True):
                    imp = model.implied(theta)
                    r = fiml_loglik(imp["Sigma"], imp["mu"], pats)
                    r["imp"] = imp
                    parts.append(r)
                r = {"loglik": float(sum(q["loglik"] for q in parts)), "parts": parts}
                if len(parts) == 1:
                    r.update({k: v for k, v in parts[0].items() if k != "loglik"})
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
        g = sum(
            m.chain(theta, q["G"], q["gmu"], q["imp"])
            for m, q in zip(self.models, r["parts"], strict=True)
        )
        return -g / self.N

    def hess(self, theta: np.ndarray, expected: bool = False) -> np.ndarray:
        r = self._eval(theta)
        if not np.isfinite(r["loglik"]):
            return np.eye(len(theta))
        H = sum(
            loglik_hessian(m, p, theta, q, expected=expected)
            for m, p, q in zip(self.models, self.pats, r["parts"], strict=True)
        )
        return -H / self.N


def loglik_hessian(
    model: RAMModel, pats: Patterns, theta: np.ndarray, r: dict[str, Any], expected: bool = False
) -> np.ndarray:
    """Exact Hessian of the FIML log-likelihood in the parameters (or minus the expected
    information with ``expected=True``).

    The covariance block comes from :func:`~causalrel.sem.fiml.sigma_quadratic` when that is
    cheaper than forming the p^2 x p^2 kernel (few missingness patterns, many waves).
    """
    dS, dm = model.jacobian(theta, r["imp"])
    q, p = model.q, model.p
    JS = dS.reshape(q, p * p)
    direct = sigma_quadratic_is_cheaper(pats.n_patterns, p, q)
    Kss, Kmm, Kms = moment_hessian(pats, r["E"], r["Q"], r["v"], expected=expected, kss=not direct)
    Hss = sigma_quadratic(pats, r["E"], r["Q"], dS, expected) if direct else JS @ Kss @ JS.T
    cross = dm @ Kms @ JS.T
    H = Hss + dm @ Kmm @ dm.T + cross + cross.T
    if not expected:
        H = H + model.second_order(theta, r["G"], r["gmu"], r["imp"])
    return 0.5 * (H + H.T)


class _SubproblemStalled(RuntimeError):
    """The trust-region subproblem did not settle (see :class:`_BoundedSubproblem`)."""


class _BoundedSubproblem(IterativeSubproblem):
    """scipy's nearly exact trust-region subproblem with a cap on its inner iterations.

    scipy's ``IterativeSubproblem.solve`` loops until its own stopping rule holds, which can
    never happen when the Hessian is nearly singular and the gradient nearly zero (scipy
    issue #12513, open): ``fit clpm`` on a 7-client, 13-row table never returned. Every inner
    iteration factorises once, so counting the factorisations bounds the loop; a solve that
    needs more than ``MAX_INNER`` of them (a normal one needs a few dozen) raises
    :class:`_SubproblemStalled` and :func:`_minimize` goes on with BFGS from the last accepted
    point. scipy's public ``minimize`` cannot take a subproblem, hence the private
    ``_minimize_trust_region`` (the ``method="trust-exact"`` code path itself).
    """

    MAX_INNER = 500

    def solve(self, tr_radius):
        factorise = self.cholesky
        calls = 0

        def counted(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls > self.MAX_INNER:
                raise _SubproblemStalled
            return factorise(*args, **kwargs)

        self.cholesky = counted
        try:
            return super().solve(tr_radius)
        finally:
            self.cholesky = factorise


def _minimize(obj: _Objective, theta0: np.ndarray, max_iter: int) -> optimize.OptimizeResult:
    last = {"x": np.asarray(theta0, dtype=float).copy(), "nit": 0}

    def accepted(state):  # scipy passes the private path an OptimizeResult, not x
        last["x"] = np.array(state.x, dtype=float)
        last["nit"] += 1

    try:
        res = _minimize_trust_region(
            obj.fun,
            theta0,
            jac=obj.jac,
            hess=obj.hess,
            subproblem=_BoundedSubproblem,
            gtol=1e-8,
            maxiter=max_iter,
            callback=accepted,
        )
    except _SubproblemStalled:
        x = last["x"]
        res = optimize.OptimizeResult(
            x=x,
            fun=obj.fun(x),
            success=False,
            nit=last["nit"],
            message="the trust-region subproblem stalled (a nearly singular Hessian)",
        )
    if not res.success and np.isfinite(res.fun):
        # trust-exact stops when the trust region cannot shrink further although the gradient
        # is tiny; accept that, else polish with BFGS from where it stopped.
        g = np.abs(obj.jac(res.x)).max()
        if g < 1e-5:
            res.success = True
            res.message = f"converged (gradient {g:.1e})"
        else:
            res2 = optimize.minimize(
                obj.fun,
                res.x,
                jac=obj.jac,
                method="BFGS",
                options={"gtol": 1e-8, "maxiter": 20 * max_iter},
            )
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
    data: pd.DataFrame | np.ndarray | list,
    *,
    group: str | None = None,
    group_label: list | None = None,
    information: str = "observed",
    estimator: str = "ml",
    cluster: str | None = None,
    start: np.ndarray | None = None,
    max_iter: int = 200,
) -> SEMFit:
    """Fit a model by ML (complete data) or FIML (missing data).

    Parameters
    ----------
    partable : ParTable
        The model (with ``groups=G`` for a multiple-group model).
    data : DataFrame, array, or list of them
        One row per case (client); columns named as ``partable.observed`` (a DataFrame) or in
        that order (an array). NaN marks a missing value. Rows with nothing observed are
        dropped (the caller counts them). For several groups: a DataFrame with a ``group``
        column, or a list with one DataFrame/array per group.
    group : str, optional
        Column of ``data`` that holds the group (as lavaan's ``group=``).
    group_label : list, optional
        The groups' values in the order of the table's groups 1..G; default: their order of
        first appearance in ``data`` (as lavaan).
    information : {"observed", "expected"}
        Which information matrix the standard errors come from (see module docstring); with
        ``estimator="mlr"`` the bread of the sandwich.
    estimator : {"ml", "mlr"}
        ``"ml"``: normal-theory standard errors; ``"mlr"``: robust (Huber-White) standard
        errors and the Yuan-Bentler scaled test statistic (lavaan's ``estimator = "MLR"``).
    cluster : str, optional
        Column of ``data`` with the cluster of each case (e.g. the therapist); with
        ``estimator="mlr"`` the standard errors and the scaled test are cluster-robust
        (lavaan's ``cluster =``).
    start : array, optional
        Start values for the free parameters (else automatic).
    max_iter : int
        Maximum Newton iterations.

    Returns
    -------
    SEMFit
    """
    estimator = str(estimator).lower()
    if estimator not in ESTIMATORS:
        raise DataError(f"estimator must be one of {list(ESTIMATORS)} (got {estimator!r}).")
    if cluster is not None and estimator != "mlr":
        raise DataError(
            "cluster= gives cluster-robust standard errors, which need estimator='mlr'."
        )
    frames, labels = _split_groups(partable, data, group, group_label)
    if cluster is not None:
        for f in frames:
            if not isinstance(f, pd.DataFrame) or cluster not in f.columns:
                raise DataError(f"The cluster column '{cluster}' is not in the data.")
    with _single_threaded_blas():
        fit = _fit_partable(
            partable, frames, labels, information=information, start=start, max_iter=max_iter
        )
        if estimator == "mlr":
            _make_robust(fit, frames, cluster)
    return fit


def _make_robust(fit: SEMFit, frames: list, cluster: str | None) -> None:
    """Replace the ML covariance by the (cluster-)robust one and keep the test's pieces."""
    if not fit.meanstructure:
        raise DataError("estimator='mlr' needs a model with a mean structure.")
    where = (lambda g: f" in group {fit.group_labels[g]!r}") if fit.n_groups > 1 else (lambda g: "")
    codes = None
    if cluster is not None:
        codes = [
            cluster_codes(f[cluster].to_numpy()[p.keep], where(g))
            for g, (f, p) in enumerate(zip(frames, fit.group_patterns, strict=True))
        ]
    fit.estimator, fit.cluster, fit.vcov_ml = "mlr", cluster, fit.vcov
    fit.cluster_codes = codes or []
    if not np.isfinite(fit.vcov).all():
        return
    fit.robust = robust_inference(
        fit.models, fit.group_patterns, fit.theta, fit.group_implied, fit.group_h1, fit.vcov, codes
    )
    fit.vcov = fit.robust["vcov"]


def _split_groups(partable: ParTable, data, group, group_label) -> tuple[list, list]:
    """The data of each group, in the table's group order, and the group labels."""
    G = partable.n_groups
    if isinstance(data, (list, tuple)):
        if len(data) != G:
            raise DataError(f"The model has {G} group(s) but {len(data)} data sets were given.")
        labels = list(group_label) if group_label is not None else list(range(1, G + 1))
        return list(data), labels
    if group is None:
        if G > 1:
            raise DataError(
                f"The model has {G} groups: say which column holds the group "
                "(group=...) or give one data set per group."
            )
        return [data], [1]
    if not isinstance(data, pd.DataFrame) or group not in data.columns:
        raise DataError(f"The group column '{group}' is not in the data.")
    values = data[group]
    if values.isna().any():
        raise DataError(
            f"{int(values.isna().sum())} case(s) have no value of the group "
            f"column '{group}': give them a group or drop them."
        )
    labels = list(group_label) if group_label is not None else list(pd.unique(values))
    unknown = set(pd.unique(values)) - set(labels)
    if unknown:
        raise DataError(
            f"Group value(s) {sorted(map(str, unknown))} of '{group}' are not in group_label."
        )
    if len(labels) != G:
        raise DataError(
            f"The model has {G} group(s) but '{group}' has {len(labels)} value(s) ({labels})."
        )
    return [data[values == g] for g in labels], labels


def _fit_partable(
    partable: ParTable,
    frames: list,
    labels: list,
    *,
    information: str,
    start: np.ndarray | None,
    max_iter: int,
) -> SEMFit:
    if information not in ("observed", "expected"):
        raise DataError("information must be 'observed' or 'expected'.")
    G = partable.n_groups
    models = ram_models(partable)
    if models[0].q == 0:
        raise DataError("The model has no free parameters.")
    meanstructure = bool(partable.options.get("meanstructure", True))
    where = (lambda g: f" in group {labels[g]!r}") if G > 1 else (lambda g: "")
    pats_list, h1_list, notes = [], [], []
    h1_ok = True
    for g, data in enumerate(frames):
        if isinstance(data, pd.DataFrame):
            missing = [v for v in partable.observed if v not in data.columns]
            if missing:
                raise DataError(f"The data have no column(s) {missing} that the model uses.")
            Y = data[partable.observed].to_numpy(dtype=float)
        else:
            Y = np.asarray(data, dtype=float)
        pats = Patterns.from_array(Y)
        if pats.n_total == 0:
            raise DataError(f"No case{where(g)} has any observed value of the model's variables.")
        if not meanstructure:
            if not pats.mask.all():
                raise DataError(
                    "A model without a mean structure needs complete data; "
                    "use meanstructure=True (FIML) with missing values."
                )
            pats.mean[:] = 0.0  # saturated means: the centred data (what lavaan does)
        _, var_avail = available_moments(pats)
        ok = var_avail > 1e-12 * max(1.0, np.nanmax(var_avail))
        if np.any(~ok):
            bad = [partable.observed[i] for i in np.flatnonzero(~ok)]
            raise DataError(
                f"Variable(s) {bad} have zero variance (or no values){where(g)} in "
                "the data used: a model cannot estimate effects of or on a constant."
            )
        complete_g = pats.n_patterns == 1 and bool(pats.mask.all())
        n_rows, n_vars = int(pats.n.sum()), len(partable.observed)
        try:
            h1 = em_saturated(pats)
        except np.linalg.LinAlgError:
            few = f"{n_rows} clients for {n_vars} observed variables{where(g)}"
            raise DataError(
                f"The data cannot support this model: {few}, and their covariance matrix is "
                "singular (a wide SEM needs clearly more clients than scores x waves). Use "
                "fewer waves (--waves), or a family that models rows, not waves (fe, dpd, "
                "mlm)."
            ) from None
        var_h1 = np.diag(h1["Sigma"])
        corr = h1["Sigma"] / np.sqrt(np.outer(var_h1, var_h1))
        ok_g = bool(h1["converged"]) and np.linalg.eigvalsh(corr).min() >= 1e-9
        if not ok_g:
            if complete_g:
                raise DataError(
                    f"The observed variables{where(g)} are perfectly collinear "
                    "(their covariance matrix is singular): drop a redundant variable "
                    "or wave. (Detrending each client over the modelled waves does "
                    "this.)"
                )
            h1["converged"] = False
            h1["mu"], h1["var"] = available_moments(pats)
        else:
            h1["var"] = var_h1
        h1_ok = h1_ok and ok_g
        pats_list.append(pats)
        h1_list.append(h1)
    if not h1_ok:
        notes.append(
            "The saturated model cannot be estimated (too few clients with data for this many "
            "waves; its likelihood has no maximum), so the chi-square test and the fit indices "
            "based on it (cfi, tli, rmsea, srmr) are not available. The model's own estimates, "
            "standard errors, loglik, aic and bic are; fewer waves give a testable model."
        )
        for h1 in h1_list:
            h1["converged"] = False
    complete = all(p.n_patterns == 1 and bool(p.mask.all()) for p in pats_list)

    # Start values: simple rules, then a fit to the saturated moments as if complete.
    if start is None:
        theta0 = np.full(models[0].q, np.nan)
        for m, h1 in zip(models, h1_list, strict=True):
            t = m.start_theta(h1["var"], h1["mu"])
            theta0 = np.where(np.isnan(theta0), t, theta0)
    else:
        theta0 = np.asarray(start, float)
    iterations = 0
    res = None
    if start is None and h1_ok:
        moments = [
            Patterns.from_moments(h1["mu"], h1["Sigma"], p.n_total)
            for h1, p in zip(h1_list, pats_list, strict=True)
        ]
        obj0 = _Objective(models, moments)
        if np.isfinite(obj0.fun(theta0)):
            r0 = _minimize(obj0, theta0, max_iter)
            if r0.success and np.isfinite(r0.fun):
                theta0 = r0.x
                iterations += int(r0.nit)
                if complete:  # the saturated moments are the data's: this is the ML fit
                    res = r0
    obj = _Objective(models, pats_list)
    if not np.isfinite(obj.fun(theta0)):
        raise DataError(
            "The start values give a non-positive-definite implied covariance "
            "matrix; give start values (start=...) or check the model."
        )
    if res is None:
        res = _minimize(obj, theta0, max_iter)
        iterations += int(res.nit)
    theta = res.x
    converged = bool(res.success) and np.isfinite(res.fun)
    message = str(res.message)

    r = obj._eval(theta)
    problems: list[str] = []
    if not np.isfinite(r["loglik"]):
        raise DataError(
            "Estimation failed: the implied covariance matrix is not positive "
            "definite at the solution. Check the model and the data."
        )
    info = obj.hess(theta, expected=(information == "expected")) * obj.N
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
    implied = [q["imp"] for q in r["parts"]]
    for g, (model, imp) in enumerate(zip(models, implied, strict=True)):
        S = imp["S"]
        neg = [
            model.names[i]
            for i in range(model.n)
            if S[i, i] < 0 and _is_free_var(model.table, model.names[i])
        ]
        if neg:
            problems.append(
                f"negative variance estimate(s){where(g)} for {', '.join(neg)} (a Heywood "
                "case): the model is probably too complex for these data. Try constrained=True, "
                "fewer waves, or the CLPM if the random-intercept variance is near zero"
            )
        checks = [("implied covariance of the observed variables", imp["Sigma"])]
        if not neg:  # a negative variance already makes the latent covariance improper
            checks.append(
                ("implied covariance of the latent variables", imp["C"][model.p :, model.p :])
            )
        for what, M in checks:
            if M.size and np.linalg.eigvalsh(M).min() < -1e-10:
                problems.append(
                    f"the {what}{where(g)} is not positive definite: an improper "
                    "solution; try constrained=True or fewer waves"
                )
    return SEMFit(
        partable=partable,
        models=models,
        group_patterns=pats_list,
        theta=theta,
        vcov=vcov,
        loglik=float(r["loglik"]),
        group_h1=h1_list,
        information=information,
        converged=converged,
        iterations=iterations,
        message=message,
        group_implied=implied,
        problems=problems,
        meanstructure=meanstructure,
        notes=notes,
        group_labels=labels,
    )


def ram_models(partable: ParTable) -> list[RAMModel]:
    """The model matrices of each group of ``partable``, built once per table.

    Building them reads the table row by row; a power study or a bootstrap fits one table to
    many data sets, so the :class:`RAMModel` objects (which hold only the table's structure
    and are never changed by a fit) are kept on the table and reused. A table given a new
    ``table`` frame gets new ones (the cache is keyed by the frame's identity and shape);
    changing the rows of the frame in place after a fit is not supported (nothing in causalrel
    does that; :func:`~causalrel.sem.partable.parse_model` makes a new table).
    """
    t = partable.table
    key = (id(t), t.shape)
    cached = partable.__dict__.get("_ram_models")
    if cached is not None and cached[0] == key:
        return cached[1]
    G = partable.n_groups
    models = [RAMModel(partable, group=g + 1) if G > 1 else RAMModel(partable) for g in range(G)]
    partable.__dict__["_ram_models"] = (key, models)
    return models


def _is_free_var(t: pd.DataFrame, name: str) -> bool:
    rows = t[(t["op"] == "~~") & (t["lhs"] == name) & (t["rhs"] == name)]
    return bool(len(rows)) and bool((rows["free"] > 0).any())


def warn_problems(fit: SEMFit, what: str) -> None:
    """Emit the warnings a fit collected (non-convergence, Heywood cases, singular info)."""
    if not fit.converged:
        warnings.warn(
            f"{what}: the optimiser did not converge ({fit.message}); the estimates are not "
            "trustworthy. Try constrained=True, fewer waves, or other start values.",
            ConvergenceWarning,
            stacklevel=3,
        )
    for msg in fit.problems:
        warnings.warn(f"{what}: {msg}.", HeywoodWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# Parameter table
# ---------------------------------------------------------------------------------------------
def parameter_table(fit: SEMFit, level: float = 0.95) -> pd.DataFrame:
    """lavaan's ``parameterEstimates()`` plus ``std.all`` (``standardizedSolution()``).

    A multiple-group fit adds lavaan's ``block`` and ``group`` columns (group numbers 1..G in
    the order of ``fit.group_labels``).
    """
    t = fit.partable.table
    free = t["free"].to_numpy()
    theta = fit.theta
    se_free = np.sqrt(np.clip(np.diag(fit.vcov), 0, None))
    est, std = _estimates(fit, theta, fit.group_implied)
    se = np.where(free > 0, se_free[np.maximum(free, 1) - 1], 0.0)
    z = np.where(free > 0, est / np.where(se > 0, se, np.nan), np.nan)
    crit = stats.norm.ppf(0.5 + level / 2)
    cols = {"lhs": t["lhs"], "op": t["op"], "rhs": t["rhs"]}
    if fit.n_groups > 1:
        cols.update(block=t["block"], group=t["group"])
    out = pd.DataFrame(
        {
            **cols,
            "label": t["label"],
            "est": est,
            "se": se,
            "z": z,
            "pvalue": 2 * stats.norm.sf(np.abs(z)),
            "ci.lower": np.where(free > 0, est - crit * se, est),
            "ci.upper": np.where(free > 0, est + crit * se, est),
        }
    )
    out["std.all"] = std
    if not fit.meanstructure:
        out = out[out["op"] != "~1"].reset_index(drop=True)
    if fit.partable.options.get("defined"):
        first = t.reset_index(drop=True).index[(free > 0) & ~pd.Series(free).duplicated()]
        order = np.argsort(free[first])

        def std_free(x: np.ndarray) -> np.ndarray:
            imp = [m.implied(x) for m in fit.models]
            return _estimates(fit, x, imp)[1][first][order]

        out = pd.concat([out, defined_table(fit, std_free, level)], ignore_index=True)
    return out


def _estimates(fit: SEMFit, theta: np.ndarray, implied: list) -> tuple[np.ndarray, np.ndarray]:
    """Every row's value and ``std.all`` at parameters ``theta`` (implied moments given)."""
    t = fit.partable.table
    est = np.empty(len(t))
    std = np.full(len(t), np.nan)
    for model, imp in zip(fit.models, implied, strict=True):
        A, S, a = model.matrices(theta)
        for idx, (mat, i, j) in zip(model.rows, model.row_cells, strict=True):
            est[idx] = A[i, j] if mat == "A" else (S[i, j] if mat == "S" else a[i])
        std[model.rows] = standardized(model, imp, est[model.rows])
    return est, std


def standardized(model: RAMModel, implied: dict[str, np.ndarray], est: np.ndarray) -> np.ndarray:
    """lavaan's ``std.all`` (with ``cov.std = TRUE``) of one group's rows (``model.table``):
    variables scaled by their implied SDs; covariances between different variables by the SDs
    of their (residual) variances."""
    t = model.table
    C = implied["C"]
    S = implied["S"]
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.diag(C).copy()
        var[np.abs(var) < np.finfo(float).eps] = np.nan
        sd = np.sqrt(np.where(var > 0, var, np.nan))
        # as a numerator a variance fixed at 0 scales by 0 (lavaan: a factor whose variance
        # is fixed at 0 has std.all loadings 0), as a denominator it gives NaN
        sd_num = np.where(np.isnan(var) & (np.abs(np.diag(C)) < np.finfo(float).eps), 0.0, sd)
        rsd = np.sqrt(np.abs(np.diag(S)))
        pos = {name: i for i, name in enumerate(model.names)}
        out = np.full(len(t), np.nan)
        for idx, r in enumerate(t.itertuples(index=False)):
            e = est[idx]
            if r.op == "=~":
                out[idx] = e * sd_num[pos[r.lhs]] / sd[pos[r.rhs]]
            elif r.op == "~":
                out[idx] = e * sd_num[pos[r.rhs]] / sd[pos[r.lhs]]
            elif r.op == "~~":
                i, j = pos[r.lhs], pos[r.rhs]
                out[idx] = e / var[i] if i == j else e / (rsd[i] * rsd[j])
            else:
                out[idx] = e / sd[pos[r.lhs]]
    return out
