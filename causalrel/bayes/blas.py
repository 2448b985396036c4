"""PyTensor's BLAS link, settled once per process without a warning users cannot act on.

What: :func:`settle_blas` reads PyTensor's ``blas__ldflags`` once, before a Bayesian family
compiles anything, so that PyTensor decides its BLAS link (a user's ``PYTENSOR_FLAGS`` or
``.pytensorrc`` setting first, else its own search for a linkable BLAS) with its
"could not link to a BLAS installation ... severely degraded" warning silenced.

Why: numpy and scipy wheels bundle OpenBLAS under renamed symbols (``scipy_dgemm_``), which C
code cannot link against, so in a pip install PyTensor's search finds no BLAS and warns at the
first C compilation. The warning is not actionable for a causalrel user and, here, not true:

- sampling does not use PyTensor's C backend at all (nutpie compiles the model with numba);
- the posterior predictive check and the log-likelihood (compiled C functions) then use
  PyTensor's NumPy-C-API implementation of the BLAS calls, i.e. numpy's own OpenBLAS.

Measured with ``benchmarks/bench_blas.py`` (the MLM on ``data/sessions.csv``; figures in its
docstring): compiling those functions in PyTensor's NUMBA mode instead was slower for the
check and faster for the log-likelihood, no clear gain, so the C backend stays and only the
warning goes (the DSEM's check and log-likelihood are numpy code). An environment that has a
linkable BLAS (conda, or Debian's ``libopenblas-dev``) is still found and used; a user's own
setting always wins.
"""

from __future__ import annotations

import warnings

__all__ = ["settle_blas"]

_MESSAGE = "PyTensor could not link to a BLAS installation"
_settled = False


def settle_blas() -> str:
    """Decide PyTensor's BLAS flags once, quietly; return them ("" = numpy's BLAS via its C API).

    Called by both families' ``build()`` and by :func:`~causalrel.bayes.sampling.sample`, before
    anything compiles; calling it again costs nothing.
    """
    global _settled
    import pytensor

    if not _settled:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_MESSAGE, category=UserWarning)
            pytensor.config.blas__ldflags  # noqa: B018  (first read runs PyTensor's search)
        _settled = True
    return pytensor.config.blas__ldflags
