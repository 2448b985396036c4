"""``time="client"`` when the data do not support the slope variances (``slope_variances``).

On data simulated without client slopes the free LCM-SR (and the DPML's trend factors) has
negative slope variances (lavaan too: the ``noslopes_*_free`` fixtures of
tests/reference/lavaan/lavaan_lcmsr_slopes.R). The default ``slope_variances="auto"`` then
refits with the unsupported slopes' variances and covariances fixed at 0, says so, and gives
lavaan's fit of that fixed model; on data with real slope variance it leaves the fit alone.
"""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from causalrel.data import DataError, load_panel
from causalrel.sem import (
    DPML,
    RICLPM,
    HeywoodWarning,
    compare_slopes,
    fit_partable,
    lcmsr_syntax,
    parse_model,
)
from causalrel.simulate import simulate

from .conftest import FIXTURES
from .test_sem_parity import check_fit, check_params


@pytest.fixture(scope="module")
def noslopes():
    """The RI-CLPM data of lavaan_clpm.R: no client slopes."""
    return {
        name: load_panel(FIXTURES["lavaan"] / f"lavaan_data_{name}.csv", warn=False)
        for name in ("complete", "missing")
    }


def reference(case):
    params = pd.read_csv(FIXTURES["lavaan"] / f"lavaan_lcmsr_{case}_params.csv")
    fit = json.loads((FIXTURES["lavaan"] / f"lavaan_lcmsr_{case}_fit.json").read_text())
    return params, fit


def test_fallback_fires_and_equals_lavaans_fixed_model(noslopes):
    p = noslopes["complete"]
    opts = dict(waves=range(1, 6), constrained=True, time="client")
    with pytest.warns(HeywoodWarning, match="negative variance"):
        free = RICLPM(p, slope_variances="free", **opts).fit()
    check_params(free.params, reference("noslopes_complete_constrained_free")[0])
    assert free.diagnostics["slopes"]["setting"] == "free"
    assert not free.diagnostics["slopes"]["supported"]

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fallback is a proper fit: no warning
        auto = RICLPM(p, **opts).fit()
    assert auto.converged and not auto.diagnostics["improper"]
    s = auto.diagnostics["slopes"]
    assert auto.diagnostics["slope_fallback"] and not s["supported"]
    assert s["fixed_at_zero"] == ["Sx", "Sy"]
    assert s["reason"].startswith("negative slope variance")
    assert s["free_fit"]["variances"]["Sx"] < 0 and s["free_fit"]["variances"]["Sy"] < 0
    assert any(n.startswith("Slope variance not supported by the data") for n in auto.notes)
    ref_params, ref_fit = reference("noslopes_complete_constrained_zero")
    check_params(auto.params, ref_params)
    check_fit(auto.fit, ref_fit)
    assert "Sx ~~ 0*Sx" in auto.syntax and "RIx ~~ 0*Sx" in auto.syntax
    rows = auto.params.set_index(["lhs", "op", "rhs"])
    assert rows.loc[("Sx", "~~", "Sx"), "est"] == 0 and rows.loc[("Sx", "~~", "Sx"), "se"] == 0
    assert np.isnan(auto.effects["between"]["slope(alliance)~slope(symptoms)"].est)

    # = the direct fit of the fixed model, and (wave-specific means, both slopes at 0) the RI-CLPM
    zero = RICLPM(p, slope_variances="zero", **opts).fit()
    assert zero.fit["loglik"] == pytest.approx(auto.fit["loglik"], abs=1e-8)
    np.testing.assert_allclose(zero.params["est"], auto.params["est"], atol=1e-8)
    riclpm = RICLPM(p, waves=range(1, 6), constrained=True).fit()
    assert riclpm.fit["loglik"] == pytest.approx(auto.fit["loglik"], abs=1e-6)
    assert riclpm.fit["df"] == auto.fit["df"]
    for k, e in riclpm.effects["within"].items():
        assert auto.effects["within"][k].est == pytest.approx(e.est, abs=1e-5)
    with pytest.raises(DataError, match="not supported by the data"):
        compare_slopes(riclpm, auto)
    # the report's trend-sensitivity table says so
    from causalrel.report.sections import _slope_cell

    assert _slope_cell(auto, "client") == "not supported by the data: Sx, Sy fixed at 0"
    assert _slope_cell(free, "client").startswith("not supported (negative slope variance")
    assert _slope_cell(riclpm, "common") == "—"


def test_fallback_fixes_only_the_negative_slope(noslopes):
    """Missing data, free lags: only Sy's variance is negative; Sx keeps its variance."""
    p = noslopes["missing"]
    model = RICLPM(p, waves=range(1, 7), time="client")
    with pytest.warns(HeywoodWarning, match="negative variance"):
        free = RICLPM(p, waves=range(1, 7), time="client", slope_variances="free").fit()
    check_params(free.params, reference("noslopes_missing_free")[0])
    auto = model.fit()
    assert auto.diagnostics["slopes"]["fixed_at_zero"] == ["Sy"]
    assert auto.diagnostics["slopes"]["variances"]["Sx"] > 0
    ref_params, ref_fit = reference("noslopes_missing_zero_sy")
    check_params(auto.params, ref_params)
    check_fit(auto.fit, ref_fit)
    direct = fit_partable(parse_model(lcmsr_syntax(range(1, 7), zero_slopes="y")), model.wide)
    assert direct.loglik == pytest.approx(auto.fit["loglik"], abs=1e-8)


@pytest.mark.parametrize("cls", [RICLPM, DPML])
def test_no_fallback_with_real_slope_variance(cls):
    sim = simulate(
        250, 8, time="client", trend=(0.05, -0.1), trend_sd=(0.1, 0.3), mcar=0.05, seed=1
    )
    p = sim.panel()
    auto = cls(p, time="client").fit()
    free = cls(p, time="client", slope_variances="free").fit()
    s = auto.diagnostics["slopes"]
    assert s["supported"] and not s["fixed_at_zero"] and not auto.diagnostics["slope_fallback"]
    assert auto.fit["loglik"] == free.fit["loglik"]
    assert min(s["variances"].values()) > 0
    assert not any("not supported" in n for n in auto.notes)


def test_dpml_trends_fall_back_on_data_without_trends():
    sim = simulate(
        150, 8, time="common", trend=(0.05, -0.1), mcar=0.05, seed=1
    )  # shared trend only
    p = sim.panel()
    auto = DPML(p, time="client").fit()
    s = auto.diagnostics["slopes"]
    assert auto.converged and auto.diagnostics["slope_fallback"]
    assert s["fixed_at_zero"] == ["TRx"] and s["free_fit"]["variances"]["TRx"] < 0
    assert "TRx ~~ 0*TRx" in auto.syntax and "TRx ~~ 0*FEx" in auto.syntax
    assert "TRy ~~ TRy" in auto.syntax
    both = DPML(p, time="client", slope_variances="zero").fit()
    common = DPML(p).fit()  # both trends at 0: the DPML without them
    assert common.fit["loglik"] == pytest.approx(both.fit["loglik"], abs=1e-6)
    assert both.fit["loglik"] <= auto.fit["loglik"] + 1e-8


def test_slope_variances_option_errors(noslopes):
    p = noslopes["complete"]
    with pytest.raises(DataError, match="slope_variances must be one of 'auto', 'free', 'zero'"):
        RICLPM(p, time="client", slope_variances="fixed")
    with pytest.raises(DataError, match="with time='common' there are none"):
        DPML(p, slope_variances="zero")
