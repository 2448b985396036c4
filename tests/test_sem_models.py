"""CLPM / RI-CLPM / DPML: recovery of simulated truth, the results contract, waves, bad input."""

import json
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from causalrel import ConvergenceWarning, fit_model, load_panel
from causalrel.data import DataError
from causalrel.results import PARAM_COLUMNS, between_key, effect_key
from causalrel.sem import CLPM, DPML, RICLPM, HeywoodWarning, compare_nested, default_waves
from causalrel.simulate import simulate

matplotlib.use("Agg")

TRUTH = dict(ar=(0.3, 0.45), cross=(-0.25, 0.15), trait_corr=0.4, trait_sd=(0.8, 0.6))


@pytest.fixture(scope="module")
def big_sim():
    """1500 clients x 6 sessions with stable traits, MCAR gaps and MAR dropout."""
    return simulate(1500, 6, mcar=0.05, dropout=0.05, dropout_on_symptoms=0.5, seed=42, **TRUTH)


@pytest.fixture(scope="module")
def big_fits(big_sim):
    panel = big_sim.panel()
    return {
        "riclpm": RICLPM(panel).fit(),
        "riclpm_c": RICLPM(panel, constrained=True).fit(),
        "dpml": DPML(panel).fit(),
        "clpm": CLPM(panel).fit(),
    }


@pytest.mark.parametrize("name", ["riclpm", "riclpm_c", "dpml"])
def test_recovers_within_effects(big_sim, big_fits, name):
    res = big_fits[name]
    assert res.converged
    for key, truth in big_sim.truth.within.items():
        eff = res.effects["within"][key]
        assert abs(eff.est - truth) < max(3.5 * eff.se, 0.03), (key, eff, truth)
        assert eff.se < 0.05


def test_recovers_between_correlation(big_sim, big_fits):
    key = between_key("alliance", "symptoms")
    eff = big_fits["riclpm"].effects["between"][key]
    assert abs(eff.est - big_sim.truth.between[key]) < 3.5 * eff.se


def test_clpm_is_biased_by_stable_traits(big_sim, big_fits):
    """The classic CLPM confounds stable traits with carry-over: its autoregressions absorb
    the trait variance, far from the within-client truth the RI-CLPM recovers."""
    key = effect_key("symptoms", "symptoms")
    clpm = big_fits["clpm"].effects["within"][key]
    assert clpm.est - big_sim.truth.within[key] > 10 * clpm.se
    assert big_fits["clpm"].effects["between"] == {}
    test = compare_nested(big_fits["clpm"], big_fits["riclpm"])
    assert test.df == 3 and test.pvalue_chibar < 1e-10
    assert test.pvalue_chibar <= test.pvalue


def test_chibar_square_when_there_are_no_traits():
    sim = simulate(400, 5, trait_sd=(0.3, 0.3), seed=3)
    panel = sim.panel()
    full, restricted = RICLPM(panel).fit(), CLPM(panel).fit()
    test = compare_nested(restricted, full)
    assert set(test.weights) == {0, 1, 3}
    assert sum(test.weights.values()) == pytest.approx(1.0)
    assert 0 < test.pvalue_chibar < test.pvalue
    assert "chi-bar-square" in str(test)
    with pytest.raises(DataError):
        compare_nested(full, restricted)


def test_results_contract(big_sim, big_fits):
    res = big_fits["riclpm"]
    d = json.loads(res.to_json())
    assert {
        "model",
        "n_clients",
        "n_observations",
        "excluded",
        "seconds",
        "effects",
        "params",
        "fit",
        "diagnostics",
        "notes",
    } <= set(d)
    assert d["model"] == "riclpm"
    n = big_sim.panel().n_clients
    assert d["n_clients"] == n - d["excluded"]["clients.no_usable_rows"]
    assert set(d["effects"]["within"]) == {
        "alliance->symptoms",
        "symptoms->alliance",
        "alliance->alliance",
        "symptoms->symptoms",
    }
    assert set(d["effects"]["between"]) == {"alliance~symptoms"}
    assert list(res.params.columns[:3]) == ["lhs", "op", "rhs"]
    assert set(PARAM_COLUMNS) | {"std.all"} <= set(res.params.columns)
    for k in (
        "chisq",
        "df",
        "pvalue",
        "cfi",
        "tli",
        "rmsea",
        "rmsea.ci.lower",
        "rmsea.ci.upper",
        "srmr",
        "loglik",
        "aic",
        "bic",
    ):
        assert np.isfinite(d["fit"][k]), k
    assert {"converged", "iterations", "message"} <= set(d["diagnostics"])
    assert d["seconds"] > 0
    labels = set(res.params["lhs"])
    assert {"RIx", "RIy", "wx1", "wy6"} <= labels
    assert any("average over waves" in n for n in res.notes)


def test_within_effect_is_the_wave_average(big_fits):
    res = big_fits["riclpm"]
    p = res.params
    rows = p[(p["op"] == "~") & p["lhs"].str.startswith("wy") & p["rhs"].str.startswith("wx")]
    assert len(rows) == len(res.waves) - 1
    assert res.effects["within"]["alliance->symptoms"].est == pytest.approx(rows["est"].mean())
    # the average is more precise than any single wave
    assert res.effects["within"]["alliance->symptoms"].se < rows["se"].min()


def test_constrained_fit_through_the_registry(big_sim):
    res = fit_model("riclpm", big_sim.panel(), constrained=True, information="expected")
    p = res.params
    lags = p[(p["op"] == "~") & p["lhs"].str.startswith("wy") & p["rhs"].str.startswith("wx")]
    assert (lags["label"] == "cl_xy").all() and lags["est"].nunique() == 1
    assert res.diagnostics["information"] == "expected"
    assert res.effects["within"]["alliance->symptoms"].est == pytest.approx(lags["est"].iloc[0])


def test_standardized_and_plot(big_fits):
    res = big_fits["riclpm"]
    std = res.standardized
    var = std[(std["op"] == "~~") & (std["lhs"] == std["rhs"]) & std["lhs"].str.startswith("RI")]
    assert np.allclose(var["std.all"], 1.0)
    ax = res.plot()
    assert len(ax.texts) >= 2 * len(res.waves)
    assert "RIx" in res.vcov.index[0] or "RIx~~RIx" in res.vcov.index


# -- waves and exclusions ------------------------------------------------------------------------
def test_default_waves_and_exclusions():
    sim = simulate(300, (4, 10), seed=8)
    panel = sim.panel()
    last = panel.data.groupby("client")["session"].max()
    waves = default_waves(panel)
    k = waves[-1]
    assert (last >= k).mean() >= 0.5 and (last >= k + 1).mean() < 0.5
    model = RICLPM(panel)
    assert model.waves == waves
    assert model.excluded["rows.after_last_wave"] == int((panel.data["session"] > k).sum())
    res = model.fit()
    assert res.n_clients == 300
    assert res.n_observations == int((panel.data["session"] <= k).sum())
    assert any(f"1..{k}" in n for n in res.notes)


def test_clients_without_data_in_the_waves_are_counted():
    sim = simulate(200, 6, seed=9)
    data = sim.data.copy()
    late = data["client"].isin([1, 2, 3]) & (data["session"] <= 4)
    data = data[~late]  # clients 1-3 only have sessions 5 and 6
    panel = load_panel(data, warn=False)
    res = RICLPM(panel, waves=[1, 2, 3, 4]).fit()
    assert res.excluded["clients.no_usable_rows"] == 3
    assert res.n_clients == 197
    assert res.excluded["rows.after_last_wave"] == int((data["session"] > 4).sum())


# -- bad input and warnings ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_panel():
    return simulate(100, 5, seed=4).panel()


@pytest.mark.parametrize(
    "cls, opts, match",
    [
        (RICLPM, dict(waves=[1, 2]), "at least 3 waves"),
        (RICLPM, dict(waves=[1, 2], constrained=True), "at least 3 waves"),
        (DPML, dict(waves=[4, 5]), "at least 3 waves"),
        (CLPM, dict(waves=[1]), "at least 2 waves"),
        (RICLPM, dict(waves=[1, 2, 4]), "consecutive"),
        (RICLPM, dict(waves=["a", "b", "c"]), "session numbers"),
        (RICLPM, dict(waves=[4, 5, 6]), "no observed"),
        (RICLPM, dict(min_reach=0), "min_reach"),
    ],
)
def test_bad_input(small_panel, cls, opts, match):
    with pytest.raises(DataError, match=match):
        cls(small_panel, **opts)


def test_wave_without_data_or_variance(small_panel):
    data = small_panel.data.copy()
    data.loc[data["session"] == 3, "alliance"] = np.nan
    panel = load_panel(data, warn=False)
    with pytest.raises(DataError, match="Session 3 has no observed 'alliance'"):
        RICLPM(panel)
    data = small_panel.data.copy()
    data.loc[data["session"] == 2, "symptoms"] = 1.0
    with pytest.raises(DataError, match="zero variance at session 2"):
        CLPM(load_panel(data, warn=False))
    with pytest.raises(DataError, match="SessionPanel"):
        RICLPM(pd.DataFrame())


def test_default_waves_too_few():
    sim = simulate(100, (1, 2), seed=2)
    with pytest.raises(DataError, match="reached by at least"):
        RICLPM(sim.panel())


def test_non_convergence_warns(small_panel):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = RICLPM(small_panel).fit(max_iter=1)
    assert not res.converged


def test_heywood_case_warns():
    """No stable traits: the random-intercept variance is estimated below zero."""
    sim = simulate(150, 4, trait_sd=(0.0, 0.0), seed=1)
    with pytest.warns(HeywoodWarning, match="negative variance") as record:
        res = RICLPM(sim.panel()).fit()
    assert any("constrained=True" in str(w.message) for w in record)
    assert res.diagnostics["improper"]
    assert np.isnan(res.effects["between"]["alliance~symptoms"].est)


def test_no_warnings_on_a_clean_fit(small_panel):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RICLPM(small_panel, constrained=True).fit()


# -- covariates ----------------------------------------------------------------------------------
def test_time_invariant_covariate_recovers_its_effect():
    """A 0/1 arm that raises every alliance rating by 0.5 shows up in RIx ~ arm."""
    sim = simulate(800, 5, seed=21)
    data = sim.data.copy()
    arm = (data["client"] % 2).astype(float)
    data["arm"] = arm
    data["alliance"] += 0.5 * arm
    panel = load_panel(data, covariates=["arm"], warn=False)
    res = RICLPM(panel, covariates=["arm"]).fit()
    p = res.params.set_index(["lhs", "op", "rhs"])
    est, se = p.loc[("RIx", "~", "arm"), ["est", "se"]]
    assert abs(est - 0.5) < 3.5 * se
    est, se = p.loc[("RIy", "~", "arm"), ["est", "se"]]
    assert abs(est) < 3.5 * se
    assert any("arm" in n for n in res.notes)


def test_bad_covariates(small_panel):
    with pytest.raises(DataError, match="not a column"):
        RICLPM(small_panel, covariates=["age"])
    data = small_panel.data.copy()
    data["mood"] = np.arange(len(data), dtype=float)  # varies within clients
    data["x2"] = 1.0
    panel = load_panel(data, covariates=["mood", "x2"], warn=False)
    with pytest.raises(DataError, match="changes within client"):
        RICLPM(panel, covariates=["mood"])
    with pytest.raises(DataError, match="clashes"):
        RICLPM(panel, covariates="x2")


def test_detrended_waves_are_singular():
    """Per-client detrending over the modelled waves makes their covariance singular: the
    engine says so instead of failing obscurely (why the SEMs have no detrend option)."""
    from causalrel.decompose import detrend

    sim = simulate(200, 5, seed=6)
    panel = detrend(sim.panel(), ["alliance", "symptoms"])
    with pytest.raises(DataError, match="collinear"):
        RICLPM(panel).fit()


def test_many_waves_few_clients_fits_without_a_saturated_model():
    """40 clients x 10 waves with gaps: the saturated model has no ML estimate (its likelihood
    is unbounded), so the chi-square is unavailable, but the RI-CLPM itself is estimated."""
    sim = simulate(40, 10, mcar=0.15, dropout=0.05, seed=13, **TRUTH)
    res = RICLPM(sim.panel(), waves=range(1, 11), constrained=True).fit()
    assert res.converged
    d = res.to_dict()
    assert d["fit"]["chisq"] is None and d["fit"]["cfi"] is None
    assert np.isfinite(d["fit"]["loglik"]) and np.isfinite(d["fit"]["bic"])
    assert any("saturated model cannot be estimated" in n for n in res.notes)
    assert np.isfinite(res.effects["within"]["alliance->symptoms"].se)


def test_the_common_time_default_says_what_it_assumes(big_fits):
    """RI-CLPM and DPML at their default time='common' say what it misses (client-specific
    change), with the validation's figures and the way out."""
    for name in ("riclpm", "dpml"):
        note = next(n for n in big_fits[name].notes if n.startswith("time='common'"))
        assert "validate_time_defaults" in note and f"fit {name} --time client" in note
