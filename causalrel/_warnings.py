"""Named filters for the third-party warnings causalrel expects and accounts for itself.

Each filter set names a category, the library that raises it and, where the library's warning
is a generic class, its message. None matches causalrel's own :class:`~causalrel.data.DataWarning`
or :class:`~causalrel.results.ConvergenceWarning`, so a problem the package reports is never
swallowed by the quieting of a library's chatter (which blanket ``simplefilter("ignore")``
blocks did). ``module`` is a regular expression matched against the module the warning is
attributed to.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: (category, module regex, message regex) triples
Filter = tuple[type[Warning], str, str]

#: ArviZ's R-hat/ESS/BFMI on few chains or draws: 0/0 and "Shape validation failed"
ARVIZ_DIAGNOSTICS: tuple[Filter, ...] = (
    (RuntimeWarning, "arviz", ""),
    (UserWarning, "arviz", "Shape validation failed"),
)
#: PSIS-LOO and WAIC notices; the high Pareto k values are counted by the caller
ARVIZ_LOO: tuple[Filter, ...] = (
    *ARVIZ_DIAGNOSTICS,
    (UserWarning, "arviz", "Estimated shape parameter of Pareto"),
    (UserWarning, "arviz", "For one or more samples the posterior variance"),
)
#: PyMC/ArviZ/xarray notices while adding groups or log-likelihoods to an InferenceData
INFERENCEDATA: tuple[Filter, ...] = (
    *ARVIZ_DIAGNOSTICS,
    (UserWarning, "(arviz|xarray|pymc)", ""),
    (FutureWarning, "(arviz|xarray|pymc)", ""),
    (DeprecationWarning, "(arviz|xarray|pymc)", ""),
)
#: DoWhy: "N variables are assumed unobserved" (by design: the graph has latent nodes) and the
#: pandas/numpy deprecation and division notices raised inside DoWhy's own code
DOWHY: tuple[Filter, ...] = (
    (UserWarning, "dowhy", r"\d+ variables are assumed unobserved"),
    (DeprecationWarning, "dowhy", ""),
    (FutureWarning, "dowhy", ""),
    (RuntimeWarning, "dowhy", ""),
    # DoWhy's regression estimator builds statsmodels' OLS summary, whose omnibus normality
    # test (scipy's kurtosistest) warns below 20 rows; the summary is never shown.
    (UserWarning, "scipy", r"`kurtosistest` p-value may be inaccurate"),
)


@contextmanager
def ignoring(*filters: Filter) -> Iterator[None]:
    """Within the block, ignore exactly the warnings the named ``filters`` match."""
    with warnings.catch_warnings():
        for category, module, message in filters:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        yield
