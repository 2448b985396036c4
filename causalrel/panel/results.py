"""Results of the panel families: the contract's :class:`ModelResults` plus each equation's fit.

``PanelResults.equations`` keeps, per outcome, the estimator's own result (linearmodels'
``PanelEffectsResults`` for fixed effects; an :class:`~causalrel.panel.gmm.EquationGMM`, which
holds linearmodels' IV/GMM result, for the dynamic panel), for users who want every detail.
It is not part of ``to_dict()``, which keeps the contract's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ..results import ModelResults

__all__ = ["PanelResults", "param_rows"]


@dataclass
class PanelResults(ModelResults):
    """:class:`~causalrel.results.ModelResults` with the per-equation fits in ``equations``."""

    equations: dict[str, Any] = field(default_factory=dict, repr=False)


def param_rows(outcome: str, names: list[str], est: np.ndarray, se: np.ndarray) -> list[dict]:
    """Rows of the parameter table (lavaan's columns): ``outcome ~ regressor`` with Wald tests."""
    z = stats.norm.ppf(0.975)
    rows = []
    for name, b, s in zip(names, np.asarray(est, float), np.asarray(se, float), strict=True):
        zval = b / s if s > 0 else float("nan")
        rows.append(
            {
                "lhs": outcome,
                "op": "~",
                "rhs": name,
                "est": float(b),
                "se": float(s),
                "z": float(zval),
                "pvalue": float(2 * stats.norm.sf(abs(zval))),
                "ci.lower": float(b - z * s),
                "ci.upper": float(b + z * s),
            }
        )
    return rows
