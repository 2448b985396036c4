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

Disk caches: nutpie's numba C callback cannot be cached on disk (numba: "uses dynamic
globals"), but PyTensor caches the numba functions it generates for the model's graph in
``<pytensor base_compiledir>/numba`` (``pytensor.config.base_compiledir``; set it with
``PYTENSOR_FLAGS=base_compiledir=...``; a few MB per model: 4.7 MB for the MLM on IMPLEMENT).
That cache is what makes a first fit in a new process faster than the first fit ever. The JAX
backend (``backend="jax"``) writes JAX's persistent compilation cache (the XLA executables of
the log-density and its gradient) to ``<base_compiledir>/jax`` (:func:`jax_cache`; well under
1 MB per model: 0.14 MB for the MLM on IMPLEMENT), read by the next process that compiles the
same graph. :func:`cache_info` reports both locations and sizes; :func:`clear_cache` empties
this process's cache and, with ``disk=True``, both directories (they are rebuilt on demand;
deleting them by hand is as safe).

Backends, measured side by side (``benchmarks/bench_bayes_backends.py``; 4 x 1000 draws
after 1000 tuning on 2 cores; the machine shared, load average 11-17, so absolute times are
several times an idle machine's and the ratios are the point; the DSEM's two backends ran at
the same time; ``benchmarks/results/bench_bayes_backends.json``). "first fit" is compiling
plus sampling in a new process with empty disk caches ("warm": with the caches of a previous
process), "sampling" a second run of the compiled model, ESS/s the smallest bulk ESS of the
diagnosed parameters per second of it:

==================  ==========  ==========  =========  ========  ======  ========
model, backend      first fit   warm first  compiling  sampling  ESS/s   peak RSS
==================  ==========  ==========  =========  ========  ======  ========
MLM IMPLEMENT numba 406 s       87 s        375 s      31 s      20      0.98 GB
MLM IMPLEMENT jax   107 s       62 s        44 s       63 s      10      0.89 GB
DSEM 200x20 numba   865 s       251 s       699 s      166 s     2.3     1.80 GB
DSEM 200x20 jax     694 s       579 s       217 s      477 s     0.76    1.58 GB
==================  ==========  ==========  =========  ========  ======  ========

JAX compiles 3-8x faster and its disk cache makes a later process's compilation nearly free,
but nutpie calls JAX from its Rust sampler through Python for every gradient, so sampling
takes 2-3x longer per effective draw. So numba stays the default (:data:`DEFAULT_BACKEND`):
JAX wins a single short fit in a fresh environment (the MLM), numba everything that samples
long or repeatedly (the DSEM, validation grids, power studies with ``reuse=True``). Within a
backend the same seed gives identical draws in one process (both measured, and tested for
reuse) and, for JAX, across processes; numba's DSEM drew differently in the process that
loaded PyTensor's disk cache than in the one that compiled afresh (min bulk ESS 322 vs 376:
not yet explained).

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

__all__ = [
    "compiled_model",
    "bucket",
    "cache_info",
    "clear_cache",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "COMPILING",
    "REUSING",
]

#: nutpie's model compilers: PyTensor's numba backend (a C callback, one LLVM module) or its
#: JAX backend (XLA; gradients by JAX). See the module docstring for the measured trade-off.
BACKENDS = ("numba", "jax")
DEFAULT_BACKEND = "numba"

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


def _compile(model: Any, backend: str, *, reuse: bool) -> Any:
    """``nutpie.compile_pymc_model`` with ``backend``; JAX with its persistent cache on disk.

    A model built for reuse keeps its ``pm.Data`` as arguments of the JAX function
    (``freeze_model=False``; nutpie freezes them into constants by default), so that
    ``with_data`` can swap them.
    """
    import nutpie

    if backend == "numba":
        compiled = nutpie.compile_pymc_model(model)
    else:
        jax_cache()
        compiled = nutpie.compile_pymc_model(
            model, backend="jax", gradient_backend="jax", freeze_model=not reuse
        )
    release_memory()  # the compiler's working memory
    return compiled


def release_memory() -> None:
    """Return freed heap memory to the operating system (glibc's ``malloc_trim``).

    numba's LLVM compilation and the conversion of the trace allocate hundreds of MB that are
    freed but stay in the process's heap, counted in its resident size; trimming after a
    compilation and after a fit lets the next fit (``analyze`` runs several) start from the
    memory actually in use. A no-op where the C library has no ``malloc_trim``.
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def jax_cache() -> Path:
    """Turn on JAX's persistent compilation cache in ``<base_compiledir>/jax`` (once).

    The XLA executables of a model's log-density and gradient are written there and read by
    the next process that compiles the same graph, which then skips XLA's compilation (the
    tracing from PyTensor to JAX is still paid). A directory the user set with
    ``jax.config.update("jax_compilation_cache_dir", ...)`` is left alone.
    """
    import jax
    from pytensor.configdefaults import config

    current = jax.config.jax_compilation_cache_dir
    if current:
        return Path(current)
    path = Path(config.base_compiledir) / "jax"
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    # cache every entry (defaults skip compilations under 1 s, e.g. the trace expansion)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def compiled_model(
    model: Any,
    key: Any,
    *,
    label: str = "model",
    progress: bool = True,
    backend: str = DEFAULT_BACKEND,
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
    backend : {"numba", "jax"}
        nutpie's compiler (:data:`BACKENDS`); part of the cache key.

    Returns
    -------
    compiled : nutpie.compiled_pymc.CompiledPyMCModel
    reused : bool
        Whether a cached compilation was reused.
    """
    if key is None:  # not built for reuse: compiled once per model object, kept on it
        kept = getattr(model, "_causalrel_nutpie", {})
        if backend in kept:
            _say(f"{label}: {REUSING}", progress)
            return kept[backend], True
        _say(f"{label}: {COMPILING}", progress)
        compiled = _compile(model, backend, reuse=False)
        model._causalrel_nutpie = {**kept, backend: compiled}
        return compiled, False
    key = (backend, key)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is None:
            _say(f"{label}: {COMPILING}", progress)
            compiled = _compile(model, backend, reuse=True)
            while len(_CACHE) >= MAX_STRUCTURES:  # oldest first: dicts keep insertion order
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = (model, compiled)
            return compiled, False
        first, compiled = hit
        if first is model:
            _say(f"{label}: {REUSING}", progress)
            return compiled, True
        data = _data_of(model)
        shared = _shared_names(compiled)
        missing = set(shared) - set(data)
        if missing:  # a structure key that does not determine the shared data: compile afresh
            _say(f"{label}: {COMPILING}", progress)
            compiled = _compile(model, backend, reuse=True)
            return compiled, False
        _say(f"{label}: {REUSING}", progress)
        fresh = compiled.with_data(**{n: data[n] for n in shared})
        field = "initial_point_func" if backend == "numba" else "_make_initial_points"
        return dataclasses.replace(fresh, **{field: _initial_point(model)}), True


def _shared_names(compiled: Any) -> list[str]:
    """Names of the shared variables a compiled model takes (numba's and JAX's models)."""
    shared = getattr(compiled, "shared_data", None)
    if shared is None:  # nutpie's PyFuncModel (the JAX backend)
        shared = compiled._shared_data
    return list(shared)


def _initial_point(model: Any) -> Any:
    """nutpie's initial-point function, for ``model`` (the cached one reads the first's data).

    Built as ``nutpie.compile_pymc_model`` builds it (support points, jittered, on the
    unconstrained scale, flattened in the order of the model's free variables, which is the
    compiled model's), so that a reused compilation starts where a fresh one would.
    """
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper, _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(
        model=model,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    point = model.initial_point()
    shapes = [tuple(np.shape(point[n])) for n in names]
    return _rv_dict_to_flat_array_wrapper(_wrap_with_lock(fn), names=names, shapes=shapes)


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


def _mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def cache_info() -> dict[str, Any]:
    """This process's cached structures and the disk caches (paths, sizes in MB).

    ``disk_path``/``disk_mb``: PyTensor's numba cache (``<base_compiledir>/numba``);
    ``jax_path``/``jax_mb``: JAX's persistent compilation cache (``<base_compiledir>/jax``
    unless set otherwise, :func:`jax_cache`).
    """
    from pytensor.configdefaults import config

    path = Path(config.base_compiledir) / "numba"
    jax = Path(config.base_compiledir) / "jax"
    if "jax" in sys.modules:
        jax = Path(sys.modules["jax"].config.jax_compilation_cache_dir or jax)
    return {
        "structures": len(_CACHE),
        "disk_path": str(path),
        "disk_mb": _mb(path),
        "jax_path": str(jax),
        "jax_mb": _mb(jax),
    }


def clear_cache(*, disk: bool = False) -> None:
    """Forget this process's compiled models; with ``disk=True`` also both disk caches."""
    with _LOCK:
        _CACHE.clear()
    if disk:
        info = cache_info()
        for key in ("disk_path", "jax_path"):
            path = Path(info[key])
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True, exist_ok=True)
