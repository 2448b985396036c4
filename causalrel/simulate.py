"""Simulate session-by-session data with known ground truth.

The generating process is the one the model families disagree about: stable client traits
(correlated, optionally nested in therapists) plus a within-client bivariate VAR(1) with
autoregressive and cross-lagged effects (optionally varying between clients), linear time
trends, dropout that depends on the previous session's symptoms (MAR), skipped sessions,
missing ratings (MCAR) and measurement error (``reliability`` below 1). Every generating value is returned in :class:`Truth`, keyed exactly like
the results contract's effects, so tests can check recovery directly.

    x_it = mu_x + T_x,i + U_x,j + trend_x (t - 1) + w_x,it
    w_it = Phi_i w_i,t-1 + e_it,   e_it ~ N(0, Sigma_i),   Sigma_i = diag(s_i) R diag(s_i)

``Phi_i[y, x]`` is the effect of alliance at session t-1 on symptoms at t (``"x->y"``). The
innovation SDs ``s_i`` are the same for every client unless ``innovation_sd_sd`` makes them
log-normal between clients (``log s_ik ~ N(log innovation_sd_k, innovation_sd_sd_k)``, the DSEM's
``random_innovations`` parameterisation).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import solve_discrete_lyapunov

from .data import DataError, SessionPanel, load_panel
from .design import TIME_VALUES
from .results import between_key, effect_key

__all__ = ["Truth", "Simulation", "simulate", "truth_beside"]

BURN_IN = 50  # VAR steps before session 1, so session-1 states are (near) stationary
#: the default sizes of the trends of ``time="common"`` / ``"client"``
TIME_TREND = (0.05, -0.05)
TIME_TREND_SD = (0.05, 0.05)


@dataclass
class Truth:
    """The generating values, keyed like ``ModelResults.effects``.

    ``within`` holds the average lagged effects (``"alliance->symptoms"`` = alliance at t on
    symptoms at t+1, and the autoregressions); ``within_sd`` their between-client SDs;
    ``between`` the correlation of clients' stable trait levels and the between-client SDs of
    the log innovation SDs (``"sd(log_sigma(alliance))"``, as DSEM reports them; 0 unless
    ``innovation_sd_sd``); ``params`` every argument (the DSEM's ``log_sigma(alliance)`` row
    estimates ``log(params["innovation_sd"][0])``); ``clients`` each client's own trait levels,
    lagged effects and innovation SDs.
    """

    within: dict[str, float]
    within_sd: dict[str, float]
    between: dict[str, float]
    params: dict[str, Any]
    clients: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["clients"] = self.clients.to_dict(orient="records")
        return d


@dataclass
class Simulation:
    """Simulated long-format data and the truth that generated it."""

    data: pd.DataFrame
    truth: Truth
    names: tuple[str, str]
    therapist: bool

    def panel(self, **kwargs: Any) -> SessionPanel:
        """The data as a validated :class:`~causalrel.data.SessionPanel`."""
        kwargs.setdefault("warn", False)
        return load_panel(
            self.data,
            x=self.names[0],
            y=self.names[1],
            therapist="therapist" if self.therapist else None,
            **kwargs,
        )

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write the data as CSV and the truth (without per-client rows) as JSON beside it."""
        path = Path(path)
        self.data.to_csv(path, index=False)
        truth_path = path.with_suffix(".truth.json")
        t = self.truth.to_dict()
        t.pop("clients")
        truth_path.write_text(json.dumps(t, indent=2, default=float) + "\n")
        return path, truth_path


def truth_beside(path: str | Path) -> dict[str, float] | None:
    """The within-client truth saved beside a simulated data file (``FILE.truth.json``), if any.

    :meth:`Simulation.save` and ``causalrel simulate --out`` write that file; real data have none.
    """
    candidate = Path(path).with_suffix(".truth.json")
    if not candidate.is_file():
        return None
    try:
        within = json.loads(candidate.read_text())["within"]
        return {str(k): float(v) for k, v in within.items()}
    except (ValueError, KeyError, TypeError):
        return None


def _pair(v: float | tuple[float, float]) -> np.ndarray:
    return np.array(v if isinstance(v, (tuple, list, np.ndarray)) else (v, v), dtype=float)


def _time_word(trend, trend_sd) -> str:
    """The ``time`` value the generated trends are."""
    if np.any(_pair(trend_sd) != 0):
        return "client"
    return "common" if np.any(np.asarray(trend, float) != 0) else "none"


def _time_trends(time, trend, trend_sd) -> tuple[tuple[float, float], Any]:
    """``(trend, trend_sd)`` for ``time`` (see :func:`simulate`), or from the older
    ``trend``/``trend_sd`` alone with a DeprecationWarning naming the ``time`` they mean."""
    if time is None:
        if trend is None and trend_sd is None:
            return (0.0, 0.0), 0.0
        trend = (0.0, 0.0) if trend is None else trend
        trend_sd = 0.0 if trend_sd is None else trend_sd
        word = _time_word(trend, trend_sd)
        if word != "none":
            sd = f", trend_sd={tuple(_pair(trend_sd).tolist())}" if word == "client" else ""
            warnings.warn(
                "simulate(trend=..., trend_sd=...) without time= is deprecated: write "
                f"simulate(time={word!r}, trend={tuple(map(float, trend))}{sd}) (the "
                "families' time vocabulary).",
                DeprecationWarning,
                stacklevel=3,
            )
        return trend, trend_sd
    if time not in TIME_VALUES:
        raise DataError(
            f"time must be one of {', '.join(map(repr, TIME_VALUES))} (--time); got {time!r}."
        )
    if time == "none":
        if (trend is not None and np.any(np.asarray(trend, float) != 0)) or (
            trend_sd is not None and np.any(_pair(trend_sd) != 0)
        ):
            raise DataError("time='none' means no trend; leave out trend/trend_sd.")
        return (0.0, 0.0), 0.0
    trend = TIME_TREND if trend is None else trend
    if time == "common":
        if trend_sd is not None and np.any(_pair(trend_sd) != 0):
            raise DataError(
                "time='common' is one trend shared by all clients: trend_sd must be 0 "
                "(or give time='client' for clients' own trends)."
            )
        return trend, 0.0
    trend_sd = TIME_TREND_SD if trend_sd is None else trend_sd
    if not np.any(_pair(trend_sd) > 0):
        raise DataError("time='client' needs trend_sd > 0 (clients' trends that differ).")
    return trend, trend_sd


def _same_session(
    same_session: dict[str, float] | None, nx: str, ny: str
) -> tuple[np.ndarray, str | None, float]:
    """``(I - B0)^-1``, the effect key and ``b`` of a directed same-session effect."""
    if not same_session:
        return np.eye(2), None, 0.0
    where = {effect_key(ny, nx): (0, 1), effect_key(nx, ny): (1, 0)}  # (outcome, cause)
    if len(same_session) != 1 or next(iter(same_session)) not in where:
        raise DataError(
            f"same_session takes one effect, {{'{effect_key(ny, nx)}': b}} or "
            f"{{'{effect_key(nx, ny)}': b}} (a same-session loop is not a process); "
            f"got {same_session!r}."
        )
    key, b = next(iter(same_session.items()))
    b0 = np.zeros((2, 2))
    b0[where[key]] = float(b)
    return np.linalg.inv(np.eye(2) - b0), key, float(b)


def simulate(
    n_clients: int = 300,
    n_sessions: int | tuple[int, int] = 12,
    *,
    ar: tuple[float, float] = (0.3, 0.4),
    cross: tuple[float, float] = (-0.2, -0.1),
    innovation_sd: float | tuple[float, float] = (0.4, 0.4),
    innovation_corr: float = -0.2,
    innovation_sd_sd: float | tuple[float, float] = 0.0,
    trait_mean: tuple[float, float] = (0.0, 0.0),
    trait_sd: float | tuple[float, float] = (0.6, 0.6),
    trait_corr: float = 0.0,
    cross_sd: float | tuple[float, float] = 0.0,
    n_therapists: int | None = None,
    therapist_sd: float | tuple[float, float] = (0.2, 0.2),
    time: str | None = None,
    trend: tuple[float, float] | None = None,
    trend_sd: float | tuple[float, float] | None = None,
    same_session: dict[str, float] | None = None,
    mcar: float | tuple[float, float] = 0.0,
    skip: float = 0.0,
    dropout: float = 0.0,
    dropout_on_symptoms: float = 0.0,
    reliability: float | tuple[float, float] = 1.0,
    bounds: dict[str, tuple[float, float]] | None = None,
    decimals: dict[str, int] | None = None,
    names: tuple[str, str] = ("alliance", "symptoms"),
    seed: int | None = None,
) -> Simulation:
    """Simulate a stable-trait + within-client VAR(1) panel with known truth.

    Parameters
    ----------
    n_clients : int
        Number of clients.
    n_sessions : int or (int, int)
        Planned sessions per client, fixed or drawn uniformly from the inclusive range.
    ar : (float, float)
        Within-client autoregressive effects of x (alliance) and y (symptoms).
    cross : (float, float)
        Within-client cross-lagged effects ``(x->y, y->x)``: alliance at t-1 on symptoms at t,
        and symptoms at t-1 on alliance at t.
    innovation_sd, innovation_corr
        SDs and correlation of the within-client innovations (same-session shocks).
    innovation_sd_sd : float or (float, float)
        Between-client SD of the log innovation SDs: client i's SD of variable k is
        ``innovation_sd[k] * exp(innovation_sd_sd[k] * z_ik)``, ``z_ik ~ N(0, 1)`` (no mean
        correction, so ``innovation_sd`` is the median client's SD). 0 (default): one SD for
        all. The ``z_ik`` come from a child generator, so the other draws, and with 0 the whole
        simulation, are the same as without this option.
    trait_mean, trait_sd, trait_corr
        Means, SDs and correlation of clients' stable levels (the between-client part).
    cross_sd : float or (float, float)
        Between-client SD of the two cross-lagged effects (random slopes); 0 = fixed.
    n_therapists : int, optional
        Nest clients in this many therapists, each adding a shift with SD ``therapist_sd``.
    time : {"none", "common", "client"}, optional
        The change over sessions the data have, in the families' ``time`` vocabulary:
        ``"none"``: no trend; ``"common"``: every client changes by the same ``trend`` per
        session (default :data:`TIME_TREND`); ``"client"``: clients' own linear trends vary
        around it with SD ``trend_sd`` (default :data:`TIME_TREND_SD`). Default: no trend.
    trend, trend_sd : (float, float), optional
        The size of the trends ``time`` asks for: the average linear change per session of
        x and y, and its between-client SD (``time="client"`` only). Giving them without
        ``time`` is deprecated (a DeprecationWarning names the ``time`` value they mean).
    same_session : dict, optional
        A directed same-session effect, keyed like the effects: ``{"symptoms->alliance":
        0.3}`` = symptoms rated before the session act on the alliance rated after it
        (``{"alliance->symptoms": b}`` the other order; one direction at most). The
        within-client process is then the structural VAR ``w_t = B0 w_t + Phi w_t-1 + e_t``
        (``B0`` holding ``b``), i.e. ``w_t = (I - B0)^-1 (Phi w_t-1 + e_t)``; ``truth.within``
        holds ``b`` under ``"symptoms->alliance (same session)"``, and its lagged effects
        are the structural (direct) ones, which an SEM with ``same_session=`` the same key
        estimates. Give ``innovation_corr=0`` for the path to be the whole same-session link.
    skip : float
        Probability that a session is missed altogether (a gap in session numbers).
    dropout : float
        Base probability of dropping out before each session from session 2 on.
    dropout_on_symptoms : float
        Log-odds change in dropout per SD of the previous session's observed symptoms (MAR).
    reliability : float or (float, float)
        Reliability of each observed score: the share of its variance that is not measurement
        error. Below 1, independent normal error with variance ``v (1 - r) / r`` is added to
        every rating, ``v`` being the score's true-score variance at one session (trait,
        therapist and stationary within-client variance at the average lagged effects; trends
        are not counted). Dropout then depends on the observed, error-laden symptoms. The errors
        come from a child generator, so with 1 (default) the simulation is unchanged.
    bounds, decimals : dict, optional
        Clip (``{name: (low, high)}``) and round (``{name: digits}``) the observed scores, to
        mimic a rating scale. Clipping breaks the linear model slightly: keep it rare.
    names : (str, str)
        Column names of x and y.
    seed : int, optional
        Seed for :func:`numpy.random.default_rng`; the same seed gives the same data.

    Returns
    -------
    Simulation
        ``.data`` (client, session, x, y[, therapist]), ``.truth`` and ``.panel()``.
    """
    trend, trend_sd = _time_trends(time, trend, trend_sd)
    rng = np.random.default_rng(seed)
    nx, ny = names
    n = int(n_clients)
    if n < 1:
        raise DataError(f"The number of clients must be at least 1 (--clients); got {n}.")
    lo, hi = (n_sessions, n_sessions) if isinstance(n_sessions, int) else n_sessions
    if lo < 1 or hi < lo:
        raise DataError(
            "Sessions per client must be >= 1 (--sessions N or LOW-HIGH with LOW <= HIGH); "
            f"got {lo}-{hi}."
        )
    for what, p in [("mcar (--missing)", mcar), ("skip", skip), ("dropout (--dropout)", dropout)]:
        if not all(0 <= q < 1 for q in np.atleast_1d(np.asarray(p, dtype=float))):
            raise DataError(f"{what} is a probability in [0, 1); got {p}.")
    if n_therapists is not None and n_therapists < 1:
        raise DataError(f"The number of therapists must be at least 1; got {n_therapists}.")
    planned = rng.integers(lo, hi + 1, size=n)
    t_max = int(planned.max())

    # Between level: traits (+ therapist shifts) and client-specific lagged effects.
    tsd = _pair(trait_sd)
    cov_t = np.diag(tsd) @ np.array([[1, trait_corr], [trait_corr, 1]]) @ np.diag(tsd)
    traits = rng.multivariate_normal(trait_mean, cov_t, size=n)
    therapist = None
    if n_therapists:
        therapist = rng.integers(0, n_therapists, size=n)
        shifts = rng.normal(0, 1, size=(n_therapists, 2)) * _pair(therapist_sd)
        level = traits + shifts[therapist]
    else:
        level = traits
    csd = _pair(cross_sd)
    cross_i = np.asarray(cross, float) + rng.normal(0, 1, size=(n, 2)) * csd
    phi = np.zeros((n, 2, 2))
    phi[:, 0, 0], phi[:, 1, 1] = ar
    phi[:, 1, 0] = cross_i[:, 0]  # x_{t-1} -> y_t
    phi[:, 0, 1] = cross_i[:, 1]  # y_{t-1} -> x_t
    radius = np.abs(np.linalg.eigvals(phi)).max()
    if radius >= 1:
        raise ValueError(
            f"the VAR is not stationary for some clients (largest |eigenvalue| {radius:.2f}); "
            "lower ar, cross or cross_sd"
        )
    a0inv, same_key, same_b = _same_session(same_session, nx, ny)
    radius = np.abs(np.linalg.eigvals(a0inv @ phi)).max()
    if radius >= 1:
        raise ValueError(
            f"with the same-session effect the VAR is not stationary (largest |eigenvalue| "
            f"{radius:.2f}); lower it or the lagged effects"
        )
    slopes = np.asarray(trend, float) + rng.normal(0, 1, size=(n, 2)) * _pair(trend_sd)

    # Within level: VAR(1) with burn-in.
    isd = _pair(innovation_sd)
    isd_sd = _pair(innovation_sd_sd)
    if (isd_sd < 0).any():
        raise ValueError("innovation_sd_sd must be >= 0")
    ratio = None  # client SD / innovation_sd, when the SDs vary between clients
    if isd_sd.any():
        ratio = np.exp(rng.spawn(1)[0].normal(size=(n, 2)) * isd_sd)
    cov_e = np.diag(isd) @ np.array([[1, innovation_corr], [innovation_corr, 1]]) @ np.diag(isd)
    chol = np.linalg.cholesky(cov_e)
    w = np.zeros((n, 2))
    states = np.empty((n, t_max, 2))
    for t in range(-BURN_IN, t_max):
        shock = rng.normal(size=(n, 2)) @ chol.T
        if ratio is not None:  # diag(s_i) chol(R) = diag(ratio_i) chol(Sigma_e)
            shock = shock * ratio
        w = np.einsum("nij,nj->ni", phi, w) + shock
        if same_key is not None:  # the same-session effect within each session
            w = w @ a0inv.T
        if t >= 0:
            states[:, t] = w
    session = np.arange(1, t_max + 1)
    scores = level[:, None, :] + slopes[:, None, :] * (session[None, :, None] - 1) + states
    rel = _pair(reliability)
    if ((rel <= 0) | (rel > 1)).any():
        raise ValueError("reliability must be in (0, 1] (1 = no measurement error)")
    error_sd = np.zeros(2)
    if (rel < 1).any():
        avg_cov = cov_e if ratio is None else cov_e * np.einsum("ni,nj->ij", ratio, ratio) / n
        red_phi, red_cov = a0inv @ phi.mean(axis=0), a0inv @ avg_cov @ a0inv.T
        within_var = np.diag(solve_discrete_lyapunov(red_phi, red_cov))
        true_var = tsd**2 + within_var + (_pair(therapist_sd) ** 2 if n_therapists else 0.0)
        error_sd = np.sqrt(true_var * (1 - rel) / rel)
        scores = scores + rng.spawn(1)[0].normal(size=scores.shape) * error_sd

    # Who is seen when: planned length, dropout (MAR on previous observed symptoms), skips.
    miss = rng.random((n, t_max, 2)) < _pair(mcar)
    present = session[None, :] <= planned[:, None]
    y_sd = scores[..., 1].std()
    active = np.ones(n, bool)
    for t in range(1, t_max):
        prev = scores[:, t - 1, 1]
        prev_seen = present[:, t - 1] & ~miss[:, t - 1, 1]
        z = np.where(prev_seen, (prev - scores[:, 0, 1].mean()) / y_sd, 0.0)
        if dropout > 0:
            logit = np.log(dropout / (1 - dropout)) + dropout_on_symptoms * z
            active &= rng.random(n) >= 1 / (1 + np.exp(-logit))
        present[:, t] &= active
    if skip > 0:
        skipped = rng.random((n, t_max)) < skip
        skipped[:, 0] = False
        present &= ~skipped

    ci, ti = np.nonzero(present)
    vals = scores[ci, ti].copy()
    vals[miss[ci, ti]] = np.nan
    data = pd.DataFrame({"client": ci + 1, "session": ti + 1, nx: vals[:, 0], ny: vals[:, 1]})
    if therapist is not None:
        data.insert(1, "therapist", therapist[ci] + 1)
    data = data[data[[nx, ny]].notna().any(axis=1)].reset_index(drop=True)
    for name, (low, high) in (bounds or {}).items():
        data[name] = data[name].clip(low, high)
    for name, digits in (decimals or {}).items():
        data[name] = data[name].round(digits)

    within = {
        effect_key(nx, ny): float(cross[0]),
        effect_key(ny, nx): float(cross[1]),
        effect_key(nx, nx): float(ar[0]),
        effect_key(ny, ny): float(ar[1]),
    }
    if same_key is not None:
        within[f"{same_key} (same session)"] = same_b
    truth = Truth(
        within=within,
        within_sd={effect_key(nx, ny): float(csd[0]), effect_key(ny, nx): float(csd[1])},
        between={
            between_key(nx, ny): float(trait_corr),
            f"sd(log_sigma({nx}))": float(isd_sd[0]),
            f"sd(log_sigma({ny}))": float(isd_sd[1]),
        },
        params={
            "n_clients": n,
            "n_sessions": [int(lo), int(hi)],
            "ar": list(map(float, ar)),
            "cross": list(map(float, cross)),
            "innovation_sd": isd.tolist(),
            "innovation_corr": float(innovation_corr),
            "innovation_sd_sd": isd_sd.tolist(),
            "trait_mean": list(map(float, trait_mean)),
            "trait_sd": tsd.tolist(),
            "trait_corr": float(trait_corr),
            "cross_sd": csd.tolist(),
            "n_therapists": n_therapists,
            "therapist_sd": _pair(therapist_sd).tolist() if n_therapists else None,
            "time": _time_word(trend, trend_sd),
            "trend": list(map(float, trend)),
            "trend_sd": _pair(trend_sd).tolist(),
            "same_session": {same_key: same_b} if same_key is not None else None,
            "mcar": _pair(mcar).tolist(),
            "skip": float(skip),
            "dropout": float(dropout),
            "dropout_on_symptoms": float(dropout_on_symptoms),
            "reliability": rel.tolist(),
            "error_sd": error_sd.tolist(),
            "bounds": bounds,
            "decimals": decimals,
            "names": list(names),
            "seed": seed,
        },
        clients=pd.DataFrame(
            {
                "client": np.arange(1, n + 1),
                f"trait_{nx}": traits[:, 0],
                f"trait_{ny}": traits[:, 1],
                effect_key(nx, ny): cross_i[:, 0],
                effect_key(ny, nx): cross_i[:, 1],
                f"trend_{nx}": slopes[:, 0],
                f"trend_{ny}": slopes[:, 1],
                f"innovation_sd_{nx}": isd[0] * (1.0 if ratio is None else ratio[:, 0]),
                f"innovation_sd_{ny}": isd[1] * (1.0 if ratio is None else ratio[:, 1]),
                "planned_sessions": planned,
            }
        ),
    )
    return Simulation(data=data, truth=truth, names=(nx, ny), therapist=therapist is not None)
