"""Bayesian multilevel families in PyMC: the person-mean-centred MLM and the latent-centred DSEM.

``MLM`` regresses next-session scores on person-mean-centred (within) and client-mean (between)
predictors with random intercepts and slopes; ``DSEM`` is a bivariate multilevel VAR(1) with
latent client means, random lagged effects and missing values imputed inside the model. Both
return :class:`BayesResults` (the results contract plus ArviZ ``InferenceData`` and plots) and
check convergence after every fit.
"""

from .dsem import DSEM
from .mlm import MLM
from .priors import Prior
from .results import BayesResults
from .sampling import available_samplers, default_sampler

__all__ = ["MLM", "DSEM", "Prior", "BayesResults", "available_samplers", "default_sampler"]
