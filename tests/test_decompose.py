"""Decomposition against hand computation; describe() on the shipped data."""

import warnings

import numpy as np
import pandas as pd
import pytest

from causalrel.data import DataWarning, load_panel
from causalrel.decompose import (
    correlations,
    describe,
    detrend,
    grand_mean_centre,
    lagged_correlations,
    person_mean_centre,
    variance_decomposition,
)

DF = pd.DataFrame(
    dict(
        client=[1, 1, 1, 2, 2, 2, 3, 3, 3],
        session=[1, 2, 3, 1, 2, 3, 1, 2, 3],
        alliance=[1.0, 2.0, 3.0, 4.0, 4.0, 7.0, 2.0, np.nan, 5.0],
        symptoms=[9.0, 7.0, 8.0, 3.0, 2.0, 1.0, 5.0, 6.0, 4.0],
    )
)


@pytest.fixture
def panel():
    return load_panel(DF)


def test_person_mean_centring_by_hand(panel):
    pmc = person_mean_centre(panel)
    assert pmc["alliance_between"].tolist()[:6] == [2.0, 2.0, 2.0, 5.0, 5.0, 5.0]
    assert pmc["alliance_between"].iloc[6] == 3.5  # mean of observed values only
    assert pmc["alliance_within"].tolist()[:3] == [-1.0, 0.0, 1.0]
    assert np.isnan(pmc["alliance_within"].iloc[7])
    gmc = grand_mean_centre(panel)
    assert gmc["symptoms_gmc"].sum() == pytest.approx(0.0)


def test_detrend_removes_linear_trend_and_keeps_mean(panel):
    with pytest.warns(DataWarning, match="fewer than 3 observed 'alliance'"):
        d = detrend(panel).data
    # client 1 alliance 1,2,3 is a pure trend: all values become its mean 2
    assert d["alliance"].iloc[:3].tolist() == pytest.approx([2.0, 2.0, 2.0])
    # client 2 alliance 4,4,7: line 3.5, 5, 6.5; residuals .5, -1, .5 around mean 5
    assert d["alliance"].iloc[3:6].tolist() == pytest.approx([5.5, 4.0, 5.5])
    # client 3 alliance has only 2 observed values: no estimable trend -> missing
    assert d["alliance"].iloc[6:9].isna().all()
    assert d["symptoms"].iloc[6:9].notna().all()


def test_correlations_by_hand(panel):
    c = correlations(panel)
    d = DF.dropna()
    assert c["pooled"] == pytest.approx(d.alliance.corr(d.symptoms))
    m = d.groupby("client")[["alliance", "symptoms"]].mean()
    assert c["between"] == pytest.approx(m.alliance.corr(m.symptoms))
    w = d[["alliance", "symptoms"]] - d.groupby("client")[["alliance", "symptoms"]].transform(
        "mean"
    )
    assert c["within"] == pytest.approx(w.alliance.corr(w.symptoms))


def test_lagged_correlations_respect_gaps():
    df = DF.copy()
    df.loc[5, "session"] = 5  # client 2: sessions 1, 2, 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        p = load_panel(df)
    lc = lagged_correlations(p)
    pmc = person_mean_centre(p)
    w = pd.concat([p.data[["client", "session"]], pmc], axis=1)
    pairs = []
    for _, g in w.groupby("client"):
        g = g.set_index("session")
        for s in g.index:
            if s - 1 in g.index:
                pairs.append((g.loc[s - 1, "alliance_within"], g.loc[s, "symptoms_within"]))
    a = pd.DataFrame(pairs).dropna()
    assert lc["alliance->symptoms"] == pytest.approx(a[0].corr(a[1]))


def test_variance_decomposition_naive_and_random_intercept(small_sim):
    p = small_sim.panel()
    vd = variance_decomposition(p)
    d = p.data
    m = d.groupby("client")["alliance"].mean()
    w = d["alliance"] - d.groupby("client")["alliance"].transform("mean")
    naive = m.var() / (m.var() + w.var())
    assert vd.loc["alliance", "between_share_naive"] == pytest.approx(naive)
    # generating values: trait SD .6, stationary within SD from the VAR (solve Lyapunov)
    from scipy.linalg import solve_discrete_lyapunov

    phi = np.array([[0.3, -0.1], [-0.2, 0.4]])
    cov_e = np.diag([0.4**2, 0.4**2]) + np.array([[0, -0.2], [-0.2, 0]]) * 0.16
    sw = solve_discrete_lyapunov(phi, cov_e)
    true_icc = 0.36 / (0.36 + sw[0, 0])
    assert vd.loc["alliance", "between_share"] == pytest.approx(true_icc, abs=0.06)
    assert bool(vd.loc["alliance", "ri_converged"])


def test_therapist_level_share(tmp_path):
    from causalrel.simulate import simulate

    sim = simulate(300, 8, n_therapists=30, therapist_sd=(0.5, 0.5), trait_sd=(0.5, 0.5), seed=3)
    vd = variance_decomposition(sim.panel())
    assert 0.15 < vd.loc["alliance", "therapist_share"] < 0.6
    assert vd.loc["alliance", "between_share"] > vd.loc["alliance", "therapist_share"]


def test_describe_shipped_data_matches_independent_computation(example_path):
    p = load_panel(example_path, therapist="therapist", warn=False)
    d = describe(p)
    raw = pd.read_csv(example_path)
    assert d["n_clients"] == raw.client.nunique() and d["n_rows"] == len(raw)
    assert d["variables"]["alliance"]["missing_share"] == pytest.approx(raw.alliance.isna().mean())
    assert d["correlations"]["pooled"] == pytest.approx(raw.alliance.corr(raw.symptoms))
    # calibration targets from the IMPLEMENT trial (shared/published-figures.md)
    assert 0.6 < d["variables"]["alliance"]["between_share"] < 0.75
    assert 0.5 < d["variables"]["symptoms"]["between_share"] < 0.7
    assert abs(d["correlations"]["between"]) < 0.1
    assert -0.35 < d["correlations"]["within"] < -0.15


def test_describe_on_data_we_did_not_write_matches_lme4():
    """The Grunfeld panel (shipped with R's plm); reference: lme4 REML (tests/reference/lme4/lme4_describe.R)."""
    import json

    from tests.conftest import FIXTURES

    ref = json.loads((FIXTURES["lme4"] / "lme4_describe_grunfeld.json").read_text())
    p = load_panel(FIXTURES["lme4"] / "grunfeld.csv", x="inv", y="value")
    d = describe(p)
    for v in ("inv", "value"):
        assert d["variables"][v]["between_share"] == pytest.approx(
            ref["between_share"][v], abs=1e-4
        )
    for k in ("pooled", "between", "within"):
        assert d["correlations"][k] == pytest.approx(ref["correlations"][k], abs=1e-9)
