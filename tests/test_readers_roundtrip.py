"""The file readers are lossless: a panel read from CSV, TSV, Parquet or SPSS equals the panel
built from the DataFrame that was written (values, missing ratings, ids, covariates, row set),
not just its row count."""

import numpy as np
import pandas as pd
import pytest

from causalrel import load_panel


def _frame(string_ids):
    rng = np.random.default_rng(4)
    n = 24
    clients = np.repeat(np.arange(1, 7), 4)
    df = pd.DataFrame(
        {
            "client": [f"C{c:03d}" for c in clients] if string_ids else clients,
            "session": np.tile([1, 2, 4, 5], 6),  # a missed session 3 for everyone
            "alliance": rng.normal(4, 1, n).round(6),
            "symptoms": rng.normal(20, 5, n).round(6),
            "age": np.repeat(rng.integers(18, 70, 6), 4).astype(float),
        }
    )
    df.loc[[2, 9], "alliance"] = np.nan
    df.loc[[5], "symptoms"] = np.nan
    return df.sample(frac=1.0, random_state=1).reset_index(drop=True)  # unsorted rows


def _write(df, path):
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        df.to_csv(path, index=False, sep="\t")
    elif path.suffix == ".parquet":
        df.to_parquet(path)
    else:
        import pyreadstat

        pyreadstat.write_sav(df, path)


@pytest.mark.parametrize("string_ids", [False, True], ids=["int_ids", "string_ids"])
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".sav"])
def test_reader_round_trip_is_exact(tmp_path, suffix, string_ids):
    df = _frame(string_ids)
    path = tmp_path / f"d{suffix}"
    _write(df, path)
    kw = dict(covariates=["age"], warn=False)
    want, got = load_panel(df, **kw), load_panel(path, **kw)
    assert got.n_rows == want.n_rows and got.n_clients == want.n_clients
    # SPSS stores every number as a double: ids 1, 2, ... come back as 1.0, 2.0, ...
    pd.testing.assert_frame_equal(got.data, want.data, check_dtype=suffix != ".sav")
    assert got.data["alliance"].isna().sum() == 2 and got.data["symptoms"].isna().sum() == 1
    if suffix != ".sav":  # (the SPSS ids read as 1.0, 2.0 show so in the messages)
        assert got.warnings == want.warnings
    assert len(got.warnings) == len(want.warnings) == 1
