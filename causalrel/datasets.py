"""Real data shipped with the repository: the IMPLEMENT trial (``data/implement/``).

The files live in the repository's ``data/implement/`` folder with their source and the MIT
notice that must travel with them (see its README). They are not part of the installed
package: the loaders read the folder of a source checkout (or a folder you pass), and nothing
is downloaded. Session-level scores are item means over the items present, as in the source's
documentation; the items are kept for reliability and measurement models.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .data import DataError, SessionPanel, load_panel

__all__ = ["IMPLEMENT_DIR", "ALLIANCE_ITEMS", "ANXIETY_ITEMS", "load_implement", "implement_panel"]

#: Where a source checkout keeps the IMPLEMENT files.
IMPLEMENT_DIR = Path(__file__).resolve().parent.parent / "data" / "implement"

#: The nine Working Alliance Inventory items (task, goal, bond subscales), rated after a session.
ALLIANCE_ITEMS = tuple(f"wai_{s}{k}" for s in ("task", "goal", "bond") for k in (1, 2, 3))
#: The three Beck Anxiety Inventory parcels, rated before a session.
ANXIETY_ITEMS = tuple(f"bai_parcel{k}" for k in (1, 2, 3))

_FILE = "implement_items.csv"


def load_implement(items: bool = False, folder: str | Path | None = None) -> pd.DataFrame:
    """The IMPLEMENT trial's ratings: 57 clients, 13 therapists, up to 15 sessions.

    Parameters
    ----------
    items : bool
        ``True``: the item-level file as shipped (one column per WAI item and BAI parcel).
        ``False`` (default): session-level scores, ``alliance`` = mean of the WAI items and
        ``symptoms`` = mean of the BAI parcels present in the row (missing when none is), with
        ``alliance_items`` / ``symptoms_items`` counting the items each mean is based on.
    folder : path, optional
        Folder holding ``implement_items.csv`` (default :data:`IMPLEMENT_DIR`).

    Returns
    -------
    pandas.DataFrame
        One row per client-session with any rating; values are centred on each item's mean, as
        published (units: response-scale points around the mean).
    """
    path = Path(folder if folder is not None else IMPLEMENT_DIR) / _FILE
    if not path.is_file():
        raise DataError(
            f"IMPLEMENT data not found at {path}. The data ship with the repository "
            "(data/implement/), not with the installed package: run from a source checkout "
            "or pass folder= pointing at a copy of data/implement/."
        )
    raw = pd.read_csv(path)
    if items:
        return raw
    out = raw[["client", "therapist", "session"]].copy()
    for name, cols in [("alliance", ALLIANCE_ITEMS), ("symptoms", ANXIETY_ITEMS)]:
        out[name] = raw[list(cols)].mean(axis=1, skipna=True)
        out[f"{name}_items"] = raw[list(cols)].notna().sum(axis=1)
    return out


def implement_panel(folder: str | Path | None = None, warn: bool = False) -> SessionPanel:
    """The IMPLEMENT session-level scores as a validated :class:`~causalrel.data.SessionPanel`.

    Alliance is ``x``, anxiety (``symptoms``) is ``y``, therapists are the third level. ``warn``
    is passed to :func:`~causalrel.data.load_panel` (its gap and single-session notes).
    """
    frame = load_implement(folder=folder)
    return load_panel(
        frame[["client", "therapist", "session", "alliance", "symptoms"]],
        therapist="therapist",
        warn=warn,
    )
