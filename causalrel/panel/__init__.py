"""Fixed-effects and dynamic-panel estimators of within-client lagged effects (linearmodels).

* :class:`FixedEffects` (``fe``): the cross-lagged within model on ``PanelOLS``.
* :class:`DynamicPanel` (``dpd``): Anderson–Hsiao IV and Arellano–Bond difference GMM on
  ``IV2SLS``/``IVGMM``, with instrument matrices, Windmeijer SEs and the Hansen/Sargan and AR
  tests built here (linearmodels has no Arellano–Bond estimator).
"""

from .dynamic import DynamicPanel
from .fixed_effects import FixedEffects
from .results import PanelResults

__all__ = ["FixedEffects", "DynamicPanel", "PanelResults"]
