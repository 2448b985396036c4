"""Posterior predictive checks shared by the Bayesian families (MLM and DSEM).

What: each family replicates its observed outcomes from the posterior one session ahead (a
session's rating drawn from the model given the previous session's observed or imputed values
and the client's own effects, for a thinned set of posterior draws) and reports the model's
conditional mean of each rating for the same draws; this module stores the replicates and the
data in ArviZ's ``posterior_predictive`` and ``observed_data`` groups (so ``az.plot_ppc`` works)
and compares test statistics ``T`` of the data with their replicated distribution: the posterior
predictive p-value ``P(T(rep) >= T(obs))`` (Gelman, Meng & Stern 1996). Values near 0 or 1 flag
a feature of the data that the model does not reproduce.

The statistics, per outcome: ``mean`` and ``sd`` of the ratings (level and spread); and, of the
one-step residuals (rating minus the draw's conditional mean, for data and replicates alike:
a discrepancy measure in Gelman, Meng & Stern's sense), ``resid_sd`` (their root mean square:
the residual SD), ``resid_sd_client_means`` (SD across clients of the clients' mean residuals:
client levels the model misses) and ``resid_sd_client_sds`` (SD across clients of the clients'
residual SDs: the one innovation SD for all clients that the MLM and
``DSEM(random_innovations=False)`` assume).

Why residuals for the client-level statistics: one-step replicates keep the observed past, so
they lack the serial dependence of the data; a statistic that centres a client's ratings at the
client's mean mixes in that dependence (a short AR(1) series' sample mean varies more, and its
deviations less, than independent draws'). Measured on data simulated from the DSEM itself
(150 clients x 15 sessions, autoregression 0.3-0.4): the within-client SD of the ratings gave
p = 0.92-0.99 and the SD of client means p = 0.09-0.38 in four outcomes, i.e. false alarms.
Given the model, the data's one-step residuals are independent normals like the replicates', so
every statistic of them is calibrated. Lag-1 autocorrelation is not checked for the same reason.

Why own code: ArviZ plots replicates (``plot_ppc``, ``plot_bpv``) but has no statistics computed
within clients; these are a few vectorised numpy lines (no loop over clients or draws).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MAX_DRAWS",
    "STATISTICS",
    "Replicates",
    "thin",
    "statistics",
    "pvalues",
    "add_groups",
    "check",
]

#: At most this many posterior draws (all chains together) are replicated.
MAX_DRAWS = 500
#: Test statistics of the ratings and of the one-step residuals (see the module docstring), in
#: the order of the ``fit`` keys ``"ppc_p:{outcome}:{statistic}"``.
STATISTICS = ("mean", "sd", "resid_sd", "resid_sd_client_means", "resid_sd_client_sds")
#: p-values outside (LOW, HIGH) get a note.
LOW, HIGH = 0.05, 0.95


@dataclass
class Replicates:
    """A family's replicated outcomes, by outcome (the user's column name).

    ``observed[v]`` has shape ``(n_v,)`` (raw units), ``replicated[v]`` and ``mean[v]`` (the
    model's conditional mean of each rating, per draw) ``(chain, draw, n_v)``, ``client[v]``
    and ``session[v]`` the client id and session number of each observation; ``chains`` and
    ``draws`` are the posterior coordinates of the replicated draws.
    """

    observed: dict[str, np.ndarray]
    replicated: dict[str, np.ndarray]
    mean: dict[str, np.ndarray]
    client: dict[str, np.ndarray]
    session: dict[str, np.ndarray]
    chains: np.ndarray
    draws: np.ndarray


def thin(posterior: Any, rng: np.random.Generator, max_draws: int = MAX_DRAWS) -> Any:
    """The posterior with at most ``max_draws`` draws in all (the same random draws per chain)."""
    nc, nd = int(posterior.sizes["chain"]), int(posterior.sizes["draw"])
    per_chain = max(1, min(nd, max_draws // nc))
    if per_chain >= nd:
        return posterior
    keep = np.sort(rng.choice(nd, size=per_chain, replace=False))
    return posterior.isel(draw=keep)


def statistics(
    values: np.ndarray, groups: np.ndarray, mean: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The statistics of :data:`STATISTICS` over the last axis of ``values``.

    ``groups`` labels each observation's client (any labels). ``mean`` (broadcast against
    ``values``) is the conditional mean that defines the residuals ``values - mean``; without
    it only ``mean`` and ``sd`` are computed. A client's residual SD is its root mean square
    residual (residuals have mean zero under the model; no centring, see the module docstring).
    """
    values = np.asarray(values, dtype=float)
    out = {"mean": values.mean(axis=-1), "sd": values.std(axis=-1, ddof=1)}
    if mean is None:
        return out
    r = values - np.asarray(mean, dtype=float)
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    counts = np.diff(np.r_[starts, c.size])
    r = r[..., order]
    client_mean = np.add.reduceat(r, starts, axis=-1) / counts
    client_sd = np.sqrt(np.add.reduceat(r**2, starts, axis=-1) / counts)
    out["resid_sd"] = np.sqrt((r**2).mean(axis=-1))
    out["resid_sd_client_means"] = client_mean.std(axis=-1, ddof=1)
    out["resid_sd_client_sds"] = client_sd.std(axis=-1, ddof=1)
    return out


def pvalues(reps: Replicates) -> dict[str, float]:
    """``{"ppc_p:{outcome}:{statistic}": P(T(rep) >= T(obs))}`` over the replicated draws.

    Residual statistics compare data and replicate draw by draw (each with that draw's
    conditional mean). A statistic undefined for the data (e.g. an SD across one client) is
    left out.
    """
    out: dict[str, float] = {}
    for var, obs in reps.observed.items():
        g, m = reps.client[var], reps.mean[var]
        t_obs = statistics(obs, g, m)
        t_rep = statistics(reps.replicated[var], g, m)
        for name in STATISTICS:
            a, b = np.broadcast_arrays(t_rep[name], t_obs[name])
            if np.isfinite(b).all():
                out[f"ppc_p:{var}:{name}"] = float(np.mean(a >= b))
    return out


def add_groups(idata: Any, reps: Replicates) -> None:
    """Put the replicates in ``posterior_predictive`` and the data in ``observed_data``.

    One variable per outcome, dims ``(chain, draw, "{outcome}_obs")`` (the two outcomes have
    different numbers of observations), with the client and session of each observation as
    coordinates ``"{outcome}_client"``, ``"{outcome}_session"``. Existing groups of these names
    are replaced.
    """
    import xarray as xr

    pp, od = {}, {}
    for var, obs in reps.observed.items():
        dim = f"{var}_obs"
        coords = {
            dim: np.arange(obs.size),
            f"{var}_client": (dim, np.asarray(reps.client[var])),
            f"{var}_session": (dim, np.asarray(reps.session[var])),
        }
        od[var] = xr.DataArray(obs, dims=(dim,), coords=coords)
        pp[var] = xr.DataArray(
            reps.replicated[var],
            dims=("chain", "draw", dim),
            coords={"chain": reps.chains, "draw": reps.draws, **coords},
        )
    for group, ds in (("posterior_predictive", xr.Dataset(pp)), ("observed_data", xr.Dataset(od))):
        if group in idata.groups():
            setattr(idata, group, ds)
        else:
            idata.add_groups({group: ds})


def check(idata: Any, reps: Replicates) -> tuple[dict[str, Any], list[str]]:
    """Store the replicates in ``idata``; return the p-values (for ``fit``) and notes.

    The notes name every statistic with a p-value below :data:`LOW` or above :data:`HIGH`.
    """
    add_groups(idata, reps)
    p = pvalues(reps)
    n = int(reps.chains.size * reps.draws.size)
    fit: dict[str, Any] = {**p, "ppc_draws": n}
    extreme = {k.split(":", 1)[1]: v for k, v in p.items() if not LOW < v < HIGH}
    notes = []
    if extreme:
        text = (
            f"posterior predictive check (one-step-ahead replicates, {n} draws): the data "
            "differ from the model's replicates in "
            + "; ".join(f"{k} p = {v:.3f}" for k, v in extreme.items())
            + ". p = P(T(rep) >= T(obs)): near 0 the data's statistic is larger than the "
            "model reproduces, near 1 smaller."
        )
        if any(k.endswith("resid_sd_client_sds") for k in extreme):
            text += (
                " resid_sd_client_sds: clients' residual SDs differ more (or less) than one "
                "shared innovation SD allows; DSEM(random_innovations=True) lets them differ."
            )
        notes.append(text)
    return fit, notes
