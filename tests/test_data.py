"""The data layer: every validation error names the problem; lags respect gaps."""

import io
import warnings

import numpy as np
import pandas as pd
import pytest

from causalrel.data import DataError, DataWarning, load_panel


def frame(**cols):
    base = dict(
        client=[1, 1, 1, 2, 2, 2],
        session=[1, 2, 3, 1, 2, 3],
        alliance=[3.0, 3.5, 4.0, 2.0, 2.5, 2.0],
        symptoms=[20.0, 18.0, 15.0, 25.0, 24.0, 26.0],
    )
    base.update(cols)
    return pd.DataFrame(base)


def test_valid_frame_loads_sorted():
    df = frame().sample(frac=1, random_state=1)
    p = load_panel(df)
    assert p.n_clients == 2 and p.n_rows == 6
    assert p.data["session"].tolist() == [1, 2, 3, 1, 2, 3]
    assert p.warnings == []


def test_missing_column_names_it_and_lists_found():
    with pytest.raises(
        DataError, match=r"no column 'symptoms'.*Columns found: 'client', 'session', 'alliance'"
    ):
        load_panel(frame().drop(columns="symptoms"))


def test_semicolon_file_hints_at_delimiter(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("client;session;alliance;symptoms\n1;1;3;20\n1;2;4;18\n")
    with pytest.raises(DataError, match="another delimiter"):
        load_panel(f)


def test_duplicates_are_shown():
    df = frame(session=[1, 2, 2, 1, 2, 3])
    with pytest.raises(
        DataError,
        match=r"client 1 session 2.*appear more than once|appear more than once \(client 1 session 2",
    ):
        load_panel(df)


def test_non_numeric_scores_give_lines_and_values(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("client,session,alliance,symptoms\n1,1,3,20\n1,2,four,18\n2,1,3,19\n2,2,2,17\n")
    with pytest.raises(DataError, match=r"'alliance' must hold numbers.*line 3: 'four'"):
        load_panel(f)


def test_decimal_comma_is_recognised():
    df = frame(alliance=["3,5", "3.5", "4", "2", "2.5", "2"])
    with pytest.raises(DataError, match="decimal comma"):
        load_panel(df)


def test_non_finite_values():
    df = frame(symptoms=[20.0, np.inf, 15.0, 25.0, 24.0, 26.0])
    with pytest.raises(DataError, match="infinite values"):
        load_panel(df)


@pytest.mark.parametrize("bad", [0, -1, 1.5, None, "first"])
def test_sessions_must_be_positive_integers(bad):
    df = frame(session=[1, bad, 3, 1, 2, 3])
    with pytest.raises(DataError, match="positive whole numbers"):
        load_panel(df)


def test_missing_client_id():
    df = frame(client=[1, 1, None, 2, 2, 2])
    with pytest.raises(DataError, match="no client id"):
        load_panel(df)


def test_empty_file_and_no_rows(tmp_path):
    f = tmp_path / "empty.csv"
    f.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_panel(f)
    f.write_text("client,session,alliance,symptoms\n")
    with pytest.raises(DataError, match="no rows"):
        load_panel(f)


def test_zero_variance():
    with pytest.raises(DataError, match="'alliance' has zero variance"):
        load_panel(frame(alliance=[3.0] * 6))


def test_no_client_with_two_sessions():
    df = frame(client=[1, 2, 3, 4, 5, 6], session=[1] * 6)
    with pytest.raises(DataError, match="No client has two or more sessions"):
        load_panel(df)


def test_missing_file():
    with pytest.raises(DataError, match="no such file"):
        load_panel("does/not/exist.csv")


def test_warnings_one_session_and_gaps():
    df = pd.concat(
        [frame(), pd.DataFrame(dict(client=[3], session=[1], alliance=[9.0], symptoms=[1.0]))]
    )
    df.loc[df.index[2], "session"] = 5  # client 1: sessions 1, 2, 5
    with pytest.warns(DataWarning) as rec:
        p = load_panel(df)
    text = " ".join(str(w.message) for w in rec)
    assert "1 client(s) have only one session" in text
    assert "gaps in their session numbers (e.g. 1)" in text
    assert len(p.warnings) == 2


def test_value_outside_declared_range_is_an_error():
    df = pd.concat(
        [frame(), pd.DataFrame(dict(client=[3], session=[1], alliance=[9.0], symptoms=[1.0]))]
    )
    with pytest.raises(DataError, match=r"outside its declared range \[1, 5\]: 9 \(1x\)"):
        load_panel(df, ranges={"alliance": (1, 5)}, warn=False)


def test_lag_across_gap_is_missing():
    df = frame(session=[1, 2, 4, 1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        p = load_panel(df)
    lag = p.lagged()
    c1 = lag[lag.client == 1]
    assert np.isnan(c1["alliance_lag1"].iloc[0])
    assert c1["alliance_lag1"].iloc[1] == 3.0
    assert np.isnan(c1["alliance_lag1"].iloc[2])  # session 4's lag is session 3: missed
    c2 = lag[lag.client == 2]
    assert c2["symptoms_lag1"].tolist()[1:] == [25.0, 24.0]


def test_wide_has_every_wave_with_nan_for_missed():
    df = frame(session=[1, 2, 4, 1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        w = load_panel(df).wide()
    assert list(w.columns.get_level_values("wave").unique()) == [1, 2, 3, 4]
    assert np.isnan(w.loc[1, ("alliance", 3)]) and w.loc[1, ("alliance", 4)] == 4.0
    assert np.isnan(w.loc[2, ("symptoms", 4)])


def test_custom_column_names_and_parquet(tmp_path):
    df = frame().rename(columns={"client": "id", "alliance": "wai", "symptoms": "phq"})
    f = tmp_path / "d.parquet"
    df.to_parquet(f)
    p = load_panel(f, client="id", x="wai", y="phq")
    assert p.variables == ["wai", "phq"] and p.n_clients == 2


def test_spss_file(tmp_path):
    import pyreadstat

    f = tmp_path / "d.sav"
    pyreadstat.write_sav(frame(), f)
    assert load_panel(f).n_rows == 6


def test_csv_missing_ratings_are_kept():
    text = "client,session,alliance,symptoms\n1,1,,20\n1,2,3,NA\n1,3,4,15\n2,1,2,25\n2,2,3,24\n"
    p = load_panel(pd.read_csv(io.StringIO(text)))
    assert p.data["alliance"].isna().sum() == 1 and p.data["symptoms"].isna().sum() == 1
