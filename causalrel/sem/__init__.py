"""Cross-lagged panel models by maximum likelihood with FIML: CLPM, RI-CLPM and DPML.

A small SEM engine for this model family, built like lavaan (one parameter table drives
everything) and checked against lavaan 0.6 (``tests/reference/lavaan_*.R``):

- :mod:`.partable`  lavaan model syntax -> parameter table (labels = equality constraints)
- :mod:`.matrices`  parameter table -> RAM matrices, implied moments, exact derivatives
- :mod:`.fiml`      FIML over missingness patterns, exact gradient and Hessian, EM for H1
- :mod:`.estimate`  start values, Newton trust-region optimiser, observed/expected information
- :mod:`.fitmeasures` chisq, cfi, tli, rmsea (+90% CI), srmr, loglik, aic, bic as lavaan
- :mod:`.syntax`    the models' lavaan syntax (CLPM, RI-CLPM, LCM-SR, DPML)
- :mod:`.models`    CLPM, RICLPM, DPML on a :class:`~causalrel.data.SessionPanel`
- :mod:`.compare`   nested-model tests, chi-bar-square for CLPM vs RI-CLPM, Wald test of
  equality across groups (Satorra-Bentler scaled difference under MLR)
- :mod:`.robust`    ``estimator="mlr"``: sandwich SEs, cluster-robust SEs (``cluster=``),
  Yuan-Bentler scaled chi-square, robust CFI/TLI/RMSEA, as lavaan's MLR
- :mod:`.defined`   defined parameters (``:=``) with delta-method SEs
- :mod:`.bootstrap` nonparametric bootstrap over clients (or clusters), percentile/BCa

Multiple groups (e.g. treatment arms) as lavaan's ``group=`` / ``group.equal``: the parameter
table has lavaan's ``group`` and ``block`` columns, each group has its own model matrices and
missingness patterns, and the log-likelihood is the sum over groups.

Why not a library: the only Python SEM package (semopy) returns near-zero estimates under
FIML for this model while reporting success and its fit statistics crash on it.
"""

from .compare import (
    NestedTest,
    WaldTest,
    chibar_weights_psd2,
    compare_nested,
    compare_slopes,
    wald_equal_across_groups,
)
from .estimate import HeywoodWarning, SEMFit, fit_partable
from .fitmeasures import fit_measures
from .models import CLPM, DPML, RICLPM, default_waves
from .partable import ParTable, parse_model
from .results import SEMResults
from .syntax import clpm_syntax, dpml_syntax, lcmsr_syntax, per_group_labels, riclpm_syntax

__all__ = [
    "CLPM",
    "RICLPM",
    "DPML",
    "SEMResults",
    "compare_nested",
    "compare_slopes",
    "NestedTest",
    "WaldTest",
    "wald_equal_across_groups",
    "per_group_labels",
    "chibar_weights_psd2",
    "fit_partable",
    "fit_measures",
    "SEMFit",
    "HeywoodWarning",
    "ParTable",
    "parse_model",
    "riclpm_syntax",
    "clpm_syntax",
    "dpml_syntax",
    "lcmsr_syntax",
    "default_waves",
]
