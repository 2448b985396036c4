"""Full-information maximum likelihood over missingness patterns, with exact derivatives.

Clients are grouped by which variables they have observed (their missingness pattern). Within a
pattern the normal log-likelihood depends on the data only through the pattern's size, mean
and (biased) covariance of its observed variables, so one evaluation costs one small matrix
factorisation per *distinct pattern*, not per client: a client who stops after session 5 or
skips one rating still contributes everything observed, and 100,000 clients cost little more
than 1,000 once their patterns repeat.

All patterns are handled in one batched computation by padding: for pattern ``o`` the matrix
``Sigma*`` equals ``Sigma`` on the observed block and the identity elsewhere, so
``det(Sigma*) = det(Sigma_oo)`` and ``inv(Sigma*)`` holds ``inv(Sigma_oo)`` in the observed
block (the rest is zeroed). With ``E = inv(Sigma_oo)`` (padded), ``d = ybar - mu`` and
``W = S + d d'``, the pattern's log-likelihood is

    l = -n/2 [k log(2 pi) + log det Sigma_oo + tr(E W)],

its gradient ``dl/dSigma = -n/2 (E - E W E)``, ``dl/dmu = n E d``, and its Hessian in
(Sigma, mu) is a sum of Kronecker products of ``E`` and ``Q = E W E`` (see
:func:`moment_hessian`). The chain rule to the parameters lives in
:mod:`causalrel.sem.matrices`.

The saturated (H1) model -- unrestricted means and covariances -- is estimated by EM, as lavaan
does, for the likelihood-ratio test and the SRMR under missing data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Patterns",
    "fiml_loglik",
    "moment_hessian",
    "sigma_quadratic",
    "em_saturated",
    "available_moments",
    "LOG2PI",
]

LOG2PI = float(np.log(2 * np.pi))


@dataclass
class Patterns:
    """Sufficient statistics of a data matrix grouped by missingness pattern.

    Attributes
    ----------
    mask : (P, p) bool
        Which variables each pattern observes.
    n : (P,) float
        Number of rows (clients) with the pattern.
    mean : (P, p)
        Pattern means of the observed variables (0 where not observed).
    cov : (P, p, p)
        Pattern covariances (divisor n) of the observed variables, zero-padded.
    rows : (N, p), optional
        The cases themselves (NaN = missing), kept for casewise scores (robust standard
        errors, :mod:`causalrel.sem.robust`); None for moments-only patterns.
    index : (N,) int, optional
        The pattern of each row of ``rows``.
    keep : (N_in,) bool, optional
        Which input rows were kept (rows with nothing observed are dropped).
    """

    mask: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    rows: np.ndarray | None = None
    index: np.ndarray | None = None
    keep: np.ndarray | None = None

    @property
    def n_total(self) -> float:
        return float(self.n.sum())

    @property
    def n_patterns(self) -> int:
        return len(self.n)

    @property
    def p(self) -> int:
        return self.mask.shape[1]

    @property
    def k(self) -> np.ndarray:
        return self.mask.sum(axis=1)

    @property
    def mask2(self) -> np.ndarray:
        return self.mask[:, :, None] & self.mask[:, None, :]

    @classmethod
    def from_array(cls, Y: np.ndarray) -> Patterns:
        """Group the rows of ``Y`` (NaN = missing) by pattern; rows with no data are dropped."""
        Y = np.asarray(Y, dtype=float)
        obs = ~np.isnan(Y)
        keep = obs.any(axis=1)
        Y, obs = Y[keep], obs[keep]
        packed = np.packbits(obs, axis=1)
        _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        P, p = len(first), Y.shape[1]
        mask = obs[first]
        Yz = np.where(obs, Y, 0.0)
        counts = np.bincount(inverse, minlength=P).astype(float)
        sums = np.zeros((P, p))
        np.add.at(sums, inverse, Yz)
        mean = sums / counts[:, None]
        cov = np.zeros((P, p, p))
        order = np.argsort(inverse, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts.astype(int))])
        Yc = Yz[order] - mean[inverse[order]] * obs[order]
        for g in range(P):
            block = Yc[bounds[g] : bounds[g + 1]]
            cov[g] = block.T @ block / counts[g]
        return cls(mask=mask, n=counts, mean=mean, cov=cov, rows=Y, index=inverse, keep=keep)

    @classmethod
    def from_moments(cls, mean: np.ndarray, cov: np.ndarray, n: float) -> Patterns:
        """A single complete-data 'pattern' with the given moments (for start values)."""
        p = len(mean)
        return cls(
            mask=np.ones((1, p), bool),
            n=np.array([float(n)]),
            mean=np.asarray(mean, float)[None],
            cov=np.asarray(cov, float)[None],
        )


def _padded_inverse(Sigma: np.ndarray, pats: Patterns) -> tuple[np.ndarray, np.ndarray]:
    """Padded inverses of each pattern's observed block, and the log-determinants."""
    M2 = pats.mask2
    eye = np.eye(pats.p)
    Sstar = np.where(M2, Sigma[None], eye[None])
    L = np.linalg.cholesky(Sstar)  # LinAlgError when some Sigma_oo is not positive definite
    logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    E = np.linalg.inv(Sstar) * M2
    return E, logdet


def fiml_loglik(
    Sigma: np.ndarray, mu: np.ndarray, pats: Patterns, *, derivs: bool = True
) -> dict[str, np.ndarray | float]:
    """FIML log-likelihood at implied moments, and its gradient in (Sigma, mu).

    Returns a dict with ``loglik`` and, if ``derivs``, ``G`` (p x p, the derivative with
    respect to a full Sigma), ``gmu`` (p), and the per-pattern pieces ``E``, ``Q``, ``v``
    used by :func:`moment_hessian`.

    Raises
    ------
    numpy.linalg.LinAlgError
        If Sigma (restricted to some pattern) is not positive definite.
    """
    E, logdet = _padded_inverse(Sigma, pats)
    n = pats.n
    d = (pats.mean - mu[None]) * pats.mask
    W = pats.cov + d[:, :, None] * d[:, None, :]
    EW = E @ W
    tr = np.trace(EW, axis1=1, axis2=2)
    loglik = -0.5 * float(np.sum(n * (pats.k * LOG2PI + logdet + tr)))
    out: dict[str, np.ndarray | float] = {"loglik": loglik}
    if derivs:
        Q = EW @ E
        v = np.einsum("gij,gj->gi", E, d)
        out["G"] = -0.5 * (n @ (E - Q).reshape(len(n), -1)).reshape(Sigma.shape)
        out["gmu"] = n @ v
        out["E"], out["Q"], out["v"] = E, Q, v
    return out


def moment_hessian(
    pats: Patterns,
    E: np.ndarray,
    Q: np.ndarray,
    v: np.ndarray,
    expected: bool = False,
    kss: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Second derivatives of the FIML log-likelihood in (vec Sigma, mu).

    Returns ``(Kss, Kmm, Kms)`` such that for directions a, b (symmetric dSigma)

        d2 l = vec(dSa)' Kss vec(dSb) + dma' Kmm dmb + dma' Kms vec(dSb) + dmb' Kms vec(dSa).

    ``expected=True`` gives minus the expected (Fisher) information instead: the data enter
    only through the pattern sizes (``Q -> E``, ``v -> 0``). ``kss=False`` skips ``Kss``
    (returned as None) for a caller that uses :func:`sigma_quadratic` instead.
    """
    P, p = pats.n_patterns, pats.p
    n = pats.n
    Ef = E.reshape(P, p * p)
    # R[(j,i),(k,l)] = sum_g w_g X_g[j,i] Y_g[k,l]  ->  kernel[(j,k),(i,l)]
    if not kss:
        Kss = None
    elif expected:
        R = -0.5 * (Ef * n[:, None]).T @ Ef
    else:
        Qf = Q.reshape(P, p * p)
        nE = Ef * n[:, None]
        R = 0.5 * nE.T @ Ef - 0.5 * ((Qf * n[:, None]).T @ Ef + nE.T @ Qf)
    if kss:
        Kss = R.reshape(p, p, p, p).transpose(0, 2, 1, 3).reshape(p * p, p * p)
    Kmm = -(n @ Ef).reshape(p, p)
    if expected:
        Kms = np.zeros((p, p * p))
    else:
        # Kms[i, (j, k)] = -sum_g n_g E_g[i, j] v_g[k]
        Kms = -((Ef * n[:, None]).T @ v).reshape(p, p * p)
    return Kss, Kmm, Kms


def sigma_quadratic(
    pats: Patterns, E: np.ndarray, Q: np.ndarray, dS: np.ndarray, expected: bool = False
) -> np.ndarray:
    """``JS Kss JS'`` for ``JS = dS.reshape(q, p * p)`` without forming ``Kss`` (p^2 x p^2).

    ``vec(dSa)' Kss vec(dSb)`` is a sum over patterns of traces,
    ``n/2 [tr(E dSa E dSb) - tr(Q dSa E dSb) - tr(E dSa Q dSb)]`` (``-n/2 tr(E dSa E dSb)``
    with ``expected=True``), so the q x q block costs about ``P (2 q p^3 + 2 q^2 p^2)``
    operations instead of ``3 P p^4 + q p^4``: much less for few patterns and many waves
    (complete data, 15 sessions: p = 30). Equal to the product with :func:`moment_hessian`'s
    ``Kss`` up to rounding.
    """
    q = dS.shape[0]
    out = np.zeros((q, q))
    for g in range(pats.n_patterns):
        A = E[g] @ dS  # (q, p, p): E dS_a
        Af = A.reshape(q, -1)
        At = A.transpose(0, 2, 1).reshape(q, -1)
        if expected:
            out -= 0.5 * pats.n[g] * (Af @ At.T)
        else:
            BA = (Q[g] @ dS).reshape(q, -1) @ At.T  # tr(Q dS_a E dS_b)
            out += 0.5 * pats.n[g] * (Af @ At.T - BA - BA.T)
    return out


def sigma_quadratic_is_cheaper(n_patterns: int, p: int, q: int) -> bool:
    """Whether :func:`sigma_quadratic` costs fewer operations than forming ``Kss``."""
    return n_patterns * (2 * q * p**3 + 2 * q * q * p * p) < 3 * n_patterns * p**4 + q * p**4


def available_moments(pats: Patterns) -> tuple[np.ndarray, np.ndarray]:
    """Each variable's mean and (divisor-n) variance over the cases that observe it."""
    mask, n = pats.mask, pats.n
    w = n[:, None] * mask
    nj = w.sum(0)
    mean = (w * pats.mean).sum(0) / nj
    dev = (pats.mean - mean) * mask
    var = (w * (np.diagonal(pats.cov, axis1=1, axis2=2) + dev**2)).sum(0) / nj
    return mean, var


def _em_step(
    mu: np.ndarray, Sigma: np.ndarray, pats: Patterns, M2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """One EM step for the saturated model; also returns the log-likelihood at the input."""
    n, N, p = pats.n, pats.n_total, pats.p
    eye = np.eye(p)
    Sstar = np.where(M2, Sigma[None], eye[None])
    L = np.linalg.cholesky(Sstar)
    logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    E = np.linalg.inv(Sstar) * M2
    d = (pats.mean - mu) * pats.mask
    W = pats.cov + d[:, :, None] * d[:, None, :]
    tr = np.einsum("gij,gji->g", E, W)
    ll = -0.5 * float(np.sum(n * (pats.k * LOG2PI + logdet + tr)))
    Aop = Sigma[None] @ E  # regression of all variables on the observed ones
    xhat = mu + np.einsum("gij,gj->gi", Aop, d)
    cond = Sigma[None] - Aop @ Sigma[None]
    scat = Aop @ pats.cov @ Aop.transpose(0, 2, 1)
    T2 = (n @ (xhat[:, :, None] * xhat[:, None, :] + cond + scat).reshape(len(n), -1)).reshape(p, p)
    mu_new = n @ xhat / N
    Sigma_new = T2 / N - np.outer(mu_new, mu_new)
    return mu_new, 0.5 * (Sigma_new + Sigma_new.T), ll


def em_saturated(
    pats: Patterns, *, tol: float = 1e-9, max_iter: int = 2000
) -> dict[str, np.ndarray | float | int | bool]:
    """ML estimates of unrestricted means and covariances under missing data, by EM.

    EM is accelerated with SQUAREM (Varadhan & Roland 2008, *Scand J Stat* 35, 335-353):
    two EM steps give a direction, a step along it is taken when it keeps Sigma positive
    definite and does not lower the likelihood, and plain EM is used otherwise.

    Returns ``mu``, ``Sigma``, ``loglik``, ``iterations`` (EM steps) and ``converged``. With
    complete data this is the sample mean and the covariance with divisor N, in one step.
    ``converged`` is False when EM heads for a singular covariance matrix (with few clients
    per variable the saturated model has no maximum: its likelihood grows without bound).
    """
    p = pats.p
    if pats.n_patterns == 1 and pats.mask.all():
        mu, Sigma = pats.mean[0].copy(), pats.cov[0].copy()
        ll = fiml_loglik(Sigma, mu, pats, derivs=False)["loglik"]
        return dict(mu=mu, Sigma=Sigma, loglik=ll, iterations=0, converged=True)
    mu, var = available_moments(pats)
    Sigma = np.diag(var)
    M2 = pats.mask2
    iu = np.triu_indices(p)

    def pack(m: np.ndarray, S: np.ndarray) -> np.ndarray:
        return np.concatenate([m, S[iu]])

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        S = np.zeros((p, p))
        S[iu] = x[p:]
        return x[:p], S + np.triu(S, 1).T

    converged = False
    it = 0
    x0 = pack(mu, Sigma)
    ll0 = -np.inf
    while it < max_iter:
        m1, S1, ll0 = _em_step(*unpack(x0), pats, M2)
        m2, S2, _ = _em_step(m1, S1, pats, M2)
        it += 2
        x1, x2 = pack(m1, S1), pack(m2, S2)
        r = x1 - x0
        v = x2 - x1 - r
        if np.abs(x2 - x1).max() < tol * max(1.0, np.abs(x2).max()):
            x0 = x2
            converged = True
            break
        v2 = np.diag(S2)
        if np.linalg.eigvalsh(S2 / np.sqrt(np.outer(v2, v2))).min() < 1e-9:
            x0 = x2  # heading for a singular matrix: the saturated model has no ML estimate
            break
        alpha = -np.sqrt(r @ r) / max(np.sqrt(v @ v), 1e-300)
        alpha = min(alpha, -1.0)
        xs = x0 - 2 * alpha * r + alpha**2 * v
        try:
            m3, S3, ll_s = _em_step(*unpack(xs), pats, M2)  # stabilising EM step
            it += 1
            ok = ll_s >= ll0
        except np.linalg.LinAlgError:
            ok = False
        x0 = pack(m3, S3) if ok else x2
    mu, Sigma = unpack(x0)
    try:
        ll = fiml_loglik(Sigma, mu, pats, derivs=False)["loglik"]
    except np.linalg.LinAlgError:
        ll, converged = float("nan"), False
    return dict(mu=mu, Sigma=Sigma, loglik=ll, iterations=it, converged=converged)
