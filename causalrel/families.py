"""The registry of model families: name -> model class, what each family is, one ``fit_model``.

Each family is a class ``Model(panel, **model_options)`` with ``fit(**fit_options)`` returning a
:class:`~causalrel.results.ModelResults`. The registry is one line per family (:data:`FAMILIES`);
everything else the command line and the report need is read from the class itself
(:func:`family_spec`), so adding a family means writing its module and adding one line here
(``CONTRIBUTING.md``).

What a family class says about itself (class attributes; :data:`REQUIRED` and :data:`OPTIONAL`):

- ``name``, ``summary`` (one line, for ``causalrel fit --help``), ``assumes`` and
  ``distrust_when`` (plain language, for the report), ``samples`` (runs an MCMC sampler:
  ``analyze --fast`` skips it), ``time_support`` (the ``time`` values it estimates);
- optionally ``analyze_options`` (the defaults ``analyze`` uses, e.g. sampler settings),
  ``fast_options`` (what ``analyze --fast`` uses instead), ``trend_options`` (how ``analyze``'s
  ``trend`` setting reaches it) and ``trend_check`` (``analyze`` refits it with
  ``time="client"`` as the trend-sensitivity check);
- its accepted options and their defaults are read from the signatures of ``__init__`` and
  ``fit`` (:func:`family_options`), never listed twice.

Why the descriptions live on the classes and are read by importing them: one place per family,
next to the code it describes. Importing a family module is cheap by design: the heavy engines
(PyMC, DoWhy) are imported inside the functions that use them, so describing every family costs
the light imports only (the test ``test_describing_families_imports_no_engine`` holds the
modules to that). Classes are still imported lazily, on first use, so that ``causalrel --help``
and the data layer import none of them.

Time, one option across families (``time=``; issue 13). What each value means in each family
that has it so far (``family_spec(name).time_support`` lists them; families without ``time``
have an empty tuple):

========  ==========================  ===============================  =======================
family    ``"none"``                  ``"common"``                     ``"client"``
========  ==========================  ===============================  =======================
clpm      one mean per variable       wave-specific means (default)    not identified here
riclpm    one mean per variable       wave-specific means (default)    LCM-SR: + latent slopes
dpml      one intercept from wave 2   wave-specific intercepts         + client trend factors
fe        client effects (default)    + session fixed effects          + client linear trends
dpd       differences only            + session effects (default)      GMM on differences
mlm       no session term (default)   fixed effect of session          + its random slope
dsem      stationary means            fixed trend of the latent means  + random latent trends (default)
========  ==========================  ===============================  =======================

fe and dpd with ``time="client"`` are the random-trend model (Wooldridge 2010 sec. 11.7):
client-specific trends partialled out of the rows used (fe) or differenced away (dpd: GMM on
first differences with instruments from t-3); ``causalrel.panel.design.PANEL_TIME`` says more.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from .data import DataError, SessionPanel
from .results import ModelResults

__all__ = [
    "FAMILIES",
    "REQUIRED",
    "OPTIONAL",
    "FamilySpec",
    "family_spec",
    "family_options",
    "accepts",
    "get_model_class",
    "fit_model",
    "check_time",
    "time_families",
]

#: name -> "module:Class", one line per family. The CLI's ``fit MODEL`` choices are these names.
FAMILIES: dict[str, str] = {
    "clpm": "causalrel.sem:CLPM",
    "riclpm": "causalrel.sem:RICLPM",
    "dpml": "causalrel.sem:DPML",
    "fe": "causalrel.panel:FixedEffects",
    "dpd": "causalrel.panel:DynamicPanel",
    "mlm": "causalrel.bayes:MLM",
    "dsem": "causalrel.bayes:DSEM",
    "dowhy": "causalrel.causal:CausalAnalysis",
}

#: Class attributes every family must have: name -> type.
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "summary": str,
    "assumes": str,
    "distrust_when": str,
    "samples": bool,
    "time_support": tuple,
}

#: Class attributes a family may have, with the value assumed when it has not.
OPTIONAL: dict[str, Any] = {
    "between_meaning": "",
    "analyze_options": {},
    "fast_options": {},
    "trend_options": {},
    "trend_check": False,
}

_TIME_VALUES = ("none", "common", "client")


@dataclass(frozen=True)
class FamilySpec:
    """What one family says about itself (its class attributes; see the module docstring)."""

    name: str
    summary: str
    assumes: str
    distrust_when: str
    samples: bool
    time_support: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    analyze_options: dict[str, Any] = field(default_factory=dict)
    fast_options: dict[str, Any] = field(default_factory=dict)
    trend_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    trend_check: bool = False
    #: what the family's between-client number (``effects["between"]["x~y"]``) is, in words
    #: ("" when it reports none); the report labels it so that unlike numbers are not compared
    between_meaning: str = ""


#: What a lenient read (``strict=False``) puts where a class says nothing.
_UNDESCRIBED: dict[str, Any] = {
    "summary": "(no description)",
    "assumes": "(no note for this family)",
    "distrust_when": "(no note)",
    "samples": False,
    "time_support": (),
}


def family_spec(name: str, *, strict: bool = True) -> FamilySpec:
    """What family ``name`` says about itself, read from its class.

    Parameters
    ----------
    name : str
        A registered family.
    strict : bool
        Raise on a missing or mistyped attribute (default). ``False`` fills in placeholders
        instead, for output that must not fail on an undescribed (e.g. a user's) family.

    Raises
    ------
    DataError
        For an unknown name.
    TypeError
        With ``strict``, when the class lacks a required attribute or has one of the wrong type
        (a family written without following ``CONTRIBUTING.md``).
    """
    cls = get_model_class(name)
    values: dict[str, Any] = {}
    for attr, kind in REQUIRED.items():
        value = getattr(cls, attr, None)
        if not isinstance(value, kind):
            if strict:
                raise TypeError(
                    f"Family '{name}' ({cls.__module__}.{cls.__qualname__}) needs a class "
                    f"attribute '{attr}' of type {getattr(kind, '__name__', kind)}; see "
                    "CONTRIBUTING.md."
                )
            value = name if attr == "name" else _UNDESCRIBED[attr]
        values[attr] = value
    if strict and values["name"] != name:
        raise TypeError(f"Family registered as '{name}' calls itself '{values['name']}'.")
    values["name"] = name
    for attr, default in OPTIONAL.items():
        values[attr] = getattr(cls, attr, default)
    return FamilySpec(options=family_options(name), **values)


def family_options(name: str) -> dict[str, Any]:
    """Every option family ``name`` accepts, with its default (``inspect.Parameter.empty``
    where it has none), from the signatures of its ``__init__`` and ``fit``."""
    cls = get_model_class(name)
    out: dict[str, Any] = {}
    for func in (cls.__init__, cls.fit):
        for p in inspect.signature(func).parameters.values():
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in (
                "self",
                "panel",
            ):
                out[p.name] = p.default
    return out


def time_families(value: str) -> list[str]:
    """The families that can estimate ``time=value``."""
    return [f for f in FAMILIES if value in family_spec(f).time_support]


def check_time(family: str, value: str) -> str:
    """``value`` if family ``family`` supports ``time=value``, else a :class:`DataError`.

    The error names the values the family supports and the families that support ``value``.
    """
    if value not in _TIME_VALUES:
        raise DataError(f"time must be one of {', '.join(map(repr, _TIME_VALUES))}; got {value!r}.")
    supported = family_spec(family).time_support if family in FAMILIES else ()
    if value not in supported:
        own = (
            f"'{family}' supports time = {', '.join(map(repr, supported))}"
            if supported
            else f"'{family}' has no time option yet"
        )
        raise DataError(
            f"time={value!r} is not available for model '{family}' ({own}). "
            f"Families that can fit time={value!r}: "
            f"{', '.join(time_families(value))}."
        )
    return value


def get_model_class(name: str) -> type:
    """The model class registered under ``name``."""
    if name not in FAMILIES:
        raise DataError(f"Unknown model '{name}'. Choose one of: {', '.join(FAMILIES)}.")
    module, cls = FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def fit_model(name: str, panel: SessionPanel, **options: Any) -> ModelResults:
    """Build and fit family ``name``; options go to the constructor or ``fit`` by their name.

    An option neither accepts raises a :class:`DataError` naming the options that do apply.
    """
    if "time" in options and name in FAMILIES:  # before fitting: a clear error, no wasted work
        check_time(name, options["time"])
    cls = get_model_class(name)
    init_names = _keyword_names(cls.__init__)
    fit_names = _keyword_names(cls.fit)
    init_opts, fit_opts = {}, {}
    for key, value in options.items():
        if key in init_names:
            init_opts[key] = value
        elif key in fit_names:
            fit_opts[key] = value
        else:
            valid = sorted((init_names | fit_names) - {"self", "panel"})
            others = [f for f in FAMILIES if f != name and accepts(f, key)]
            raise DataError(
                f"Option '{key}' does not apply to model '{name}'. Its options: "
                + (", ".join(valid) or "none")
                + "."
                + (f" Families that take '{key}': {', '.join(others)}." if others else "")
            )
    return cls(panel, **init_opts).fit(**fit_opts)


def accepts(name: str, option: str) -> bool:
    """Whether family ``name`` takes ``option`` (in its constructor or its ``fit``)."""
    return option in family_options(name)


def _keyword_names(func: Any) -> set[str]:
    params = inspect.signature(func).parameters.values()
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
