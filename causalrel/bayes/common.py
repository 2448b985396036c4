"""Shared pieces of the Bayesian families: client checks, draw summaries, parameter rows."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import ARVIZ_DIAGNOSTICS, ARVIZ_LOO, ignoring
from ..data import MAX_SHOWN, DataError, DataWarning
from ..results import Effect

__all__ = [
    "show_clients",
    "warn_clients",
    "param_row",
    "effect",
    "check_n_clients",
    "client_rows",
    "params_frame",
    "PARAM_COLUMNS",
    "loo_waic",
]


def show_clients(clients: Iterable[Any]) -> str:
    """``"3, 17, 42 (and 5 more)"``: the clients a message is about."""
    clients = list(clients)
    shown = ", ".join(str(c) for c in clients[:MAX_SHOWN])
    more = len(clients) - MAX_SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")


def warn_clients(message: str, clients: Iterable[Any]) -> str:
    """Emit a :class:`DataWarning` naming the clients; return the text for the notes."""
    text = f"{message}: client(s) {show_clients(clients)}."
    warnings.warn(text, DataWarning, stacklevel=3)
    return text


def check_n_clients(clients: Iterable[Any], n_random: int, model: str, simpler: str) -> str | None:
    """Too few clients for a covariance matrix of ``n_random`` random effects.

    Fewer clients than random effects + 1 is an error (the between-level covariance matrix is
    then not even determined by the data); fewer than ``5 * n_random`` a warning.
    """
    clients = list(clients)
    n = len(clients)
    if n <= n_random:
        raise DataError(
            f"{model}: {n} client(s) ({show_clients(clients)}) are too few for a covariance "
            f"matrix of {n_random} random effects; at least {n_random + 1} are needed and "
            f"{5 * n_random} or more are advisable. Use {simpler}, or more clients."
        )
    if n < 5 * n_random:
        text = (
            f"{model}: only {n} clients for {n_random} random effects (advisable: "
            f"{5 * n_random} or more); the between-client SDs and correlations will lean on "
            f"their priors. Consider {simpler}. Clients: {show_clients(clients)}."
        )
        warnings.warn(text, DataWarning, stacklevel=3)
        return text
    return None


def effect(draws: np.ndarray, level: float = 0.95) -> Effect:
    """Posterior mean, SD and equal-tailed interval at ``level``."""
    return Effect.from_draws(np.asarray(draws), level=level)


#: The params table of the Bayesian families: lavaan's columns first (``z`` and ``pvalue`` are
#: NaN: a posterior has none), then the readable ``term`` and the convergence diagnostics.
PARAM_COLUMNS = [
    "lhs", "op", "rhs", "est", "se", "z", "pvalue", "ci.lower", "ci.upper",
    "term", "r_hat", "ess_bulk", "ess_tail",
]  # fmt: skip


def param_row(
    lhs: str, op: str, rhs: str, draws: np.ndarray, *, term: str, level: float = 0.95
) -> dict[str, Any]:
    """One row of the params table from draws shaped ``(chain, draw)``.

    ``lhs op rhs`` as in lavaan: ``y ~ x`` a regression (lagged) coefficient, ``y ~1`` an
    intercept or mean; Bayesian extras ``sd`` (a standard deviation: of a random effect, with
    ``rhs`` the grouping column, or of a residual/innovation) and ``cor`` (a correlation).
    Mean, SD and equal-tailed ``level`` interval of the draws, R-hat and bulk/tail ESS.
    """
    import arviz as az

    d = np.asarray(draws, dtype=float)
    e = Effect.from_draws(d, level=level)
    with ignoring(*ARVIZ_DIAGNOSTICS):
        rhat = float(az.rhat(d)) if d.shape[0] > 1 else float("nan")
        bulk = float(az.ess(d, method="bulk"))
        tail = float(az.ess(d, method="tail"))
    return {
        "lhs": lhs,
        "op": op,
        "rhs": rhs,
        "est": e.est,
        "se": e.se,
        "z": float("nan"),
        "pvalue": float("nan"),
        "ci.lower": e.lower,
        "ci.upper": e.upper,
        "term": term,
        "r_hat": rhat,
        "ess_bulk": bulk,
        "ess_tail": tail,
    }


def client_rows(
    clients: Any, effect_name: str, draws: np.ndarray, level: float = 0.95
) -> pd.DataFrame:
    """Per-client posterior summary of one random effect (draws shaped ``(..., client)``).

    Columns ``client, effect, est, se, lower, upper`` (mean, SD, equal-tailed ``level``
    interval).
    """
    d = np.asarray(draws, dtype=float)
    d = d.reshape(-1, d.shape[-1])
    q = np.quantile(d, [0.5 - level / 2, 0.5 + level / 2], axis=0)
    return pd.DataFrame(
        {
            "client": np.asarray(clients),
            "effect": effect_name,
            "est": d.mean(axis=0),
            "se": d.std(axis=0, ddof=1),
            "lower": q[0],
            "upper": q[1],
        }
    )


def params_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The params table (:data:`PARAM_COLUMNS`)."""
    return pd.DataFrame(rows, columns=PARAM_COLUMNS)


#: Observations per block of the pointwise LOO/WAIC (:func:`loo_waic`): bounds the memory of
#: ArviZ's PSIS smoothing, which copies the (draws x observations) array several times.
LOO_BLOCK = 500


def loo_waic(idata: Any, var_name: str | None = None, prefix: str = "") -> dict[str, Any]:
    """LOO (PSIS) and WAIC from the pointwise log-likelihood, as scalars for ``fit``.

    Both are sums over observations of terms that depend on that observation alone, so they
    are computed by ArviZ in blocks of :data:`LOO_BLOCK` observations and added up (with the
    relative efficiency ``reff`` computed once from the whole posterior, as ArviZ does): the
    same numbers as one call on all observations, without its peak memory (issue 14).
    """
    import arviz as az
    import xarray as xr

    ll = idata.log_likelihood
    name = var_name or next(iter(ll.data_vars))
    da = ll[name].transpose("chain", "draw", ...)
    n_chain, n_draw = da.shape[:2]
    values = da.values.reshape(n_chain, n_draw, -1)
    n_obs = values.shape[-1]
    post = idata.posterior
    reff = 1.0
    if n_chain > 1:
        with ignoring(*ARVIZ_DIAGNOSTICS):
            ess_p = az.ess(post, method="mean")
        reff = np.hstack([ess_p[v].values.ravel() for v in ess_p.data_vars]).mean() / (
            n_chain * n_draw
        )
    loo_i, k, p_loo, elpd_waic = [], [], 0.0, 0.0
    for lo in range(0, n_obs, LOO_BLOCK):
        block = values[..., lo : lo + LOO_BLOCK]
        dims = ("chain", "draw", "observation")
        part = az.InferenceData(log_likelihood=xr.Dataset({name: (dims, block)}))
        with ignoring(*ARVIZ_LOO):  # high Pareto k and WAIC variance warnings: counted below
            loo = az.loo(part, var_name=name, pointwise=True, reff=reff)
            waic = az.waic(part, var_name=name)
        loo_i.append(np.asarray(loo.loo_i).ravel())
        k.append(np.asarray(loo.pareto_k).ravel())
        p_loo += float(loo.p_loo)
        elpd_waic += float(waic.elpd_waic)
    loo_i, k = np.concatenate(loo_i), np.concatenate(k)
    elpd = float(loo_i.sum())
    out: dict[str, Any] = {}
    out[f"{prefix}elpd_loo"] = elpd
    out[f"{prefix}elpd_loo_se"] = float(np.sqrt(n_obs * np.var(loo_i)))
    out[f"{prefix}p_loo"] = p_loo
    out[f"{prefix}looic"] = float(-2 * elpd)
    out[f"{prefix}pareto_k_over_0.7"] = int((k > 0.7).sum())
    out[f"{prefix}elpd_waic"] = elpd_waic
    out[f"{prefix}waic"] = float(-2 * elpd_waic)
    return out
