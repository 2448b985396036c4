"""The report's tables, one row per family, built on :func:`causalrel.results.compare`.

Every family is treated alike: the rows come from the registry's names in the run's settings,
the numbers from each family's :class:`~causalrel.results.ModelResults`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import SessionPanel
from ..results import Effect, ModelResults, between_key, compare, effect_key
from .document import fmt, interval

__all__ = ["status", "rows", "within_table", "between_table", "effects_table", "effect_line"]


def status(outcome: Any, name: str) -> str:
    """One word on what happened to family ``name`` in the run."""
    if name in outcome.failures:
        return "FAILED"
    if name in outcome.skipped:
        return "skipped"
    res = outcome.results.get(name)
    if res is None:
        return "not run"
    if res.diagnostics.get("improper"):
        return "IMPROPER (not converged)"
    return "converged" if res.converged else "NOT CONVERGED"


def rows(outcome: Any) -> list[tuple[str, ModelResults | None]]:
    """Every requested family, in the run's order, with its results (None if it has none)."""
    return [(n, outcome.results.get(n)) for n in outcome.settings["families"]]


def _intervals(outcome: Any, side: str) -> dict[tuple[str, str], str]:
    """``(family, key) -> "est [lower, upper]"`` for one side, from :func:`compare`."""
    table = compare(dict(outcome.results), side=side)
    return {
        (r.model, r.effect): interval(Effect(r.est, r.se, r.lower, r.upper))
        for r in table.itertuples(index=False)
    }


def within_table(outcome: Any, panel: SessionPanel) -> pd.DataFrame:
    """One row per family: both within-client lagged effects with 95% intervals and status."""
    kxy, kyx = effect_key(panel.x, panel.y), effect_key(panel.y, panel.x)
    shown = _intervals(outcome, "within")
    out = []
    for name, res in rows(outcome):
        out.append(
            {
                "family": name,
                kxy: shown.get((name, kxy), "–"),
                kyx: shown.get((name, kyx), "–"),
                "status": status(outcome, name),
                "clients": res.n_clients if res is not None else "–",
                "observations": res.n_observations if res is not None else "–",
                "seconds": fmt(res.seconds, 2) if res is not None else "–",
            }
        )
    return pd.DataFrame(out)


def between_table(outcome: Any, panel: SessionPanel) -> pd.DataFrame:
    """One row per family: its between-client association of x and y."""
    kb = between_key(panel.x, panel.y)
    shown = _intervals(outcome, "between")
    return pd.DataFrame(
        [
            {
                "family": name,
                kb: shown.get((name, kb), "not estimated by this family"),
                "status": status(outcome, name),
            }
            for name, _ in rows(outcome)
        ]
    )


def effect_line(res: ModelResults, panel: SessionPanel) -> str:
    """Both within-client effects of one fit on one line (the progress log)."""
    parts = []
    for k in (effect_key(panel.x, panel.y), effect_key(panel.y, panel.x)):
        e = res.effects.get("within", {}).get(k)
        if e is not None:
            parts.append(f"{k} {interval(e)}")
    return "; ".join(parts) or "no within-client effects reported"


def effects_table(
    summary: Mapping[str, Any] | str | Path,
    truth: Mapping[str, float] | None = None,
    effects: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A report's within-client lagged effects, one row per family and effect, as numbers.

    Reads what :func:`~causalrel.report.analyze` (or ``causalrel analyze``) wrote, so that a
    notebook or script can put the families side by side without parsing ``summary.json``
    itself.

    Parameters
    ----------
    summary : mapping or path
        The content of ``summary.json``, the file, or the report folder holding it.
    truth : mapping, optional
        Known within-client effects (simulated data, e.g.
        :func:`causalrel.simulate.truth_beside`), added as a ``truth`` column.
    effects : sequence of str, optional
        Effect keys to keep, in this order within each family (e.g. the two cross-lagged
        effects ``["alliance->symptoms", "symptoms->alliance"]``); default: all of them.

    Returns
    -------
    pandas.DataFrame
        Columns ``family, effect, est, lower, upper, converged`` (and ``truth``), families in
        the registry's order (the causal layer, ``dowhy``, last). Families that were skipped or
        failed have no rows: they are listed in the summary's ``skipped`` and ``failed``, and
        in the report.
    """
    if not isinstance(summary, Mapping):
        path = Path(summary)
        path = path / "summary.json" if path.is_dir() else path
        summary = json.loads(path.read_text())
    out = []
    for name, res in summary["models"].items():
        for key, e in res.get("effects", {}).get("within", {}).items():
            converged = bool(res["diagnostics"]["converged"])
            out.append({"family": name, "effect": key, **e, "converged": converged})
    table = pd.DataFrame(out, columns=["family", "effect", "est", "lower", "upper", "converged"])
    if effects is not None:
        rank = {
            "effect": {key: i for i, key in enumerate(effects)},
            "family": {name: i for i, name in enumerate(dict.fromkeys(table["family"]))},
        }
        table = (
            table[table["effect"].isin(rank["effect"])]
            .sort_values(["family", "effect"], key=lambda col: col.map(rank[col.name]))
            .reset_index(drop=True)
        )
    if truth is not None:
        table["truth"] = table["effect"].map(truth)
    return table
