"""Run the replications of a power study: serially, on local processes, or on Dask.

Every replication is independent and draws its own seed from
``numpy.random.SeedSequence(seed, spawn_key=(cell.key, rep))``: the data and fits of
replication ``rep`` of a cell depend on nothing else, so a serial run, a run on local processes
and a run on a Dask cluster give identical results, whatever the chunking or the order in
which work finishes. Work is sent in chunks of replications (fewer round trips); results are
collected per cell and, with a store, written to disk as soon as a cell is complete.

Local processes use ``concurrent.futures.ProcessPoolExecutor`` with the *spawn* start method
(forking a process that holds threads, e.g. a Dask client's, can deadlock); a Dask
``Client`` is used through its ``concurrent.futures`` interface (``Client.get_executor``), so
the same loop drives both.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..data import DataError
from ..simulate import simulate
from .design import Cell
from .fitting import Fitter, replication_panel
from .store import Store

__all__ = ["Chunk", "run_chunk", "replication_seeds", "run_cells", "estimate_seconds"]

Families = dict[str, tuple[str, dict[str, Any]]]


def replication_seeds(seed: int, cell_key: int, rep: int) -> tuple[int, int]:
    """The (simulation, fit) seeds of one replication, from ``(seed, cell, rep)`` only."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(cell_key), int(rep)))
    sim_seed, fit_seed = ss.generate_state(2, np.uint32)
    return int(sim_seed), int(fit_seed)


@dataclass(frozen=True)
class Chunk:
    """Some replications of one cell: everything a worker needs, and nothing else."""

    cell_id: str
    cell_key: int
    simulate_kwargs: dict[str, Any]
    truth: dict[str, float]
    families: Families
    seed: int
    reps: tuple[int, ...]


def run_chunk(chunk: Chunk) -> list[dict[str, Any]]:
    """Simulate and fit the chunk's replications; one record per replication x family x effect.

    A fit that raises (e.g. a design the family cannot estimate) or does not converge is kept
    as a record with ``converged=False`` and the reason in ``error``; summaries leave such fits
    out of bias, RMSE, coverage and power and report the share that converged.
    """
    records: list[dict[str, Any]] = []
    fitters = {label: Fitter(name, options) for label, (name, options) in chunk.families.items()}
    for rep in chunk.reps:
        sim_seed, fit_seed = replication_seeds(chunk.seed, chunk.cell_key, rep)
        panel = replication_panel(simulate(**chunk.simulate_kwargs, seed=sim_seed))
        for label, fitter in fitters.items():
            start = time.perf_counter()
            error, effects, converged = "", {}, False
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # non-convergence is recorded, not raised
                try:
                    effects, converged, message = fitter.fit(panel, seed=fit_seed)
                    if not converged:
                        error = message or "did not converge"
                except (DataError, ValueError, np.linalg.LinAlgError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - start
            for key, true in chunk.truth.items():
                eff = effects.get(key)
                records.append(
                    {
                        "cell": chunk.cell_id,
                        "rep": rep,
                        "family": label,
                        "effect": key,
                        "true": true,
                        "est": eff.est if eff else math.nan,
                        "se": eff.se if eff else math.nan,
                        "lower": eff.lower if eff else math.nan,
                        "upper": eff.upper if eff else math.nan,
                        "converged": bool(converged and eff is not None),
                        "seconds": seconds,
                        "error": error if eff is not None or error else "effect not estimated",
                    }
                )
    return records


def chunks_for(cell: Cell, families: Families, seed: int, reps: int, size: int) -> list[Chunk]:
    """Split a cell's replications ``0..reps-1`` into chunks of ``size``."""
    kwargs = cell.simulate_kwargs()
    return [
        Chunk(cell.id, cell.key, kwargs, cell.raw, families, int(seed),
              tuple(range(lo, min(lo + size, reps))))
        for lo in range(0, reps, size)
    ]  # fmt: skip


def estimate_seconds(
    cells: list[Cell], families: Families, seed: int, reps: int, workers: int, n_timed: int = 2
) -> float:
    """Rough wall time of the whole run from ``n_timed`` timed replications of two cells.

    The smallest and the largest cell (clients x sessions) are timed after a warm-up; a
    replication of any other cell is taken to cost in proportion between the two (small
    samples can be slow too: the optimiser needs more steps), and the total is divided by the
    number of workers. Shared or busy cores make it optimistic.
    """

    def size(c: Cell) -> int:
        return c.clients * c.sessions

    def per_rep(cell: Cell) -> float:
        chunk = chunks_for(cell, families, seed, n_timed, n_timed)[0]
        start = time.perf_counter()
        run_chunk(chunk)
        return (time.perf_counter() - start) / n_timed

    small, large = min(cells, key=size), max(cells, key=size)
    run_chunk(chunks_for(small, families, seed, 1, 1)[0])  # warm up imports and caches
    t_small = per_rep(small)
    t_large = per_rep(large) if size(large) > size(small) else t_small
    slope = (t_large - t_small) / max(1, size(large) - size(small))
    total = sum(t_small + slope * (size(c) - size(small)) for c in cells) * reps
    return total / max(1, workers)


class _Serial(cf.Executor):
    """The serial reference run: :func:`run_cells` maps chunks in order instead of submitting."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> cf.Future:
        raise NotImplementedError("run_cells runs serial work in place")


def make_executor(
    scheduler: Any = None, workers: int | None = None
) -> tuple[cf.Executor, int, Any]:
    """``(executor, n_workers, closer)`` for a scheduler spec.

    ``scheduler``: ``None``/``"processes"`` (local processes, the default), ``"serial"``, a Dask
    scheduler address (``"tcp://HOST:PORT"``), a ``dask.distributed.Client``, or any
    ``concurrent.futures.Executor``. ``workers``: local processes (default: the usable cores).
    """
    if scheduler in (None, "processes"):
        n = workers or _usable_cores()
        if n == 1:
            return _Serial(), 1, None
        ctx = multiprocessing.get_context("spawn")
        ex = cf.ProcessPoolExecutor(max_workers=n, mp_context=ctx)
        return ex, n, ex
    if scheduler == "serial":
        return _Serial(), 1, None
    if isinstance(scheduler, cf.Executor):
        return scheduler, workers or os.cpu_count() or 1, None
    client, own = _dask_client(scheduler)
    n = max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
    return client.get_executor(pure=False), n, client if own else None


def _duration(secs: float) -> str:
    return f"{secs:.0f} s" if secs < 120 else f"{secs / 60:.1f} min"


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _dask_client(scheduler: Any) -> tuple[Any, bool]:
    try:
        from dask.distributed import Client
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise DataError("Dask is not installed: pip install 'dask[distributed]'.") from exc
    if isinstance(scheduler, Client):
        return scheduler, False
    if isinstance(scheduler, str):
        try:
            return Client(scheduler, timeout="10s"), True
        except (OSError, TimeoutError) as exc:
            raise DataError(
                f"Cannot reach the Dask scheduler at {scheduler!r} ({exc}). Start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS`, or leave --scheduler "
                "out to use the local cores."
            ) from exc
    raise DataError(
        f"scheduler must be 'processes', 'serial', a Dask address or Client; got {scheduler!r}."
    )


def run_cells(
    cells: list[Cell],
    families: Families,
    *,
    seed: int,
    reps: int,
    scheduler: Any = None,
    workers: int | None = None,
    store: Store | None = None,
    progress: bool = True,
    estimate: bool = False,
    on_cell: Callable[[str], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """All replication records, by cell id; cells already in ``store`` are read, not rerun.

    ``estimate`` prints a rough time first (:func:`estimate_seconds`); ``on_cell(cell_id)`` is
    called after each cell is complete (and written).
    """
    done = {c.id: store.read(c.id) for c in cells if store and store.has(c.id)}
    todo = [c for c in cells if c.id not in done]
    if not todo:
        return done
    executor, n, closer = make_executor(scheduler, workers)
    size = max(1, min(50, math.ceil(reps / (4 * n))))
    pending: dict[str, list[dict[str, Any]]] = {c.id: [] for c in todo}
    left = {c.id: math.ceil(reps / size) for c in todo}
    futures: list[cf.Future] = []
    bar = None
    try:
        if estimate:
            secs = estimate_seconds(todo, families, seed, reps, n)
            print(
                f"causalrel power: {len(todo)} cell(s) x {reps} replications x "
                f"{len(families)} model(s); rough time {_duration(secs)} on {n} worker(s) "
                "(from timed replications of the smallest and largest cells)",
                file=sys.stderr,
            )
        bar = tqdm(total=len(todo) * reps, unit="rep", disable=not progress, file=sys.stderr,
                   desc="power")  # fmt: skip
        chunks = [ch for cell in todo for ch in chunks_for(cell, families, seed, reps, size)]
        if isinstance(executor, _Serial):  # run one chunk at a time, so the bar moves
            results = map(run_chunk, chunks)
        else:
            futures = [executor.submit(run_chunk, ch) for ch in chunks]
            results = (fut.result() for fut in cf.as_completed(futures))
        for records in results:
            cid = records[0]["cell"]
            pending[cid] += records
            left[cid] -= 1
            bar.update(len({r["rep"] for r in records}))
            if left[cid] == 0:
                recs = sorted(pending.pop(cid), key=lambda r: (r["rep"], r["family"], r["effect"]))
                if store is not None:
                    store.write(cid, recs)
                done[cid] = recs
                if on_cell is not None:
                    on_cell(cid)
    finally:
        if bar is not None:
            bar.close()
        for fut in futures:
            fut.cancel()
        if closer is not None:
            if isinstance(closer, cf.Executor):
                closer.shutdown(wait=True, cancel_futures=True)
            else:
                closer.close()
    return done
