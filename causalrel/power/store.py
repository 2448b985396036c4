"""Replication records on disk, one file per cell, so that an interrupted run can resume.

Layout of the output folder::

    OUT/run.json               seed, replications and families of the run (must match on resume)
    OUT/cells/<cell id>.jsonl  every replication record of one finished cell

A cell file is written to a temporary name and renamed into place, so a run killed while
writing leaves either the whole file or none. Because each replication's seed depends only on
``(seed, cell, replication)``, a resumed run computes exactly what the first run would have.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..data import DataError

__all__ = ["Store"]

RECORD_COLUMNS = ["cell", "rep", "family", "effect", "true", "est", "se", "lower", "upper",
                  "converged", "seconds", "error"]  # fmt: skip


class Store:
    """The ``cells/`` folder of a power run.

    Parameters
    ----------
    out : path
        Output folder (created).
    run : dict
        What makes records reproducible: seed, replications and families with their options.
    resume : bool
        Continue the run already in ``out`` (its ``run.json`` must equal ``run``). Without it,
        a folder that already holds a run is an error, never silently overwritten.
    """

    def __init__(self, out: str | Path, run: dict[str, Any], *, resume: bool = False) -> None:
        self.out = Path(out)
        self.cells = self.out / "cells"
        meta = self.out / "run.json"
        run = json.loads(json.dumps(run, sort_keys=True))
        if meta.exists():
            old = json.loads(meta.read_text())
            if not resume:
                raise DataError(
                    f"{self.out} already holds a power run. Pass --resume (resume=True) to "
                    "continue it, or choose another --out folder."
                )
            if old != run:
                diff = sorted(k for k in set(old) | set(run) if old.get(k) != run.get(k))
                raise DataError(
                    f"Cannot resume the run in {self.out}: its {', '.join(diff)} differ from "
                    "this one's. Use the same seed, replications and families, or another --out."
                )
        self.cells.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")

    def _path(self, cell_id: str) -> Path:
        return self.cells / f"{cell_id}.jsonl"

    def has(self, cell_id: str) -> bool:
        return self._path(cell_id).is_file()

    def read(self, cell_id: str) -> list[dict[str, Any]]:
        with self._path(cell_id).open() as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def write(self, cell_id: str, records: list[dict[str, Any]]) -> None:
        path = self._path(cell_id)
        tmp = path.with_suffix(".jsonl.tmp")
        # JSON floats are repr-exact (NaN included), so a resumed table equals an
        # uninterrupted one to the last bit
        with tmp.open("w") as fh:
            for rec in records:
                fh.write(json.dumps({k: rec[k] for k in RECORD_COLUMNS}) + "\n")
        os.replace(tmp, path)
