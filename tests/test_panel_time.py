"""``time="none" | "common" | "client"`` in the panel families (fe, dpd; issue 13).

Parity: ``time="client"`` against R (fixtures by tests/reference/plm/plm_time.R on the data of
plm_reference.R): fe = the dummy-variable regression with client intercepts, client trends and
session effects (``lm`` + ``sandwich::vcovCL``, HC0); dpd = ``pgmm(effect = "twoways")`` on the
first differences with instruments from t-3. Recovery: client-specific trends are removed by
``time="client"`` and not by the other values, nor by detrending the data before GMM.
"""

import json

import numpy as np
import pytest

from causalrel import fit_model, load_panel
from causalrel.data import DataError
from causalrel.design import check_exclusions
from causalrel.simulate import simulate

from .conftest import FIXTURES

REF = json.loads((FIXTURES["plm"] / "plm_time.json").read_text())


@pytest.fixture(scope="module")
def panel():
    return load_panel(FIXTURES["plm"] / "plm_data.csv", warn=False)


def _lag(term: str) -> str:
    # R: "lag_alliance" / "lag(d_alliance, 1)" -> "alliance_lag1"
    name = term[4:].split(",")[0] if term.startswith("lag(") else term[4:]
    return name.removeprefix("d_") + "_lag1"


def test_fe_client_trends_match_the_dummy_variable_regression(panel):
    res = fit_model("fe", panel, time="client")
    for outcome in ("symptoms", "alliance"):
        ref = REF["fe"][f"{outcome}_client"]
        lm = res.engine[outcome]
        assert int(lm.nobs) == ref["nobs"]
        for row in ref["coefficients"]:
            name = _lag(row["term"])
            assert lm.params[name] == pytest.approx(row["est"], abs=1e-8)
            assert lm.std_errors[name] == pytest.approx(row["se"], rel=1e-6)
            eff = res.effects["within"][f"{name[:-5]}->{outcome}"]
            assert (eff.est, eff.se) == pytest.approx((row["est"], row["se"]), rel=1e-6)
    # params: the lagged effects only, lavaan's columns
    assert set(res.params["rhs"]) == {"alliance_lag1", "symptoms_lag1"}
    assert any("client-specific linear trends" in n for n in res.notes)


DPD_CASES = {
    "symptoms_client_twostep": dict(method="two-step", collapse=False),
    "alliance_client_twostep": dict(method="two-step", collapse=False),
    "symptoms_client_onestep": dict(method="one-step", collapse=False),
    "symptoms_client_twostep_collapsed": dict(method="two-step", collapse=True),
}


@pytest.mark.parametrize("case", list(DPD_CASES))
def test_dpd_client_trends_match_pgmm_on_first_differences(panel, case):
    outcome = case.split("_")[0]
    ref = REF["dpd"][case]
    res = fit_model("dpd", panel, time="client", **DPD_CASES[case])
    eq = res.engine[outcome]
    assert eq.n_obs == ref["n_used"]
    for row in ref["coefficients"]:
        est, se = eq.coef(_lag(row["term"]))
        assert est == pytest.approx(row["est"], abs=1e-8)
        assert se == pytest.approx(row["se"], rel=1e-6)
    for stat in ("hansen", "ar1", "ar2", "ar3"):
        assert eq.tests[stat] == pytest.approx(ref[stat], rel=1e-6)
    assert eq.tests["ar3_pvalue"] == pytest.approx(ref["ar3_pvalue"], rel=1e-6)
    # pgmm counts instruments that repeat others (sessions nobody reaches in differences);
    # they are dropped here (fit["instruments_redundant.*"]), so its df is larger by as many
    dropped = ref["n_instruments"] - eq.n_instruments
    assert dropped == res.fit[f"instruments_redundant.{outcome}"] > 0
    assert eq.tests["hansen_df"] == ref["hansen_df"] - dropped
    check_exclusions(res.excluded)
    # a client needs four consecutive sessions: the first three of each are not rows
    assert res.excluded["rows.first_session"] == 3 * 300 - _short(panel)


def _short(panel) -> int:
    """Rows of clients with fewer than three sessions (all their rows are first sessions)."""
    per = panel.sessions_per_client
    return int((3 - per[per < 3]).sum())


def test_common_is_session_effects_and_none_is_the_default(panel):
    default = fit_model("fe", panel)
    none = fit_model("fe", panel, time="none")
    common = fit_model("fe", panel, time="common")
    key = "alliance->symptoms"
    assert default.effects["within"][key] == none.effects["within"][key]
    assert common.effects["within"][key].est != pytest.approx(none.effects["within"][key].est)
    assert common.engine["symptoms"].model.time_effects


@pytest.mark.parametrize("family", ["fe", "dpd"])
def test_old_spellings_warn_naming_time_and_give_the_same_fit(panel, family):
    new = fit_model(family, panel, time="common")
    with pytest.warns(DeprecationWarning, match='time_effects=True is deprecated.*time="common"'):
        old = fit_model(family, panel, time_effects=True)
    assert old.effects["within"] == new.effects["within"]
    with pytest.warns(DeprecationWarning, match='time="none"'):
        off = fit_model(family, panel, time_effects=False)
    assert off.effects["within"] == fit_model(family, panel, time="none").effects["within"]
    with pytest.raises(DataError, match="give time= alone"):
        with pytest.warns(DeprecationWarning):
            fit_model(family, panel, time="client", time_effects=True)


def test_unknown_time_value_is_a_clear_error(panel):
    with pytest.raises(DataError, match="time must be one of"):
        fit_model("dpd", panel, time="linear")


def test_dpd_client_needs_four_consecutive_sessions():
    sim = simulate(50, 3, seed=2)
    with pytest.raises(DataError, match="3 previous sessions"):
        fit_model("dpd", sim.panel(), time="client")


@pytest.mark.slow
def test_dpd_client_recovers_lags_under_client_trends_where_the_others_do_not():
    # each client's own linear trend (trend_sd): the random-trend GMM recovers both cross-lags;
    # session effects alone do not remove client trends, and detrending the short series
    # before GMM makes every session depend on every other (the lagged instruments fail)
    truth = {"alliance->symptoms": -0.2, "symptoms->alliance": -0.1}
    sims = {T: simulate(n, T, seed=3, time="client", trend=(0.1, -0.15), trend_sd=(0.08, 0.12)) for n, T in [(6000, 8), (2000, 15)]}  # fmt: skip
    for T, sim in sims.items():
        assert sim.truth.within["alliance->symptoms"] == truth["alliance->symptoms"]
        res = fit_model("dpd", sim.panel(), time="client")
        for key, value in truth.items():
            eff = res.effects["within"][key]
            assert abs(eff.est - value) < 3 * eff.se, (T, key, eff)
    common = fit_model("dpd", sims[15].panel(), time="common").effects["within"]
    eff = common["symptoms->alliance"]
    assert abs(eff.est - truth["symptoms->alliance"]) > 3 * eff.se, eff
    with pytest.warns(DeprecationWarning, match="detrend"):
        detrended = fit_model("dpd", sims[8].panel(), time="common", detrend=True)
    eff = detrended.effects["within"]["symptoms->alliance"]
    assert abs(eff.est - truth["symptoms->alliance"]) > 4 * eff.se, eff


@pytest.mark.slow
def test_fe_client_recovers_lags_under_client_trends_in_long_series():
    # with 40 sessions the within estimator's Nickell bias is small; client trends are not
    sim = simulate(400, 40, seed=3, time="client", trend=(0.1, -0.15), trend_sd=(0.08, 0.12))
    panel = sim.panel()
    fits = {t: fit_model("fe", panel, time=t).effects["within"] for t in ("none", "common", "client")}  # fmt: skip
    for key in ("alliance->symptoms", "symptoms->alliance"):
        value = sim.truth.within[key]
        eff = fits["client"][key]
        assert abs(eff.est - value) < 3 * eff.se + 0.01, (key, eff)
        for other in ("none", "common"):
            assert abs(fits[other][key].est - value) > 0.05, (other, key)
    assert np.isfinite(fits["client"]["alliance->alliance"].est)
