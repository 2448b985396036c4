"""causalrel: does the therapeutic alliance cause symptom improvement?

Fits models that separate within-client from between-client effects to session-by-session
data and puts their answers side by side. Start with :func:`load_panel` (or :func:`simulate`
for data with a known truth) and :func:`describe`, then :func:`analyze` (every family, the
verdict and a report) or :func:`fit_model` (one family; or a family's class directly) and
:func:`compare`; :func:`power` plans a study (Monte Carlo power over a design grid).

The shape every family answers in is ``docs/results-contract.md``.
"""

from typing import Any

from . import power  # callable: causalrel.power(...) plans a study; issue 18)
from .data import DataError, DataWarning, SessionPanel, load_panel
from .decompose import describe
from .families import FAMILIES, family_spec, fit_model
from .results import ConvergenceWarning, Effect, ModelResults, compare
from .simulate import simulate  # the function; the module stays importable by its path

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DataWarning",
    "SessionPanel",
    "load_panel",
    "describe",
    "simulate",
    "analyze",
    "FAMILIES",
    "family_spec",
    "fit_model",
    "ConvergenceWarning",
    "Effect",
    "ModelResults",
    "compare",
    "power",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``causalrel.analyze`` on first use (the report machinery is not needed to fit)."""
    if name == "analyze":
        from .report import analyze

        return analyze
    raise AttributeError(f"module 'causalrel' has no attribute {name!r}")
