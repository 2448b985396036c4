"""One sampling helper for every Bayesian family: picks the NUTS backend and seeds it.

PyMC can hand its model to three NUTS implementations: its own (C/pytensor), nutpie (Rust,
model compiled with numba) and numpyro (JAX). Measured with ``benchmarks/bench_bayes.py`` on the
DSEM (200 clients x 20 sessions, 10% missing, 4 x 1000 draws, 2 cores): nutpie 75 s in all
(20 s compiling, 48 s sampling; min bulk ESS 488), numpyro 158 s (min bulk ESS 230), PyMC's own
sampler over 12 minutes (stopped). So nutpie is the default when installed, then numpyro, then
PyMC's sampler. A compiled nutpie model is kept on the PyMC model, so refits skip compiling;
models built with ``reuse=True`` are compiled once per structure and reused with new data
(:mod:`causalrel.bayes.compiled`). The same ``seed`` gives the same draws for a given backend.
nutpie compiles the model with PyTensor's numba backend by default or, with
``backend="jax"``, with JAX (3-8x faster to compile, 2-3x slower to sample: measured in
:mod:`causalrel.bayes.compiled`). Tuning draws are not kept (no result reads them).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

from ..data import DataError
from .blas import settle_blas

__all__ = ["SAMPLERS", "available_samplers", "default_sampler", "sample"]

#: Backends in order of preference (fastest first, as measured by benchmarks/bench_bayes.py).
SAMPLERS = ("nutpie", "numpyro", "pymc")


def _installed(name: str) -> bool:
    if name == "pymc":
        return True
    import importlib.util

    mod = {"nutpie": "nutpie", "numpyro": "numpyro"}[name]
    return importlib.util.find_spec(mod) is not None


def available_samplers() -> list[str]:
    """The NUTS backends importable here, fastest first."""
    return [s for s in SAMPLERS if _installed(s)]


def default_sampler() -> str:
    """The fastest installed backend."""
    return available_samplers()[0]


def sample(
    model: Any,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    sampler: str | None = None,
    target_accept: float = 0.9,
    progress: bool = True,
    cores: int | None = None,
    key: Any = None,
    label: str = "model",
    backend: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Draw from a PyMC model's posterior with NUTS.

    Parameters
    ----------
    model : pymc.Model
    draws, tune, chains : int
        Kept draws, tuning (warm-up) draws and chains.
    seed : int, optional
        Random seed; the same seed and backend give the same draws.
    sampler : {"nutpie", "numpyro", "pymc"}, optional
        NUTS backend; default the fastest installed (:func:`default_sampler`).
    target_accept : float
        Target acceptance rate of step-size adaptation; raise it (0.95, 0.99) after divergences.
    progress : bool
        Show progress: whether the model is compiled or a compilation reused, then the
        sampler's bar.
    cores : int, optional
        Chains run in parallel on this many cores (default: all, at most ``chains``).
    key : hashable, optional
        Structure key of ``model`` for nutpie's compile cache
        (:func:`~causalrel.bayes.compiled.compiled_model`); ``None``: compile once per model
        object.
    label : str
        The model's name in the progress text.
    backend : {"numba", "jax"}, optional
        nutpie's compiler (:data:`~causalrel.bayes.compiled.BACKENDS`; default
        :data:`~causalrel.bayes.compiled.DEFAULT_BACKEND`). Only for ``sampler="nutpie"``.

    Returns
    -------
    idata : arviz.InferenceData
    info : dict
        ``sampler`` used, ``seconds`` of sampling (``compile_seconds`` separately for nutpie,
        its ``backend``, and ``reused_compilation``: whether a cached compilation was reused).
    """
    import pymc as pm

    settle_blas()
    sampler = (sampler or default_sampler()).lower()
    if sampler not in SAMPLERS:
        raise DataError(f"Unknown sampler '{sampler}'. Choose one of: {', '.join(SAMPLERS)}.")
    if not _installed(sampler):
        raise DataError(
            f"The sampler '{sampler}' is not installed. Install it (`pip install {sampler}`) or "
            f"choose one of: {', '.join(available_samplers())}."
        )
    if draws < 1 or tune < 0 or chains < 1:
        raise DataError("draws and chains must be at least 1, tune at least 0.")
    if not 0 < target_accept < 1:
        raise DataError("target_accept must lie strictly between 0 and 1 (e.g. 0.9).")
    if backend is not None and sampler != "nutpie":
        raise DataError(
            f"backend= chooses nutpie's compiler; it does not apply to sampler '{sampler}'."
        )
    backend = _backend(backend) if sampler == "nutpie" else None
    cores = cores or min(chains, os.cpu_count() or 1)
    info: dict[str, Any] = {"sampler": sampler}
    t0 = time.perf_counter()
    if sampler == "nutpie":
        import nutpie

        from .compiled import compiled_model, relabel

        compiled, reused = compiled_model(
            model, key, label=label, progress=progress, backend=backend
        )
        info["backend"] = backend
        info["reused_compilation"] = reused
        info["compile_seconds"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            idata = nutpie.sample(
                compiled,
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                seed=seed if seed is not None else int.from_bytes(os.urandom(4), "little"),
                target_accept=target_accept,
                progress_bar=progress,
                save_warmup=False,  # no result reads the tuning draws (a third of the memory)
            )
        idata = relabel(idata, model)
        info["sample_seconds"] = time.perf_counter() - t1
    else:
        extra: dict[str, Any] = {"cores": cores}
        if sampler == "numpyro":
            _jax_devices(cores)
            chain_method = "parallel" if cores > 1 else "sequential"
            extra = {
                "nuts_sampler": "numpyro",
                "nuts_sampler_kwargs": {"chain_method": chain_method},
            }
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            target_accept=target_accept,
            progressbar=progress,
            model=model,
            compute_convergence_checks=False,
            **extra,
        )
    info["seconds"] = time.perf_counter() - t0
    return idata, info


def _backend(backend: str | None) -> str:
    """The nutpie compiler to use: ``backend`` checked, or the default."""
    import importlib.util

    from .compiled import BACKENDS, DEFAULT_BACKEND

    backend = (backend or DEFAULT_BACKEND).lower()
    if backend not in BACKENDS:
        raise DataError(f"Unknown backend '{backend}'. Choose one of: {', '.join(BACKENDS)}.")
    if importlib.util.find_spec(backend) is None:
        raise DataError(
            f"The backend '{backend}' is not installed. Install it (`pip install {backend}`) "
            f"or choose another of: {', '.join(BACKENDS)}."
        )
    return backend


def _jax_devices(cores: int) -> None:
    """Let JAX see ``cores`` CPU devices (only effective before JAX is first imported)."""
    import sys

    if "jax" in sys.modules:
        return
    flag = f"--xla_force_host_platform_device_count={cores}"
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
