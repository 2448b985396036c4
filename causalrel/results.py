"""The results contract: one shape for every model family.

Every family (CLPM, RI-CLPM, DPML, FE, DPD, MLM, DSEM) returns a :class:`ModelResults`
(or a subclass), so that the report, the book and users' scripts can put them side by side.
The JSON shape is documented in ``docs/results-contract.md``; :meth:`ModelResults.to_dict`
produces it and :func:`compare` turns several results into one tidy table.

Shaped after linearmodels' results classes: pandas objects indexed by parameter name, a text
``summary`` and ``compare()``.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "Effect",
    "ModelResults",
    "ConvergenceWarning",
    "effect_key",
    "between_key",
    "compare",
    "warn_renamed",
]

#: Columns of a lavaan-style parameter table, in lavaan's order.
PARAM_COLUMNS = ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "ci.lower", "ci.upper"]


class ConvergenceWarning(UserWarning):
    """A fit did not converge, or its diagnostics failed: do not trust its numbers."""


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """The one deprecation message for a renamed option or attribute (kept for one release).

    ``warn_renamed("detrend=True", 'time="client"')`` warns "detrend=True is deprecated and
    will be removed in the next release; use time="client"." as a DeprecationWarning.
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}.",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def effect_key(cause: str, outcome: str) -> str:
    """Key of a within-client lagged effect: ``"alliance->symptoms"`` (cause at t, outcome at t+1)."""
    return f"{cause}->{outcome}"


def between_key(x: str, y: str) -> str:
    """Key of a between-client association: ``"alliance~symptoms"``."""
    return f"{x}~{y}"


@dataclass
class Effect:
    """One effect with its uncertainty: a 95% confidence (or credible) interval."""

    est: float
    se: float = float("nan")
    lower: float = float("nan")
    upper: float = float("nan")

    @classmethod
    def from_normal(cls, est: float, se: float, level: float = 0.95) -> Effect:
        """Wald interval ``est ± z * se``."""
        z = stats.norm.ppf(0.5 + level / 2)
        return cls(float(est), float(se), float(est - z * se), float(est + z * se))

    @classmethod
    def from_draws(cls, draws: np.ndarray, level: float = 0.95) -> Effect:
        """Posterior mean, posterior SD and equal-tailed credible interval."""
        d = np.asarray(draws, dtype=float).ravel()
        q = np.quantile(d, [0.5 - level / 2, 0.5 + level / 2])
        return cls(float(d.mean()), float(d.std(ddof=1)), float(q[0]), float(q[1]))

    def to_dict(self) -> dict[str, float]:
        return {"est": self.est, "se": self.se, "lower": self.lower, "upper": self.upper}


@dataclass
class ModelResults:
    """What every model family returns.

    Parameters
    ----------
    model : str
        The family's short name (``"riclpm"``, ``"fe"``, ...), as used by ``causalrel fit``.
    n_clients, n_observations : int
        Clients and client-sessions the estimation actually used.
    excluded : dict
        Why other clients or sessions were left out, as ``{reason: count}``.
    effects : dict
        ``{"within": {"x->y": Effect}, "between": {"x~y": Effect}}``; within effects are in raw
        units of the data (cause at one session, outcome at the next).
    params : pandas.DataFrame
        The full parameter table: lavaan's columns first for every family (:data:`PARAM_COLUMNS`:
        ``lhs op rhs est se z pvalue ci.lower ci.upper``; regression of y on x is ``lhs=y,
        op="~", rhs=x``; ``z``/``pvalue`` NaN where a family has none), then family extras.
    fit : dict
        Fit measures the family has (SEM fit indices, R², LOO, test statistics).
    diagnostics : dict
        Always holds ``converged``; samplers add ``rhat_max``, ``ess_bulk_min``, ``divergences``.
    seconds : float
        Wall time of estimation alone.
    notes : list of str
        Plain-language messages about the fit (what was assumed, averaged, dropped).
    engine : object
        The underlying engine's own result, for users who want every detail: the SEM engine's
        fit, linearmodels' results per equation, ArviZ's InferenceData, DoWhy's estimate. Not
        part of ``to_dict()``.
    """

    model: str
    n_clients: int
    n_observations: int
    effects: dict[str, dict[str, Effect]]
    params: pd.DataFrame
    fit: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=lambda: {"converged": True})
    excluded: dict[str, int] = field(default_factory=dict)
    seconds: float = float("nan")
    notes: list[str] = field(default_factory=list)
    engine: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.effects.setdefault("within", {})
        self.effects.setdefault("between", {})
        self.diagnostics.setdefault("converged", True)

    # -- pandas views -------------------------------------------------------------------------
    @property
    def converged(self) -> bool:
        return bool(self.diagnostics.get("converged", False))

    @property
    def within(self) -> pd.DataFrame:
        """Within-client effects as a table indexed by effect key."""
        return _effects_frame(self.effects["within"])

    @property
    def between(self) -> pd.DataFrame:
        """Between-client associations as a table indexed by key."""
        return _effects_frame(self.effects["between"])

    def warn_if_not_converged(self, what_to_try: str = "") -> None:
        """Emit a :class:`ConvergenceWarning` when the diagnostics say the fit failed."""
        if not self.converged:
            msg = f"{self.model}: the fit did not converge; its estimates are not trustworthy."
            reason = self.diagnostics.get("message")
            if reason:
                msg += f" Reason: {reason}."
            if what_to_try:
                msg += f" Try: {what_to_try}"
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)

    # -- output -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The results contract as plain JSON-safe Python objects."""
        params = self.params.replace({np.nan: None}) if len(self.params) else self.params
        return _jsonable(
            {
                "model": self.model,
                "n_clients": int(self.n_clients),
                "n_observations": int(self.n_observations),
                "excluded": dict(self.excluded),
                "seconds": self.seconds,
                "effects": {
                    side: {k: e.to_dict() for k, e in eff.items()}
                    for side, eff in self.effects.items()
                },
                "params": params.to_dict(orient="records"),
                "fit": self.fit,
                "diagnostics": self.diagnostics,
                "notes": list(self.notes),
            }
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self) -> str:
        """A text summary: sample, effects, fit, diagnostics."""
        lines = [
            f"causalrel {self.model}: {self.n_clients} clients, {self.n_observations} observations",
        ]
        if self.excluded:
            lines.append("excluded: " + ", ".join(f"{k}={v}" for k, v in self.excluded.items()))
        for side in ("within", "between"):
            frame = _effects_frame(self.effects.get(side, {}))
            if len(frame):
                lines += ["", f"{side}-client effects:", frame.round(4).to_string()]
        if self.fit:
            fit = ", ".join(f"{k}={_fmt(v)}" for k, v in self.fit.items() if _scalar(v))
            lines += ["", "fit: " + fit]
        diag = ", ".join(f"{k}={_fmt(v)}" for k, v in self.diagnostics.items() if _scalar(v))
        lines += ["diagnostics: " + diag]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return "<pre>" + self.summary().replace("&", "&amp;").replace("<", "&lt;") + "</pre>"


def compare(
    results: dict[str, ModelResults] | list[ModelResults], side: str = "within"
) -> pd.DataFrame:
    """Put several fits side by side: one row per (model, effect) with est, se and interval."""
    items = results.items() if isinstance(results, dict) else [(r.model, r) for r in results]
    rows = []
    for name, res in items:
        for key, eff in res.effects.get(side, {}).items():
            rows.append({"model": name, "effect": key, **eff.to_dict(), "converged": res.converged})
    cols = ["model", "effect", "est", "se", "lower", "upper", "converged"]
    return pd.DataFrame(rows, columns=cols)


def _effects_frame(effects: dict[str, Effect]) -> pd.DataFrame:
    frame = pd.DataFrame({k: e.to_dict() for k, e in effects.items()}).T
    return frame.reindex(columns=["est", "se", "lower", "upper"])


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, bool, str, np.number, np.bool_)) or v is None


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def _jsonable(obj: Any) -> Any:
    """Recursively convert numpy/pandas scalars to plain Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj
