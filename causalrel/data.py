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

__all__ = [
    "DataError",
    "DataWarning",
    "SessionPanel",
    "load_panel",
    "parse_na",
    "parse_ranges",
    "read_table",
]

MAX_SHOWN = 5  # how many offending rows/values a message lists


class DataError(ValueError):
    """The data cannot be used as given. The message says what, where, and what to do."""


class DataWarning(UserWarning):
    """The data can be used, but something deserves a look (gaps, one-session clients, ...)."""


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------
#: File endings read as delimited text (compressed CSV is decompressed by pandas).
COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst"}
EXCEL = {".xlsx", ".xlsm"}


def read_table(
    source: str | Path | pd.DataFrame,
    *,
    text_columns: Sequence[str] = (),
    encoding: str | None = None,
) -> tuple[pd.DataFrame, bool]:
    """Read CSV/TSV (also ``.csv.gz`` and other compressed CSV), Excel, Parquet or SPSS ``.sav``.

    ``text_columns`` (the id columns) are read as text, so that ids such as ``07`` keep their
    leading zeros; :func:`load_panel` turns them into integers only when every id is a plain
    integer. ``encoding`` is that of a text file (default UTF-8).

    Returns the frame and whether it came from a delimited text file (whose line numbers are
    the row number + 2, counting the header line).
    """
    if isinstance(source, pd.DataFrame):
        return source.copy(), False
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file. Check the path (working directory: {Path.cwd()}).")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the path of a CSV, Excel, Parquet or .sav file.")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes): there is nothing to analyse.")
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    inner = suffixes[-2] if suffix in COMPRESSED and len(suffixes) > 1 else suffix
    as_text = {c: str for c in text_columns}
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
        if suffix in EXCEL:
            return _read_excel(path, as_text), False
        if suffix == ".xls":
            raise DataError(
                f"{path} is an old-style Excel file (.xls): save it as .xlsx or as CSV (UTF-8)."
            )
        sep = "\t" if inner in {".tsv", ".tab"} else ","
        frame = pd.read_csv(
            path, sep=sep, skipinitialspace=True, encoding=encoding or "utf-8", dtype=as_text
        )
        return frame, True
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} has no columns: is it empty or only blank lines?") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"position {exc.start} cannot be decoded as {exc.encoding}). Save it as UTF-8 "
            "(in Excel: CSV UTF-8), or name its encoding with --encoding (Python: encoding=), "
            "e.g. --encoding latin-1 or --encoding cp1252."
        ) from exc
    except LookupError as exc:
        raise DataError(f"Unknown encoding {encoding!r}: use e.g. utf-8, latin-1, cp1252.") from exc
    except (pd.errors.ParserError, ValueError, OSError, EOFError) as exc:
        what = suffix.lstrip(".") or "CSV"
        raise DataError(
            f"{path} could not be read as {what}: {exc}. "
            "Save it as a comma-separated CSV with one header line."
        ) from exc


def _read_excel(path: Path, as_text: dict[str, type]) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise DataError(
            f"{path}: reading Excel files needs openpyxl (`pip install openpyxl`); "
            "or save the sheet as CSV."
        ) from exc
    return pd.read_excel(path, sheet_name=0, dtype=as_text or None)


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
    notes: list[str] = field(default_factory=list)
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
        missing, never the last session before the gap (:func:`causalrel.design.add_lags`).
        """
        from .design import add_lags

        columns = list(columns) if columns is not None else self.variables
        return add_lags(self.data, self.client, self.session, columns, lag)

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
    na_values: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
    encoding: str | None = None,
    warn: bool = True,
) -> SessionPanel:
    """Read and validate long-format session data.

    Besides the format (columns, numbers, session numbers, duplicates), the checks catch data
    that look valid but would give a wrong number: missing-value codes such as -99 left in a
    rating column, absurd magnitudes, a process variable that does not vary within clients
    (nothing to estimate a within-client effect from) and clients who change therapist.

    Parameters
    ----------
    source : path or DataFrame
        CSV (``.csv``; ``.tsv`` for tab-separated; also compressed, e.g. ``.csv.gz``), Excel
        ``.xlsx`` (first sheet), Parquet, SPSS ``.sav`` (needs pyreadstat), or a DataFrame with
        one row per client and session.
    client, session, x, y : str
        Column names: client id, session number (positive integers; used as the time index),
        the alliance (``x``) and the symptoms (``y``). Ids are kept as text (``07`` and ``7``
        are different clients) unless every id is a plain integer without leading zeros.
    therapist : str, optional
        Column with the therapist id, for a three-level variance decomposition and models.
        Each client must see one therapist (clients nested in therapists).
    covariates : sequence of str
        Further numeric columns (client- or session-level) kept for models that use them.
    ranges : mapping, optional
        ``{column: (low, high)}`` valid score ranges. A value outside is an error (declare it
        in ``na_values`` if it is a missing-value code); a column with a declared range is
        not searched for likely codes.
    na_values : sequence or mapping, optional
        Missing-value codes, e.g. ``[-99, 999]`` for every numeric column or
        ``{"symptoms": [-99]}`` per column; those cells become missing. Without them, a value
        repeated far outside the rest of a column is reported as a likely code (an error).
    encoding : str, optional
        Encoding of a text file (default UTF-8), e.g. ``"latin-1"``.
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
    covariates = tuple(covariates)
    ids = [c for c in (client, therapist) if c is not None]
    frame, from_text = read_table(source, text_columns=ids, encoding=encoding)
    where = str(source) if not isinstance(source, pd.DataFrame) else "the data"
    _check_columns(frame, where, [client, session, x, y, therapist, *covariates])
    _check_private_names(x, y, covariates)
    if len(frame) == 0:
        raise DataError(f"{where} has a header but no rows: there is nothing to analyse.")

    rowname = _row_namer(frame, from_text)
    data = frame.copy()
    msgs: list[str] = []
    notes: list[str] = []
    data[client] = _check_ids(data, client, rowname, "client id", msgs, notes)
    if therapist is not None:
        data[therapist] = _check_ids(data, therapist, rowname, "therapist id", msgs, notes)
    data[session] = _check_sessions(data[session], session, rowname)
    numeric = (x, y, *covariates)
    codes = _codes_by_column(na_values, numeric)
    for col in numeric:
        values, n_coded = _apply_na(data[col], codes.get(col, ()))
        if n_coded:
            notes.append(
                f"{n_coded} value(s) of '{col}' are missing-value codes "
                f"({', '.join(map(str, codes[col]))}) and were set to missing."
            )
        data[col] = _check_numeric(values, col, rowname)
    ranges = _check_ranges(data, ranges, numeric, rowname, client, session)
    for col in numeric:
        if col not in ranges:
            _check_codes(data, col, rowname, client, session)
    _check_duplicates(data, client, session, rowname)

    data = data.sort_values([client, session], kind="stable").reset_index(drop=True)
    for col in (x, y):
        if data[col].notna().sum() == 0:
            raise DataError(f"Column '{col}' has no values at all: every rating is missing.")
        with np.errstate(all="ignore"):
            sd = data[col].std()
        if not np.isfinite(sd) or sd == 0:
            raise DataError(
                f"Column '{col}' has zero variance (every value is "
                f"{_value(data[col].dropna().iloc[0])}): no model can estimate an effect of or "
                "on a constant. Check the column mapping."
            )
    per_client = data.groupby(client, sort=False)[session].size()
    if (per_client >= 2).sum() == 0:
        raise DataError(
            f"No client has two or more sessions ({len(per_client)} clients, one session each): "
            "within-client effects need repeated sessions. Is the session column right?"
        )
    for col in (x, y):
        _check_within_variation(data, col, client)
    _check_distinct(data, x, y, client)
    if therapist is not None:
        _check_nesting(data, client, session, therapist)
    if len(per_client) == 1:
        msgs.append(
            "The data hold one client only: between-client differences cannot be estimated, "
            "and the model families need many clients."
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
        notes=notes,
        source=where,
    )


# ---------------------------------------------------------------------------------------------
# Command-line forms of the options (parsed here so the CLI holds no validation logic)
# ---------------------------------------------------------------------------------------------
def parse_na(items: Sequence[str], columns: Sequence[str]) -> dict[str, list[float | str]]:
    """``--na`` values -> ``na_values``: ``"-99,999"`` (every column) or ``"symptoms=-99"``."""
    out: dict[str, list[float | str]] = {}
    for item in items:
        col, sep, raw = item.partition("=")
        targets = [col.strip()] if sep else list(columns)
        raw = raw if sep else item
        if sep and col.strip() not in columns:
            raise DataError(
                f"--na {item}: '{col.strip()}' is not one of the rating or covariate columns "
                f"({', '.join(columns)})."
            )
        vals = [_number_or_text(v) for v in raw.split(",") if v.strip()]
        if not vals:
            raise DataError(f"--na takes codes such as -99,999 or symptoms=-99; got {item!r}.")
        for t in targets:
            out.setdefault(t, []).extend(vals)
    return out


def parse_ranges(items: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``--range`` values -> ``ranges``: ``"alliance=1:7"``."""
    out: dict[str, tuple[float, float]] = {}
    for item in items:
        col, sep, raw = item.partition("=")
        lo, colon, hi = raw.partition(":")
        try:
            low, high = float(lo), float(hi)
        except ValueError:
            low = high = float("nan")
        if not sep or not col.strip() or not colon or not (low <= high):
            raise DataError(
                f"--range takes COLUMN=LOW:HIGH with LOW <= HIGH, e.g. alliance=1:7; got {item!r}."
            )
        out[col.strip()] = (low, high)
    return out


def _number_or_text(v: str) -> float | str:
    try:
        f = float(v)
    except ValueError:
        return v.strip()
    return int(f) if f.is_integer() else f


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
def _check_private_names(x: str, y: str, covariates: Sequence[str]) -> None:
    derived = {f"{v}_lag1": v for v in (x, y)}
    for col in (x, y, *covariates):
        if col in derived:
            raise DataError(
                f"Column '{col}' is used as a variable, but causalrel computes the lag of "
                f"'{derived[col]}' itself under that name. Leave it out (lags are computed for "
                "you, respecting missed sessions), or rename it."
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


def _check_ids(
    data: pd.DataFrame, col: str, rowname, what: str, msgs: list[str], notes: list[str]
) -> pd.Series:
    """Blank ids are an error; ids are text unless all are plain integers (no leading zero)."""
    values = data[col]
    blank = values.isna() | (values.astype(str).str.strip() == "")
    if blank.any():
        raise DataError(
            f"{blank.sum()} row(s) have no {what} in column '{col}': {rowname(_positions(blank))}. "
            "Fill in the id or remove those rows."
        )
    if pd.api.types.is_bool_dtype(values):
        return values.astype(str)
    if pd.api.types.is_integer_dtype(values):
        return values
    if pd.api.types.is_float_dtype(values) and bool((values % 1 == 0).all()):
        return values.astype("int64")
    text = values.map(_value_text).str.strip()
    plain = text.str.fullmatch(r"(0|[1-9]\d{0,17})(\.0*)?")
    if plain.all():
        return text.str.replace(r"\.0*$", "", regex=True).astype("int64")
    example = text[~plain].iloc[0]
    notes.append(
        f"{what}s in '{col}' are read as text (not all are plain integers, e.g. {example!r})."
    )
    stripped = text.str.lstrip("0").replace("", "0")
    clash = text.groupby(stripped).nunique()
    clash = clash.index[clash > 1]
    if len(clash):
        pairs = [
            " and ".join(repr(t) for t in sorted(text[stripped == k].unique()))
            for k in clash[:MAX_SHOWN]
        ]
        msgs.append(
            f"{len(clash)} {what}(s) in '{col}' differ only by leading zeros ({'; '.join(pairs)}):"
            " they are kept apart as different ids. If they are the same, write them alike."
        )
    return text


def _value_text(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v.item() if isinstance(v, np.generic) else v)


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


#: Values beyond this magnitude are typos or codes, never scores (their squares overflow soon).
MAX_MAGNITUDE = 1e12
#: A value is "far outside" when it lies beyond the quartiles by this many spreads (the larger of
#: the interquartile range and half the 10-90% range) ...
CODE_FENCE = 3.0
#: ... and is cut off from the values nearer the bulk by a gap wider than this many spreads and
#: this share of the span of those values: repeated, it is a likely code ...
CODE_GAP = 2.0
CODE_SPAN = 0.5
#: ... once, a typo, when the gap is wider than this many spreads and times the span.
#: benchmarks/validate_codes.py measures false alarms and detection with these values.
SINGLE_GAP = 10.0
SINGLE_SPAN = 1.5


def _codes_by_column(
    na_values: Sequence[Any] | Mapping[str, Sequence[Any]] | None, columns: Sequence[str]
) -> dict[str, list[Any]]:
    if na_values is None:
        return {}
    if isinstance(na_values, Mapping):
        unknown = [c for c in na_values if c not in columns]
        if unknown:
            raise DataError(
                f"na_values names {', '.join(map(repr, unknown))}, which is not a rating or "
                f"covariate column ({', '.join(columns)})."
            )
        return {c: _as_list(v) for c, v in na_values.items()}
    codes = _as_list(na_values)
    return {c: codes for c in columns}


def _as_list(v: Any) -> list[Any]:
    return [v] if isinstance(v, (str, int, float)) else list(v)


def _apply_na(values: pd.Series, codes: Sequence[Any]) -> tuple[pd.Series, int]:
    """Cells equal to a code (as a number or as text) become missing."""
    if not codes:
        return values, 0
    nums = []
    for c in codes:
        try:
            nums.append(float(c))
        except (TypeError, ValueError):
            pass
    text = values.astype(str).str.strip()
    hit = text.isin({str(c).strip() for c in codes})
    if nums:
        hit |= pd.to_numeric(values, errors="coerce").isin(nums)
    return values.mask(hit), int(hit.sum())


def _check_ranges(
    data: pd.DataFrame,
    ranges: Mapping[str, tuple[float, float]] | None,
    numeric: Sequence[str],
    rowname,
    client: str,
    session: str,
) -> dict[str, tuple[float, float]]:
    """Values outside a declared range are an error naming each value, its count and rows."""
    out: dict[str, tuple[float, float]] = {}
    for col, bounds in dict(ranges or {}).items():
        if col not in data:
            raise DataError(f"A range was declared for '{col}', which is not a column.")
        if col not in numeric:
            raise DataError(
                f"A range was declared for '{col}', which is not a rating or covariate column "
                f"({', '.join(numeric)})."
            )
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            lo = hi = float("nan")
        if not lo <= hi:
            raise DataError(
                f"The range of '{col}' must be (low, high) with low <= high; got {bounds!r}."
            )
        out[col] = (lo, hi)
        bad = (data[col] < lo) | (data[col] > hi)
        if bad.any():
            code = _num(data.loc[bad, col].value_counts().index[0])
            raise DataError(
                f"Column '{col}' has {int(bad.sum())} value(s) outside its declared range "
                f"[{_num(lo)}, {_num(hi)}]: {_counted(data, col, bad, rowname)}. Correct them; "
                f"if a value is a missing-value code, declare it: --na {col}={code} "
                f"(Python: na_values={{{col!r}: [{code}]}})."
            )
    return out


def _check_codes(data: pd.DataFrame, col: str, rowname, client: str, session: str) -> None:
    """Stop at likely missing-value codes (-99, 999: a value repeated far from the rest) and
    at absurd magnitudes (1e300, a typo far from every other value)."""
    v = data[col].to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        huge = np.isfinite(v) & (np.abs(v) > MAX_MAGNITUDE)
    if huge.any():
        pos = _positions(huge)
        raise DataError(
            f"Column '{col}' has absurd value(s) {', '.join(_num(v[p]) for p in pos[:MAX_SHOWN])}"
            f" at {_where(data, pos, rowname, client, session)}: no rating is that large. "
            "Correct them, or leave the cells empty if the ratings are missing."
        )
    obs = v[np.isfinite(v)]
    uniq, counts = np.unique(obs, return_counts=True)
    if len(uniq) < 5:  # binary or few-category columns: nothing is "far outside"
        return
    q10, q25, q75, q90 = np.quantile(obs, [0.1, 0.25, 0.75, 0.9])
    spread = max(q75 - q25, (q90 - q10) / 2)
    if not spread > 0:
        return
    lo_f, hi_f = q25 - CODE_FENCE * spread, q75 + CODE_FENCE * spread
    inside = uniq[(uniq >= lo_f) & (uniq <= hi_f)]
    codes: list[tuple[float, int]] = []
    singles: list[float] = []
    for side in (-1, 1):
        outer = uniq[uniq < lo_f][::-1] if side < 0 else uniq[uniq > hi_f]
        prev = inside.min() if side < 0 else inside.max()
        other_end = inside.max() if side < 0 else inside.min()
        cut_off = False
        for u in outer:  # from the bulk outwards; beyond a cut-off everything is suspect
            gap, span = abs(u - prev), abs(prev - other_end)
            n = int(counts[uniq == u][0])
            cut_off |= n >= 2 and gap > max(CODE_GAP * spread, CODE_SPAN * span)
            cut_off |= gap > max(SINGLE_GAP * spread, SINGLE_SPAN * span)
            if cut_off and n >= 2:
                codes.append((float(u), n))
            elif cut_off:
                singles.append(float(u))
            prev = u
    if not codes and not singles:
        return
    rest = obs[~np.isin(obs, [u for u, _ in codes] + singles)]
    around = f"its other values lie between {_num(rest.min())} and {_num(rest.max())}"
    parts = []
    if codes:
        codes.sort(key=lambda c: -c[1])
        listed = ", ".join(
            f"{_num(u)} in {n} rows ({n / len(v):.1%})" for u, n in codes[:MAX_SHOWN]
        )
        flag = ",".join(_num(u) for u, _ in codes)
        parts.append(
            f"Column '{col}' holds {listed}, far outside the rest ({around}): "
            f"{'it looks like a missing-value code' if len(codes) == 1 else 'these look like missing-value codes'}. "
            f"If {'it means' if len(codes) == 1 else 'they mean'} 'missing', declare "
            f"{'it' if len(codes) == 1 else 'them'}: --na {col}={flag} (Python: "
            f"na_values={{{col!r}: [{flag.replace(',', ', ')}]}})."
        )
    if singles:
        pos = _positions(data[col].isin(singles))
        parts.append(
            f"Column '{col}' has implausible value(s) "
            f"{', '.join(_num(u) for u in singles[:MAX_SHOWN])} at "
            f"{_where(data, pos, rowname, client, session)}, far outside the rest ({around}): "
            "a typo? Correct it, or leave the cell empty if the rating is missing."
        )
    raise DataError(
        " ".join(parts)
        + f" If these are real scores, declare the valid range: --range {col}=LOW:HIGH "
        f"(Python: ranges={{{col!r}: (low, high)}})."
    )


def _check_within_variation(data: pd.DataFrame, col: str, client: str) -> None:
    """A process variable must vary within clients: the lagged effects are within-client."""
    obs = data[[client, col]].dropna()
    groups = obs.groupby(client, sort=False)[col]
    repeated = groups.transform("size") >= 2
    obs = obs[repeated]
    if not len(obs):
        return  # no client with two ratings: the models say so in their own words
    dev = obs[col] - obs.groupby(client, sort=False)[col].transform("mean")
    with np.errstate(all="ignore"):
        total = float(((obs[col] - obs[col].mean()) ** 2).sum())
        share = float((dev**2).sum()) / total if total > 0 else 0.0
    n_clients = int(obs[client].nunique())
    varying = int((obs.groupby(client, sort=False)[col].nunique() > 1).sum())
    if varying == 0 or share < 1e-8 or (varying == 1 and n_clients >= 3):
        raise DataError(
            f"Column '{col}' does not vary within clients: {n_clients - varying} of {n_clients} "
            f"clients with two or more ratings have the same value at every session (within-"
            f"client share of its variance: {share:.1g}). It differs (almost) only between "
            f"clients, so no within-client effect of or on '{col}' can be estimated. Check the column "
            "mapping (--x/--y): is it a baseline or client-level score? Then use it as a "
            "covariate, not as a process variable."
        )


def _check_distinct(data: pd.DataFrame, x: str, y: str, client: str) -> None:
    """The two process variables must not be one variable twice (a mapping slip): their
    within-client deviations perfectly correlated leave no separate lagged effects to estimate."""
    obs = data[[client, x, y]].dropna()
    if len(obs) - obs[client].nunique() < 10:  # too few within-client degrees of freedom to judge
        return
    from .design import centre_within

    _, dev = centre_within(obs, client, [x, y])
    with np.errstate(all="ignore"):
        r = float(np.corrcoef(dev[x].to_numpy(float), dev[y].to_numpy(float))[0, 1])
    if np.isfinite(r) and abs(r) > 1 - 1e-9:
        raise DataError(
            f"Columns '{x}' and '{y}' carry the same within-client information (correlation of "
            f"their within-client deviations {r:+.6f} over {len(obs)} rows): one is a copy or a "
            "rescaling of the other, so their effects on each other cannot be told apart. Check "
            "the column mapping (--x/--y)."
        )


def _check_nesting(data: pd.DataFrame, client: str, session: str, therapist: str) -> None:
    """Each client must see one therapist: the therapist level nests clients."""
    n = data.groupby(client, sort=False)[therapist].nunique()
    movers = n.index[n > 1]
    if not len(movers):
        return
    shown = []
    for c in movers[:3]:
        rows = data[data[client] == c]
        t = rows[therapist].to_numpy()
        change = int(np.flatnonzero(t[1:] != t[:-1])[0]) + 1
        shown.append(
            f"client {c}: therapist {t[change - 1]} until session "
            f"{rows[session].iloc[change - 1]}, then {t[change]} from session "
            f"{rows[session].iloc[change]}"
        )
    raise DataError(
        f"{len(movers)} client(s) change therapist during treatment ({'; '.join(shown)}"
        f"{' ...' if len(movers) > 3 else ''}). The therapist level needs each client nested in "
        "one therapist: give every row of a client the same therapist (e.g. the one seen most), "
        "or leave out --therapist (Python: therapist=None)."
    )


def _counted(data: pd.DataFrame, col: str, bad: pd.Series, rowname) -> str:
    counts = data.loc[bad, col].value_counts()
    shown = ", ".join(f"{_num(u)} ({n}x)" for u, n in counts.head(MAX_SHOWN).items())
    return shown + f", at {rowname(_positions(bad))}"


def _where(data: pd.DataFrame, pos: Sequence[int], rowname, client: str, session: str) -> str:
    cells = "; ".join(
        f"client {data[client].iloc[p]} session {data[session].iloc[p]}" for p in pos[:MAX_SHOWN]
    )
    return f"{rowname(pos)} ({cells})"


def _num(v: float) -> str:
    v = float(v)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


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
    if isinstance(column, str) and "," in column and column not in p.data.columns:
        raise DataError(
            f"{role}='{column}' names more than one column; this family takes one client-level "
            f"{role} column (e.g. {example}). Two-way clustering (cluster='therapist,session') "
            "is offered by the fixed-effects family (fe) only."
        )
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
    from .design import client_values

    return client_values(p.data, p.client, column, policy="constant", role=role, example=example)
