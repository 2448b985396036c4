"""Within/between decomposition: centring, detrending, variance shares, correlations.

These are the descriptive steps every analysis starts from and every model family reuses:
person-mean centring splits a score into a client's stable level (between) and the session's
deviation from it (within); detrending removes each client's linear trend across sessions, since
shared trends (alliance rising while symptoms fall) alone make within-client correlations
negative (Falkenström et al. 2017). Random-intercept variance shares use statsmodels' MixedLM
(REML), so only the naive share is computed by hand.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._warnings import ignoring
from .data import DataWarning, SessionPanel
from .design import centre_within, remove_client_trends

__all__ = [
    "person_mean_centre",
    "grand_mean_centre",
    "detrend",
    "variance_decomposition",
    "correlations",
    "lagged_correlations",
    "describe",
]


def _cols(panel: SessionPanel, columns: Sequence[str] | None) -> list[str]:
    return list(columns) if columns is not None else panel.variables


def person_mean_centre(panel: SessionPanel, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Split each column into ``{c}_between`` (the client's mean) and ``{c}_within`` (deviation).

    Client means use the client's observed sessions; rows align with ``panel.data``
    (:func:`causalrel.design.centre_within`).
    """
    cols = _cols(panel, columns)
    between, within = centre_within(panel.data, panel.client, cols)
    out = pd.DataFrame(index=panel.data.index)
    for c in cols:
        out[f"{c}_between"] = between[c]
        out[f"{c}_within"] = within[c]
    return out


def grand_mean_centre(panel: SessionPanel, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Each column minus its grand mean over all rows (``{c}_gmc``)."""
    return pd.DataFrame(
        {f"{c}_gmc": panel.data[c] - panel.data[c].mean() for c in _cols(panel, columns)},
        index=panel.data.index,
    )


def detrend(
    panel: SessionPanel, columns: Sequence[str] | None = None, *, min_obs: int = 3
) -> SessionPanel:
    """Remove each client's own linear trend across sessions, keeping the client's mean.

    For every client and column, the least-squares line of the score on the session number is
    subtracted and the client's mean added back, so between-client differences stay and only the
    within-client trend goes. A client with fewer than ``min_obs`` observed values has no
    estimable trend (two points fit a line exactly): those values become missing, with a
    :class:`~causalrel.data.DataWarning` saying how many clients were affected.
    """
    data = panel.data
    cols = _cols(panel, columns)
    values = remove_client_trends(data, panel.client, panel.session, cols, min_obs=min_obs)
    for c in cols:
        short = data.groupby(panel.client, sort=False)[c].transform("count") < min_obs
        if (short & data[c].notna()).any():
            k = data.loc[short & data[c].notna(), panel.client].nunique()
            warnings.warn(
                f"detrend: {k} client(s) have fewer than {min_obs} observed '{c}' values, so no "
                "trend can be estimated for them; their values are set missing.",
                DataWarning,
                stacklevel=2,
            )
    return panel.with_values(values)


def variance_decomposition(
    panel: SessionPanel, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Share of each column's variance that lies between clients (and therapists).

    Returns one row per column with the mean, SD, missing share, the naive between share
    (variance of client means over that plus the mean within-client variance) and the
    random-intercept-model estimate ``tau^2 / (tau^2 + sigma^2)`` (REML, statsmodels MixedLM).
    With a therapist column, a three-level model adds ``therapist_share`` (therapist variance
    over total) and ``between_share`` then counts client plus therapist variance.
    """
    rows = []
    for c in _cols(panel, columns):
        d = panel.data[[panel.client, c] + ([panel.therapist] if panel.therapist else [])].dropna()
        means = d.groupby(panel.client)[c].mean()
        dev = d[c] - d.groupby(panel.client)[c].transform("mean")
        var_b, var_w = means.var(ddof=1), dev.var(ddof=1)
        row: dict[str, Any] = {
            "variable": c,
            "mean": panel.data[c].mean(),
            "sd": panel.data[c].std(),
            "missing_share": panel.data[c].isna().mean(),
            "sd_between": np.sqrt(var_b),
            "sd_within": np.sqrt(var_w),
            "between_share_naive": var_b / (var_b + var_w),
        }
        row.update(_random_intercept_shares(d, c, panel.client, panel.therapist))
        rows.append(row)
    return pd.DataFrame(rows).set_index("variable")


def _mixedlm_chatter() -> tuple:
    """statsmodels' MixedLM notices (optimiser retries, boundary fits): convergence is checked."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergenceWarning

    return (
        (SMConvergenceWarning, "", ""),
        (UserWarning, "statsmodels", ""),
        (RuntimeWarning, "statsmodels", ""),
    )


def _random_intercept_shares(d: pd.DataFrame, c: str, client: str, therapist: str | None) -> dict:

    y = d[c].to_numpy(float)
    unknown = {"between_share": np.nan, "ri_converged": False}
    if therapist is not None:
        unknown["therapist_share"] = np.nan
    if d[client].nunique() < 2 or not y.std() > 0:  # no between-client variance to estimate
        return unknown
    frame = pd.DataFrame({"y": (y - y.mean()) / y.std(), "client": d[client].astype(str)})
    with ignoring(*_mixedlm_chatter()):  # MixedLM's boundary chatter; see ri_converged
        try:
            return _fit_shares(frame, d, therapist)
        except (np.linalg.LinAlgError, ValueError):  # singular: too few clients or therapists
            return unknown


def _fit_shares(frame: pd.DataFrame, d: pd.DataFrame, therapist: str | None) -> dict:
    import statsmodels.formula.api as smf

    if therapist is None:
        fit = smf.mixedlm("y ~ 1", frame, groups=frame["client"]).fit(reml=True)
        tau2, sigma2 = float(fit.cov_re.iloc[0, 0]), float(fit.scale)
        return {"between_share": tau2 / (tau2 + sigma2), "ri_converged": bool(fit.converged)}
    frame["therapist"] = d[therapist].astype(str).to_numpy()
    fit = smf.mixedlm(
        "y ~ 1",
        frame,
        groups=frame["therapist"],
        re_formula="1",
        vc_formula={"client": "0 + C(client)"},
    ).fit(reml=True)
    t2, c2, s2 = float(fit.cov_re.iloc[0, 0]), float(fit.vcomp[0]), float(fit.scale)
    total = t2 + c2 + s2
    return {
        "between_share": (t2 + c2) / total,
        "therapist_share": t2 / total,
        "ri_converged": bool(fit.converged),
    }


def correlations(panel: SessionPanel) -> dict[str, float]:
    """Pooled, between-client and within-client correlation of x and y in the same session.

    ``between`` correlates client means; ``within`` correlates same-session deviations from the
    client means (rows with both ratings).
    """
    x, y = panel.x, panel.y
    both = panel.subset(panel.data[[x, y]].notna().all(axis=1))
    d = both.data
    pmc = person_mean_centre(both)
    means = d.groupby(both.client)[[x, y]].mean()
    return {
        "pooled": float(d[x].corr(d[y])),
        "between": float(means[x].corr(means[y])),
        "within": float(pmc[f"{x}_within"].corr(pmc[f"{y}_within"])),
    }


def lagged_correlations(panel: SessionPanel) -> dict[str, float]:
    """Within-client lag-1 correlations: ``"x->y"`` correlates x at t with y at t+1.

    Uses deviations from client means; a lag across a missed session is missing.
    """
    pmc = person_mean_centre(panel)
    w = panel.data[[panel.client, panel.session]].copy()
    for v in panel.variables:
        w[v] = pmc[f"{v}_within"]
    lag = panel.with_values(w[panel.variables]).lagged()
    out = {}
    for a in panel.variables:
        for b in panel.variables:
            out[f"{a}->{b}"] = float(lag[f"{a}_lag1"].corr(lag[b]))
    return out


def describe(panel: SessionPanel) -> dict[str, Any]:
    """The ``describe`` summary of the results contract, as a JSON-safe dict."""
    per = panel.sessions_per_client
    vd = variance_decomposition(panel)
    variables = {}
    for v in panel.variables:
        r = vd.loc[v]
        entry = {
            "mean": float(r["mean"]),
            "sd": float(r["sd"]),
            "missing_share": float(r["missing_share"]),
            "between_share": float(r["between_share"]),
            "between_share_naive": float(r["between_share_naive"]),
            "sd_between": float(r["sd_between"]),
            "sd_within": float(r["sd_within"]),
        }
        if "therapist_share" in r:
            entry["therapist_share"] = float(r["therapist_share"])
        variables[v] = entry
    sessions = panel.data[panel.session]
    return {
        "n_clients": panel.n_clients,
        "n_rows": panel.n_rows,
        "n_therapists": int(panel.data[panel.therapist].nunique()) if panel.therapist else None,
        "sessions": {
            "min": int(sessions.min()),
            "max": int(sessions.max()),
            "median_per_client": float(per.median()),
        },
        "variables": variables,
        "correlations": correlations(panel),
        "lagged_within_correlations": lagged_correlations(panel),
        "warnings": list(panel.warnings),
    }
