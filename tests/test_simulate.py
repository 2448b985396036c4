"""The simulator: reproducible, honours its settings, and its truth is recoverable."""

import json

import numpy as np
import pandas as pd
import pytest

from causalrel.data import DataError
from causalrel.simulate import simulate


def within_estimator(panel, outcome):
    """Plain fixed-effects OLS of outcome_t on both lags (test-local, independent of causalrel.panel)."""
    lag = panel.lagged()
    cols = [f"{panel.x}_lag1", f"{panel.y}_lag1"]
    d = lag[[panel.client, outcome, *cols]].dropna()
    dm = d[[outcome, *cols]] - d.groupby(panel.client)[[outcome, *cols]].transform("mean")
    beta, *_ = np.linalg.lstsq(dm[cols].to_numpy(), dm[outcome].to_numpy(), rcond=None)
    return dict(zip(cols, beta, strict=True))


def test_same_seed_same_data():
    a, b = simulate(20, 5, seed=4).data, simulate(20, 5, seed=4).data
    pd.testing.assert_frame_equal(a, b)
    assert not simulate(20, 5, seed=5).data.equals(a)


def test_within_cross_lags_recovered_in_long_panel():
    sim = simulate(400, 60, ar=(0.3, 0.5), cross=(-0.25, 0.15), trait_corr=0.5, seed=7)
    p = sim.panel()
    by = within_estimator(p, "symptoms")
    bx = within_estimator(p, "alliance")
    t = sim.truth.within
    # Nickell bias ~ -(1+rho)/(T-1) ~ -0.025 on the autoregression; cross-lags far smaller
    assert by["alliance_lag1"] == pytest.approx(t["alliance->symptoms"], abs=0.03)
    assert bx["symptoms_lag1"] == pytest.approx(t["symptoms->alliance"], abs=0.03)
    assert by["symptoms_lag1"] == pytest.approx(t["symptoms->symptoms"], abs=0.05)


def test_missingness_dropout_and_therapists():
    sim = simulate(
        500,
        (8, 12),
        mcar=(0.1, 0.05),
        dropout=0.1,
        dropout_on_symptoms=1.0,
        skip=0.05,
        n_therapists=25,
        seed=2,
    )
    d = sim.data
    assert d["alliance"].isna().mean() == pytest.approx(0.1, abs=0.03)
    assert d["symptoms"].isna().mean() == pytest.approx(0.05, abs=0.02)
    per = d.groupby("client").size()
    assert (per < 8).mean() > 0.3  # dropout shortens series
    assert d["therapist"].nunique() == 25
    # MAR dropout: clients who left early had worse (higher) symptoms at session 1
    first = d[d.session == 1].set_index("client")["symptoms"]
    early = per[per <= 3].index
    assert first.loc[first.index.isin(early)].mean() > first.loc[~first.index.isin(early)].mean()


def test_random_slopes_and_truth_records():
    sim = simulate(
        2000, 4, cross=(-0.2, 0.0), cross_sd=(0.1, 0.0), time="common", trend=(0.05, -0.1), seed=3
    )
    c = sim.truth.clients
    assert c["alliance->symptoms"].std() == pytest.approx(0.1, rel=0.1)
    assert sim.truth.within_sd["alliance->symptoms"] == 0.1
    means = sim.data.groupby("session")[["alliance", "symptoms"]].mean()
    assert means["alliance"].diff().mean() == pytest.approx(0.05, abs=0.02)
    assert means["symptoms"].diff().mean() == pytest.approx(-0.1, abs=0.02)


def test_bounds_decimals_and_nonstationary_rejected():
    sim = simulate(50, 5, bounds={"alliance": (-0.5, 0.5)}, decimals={"symptoms": 0}, seed=1)
    assert sim.data["alliance"].between(-0.5, 0.5).all()
    assert (sim.data["symptoms"] % 1 == 0).all()
    with pytest.raises(ValueError, match="not stationary"):
        simulate(10, 5, ar=(0.99, 0.9), cross=(0.5, 0.5))


def test_save_writes_csv_and_truth(tmp_path):
    import json

    data_path, truth_path = simulate(10, 4, seed=1).save(tmp_path / "s.csv")
    assert pd.read_csv(data_path).shape[0] == 40
    assert json.loads(truth_path.read_text())["within"]["alliance->symptoms"] == -0.2


def test_truth_beside_reads_saved_truth_only(tmp_path):
    from causalrel.simulate import truth_beside

    path, _ = simulate(10, 4, cross=(-0.3, 0.05), seed=1).save(tmp_path / "s.csv")
    assert truth_beside(path)["alliance->symptoms"] == -0.3
    other = tmp_path / "real.csv"
    other.write_text("x")
    assert truth_beside(other) is None


def test_time_words_generate_the_trends():
    """``time=`` in the families' words; the older ``trend``/``trend_sd`` alone still work,
    with a DeprecationWarning naming the ``time`` value they mean, and give the same data."""
    none = simulate(60, 5, seed=4)
    assert none.truth.params["time"] == "none"
    pd.testing.assert_frame_equal(simulate(60, 5, time="none", seed=4).data, none.data)
    common = simulate(60, 5, time="common", seed=4)
    assert common.truth.params["trend"] == [0.05, -0.05]
    assert common.truth.params["trend_sd"] == [0.0, 0.0]
    client = simulate(60, 5, time="client", trend=(0.1, -0.2), trend_sd=(0.05, 0.1), seed=4)
    assert client.truth.params["time"] == "client"
    slopes = client.truth.clients[["trend_alliance", "trend_symptoms"]]
    assert slopes.std().gt(0).all()
    with pytest.warns(DeprecationWarning, match=r"simulate\(time='client', trend=\(0.1, -0.2\)"):
        old = simulate(60, 5, trend=(0.1, -0.2), trend_sd=(0.05, 0.1), seed=4)
    pd.testing.assert_frame_equal(old.data, client.data)
    with pytest.warns(DeprecationWarning, match="time='common'"):
        simulate(60, 5, trend=(0.05, -0.05), seed=4)
    with pytest.raises(DataError, match="time must be one of"):
        simulate(60, 5, time="linear")
    with pytest.raises(DataError, match="time='none' means no trend"):
        simulate(60, 5, time="none", trend=(0.1, 0.0))
    with pytest.raises(DataError, match="trend_sd must be 0"):
        simulate(60, 5, time="common", trend_sd=0.1)
    with pytest.raises(DataError, match="needs trend_sd > 0"):
        simulate(60, 5, time="client", trend_sd=0.0)


def test_cli_simulate_time(tmp_path, capsys):
    from causalrel.cli import main

    out = tmp_path / "sim.csv"
    assert main(["simulate", "--out", str(out), "--clients", "30", "--sessions", "5",
                 "--time", "client", "--seed", "1"]) == 0  # fmt: skip
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert truth["params"]["time"] == "client" and truth["params"]["trend_sd"] == [0.05, 0.05]
    assert main(["simulate", "--out", str(out), "--clients", "30", "--sessions", "5",
                 "--trend", "0.1,-0.1", "--seed", "1"]) == 0  # fmt: skip
    assert "add --time common" in capsys.readouterr().err
