"""The registry of model families: name -> model class, and one generic ``fit_model``.

Each family is a class ``Model(panel, **model_options)`` with ``fit(**fit_options)`` returning a
:class:`~causalrel.results.ModelResults`. Classes are imported lazily so that ``causalrel --help``
and the data layer stay fast (PyMC takes seconds to import).

Time, one option across families (``time=``; issue 13). What each value means in each family
that has it so far (families not listed have no ``time`` option yet):

========  ==========================  ===============================  =======================
family    ``"none"``                  ``"common"``                     ``"client"``
========  ==========================  ===============================  =======================
clpm      one mean per variable       wave-specific means (default)    not identified here
riclpm    one mean per variable       wave-specific means (default)    LCM-SR: + latent slopes
dpml      one intercept from wave 2   wave-specific intercepts         + client trend factors
fe        client effects (default)    + session fixed effects          + client linear trends
dpd       differences only            + session effects (default)      GMM on differences
mlm       no session term (default)   fixed effect of session          + its random slope
dsem      stationary means (default)  fixed trend of the latent means  + random latent trends
========  ==========================  ===============================  =======================

fe and dpd with ``time="client"`` are the random-trend model (Wooldridge 2010 sec. 11.7):
client-specific trends partialled out of the rows used (fe) or differenced away (dpd: GMM on
first differences with instruments from t-3); ``causalrel.panel.design.PANEL_TIME`` says more.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from .data import DataError, SessionPanel
from .results import ModelResults

__all__ = [
    "FAMILIES",
    "FAMILY_HELP",
    "TIME_SUPPORT",
    "accepts",
    "get_model_class",
    "fit_model",
    "check_time",
    "time_families",
]

#: name -> "module:Class". The CLI's ``fit MODEL`` choices are these names.
FAMILIES: dict[str, str] = {
    "clpm": "causalrel.sem:CLPM",
    "riclpm": "causalrel.sem:RICLPM",
    "dpml": "causalrel.sem:DPML",
    "fe": "causalrel.panel:FixedEffects",
    "dpd": "causalrel.panel:DynamicPanel",
    "mlm": "causalrel.bayes:MLM",
    "dsem": "causalrel.bayes:DSEM",
}

#: One line per family: what it is, for ``causalrel fit --help``.
FAMILY_HELP: dict[str, str] = {
    "clpm": "cross-lagged panel model (SEM); mixes between- and within-client differences",
    "riclpm": "random-intercept CLPM (SEM): lagged effects within clients, stable traits apart",
    "dpml": "dynamic panel model by ML (SEM): lagged outcome with client effects (Allison)",
    "fe": "fixed-effects regression on lagged values (within-client; short-panel bias)",
    "dpd": "dynamic-panel GMM (Arellano-Bond), as R's plm::pgmm",
    "mlm": "Bayesian multilevel model of person-mean-centred lags (PyMC)",
    "dsem": "Bayesian dynamic SEM: latent means, random lags per client (PyMC)",
}


#: family -> the ``time`` values it estimates (see the table in the module docstring).
TIME_SUPPORT: dict[str, tuple[str, ...]] = {
    "clpm": ("none", "common"),
    "riclpm": ("none", "common", "client"),
    "dpml": ("none", "common", "client"),
    "fe": ("none", "common", "client"),
    "dpd": ("none", "common", "client"),
    "mlm": ("none", "common", "client"),
    "dsem": ("none", "common", "client"),
}

_TIME_VALUES = ("none", "common", "client")


def time_families(value: str) -> list[str]:
    """The families that can estimate ``time=value``."""
    return [f for f, values in TIME_SUPPORT.items() if value in values]


def check_time(family: str, value: str) -> str:
    """``value`` if family ``family`` supports ``time=value``, else a :class:`DataError`.

    The error names the values the family supports and the families that support ``value``.
    """
    if value not in _TIME_VALUES:
        raise DataError(f"time must be one of {', '.join(map(repr, _TIME_VALUES))}; got {value!r}.")
    supported = TIME_SUPPORT.get(family, ())
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
    if "time" in options and name in FAMILIES:  # before importing the family (PyMC is slow)
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
            raise DataError(
                f"Option '{key}' does not apply to model '{name}'. Its options: "
                + (", ".join(valid) or "none")
                + "."
            )
    return cls(panel, **init_opts).fit(**fit_opts)


def accepts(name: str, option: str) -> bool:
    """Whether family ``name`` takes ``option`` (in its constructor or its ``fit``)."""
    cls = get_model_class(name)
    return option in _keyword_names(cls.__init__) | _keyword_names(cls.fit)


def _keyword_names(func: Any) -> set[str]:
    params = inspect.signature(func).parameters.values()
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
