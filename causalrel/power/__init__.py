"""Monte Carlo power and design analysis for every model family (``causalrel power``).

``causalrel.power(...)`` (this module is callable) simulates many data sets per design cell
with :func:`causalrel.simulate.simulate`, fits every requested family to each, and returns a
tidy table of power, type-I error, bias, RMSE, coverage and convergence, each with its Monte
Carlo SE (Morris, White & Crowther 2019). Modules:

* :mod:`~causalrel.power.design`: the grid (cells) and the families with their options;
* :mod:`~causalrel.power.runner`: per-replication seeds, serial / local processes / Dask;
* :mod:`~causalrel.power.store`: cell-by-cell records on disk, for ``resume``;
* :mod:`~causalrel.power.summary`: performance measures and "clients needed";
* :mod:`~causalrel.power.report`: power curves and the HTML page.
"""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .design import DEFAULT_EFFECTS, EFFECT_KEYS, Cell, Design, parse_effect, resolve_families
from .runner import run_cells
from .store import Store
from .summary import TABLE_COLUMNS, clients_needed, performance, summarise

__all__ = [
    "power",
    "clients_needed",
    "performance",
    "Design",
    "Cell",
    "DEFAULT_EFFECTS",
    "EFFECT_KEYS",
    "TABLE_COLUMNS",
    "parse_effect",
]


def power(
    families: str | Iterable[str] | Mapping[str, Mapping[str, Any]] = ("riclpm", "fe"),
    clients: Sequence[int] = (100, 200, 400),
    sessions: Sequence[int] = (6, 10),
    effects: Mapping[str, float | Sequence[float]] | None = None,
    *,
    reps: int = 500,
    seed: int = 1,
    alpha: float = 0.05,
    target: float = 0.8,
    design: Mapping[str, Any] | None = None,
    vary: Mapping[str, Sequence[Any]] | None = None,
    units: str = "raw",
    scheduler: Any = None,
    workers: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    estimate: bool = True,
    on_cell: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Power, type-I error, bias, RMSE and coverage of each family over a design grid.

    Parameters
    ----------
    families : str, list of str, or dict
        Registered families (``"riclpm,fe"``, ``["riclpm", "fe"]``) or ``{label: options}``
        with each family's options (``{"riclpm": {"constrained": True}}``; an ``"model"``
        entry names the family when the label does not). Family defaults otherwise.
    clients, sessions : sequence of int
        Numbers of clients and of sessions per client to compare.
    effects : dict, optional
        True lagged effects, ``{"alliance->symptoms": -0.2}``; a list of values makes an axis
        (``{"alliance->symptoms": [0, -0.1, -0.2]}``; 0 gives the type-I error). Unset ones
        keep :data:`~causalrel.power.design.DEFAULT_EFFECTS` (raw units; with
        ``units="standardized"`` their standardised values).
    reps : int
        Replications per cell (500 gives power MCSEs of at most 0.022).
    seed : int
        Master seed: replication ``r`` of a cell uses ``SeedSequence(seed, (cell, r))``.
    alpha, target : float
        Level of the two-sided Wald test; power the "clients needed" answer aims for.
    design : dict, optional
        Fixed :func:`~causalrel.simulate.simulate` arguments: ``mcar``, ``dropout``,
        ``dropout_on_symptoms``, ``skip``, ``reliability``, ``n_therapists``, ``trend``,
        ``trait_corr``, ``trait_sd``, ``cross_sd``, ..., and ``time`` (``"none"``,
        ``"common"``, ``"client"``: which trends the data have, in the families' words; see
        :mod:`causalrel.power.design`).
    vary : dict, optional
        Extra grid axes over simulate arguments, e.g. ``{"reliability": [1.0, 0.8]}`` or
        ``{"time": ["none", "client"]}``.
    units : {"raw", "standardized"}
        Units of ``effects``: raw VAR coefficients, or within-person standardised ones
        (``b * sd_w(cause) / sd_w(outcome)``, as powRICLPM). The table's ``true`` is raw,
        ``true_std`` standardised.
    scheduler : optional
        ``None`` (local processes, the default), ``"serial"``, a Dask scheduler address
        ``"tcp://HOST:PORT"`` or a ``dask.distributed.Client``: all give identical tables.
    workers : int, optional
        Local processes (default: the usable cores).
    out : path, optional
        Folder for the cell-by-cell records and ``power.csv/json/html/png``,
        ``clients_needed.csv``.
    resume : bool
        Continue the run in ``out``: finished cells are read back, the rest computed.
    progress, estimate : bool
        Show a progress bar; print a rough time estimate from a few timed fits first.
    on_cell : callable, optional
        Called with each cell's id when it is finished (and written).

    Returns
    -------
    pandas.DataFrame
        One row per family x cell x effect, columns :data:`~causalrel.power.TABLE_COLUMNS`
        (plus one per ``vary`` axis). ``clients_needed(table, target)`` gives the smallest
        clients reaching the target per sessions count.

    Examples
    --------
    >>> import causalrel
    >>> t = causalrel.power("fe", [60], [6], {"alliance->symptoms": -0.2}, reps=4,
    ...                     scheduler="serial", progress=False, estimate=False)
    >>> sorted(t["effect"])[:2]
    ['alliance->alliance', 'alliance->symptoms']
    """
    if int(reps) < 2:
        from ..data import DataError

        raise DataError("reps must be at least 2 (Monte Carlo SEs need replications).")
    if not 0 < alpha < 1 or not 0 < target < 1:
        from ..data import DataError

        raise DataError("alpha and target must be in (0, 1).")
    grid = Design(clients, sessions, effects or {}, design or {}, vary or {}, units)
    fams = resolve_families(families)
    cells = grid.cells()
    run = {"seed": int(seed), "reps": int(reps), "families": fams}
    store = Store(out, run, resume=resume) if out is not None else None
    records = run_cells(
        cells, fams, seed=seed, reps=reps, scheduler=scheduler, workers=workers, store=store,
        progress=progress, estimate=estimate, on_cell=on_cell,
    )  # fmt: skip
    table = summarise(records, cells, alpha)
    _warn_failures(table, records)
    table.attrs.update(alpha=alpha, target=target, effects=grid.set_effects, run=run)
    if out is not None:
        from .report import write_outputs

        write_outputs(table, out, effects=grid.set_effects, alpha=alpha, target=target, run=run)
    return table


def _warn_failures(table: pd.DataFrame, records: Mapping[str, list[dict]]) -> None:
    bad = table[table["converged"] < 1]
    if bad.empty:
        return
    errors = [r["error"] for recs in records.values() for r in recs if r["error"]]
    worst = bad.sort_values("converged").iloc[0]
    warnings.warn(
        f"power: some fits failed or did not converge ({len(bad)} table rows; worst "
        f"{worst['family']} at {worst['clients']} clients x {worst['sessions']} sessions: "
        f"{worst['converged']:.0%} converged); they are left out of power, bias, RMSE and "
        f"coverage (see the 'converged' column). First reason: {errors[0] if errors else '?'}",
        UserWarning,
        stacklevel=3,
    )


class _CallableModule(types.ModuleType):
    """Lets ``causalrel.power(...)`` call :func:`power` while ``causalrel.power.*`` stay modules."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return power(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
