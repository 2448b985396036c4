"""The design grid of a power study: which data to simulate, and which families to fit.

A *cell* is one simulated design: a number of clients, a number of sessions, the true lagged
effects and any other :func:`causalrel.simulate.simulate` argument. Every family is fitted to
the same simulated data sets of a cell (common random numbers), so families are compared on
identical samples. A cell is identified by the canonical JSON of its simulation arguments, and
that identity (not its position in the grid) seeds its replications: adding cells to a grid or
reordering it leaves the data of the other cells unchanged.

The four lagged effects take their :func:`~causalrel.simulate.simulate` defaults unless set:
``alliance->symptoms = -0.2``, ``symptoms->alliance = -0.1`` (cross-lags) and
``alliance->alliance = 0.3``, ``symptoms->symptoms = 0.4`` (autoregressions), in raw units
(innovation SDs 0.4, trait SDs 0.6).

Units (``units=``): ``"raw"`` effects are the simulator's VAR coefficients, in score points of
the outcome per score point of the cause; ``"standardized"`` effects are within-person
standardised, ``b * sd_w(cause) / sd_w(outcome)`` with ``sd_w`` the stationary SD of the
within-client process (the true scores, before measurement error): the scale of
powRICLPM's and of most RI-CLPM reports. Standardised values are turned into raw ones by
solving ``Phi = D(Phi) Phi_std D(Phi)^-1`` (``D`` the within SDs that ``Phi`` and the
innovation covariance imply; a fixed-point iteration, :func:`raw_effects`); autoregressions
are the same in both units. The table's ``true`` column is always raw (what every family
estimates); ``true_std`` holds the standardised value.

Time trends (``time=`` in ``design`` or ``vary``, the families' vocabulary, in the
simulator's words): ``"none"``: no trend (``trend=(0, 0)``, ``trend_sd=0``); ``"common"``: every
client changes by the same ``trend`` per session (default :data:`TIME_TREND`); ``"client"``:
clients' trends vary around it with SD ``trend_sd`` (default :data:`TIME_TREND_SD`). A
``trend``/``trend_sd`` set in ``design`` gives the size; ``time`` says which parts exist.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import solve_discrete_lyapunov

from ..data import DataError
from ..families import FAMILIES, _keyword_names, get_model_class
from ..results import effect_key
from ..simulate import TIME_TREND, TIME_TREND_SD, TIME_VALUES, _time_word, simulate

__all__ = [
    "EFFECT_KEYS",
    "DEFAULT_EFFECTS",
    "Cell",
    "Design",
    "parse_effect",
    "resolve_families",
    "raw_effects",
    "standardized_effects",
    "UNITS",
    "TIME_VALUES",
]

X, Y = "alliance", "symptoms"

#: effect key -> (simulate argument, index): where each lagged effect goes in simulate().
EFFECT_SLOTS: dict[str, tuple[str, int]] = {
    effect_key(X, Y): ("cross", 0),
    effect_key(Y, X): ("cross", 1),
    effect_key(X, X): ("ar", 0),
    effect_key(Y, Y): ("ar", 1),
}
EFFECT_KEYS = tuple(EFFECT_SLOTS)

_SIM_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(simulate).parameters.items()
    if p.default is not inspect.Parameter.empty
}
#: the lagged effects' values when not set (simulate()'s defaults).
DEFAULT_EFFECTS: dict[str, float] = {
    key: float(_SIM_DEFAULTS[arg][i]) for key, (arg, i) in EFFECT_SLOTS.items()
}
#: simulate() arguments a design may not set: the grid and the runner own them.
_RESERVED = {"n_clients", "n_sessions", "ar", "cross", "seed", "names"}
UNITS = ("raw", "standardized")
#: (the ``time`` values of a design and their default trend sizes come from simulate)


def _innovation_cov(design: Mapping[str, Any]) -> np.ndarray:
    sd = np.broadcast_to(
        np.asarray(design.get("innovation_sd", _SIM_DEFAULTS["innovation_sd"]), float), (2,)
    )
    r = float(design.get("innovation_corr", _SIM_DEFAULTS["innovation_corr"]))
    return np.outer(sd, sd) * np.array([[1.0, r], [r, 1.0]])


def _phi(effects: Mapping[str, float]) -> np.ndarray:
    """The VAR matrix: ``Phi[outcome, cause]`` (alliance 0, symptoms 1)."""
    return np.array(
        [
            [effects[effect_key(X, X)], effects[effect_key(Y, X)]],
            [effects[effect_key(X, Y)], effects[effect_key(Y, Y)]],
        ]
    )


def _within_sd(phi: np.ndarray, cov: np.ndarray) -> np.ndarray:
    if np.max(np.abs(np.linalg.eigvals(phi))) >= 1:
        raise DataError(
            "These lagged effects make the within-client process not stationary (an "
            "eigenvalue of the VAR matrix is 1 or more): use smaller autoregressions or "
            "cross-lags."
        )
    return np.sqrt(np.diag(solve_discrete_lyapunov(phi, cov)))


def standardized_effects(
    effects: Mapping[str, float], design: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """Raw lagged effects -> within-person standardised ones, ``b * sd_w(x) / sd_w(y)``."""
    phi = _phi(effects)
    sd = _within_sd(phi, _innovation_cov(design or {}))
    std = phi * sd[None, :] / sd[:, None]
    return _effects_of(std)


def raw_effects(
    effects: Mapping[str, float], design: Mapping[str, Any] | None = None, tol: float = 1e-12
) -> dict[str, float]:
    """Within-person standardised lagged effects -> the raw ones that give them.

    Solves ``Phi = D Phi_std D^-1`` with ``D`` the stationary within-client SDs implied by
    ``Phi`` and the design's innovation covariance, by fixed-point iteration from
    ``Phi_std``; :func:`standardized_effects` of the result gives back ``effects``.
    """
    target = _phi(effects)
    cov = _innovation_cov(design or {})
    phi = target.copy()
    for _ in range(200):
        sd = _within_sd(phi, cov)
        new = target * sd[:, None] / sd[None, :]
        if np.max(np.abs(new - phi)) < tol:
            return _effects_of(new)
        phi = new
    raise DataError(  # pragma: no cover - the map contracts for stationary designs
        f"Could not convert the standardised effects {dict(effects)} to raw units."
    )


def _effects_of(phi: np.ndarray) -> dict[str, float]:
    return {
        effect_key(X, X): float(phi[0, 0]),
        effect_key(Y, X): float(phi[0, 1]),
        effect_key(X, Y): float(phi[1, 0]),
        effect_key(Y, Y): float(phi[1, 1]),
    }


def _time_design(design: Mapping[str, Any]) -> dict[str, Any]:
    """``design`` with ``time`` turned into the simulator's ``trend``/``trend_sd``."""
    out = dict(design)
    if "time" not in out:
        return out
    time = out.pop("time")
    if time not in TIME_VALUES:
        raise DataError(
            f"time must be one of {', '.join(map(repr, TIME_VALUES))} in a design; got {time!r}."
        )
    if time == "none":
        out["trend"], out["trend_sd"] = [0.0, 0.0], 0.0
        return out
    out.setdefault("trend", list(TIME_TREND))
    if time == "common":
        out["trend_sd"] = 0.0
    else:
        sd = out.get("trend_sd", list(TIME_TREND_SD))
        if not np.any(np.asarray(sd, float) > 0):
            raise DataError("time='client' needs trend_sd > 0 (clients' trends that differ).")
        out["trend_sd"] = sd
    return out


@dataclass(frozen=True)
class Cell:
    """One simulated design of the grid.

    Parameters
    ----------
    clients, sessions : int
        Clients and (planned) sessions per client.
    effects : dict
        The true value of each of the four lagged effects, by effect key.
    design : dict
        Further :func:`~causalrel.simulate.simulate` arguments (missingness, reliability, ...).
    setting : str
        Short label of what the grid varies besides clients and sessions
        (``"alliance->symptoms=-0.2"``), for tables and plots.
    varied : dict
        The values of the extra grid axes (``vary=``) in this cell.
    units : {"raw", "standardized"}
        The units of ``effects`` (see the module docstring); the simulation uses raw ones.
    """

    clients: int
    sessions: int
    effects: dict[str, float]
    design: dict[str, Any] = field(default_factory=dict)
    setting: str = ""
    varied: dict[str, Any] = field(default_factory=dict)
    units: str = "raw"

    @property
    def raw(self) -> dict[str, float]:
        """The true lagged effects in raw units (what the families estimate)."""
        if self.units == "raw":
            return dict(self.effects)
        return raw_effects(self.effects, self.design)

    @property
    def standardized(self) -> dict[str, float]:
        """The true lagged effects, within-person standardised."""
        if self.units == "standardized":
            return dict(self.effects)
        return standardized_effects(self.effects, self.design)

    def simulate_kwargs(self) -> dict[str, Any]:
        """The arguments of :func:`~causalrel.simulate.simulate` for this cell (no seed)."""
        raw = self.raw
        ar = [raw[effect_key(X, X)], raw[effect_key(Y, Y)]]
        cross = [raw[effect_key(X, Y)], raw[effect_key(Y, X)]]
        kw = {
            "n_clients": int(self.clients),
            "n_sessions": int(self.sessions),
            "ar": ar,
            "cross": cross,
            **_plain(_time_design(self.design)),
        }
        if "trend" in kw or "trend_sd" in kw:  # simulate()'s word for these trends
            kw["time"] = _time_word(kw.get("trend", (0.0, 0.0)), kw.get("trend_sd", 0.0))
        return kw

    @property
    def id(self) -> str:
        """Stable identity: a hash of the canonical simulation arguments (file name on disk).

        With standardised units, of the standardised effects as given (not of the raw values
        solved from them, whose last digits could differ between machines).
        """
        if self.units == "raw":  # (without "time": it restates trend/trend_sd)
            spec = {k: v for k, v in self.simulate_kwargs().items() if k != "time"}
        else:  # the inputs, not the raw values solved from them (the last bits may differ)
            spec = {"n_clients": int(self.clients), "n_sessions": int(self.sessions),
                    "standardized": _plain(self.effects), **_plain(_time_design(self.design))}  # fmt: skip
        text = json.dumps(spec, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def key(self) -> int:
        """The identity as an integer, for :class:`numpy.random.SeedSequence` spawn keys."""
        return int(self.id, 16)


@dataclass
class Design:
    """A grid of cells: clients x sessions x set effects x extra axes.

    Parameters
    ----------
    clients, sessions : sequence of int
        The sample sizes to compare.
    effects : dict, optional
        ``{effect key: value or list of values}``; a list makes that effect an axis of the grid.
        Unset effects keep :data:`DEFAULT_EFFECTS`.
    design : dict, optional
        Fixed :func:`~causalrel.simulate.simulate` arguments for every cell, e.g.
        ``{"mcar": 0.1, "dropout": 0.05, "reliability": 0.8, "n_therapists": 20}``.
    vary : dict, optional
        Extra axes: ``{simulate argument: list of values}``, e.g. ``{"mcar": [0, 0.2]}`` or
        ``{"time": ["none", "client"]}``.
    units : {"raw", "standardized"}
        Units of ``effects`` (and of the defaults of unset ones: the raw defaults are
        standardised first, so only the set effects change).
    """

    clients: Sequence[int]
    sessions: Sequence[int]
    effects: Mapping[str, float | Sequence[float]] = field(default_factory=dict)
    design: Mapping[str, Any] = field(default_factory=dict)
    vary: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    units: str = "raw"

    def __post_init__(self) -> None:
        if self.units not in UNITS:
            raise DataError(f"units must be 'raw' or 'standardized'; got {self.units!r}.")
        self.clients = _ints(self.clients, "clients", minimum=2)
        self.sessions = _ints(self.sessions, "sessions", minimum=2)
        effects: dict[str, list[float]] = {}
        for key, values in dict(self.effects).items():
            if key not in EFFECT_SLOTS:
                raise DataError(
                    f"Unknown effect {key!r}. Set one of: {', '.join(EFFECT_KEYS)} "
                    "(cause->outcome, cause at one session, outcome at the next)."
                )
            vals = list(values) if isinstance(values, (list, tuple)) else [values]
            try:
                effects[key] = [float(v) for v in vals]
            except (TypeError, ValueError):
                raise DataError(f"Effect {key!r} needs numbers, got {values!r}.") from None
        self.effects = effects
        for name in list(self.design) + list(self.vary):
            if name in _RESERVED:
                raise DataError(
                    f"The design cannot set simulate()'s {name!r}: use clients=, sessions= "
                    "and effects= for those."
                )
            if name not in _SIM_DEFAULTS and name != "time":
                raise DataError(
                    f"Unknown design argument {name!r}. simulate() takes: "
                    + ", ".join(sorted((set(_SIM_DEFAULTS) - _RESERVED) | {"time"}))
                    + "."
                )
        self.design = dict(self.design)
        self.vary = {k: list(v) for k, v in dict(self.vary).items()}

    def cells(self) -> list[Cell]:
        """Every cell, in grid order (effect settings, extra axes, sessions, clients)."""
        keys = list(self.effects)
        settings = list(itertools.product(*(self.effects[k] for k in keys)))
        axes = list(self.vary)
        extra = list(itertools.product(*(self.vary[a] for a in axes)))
        out = []
        std = self.units == "standardized"
        for values in settings:
            label = ", ".join(f"{k}={v:g}" for k, v in zip(keys, values, strict=True))
            label = label + " (standardized)" if std and label else label
            for ex in extra:
                varied = dict(zip(axes, ex, strict=True))
                design = self.design | varied
                base = standardized_effects(DEFAULT_EFFECTS, design) if std else DEFAULT_EFFECTS
                effects = dict(base) | dict(zip(keys, values, strict=True))
                for t in self.sessions:
                    for n in self.clients:
                        out.append(
                            Cell(n, t, effects, design, label or "defaults", varied, self.units)
                        )
        for c in out:  # fail now, not in a worker, if simulate() rejects the design
            try:
                simulate(**(c.simulate_kwargs() | {"n_clients": 2, "n_sessions": 2}), seed=0)
            except (ValueError, TypeError) as exc:
                raise DataError(
                    f"The design {c.setting} {c.varied or ''} is invalid: {exc}"
                ) from exc
        return out

    @property
    def set_effects(self) -> list[str]:
        """The effect keys the design sets (the ones a power answer is about)."""
        return list(self.effects) or [effect_key(X, Y), effect_key(Y, X)]


def parse_effect(text: str) -> tuple[str, list[float]]:
    """Parse ``'alliance->symptoms=-0.2'`` or ``'alliance->symptoms=0,-0.1,-0.2'``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or key not in EFFECT_SLOTS:
        raise DataError(
            f"--effect takes KEY=VALUE[,VALUE...] with KEY one of {', '.join(EFFECT_KEYS)}; "
            f"got {text!r}."
        )
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        raise DataError(f"--effect {key} needs numbers after '=', got {raw!r}.") from None
    return key, values


def resolve_families(
    families: str | Iterable[str] | Mapping[str, Mapping[str, Any]],
) -> dict[str, tuple[str, dict[str, Any]]]:
    """``label -> (registered family, options)``; options are checked against the family.

    ``families`` is a name, a list of names, or ``{label: options}``, where ``label`` is a
    registered family or ``options`` holds ``"model": family`` (to compare one family under
    two settings, e.g. ``{"fe": {}, "fe_time": {"model": "fe", "time_effects": True}}``).
    """
    if isinstance(families, str):
        families = [f.strip() for f in families.split(",") if f.strip()]
    if not isinstance(families, Mapping):
        families = {name: {} for name in families}
    if not families:
        raise DataError("Give at least one model family, e.g. families=['riclpm', 'fe'].")
    out = {}
    for label, options in families.items():
        opts = dict(options or {})
        name = opts.pop("model", label)
        if name not in FAMILIES:
            raise DataError(f"Unknown model '{name}'. Choose from: {', '.join(FAMILIES)}.")
        cls = get_model_class(name)
        valid = (_keyword_names(cls.__init__) | _keyword_names(cls.fit)) - {"self", "panel"}
        bad = sorted(set(opts) - valid)
        if bad:
            raise DataError(
                f"Option(s) {', '.join(bad)} do not apply to model '{name}'. Its options: "
                + (", ".join(sorted(valid)) or "none")
                + "."
            )
        out[str(label)] = (name, opts)
    return out


def _ints(values: Any, what: str, minimum: int) -> list[int]:
    if isinstance(values, (int, str)):
        values = [values]
    try:
        out = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise DataError(f"{what} must be whole numbers, got {values!r}.") from None
    if not out or out[0] < minimum:
        raise DataError(f"{what} must be at least {minimum}, got {values!r}.")
    return out


def _plain(obj: Any) -> Any:
    """Tuples to lists and numpy scalars to Python, so JSON (the cell identity) is canonical."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item"):
        return obj.item()
    return obj
