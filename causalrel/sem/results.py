"""SEMResults: the results contract plus what an SEM has on top.

``to_dict()`` keeps the contract's shape (lavaan-style ``params`` with ``std.all``). On top:
the model syntax (paste it into ``lavaan::lavaan(..., missing = "ml", meanstructure = TRUE,
int.ov.free = TRUE, fixed.x = FALSE)`` -- with ``group = "<group>"`` and ``group.equal`` for a
multiple-group fit -- to reproduce the fit in R), the waves, the groups, the
standardized solution, the covariance matrix of the estimates, and a path diagram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..results import ModelResults, warn_renamed

__all__ = ["SEMResults"]


@dataclass
class SEMResults(ModelResults):
    """Results of a CLPM / RI-CLPM / DPML fit (see :class:`~causalrel.results.ModelResults`).

    Extra attributes
    ----------------
    syntax : str
        The lavaan model syntax that was fitted.
    waves : list of int
        The session numbers used as waves.
    engine : SEMFit
        The engine's raw fit (parameter vector, covariance matrix, patterns, H1 moments);
        ``sem`` is its deprecated old name.
    group : str or None
        The column that defines the groups of a multiple-group fit.
    group_labels : list
        The groups' values, in the order of the ``group`` numbers in ``params``.
    group_equal : list of str
        Parameter types held equal across groups (lavaan's ``group.equal``).
    """

    syntax: str = ""
    waves: list[int] = field(default_factory=list)
    group: str | None = None
    group_labels: list = field(default_factory=list)
    group_equal: list = field(default_factory=list)

    @property
    def sem(self) -> Any:
        """Deprecated: the engine's fit is :attr:`engine` (one name across families)."""
        warn_renamed("SEMResults.sem", "SEMResults.engine")
        return self.engine

    @property
    def standardized(self) -> pd.DataFrame:
        """lavaan's ``standardizedSolution()`` point estimates (``std.all``)."""
        return self.params[["lhs", "op", "rhs", "std.all"]]

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the free parameters, labelled ``lhs op rhs`` (first row)."""
        rows = self.engine.partable.free_rows()
        multi = self.engine.n_groups > 1
        names = [
            (f"{r.lhs}{r.op}{r.rhs}" + (f".g{r.group}" if multi else ""))
            if not r.label
            else r.label
            for r in rows.itertuples(index=False)
        ]
        return pd.DataFrame(self.engine.vcov, index=names, columns=names)

    def summary(self) -> str:
        text = super().summary()
        p = self.params
        rows = p[p["op"].isin(["~", "~~"])]
        cols = ["lhs", "op", "rhs", "est", "se", "pvalue", "std.all"]
        if "group" in p:
            cols.insert(3, "group")
        return (
            text
            + "\n\nparameters (regressions and covariances):\n"
            + rows[cols].round(4).to_string(index=False)
        )

    def plot(self, ax=None, wave_gap: float = 1.6, group: int = 1):
        """Draw the path diagram of the within part: lagged effects with their estimates.

        Returns the matplotlib Axes. Solid arrows are significant at the 5% level. For a
        multiple-group fit, ``group`` (1-based, the ``group`` column of ``params``) chooses the
        group drawn.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(1.8 + wave_gap * len(self.waves), 3.2))
        p = self.params
        lags = p[p["op"] == "~"]
        title = f"{self.model}: lagged effects (x = upper row, y = lower row)"
        if "group" in p:
            lags = lags[lags["group"] == group]
            title += f", {self.group} = {self.group_labels[group - 1]}"
        pre = "w" if self.model == "riclpm" else ""
        pos = {}
        for i, s in enumerate(self.waves):
            pos[f"{pre}x{s}"] = (i * wave_gap, 1.0)
            pos[f"{pre}y{s}"] = (i * wave_gap, 0.0)
        for name, (x, y) in pos.items():
            ax.text(
                x,
                y,
                name,
                ha="center",
                va="center",
                bbox=dict(boxstyle="round" if pre else "square", fc="white"),
            )
        for r in lags.itertuples(index=False):
            if r.lhs not in pos or r.rhs not in pos:
                continue
            (x0, y0), (x1, y1) = pos[r.rhs], pos[r.lhs]
            sig = np.isfinite(r.pvalue) and r.pvalue < 0.05
            ax.annotate(
                "",
                xy=(x1 - 0.25, y1),
                xytext=(x0 + 0.25, y0),
                arrowprops=dict(
                    arrowstyle="->", ls="-" if sig else "--", color="black" if sig else "grey"
                ),
            )
            ax.text(
                x0 + 0.5 * (x1 - x0),
                y0 + 0.5 * (y1 - y0) + (0.08 if y0 == y1 else 0),
                f"{r.est:.2f}",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xlim(-0.6, wave_gap * (len(self.waves) - 1) + 0.6)
        ax.set_ylim(-0.5, 1.5)
        ax.axis("off")
        ax.set_title(title)
        return ax
