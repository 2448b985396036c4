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

__all__ = ["Prior", "resolve_priors", "describe_priors", "lkj_cholesky"]

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

    def make(self, name: str, *, shape: Any = None, dims: Any = None):
        """Create the named PyMC random variable inside the current model context."""
        import pymc as pm

        if self.dist == "lkj":
            raise DataError("An lkj prior is only used for correlation matrices.")
        cls = getattr(pm, _DISTS[self.dist][0])
        if dims is not None:
            return cls(name, **self.params, dims=dims)
        return cls(name, **self.params, shape=shape)


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


def describe_priors(priors: Mapping[str, Prior]) -> str:
    """One line stating every prior, for the results' notes."""
    return "priors: " + "; ".join(f"{k} ~ {v}" for k, v in priors.items())


def lkj_cholesky(name: str, n: int, eta: float, sd_prior: Prior) -> Any:
    """Cholesky factor of a covariance matrix with an LKJ(eta) correlation prior and SD prior.

    ``sd_prior`` may have a vector of scales (one per dimension). Stores ``{name}_stds`` and
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
    pm.Deterministic(f"{name}_stds", stds_u * scale)
    pm.Deterministic(f"{name}_corr", corr)
    return pt.as_tensor(scale)[:, None] * chol_u
