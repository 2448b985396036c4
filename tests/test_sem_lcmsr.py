"""The LCM-SR (``RICLPM(panel, time="client")``): parity with lavaan 0.6 (fixtures by
tests/reference/lavaan/lavaan_lcmsr.R), recovery of simulated truth on client-specific trajectories,
the chi-bar-square test of the slope variances, and the ``time`` vocabulary's errors.

Tolerances from the issue: estimates within 1e-3 (absolute, or relative above 1), standard
errors within 2%, chi-square within 0.01 (the shared checks of tests/test_sem_parity.py).
Cases: complete and missing data (FIML), free and constrained lags, wave-specific and linear
means, a covariate of intercepts and slopes, two groups with equal lags, and MLR.
"""

import json
import warnings

import pandas as pd
import pytest

from causalrel.data import DataError, load_panel
from causalrel.families import check_time, fit_model, time_families
from causalrel.sem import CLPM, DPML, RICLPM, HeywoodWarning, compare_slopes, lcmsr_syntax
from causalrel.simulate import simulate

from .conftest import FIXTURES
from .test_sem_parity import check_fit, check_params

COMPLETE = range(1, 7)
MISSING = range(1, 8)

CASES = {
    "complete": ("complete", dict(waves=COMPLETE), {}),
    "complete_constrained_linear": (
        "complete",
        dict(waves=COMPLETE, constrained=True, linear_means=True),
        {},
    ),
    "missing_constrained": ("missing", dict(waves=MISSING, constrained=True), {}),
    "missing": ("missing", dict(waves=MISSING), {}),
    "missing_linear": ("missing", dict(waves=MISSING, linear_means=True), {}),
    "missing_covariates": (
        "missing",
        dict(waves=MISSING, constrained=True, covariates=["severity"]),
        {},
    ),
    "missing_mg_regressions": (
        "missing",
        dict(
            waves=MISSING,
            group="arm",
            group_label=["control", "treatment"],
            group_equal="regressions",
        ),
        {},
    ),
    "missing_constrained_mlr": (
        "missing",
        dict(waves=MISSING, constrained=True),
        dict(estimator="mlr"),
    ),
}


@pytest.fixture(scope="module")
def panels():
    return {
        name: load_panel(
            FIXTURES["lavaan"] / f"lavaan_data_lcmsr_{name}.csv",
            warn=False,
            covariates=["severity"],
        )
        for name in ("complete", "missing")
    }


def reference(case):
    params = pd.read_csv(FIXTURES["lavaan"] / f"lavaan_lcmsr_{case}_params.csv")
    fit = json.loads((FIXTURES["lavaan"] / f"lavaan_lcmsr_{case}_fit.json").read_text())
    return params, fit


SLOW = {"missing_mg_regressions"}  # about 7 s
#: the two-group LCM-SR on missing data has a flat likelihood: both optimisers stop within
#: 1.3e-4 relative of each other in four SEs (the issue's target is 2%)
SE_RTOL = {"missing_mg_regressions": 3e-4}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in CASES]
)
def test_lcmsr_matches_lavaan(case, panels):
    data, opts, fit_opts = CASES[case]
    res = RICLPM(panels[data], time="client", **opts).fit(**fit_opts)
    ref_params, ref = reference(case)
    assert res.converged
    assert not res.diagnostics["improper"]
    assert res.diagnostics["time"] == "client"
    check_params(res.params, ref_params, se_rtol=SE_RTOL.get(case, 1e-4))
    check_fit(res.fit, ref)
    if fit_opts.get("estimator") == "mlr":
        r, f = ref["fit"], res.fit
        assert ref["estimator"] == "MLR"
        assert f["chisq.scaled"] == pytest.approx(r["chisq.scaled"], abs=0.01)
        assert f["chisq.scaling.factor"] == pytest.approx(r["chisq.scaling.factor"], abs=1e-3)
        for k in ("cfi.robust", "tli.robust", "rmsea.robust", "pvalue.scaled"):
            assert f[k] == pytest.approx(r[k], abs=1e-4), k


@pytest.mark.parametrize(
    "case, data, waves, improper",
    [
        ("dpml_trends_complete", "complete", COMPLETE, False),
        # lavaan warns here too: "covariance matrix of latent variables is not positive definite"
        ("dpml_trends_missing", "missing", MISSING, True),
    ],
)
def test_dpml_client_trends_match_lavaan(case, data, waves, improper, panels):
    """DPML(time="client"): trend factors TRx, TRy correlated with FE and the first wave."""
    # slope_variances="free": lavaan's fit of this syntax, proper or not (the default "auto"
    # would fix the trend variances at 0 where they are not supported: test_sem_slope_fallback)
    model = DPML(panels[data], waves=waves, time="client", slope_variances="free")
    if improper:
        with pytest.warns(HeywoodWarning, match="latent variables is not positive definite"):
            res = model.fit()
    else:
        res = model.fit()
    ref_params, ref = reference(case)
    # an improper solution (as lavaan's) is not reported as converged; the optimiser did converge
    assert res.diagnostics["optimizer_converged"] and res.converged is not improper
    assert res.diagnostics["time"] == "client"
    assert res.diagnostics["improper"] == improper
    assert "slope(alliance)~slope(symptoms)" in res.effects["between"]
    check_params(res.params, ref_params)
    check_fit(res.fit, ref)


def test_syntax_is_the_published_model():
    """Loadings 0..T-1 from the first wave, a free 4 x 4 growth covariance matrix."""
    s = lcmsr_syntax([3, 4, 5, 6], linear_means=True)
    assert "Sx =~ 0*x3 + 1*x4 + 2*x5 + 3*x6" in s
    assert "RIy ~~ Sx" in s and "Sx ~~ Sy" in s and "RIx ~~ Sy" in s
    assert "x3 ~ 0*1" in s and "Sy ~ 1" in s
    assert "~ 0*1" not in lcmsr_syntax([1, 2, 3, 4])


def test_results_report_slopes(panels):
    res = fit_model("riclpm", panels["missing"], time="client", constrained=True, linear_means=True)
    between = res.effects["between"]
    assert set(between) == {"alliance~symptoms", "slope(alliance)~slope(symptoms)"}
    p = res.params.set_index(["lhs", "op", "rhs"])
    # the data were simulated with average trends +0.05 (alliance) and -0.1 (symptoms)
    for lv, truth in (("Sx", 0.05), ("Sy", -0.1)):
        row = p.loc[(lv, "~1", "")]
        assert abs(row["est"] - truth) < 3 * row["se"], (lv, row["est"], row["se"])
    assert p.loc[("Sy", "~~", "Sy"), "est"] > 0
    assert any("LCM-SR" in n for n in res.notes)


def riclpm_improper(panel, **opts):
    """The RI-CLPM on client-trajectory data: misspecified, and improper (negative first-wave
    or intercept variances) on these data sets, which is part of the point."""
    with pytest.warns(HeywoodWarning):
        return RICLPM(panel, constrained=True, **opts).fit()


def test_slope_lrt_matches_lavaan_and_uses_chibar(panels):
    p = panels["missing"]
    r0 = riclpm_improper(p, waves=MISSING)
    r1 = RICLPM(p, waves=MISSING, constrained=True, time="client").fit()
    test = compare_slopes(r0, r1)
    ref = json.loads((FIXTURES["lavaan"] / "lavaan_lcmsr_lrt_riclpm.json").read_text())
    assert test.df == ref["df_diff"] == 7
    assert test.chisq == pytest.approx(ref["chisq_diff"], abs=0.01)
    assert set(test.weights) == {4, 5, 7}
    assert sum(test.weights.values()) == pytest.approx(1.0)
    assert min(test.weights.values()) > 0
    assert test.pvalue_chibar <= test.pvalue  # the boundary test is less conservative


def test_lcmsr_recovers_cross_lags_on_client_trajectories_where_riclpm_misses():
    """600 clients x 7 sessions, each client with an own linear slope per variable (truth:
    alliance->symptoms -1.0, symptoms->alliance -0.03)."""
    sim = simulate(
        600,
        7,
        ar=(0.3, 0.4),
        cross=(-1.0, -0.03),
        innovation_sd=(0.3, 0.5),
        time="client",
        trend=(0.03, -0.2),
        trend_sd=(0.1, 0.3),
        seed=1,
    )
    truth = sim.truth.within
    panel = sim.panel()
    lcmsr = RICLPM(panel, time="client", constrained=True).fit()
    assert lcmsr.converged and not lcmsr.diagnostics["improper"]
    for key in ("alliance->symptoms", "symptoms->alliance"):
        e = lcmsr.effects["within"][key]
        assert abs(e.est - truth[key]) < 0.15, (key, e)
        assert e.lower <= truth[key] <= e.upper, (key, e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeywoodWarning)  # the misspecified RI-CLPM
        riclpm = RICLPM(panel, constrained=True).fit()
    e = riclpm.effects["within"]["alliance->symptoms"]
    assert abs(e.est - truth["alliance->symptoms"]) > 0.15
    assert not e.lower <= truth["alliance->symptoms"] <= e.upper
    test = compare_slopes(riclpm, lcmsr)
    assert test.pvalue_chibar < 1e-6
    dpml = DPML(panel, time="client").fit()  # the DPML with client trends recovers it too
    assert dpml.converged and not dpml.diagnostics["improper"]
    for key in ("alliance->symptoms", "symptoms->alliance"):
        e = dpml.effects["within"][key]
        assert abs(e.est - truth[key]) < 0.15, (key, e)
        assert e.lower <= truth[key] <= e.upper, (key, e)


def test_time_none_is_invariant_means():
    """time="none" is the RI-CLPM's invariant_means (checked against lavaan in
    test_sem_parity.py) and the DPML's one intercept per equation from wave 2 on."""
    p = load_panel(FIXTURES["lavaan"] / "lavaan_data_complete.csv", warn=False)
    waves = range(1, 6)
    a = RICLPM(p, waves=waves, time="none", constrained=True).fit()
    b = RICLPM(p, waves=waves, invariant_means=True, constrained=True).fit()
    assert a.fit["loglik"] == pytest.approx(b.fit["loglik"], abs=1e-8)
    assert a.diagnostics["time"] == b.diagnostics["time"] == "none"
    d0 = DPML(p, waves=waves).fit()
    d1 = DPML(p, waves=waves, time="none").fit()
    assert d1.fit["npar"] == d0.fit["npar"] - 2 * (len(waves) - 2)
    assert d1.fit["loglik"] < d0.fit["loglik"]
    assert d1.params.query("op == '~1' and lhs == 'x3'")["label"].iloc[0] == "m_x"


def test_time_errors_name_the_families_that_can(panels):
    p = panels["complete"]
    with pytest.raises(
        DataError,
        match="Families that can fit time='client': riclpm, dpml, fe, dpd, mlm, dsem, dowhy",
    ):
        CLPM(p, time="client")
    with pytest.raises(DataError, match="'clpm' supports time = 'none', 'common'"):
        CLPM(p, time="client")
    with pytest.raises(DataError, match="time must be one of"):
        RICLPM(p, time="clients")
    with pytest.raises(DataError, match="has no time option yet.*riclpm"):
        check_time("other", "client")  # every registered family has a time option now
    with pytest.raises(DataError, match="Families that can"):
        fit_model("clpm", p, time="client")
    with pytest.raises(DataError, match="linear_means=True .* needs time='client'"):
        RICLPM(p, linear_means=True)
    with pytest.raises(DataError, match="cannot be combined with time='client'"):
        RICLPM(p, invariant_means=True, time="client")
    with pytest.raises(DataError, match="needs at least 4 waves"):
        RICLPM(p, waves=[1, 2, 3], time="client")
    with pytest.raises(DataError, match="needs at least 4 waves"):
        DPML(p, waves=[1, 2, 3], time="client")
    assert time_families("client") == ["riclpm", "dpml", "fe", "dpd", "mlm", "dsem", "dowhy"]


def test_slope_test_refuses_non_nested_fits(panels):
    p = panels["complete"]
    r0 = riclpm_improper(p, waves=COMPLETE)
    lin = RICLPM(p, waves=COMPLETE, constrained=True, time="client", linear_means=True).fit()
    with pytest.raises(DataError, match="linear_means=True"):
        compare_slopes(r0, lin)
    with pytest.raises(DataError, match="in that order"):
        compare_slopes(lin, r0)


# the shipped data have gaps and one-session clients: the CLI says so with a DataWarning
@pytest.mark.filterwarnings("ignore::causalrel.data.DataWarning")
def test_cli_fit_riclpm_time_client(capsys):
    """``causalrel fit riclpm FILE --time client`` fits the LCM-SR; a family without the
    value exits 2 and names the families that have it."""
    from causalrel.cli import main

    f = str(FIXTURES["lavaan"] / "lavaan_data_lcmsr_missing.csv")
    assert main(["fit", "riclpm", f, "--time", "client", "--constrained", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    ref = reference("missing_constrained")[1]["fit"]
    assert d["fit"]["chisq"] == pytest.approx(ref["chisq"], abs=0.01)
    assert "slope(alliance)~slope(symptoms)" in d["effects"]["between"]
    for model in ("clpm",):
        assert main(["fit", model, f, "--time", "client"]) == 2, model
        err = capsys.readouterr().err
        assert "Families that can fit time='client': riclpm, dpml, fe, dpd, mlm, dsem, dowhy" in err
        assert "Traceback" not in err
