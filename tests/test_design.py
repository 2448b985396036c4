"""The shared design layer (causalrel.design): lags, the mask, exclusions, centring, time,
client-level columns. Small hand-made frames whose answers can be read off."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causalrel.data import DataError, load_panel
from causalrel.design import (
    EXCLUSIONS,
    add_lags,
    centre_within,
    centred_time,
    check_exclusions,
    check_time_value,
    client_trend_columns,
    client_values,
    detrend_panel,
    earliest_sessions,
    exclusion_key,
    lag_exclusions,
    merge_exclusions,
    person_means,
    previous_present,
    session_dummies,
)

# client "a": sessions 1 2 3 5 (a gap before 5); "b": 2 3 (starts late); "c": one session.
ROWS = [
    ("a", 1, 1.0, 10.0),
    ("a", 2, 2.0, 20.0),
    ("a", 3, np.nan, 30.0),
    ("a", 5, 4.0, 50.0),
    ("b", 2, 5.0, 60.0),
    ("b", 3, 6.0, np.nan),
    ("c", 1, 7.0, 70.0),
]


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["client", "session", "x", "y"])


@pytest.fixture
def shuffled(frame) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=3)


def test_previous_present_matches_by_session_number_not_row(frame):
    # a2 a3 have their previous session; a5 follows a gap; b3 has b2; first rows have none
    assert previous_present(frame, "client", "session").tolist() == [
        False,
        True,
        True,
        False,
        False,
        True,
        False,
    ]
    assert previous_present(frame, "client", "session", lag=2).tolist() == [
        False,
        False,
        True,
        True,  # a5 - 2 = a3 is there
        False,
        False,
        False,
    ]


def test_mask_and_lags_do_not_depend_on_row_order(frame, shuffled):
    ok = pd.Series(previous_present(shuffled, "client", "session"), index=shuffled.index)
    assert ok.sort_index().tolist() == previous_present(frame, "client", "session").tolist()
    lag = add_lags(shuffled, "client", "session", ["x", "y"]).sort_index()
    assert list(lag.index) == list(frame.index)
    np.testing.assert_array_equal(
        lag["x_lag1"].to_numpy(), [np.nan, 1.0, 2.0, np.nan, np.nan, 5.0, np.nan]
    )
    np.testing.assert_array_equal(
        lag["y_lag1"].to_numpy(), [np.nan, 10.0, 20.0, np.nan, np.nan, 60.0, np.nan]
    )


def test_lags_keep_row_order_and_index(shuffled):
    lag = add_lags(shuffled, "client", "session", ["x"])
    assert list(lag.index) == list(shuffled.index)
    assert list(lag.columns) == ["client", "session", "x", "y", "x_lag1"]


def test_string_ids_that_look_alike_stay_apart():
    d = pd.DataFrame({"client": ["07", "7", "07", "7"], "session": [1, 1, 2, 2], "x": [1, 2, 3, 4]})
    lag = add_lags(d, "client", "session", ["x"])
    assert lag["x_lag1"].tolist()[2:] == [1, 2]
    assert previous_present(d, "client", "session").tolist() == [False, False, True, True]


def test_a_users_lag_column_gives_way(frame):
    frame["x_lag1"] = 99.0
    lag = add_lags(frame, "client", "session", ["x"])
    assert (lag["x_lag1"] != 99.0).all()


def test_earliest_sessions_in_any_order(shuffled):
    first = pd.Series(earliest_sessions(shuffled, "client", "session"), index=shuffled.index)
    assert first.sort_index().tolist() == [True, False, False, False, True, False, True]
    two = pd.Series(earliest_sessions(shuffled, "client", "session", 2), index=shuffled.index)
    assert two.sort_index().tolist() == [True, True, False, False, True, True, True]


def test_lag_exclusions_give_each_row_and_client_one_reason(frame):
    lag = add_lags(frame, "client", "session", ["x", "y"])
    used, excluded = lag_exclusions(
        lag,
        "client",
        "session",
        lagged=lag[["x_lag1", "y_lag1"]].notna().to_numpy().all(axis=1),
        current=lag["y"].notna().to_numpy(),
    )
    # a2 and a3 are used (a3's x at t is missing, but only y at t is needed here)
    assert used.tolist() == [False, True, True, False, False, False, False]
    assert excluded == {
        "rows.first_session": 3,  # a1 b2 c1
        "rows.previous_session_missing": 1,  # a5 (gap)
        "rows.missing_rating": 1,  # b3: y missing at t
        "clients.too_few_sessions": 1,  # c
        "clients.no_usable_rows": 1,  # b
    }
    rows = sum(v for k, v in excluded.items() if k.startswith("rows."))
    assert rows + used.sum() == len(frame)
    check_exclusions(excluded)


def test_lag_exclusions_missing_rating_at_t_minus_1_and_depth_two(frame):
    lag = add_lags(frame, "client", "session", ["x"])
    lag = add_lags(lag, "client", "session", ["x"], lag=2)
    lagged = lag[["x_lag1", "x_lag2"]].notna().to_numpy().all(axis=1)
    used, excluded = lag_exclusions(
        lag, "client", "session", lagged=lagged, current=lag["x"].notna().to_numpy(), depth=2
    )
    assert used.sum() == 0
    # first two sessions of a, b; c's one; a3 has x missing at t (but its lags are there: a1,
    # a2 observed); a5 misses a4
    assert excluded["rows.first_session"] == 5
    assert excluded["rows.previous_session_missing"] == 1
    assert excluded["rows.missing_rating"] == 1
    assert excluded["clients.too_few_sessions"] == 2  # b (two sessions), c
    assert excluded["clients.no_usable_rows"] == 1  # a
    lag.loc[0, "x"] = np.nan  # a1 missing: a3's lag 2 is then missing -> previous_session
    lag = add_lags(lag, "client", "session", ["x"], lag=2)
    _, ex = lag_exclusions(
        lag,
        "client",
        "session",
        lagged=lag["x_lag2"].notna().to_numpy(),
        current=lag["x"].notna().to_numpy(),
        depth=2,
    )
    assert ex["rows.previous_session_missing"] == 2


def test_lag_exclusions_no_lagged_pair_and_instruments():
    d = pd.DataFrame({"client": [1, 1, 2, 2, 2], "session": [1, 3, 1, 2, 3], "v": 1.0})
    ok = np.ones(5, bool)
    used, ex = lag_exclusions(
        d, "client", "session", lagged=ok, current=ok, instruments=np.array([1, 1, 1, 0, 1], bool)
    )
    assert used.tolist() == [False, False, False, False, True]
    assert ex == {
        "rows.first_session": 2,
        "rows.previous_session_missing": 1,
        "rows.no_instruments": 1,
        "clients.no_lagged_pair": 1,
    }


def test_exclusion_vocabulary():
    assert exclusion_key("rows.missing_rating", "symptoms") == "rows.missing_rating:symptoms"
    with pytest.raises(KeyError, match="not an exclusion reason"):
        exclusion_key("rows_with_missing_ratings")
    check_exclusions({"clients.too_few_sessions": 1, "rows.missing_rating:alliance": 2})
    with pytest.raises(ValueError, match="first_sessions"):
        check_exclusions({"first_sessions": 3})
    assert all(k.split(".")[0] in ("clients", "rows") for k in EXCLUSIONS)


def test_merge_exclusions_suffixes_only_what_differs():
    merged = merge_exclusions(
        {
            "symptoms": {"rows.first_session": 3, "rows.missing_rating": 2},
            "alliance": {"rows.first_session": 3, "rows.missing_rating": 1},
        }
    )
    assert merged == {
        "rows.first_session": 3,
        "rows.missing_rating:symptoms": 2,
        "rows.missing_rating:alliance": 1,
    }
    assert merge_exclusions({"a": {"rows.no_instruments": 1}, "b": {}}) == {
        "rows.no_instruments:a": 1
    }


def test_person_means_and_centring(frame, shuffled):
    means = person_means(frame, "client", ["x", "y"])
    assert list(means.index) == ["a", "b", "c"]
    assert means.loc["a", "x"] == pytest.approx(7 / 3)  # the missing a3 is skipped
    between, within = centre_within(shuffled, "client", ["x", "y"])
    assert list(within.index) == list(shuffled.index)
    w = within.sort_index()
    assert w.loc[0, "x"] == pytest.approx(1 - 7 / 3)
    assert np.isnan(w.loc[2, "x"])
    assert w.loc[6, "x"] == 0.0
    assert (between.sort_index().loc[[0, 1, 3], "y"] == 27.5).all()
    # centring over a subset of rows: the means of those rows only
    rows = np.array([True, True, False, False, True, True, True])
    _, w2 = centre_within(frame, "client", ["y"], rows)
    assert w2.loc[3, "y"] == pytest.approx(50 - 15)


def test_time_values_and_centred_time(frame, shuffled):
    assert check_time_value("client") == "client"
    with pytest.raises(DataError, match="time must be one of"):
        check_time_value("linear")
    t = centred_time(frame, "client", "session")
    assert t.tolist() == [-2.0, -1.0, 0.0, 2.0, -0.5, 0.5, 0.0]
    ts = pd.Series(centred_time(shuffled, "client", "session"), index=shuffled.index)
    assert ts.sort_index().tolist() == t.tolist()
    assert centred_time(frame, "client", "session", by="all", unit=2).sum() == pytest.approx(0)


def test_session_dummies_and_client_trends(frame):
    dum = session_dummies(frame["session"], levels=[2, 3, 5])
    assert list(dum.columns) == ["session[2]", "session[3]", "session[5]"]
    assert dum.sum().tolist() == [2.0, 2.0, 1.0]
    tr = client_trend_columns(frame, "client", "session")
    assert list(tr.columns) == ["trend[a]", "trend[b]", "trend[c]"]
    assert tr["trend[b]"].tolist() == [0, 0, 0, 0, -0.5, 0.5, 0]


def test_client_values_policies():
    d = pd.DataFrame(
        {
            "client": [1, 1, 2, 2],
            "arm": ["t", "t", "c", "c"],
            "age": [30.0, np.nan, 40.0, 40.0],
            "mood": [1.0, 3.0, 5.0, np.nan],
        }
    )
    assert client_values(d, "client", "arm").tolist() == ["t", "c"]
    with pytest.raises(DataError, match="missing for 1 client"):
        client_values(d, "client", "age", role="covariate")
    assert client_values(d, "client", "age", missing="rows").tolist() == [30.0, 40.0]
    with pytest.raises(DataError, match="changes within client.*must be constant"):
        client_values(d, "client", "mood", missing="rows", role="covariate")
    means = client_values(d, "client", "mood", policy="mean", missing="rows")
    assert means.tolist() == [2.0, 5.0]
    d.loc[[2, 3], "mood"] = np.nan
    with pytest.raises(DataError, match="every session of client"):
        client_values(d, "client", "mood", policy="mean", missing="rows")
    assert np.isnan(client_values(d, "client", "mood", policy="mean", missing="allow")[2])
    with pytest.raises(ValueError, match="policy"):
        client_values(d, "client", "arm", policy="first")


def test_detrend_panel_note_and_values():
    rng = np.random.default_rng(1)
    rows = [
        (c, s, 0.5 * s + rng.normal(), 10 - s + rng.normal())
        for c in range(5)
        for s in (1, 2, 3, 4)
    ]
    data = pd.DataFrame(rows, columns=["client", "session", "alliance", "symptoms"])
    panel = load_panel(data)
    out, note = detrend_panel(panel)
    assert "linear trend" in note
    for _, g in out.data.groupby("client"):
        slope = np.polyfit(g["session"], g["alliance"], 1)[0]
        assert abs(slope) < 1e-10
        assert g["alliance"].mean() == pytest.approx(panel.data.loc[g.index, "alliance"].mean())


# every family's ``excluded`` keys are in the vocabulary (the families owned with the design
# layer; the Bayesian families and the causal layer add theirs as they switch to it)
FAMILY_OPTIONS = [
    ("fe", {}),
    ("fe", {"time": "client", "lagged_outcome": False}),
    ("dpd", {}),
    ("dpd", {"method": "anderson-hsiao", "cause_type": "endogenous"}),
    ("dpd", {"time": "client"}),
    ("clpm", {}),
    ("riclpm", {"waves": [2, 3, 4, 5]}),
    ("dpml", {}),
]


@pytest.fixture(scope="module")
def gappy_panel():
    from causalrel.simulate import simulate

    sim = simulate(150, 7, mcar=0.05, skip=0.1, seed=4)
    data = sim.data[~((sim.data["client"] <= 3) & (sim.data["session"] > 1))]  # one-session
    return load_panel(data, warn=False)


@pytest.mark.parametrize("family,options", FAMILY_OPTIONS)
def test_every_familys_exclusions_are_in_the_vocabulary(gappy_panel, family, options):
    from causalrel import fit_model

    res = fit_model(family, gappy_panel, **options)
    assert res.excluded, "the panel has gaps, missing ratings and one-session clients"
    check_exclusions(res.excluded)
    assert all(isinstance(v, int) and v >= 0 for v in res.excluded.values())
    if family in ("fe", "dpd"):  # each row not used is counted once, per equation
        for outcome, eq in res.engine.items():
            n_used = int(eq.nobs) if family == "fe" else eq.n_obs
            rows = sum(
                v
                for k, v in res.excluded.items()
                if k.startswith("rows.") and k.split(":")[-1] in (k, outcome)
            )
            assert rows + n_used == gappy_panel.n_rows, (outcome, res.excluded)
