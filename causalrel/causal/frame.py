"""The within-client frame: the rows of one lagged effect, raw and centred on client means.

Also the within-client permutation the placebo refuter uses and the check that a variable varies
within clients at all (a number from rounding error would look precise).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..data import DataError, DataWarning, SessionPanel

__all__ = ["TRENDS", "lag_column", "within_frame", "permute_within", "require_within_variation"]

#: How shared time trends enter the analysis.
TRENDS = {
    "none": "no time node: scores are assumed to have no trend across sessions",
    "linear": "the session number (centred within client) is an observed common cause of every "
    "score, which removes the average linear trend",
    "detrend": "each client's own linear trend is removed from both scores first "
    "(causalrel.decompose.detrend), so no time node is needed",
}


def lag_column(v: str) -> str:
    """The column holding ``v`` at the previous session (as :meth:`SessionPanel.lagged`)."""
    return f"{v}_lag1"


def within_frame(
    panel: SessionPanel,
    cause: str,
    outcome: str,
    *,
    trend: str = "linear",
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Rows for the lagged effect of ``cause`` on ``outcome``: raw and within-client centred.

    A row is a session t with the outcome at t and both variables at session t-1 (lags across a
    missed session are missing). Rows with a missing value are left out, and so are clients with
    fewer than two usable rows (a client's single row is all client mean, nothing within). Every
    column (including the session number when ``trend`` adjusts for time) is then centred on its
    client's mean over the rows kept, the within transformation of fixed-effects regression.

    Returns
    -------
    raw, within : DataFrame
        Columns ``client``, the outcome, ``{x}_lag1``, ``{y}_lag1`` (and the session column);
        ``within`` holds the centred values (``client`` unchanged), rows aligned.
    excluded : dict
        ``{reason: count}`` in the vocabulary of ``docs/results-contract.md``:
        ``rows.first_session``, ``rows.previous_session_missing`` (a gap, or a missing rating
        at t-1), ``rows.missing_rating`` (the outcome at t) and ``clients.too_few_sessions``
        (clients with fewer than two usable rows); each row once, under the first that applies.
    """
    if trend not in TRENDS:
        raise DataError(f"trend must be one of {', '.join(TRENDS)}; got {trend!r}.")
    if cause not in panel.variables or outcome not in panel.variables:
        raise DataError(
            f"cause and outcome must be '{panel.x}' or '{panel.y}'; got {cause!r}, {outcome!r}."
        )
    if trend == "detrend":
        from ..decompose import detrend

        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", DataWarning
            )  # short-client notice: counted below as missing
            panel = detrend(panel)
    lag = panel.lagged()
    cols = [outcome, lag_column(panel.x), lag_column(panel.y)]
    time_cols = [panel.session] if trend == "linear" else []
    frame = lag[[panel.client, *cols, *time_cols]].copy()
    frame[panel.session] = lag[panel.session].astype(float)
    frame = frame[[panel.client, *cols, *time_cols]]
    excluded: dict[str, int] = {}
    lags = [lag_column(panel.x), lag_column(panel.y)]
    first = lag[panel.session] == lag.groupby(panel.client)[panel.session].transform("min")
    no_lag = lag[lags].isna().any(axis=1)
    complete = frame[cols].notna().all(axis=1)
    # each row left out is counted once, under the first reason that applies
    counts = {
        "rows.first_session": int((~complete & first).sum()),
        "rows.previous_session_missing": int((~complete & ~first & no_lag).sum()),
        "rows.missing_rating": int((~complete & ~first & ~no_lag).sum()),
    }
    excluded.update({k: n for k, n in counts.items() if n})
    frame = frame[complete]
    per = frame.groupby(panel.client)[outcome].transform("size")
    single = per < 2
    if single.any():  # a client's single row is all client mean: nothing within
        excluded["clients.too_few_sessions"] = int(frame.loc[single, panel.client].nunique())
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
    within[num] = frame[num] - frame.groupby("client")[num].transform("mean")
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
