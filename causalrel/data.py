"""SessionPanel: the one validated long-format panel of session-by-session data.

Every model family, the report and the CLI read data through :func:`load_panel`, which checks
the table once and says plainly what is wrong, where, and what to do (:class:`DataError`).
The panel owns the transforms every family needs: lags that respect missed sessions, the wide
format for the SEMs, and counts of what was used. Nothing is dropped silently: rows that cannot
be used by a model are counted in ``excluded`` dictionaries by the code that leaves them out.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DataError", "DataWarning", "SessionPanel", "load_panel", "read_table"]

MAX_SHOWN = 5  # how many offending rows/values a message lists


class DataError(ValueError):
    """The data cannot be used as given. The message says what, where, and what to do."""


class DataWarning(UserWarning):
    """The data can be used, but something deserves a look (gaps, one-session clients, ...)."""


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------
def read_table(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Read CSV/TSV, Parquet or SPSS ``.sav`` into a DataFrame.

    Returns the frame and whether it came from a delimited text file (whose line numbers are
    the row number + 2, counting the header line).
    """
    if isinstance(source, pd.DataFrame):
        return source.copy(), False
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file. Check the path (working directory: {Path.cwd()}).")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the path of a CSV, Parquet or .sav file.")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes): there is nothing to analyse.")
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path), False
        if suffix == ".sav":
            try:
                import pyreadstat  # noqa: F401
            except ImportError as exc:
                raise DataError(
                    f"{path}: reading SPSS files needs the optional package pyreadstat. "
                    "Install it with `pip install 'causalrel[spss]'`, or save the data as CSV."
                ) from exc
            return pd.read_spss(path, convert_categoricals=False), False
        sep = "\t" if suffix in {".tsv", ".tab"} else ","
        return pd.read_csv(path, sep=sep, skipinitialspace=True), True
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} has no columns: is it empty or only blank lines?") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(
            f"{path} could not be read as {suffix.lstrip('.') or 'CSV'}: {exc}. "
            "Save it as a comma-separated CSV with one header line."
        ) from exc


# ---------------------------------------------------------------------------------------------
# The panel
# ---------------------------------------------------------------------------------------------
@dataclass
class SessionPanel:
    """A validated long-format panel: one row per client and session.

    Use :func:`load_panel` to build one. ``data`` is sorted by client and session and holds the
    user's columns under the user's names; ``x`` (the alliance) and ``y`` (the symptoms) are
    floats with NaN for a missing rating.
    """

    data: pd.DataFrame
    client: str = "client"
    session: str = "session"
    x: str = "alliance"
    y: str = "symptoms"
    therapist: str | None = None
    covariates: tuple[str, ...] = ()
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    source: str = "<DataFrame>"

    # -- counts -------------------------------------------------------------------------------
    @property
    def variables(self) -> list[str]:
        """The two process variables, ``[x, y]``."""
        return [self.x, self.y]

    @property
    def n_clients(self) -> int:
        return int(self.data[self.client].nunique())

    @property
    def n_rows(self) -> int:
        return len(self.data)

    @property
    def sessions_per_client(self) -> pd.Series:
        """Number of rows (sessions) per client."""
        return self.data.groupby(self.client, sort=False).size()

    def column_map(self) -> dict[str, Any]:
        """The column mapping, to rebuild a panel from a subset of ``data``."""
        return dict(
            client=self.client,
            session=self.session,
            x=self.x,
            y=self.y,
            therapist=self.therapist,
            covariates=self.covariates,
        )

    def subset(self, rows: pd.Series | np.ndarray) -> SessionPanel:
        """A new panel of the selected rows (no re-validation; the rows are already valid)."""
        data = self.data.loc[rows].reset_index(drop=True)
        return SessionPanel(data=data, **self.column_map(), ranges=self.ranges, source=self.source)

    def with_values(self, values: pd.DataFrame) -> SessionPanel:
        """A copy whose x/y (or other) columns are replaced by ``values`` (same row order)."""
        data = self.data.copy()
        for col in values.columns:
            data[col] = np.asarray(values[col], dtype=float)
        return SessionPanel(data=data, **self.column_map(), ranges=self.ranges, source=self.source)

    # -- transforms ---------------------------------------------------------------------------
    def lagged(self, columns: Sequence[str] | None = None, lag: int = 1) -> pd.DataFrame:
        """``data`` plus ``{col}_lag{lag}`` columns: the value at session ``s - lag``.

        Lags are matched by session number within client, so a lag across a missed session is
        missing, never the last session before the gap.
        """
        columns = list(columns) if columns is not None else self.variables
        keys = [self.client, self.session]
        prev = self.data[keys + columns].copy()
        prev[self.session] = prev[self.session] + lag
        prev = prev.rename(columns={c: f"{c}_lag{lag}" for c in columns})
        return self.data.merge(prev, on=keys, how="left", validate="one_to_one")

    def wide(
        self, columns: Sequence[str] | None = None, waves: Iterable[int] | None = None
    ) -> pd.DataFrame:
        """One row per client, one column per (variable, session); missed sessions are NaN.

        Columns are a MultiIndex ``(variable, wave)``. ``waves`` defaults to every session
        number from 1 to the largest observed; the SEMs treat session numbers as waves.
        """
        columns = list(columns) if columns is not None else self.variables
        waves = (
            list(waves)
            if waves is not None
            else list(range(1, int(self.data[self.session].max()) + 1))
        )
        table = self.data.pivot(index=self.client, columns=self.session, values=columns)
        full = pd.MultiIndex.from_product([columns, waves], names=["variable", "wave"])
        return table.reindex(columns=full)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def load_panel(
    source: str | Path | pd.DataFrame,
    *,
    client: str = "client",
    session: str = "session",
    x: str = "alliance",
    y: str = "symptoms",
    therapist: str | None = None,
    covariates: Sequence[str] = (),
    ranges: Mapping[str, tuple[float, float]] | None = None,
    warn: bool = True,
) -> SessionPanel:
    """Read and validate long-format session data.

    Parameters
    ----------
    source : path or DataFrame
        CSV (``.csv``; ``.tsv`` for tab-separated), Parquet, SPSS ``.sav`` (needs pyreadstat),
        or a DataFrame with one row per client and session.
    client, session, x, y : str
        Column names: client id, session number (positive integers; used as the time index),
        the alliance (``x``) and the symptoms (``y``).
    therapist : str, optional
        Column with the therapist id, for a three-level variance decomposition and models.
    covariates : sequence of str
        Further numeric columns (client- or session-level) kept for models that use them.
    ranges : mapping, optional
        ``{column: (low, high)}`` declared score ranges; values outside give a warning.
    warn : bool
        Emit the collected :class:`DataWarning` messages (they are kept in
        ``panel.warnings`` either way).

    Returns
    -------
    SessionPanel

    Raises
    ------
    DataError
        If the data cannot be used; the message names the problem and the rows affected.
    """
    frame, from_text = read_table(source)
    where = str(source) if not isinstance(source, pd.DataFrame) else "the data"
    covariates = tuple(covariates)
    _check_columns(frame, where, [client, session, x, y, therapist, *covariates])
    if len(frame) == 0:
        raise DataError(f"{where} has a header but no rows: there is nothing to analyse.")

    rowname = _row_namer(frame, from_text)
    data = frame.copy()
    _check_ids(data, client, rowname, what="client id")
    if therapist is not None:
        _check_ids(data, therapist, rowname, what="therapist id")
    data[session] = _check_sessions(data[session], session, rowname)
    for col in (x, y, *covariates):
        data[col] = _check_numeric(data[col], col, rowname)
    _check_duplicates(data, client, session, rowname)

    data = data.sort_values([client, session], kind="stable").reset_index(drop=True)
    msgs: list[str] = []
    for col in (x, y):
        if data[col].notna().sum() == 0:
            raise DataError(f"Column '{col}' has no values at all: every rating is missing.")
        sd = data[col].std()
        if not np.isfinite(sd) or sd == 0:
            raise DataError(
                f"Column '{col}' has zero variance (every value is {data[col].dropna().iloc[0]!r})"
                ": no model can estimate an effect of or on a constant. Check the column mapping."
            )
    per_client = data.groupby(client, sort=False)[session].size()
    if (per_client >= 2).sum() == 0:
        raise DataError(
            f"No client has two or more sessions ({len(per_client)} clients, one session each): "
            "within-client effects need repeated sessions. Is the session column right?"
        )
    single = per_client.index[per_client == 1]
    if len(single):
        msgs.append(
            f"{len(single)} client(s) have only one session and add nothing to within-client "
            f"estimates: {_show(single)}."
        )
    sess = data.groupby(client, sort=False)[session]
    span = sess.max() - sess.min() + 1
    gappy = span.index[span > per_client]
    if len(gappy):
        msgs.append(
            f"{len(gappy)} client(s) have gaps in their session numbers (e.g. {_show(gappy)}); "
            "a lag across a missed session is treated as missing, not as the previous row."
        )
    ranges = dict(ranges or {})
    for col, (lo, hi) in ranges.items():
        if col not in data:
            raise DataError(f"A range was declared for '{col}', which is not a column.")
        bad = data.index[(data[col] < lo) | (data[col] > hi)]
        if len(bad):
            msgs.append(
                f"{len(bad)} value(s) of '{col}' lie outside the declared range [{lo}, {hi}]: "
                + ", ".join(
                    f"client {data.at[i, client]} session {data.at[i, session]}: {data.at[i, col]}"
                    for i in bad[:MAX_SHOWN]
                )
                + (" ..." if len(bad) > MAX_SHOWN else "")
            )
    if warn:
        for m in msgs:
            warnings.warn(m, DataWarning, stacklevel=2)
    return SessionPanel(
        data=data,
        client=client,
        session=session,
        x=x,
        y=y,
        therapist=therapist,
        covariates=covariates,
        ranges=ranges,
        warnings=msgs,
        source=where,
    )


def _check_columns(frame: pd.DataFrame, where: str, wanted: list[str | None]) -> None:
    names = [c for c in wanted if c is not None]
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise DataError(
            f"Column '{dupes[0]}' is mapped to two roles; give each role its own column."
        )
    found = [str(c) for c in frame.columns]
    missing = [c for c in names if c not in frame.columns]
    if not missing:
        return
    msg = (
        f"{where} has no column{'s' if len(missing) > 1 else ''} "
        + ", ".join(f"'{c}'" for c in missing)
        + f". Columns found: {', '.join(repr(c) for c in found[:20])}"
        + (" ..." if len(found) > 20 else "")
        + ". Name the right ones with --client/--session/--x/--y (or the same keyword arguments)."
    )
    if len(found) == 1 and any(d in found[0] for d in (";", "\t", "|")):
        msg += (
            " The file seems to use another delimiter (only one column was found, and its name "
            "contains ';', a tab or '|'): save it comma-separated, or as .tsv for tabs."
        )
    raise DataError(msg)


def _row_namer(frame: pd.DataFrame, from_text: bool):
    """How messages name a row: its file line number, or its DataFrame index label."""
    labels = list(frame.index)

    def name(positions: Iterable[int]) -> str:
        positions = list(positions)
        if from_text:
            shown = [f"line {p + 2}" for p in positions[:MAX_SHOWN]]
        else:
            shown = [f"row {labels[p]!r}" for p in positions[:MAX_SHOWN]]
        more = f" (and {len(positions) - MAX_SHOWN} more)" if len(positions) > MAX_SHOWN else ""
        return ", ".join(shown) + more

    return name


def _positions(mask: pd.Series) -> list[int]:
    return list(np.flatnonzero(np.asarray(mask, dtype=bool)))


def _check_ids(data: pd.DataFrame, col: str, rowname, what: str) -> None:
    blank = data[col].isna() | (data[col].astype(str).str.strip() == "")
    if blank.any():
        raise DataError(
            f"{blank.sum()} row(s) have no {what} in column '{col}': {rowname(_positions(blank))}. "
            "Fill in the id or remove those rows."
        )


def _check_sessions(values: pd.Series, col: str, rowname) -> pd.Series:
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() | ~np.isfinite(num.astype(float)) | (num <= 0) | (num % 1 != 0)
    if bad.any():
        pos = _positions(bad)
        shown = ", ".join(_value(values.iloc[p]) for p in pos[:MAX_SHOWN])
        raise DataError(
            f"Session numbers in '{col}' must be positive whole numbers (1, 2, 3, ...); "
            f"{len(pos)} are not, at {rowname(pos)}: {shown}. "
            "If sessions are dates, number them per client first."
        )
    return num.astype("int64")


def _check_numeric(values: pd.Series, col: str, rowname) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    num = pd.to_numeric(values, errors="coerce")
    text = values.astype(str).str.strip()
    was_blank = values.isna() | text.isin(["", "nan", "NaN", "NA", "NULL", "null", "None"])
    bad = num.isna() & ~was_blank
    if bad.any():
        pos = _positions(bad)
        shown = ", ".join(_value(values.iloc[p]) for p in pos[:MAX_SHOWN])
        hint = ""
        if text[bad].str.fullmatch(r"-?\d+,\d+").any():
            hint = (
                " These look like decimal commas: write decimals with a point (3.5, not 3,5),"
                " e.g. re-export the file with a point as decimal separator."
            )
        raise DataError(
            f"Column '{col}' must hold numbers; {len(pos)} value(s) are not, at {rowname(pos)}: "
            f"{shown}.{hint} Leave a missing rating empty (or NA)."
        )
    num = num.astype(float)
    inf = ~np.isfinite(num) & num.notna()
    if inf.any():
        pos = _positions(inf)
        raise DataError(
            f"Column '{col}' has infinite values at {rowname(pos)}: replace them with the real "
            "score, or leave the cell empty if the rating is missing."
        )
    return num


def _check_duplicates(data: pd.DataFrame, client: str, session: str, rowname) -> None:
    dup = data.duplicated([client, session], keep=False)
    if dup.any():
        pos = _positions(dup)
        pairs = data.loc[dup, [client, session]].drop_duplicates()
        shown = ", ".join(
            f"client {c} session {s}" for c, s in pairs.head(MAX_SHOWN).itertuples(index=False)
        )
        raise DataError(
            f"{len(pairs)} client-session pair(s) appear more than once ({shown}), at "
            f"{rowname(pos)}. Each client may have one row per session: remove or merge the "
            "duplicates (or check that the session column is right)."
        )


def _value(v: Any) -> str:
    """A cell value as the user wrote it: ``'four'``, ``0.0`` (not ``np.float64(0.0)``)."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _show(ids: Sequence[Any]) -> str:
    ids = list(ids)
    more = f" and {len(ids) - MAX_SHOWN} more" if len(ids) > MAX_SHOWN else ""
    return ", ".join(map(str, ids[:MAX_SHOWN])) + more


def client_column(panel: SessionPanel, column: Any, role: str, example: str) -> pd.Series:
    """One value per client of a client-level column (a group, a cluster such as the
    therapist), indexed by client in order of appearance.

    Raises a :class:`DataError` when the column is absent, is one of the model's columns, has
    missing values, or changes within a client. ``role`` ("group", "cluster") and ``example``
    ("the therapist") word the messages.
    """
    p = panel
    if not isinstance(column, str) or column not in p.data.columns:
        raise DataError(
            f"{role}='{column}' is not a column of the data (load_panel keeps every "
            "column of the table; check the spelling)."
        )
    if column in (p.x, p.y, p.client, p.session):
        raise DataError(
            f"{role}='{column}' is a model variable; the {role} must be a separate "
            f"client-level column (e.g. {example})."
        )
    values = p.data[column]
    if values.isna().any():
        clients = p.data.loc[values.isna(), p.client].unique()
        raise DataError(
            f"The {role} column '{column}' is missing for {len(clients)} client(s) "
            f"(e.g. {_show(clients)}); give every client a {role} or drop them."
        )
    per = values.groupby(p.data[p.client], sort=False)
    n = per.nunique()
    if (n > 1).any():
        raise DataError(
            f"The {role} column '{column}' changes within client(s) "
            f"{_show(n[n > 1].index)}: a {role} (e.g. {example}) must be constant "
            "within each client."
        )
    return per.first()
