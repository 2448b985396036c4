"""causalrel: does the therapeutic alliance cause symptom improvement?

Fits models that separate within-client from between-client effects to session-by-session
data and puts their answers side by side. Start with :func:`load_panel`, then
:func:`fit_model` (or a family's class directly), then :func:`compare`;
:func:`power` plans a study (Monte Carlo power over a design grid).
"""

from . import power  # callable: causalrel.power(...) plans a study; issue 18)
from .data import DataError, DataWarning, SessionPanel, load_panel
from .families import FAMILIES, fit_model
from .results import ConvergenceWarning, Effect, ModelResults, compare

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DataWarning",
    "SessionPanel",
    "load_panel",
    "FAMILIES",
    "fit_model",
    "ConvergenceWarning",
    "Effect",
    "ModelResults",
    "compare",
    "power",
    "__version__",
]
