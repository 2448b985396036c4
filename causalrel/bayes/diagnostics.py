"""Convergence diagnostics after every fit: R-hat, bulk/tail ESS, divergences, BFMI.

ArviZ computes the numbers (rank-normalised split R-hat and ESS, Vehtari et al. 2021; BFMI,
Betancourt 2016); this module only decides what counts as a failure and words the advice.
Thresholds follow the Stan/ArviZ recommendations: R-hat <= 1.01, bulk and tail ESS >= 100 per
chain, no divergent transitions, BFMI >= 0.3 in every chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._warnings import ARVIZ_DIAGNOSTICS, ignoring

__all__ = ["RHAT_MAX", "BFMI_MIN", "ESS_PER_CHAIN", "diagnose", "what_to_try"]

RHAT_MAX = 1.01
BFMI_MIN = 0.3
ESS_PER_CHAIN = 100


def _n_divergent(idata: Any) -> int:
    stats = idata.sample_stats
    for name in ("diverging", "divergences"):
        if name in stats:
            return int(np.asarray(stats[name]).astype(bool).sum())
    return 0


def diagnose(idata: Any, var_names: Sequence[str]) -> dict[str, Any]:
    """The contract's diagnostics block for the parameters ``var_names``.

    Returns ``converged``, ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences``,
    ``bfmi_min``, the draws and chains, the thresholds used and, when not converged, a
    ``message`` listing what failed.
    """
    import arviz as az

    post = idata.posterior
    chains, draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    names = [v for v in var_names if v in post]
    with ignoring(*ARVIZ_DIAGNOSTICS):  # ArviZ's own chatter about few chains/draws
        rhat = az.rhat(post, var_names=names)
        bulk = az.ess(post, var_names=names, method="bulk")
        tail = az.ess(post, var_names=names, method="tail")
        try:
            bfmi = np.asarray(az.bfmi(idata), dtype=float)
        except (KeyError, AttributeError, ValueError, TypeError):  # TypeError: no energy stored
            bfmi = np.array([np.nan])

    def _extreme(ds: Any, fn: Any) -> tuple[float, str]:
        best, where = np.nan, ""
        for v in ds.data_vars:
            a = np.asarray(ds[v], dtype=float)
            if a.size == 0 or np.all(np.isnan(a)):
                continue
            val = float(fn(a[np.isfinite(a)])) if np.isfinite(a).any() else np.nan
            if np.isnan(best) or fn([best, val]) == val:
                best, where = val, v
        return best, where

    rhat_max, rhat_at = _extreme(rhat, np.max)
    bulk_min, bulk_at = _extreme(bulk, np.min)
    tail_min, tail_at = _extreme(tail, np.min)
    divergences = _n_divergent(idata)
    bfmi_min = float(np.nanmin(bfmi)) if np.isfinite(bfmi).any() else float("nan")
    ess_needed = ESS_PER_CHAIN * chains

    problems = []
    if chains < 2:
        problems.append("R-hat needs at least 2 chains")
    if not rhat_max <= RHAT_MAX:
        problems.append(f"R-hat {rhat_max:.3f} > {RHAT_MAX} (at {rhat_at})")
    if not bulk_min >= ess_needed:
        problems.append(f"bulk ESS {bulk_min:.0f} < {ess_needed} (at {bulk_at})")
    if not tail_min >= ess_needed:
        problems.append(f"tail ESS {tail_min:.0f} < {ess_needed} (at {tail_at})")
    if divergences:
        problems.append(f"{divergences} divergent transition(s)")
    if np.isfinite(bfmi_min) and bfmi_min < BFMI_MIN:
        problems.append(f"BFMI {bfmi_min:.2f} < {BFMI_MIN}")
    out: dict[str, Any] = {
        "converged": not problems,
        "rhat_max": rhat_max,
        "ess_bulk_min": bulk_min,
        "ess_tail_min": tail_min,
        "divergences": divergences,
        "bfmi_min": bfmi_min,
        "chains": chains,
        "draws": draws,
        "thresholds": {
            "rhat_max": RHAT_MAX,
            "ess_min": ess_needed,
            "divergences": 0,
            "bfmi_min": BFMI_MIN,
        },
    }
    if problems:
        out["message"] = "; ".join(problems)
    return out


def what_to_try(diagnostics: dict[str, Any], *, simpler: str) -> str:
    """Advice matched to what failed; ``simpler`` names the model's simpler structure."""
    tips = []
    msg = diagnostics.get("message", "")
    if "R-hat" in msg or "ESS" in msg:
        tips.append("more tuning and draws (e.g. tune=2000, draws=4000) and at least 4 chains")
    if "divergent" in msg or "BFMI" in msg:
        tips.append("a higher target_accept (0.95 or 0.99)")
    tips.append(simpler)
    return "; ".join(tips) + "."
