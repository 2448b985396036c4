"""BayesResults: the results contract plus the posterior (ArviZ ``InferenceData``) and plots.

``to_dict()`` keeps the contract's shape; the extra Python-side attributes are ``idata`` (also
``engine``, the name every family's results share for the underlying engine result: the
draws of the parameters the results use, as float32, sample statistics and posterior
predictive replicates; ``fit(keep_draws=True)`` keeps every sampled variable and the
pointwise log-likelihoods as float64), ``clients`` (each client's posterior random effects in
raw units, for "for whom does the alliance matter?"), ``imputed`` (the DSEM's latent cells,
summarised) and ``priors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..results import ModelResults

__all__ = ["BayesResults"]


@dataclass
class BayesResults(ModelResults):
    """Results of a Bayesian family (``mlm``, ``dsem``).

    Attributes (beyond :class:`~causalrel.results.ModelResults`)
    ----------------------------------------------------------
    idata : arviz.InferenceData
        The posterior draws and sample statistics; with ``fit(ppc=True)`` also the groups
        ``posterior_predictive`` (one-step-ahead replicates, thinned draws) and
        ``observed_data``, one variable per outcome named by its column.
    clients : pandas.DataFrame
        One row per client and random effect: posterior mean, SD and 95% interval in raw units
        (columns ``client, effect, est, se, lower, upper``).
    priors : dict
        The priors used, by parameter class (defaults scaled to the data unless set).
    sampler : str
        The NUTS backend that drew the sample.
    draws : dict
        Posterior draws (raw units, chains pooled) of every within-client effect, by key: for
        intervals at other levels, e.g. ``np.quantile(res.draws["alliance->symptoms"], [.05, .95])``.
    imputed : pandas.DataFrame
        DSEM: each latent cell (a missing rating or a missed session's ratings), its posterior
        mean, SD and interval in raw units (columns ``client, session, variable, est, se,
        lower, upper``). Its draws are not kept in ``idata`` unless ``fit(keep_draws=True)``
        (they are most of the draws). Empty for the MLM.
    """

    idata: Any = field(default=None, repr=False)
    clients: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    priors: dict[str, Any] = field(default_factory=dict, repr=False)
    sampler: str = ""
    draws: dict[str, Any] = field(default_factory=dict, repr=False)
    imputed: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.engine is None:  # the contract's engine result: the same object as ``idata``
            self.engine = self.idata

    def interval(self, key: str, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval of within effect ``key`` at ``level``."""
        import numpy as np

        d = np.asarray(self.draws[key])
        lo, hi = np.quantile(d, [0.5 - level / 2, 0.5 + level / 2])
        return float(lo), float(hi)

    # -- plots (matplotlib; imported lazily) --------------------------------------------------
    def plot_forest(self, ax: Any = None):
        """Forest plot of the within-client effects and between-client parameters."""
        from .plots import forest_plot

        return forest_plot(self, ax=ax)

    def plot_caterpillar(self, effect: str | None = None, ax: Any = None):
        """Each client's posterior cross-lagged effect, sorted (default: x -> y)."""
        from .plots import caterpillar_plot

        return caterpillar_plot(self, effect=effect, ax=ax)

    def plot_trace(self, var_names: list[str] | None = None, kind: str = "rank_bars"):
        """Trace plot (``kind="trace"``) or rank plot (default) of the main parameters."""
        from .plots import trace_plot

        return trace_plot(self, var_names=var_names, kind=kind)

    def plot_ppc(self, var: str | None = None, ax: Any = None):
        """Replicated vs observed densities of an outcome (default: all; ``az.plot_ppc``)."""
        from .plots import ppc_plot

        return ppc_plot(self, var=var, ax=ax)
