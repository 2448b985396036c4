"""The shared design layer: the row-level steps every model family takes, written once.

Every family turns the long panel (:class:`~causalrel.data.SessionPanel`) into its own design,
and the steps they share live here so that they mean the same thing everywhere:

* **Lags by session number** (:func:`add_lags`, :func:`previous_present`): the value at session
  ``s - lag`` of the same client, matched by session number, never by row position, so a lag
  across a missed session is missing rather than the last session before the gap. Works on
  rows in any order and with any client ids (integers or text).
* **Which rows a lagged model can use, and why the others go** (:func:`lag_exclusions`): every
  row left out gets exactly one reason of the :data:`EXCLUSIONS` vocabulary, and every client
  that contributes nothing gets one too, so ``excluded`` can be lined up across families.
  :func:`merge_exclusions` combines the counts of a family's equations (``":<variable>"`` only
  where they differ per outcome); :func:`check_exclusions` rejects keys outside the vocabulary.
* **Person-mean centring** (:func:`person_means`, :func:`centre_within`): a client's mean over
  the observed values of the rows given, and each row's deviation from it.
* **Time** (:data:`TIME_VALUES`, :func:`check_time_value`, :func:`centred_time`,
  :func:`session_dummies`, :func:`client_trend_columns`): ``time="none" | "common" |
  "client"`` across families: nothing; change shared by all clients (session effects, a common
  trend); each client's own linear trend besides the shared one.
  :func:`detrend_panel` removes each client's linear trend (:func:`causalrel.decompose.detrend`)
  and returns the one note text (:data:`DETREND_NOTE`) that every family adds when it does.
* **Client-level columns** (:func:`client_values`): one value per client of a column with an
  explicit ``policy``: ``"constant"`` (the column must not change within a client: a group,
  a cluster, a baseline covariate) or ``"mean"`` (a session-level column averaged over the
  client's observed sessions).

These are pandas/numpy functions of a frame and its column names (``client``, ``session``), so
they are testable without a model and used the same way by the SEMs' wide data, the panel
regressions, the Bayesian designs and the causal layer's within-client frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .data import DataError, _show

if TYPE_CHECKING:  # pragma: no cover
    from .data import SessionPanel

__all__ = [
    "EXCLUSIONS",
    "TIME_VALUES",
    "DETREND_NOTE",
    "lag_name",
    "previous_present",
    "earliest_sessions",
    "add_lags",
    "first_differences",
    "lag_exclusions",
    "exclusion_key",
    "merge_exclusions",
    "check_exclusions",
    "person_means",
    "centre_within",
    "check_time_value",
    "centred_time",
    "session_dummies",
    "client_trend_columns",
    "remove_client_trends",
    "detrend_panel",
    "client_values",
    "CLIENT_POLICIES",
]

# ---------------------------------------------------------------------------------------------
# The vocabulary of exclusions
# ---------------------------------------------------------------------------------------------
#: Why a family left clients or client-session rows out of its estimation. Keys of every
#: results object's ``excluded``: ``"<unit>.<reason>"``, optionally ``":<variable>"`` at the end
#: when the count differs per outcome (equation). ``clients.*`` values count clients, ``rows.*``
#: values count client-session rows. Within a family each row (client) left out is counted under
#: one reason only, the first of this order that applies, so ``rows.*`` add up to the rows not
#: used (and ``clients.*`` to the clients not used) for each outcome.
EXCLUSIONS: dict[str, str] = {
    "clients.too_few_sessions": (
        "clients with fewer sessions than the model needs (one session for a one-session lag, "
        "two for the dynamic panel's differenced lags; fewer than two rated sessions for the "
        "DSEM)"
    ),
    "clients.no_lagged_pair": (
        "clients with enough sessions but no session whose previous session(s) are also in the "
        "data (every lag falls across a missed session)"
    ),
    "clients.no_usable_rows": (
        "clients with lagged pairs but no row the model can use (missing ratings, no data in "
        "the modelled waves, too few usable rows)"
    ),
    "rows.first_session": (
        "a client's first session(s): no earlier session for the lag the model needs"
    ),
    "rows.previous_session_missing": (
        "the previous session is not in the data (a gap), or a rating at t-1 that the lag "
        "needs is missing"
    ),
    "rows.missing_rating": "a rating the model needs at session t is missing",
    "rows.before_first_wave": "sessions before the first wave the SEM models",
    "rows.after_last_wave": "sessions after the last wave the SEM models",
    "rows.no_instruments": (
        "rows whose instruments (deeper lagged levels of the dynamic panel) are missing"
    ),
    "rows.too_few_usable_rows": (
        "rows of a client with a single usable row, which within-client centring turns into "
        "zeros (the causal layer's within-client frame)"
    ),
}


def exclusion_key(reason: str, variable: str | None = None) -> str:
    """``reason`` (a key of :data:`EXCLUSIONS`), with ``":variable"`` appended when given.

    Raises ``KeyError`` for a reason outside the vocabulary: add it to :data:`EXCLUSIONS`
    (documented) rather than inventing a key.
    """
    if reason not in EXCLUSIONS:
        raise KeyError(f"{reason!r} is not an exclusion reason; known: {', '.join(EXCLUSIONS)}")
    return reason if variable is None else f"{reason}:{variable}"


def check_exclusions(excluded: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming every key of ``excluded`` outside the vocabulary."""
    bad = [k for k in excluded if str(k).split(":", 1)[0] not in EXCLUSIONS]
    if bad:
        raise ValueError(
            f"excluded keys outside the vocabulary (causalrel.design.EXCLUSIONS): {bad}"
        )


def merge_exclusions(per_outcome: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """One ``excluded`` dict from the counts of several equations (``{outcome: {reason: n}}``).

    A reason with the same count in every equation is reported once, unsuffixed; one whose count
    differs (or that only some equations have) is reported per outcome as ``"reason:outcome"``.
    Zero counts are dropped.
    """
    reasons: list[str] = []
    for counts in per_outcome.values():
        reasons += [r for r in counts if r not in reasons]
    out: dict[str, int] = {}
    for r in reasons:
        values = {o: int(c.get(r, 0)) for o, c in per_outcome.items()}
        if len(set(values.values())) == 1:
            if next(iter(values.values())):
                out[r] = next(iter(values.values()))
        else:
            out.update({f"{r}:{o}": n for o, n in values.items() if n})
    check_exclusions(out)
    return out


# ---------------------------------------------------------------------------------------------
# Lags by session number
# ---------------------------------------------------------------------------------------------
def lag_name(column: str, lag: int = 1) -> str:
    """Name of a lagged column: ``"alliance_lag1"``."""
    return f"{column}_lag{lag}"


def _keys(data: pd.DataFrame, client: str, session: str) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([data[client].to_numpy(), data[session].to_numpy()])


def previous_present(data: pd.DataFrame, client: str, session: str, lag: int = 1) -> np.ndarray:
    """Whether each row's session ``s - lag`` of the same client is a row of ``data``.

    Rows may be in any order; ids may be integers or text. With ``lag > 1`` only that one
    session is checked (see :func:`lag_exclusions` for "all of the ``depth`` previous").
    """
    s = data[session].to_numpy()
    target = pd.MultiIndex.from_arrays([data[client].to_numpy(), s - lag])
    return np.asarray(target.isin(_keys(data, client, session)), dtype=bool)


def earliest_sessions(data: pd.DataFrame, client: str, session: str, n: int = 1) -> np.ndarray:
    """Whether each row is among its client's first ``n`` sessions (any row order)."""
    rank = data.groupby(client, sort=False)[session].rank(method="first")
    return (rank <= n).to_numpy()


def add_lags(
    data: pd.DataFrame, client: str, session: str, columns: Sequence[str], lag: int = 1
) -> pd.DataFrame:
    """``data`` plus ``{col}_lag{lag}`` columns: the value at session ``s - lag`` (same client).

    Rows keep their order and index. A row whose session ``s - lag`` is not in the data gets
    NaN (a lag across a missed session is missing). A column of ``data`` already named like a
    lag gives way to the computed one.
    """
    columns = list(columns)
    names = {c: lag_name(c, lag) for c in columns}
    prev = data[[client, session, *columns]].copy()
    prev[session] = prev[session] + lag
    prev = prev.rename(columns=names).set_index([client, session])
    base = data.drop(columns=[n for n in names.values() if n in data])
    found = prev.reindex(_keys(data, client, session))
    for c in columns:
        base[names[c]] = found[names[c]].to_numpy()
    return base


def first_differences(
    data: pd.DataFrame, client: str, session: str, columns: Sequence[str]
) -> pd.DataFrame:
    """``Δc_t = c_t - c_{t-1}`` of each column, by session number (NaN after a missed session
    and at each client's first session); rows align with ``data``.

    The random-trend model's transformation (Wooldridge 2010, sec. 11.7): differencing turns a
    client's linear trend into a client constant, which the usual within or GMM machinery then
    removes.
    """
    columns = list(columns)
    lagged = add_lags(data, client, session, columns)
    return pd.DataFrame(
        {c: lagged[c].to_numpy(float) - lagged[lag_name(c)].to_numpy(float) for c in columns},
        index=data.index,
    )


def lag_exclusions(
    data: pd.DataFrame,
    client: str,
    session: str,
    *,
    lagged: np.ndarray,
    current: np.ndarray,
    depth: int = 1,
    instruments: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Which rows a lagged model uses, and an :data:`EXCLUSIONS` count of the others.

    Parameters
    ----------
    data : DataFrame
        The rows (any order), with ``client`` and ``session`` columns.
    lagged : bool array
        Per row: the ratings the model needs at the previous session(s) are observed.
    current : bool array
        Per row: the ratings the model needs at session ``t`` are observed.
    depth : int
        How many previous sessions a row needs (1 for ``o_t ~ c_{t-1}``; 2 for the dynamic
        panel's ``Δo_t ~ Δo_{t-1}``): all of ``s - 1 .. s - depth`` must be in the data.
    instruments : bool array, optional
        Per row: the instruments the model needs are observed.

    Returns
    -------
    used : bool array
        Rows the model uses.
    excluded : dict
        ``{reason: count}`` over :data:`EXCLUSIONS`; each row (client) not used is counted once,
        under the first reason that applies: ``rows.first_session`` (one of the client's first
        ``depth`` sessions), ``rows.previous_session_missing`` (a gap, or a lagged rating
        missing), ``rows.missing_rating``, ``rows.no_instruments``; clients with no used row:
        ``clients.too_few_sessions`` (``depth`` sessions or fewer), ``clients.no_lagged_pair``
        (no row with its previous sessions present), ``clients.no_usable_rows``. Zero counts
        are left out.
    """
    n = len(data)
    first = earliest_sessions(data, client, session, depth)
    present = np.ones(n, bool)
    for k in range(1, depth + 1):
        present &= previous_present(data, client, session, k)
    present &= ~first
    lag_ok = present & np.asarray(lagged, bool)
    cur_ok = lag_ok & np.asarray(current, bool)
    used = cur_ok & (np.ones(n, bool) if instruments is None else np.asarray(instruments, bool))
    counts = {
        "rows.first_session": int(first.sum()),
        "rows.previous_session_missing": int((~first & ~lag_ok).sum()),
        "rows.missing_rating": int((lag_ok & ~cur_ok).sum()),
        "rows.no_instruments": int((cur_ok & ~used).sum()),
    }
    ids = data[client].to_numpy()
    per = pd.DataFrame({"c": ids, "used": used, "present": present})
    g = per.groupby("c", sort=False)
    size, any_used, any_present = g.size(), g["used"].any(), g["present"].any()
    idle = ~any_used
    counts["clients.too_few_sessions"] = int((idle & (size <= depth)).sum())
    counts["clients.no_lagged_pair"] = int((idle & (size > depth) & ~any_present).sum())
    counts["clients.no_usable_rows"] = int((idle & any_present).sum())
    return used, {k: v for k, v in counts.items() if v}


# ---------------------------------------------------------------------------------------------
# Person-mean centring
# ---------------------------------------------------------------------------------------------
def person_means(
    data: pd.DataFrame, client: str, columns: Sequence[str], rows: np.ndarray | None = None
) -> pd.DataFrame:
    """Each client's mean of each column over its observed values, one row per client.

    ``rows`` (a boolean mask) restricts the means to those rows (e.g. the rows a model uses).
    Indexed by client in order of first appearance.
    """
    d = data if rows is None else data.loc[np.asarray(rows, bool)]
    return d.groupby(client, sort=False)[list(columns)].mean()


def centre_within(
    data: pd.DataFrame, client: str, columns: Sequence[str], rows: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Person-mean centring: ``(between, within)`` frames aligned with ``data``'s rows.

    ``between[c]`` is the row's client mean of ``c`` (:func:`person_means`, over ``rows`` if
    given), ``within[c]`` the row's deviation from it (NaN where the value is missing).
    """
    columns = list(columns)
    means = person_means(data, client, columns, rows)
    between = means.reindex(data[client].to_numpy())
    between.index = data.index
    within = data[columns] - between
    return between, within


# ---------------------------------------------------------------------------------------------
# Time: time="none" | "common" | "client"
# ---------------------------------------------------------------------------------------------
#: The values of ``time=`` (one vocabulary across families; see ``causalrel.families``).
TIME_VALUES = ("none", "common", "client")

#: The one note a family adds when it removed each client's linear trend before fitting.
DETREND_NOTE = (
    "Each client's own linear trend across sessions was removed from both variables before "
    "fitting (causalrel.decompose.detrend; the client's mean is kept)."
)


def check_time_value(time: str) -> str:
    """``time`` if it is one of :data:`TIME_VALUES`, else a :class:`DataError`."""
    if time not in TIME_VALUES:
        raise DataError(f"time must be one of {', '.join(map(repr, TIME_VALUES))}; got {time!r}.")
    return time


def centred_time(
    data: pd.DataFrame, client: str, session: str, *, by: str = "client", unit: float = 1.0
) -> np.ndarray:
    """Session number centred, in units of ``unit`` sessions.

    ``by="client"``: minus the middle of the client's own range of sessions, ``(first +
    last) / 2`` (so a client's trend is uncorrelated with its level over a complete range);
    ``by="all"``: minus the mean session number of all rows.
    """
    s = data[session].to_numpy(float)
    if by == "client":
        g = data.groupby(client, sort=False)[session]
        mid = (g.transform("min") + g.transform("max")).to_numpy(float) / 2.0
    elif by == "all":
        mid = np.full(len(s), s.mean() if len(s) else 0.0)
    else:
        raise ValueError(f"by must be 'client' or 'all'; got {by!r}")
    return (s - mid) / unit


def session_dummies(
    sessions: np.ndarray | pd.Series, *, name: str = "session", levels: Sequence[int] | None = None
) -> pd.DataFrame:
    """Indicator columns ``"<name>[<s>]"`` of the session numbers (time="common").

    ``levels`` (default: the sessions present, sorted) are the sessions that get a column;
    leave the first out for a model with an intercept or client effects.
    """
    s = np.asarray(sessions)
    levels = sorted(np.unique(s).tolist()) if levels is None else list(levels)
    return pd.DataFrame(
        {f"{name}[{v}]": (s == v).astype(float) for v in levels},
        index=sessions.index if isinstance(sessions, pd.Series) else None,
    )


def client_trend_columns(
    data: pd.DataFrame, client: str, session: str, *, unit: float = 1.0
) -> pd.DataFrame:
    """One column per client (``"trend[<client>]"``): its centred session time on its own rows,
    0 elsewhere (time="client" as explicit regressors, for models that absorb clients' levels).

    Rows align with ``data``. Many clients make many columns: estimators that can, should
    difference or demean the trends away instead.
    """
    t = centred_time(data, client, session, by="client", unit=unit)
    ids = data[client].to_numpy()
    order = pd.unique(ids)
    cols = {f"trend[{c}]": np.where(ids == c, t, 0.0) for c in order}
    return pd.DataFrame(cols, index=data.index)


def remove_client_trends(
    data: pd.DataFrame,
    client: str,
    session: str,
    columns: Sequence[str],
    *,
    keep_mean: bool = True,
    min_obs: int = 1,
) -> pd.DataFrame:
    """Each column minus its client's least-squares line on the session number.

    Per client and column, over the rows where the value is observed: ``v - (mean + slope (s -
    mean s))``, plus the client's mean again if ``keep_mean``. A client with one observed value
    has no slope (its residual is ``v - mean``); one with fewer than ``min_obs`` observed values
    gets NaN. Rows align with ``data``. This is both the ``detrend`` of the data
    (:func:`causalrel.decompose.detrend`, ``min_obs=3``) and, with ``keep_mean=False`` on the
    rows a regression uses, the partialling-out of client-specific intercepts and trends
    (Frisch–Waugh) that the fixed-effects model with ``time="client"`` needs.
    """
    s = data[session].astype(float)
    ids = data[client]
    out = {}
    for c in columns:
        v = data[c].astype(float)
        ok = v.notna()
        g = pd.DataFrame({"c": ids, "s": s.where(ok), "v": v})
        grp = g.groupby("c", sort=False)
        n = grp["v"].transform("count")
        ms, mv = grp["s"].transform("mean"), grp["v"].transform("mean")
        ds, dv = g["s"] - ms, g["v"] - mv
        sxy = (ds * dv).groupby(g["c"], sort=False).transform("sum")
        sxx = (ds * ds).groupby(g["c"], sort=False).transform("sum")
        slope = (sxy / sxx.where(sxx > 0)).fillna(0.0)
        resid = dv - slope * ds + (mv if keep_mean else 0.0)
        out[c] = resid.where(n >= min_obs)
    return pd.DataFrame(out, index=data.index)


def detrend_panel(panel: SessionPanel, *, quiet: bool = False) -> tuple[SessionPanel, str]:
    """Remove each client's linear trend from both variables; return the panel and the note.

    :func:`causalrel.decompose.detrend` with the process variables; ``quiet=True`` silences its
    warning about clients too short to detrend (callers that count those rows as missing).
    Every family that detrends adds the returned :data:`DETREND_NOTE` to its notes.
    """
    import warnings

    from .data import DataWarning
    from .decompose import detrend

    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", DataWarning)
        out = detrend(panel, panel.variables)
    return out, DETREND_NOTE


# ---------------------------------------------------------------------------------------------
# Client-level columns
# ---------------------------------------------------------------------------------------------
#: How :func:`client_values` turns a column into one value per client.
CLIENT_POLICIES = ("constant", "mean")


def client_values(
    data: pd.DataFrame,
    client: str,
    column: str,
    *,
    policy: str = "constant",
    role: str = "column",
    example: str = "a baseline score",
    missing: str = "error",
) -> pd.Series:
    """One value per client of ``column``, indexed by client in order of first appearance.

    Parameters
    ----------
    policy : {"constant", "mean"}
        ``"constant"``: the column must hold one value per client (a group, a cluster, a
        baseline covariate); a value that changes within a client is a :class:`DataError`.
        ``"mean"``: the client's mean over its observed (non-missing) rows, for a numeric
        session-level column used as a client-level one.
    role, example : str
        Word the messages (``role="covariate"``, ``example="the treatment arm"``).
    missing : {"error", "rows", "allow"}
        ``"error"``: any missing cell is an error; ``"rows"``: missing cells are allowed when
        the client's other rows give its value, a client with no value at all is an error;
        ``"allow"``: such a client gets NaN.

    Raises
    ------
    DataError
        Naming the column, the clients concerned and what to do.
    """
    if policy not in CLIENT_POLICIES:
        raise ValueError(f"policy must be one of {CLIENT_POLICIES}; got {policy!r}")
    if missing not in ("error", "rows", "allow"):
        raise ValueError(f"missing must be 'error', 'rows' or 'allow'; got {missing!r}")
    values = data[column]
    ids = data[client]
    if missing == "error" and values.isna().any():
        clients = ids[values.isna()].unique()
        raise DataError(
            f"The {role} column '{column}' is missing for {len(clients)} client(s) "
            f"(e.g. {_show(clients)}); give every client a {role} or drop them."
        )
    per = values.groupby(ids, sort=False)
    if policy == "constant":
        n = per.nunique()
        if (n > 1).any():
            raise DataError(
                f"The {role} column '{column}' changes within client(s) "
                f"{_show(n[n > 1].index)}: a {role} (e.g. {example}) must be constant "
                "within each client."
            )
        out = per.first()
    else:
        out = pd.to_numeric(values, errors="coerce").groupby(ids, sort=False).mean()
    if missing == "rows" and out.isna().any():
        raise DataError(
            f"The {role} column '{column}' is missing for every session of client(s) "
            f"{_show(out.index[out.isna()])}; give a value or drop the {role}."
        )
    return out
