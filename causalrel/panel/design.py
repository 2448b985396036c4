"""Designs for the panel estimators: lagged regressions and Arellano–Bond instrument matrices.

Two shapes of data leave this module:

* :func:`within_design` — one table per equation for the fixed-effects (within) estimator:
  the outcome at session ``t`` with both variables at session ``t - 1``, built with
  :meth:`SessionPanel.lagged <causalrel.data.SessionPanel.lagged>`, so a lag across a missed
  session is missing, never the last session before the gap.
* :func:`difference_design` — the first-differenced equation of the dynamic panel
  ``Δo_t = a Δo_{t-1} + b Δc_{t-1} + Δe_t`` with its instrument matrix, on the grid of session
  numbers (a missed session is a missing value, as in :meth:`SessionPanel.wide`).

Why the instrument matrices are built here: linearmodels has IV and GMM estimators but no
Arellano–Bond estimator (its roadmap lists dynamic-panel GMM as not implemented), so nothing in
it builds "GMM-style" instruments — one column per (session, lag) pair, zero where the lag does
not exist. The layout follows R plm's ``pgmm`` (Croissant & Millo): rows are sessions
``t = 3, 4, ...`` of every client; a GMM-style instrument ``v`` with lags ``a..b`` contributes,
for row ``t``, the levels ``v_s`` with ``max(1, t - b) <= s <= t - a``; missing values are
zero, so a missing instrument drops out of the moment conditions rather than the row; a row
whose outcome or regressors are missing is left out. ``collapse=True`` replaces the
per-session columns by one column per lag (Roodman 2009), which keeps the count of instruments
linear rather than quadratic in the number of sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..data import DataError, SessionPanel
from ..design import (
    check_time_value,
    lag_exclusions,
    lag_name,
    remove_client_trends,
    session_dummies,
)
from ..results import warn_renamed

__all__ = [
    "CAUSE_TYPES",
    "PANEL_TIME",
    "resolve_time",
    "partial_client_trends",
    "WithinDesign",
    "DifferenceDesign",
    "within_design",
    "difference_design",
    "lag_name",
    "FEW_CLUSTERS",
    "check_clusters",
    "check_clients_for_clustering",
    "few_clients_note",
    "cluster_columns",
    "cluster_note",
    "twoway_note",
]

#: Below this many clusters, cluster-robust standard errors are noticeably too small (Cameron &
#: Miller 2015, *J. Human Resources* 50(2), sec. VI: "few" is fewer than about 20-50); the
#: panel families say so in their notes.
FEW_CLUSTERS = 20

#: How the other variable's lag ``c_{t-1}`` relates to the shocks of the outcome equation, and
#: the first lag of ``c`` (relative to the outcome's session ``t``) that is a valid instrument
#: for the differenced equation.
#: * ``exogenous``: strictly exogenous, uncorrelated with every shock -> ``c_{t-1}`` onwards.
#: * ``predetermined``: may respond to past and same-session shocks (feedback: symptoms at
#:   session ``t - 1`` can move the alliance rated at ``t - 1``), but not to later ones ->
#:   ``c_{t-2}`` onwards, like the lagged outcome itself.
#: * ``endogenous``: correlated even with the shock of the following session -> ``c_{t-3}``.
CAUSE_TYPES = {"exogenous": 1, "predetermined": 2, "endogenous": 3}


#: What ``time=`` means in the two panel families (the rows of the families' time table).
PANEL_TIME = {
    "fe": {
        "none": "client fixed effects only",
        "common": "+ session fixed effects (plm effect = 'twoways')",
        "client": "+ session effects and each client's own linear trend (random-trend model)",
    },
    "dpd": {
        "none": "first differences, no session effects",
        "common": "+ differenced session effects (default; pgmm effect = 'twoways', R's too)",
        "client": "+ session effects, on first differences (random-trend model, Wooldridge "
        "2010 sec. 11.7): the trend becomes a client constant that the GMM differences away",
    },
}


def resolve_time(
    family: str, time: str, time_effects: bool | None, detrend: bool | None
) -> tuple[str, bool]:
    """The ``time`` value and whether to detrend, from ``time=`` and the deprecated spellings.

    ``time_effects=True`` is ``time="common"`` and ``time_effects=False`` (with ``time`` not
    given otherwise) ``time="none"``; ``detrend=True`` keeps its old meaning (the data detrended
    before lagging) for one release; both warn naming the new spelling.
    """
    check_time_value(time)
    if time_effects is not None:
        new = 'time="common"' if time_effects else 'time="none"'
        warn_renamed(f"{family}: time_effects={time_effects!r}", new, stacklevel=4)
        if not time_effects and time == "common":
            time = "none"
        if time_effects:
            if time not in ("none", "common"):
                raise DataError(
                    f'{family}: give time= alone (time_effects=True is time="common"); got '
                    f"time={time!r} as well."
                )
            time = "common"
    if detrend is not None:
        warn_renamed(
            f"{family}: detrend={detrend!r}",
            'time="client" (client-specific trends estimated with the lags; detrending '
            "the data first biases the lagged effects)",
            stacklevel=4,
        )
    return time, bool(detrend)


def check_clusters(n_clusters: int, cluster: str, outcome: str) -> None:
    """Refuse cluster-robust SEs from fewer than two clusters (a clear :class:`DataError`)."""
    if n_clusters < 2:
        raise DataError(
            f"cluster='{cluster}': the rows the {outcome} equation uses come from "
            f"{n_clusters} cluster(s); clustered standard errors need two or more (better 20+). "
            "Leave out cluster= to cluster by client."
        )


def check_clients_for_clustering(family: str, n_clients: int, n_coefficients: int, what: str):
    """Refuse SEs clustered by client from no more clients than coefficients.

    The clustered covariance sums one score vector per client and the normal equations make
    those vectors sum to zero, so its rank is at most ``clients - 1``: with no more clients
    than coefficients it is singular and its standard errors mean nothing.
    """
    if n_clients <= n_coefficients:
        raise DataError(
            f"{family}: {what} would rest on {n_clients} clients for {n_coefficients} "
            "coefficients; standard errors clustered by client need more clients than "
            f"coefficients (and {FEW_CLUSTERS} or more to be trusted). Use more clients."
        )


def few_clients_note(n_clients: int) -> str | None:
    """The note for SEs clustered by client from fewer than :data:`FEW_CLUSTERS` clients."""
    if n_clients >= FEW_CLUSTERS:
        return None
    return (
        f"Only {n_clients} clients: standard errors clustered by client are too small with "
        f"fewer than about {FEW_CLUSTERS} clusters (Cameron & Miller 2015); read the "
        "intervals as too narrow."
    )


def cluster_columns(panel: SessionPanel, cluster: Any) -> list[str]:
    """The fixed-effects family's cluster columns: ``[]`` (by client, the default), one column,
    or two for two-way clustering (a list, or a comma-separated string as the CLI gives it).

    Supported: any client-level column (e.g. the therapist), the client, or the session column
    alone; two-way, a client-level column or the client crossed with the session column.
    Anything else is a :class:`DataError` saying what is supported.
    """
    if cluster is None:
        return []
    if isinstance(cluster, str):
        cols = [c.strip() for c in cluster.split(",")]
    elif isinstance(cluster, Sequence):
        cols = list(cluster)
    else:
        cols = [cluster]
    if not cols or any(not isinstance(c, str) or not c for c in cols) or len(cols) > 2:
        raise DataError(
            f"cluster={cluster!r}: give one column (e.g. 'therapist') or two for two-way "
            "clustering (e.g. ['therapist', 'session'] or 'therapist,session')."
        )
    if len(set(cols)) < len(cols):
        raise DataError(f"cluster={cluster!r} names the same column twice.")
    if len(cols) == 2 and panel.session not in cols:
        raise DataError(
            f"cluster={cols}: two-way clustering crosses a client-level column (e.g. the "
            f"therapist) or the client with the session column ('{panel.session}'); two "
            "client-level columns are not crossed (clients nested in therapists nest in "
            "anything coarser): cluster by the coarser one alone."
        )
    return cols


def twoway_note(n_clusters: dict[str, int]) -> str:
    """The note of a two-way clustered fit (``n_clusters``: the two columns' counts)."""
    (a, ka), (b, kb) = n_clusters.items()
    return (
        f"Standard errors clustered two-way by {a} ({ka} clusters) and {b} ({kb} clusters): "
        f"V_{a} + V_{b} - V_({a} x {b}) (Cameron, Gelbach & Miller 2011), for shocks shared "
        f"within a {a} and within a {b}."
        + (
            f" With fewer than {FEW_CLUSTERS} clusters in a dimension cluster-robust standard "
            "errors are too small (Cameron & Miller 2015); read p-values near the threshold "
            "with care."
            if min(ka, kb) < FEW_CLUSTERS
            else ""
        )
    )


def cluster_note(cluster: str, n_clusters: int) -> str:
    """The note a panel family adds when its SEs are clustered by ``cluster``."""
    return (
        f"Standard errors clustered by {cluster} ({n_clusters} clusters), not by client: "
        "clients of one cluster may share shocks."
        + (
            f" With fewer than {FEW_CLUSTERS} clusters cluster-robust standard errors are too "
            "small (Cameron & Miller 2015); read p-values near the threshold with care."
            if n_clusters < FEW_CLUSTERS
            else ""
        )
    )


def partial_client_trends(
    design: WithinDesign, client: str, session: str, *, common: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """The within design with client-specific intercepts and trends partialled out.

    Frisch–Waugh: regressing on the returned columns gives the lagged effects of the
    dummy-variable regression ``outcome ~ lags + client + client:session (+ session)``, with the
    same residuals, so client-clustered standard errors agree too (the partialled columns are
    each client's own). With ``common``, session dummies are added as regressors (the first two
    levels left out: they are spanned by the client intercepts and trends). Returns the frame
    (indexed like ``design.frame``) and the names of its session-dummy columns.
    """
    frame = design.frame.reset_index()
    cols = [design.outcome, *design.regressors]
    names: list[str] = []
    if common:
        levels = sorted(frame[session].unique())[2:]
        dummies = session_dummies(frame[session], name=session, levels=levels)
        frame = pd.concat([frame, dummies], axis=1)
        names = list(dummies.columns)
    out = remove_client_trends(frame, client, session, cols + names, keep_mean=False)
    out.index = design.frame.index
    keep = [n for n in names if out[n].abs().max() > 1e-12]
    return out[cols + keep], keep


# ---------------------------------------------------------------------------------------------
# Fixed effects: levels with lags
# ---------------------------------------------------------------------------------------------
@dataclass
class WithinDesign:
    """One equation of the cross-lagged within model.

    ``frame`` is indexed by (client, session) and holds the outcome and the lagged regressors of
    the rows the equation can use; ``excluded`` counts the rows it cannot use, by reason.
    """

    outcome: str
    regressors: list[str]
    frame: pd.DataFrame
    excluded: dict[str, int]
    n_clients: int


def within_design(
    panel: SessionPanel, outcome: str, causes: list[str], *, what: str = "Fixed effects"
) -> WithinDesign:
    """Rows ``outcome_t ~ cause_{t-1} ...`` with both values observed; lags by session number.

    Raises
    ------
    DataError
        If no row has its previous session in the data with the needed ratings.
    """
    lagged = panel.lagged(panel.variables, 1)
    keys = [panel.client, panel.session]
    regs = [lag_name(c) for c in causes]
    used, excluded = lag_exclusions(
        lagged,
        panel.client,
        panel.session,
        lagged=lagged[regs].notna().to_numpy().all(axis=1),
        current=lagged[outcome].notna().to_numpy(),
    )
    per_client = lagged.loc[used, panel.client].value_counts()
    n_clients = int(len(per_client))
    if n_clients < 2:
        _raise_unusable(panel, what, 1, n_clients, outcome, causes)
    if (per_client >= 2).sum() == 0:
        raise DataError(
            f"{what} compares each client's rows with that client's own mean, so a client "
            f"needs two or more usable rows (three consecutive sessions): {n_clients} of "
            f"{panel.n_clients} clients have one usable row and none has two. With two sessions "
            "per client, use a model of change scores or a between-client model instead."
        )
    frame = lagged.loc[used, keys + [outcome, *regs]].set_index(keys)
    return WithinDesign(outcome, regs, frame, excluded, n_clients)


def _raise_unusable(
    panel: SessionPanel, what: str, n_prev: int, n_usable: int, outcome: str, causes: list[str]
) -> None:
    per = panel.sessions_per_client
    need = n_prev + 1
    long_enough = int((per >= need).sum())
    runs = _longest_runs(panel)
    consecutive = int((runs >= need).sum())
    sessions = "the previous session" if n_prev == 1 else f"the {n_prev} previous sessions"
    raise DataError(
        f"{what} needs rows whose {sessions} are also in the data, with "
        f"{', '.join(sorted({outcome, *causes}))} rated: {n_usable} of {panel.n_clients} clients "
        f"have such a row (at least 2 are needed). {long_enough} clients have {need} or more "
        f"sessions, {consecutive} have {need} consecutive session numbers; lags across a missed "
        "session are missing, not the last session before the gap. Check the session column "
        "(sessions must be numbered 1, 2, 3, ... per client) or the missing ratings."
    )


def _longest_runs(panel: SessionPanel) -> pd.Series:
    """Each client's longest run of consecutive session numbers."""
    d = panel.data[[panel.client, panel.session]]
    c = d[panel.client].to_numpy()
    s = d[panel.session].to_numpy()
    brk = np.r_[True, (c[1:] != c[:-1]) | (s[1:] - s[:-1] != 1)]
    run_id = np.cumsum(brk)
    lengths = pd.Series(run_id).map(pd.Series(run_id).value_counts())
    return lengths.groupby(c).max()


# ---------------------------------------------------------------------------------------------
# Dynamic panel: first differences and GMM-style instruments
# ---------------------------------------------------------------------------------------------
@dataclass
class DifferenceDesign:
    """The first-differenced equation of one outcome, ready for IV/GMM.

    Attributes
    ----------
    y : (n,) array
        ``Δo_t``.
    X : (n, k) array
        Regressors ``Δo_{t-1}``, ``Δc_{t-1}`` (endogenous in the differenced equation).
    V : (n, q) array
        Differenced session dummies (exogenous; regressors and instruments), ``q = 0`` without
        time effects.
    Z : (n, m) array
        Excluded instruments (GMM-style, or Anderson–Hsiao levels).
    groups : (n,) int array
        Client code of each row, 0..G-1, rows sorted by client then session.
    session : (n,) int array
        Session number ``t`` of each row.
    """

    outcome: str
    cause: str
    y: np.ndarray
    X: np.ndarray
    V: np.ndarray
    Z: np.ndarray
    x_names: list[str]
    v_names: list[str]
    z_names: list[str]
    groups: np.ndarray
    session: np.ndarray
    clients: pd.Index
    excluded: dict[str, int] = field(default_factory=dict)
    dropped_instruments: int = 0
    lag_shift: int = 0

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def n_clients(self) -> int:
        return int(len(np.unique(self.groups)))

    @property
    def starts(self) -> np.ndarray:
        """Index of each client's first row (rows are sorted by client)."""
        return np.flatnonzero(np.r_[True, self.groups[1:] != self.groups[:-1]])

    def neighbour(self, lag: int) -> np.ndarray:
        """Row index of the same client's row at session ``t - lag``, or -1 if it is not used."""
        g, s = self.groups, self.session
        if not len(s):
            return np.zeros(0, np.int64)
        key = g * (int(s.max()) + 1) + s  # increasing: rows are sorted by client, session
        target = key - lag
        pos = np.clip(np.searchsorted(key, target), 0, len(key) - 1)
        return np.where((key[pos] == target) & (s > lag), pos, -1)


def difference_design(
    panel: SessionPanel,
    outcome: str,
    cause: str,
    *,
    instruments: str = "gmm",
    cause_type: str = "predetermined",
    collapse: bool = True,
    max_lag: int | None = None,
    time_effects: bool = False,
    lag_shift: int = 0,
) -> DifferenceDesign:
    """Build ``Δo_t = a Δo_{t-1} + b Δc_{t-1} (+ Δsession dummies) + Δe_t`` and its instruments.

    Parameters
    ----------
    panel : SessionPanel
    outcome, cause : str
        The outcome ``o`` and the other variable ``c`` of this equation.
    instruments : {"gmm", "ah"}
        ``"gmm"``: Arellano–Bond GMM-style instruments, the outcome's levels from lag 2 and the
        cause's from the lag that ``cause_type`` allows (``max_lag`` caps both).
        ``"ah"``: Anderson–Hsiao, one instrument per regressor — the level ``o_{t-2}`` for
        ``Δo_{t-1}`` and, for ``Δc_{t-1}``, ``c_{t-2}`` (predetermined), ``c_{t-3}``
        (endogenous) or ``Δc_{t-1}`` itself (exogenous); rows without them are left out.
    cause_type : {"predetermined", "exogenous", "endogenous"}
        See :data:`CAUSE_TYPES`.
    collapse : bool
        One instrument column per lag instead of per (session, lag).
    max_lag : int, optional
        Deepest lag used as instrument (``None``: all available).
    time_effects : bool
        Add differenced session dummies for sessions 3..T (as regressors and instruments).
    lag_shift : int
        Start the instruments this many sessions deeper (and need as many more previous
        sessions). 1 for a panel of first differences (the random-trend model, ``time="client"``
        of :class:`~causalrel.panel.dynamic.DynamicPanel`): its errors ``Δe_t`` are MA(1), so
        the outcome's differences from ``t - 3`` on are valid instruments, not ``t - 2``.
    """
    if cause_type not in CAUSE_TYPES:
        raise DataError(f"cause_type must be one of {', '.join(CAUSE_TYPES)}; got {cause_type!r}.")
    first_o = 2 + lag_shift  # the outcome's first valid instrument lag
    if max_lag is not None and max_lag < first_o:
        raise DataError(
            f"max_lag must be {first_o} or more (the outcome's first valid lag); got {max_lag}."
        )
    wide = panel.wide([outcome, cause])
    t_max = wide.shape[1] // 2
    clients = wide.index
    lev_o = wide[outcome].to_numpy(float)  # (client, session) levels
    lev_c = wide[cause].to_numpy(float)
    codes_all = pd.Index(clients).get_indexer(panel.data[panel.client])
    per = panel.sessions_per_client
    what = "The dynamic panel (first differences with a lagged outcome)"
    if t_max < 3:
        raise DataError(
            f"{what} needs at least three consecutive sessions per client (t-2, t-1, t); the "
            f"data have at most {int(per.max())} sessions per client, so 0 of {len(per)} "
            "clients could be used. Use the fixed-effects model (fe) instead."
        )

    # rows t = 3..T (1-based); column j of the (N, T-2) grids is session j + 3
    def lvl(a: np.ndarray, back: int) -> np.ndarray:  # a_{t-back} for t = 3..T
        if back <= 2:
            return a[:, 2 - back : t_max - back]
        out = np.full((a.shape[0], t_max - 2), np.nan)  # missing where t - back < 1
        if back < t_max:
            out[:, back - 2 :] = a[:, : t_max - back]
        return out

    dy = lvl(lev_o, 0) - lvl(lev_o, 1)
    dyl = lvl(lev_o, 1) - lvl(lev_o, 2)
    dcl = lvl(lev_c, 1) - lvl(lev_c, 2)
    ok = np.isfinite(dy) & np.isfinite(dyl) & np.isfinite(dcl)
    ah_inst: list[np.ndarray] = []
    ah_names: list[str] = []
    if instruments == "ah":
        ah_inst = [lvl(lev_o, first_o)]
        ah_names = [f"{lag_name(outcome, first_o)}"]
        if cause_type == "exogenous":
            ah_inst.append(dcl)
            ah_names.append(f"d.{lag_name(cause, 1)}")
        else:
            back = CAUSE_TYPES[cause_type] + lag_shift
            ah_inst.append(lvl(lev_c, back))
            ah_names.append(lag_name(cause, back))
        ok &= np.all([np.isfinite(a) for a in ah_inst], axis=0)
    elif instruments != "gmm":
        raise DataError(f"instruments must be 'gmm' or 'ah'; got {instruments!r}.")

    # per long row (a session t of a client): the lagged levels and the instruments observed
    grid_col = panel.data[panel.session].to_numpy() - 3
    on_grid = grid_col >= 0

    def at(grid: np.ndarray) -> np.ndarray:
        out = np.zeros(len(grid_col), bool)
        out[on_grid] = grid[codes_all[on_grid], grid_col[on_grid]]
        return out

    seen = [np.isfinite(lvl(a, back)) for a in (lev_o, lev_c) for back in (1, 2)]
    used, excluded = lag_exclusions(
        panel.data,
        panel.client,
        panel.session,
        lagged=at(np.all(seen, axis=0)),
        current=at(np.isfinite(lvl(lev_o, 0))),
        depth=2 + lag_shift,
        instruments=at(np.all([np.isfinite(a) for a in ah_inst], axis=0)) if ah_inst else None,
    )
    gi, tj = np.nonzero(ok)  # client-major order: sorted by client, then session
    assert len(gi) == used.sum()  # the grid and the long rows agree on what is used
    n_usable = len(np.unique(gi))
    if n_usable < 2:
        _raise_unusable(panel, what, 2 + lag_shift, n_usable, outcome, [cause])
    # re-code groups 0..G-1 over used clients
    used_clients, groups = np.unique(gi, return_inverse=True)
    session = tj + 3
    y = dy[gi, tj]
    X = np.column_stack([dyl[gi, tj], dcl[gi, tj]])
    x_names = [lag_name(outcome), lag_name(cause)]

    if instruments == "ah":
        Z = np.column_stack([a[gi, tj] for a in ah_inst])
        z_names = ah_names
    else:
        blocks, z_names = [], []
        first_c = CAUSE_TYPES[cause_type] + (lag_shift if cause_type != "exogenous" else 0)
        for var, arr, first in ((outcome, lev_o, first_o), (cause, lev_c, first_c)):
            zb, nb = _gmm_block(arr, gi, session, first, max_lag, collapse, var)
            blocks.append(zb)
            z_names += nb
        Z = np.hstack(blocks)

    V = np.zeros((len(y), 0))
    v_names: list[str] = []
    if time_effects:
        cols, v_names = [], []
        # differenced dummies sum to zero on rows after the first dummy's session: start at the
        # first session with rows (a deeper lag or instrument can leave session 3 without any)
        for s in range(max(3, int(session.min())), t_max + 1):
            cols.append((session == s).astype(float) - (session - 1 == s).astype(float))
            v_names.append(f"{panel.session}[{s}]")
        V = np.column_stack(cols)
        keep = np.any(V != 0, axis=0)
        V, v_names = V[:, keep], [n for n, k in zip(v_names, keep, strict=True) if k]

    keep = _independent_columns(V, Z)
    dropped = int((~keep).sum())
    Z, z_names = Z[:, keep], [n for n, k in zip(z_names, keep, strict=True) if k]
    return DifferenceDesign(
        outcome=outcome,
        cause=cause,
        y=y,
        X=X,
        V=V,
        Z=Z,
        x_names=x_names,
        v_names=v_names,
        z_names=z_names,
        groups=groups.astype(np.int64),
        session=session.astype(np.int64),
        clients=pd.Index(clients[used_clients]),
        excluded=excluded,
        dropped_instruments=dropped,
        lag_shift=lag_shift,
    )


def _independent_columns(V: np.ndarray, Z: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Mask of the columns of ``Z`` to keep: drop all-zero ones and exact linear combinations.

    An instrument with no data (a session nobody reached) or one that repeats others adds no
    moment condition; R's pgmm keeps them and uses a generalised inverse, linearmodels refuses
    a rank-deficient instrument matrix. Dropping them leaves the instruments' column space, and
    so the estimates, unchanged. Which columns are redundant is read from a pivoted QR of a
    square root of the Gram matrix of ``Z`` (after projecting out ``V``), which selects the same
    columns as a pivoted QR of ``Z`` itself at the cost of an ``m x m`` problem.
    """
    from scipy.linalg import qr

    keep = np.any(Z != 0, axis=0)
    if not keep.any():
        return keep
    idx = np.flatnonzero(keep)
    Zk = Z[:, idx]
    if V.shape[1]:
        Zk = Zk - V @ np.linalg.lstsq(V, Zk, rcond=None)[0]
    gram = Zk.T @ Zk
    scale = np.sqrt(np.diag(gram))
    scale[scale == 0] = 1.0
    gram = gram / np.outer(scale, scale)
    w, u = np.linalg.eigh(gram)
    root = np.sqrt(np.clip(w, 0, None))[:, None] * u.T  # root.T @ root == gram
    _, r, piv = qr(root, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > tol * diag[0]).sum()) if len(diag) else 0
    out = np.zeros_like(keep)
    out[idx[np.sort(piv[:rank])]] = True
    return out


def _gmm_block(
    levels: np.ndarray,
    gi: np.ndarray,
    session: np.ndarray,
    first: int,
    max_lag: int | None,
    collapse: bool,
    name: str,
) -> tuple[np.ndarray, list[str]]:
    """GMM-style instruments of one variable: levels ``v_s``, ``t - last <= s <= t - first``."""
    t_max = levels.shape[1]
    last = t_max if max_lag is None else max(max_lag, first)
    vals = np.nan_to_num(levels, nan=0.0)
    n = len(gi)
    if collapse:
        lags = list(range(first, min(last, t_max - 1) + 1))
        Z = np.zeros((n, len(lags)))
        for j, lag in enumerate(lags):
            s = session - lag
            ok = s >= 1
            Z[ok, j] = vals[gi[ok], s[ok] - 1]
        return Z, [lag_name(name, lag) for lag in lags]
    pairs = [(t, s) for t in range(3, t_max + 1) for s in range(max(1, t - last), t - first + 1)]
    Z = np.zeros((n, len(pairs)))
    col = 0
    names = []
    for t in range(3, t_max + 1):
        ss = list(range(max(1, t - last), t - first + 1))
        if not ss:
            continue
        rows = np.flatnonzero(session == t)
        if len(rows):
            Z[np.ix_(rows, np.arange(col, col + len(ss)))] = vals[gi[rows]][:, np.array(ss) - 1]
        names += [f"{name}[{s}]@{t}" for s in ss]
        col += len(ss)
    return Z, names
