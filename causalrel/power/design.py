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
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..data import DataError
from ..families import FAMILIES, _keyword_names, get_model_class
from ..results import effect_key
from ..simulate import simulate

__all__ = [
    "EFFECT_KEYS",
    "DEFAULT_EFFECTS",
    "Cell",
    "Design",
    "parse_effect",
    "resolve_families",
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
    """

    clients: int
    sessions: int
    effects: dict[str, float]
    design: dict[str, Any] = field(default_factory=dict)
    setting: str = ""
    varied: dict[str, Any] = field(default_factory=dict)

    def simulate_kwargs(self) -> dict[str, Any]:
        """The arguments of :func:`~causalrel.simulate.simulate` for this cell (no seed)."""
        ar = [self.effects[effect_key(X, X)], self.effects[effect_key(Y, Y)]]
        cross = [self.effects[effect_key(X, Y)], self.effects[effect_key(Y, X)]]
        return {
            "n_clients": int(self.clients),
            "n_sessions": int(self.sessions),
            "ar": ar,
            "cross": cross,
            **_plain(self.design),
        }

    @property
    def id(self) -> str:
        """Stable identity: a hash of the canonical simulation arguments (file name on disk)."""
        text = json.dumps(self.simulate_kwargs(), sort_keys=True)
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
        Extra axes: ``{simulate argument: list of values}``, e.g. ``{"mcar": [0, 0.2]}``.
    """

    clients: Sequence[int]
    sessions: Sequence[int]
    effects: Mapping[str, float | Sequence[float]] = field(default_factory=dict)
    design: Mapping[str, Any] = field(default_factory=dict)
    vary: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
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
            if name not in _SIM_DEFAULTS:
                raise DataError(
                    f"Unknown design argument {name!r}. simulate() takes: "
                    + ", ".join(sorted(set(_SIM_DEFAULTS) - _RESERVED))
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
        for values in settings:
            effects = dict(DEFAULT_EFFECTS) | dict(zip(keys, values, strict=True))
            label = ", ".join(f"{k}={v:g}" for k, v in zip(keys, values, strict=True))
            for ex in extra:
                varied = dict(zip(axes, ex, strict=True))
                for t in self.sessions:
                    for n in self.clients:
                        out.append(
                            Cell(n, t, effects, self.design | varied, label or "defaults", varied)
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
