"""The DSEM's session grid: every client's sessions as one dense (client, slot, variable) array.

What: :class:`SessionGrid` turns a panel into the arrays the DSEM's likelihood needs (see the
``causalrel.bayes.dsem`` module docstring for why a dense grid): observed ratings standardised,
missing ratings and missed sessions as latent cells, transition masks, session time for
latent trends. Numpy and pandas only, so it is importable and testable without PyMC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import DataError, SessionPanel
from ..design import centred_time
from .common import show_clients, warn_clients

__all__ = ["SessionGrid", "TREND_UNIT"]

#: Sessions per unit of the trend slope on the sampling scale (a standardised trend of 1 is one
#: pooled SD per 10 sessions): keeps the trend parameters near unit scale for NUTS.
TREND_UNIT = 10.0


class SessionGrid:
    """The full session grid of every client, flat, ordered by client and session.

    Built from a :class:`~causalrel.data.SessionPanel` with numpy and pandas only (no PyMC),
    so it is tested without the sampler stack: clients with fewer than two rated sessions
    left out (``excluded``), each client's sessions from its first to its last rated one as
    slots (a missed session an empty slot), the data standardised (``loc``, ``scale``), the
    latent cells (``miss_pos``), valid transitions (``valid``), the centred session time of
    latent trends (``time``), therapist indices and standardised client covariates.
    """

    def __init__(
        self, panel: SessionPanel, *, therapist: bool, covariates: tuple[str, ...]
    ) -> None:
        x, y, c, s = panel.x, panel.y, panel.client, panel.session
        d = panel.data
        d = d[d[[x, y]].notna().any(axis=1)]
        self.notes: list[str] = []
        self.excluded: dict[str, int] = {}
        n_rated = d.groupby(c, sort=False).size()
        all_clients = panel.data[c].unique()
        too_few = [k for k in all_clients if n_rated.get(k, 0) < 2]
        if too_few:
            self.notes.append(
                warn_clients(
                    "dsem: these clients have fewer than two rated sessions, so no lag; "
                    f"they are left out ({len(too_few)} client(s))",
                    too_few,
                )
            )
            self.excluded["clients.too_few_sessions"] = len(too_few)
            d = d[~d[c].isin(too_few)]
        if d.empty:
            raise DataError(
                "dsem: no client has two or more rated sessions; a VAR(1) needs repeated "
                "sessions per client."
            )
        for v in (x, y):
            seen = d.groupby(c, sort=False)[v].count()
            none = list(seen.index[seen == 0])
            if none:
                self.notes.append(
                    warn_clients(
                        f"dsem: '{v}' is missing in every session of {len(none)} client(s); their "
                        f"'{v}' values are imputed from the model alone (latent), which adds no "
                        f"information about '{v}'",
                        none,
                    )
                )
        self.clients = pd.Index(d[c].unique(), name=c)
        code = pd.Categorical(d[c], categories=self.clients).codes.astype(np.int64)
        sess = d[s].to_numpy(np.int64)
        first = pd.Series(sess).groupby(code).min().to_numpy()
        last = pd.Series(sess).groupby(code).max().to_numpy()
        lengths = last - first + 1
        self.n_clients = len(self.clients)
        self.lengths = lengths
        self.n_slots = int(lengths.max())
        self.first_session = first
        # dense grid (client, slot, variable); slot t is session first_i + t; padding past a
        # client's last session is neither data nor parameter (its transitions are masked)
        in_range = np.arange(self.n_slots)[None, :] < lengths[:, None]
        self.in_range = in_range
        raw = np.full((self.n_clients, self.n_slots, 2), np.nan)
        slot = sess - first[code]
        raw[code, slot, 0] = d[x].to_numpy(float)
        raw[code, slot, 1] = d[y].to_numpy(float)
        self.raw = raw
        self.n_cells = int(lengths.sum())
        self.n_rows = len(d)
        self.n_missed_sessions = self.n_cells - len(d)
        self.loc = np.nanmean(raw.reshape(-1, 2), axis=0)
        self.scale = np.nanstd(raw.reshape(-1, 2), axis=0, ddof=1)
        z = (raw - self.loc) / self.scale
        latent = np.isnan(z) & in_range[:, :, None]
        self.n_missing_ratings = int(latent.sum()) - 2 * self.n_missed_sessions
        self.miss_pos = np.flatnonzero(latent.ravel())
        self.filled = np.where(np.isnan(z), 0.0, z).ravel()
        # transition slot t -> t+1 is valid when slot t+1 is inside the client's range
        self.valid = in_range[:, 1:].astype(float)
        # time for latent trends: sessions from the middle of each client's range, in units of
        # TREND_UNIT sessions (0 in padding, which is masked anyway)
        # (causalrel.design.centred_time over every cell of the grid, by client)
        ci, si = np.nonzero(in_range)
        cells = pd.DataFrame({"client": ci, "session": first[ci] + si})
        self.time = np.zeros(in_range.shape)
        self.time[ci, si] = centred_time(cells, "client", "session", by="client", unit=TREND_UNIT)
        self.n_transitions = int(self.valid.sum())

        self.therapist_idx = None
        self.therapists = None
        if therapist:
            tcol = panel.therapist
            per = d.groupby(c, sort=False)[tcol].nunique()
            many = list(per.index[per > 1])
            if many:
                raise DataError(
                    f"dsem: clients must each have one therapist for the therapist level; "
                    f"{len(many)} client(s) have more: {show_clients(many)}. Fit without the "
                    "therapist level or give each client one therapist."
                )
            tid = d.groupby(c, sort=False)[tcol].first().reindex(self.clients)
            if tid.isna().any():
                raise DataError(
                    "dsem: the therapist id is missing for client(s) "
                    f"{show_clients(tid.index[tid.isna()])}."
                )
            self.therapists = pd.Index(tid.unique(), name=tcol)
            self.therapist_idx = np.array(pd.Categorical(tid, categories=self.therapists).codes)
        self.covariates = covariates
        self.cov = None
        if covariates:
            cm = d.groupby(c, sort=False)[list(covariates)].mean().reindex(self.clients)
            for cv in covariates:
                bad = list(cm.index[cm[cv].isna()])
                if bad:
                    raise DataError(
                        f"dsem: covariate '{cv}' is missing for every session of client(s) "
                        f"{show_clients(bad)}; give a value or drop the covariate."
                    )
                varies = d.groupby(c, sort=False)[cv].nunique()
                if (varies > 1).any():
                    self.notes.append(
                        f"covariate '{cv}' varies within clients; its client mean is used."
                    )
            self.cov_loc = cm.mean().to_numpy()
            self.cov_scale = cm.std(ddof=1).replace(0, np.nan).to_numpy()
            if np.isnan(self.cov_scale).any():
                raise DataError(
                    "dsem: a between-level covariate is constant across clients: "
                    f"{[cv for cv, sc in zip(covariates, self.cov_scale, strict=True) if np.isnan(sc)]}."
                )
            self.cov = ((cm.to_numpy() - self.cov_loc) / self.cov_scale).astype(float)
