"""From the parameter table to model matrices, implied moments and their derivatives.

The model is written in RAM form (McArdle & McDonald 1984): all variables, observed first and
then latent, in one vector ``v = alpha + A v + e`` with ``Cov(e) = S``, so that

    B = (I - A)^-1,   Sigma = F B S B' F',   mu = F B alpha,

where ``F`` picks the observed variables. Loadings (``f =~ x``: ``A[x, f]``) and regressions
(``y ~ x``: ``A[y, x]``) both live in ``A``, which covers CLPMs written with observed
variables, RI-CLPMs with latent within-components and ordinary SEMs without special cases. The
implied moments equal lavaan's LISREL-form moments for the same model.

Every free parameter maps to one or more matrix cells (a shared index is an equality
constraint); :class:`RAMModel` turns a parameter vector into matrices, implied moments, the
chain rule from moment derivatives to parameter derivatives (exact gradient) and the Jacobian
and second-order term needed for the exact Hessian (observed information). The second-order
term is computed by complex-step differentiation of the analytic chain rule, which is exact
to machine precision because the map is analytic (only sums, products and a matrix inverse).
"""

from __future__ import annotations

import numpy as np

from .partable import ParTable

__all__ = ["RAMModel"]

_FIXED, _VAR, _MEAN = 0, 1, 2  # start-value rules (RAMModel._start_rules)


class RAMModel:
    """Model matrices and their derivatives for one :class:`ParTable`.

    Parameters
    ----------
    partable : ParTable
        The model; ``free`` indices define the parameter vector ``theta`` (0-based here:
        ``theta[free - 1]``).
    group : int, optional
        For a multiple-group table, the group (1-based) whose matrices this is; ``theta`` is
        still the whole parameter vector (a group's derivatives are zero for the parameters
        of other groups). Default: the only group.
    """

    def __init__(self, partable: ParTable, group: int | None = None) -> None:
        self.partable = partable
        table = partable.table
        if group is None:
            if partable.n_groups > 1:
                raise ValueError("A multiple-group table needs one RAMModel per group.")
            group = 1
        self.group = int(group)
        #: positions (0-based) in ``partable.table`` of this group's rows
        self.rows = (
            np.flatnonzero(table["group"].to_numpy() == self.group)
            if "group" in table
            else np.arange(len(table))
        )
        self.table = table.iloc[self.rows]
        self.observed = list(partable.observed)
        self.latent = list(partable.latent)
        self.names = self.observed + self.latent
        self.p = len(self.observed)
        self.n = len(self.names)
        self.q = partable.n_free
        pos = {name: i for i, name in enumerate(self.names)}
        n = self.n
        self.A0 = np.zeros((n, n))
        self.S0 = np.zeros((n, n))
        self.a0 = np.zeros(n)
        a_cells, s_cells, m_cells = [], [], []
        # (matrix, i, j) of every row of this group, to read estimates back.
        self.row_cells: list[tuple[str, int, int]] = []
        for r in self.table.itertuples(index=False):
            k = int(r.free) - 1
            val = 0.0 if np.isnan(r.ustart) else float(r.ustart)
            if r.op == "=~":
                i, j, mat = pos[r.rhs], pos[r.lhs], "A"
            elif r.op == "~":
                i, j, mat = pos[r.lhs], pos[r.rhs], "A"
            elif r.op == "~~":
                i, j = sorted((pos[r.lhs], pos[r.rhs]))
                mat = "S"
            else:  # "~1"
                i, j, mat = pos[r.lhs], 0, "a"
            self.row_cells.append((mat, i, j))
            if mat == "A":
                if k >= 0:
                    a_cells.append((k, i, j))
                else:
                    self.A0[i, j] = val
            elif mat == "S":
                if k >= 0:
                    s_cells.append((k, i, j))
                else:
                    self.S0[i, j] = self.S0[j, i] = val
            else:
                if k >= 0:
                    m_cells.append((k, i))
                else:
                    self.a0[i] = val
        self.a_k, self.a_i, self.a_j = (
            (np.array(c, dtype=int).reshape(-1) for c in zip(*a_cells, strict=True))
            if a_cells
            else _empty(3)
        )
        self.s_k, self.s_i, self.s_j = (
            (np.array(c, dtype=int).reshape(-1) for c in zip(*s_cells, strict=True))
            if s_cells
            else _empty(3)
        )
        self.m_k, self.m_i = (
            (np.array(c, dtype=int).reshape(-1) for c in zip(*m_cells, strict=True))
            if m_cells
            else _empty(2)
        )
        self.s_off = self.s_i != self.s_j
        self._eye = np.eye(n)
        self._start_rules()

    # -- matrices -------------------------------------------------------------------------------
    def matrices(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``A``, ``S`` and ``alpha`` at ``theta``.

        ``theta`` may be complex and may carry leading batch dimensions (``(..., q)``).
        """
        theta = np.asarray(theta)
        dtype = np.result_type(theta, float)
        batch = theta.shape[:-1]
        A = np.broadcast_to(self.A0, batch + self.A0.shape).astype(dtype)
        S = np.broadcast_to(self.S0, batch + self.S0.shape).astype(dtype)
        a = np.broadcast_to(self.a0, batch + self.a0.shape).astype(dtype)
        A[..., self.a_i, self.a_j] = theta[..., self.a_k]
        S[..., self.s_i, self.s_j] = theta[..., self.s_k]
        S[..., self.s_j, self.s_i] = theta[..., self.s_k]
        a[..., self.m_i] = theta[..., self.m_k]
        return A, S, a

    def implied(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Implied moments and the intermediate matrices.

        Returns a dict with ``Sigma`` (p x p), ``mu`` (p), ``B`` = (I - A)^-1, ``C`` = the
        implied covariance of all variables, ``m`` = the implied means of all variables, and
        ``A``, ``S``, ``alpha`` (with leading batch dimensions if ``theta`` has them).
        """
        A, S, a = self.matrices(theta)
        B = np.linalg.inv(self._eye - A)
        Bt = np.swapaxes(B, -1, -2)
        C = B @ S @ Bt
        m = (B @ a[..., None])[..., 0]
        p = self.p
        return dict(A=A, S=S, alpha=a, B=B, C=C, m=m, Sigma=C[..., :p, :p], mu=m[..., :p])

    def start_theta(self, var: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """Start values from observed variances and means (lavaan's simple rules, scaled).

        Loadings 1, regressions 0, covariances 0; the observed intercepts are the means; a
        (residual) variance is half the observed variance of the variable, or, for a latent
        variable, of the observed variable it loads on split over the latent variables that
        load on it (so an RI-CLPM starts with half the variance between clients). The rules
        are read from the table once (:meth:`_start_rules`); this only applies them.
        """
        p = self.p
        share = np.zeros(self.n)
        for f, xs in self._loads:
            share[f] = np.mean([var[x] / max(self._load_counts[x], 1) for x in xs])
        share[:p] = var * 0.5
        theta = np.full(self.q, np.nan)
        for k, kind, i, value in self._rules:
            if kind == _FIXED:
                theta[k] = value
            elif kind == _VAR:
                theta[k] = share[i] if share[i] > 0 else 0.05
            else:  # _MEAN
                theta[k] = mean[i] if i < p else 0.0
        return theta

    def _start_rules(self) -> None:
        """Which rule gives each free parameter its start value (the first row of a label)."""
        p = self.p
        self._load_counts = np.zeros(p)
        loads: dict[int, list[int]] = {}
        for r in self.table.itertuples(index=False):
            if r.op == "=~" and r.rhs in self.observed:
                x = self.observed.index(r.rhs)
                f = self.names.index(r.lhs)
                self._load_counts[x] += 1
                loads.setdefault(f, []).append(x)
        self._loads = list(loads.items())
        self._rules: list[tuple[int, int, int, float]] = []
        seen: set[int] = set()
        for r in self.table.itertuples(index=False):
            k = int(r.free) - 1
            if k < 0 or k in seen:
                continue
            seen.add(k)
            if not np.isnan(r.ustart):
                self._rules.append((k, _FIXED, -1, float(r.ustart)))
            elif r.op == "=~":
                self._rules.append((k, _FIXED, -1, 1.0))
            elif r.op == "~":
                self._rules.append((k, _FIXED, -1, 0.0))
            elif r.op == "~~":
                if r.lhs == r.rhs:
                    self._rules.append((k, _VAR, self.names.index(r.lhs), np.nan))
                else:
                    self._rules.append((k, _FIXED, -1, 0.0))
            else:
                self._rules.append((k, _MEAN, self.names.index(r.lhs), np.nan))

    # -- derivatives ----------------------------------------------------------------------------
    def chain(
        self,
        theta: np.ndarray,
        G: np.ndarray,
        gmu: np.ndarray,
        imp: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Gradient w.r.t. ``theta`` of a function whose gradient w.r.t. (Sigma, mu) is (G, gmu).

        ``G`` is the symmetric derivative with respect to a full (unsymmetrised) Sigma, so that
        ``d f = tr(G dSigma) + gmu' dmu``. ``theta`` may have leading batch dimensions.
        """
        if imp is None:
            imp = self.implied(theta)
        B, C, m = imp["B"], imp["C"], imp["m"]
        p = self.p
        FB = B[..., :p, :]
        FBt = np.swapaxes(FB, -1, -2)
        FBt_G = FBt @ G
        FBt_g = (FBt @ gmu[:, None])[..., 0]
        MA = (
            2.0 * FBt_G @ np.swapaxes(C[..., :, :p], -1, -2) + FBt_g[..., :, None] * m[..., None, :]
        )
        MS = FBt_G @ FB
        batch = np.shape(theta)[:-1]
        out = np.zeros(batch + (self.q,), dtype=np.result_type(theta, float))
        _scatter(out, self.a_k, MA[..., self.a_i, self.a_j])
        _scatter(out, self.s_k, MS[..., self.s_i, self.s_j] * np.where(self.s_off, 2.0, 1.0))
        _scatter(out, self.m_k, FBt_g[..., self.m_i])
        return out

    def jacobian(
        self, theta: np.ndarray, imp: dict[str, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Derivatives of the implied moments: ``dSigma`` (q, p, p) and ``dmu`` (q, p)."""
        if imp is None:
            imp = self.implied(theta)
        B, C, m = imp["B"], imp["C"], imp["m"]
        p, q = self.p, self.q
        FB = B[:p]
        dS = np.zeros((q, p, p))
        dm = np.zeros((q, p))
        if len(self.a_k):
            u = FB[:, self.a_i].T  # (c, p)
            w = C[self.a_j, :p]  # (c, p)
            cell = u[:, :, None] * w[:, None, :]
            np.add.at(dS, self.a_k, cell + cell.transpose(0, 2, 1))
            np.add.at(dm, self.a_k, u * m[self.a_j][:, None])
        if len(self.s_k):
            u = FB[:, self.s_i].T
            w = FB[:, self.s_j].T
            cell = u[:, :, None] * w[:, None, :]
            cell = cell + np.where(self.s_off[:, None, None], cell.transpose(0, 2, 1), 0.0)
            np.add.at(dS, self.s_k, cell)
        if len(self.m_k):
            np.add.at(dm, self.m_k, FB[:, self.m_i].T)
        return dS, dm

    def second_order(
        self,
        theta: np.ndarray,
        G: np.ndarray,
        gmu: np.ndarray,
        imp: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """``d/dtheta' chain(theta; G, gmu)`` with (G, gmu) held fixed.

        The part of the Hessian that comes from the curvature of the moments in the
        parameters: ``sum tr(G d2Sigma) + gmu' d2mu``. Only pairs involving a path in ``A``
        contribute (the moments are linear in ``S`` and ``alpha``). With ``X = FB' G FB``,
        ``Y = X S B'``, ``g = FB' gmu`` and ``dB/dA_ij = B e_i e_j' B``, for A-cells (i, j),
        (k, l):

            H = 2 B_jk Y_il + 2 X_ki C_jl + 2 Y_kj B_li + B_jk g_i m_l + g_k B_li m_j,

        for an A-cell (i, j) and an S-cell (k, l): ``B_jk X_il + X_ki B_jl`` (plus the
        transposed cell when k != l), and for an A-cell and an intercept k: ``B_jk g_i``.
        """
        if imp is None:
            imp = self.implied(theta)
        B, C, m, S = imp["B"], imp["C"], imp["m"], imp["S"]
        p, q = self.p, self.q
        FB = B[:p]
        X = FB.T @ G @ FB
        Y = X @ S @ B.T
        g = FB.T @ gmu
        out = np.zeros((q, q))
        i, j, ka = self.a_i, self.a_j, self.a_k
        if not len(ka):
            return out
        # first A-cell (i, j) along rows, second (k, l) along columns
        Ii, J = i[:, None], j[:, None]
        K, L = i[None, :], j[None, :]
        haa = (
            2 * B[J, K] * Y[Ii, L]
            + 2 * X[K, Ii] * C[J, L]
            + 2 * Y[K, J] * B[L, Ii]
            + B[J, K] * g[Ii] * m[L]
            + g[K] * B[L, Ii] * m[J]
        )
        np.add.at(out, (ka[:, None], ka[None, :]), haa)
        if len(self.s_k):
            K, L = self.s_i[None, :], self.s_j[None, :]
            has = B[J, K] * X[Ii, L] + X[K, Ii] * B[J, L]
            swap = B[J, L] * X[Ii, K] + X[L, Ii] * B[J, K]
            has = has + np.where(self.s_off[None, :], swap, 0.0)
            np.add.at(out, (ka[:, None], self.s_k[None, :]), has)
            np.add.at(out, (self.s_k[None, :], ka[:, None]), has)
        if len(self.m_k):
            K = self.m_i[None, :]
            ham = B[J, K] * g[Ii]
            np.add.at(out, (ka[:, None], self.m_k[None, :]), ham)
            np.add.at(out, (self.m_k[None, :], ka[:, None]), ham)
        return 0.5 * (out + out.T)


def _scatter(out: np.ndarray, k: np.ndarray, values: np.ndarray) -> None:
    """``out[..., k] += values`` with repeated indices summed (equality constraints)."""
    if not len(k):
        return
    if out.ndim == 1:
        np.add.at(out, k, values)
    else:
        np.add.at(out, (Ellipsis, k), values)


def _empty(k: int) -> tuple[np.ndarray, ...]:
    return tuple(np.zeros(0, dtype=int) for _ in range(k))
