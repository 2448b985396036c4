"""Compile a Bayesian model once per structure and reuse it with new data (issue 22).

What: :func:`compiled_model` returns nutpie's compiled model for a PyMC model, from a process-wide
cache keyed by the model's *structure* (family, options, prior families, and every size that is
baked into the compiled code: clients, grid slots, latent cells up to a padded bucket). A second
model with the same key gets the first one's compiled code with its own data swapped in through
nutpie's ``with_data``; only its first sampling pays numba's compilation.

When: only models built with ``reuse=True`` (``MLM(..., reuse=True)``, ``DSEM(...)``; what
``causalrel power`` and the validation scripts use) go through the structure cache. Shared
variables cost the first compilation (measured side by side, cold caches, same load: 685 s
with every array shared vs 499 s with constants for one 100 x 15 MLM), so a single fit keeps its
data as constants and its compiled model on the PyMC model object (a refit reuses it).

Why this works: the families put every data-dependent array (ratings, masks, index arrays,
data-scaled prior scales) in ``pm.Data`` containers, i.e. PyTensor shared variables. nutpie's
numba backend passes shared variables to the compiled log-density as arguments rather than
constants, so ``CompiledPyMCModel.with_data(name=value)`` evaluates the same compiled code on
new values; what must not change is the number of free parameters (the key holds it). The
initial-point function nutpie keeps reads the first model's data, so a reused compilation gets
one built from the new model (support points such as a data-scaled prior's location follow the
new data; no model is mutated). The same code on the same values with the same seed gives the same draws
as a fresh compile (tested in ``tests/test_bayes_compiled.py``).

Disk cache: nutpie's C callback cannot be cached on disk (numba: "uses dynamic globals"), but
PyTensor caches the numba functions it generates for the model's graph in
``<pytensor base_compiledir>/numba`` (``pytensor.config.base_compiledir``; set it with
``PYTENSOR_FLAGS=base_compiledir=...``). That cache is what makes a first fit in a new process
faster than the first fit ever; :func:`cache_info` reports its location and size, and
:func:`clear_cache` empties this process's cache and, with ``disk=True``, that directory (it is
rebuilt on demand; 7.3 MB after the MLM's first compilation here).

Measured on the shared 2-core machine under heavy load (load average 7-11 from other jobs, so
absolute times are several times an idle machine's; the ratios are the point), MLM and DSEM
on 60 clients x 8 sessions, 2 x 300 draws (``/tmp``-style check script, one process):

========  =========================  ==========================  ===========================
model     first fit: compile         second fit (other data)     fresh compile, same data
========  =========================  ==========================  ===========================
mlm       244.5 s (+5.7 s sampling)  1.2 s (+3.6 s sampling)     125.0 s; draws identical
dsem      874.3 s (+47.7 s)          12.5 s (+40.4 s)            (in the committed test)
========  =========================  ==========================  ===========================

DSEM 200 x 20, 10% missing, 4 x 1000 (``benchmarks/bench_bayes.py --part reuse``, load 10):
first fit 1603 s (784 s compiling, 706 s sampling). A second replication whose latent cells
fell in another padded bucket (784 vs 806 cells) compiled again, in 402 s: PyTensor's numba disk
cache halves a recompilation; ``benchmarks/results/bench_bayes_reuse.json``. A change of DSEM
priors reuses the compilation (priors are ``pm.Data``): 88 s against 1336 s for the first fit
(300 x 7, ``benchmarks/validate_bayes_trends.py``, load 3-8).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["compiled_model", "bucket", "cache_info", "clear_cache", "COMPILING", "REUSING"]

COMPILING = "compiling (first time for this shape)"
REUSING = "reusing compiled model"

#: Compiled structures kept per process (each holds its first model and compiled code, tens of
#: MB); the oldest is dropped beyond this.
MAX_STRUCTURES = 8

#: structure key -> (the PyMC model compiled first, its nutpie compiled model)
_CACHE: dict[Any, tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def bucket(n: int, *, minimum: int = 16, steps_per_doubling: int = 8) -> int:
    """The padded size for ``n`` latent parameters: the next point of a geometric grid.

    Sizes ``minimum * 2 ** (k / steps_per_doubling)`` rounded up (at most 9% padding with the
    defaults), so that panels whose number of missing cells differs a little (as replications
    of one design do) share one compiled model. ``0`` stays ``0``.
    """
    if n <= 0:
        return 0
    if n <= minimum:
        return minimum
    k = int(np.ceil(steps_per_doubling * np.log2(n / minimum) - 1e-9))
    return int(np.ceil(minimum * 2 ** (k / steps_per_doubling)))


def _say(text: str, progress: bool) -> None:
    if progress:
        print(f"causalrel: {text}", file=sys.stderr, flush=True)


def compiled_model(
    model: Any, key: Any, *, label: str = "model", progress: bool = True
) -> tuple[Any, bool]:
    """nutpie's compiled ``model``, compiled once per ``key`` in this process.

    Parameters
    ----------
    model : pymc.Model
        The model to sample; its data live in ``pm.Data`` containers named alike across models
        of one key.
    key : hashable or None
        The structure key (see the module docstring); ``None`` (a model not built for reuse)
        compiles once per model object, so a refit of the same model reuses it.
    label : str
        Name shown in the progress text.
    progress : bool
        Print "compiling (first time for this shape)" or "reusing compiled model" to stderr.

    Returns
    -------
    compiled : nutpie.compiled_pymc.CompiledPyMCModel
    reused : bool
        Whether a cached compilation was reused.
    """
    import nutpie

    if key is None:  # not built for reuse: compiled once per model object, kept on it
        compiled = getattr(model, "_causalrel_nutpie", None)
        if compiled is not None:
            _say(f"{label}: {REUSING}", progress)
            return compiled, True
        _say(f"{label}: {COMPILING}", progress)
        compiled = nutpie.compile_pymc_model(model)
        model._causalrel_nutpie = compiled
        return compiled, False
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is None:
            _say(f"{label}: {COMPILING}", progress)
            compiled = nutpie.compile_pymc_model(model)
            while len(_CACHE) >= MAX_STRUCTURES:  # oldest first: dicts keep insertion order
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = (model, compiled)
            return compiled, False
        first, compiled = hit
        if first is model:
            _say(f"{label}: {REUSING}", progress)
            return compiled, True
        data = _data_of(model)
        missing = set(compiled.shared_data) - set(data)
        if missing:  # a structure key that does not determine the shared data: compile afresh
            _say(f"{label}: {COMPILING}", progress)
            compiled = nutpie.compile_pymc_model(model)
            return compiled, False
        _say(f"{label}: {REUSING}", progress)
        fresh = compiled.with_data(**{n: data[n] for n in compiled.shared_data})
        return dataclasses.replace(fresh, initial_point_func=_initial_point(model, compiled)), True


def _initial_point(model: Any, compiled: Any) -> Any:
    """nutpie's initial-point function, for ``model`` (the cached one reads the first's data).

    Built as ``nutpie.compile_pymc_model`` builds it (support points, jittered, on the
    unconstrained scale, flattened in the compiled model's order), so that a reused compilation
    starts where a fresh one would.
    """
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper, _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(
        model=model,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    n = len(model.free_RVs)
    names, _, shapes = compiled.shape_info
    return _rv_dict_to_flat_array_wrapper(
        _wrap_with_lock(fn), names=list(names[:n]), shapes=list(shapes[:n])
    )


def _data_of(model: Any) -> dict[str, np.ndarray]:
    """The values of a model's ``pm.Data`` containers, by name."""
    return {var.name: np.asarray(var.get_value()) for var in model.data_vars}


def relabel(idata: Any, model: Any) -> Any:
    """Put ``model``'s coordinate labels on the posterior (a reused compilation has the first's)."""
    post = idata.posterior
    new = {d: np.asarray(v) for d, v in model.coords.items() if d in post.dims and v is not None}
    if new:
        idata.posterior = post.assign_coords(new)
    return idata


def cache_info() -> dict[str, Any]:
    """This process's cached structures and PyTensor's numba disk cache (path, size in MB)."""
    from pytensor.configdefaults import config

    path = Path(config.base_compiledir) / "numba"
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0
    return {"structures": len(_CACHE), "disk_path": str(path), "disk_mb": size / 2**20}


def clear_cache(*, disk: bool = False) -> None:
    """Forget this process's compiled models; with ``disk=True`` also PyTensor's numba cache."""
    with _LOCK:
        _CACHE.clear()
    if disk:
        path = Path(cache_info()["disk_path"])
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
