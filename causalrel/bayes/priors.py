"""Priors: stated, weakly informative defaults scaled to the data; a prior the user sets wins.

Following bambi, every parameter class of a model has a default :class:`Prior` computed from
the data (e.g. a slope's scale is 2.5 SDs of the outcome per SD of the predictor), the defaults
are written into the results' notes so that they are *stated*, and ``priors={...}`` passed to a
model replaces any of them. A prior is a small declarative object rather than a PyMC variable,
so it can be printed, compared with brms' ``set_prior`` strings and built more than once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import DataError

__all__ = [
    "Prior",
    "resolve_priors",
    "describe_priors",
    "prior_key",
    "lkj_cholesky",
    "sd_corr_cholesky",
]

#: Distribution names a :class:`Prior` understands -> (PyMC class name, parameter names).
_DISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "normal": ("Normal", ("mu", "sigma")),
    "halfnormal": ("HalfNormal", ("sigma",)),
    "student_t": ("StudentT", ("nu", "mu", "sigma")),
    "halfstudent_t": ("HalfStudentT", ("nu", "sigma")),
    "exponential": ("Exponential", ("lam",)),
    "gamma": ("Gamma", ("alpha", "beta")),
    "lkj": ("LKJ", ("eta",)),
}


@dataclass(frozen=True)
class Prior:
    """A prior distribution by name and parameters.

    Parameters
    ----------
    dist : str
        One of ``normal``, ``halfnormal``, ``student_t``, ``halfstudent_t``, ``exponential``,
        ``gamma`` or ``lkj`` (for correlation matrices; parameter ``eta``).
    **params
        The distribution's parameters by PyMC's names (``mu``, ``sigma``, ``nu``, ``lam``,
        ``eta``, ``alpha``, ``beta``); scalars or arrays.

    Examples
    --------
    >>> Prior("normal", mu=0, sigma=1)
    Prior('normal', mu=0, sigma=1)
    """

    dist: str
    params: dict[str, Any] = field(default_factory=dict)

    def __init__(self, dist: str, **params: Any) -> None:
        dist = dist.lower().replace("-", "_")
        if dist not in _DISTS:
            raise DataError(
                f"Unknown prior distribution '{dist}'. Use one of: {', '.join(_DISTS)}."
            )
        wanted = _DISTS[dist][1]
        if set(params) != set(wanted):
            raise DataError(
                f"A {dist} prior takes the parameters {', '.join(wanted)}; got "
                f"{', '.join(params) or 'none'}."
            )
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", dict(params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"Prior({self.dist!r}, {args})"

    def __str__(self) -> str:
        args = ", ".join(_short(self.params[k]) for k in _DISTS[self.dist][1])
        return f"{self.dist}({args})"

    def scaled(self, factor: float) -> Prior:
        """The same prior for a parameter measured in units ``factor`` times larger."""
        p = dict(self.params)
        for k in ("mu", "sigma"):
            if k in p:
                p[k] = np.asarray(p[k], dtype=float) * factor
        for k in ("lam", "beta"):
            if k in p:
                p[k] = np.asarray(p[k], dtype=float) / factor
        return Prior(self.dist, **p)

    def unit(self) -> tuple[Prior, np.ndarray]:
        """Split a scale-family prior into a unit-scale prior and its scale(s).

        ``halfnormal(s) = s * halfnormal(1)``; likewise ``halfstudent_t``, ``exponential``
        (scale ``1/lam``) and ``gamma`` (scale ``1/beta``). Used to give each random effect its
        own prior scale while PyMC's ``LKJCholeskyCov`` gets a distribution with scalar
        parameters (vector parameters trip a read-only-array error in PyTensor's half-normal
        sampler under numpy 2).
        """
        p = {k: np.asarray(v, dtype=float) for k, v in self.params.items()}
        if self.dist in ("halfnormal", "halfstudent_t"):
            scale, p["sigma"] = p["sigma"], np.asarray(1.0)
        elif self.dist == "exponential":
            scale, p["lam"] = 1.0 / p["lam"], np.asarray(1.0)
        elif self.dist == "gamma":
            scale, p["beta"] = 1.0 / p["beta"], np.asarray(1.0)
        else:
            raise DataError(
                f"A {self.dist} prior cannot be used for a standard deviation; use halfnormal, "
                "halfstudent_t, exponential or gamma."
            )
        for k, v in p.items():
            if v.ndim:
                raise DataError(f"The '{k}' of a {self.dist} prior on SDs must be one number.")
        return Prior(self.dist, **{k: float(v) for k, v in p.items()}), scale

    def dist_obj(self, shape: Any = None):
        """An unnamed PyMC distribution (``pm.X.dist``), e.g. for ``LKJCholeskyCov``'s sd_dist."""
        import pymc as pm

        cls = getattr(pm, _DISTS[self.dist][0])
        return cls.dist(**self.params, shape=shape)

    def make(self, name: str, *, shape: Any = None, dims: Any = None, data: bool = False):
        """Create the named PyMC random variable inside the current model context.

        ``data=True`` passes the parameters as ``pm.Data`` containers named
        ``"{name}.{parameter}"`` (except those in ``_BAKED``), so that a compiled model can be
        reused with other values (data-scaled priors, :mod:`causalrel.bayes.compiled`).
        """
        import pymc as pm

        if self.dist == "lkj":
            raise DataError("An lkj prior is only used for correlation matrices.")
        cls = getattr(pm, _DISTS[self.dist][0])
        params = dict(self.params)
        if data:
            params = {
                k: v if k in _BAKED else pm.Data(f"{name}.{k}", np.asarray(v, dtype=float))
                for k, v in params.items()
            }
        if dims is not None:
            return cls(name, **params, dims=dims)
        return cls(name, **params, shape=shape)


def _short(v: Any) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):.4g}"
    return "[" + ", ".join(f"{float(u):.4g}" for u in a.ravel()) + "]"


def resolve_priors(
    defaults: Mapping[str, Prior], user: Mapping[str, Prior | Mapping[str, Any]] | None
) -> dict[str, Prior]:
    """Merge user priors over the defaults; unknown names raise a :class:`DataError`.

    A user prior may be a :class:`Prior` or a mapping like ``{"dist": "normal", "mu": 0,
    "sigma": 1}``.
    """
    out = dict(defaults)
    for name, prior in (user or {}).items():
        if name not in defaults:
            raise DataError(
                f"No parameter class '{name}' to set a prior on. Known: {', '.join(defaults)}."
            )
        if not isinstance(prior, Prior):
            spec = dict(prior)
            prior = Prior(spec.pop("dist"), **spec)
        if (defaults[name].dist == "lkj") != (prior.dist == "lkj"):
            raise DataError(
                f"'{name}' needs {'an lkj' if defaults[name].dist == 'lkj' else 'a non-lkj'} prior."
            )
        out[name] = prior
    return out


def prior_key(priors: Mapping[str, Prior], *, values: bool = True) -> tuple:
    """A hashable, exact summary of ``priors`` for the compile cache (:mod:`.compiled`).

    ``values=False`` keeps only the distributions and the parameters that stay constants in
    the compiled code (the LKJ ``eta``; the shape ``nu``/``alpha`` of an SD prior): for models
    that pass the other prior parameters as data.
    """
    out = []
    for name in sorted(priors):
        p = priors[name]
        vals = tuple(
            (
                k,
                np.shape(v),
                np.asarray(v, dtype=float).tobytes() if values or k in _BAKED else None,
            )
            for k, v in sorted(p.params.items())
        )
        out.append((name, p.dist, vals))
    return tuple(out)


#: Prior parameters that are constants of the compiled model even when the others are data.
_BAKED = ("eta", "nu", "alpha")


def describe_priors(priors: Mapping[str, Prior]) -> str:
    """One line stating every prior, for the results' notes."""
    return "priors: " + "; ".join(f"{k} ~ {v}" for k, v in priors.items())


def lkj_cholesky(name: str, n: int, eta: float, sd_prior: Prior, *, data: bool = False) -> Any:
    """Cholesky factor of a covariance matrix with an LKJ(eta) correlation prior and SD prior.

    ``sd_prior`` may have a vector of scales (one per dimension; a ``pm.Data`` container
    ``"{name}_sd_scale"`` with ``data=True``, see :meth:`Prior.make`). Stores ``{name}_stds`` and
    ``{name}_corr`` in the trace and returns the (n, n) lower-triangular factor.
    """
    import pymc as pm
    import pytensor.tensor as pt

    unit, scale = sd_prior.unit()
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (n,)).copy()
    chol_u, corr, stds_u = pm.LKJCholeskyCov(
        name,
        n=n,
        eta=float(eta),
        sd_dist=unit.dist_obj(shape=n),
        compute_corr=True,
        store_in_trace=False,
    )
    scale = pm.Data(f"{name}_sd_scale", scale) if data else pt.as_tensor(scale)
    pm.Deterministic(f"{name}_stds", stds_u * scale)
    pm.Deterministic(f"{name}_corr", corr)
    return scale[:, None] * chol_u


def sd_corr_cholesky(name: str, n: int, eta: float, sd_prior: Prior, *, data: bool = False) -> Any:
    """Like :func:`lkj_cholesky`, but with the SDs and the correlations as separate parameters.

    ``LKJCholeskyCov`` samples the entries of the covariance's Cholesky factor, whose
    off-diagonal entries must shrink with a small SD: a funnel. Here the SDs (``sd_prior``, one
    scale per dimension, sampled as the unit prior times the scale) and the correlation matrix
    are independent free parameters, as in brms and Stan's ``cholesky_factor_corr``. The
    correlation's Cholesky factor ``L`` is built from ``n (n - 1) / 2`` unconstrained values
    ``y`` through the canonical partial correlations ``z = tanh(y)``: row ``i`` has
    ``L[i, 0] = z``, ``L[i, j] = z * sqrt(1 - sum_{l<j} L[i, l]^2)`` and
    ``L[i, i] = sqrt(1 - sum_{l<i} L[i, l]^2)``. The log density adds the log-Jacobian of
    ``y -> z -> L`` and the LKJ(eta) density of a correlation Cholesky factor,
    ``sum_{i=1}^{n-1} (n - i - 3 + 2 eta) log L[i, i]`` (0-based ``i``; Stan's
    ``lkj_corr_cholesky_lpdf``), so the joint prior is the same as :func:`lkj_cholesky`'s.

    Written here because PyMC has no separate-SD/correlation-Cholesky distribution (its
    ``LKJCorr`` is sampled through a transform of the correlation matrix's entries, not the
    Cholesky factor that the models need). Stores ``{name}_stds`` and ``{name}_corr`` in the
    trace and returns the (n, n) lower-triangular Cholesky factor of the covariance,
    ``diag(sds) @ L``. ``data=True`` passes the SD scales as a ``pm.Data`` container
    ``"{name}_sd_scale"`` (see :meth:`Prior.make`).
    """
    import pymc as pm
    import pytensor.tensor as pt

    unit, scale = sd_prior.unit()
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (n,)).copy()
    if data:
        scale = pm.Data(f"{name}_sd_scale", scale)
    sds = pm.Deterministic(f"{name}_stds", unit.make(f"{name}_sd_unit", shape=n) * scale)
    m = n * (n - 1) // 2
    y = pm.Flat(f"{name}_cpc_unconstrained", shape=m)
    z = pt.tanh(y)
    # log(1 - z^2) = log(1 - tanh(y)^2) written stably: 2 (log 2 - |y| - log1p(exp(-2 |y|)));
    # the running 1 - sum of squares of a row is the product of its (1 - z^2), kept as a log
    ay = pt.abs(y)
    log1mz2 = 2.0 * (np.log(2.0) - ay - pt.log1p(pt.exp(-2.0 * ay)))
    logp = pt.sum(log1mz2)  # Jacobian of y -> z
    zero, one = pt.zeros(()), pt.ones(())
    rows = [[one] + [zero] * (n - 1)]
    k = 0
    for i in range(1, n):
        row, log_rest = [], zero  # log(1 - sum of squares so far)
        for j in range(i):
            row.append(z[k] * pt.exp(0.5 * log_rest))
            if j > 0:
                logp = logp + 0.5 * log_rest  # Jacobian of z -> L
            log_rest = log_rest + log1mz2[k]
            k += 1
        # LKJ(eta) density of the Cholesky factor: exponent n - i - 3 + 2 eta (0-based i)
        logp = logp + (n - i - 3 + 2.0 * float(eta)) * 0.5 * log_rest
        rows.append(row + [pt.exp(0.5 * log_rest)] + [zero] * (n - i - 1))
    L = pt.stack([pt.stack(r) for r in rows])
    pm.Potential(f"{name}_corr_logp", logp)
    pm.Deterministic(f"{name}_corr", pt.dot(L, L.T))
    return sds[:, None] * L
