"""Results of the panel families: the contract's :class:`ModelResults` plus each equation's fit.

``PanelResults.engine`` keeps, per outcome, the estimator's own result (linearmodels'
``PanelEffectsResults`` for fixed effects; an :class:`~causalrel.panel.dynamic.EquationGMM`,
which holds linearmodels' IV/GMM result, for the dynamic panel), for users who want every
detail (``equations`` is its deprecated old name). It is not part of ``to_dict()``, which keeps
the contract's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..results import ModelResults, warn_renamed

__all__ = ["PanelResults", "param_rows"]


@dataclass
class PanelResults(ModelResults):
    """:class:`~causalrel.results.ModelResults` with the per-equation fits in ``engine``
    (``{outcome: result}``)."""

    @property
    def equations(self) -> dict[str, Any]:
        """Deprecated: the per-equation fits are :attr:`engine` (one name across families)."""
        warn_renamed("PanelResults.equations", "PanelResults.engine")
        return self.engine


def param_rows(
    outcome: str, names: list[str], est: np.ndarray, se: np.ndarray, level: float = 0.95
) -> list[dict]:
    """Rows of the parameter table (lavaan's columns, :data:`causalrel.results.PARAM_COLUMNS`):
    ``lhs=outcome, op="~", rhs=regressor`` with Wald tests and ``level`` intervals."""
    z = stats.norm.ppf(0.5 + level / 2)
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
