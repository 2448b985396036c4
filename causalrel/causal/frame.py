"""The within-client frame: the rows of one lagged effect, raw and centred on client means.

Also the within-client permutation the placebo refuter uses and the check that a variable varies
within clients at all (a number from rounding error would look precise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import DataError, SessionPanel
from ..design import centre_within, detrend_panel, lag_exclusions, lag_name

__all__ = [
    "TIMES",
    "TRENDS",
    "lag_column",
    "within_frame",
    "permute_within",
    "require_within_variation",
]

#: How shared time trends enter the analysis.
TRENDS = {
    "none": "no time node: scores are assumed to have no trend across sessions",
    "linear": "the session number (centred within client) is an observed common cause of every "
    "score, which removes the average linear trend",
    "detrend": "each client's own linear trend is removed from both scores first "
    "(causalrel.decompose.detrend), so no time node is needed",
}


#: The ``time`` words every family uses -> this layer's ``TRENDS`` word for the same handling.
TIMES = {"none": "none", "common": "linear", "client": "detrend"}


def lag_column(v: str) -> str:
    """The column holding ``v`` at the previous session (as :meth:`SessionPanel.lagged`)."""
    return lag_name(v, 1)


def within_frame(
    panel: SessionPanel,
    cause: str,
    outcome: str,
    *,
    trend: str = "linear",
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Rows for the lagged effect of ``cause`` on ``outcome``: raw and within-client centred.

    A row is a session t with the outcome at t and both variables at session t-1 (lags by
    session number, :func:`causalrel.design.add_lags`: across a missed session they are
    missing). Rows with a missing value are left out (:func:`causalrel.design.lag_exclusions`),
    and so are clients with fewer than two usable rows (a client's single row is all client
    mean, nothing within). Every column (including the session number when ``trend`` adjusts
    for time) is then centred on its client's mean over the rows kept
    (:func:`causalrel.design.centre_within`), the within transformation of fixed-effects
    regression.

    Returns
    -------
    raw, within : DataFrame
        Columns ``client``, the outcome, ``{x}_lag1``, ``{y}_lag1`` (and the session column);
        ``within`` holds the centred values (``client`` unchanged), rows aligned.
    excluded : dict
        ``{reason: count}`` in the vocabulary of :data:`causalrel.design.EXCLUSIONS`
        (``docs/results-contract.md``): ``rows.first_session``,
        ``rows.previous_session_missing`` (a gap, or a missing rating at t-1),
        ``rows.missing_rating`` (the outcome at t), ``rows.too_few_usable_rows`` (the single
        usable row of a client), and the ``clients.*`` that contribute nothing; each row
        (client) once, under the first reason that applies.
    """
    if trend not in TRENDS:
        raise DataError(f"trend must be one of {', '.join(TRENDS)}; got {trend!r}.")
    if cause not in panel.variables or outcome not in panel.variables:
        raise DataError(
            f"cause and outcome must be '{panel.x}' or '{panel.y}'; got {cause!r}, {outcome!r}."
        )
    if trend == "detrend":  # short clients' rows are counted below as missing
        panel, _ = detrend_panel(panel, quiet=True)
    lag = panel.lagged()
    lags = [lag_column(panel.x), lag_column(panel.y)]
    cols = [outcome, *lags]
    time_cols = [panel.session] if trend == "linear" else []
    used, excluded = lag_exclusions(
        lag,
        panel.client,
        panel.session,
        lagged=lag[lags].notna().all(axis=1).to_numpy(),
        current=lag[outcome].notna().to_numpy(),
    )
    frame = lag.loc[used, [panel.client, *cols]].copy()
    if time_cols:
        frame[panel.session] = lag.loc[used, panel.session].astype(float)
    per = frame.groupby(panel.client)[outcome].transform("size")
    single = per < 2
    if single.any():  # a client's single row is all client mean: nothing within
        excluded["rows.too_few_usable_rows"] = int(single.sum())
        excluded["clients.no_usable_rows"] = excluded.get("clients.no_usable_rows", 0) + int(
            frame.loc[single, panel.client].nunique()
        )
    frame = frame[~single].reset_index(drop=True)
    if frame[panel.client].nunique() < 2:
        raise DataError(
            f"Too few usable rows for the effect of {cause} on next-session {outcome}: fewer than "
            "two clients have two consecutive sessions with both ratings."
        )
    if trend == "linear" and frame[panel.session].nunique() < 2:
        raise DataError("All usable rows have the same session number: no time trend to adjust.")
    frame = frame.rename(columns={panel.client: "client"})
    within = frame.copy()
    num = [c for c in frame.columns if c != "client"]
    within[num] = centre_within(frame, "client", num)[1]
    return frame, within, excluded


def permute_within(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices that shuffle rows within each group (client) and never across groups.

    ``values[permute_within(codes, rng)]`` keeps each client's own multiset of values and moves
    them to random sessions of the same client: the within-client placebo.
    """
    groups = np.asarray(groups)
    shuffled = np.lexsort((rng.random(len(groups)), groups))  # by group, random within group
    perm = np.empty(len(groups), dtype=int)
    perm[np.argsort(groups, kind="stable")] = shuffled
    return perm


def require_within_variation(raw: pd.DataFrame, within: pd.DataFrame, cols: list[str]) -> None:
    """Refuse an effect whose cause or outcome hardly varies within clients (a number from
    rounding error would look precise: an interval of width 1e-16)."""
    for c in cols:
        total, inside = float(raw[c].var()), float(within[c].var())
        if not (np.isfinite(inside) and inside > 1e-10 * max(total, 1e-300)):
            raise DataError(
                f"'{c}' does not vary within clients in the rows used (within-client variance "
                f"{inside:.1g} of {total:.3g}): the causal layer cannot estimate a within-client "
                "effect from it."
            )
