"""causalrel.panel against simulated truth: Nickell bias of the within estimator, GMM recovery."""

import numpy as np
import pytest

from causalrel import fit_model
from causalrel.simulate import simulate

AR = (0.3, 0.5)  # alliance, symptoms
CROSS = (-0.2, -0.1)  # alliance -> symptoms, symptoms -> alliance


def nickell_bias(rho: float, periods: int) -> float:
    """Nickell's (1981) large-N bias of the within AR(1) estimate with ``periods`` per client.

    For large ``periods`` it is about ``-(1 + rho) / (periods - 1)``.
    """
    a = (1 - rho**periods) / (periods * (1 - rho))
    return (
        -(1 + rho) / (periods - 1) * (1 - a) / (1 - 2 * rho / ((1 - rho) * (periods - 1)) * (1 - a))
    )


@pytest.fixture(scope="module")
def short_panel():
    """2000 clients x 6 sessions: 5 lagged pairs per client, the short panel of the issue."""
    return simulate(2000, 6, ar=AR, cross=CROSS, innovation_corr=-0.2, seed=404)


def test_within_estimator_shows_nickell_bias(short_panel):
    truth = short_panel.truth.within
    res = fit_model("fe", short_panel.panel())
    periods = 5  # regressions use sessions 2..6
    for var, rho in zip(("alliance", "symptoms"), AR, strict=True):
        key = f"{var}->{var}"
        bias = res.effects["within"][key].est - truth[key]
        # far below the truth, by about Nickell's bias ...
        assert bias < -0.2
        assert bias == pytest.approx(nickell_bias(rho, periods), abs=0.06)
        # ... which is of the size of the textbook approximation -(1 + rho) / (T - 1)
        assert bias == pytest.approx(-(1 + rho) / (periods - 1), abs=0.1)
        assert res.effects["within"][key].upper < truth[key]


@pytest.mark.parametrize("method", ["two-step", "one-step", "anderson-hsiao"])
def test_dynamic_panel_recovers_truth_in_short_panel(short_panel, method):
    truth = short_panel.truth.within
    res = fit_model("dpd", short_panel.panel(), method=method)
    fe = fit_model("fe", short_panel.panel())
    for key, value in truth.items():
        eff = res.effects["within"][key]
        assert abs(eff.est - value) < max(4 * eff.se, 0.02), (key, eff, value)
        assert eff.se < 0.05
    for var in ("alliance", "symptoms"):
        key = f"{var}->{var}"
        # GMM removes the bias the within estimator has
        assert abs(res.effects["within"][key].est - truth[key]) < 0.25 * abs(
            fe.effects["within"][key].est - truth[key]
        )
    assert res.fit["ar1_pvalue.symptoms"] < 0.01  # differenced i.i.d. errors: AR(1) by design
    assert res.fit["ar2_pvalue.symptoms"] > 0.001  # but no AR(2)


def test_treating_a_predetermined_cause_as_exogenous_biases_gmm():
    """With same-session feedback, using alliance_{t-1} as instrument is invalid: Hansen says so."""
    sim = simulate(2000, 6, ar=AR, cross=CROSS, innovation_corr=-0.4, seed=7)
    good = fit_model("dpd", sim.panel())
    bad = fit_model("dpd", sim.panel(), cause_type="exogenous")
    key = "alliance->symptoms"
    truth = sim.truth.within[key]
    assert abs(good.effects["within"][key].est - truth) < 4 * good.effects["within"][key].se
    assert abs(bad.effects["within"][key].est - truth) > 4 * bad.effects["within"][key].se
    assert bad.fit["hansen_pvalue.symptoms"] < 0.01


def test_within_estimator_recovers_truth_in_long_panel():
    sim = simulate(300, 40, ar=AR, cross=CROSS, seed=3)
    res = fit_model("fe", sim.panel(), time="common")
    truth = sim.truth.within
    for key, value in truth.items():
        eff = res.effects["within"][key]
        a, b = key.split("->")
        expected = value + (
            nickell_bias(AR[("alliance", "symptoms").index(a)], 39) if a == b else 0
        )
        assert abs(eff.est - expected) < 4 * eff.se + 0.01, (key, eff, expected)
    assert 0 < res.fit["r2.symptoms"] < 1


def test_gaps_and_missing_ratings_do_not_bias_gmm():
    sim = simulate(3000, 7, ar=AR, cross=CROSS, mcar=0.05, skip=0.1, seed=21)
    res = fit_model("dpd", sim.panel(), method="one-step")
    assert res.excluded["rows.previous_session_missing"] > 0
    for key, value in sim.truth.within.items():
        eff = res.effects["within"][key]
        assert abs(eff.est - value) < 4 * eff.se, (key, eff, value)
    assert np.isfinite(res.fit["hansen.symptoms"])
