"""Nonparametric bootstrap of an SEM fit over clients, with percentile and BCa intervals.

Whole clients are resampled with replacement (each client's row of waves stays together), within
each group of a multiple-group fit (as lavaan's ``se = "bootstrap"``). When the fit was
clustered (``cluster="therapist"``) whole clusters are resampled instead, each with all its
clients: the clients of one therapist are not independent, so resampling them one by one would
understate the variability, the same reason the cluster-robust standard errors sum scores
within therapists.

Each replication refits the model by FIML from the original estimates (few Newton steps).
Replications that fail (an error, or no convergence) are counted in ``n_failed`` and left out.
The draws are made up front from one seeded generator, so the result depends on ``seed`` only,
not on ``n_jobs``. Intervals:

- ``"percentile"``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the draws;
- ``"bca"`` (bias-corrected and accelerated, Efron 1987, *JASA* 82, 171-185): the quantiles
  are moved by the bias ``z0 = Phi^-1(share of draws below the estimate)`` and the
  acceleration ``a`` from the jackknife (one refit leaving out each client, or cluster).

Every free parameter and every defined parameter (``:=``) gets an interval. Written here
because the resampling unit (client, cluster) and the warm-started refit are this engine's;
the interval formulas are the textbook ones.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..data import DataError
from .defined import DEFINED_OP, defined_values

__all__ = ["BootstrapResult", "bootstrap"]

CI_METHODS = ("bca", "percentile")


@dataclass
class BootstrapResult:
    """Result of :func:`bootstrap`: one row per free and defined parameter.

    ``table`` columns: ``lhs op rhs label`` (and ``group``), ``est`` (the original estimate),
    ``boot.se`` (SD of the draws), ``boot.lower``/``boot.upper`` (the interval).
    """

    table: pd.DataFrame
    n_boot: int
    n_failed: int
    method: str
    level: float
    seed: int | None
    unit: str
    draws: np.ndarray = field(repr=False, default=None)

    def to_dict(self) -> dict:
        return {
            "n_boot": self.n_boot,
            "n_failed": self.n_failed,
            "method": self.method,
            "level": self.level,
            "seed": self.seed,
            "unit": self.unit,
        }


def _units(sem) -> list[np.ndarray]:
    """Per group: the resampling unit of each kept row (client = own row, or cluster)."""
    if sem.cluster is not None and sem.cluster_codes:
        return [np.asarray(c) for c in sem.cluster_codes]
    return [np.arange(len(p.rows)) for p in sem.group_patterns]


def _rows_of(units: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Row indices of the chosen units (each unit's rows, repeated as drawn)."""
    order = np.argsort(units, kind="stable")
    counts = np.bincount(units)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return np.concatenate([order[starts[u] : starts[u + 1]] for u in chosen])


def _refit(
    partable, frames: list[np.ndarray], start: np.ndarray, labels: list, max_iter: int
) -> np.ndarray | None:
    """Free and defined parameters of one refit, or None if it failed."""
    from .estimate import fit_partable

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_partable(partable, frames, group_label=labels, start=start, max_iter=max_iter)
    except (DataError, np.linalg.LinAlgError, ValueError):
        return None
    if not fit.converged or not np.isfinite(fit.theta).all():
        return None
    return np.concatenate([fit.theta, defined_values(partable, fit.theta)])


def bootstrap(
    res,
    n_boot: int = 1000,
    *,
    seed: int | None = None,
    level: float = 0.95,
    ci: str = "bca",
    n_jobs: int = 1,
    progress: bool = False,
    max_iter: int = 100,
) -> BootstrapResult:
    """Bootstrap an SEM fit over clients (or clusters) and give intervals for every parameter.

    Parameters
    ----------
    res : SEMResults
        A fit of :class:`~causalrel.sem.RICLPM`, :class:`~causalrel.sem.CLPM` or
        :class:`~causalrel.sem.DPML` (clustered fits resample clusters).
    n_boot : int
        Number of replications.
    seed : int, optional
        Seed of the draws (reproducible results).
    level : float
        Confidence level.
    ci : {"bca", "percentile"}
        Interval type (BCa needs one jackknife refit per client or cluster as well).
    n_jobs : int
        Parallel workers (joblib processes; -1 = all cores).
    progress : bool
        Show a progress bar (tqdm) on standard error.
    max_iter : int
        Newton iterations per refit.

    Returns
    -------
    BootstrapResult
    """
    if ci not in CI_METHODS:
        raise DataError(f"ci must be one of {list(CI_METHODS)} (got {ci!r}).")
    if int(n_boot) < 2:
        raise DataError("n_boot must be at least 2 (use 1000 or more for intervals).")
    if not 0 < level < 1:
        raise DataError("level must be in (0, 1).")
    sem = getattr(res, "engine", res)
    rows = [p.rows for p in sem.group_patterns]
    if any(r is None for r in rows):
        raise DataError("This fit keeps no data rows to resample.")
    units = _units(sem)
    labels = list(sem.group_labels)
    rng = np.random.default_rng(seed)
    draws_idx = [
        [_rows_of(u, rng.integers(0, u.max() + 1, u.max() + 1)) for u in units]
        for _ in range(int(n_boot))
    ]
    jobs = [[r[i] for r, i in zip(rows, idx, strict=True)] for idx in draws_idx]
    if ci == "bca":
        for g, u in enumerate(units):
            for k in range(int(u.max()) + 1):
                keep = np.flatnonzero(u != k)
                jobs.append([r if h != g else r[keep] for h, r in enumerate(rows)])
    out = _run(sem.partable, jobs, sem.theta, labels, max_iter, n_jobs, progress)
    boot = out[: int(n_boot)]
    ok = np.array([b is not None for b in boot])
    n_failed = int((~ok).sum())
    if ok.sum() < 2:
        raise DataError(f"Only {int(ok.sum())} of {n_boot} bootstrap replications succeeded.")
    B = np.vstack([b for b in boot if b is not None])
    est = np.concatenate([sem.theta, defined_values(sem.partable, sem.theta)])
    alpha = (1 - level) / 2
    if ci == "percentile":
        lower, upper = np.nanquantile(B, alpha, axis=0), np.nanquantile(B, 1 - alpha, axis=0)
    else:
        jack = [j for j in out[int(n_boot) :] if j is not None]
        if len(jack) < 3:
            raise DataError("The jackknife refits for BCa failed; use ci='percentile'.")
        lower, upper = _bca(B, est, np.vstack(jack), level)
    table = _labels(sem).assign(
        est=est, **{"boot.se": B.std(axis=0, ddof=1), "boot.lower": lower, "boot.upper": upper}
    )
    unit = f"clusters ({sem.cluster})" if sem.cluster is not None else "clients"
    return BootstrapResult(
        table=table,
        n_boot=int(n_boot),
        n_failed=n_failed,
        method=ci,
        level=level,
        seed=seed,
        unit=unit,
        draws=B,
    )


def _run(partable, jobs, start, labels, max_iter, n_jobs, progress) -> list:
    from tqdm.auto import tqdm

    bar = dict(total=len(jobs), desc="bootstrap", disable=not progress, leave=False)
    if n_jobs == 1:
        return [_refit(partable, j, start, labels, max_iter) for j in tqdm(jobs, **bar)]
    from joblib import Parallel, delayed

    gen = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_refit)(partable, j, start, labels, max_iter) for j in jobs
    )
    return list(tqdm(gen, **bar))


def _bca(
    B: np.ndarray, est: np.ndarray, jack: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """BCa interval bounds per column of the draws ``B``."""
    below = (B < est).mean(axis=0) + 0.5 * (B == est).mean(axis=0)
    z0 = stats.norm.ppf(np.clip(below, 1e-10, 1 - 1e-10))
    d = jack.mean(axis=0) - jack
    den = 6.0 * (d**2).sum(axis=0) ** 1.5
    a = np.where(den > 0, (d**3).sum(axis=0) / np.where(den > 0, den, 1.0), 0.0)
    out = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        zq = stats.norm.ppf(q)
        adj = stats.norm.cdf(z0 + (z0 + zq) / (1 - a * (z0 + zq)))
        out.append(np.array([np.nanquantile(B[:, k], adj[k]) for k in range(B.shape[1])]))
    return out[0], out[1]


def _labels(sem) -> pd.DataFrame:
    """lhs/op/rhs/label (and group) of the free parameters, then the defined ones."""
    rows = sem.partable.free_rows()
    cols = ["lhs", "op", "rhs", "label"] + (["group"] if sem.n_groups > 1 else [])
    free = rows[cols].reset_index(drop=True)
    defined = sem.partable.options.get("defined", [])
    extra = pd.DataFrame(
        {
            "lhs": [d[0] for d in defined],
            "op": DEFINED_OP,
            "rhs": [d[1] for d in defined],
            "label": [d[0] for d in defined],
        }
    )
    if sem.n_groups > 1:
        extra["group"] = 0
    return pd.concat([free, extra], ignore_index=True)
