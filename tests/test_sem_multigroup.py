"""Multiple-group CLPM / RI-CLPM (e.g. treatment arm): parity with lavaan's ``group=`` and
``group.equal`` (fixtures by tests/reference/lavaan/lavaan_multigroup.R), recovery of group-specific
simulated truth, the Wald / LR tests of equal lags across groups, and bad input.

Tolerances as for the single-group models: estimates within 1e-3 (absolute, or relative above
1), standard errors within 2%, chi-square within 0.01.
"""

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from causalrel.data import DataError, load_panel
from causalrel.results import between_key, effect_key
from causalrel.sem import (
    CLPM,
    DPML,
    RICLPM,
    compare_nested,
    parse_model,
    per_group_labels,
    wald_equal_across_groups,
)
from causalrel.sem.estimate import _Objective
from causalrel.sem.fiml import Patterns
from causalrel.sem.matrices import RAMModel
from causalrel.simulate import simulate

from .conftest import FIXTURES
from .test_sem_parity import check_params, joined

matplotlib.use("Agg")

WAVES = range(1, 6)
CASES = {
    "riclpm_free": (RICLPM, {}),
    "riclpm_regressions": (RICLPM, dict(group_equal="regressions")),
    "riclpm_constrained": (RICLPM, dict(constrained=True)),
    "riclpm_equal_all": (
        RICLPM,
        dict(group_equal=["regressions", "lv.variances", "lv.covariances", "intercepts"]),
    ),
    "clpm_regressions": (CLPM, dict(group_equal="regressions")),
}
XY = effect_key("alliance", "symptoms")


@pytest.fixture(scope="module")
def panel():
    return load_panel(FIXTURES["lavaan"] / "lavaan_data_multigroup.csv", warn=False)


def reference(case):
    params = pd.read_csv(FIXTURES["lavaan"] / f"lavaan_mg_{case}_params.csv")
    fit = json.loads((FIXTURES["lavaan"] / f"lavaan_mg_{case}_fit.json").read_text())
    return params, fit


# -- parity with lavaan ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_matches_lavaan_multigroup(case, panel):
    cls, opts = CASES[case]
    res = cls(panel, waves=WAVES, group="arm", **opts).fit()
    ref_params, ref = reference(case)
    assert res.converged
    assert res.group_labels == ref["group.label"] == ["control", "treatment"]

    check_params(res.params, ref_params)  # rows matched by group, lhs op rhs
    j = joined(res.params, ref_params)
    assert (j["block_py"] == j["block"]).all()

    fit, rf = res.fit, ref["fit"]
    assert fit["chisq"] == pytest.approx(rf["chisq"], abs=0.01)
    assert list(fit["chisq.group"].values()) == pytest.approx(ref["chisq.group"], abs=0.01)
    assert list(fit["ntotal.group"].values()) == ref["nobs"]
    for k in ("df", "npar", "ntotal", "baseline.df"):
        assert fit[k] == rf[k], k
    for k, rk in (
        ("loglik", "logl"),
        ("unrestricted.loglik", "unrestricted.logl"),
        ("baseline.chisq", "baseline.chisq"),
        ("aic", "aic"),
        ("bic", "bic"),
    ):
        assert fit[k] == pytest.approx(rf[rk], abs=0.02), k
    for k in ("pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr"):
        assert fit[k] == pytest.approx(rf[k], abs=1e-4), k


def test_group_equal_regressions_pools_effects_and_lr_matches_lavaan(panel):
    free = RICLPM(panel, waves=WAVES, group="arm").fit()
    equal = RICLPM(panel, waves=WAVES, group="arm", group_equal="regressions").fit()
    # free lags: one set of effects per arm, no pooled key; equal lags: the contract's keys
    assert set(free.effects["within"]) == {
        f"{k}[arm={g}]"
        for g in ("control", "treatment")
        for k in (XY, "symptoms->alliance", "alliance->alliance", "symptoms->symptoms")
    }
    assert XY in equal.effects["within"] and len(equal.effects["within"]) == 4
    assert set(free.effects["between"]) == {
        f"{between_key('alliance', 'symptoms')}[arm={g}]" for g in ("control", "treatment")
    }
    assert any("differ by group" in n for n in free.notes)
    assert any("equal across groups" in n for n in equal.notes)
    # the pooled effect is the average of the (equal) wave-specific lags in either group
    p = equal.params
    lag = p[(p["op"] == "~") & p["lhs"].str.startswith("wy") & p["rhs"].str.startswith("wx")]
    assert equal.effects["within"][XY].est == pytest.approx(lag["est"].mean())
    # LR test = lavaan's chi-square difference between the two fixtures
    lr = compare_nested(equal, free)
    ref_free, ref_eq = reference("riclpm_free")[1]["fit"], reference("riclpm_regressions")[1]["fit"]
    assert lr.df == ref_eq["df"] - ref_free["df"] == 16
    assert lr.chisq == pytest.approx(ref_eq["chisq"] - ref_free["chisq"], abs=0.01)
    assert lr.pvalue_chibar is None
    # the Wald test of the same restriction from the free fit agrees with the LR test
    wald = wald_equal_across_groups(free)
    assert wald.df == 16
    assert wald.chisq == pytest.approx(lr.chisq, rel=0.25)
    assert "Wald" in str(wald) and wald.to_dict()["groups"] == ["control", "treatment"]
    with pytest.raises(DataError, match="already equal"):
        wald_equal_across_groups(equal)


# -- recovery of simulated truth --------------------------------------------------------------------
ARMS = {
    "control": dict(ar=(0.3, 0.45), cross=(0.0, 0.15)),
    "treatment": dict(ar=(0.3, 0.45), cross=(-0.35, 0.15)),
}


def two_arm_panel(arms, n=900, seed=7):
    parts, offset, truth = [], 0, {}
    for i, (arm, kw) in enumerate(arms.items()):
        sim = simulate(n, 6, trait_corr=0.4, mcar=0.05, dropout=0.05, seed=seed + i, **kw)
        d = sim.data.copy()
        d["client"] += offset
        d["arm"] = arm
        offset = int(d["client"].max())
        parts.append(d)
        truth[arm] = sim.truth
    return load_panel(pd.concat(parts, ignore_index=True), warn=False), truth


@pytest.fixture(scope="module")
def recovery():
    panel, truth = two_arm_panel(ARMS)
    return panel, truth, RICLPM(panel, group="arm", constrained=True).fit()


def test_recovers_group_specific_cross_lags(recovery):
    _, truth, res = recovery
    assert res.converged
    for arm in ARMS:
        for key, value in truth[arm].within.items():
            eff = res.effects["within"][f"{key}[arm={arm}]"]
            assert abs(eff.est - value) < max(3.5 * eff.se, 0.03), (arm, key, eff, value)
            assert eff.se < 0.06
        rho = res.effects["between"][f"{between_key('alliance', 'symptoms')}[arm={arm}]"]
        assert abs(rho.est - truth[arm].between[between_key("alliance", "symptoms")]) < 4 * rho.se


def test_equal_lags_rejected_when_arms_differ_and_not_when_they_agree(recovery):
    panel, _, free = recovery
    lagged = wald_equal_across_groups(free, what="lagged")
    assert lagged.df == 4 and lagged.pvalue < 1e-6  # constrained: 4 lags per arm
    equal = RICLPM(panel, group="arm", constrained=True, group_equal="regressions").fit()
    lr = compare_nested(equal, free)
    assert lr.df == 4 and lr.pvalue < 1e-6
    # pooled estimate lies between the arms' true cross-lags
    assert -0.35 < equal.effects["within"][XY].est < 0.0
    same, _ = two_arm_panel({"a": ARMS["control"], "b": ARMS["control"]}, n=400, seed=21)
    null = wald_equal_across_groups(RICLPM(same, group="arm", constrained=True).fit())
    assert null.pvalue > 0.01


def test_results_contract_and_plot(recovery):
    panel, _, res = recovery
    d = json.loads(res.to_json())
    assert {"group", "block"} <= set(d["params"][0])
    assert d["fit"]["ngroups"] == 2 and set(d["fit"]["chisq.group"]) == {"control", "treatment"}
    assert res.n_clients == panel.n_clients
    assert len(set(res.vcov.index)) == len(res.vcov)
    # constrained lags are time-invariant within each arm but free across arms
    assert "c(ar_x_g1, ar_x_g2)*" in res.syntax
    ax = res.plot(group=2)
    assert "treatment" in ax.get_title()
    # the DPML falls out of the same machinery
    dp = DPML(panel, waves=range(1, 5), group="arm", group_equal="regressions").fit()
    assert dp.converged and effect_key("alliance", "symptoms") in dp.effects["within"]


def test_multigroup_derivatives_are_exact(panel):
    m = RICLPM(panel, waves=range(1, 4), group="arm")
    models = [RAMModel(m.partable, group=g) for g in (1, 2)]
    pats = [
        Patterns.from_array(m.wide[m.wide["arm"] == lab][m.partable.observed].to_numpy())
        for lab in ("control", "treatment")
    ]
    obj = _Objective(models, pats)
    theta = models[0].start_theta(np.ones(6), np.zeros(6))
    theta = np.where(np.isnan(theta), models[1].start_theta(np.ones(6), np.zeros(6)), theta)
    theta = theta + 0.01 * np.arange(theta.size) % 0.05
    eps = 1e-6
    E = np.eye(theta.size)
    num_g = np.array([(obj.fun(theta + eps * e) - obj.fun(theta - eps * e)) / (2 * eps) for e in E])
    np.testing.assert_allclose(obj.jac(theta), num_g, atol=1e-7)
    num_h = np.array([(obj.jac(theta + eps * e) - obj.jac(theta - eps * e)) / (2 * eps) for e in E])
    np.testing.assert_allclose(obj.hess(theta), num_h, atol=1e-6)


# -- parameter table ---------------------------------------------------------------------------------
def test_partable_groups_and_labels():
    pt = parse_model("y ~ c(a, b)*x + c(1, NA)*z\ny ~~ y", groups=2)
    t = pt.table
    assert t["group"].tolist() == t["block"].tolist() and pt.n_groups == 2
    assert t.loc[(t["op"] == "~") & (t["rhs"] == "z"), "free"].tolist()[0] == 0
    shared = parse_model("y ~ a*x\ny ~~ y", groups=2).table  # lavaan: one label, all groups
    assert shared.loc[shared["op"] == "~", "free"].nunique() == 1
    eq = parse_model("y ~ x\ny ~~ y", groups=2, group_equal="regressions").table
    reg = eq[eq["op"] == "~"]
    assert reg["free"].nunique() == 1 and reg["label"].iloc[0] == reg["label"].iloc[1] != ""
    assert eq.loc[(eq["op"] == "~~") & (eq["free"] > 0), "free"].nunique() == 2
    assert (
        per_group_labels("y2 ~ ar_y*y1 + m_y*1", 2, ["intercepts"])
        == "y2 ~ c(ar_y_g1, ar_y_g2)*y1 + m_y*1"
    )
    with pytest.raises(DataError, match="one per group"):
        parse_model("y ~ c(a, b, c)*x", groups=2)
    with pytest.raises(DataError, match="unknown parameter type"):
        parse_model("y ~ x", groups=2, group_equal=["slopes"])


# -- bad input ------------------------------------------------------------------------------------------
def test_bad_group_input(panel):
    d = panel.data.copy()
    with pytest.raises(DataError, match="not a column"):
        RICLPM(panel, waves=WAVES, group="arms")
    with pytest.raises(DataError, match="needs group"):
        RICLPM(panel, waves=WAVES, group_equal="regressions")
    with pytest.raises(DataError, match="unknown parameter type"):
        RICLPM(panel, waves=WAVES, group="arm", group_equal="lags")
    changing = d.copy()
    changing.loc[changing.index[1], "arm"] = "treatment"  # client 1 switches arm
    with pytest.raises(DataError, match="constant within each client"):
        RICLPM(type(panel)(data=changing, **panel.column_map()), waves=WAVES, group="arm")
    missing = d.copy()
    missing.loc[missing["client"] == 3, "arm"] = np.nan
    with pytest.raises(DataError, match="missing for 1 client"):
        RICLPM(type(panel)(data=missing, **panel.column_map()), waves=WAVES, group="arm")
    one = d[d["arm"] == "control"]
    with pytest.raises(DataError, match="only one value"):
        RICLPM(
            type(panel)(data=one.reset_index(drop=True), **panel.column_map()),
            waves=WAVES,
            group="arm",
        )
    with pytest.raises(DataError, match="model variable"):
        RICLPM(panel, waves=WAVES, group="alliance")
    no_wave = d[~((d["arm"] == "treatment") & (d["session"] == 5))]
    with pytest.raises(DataError, match="group arm='treatment'"):
        RICLPM(
            type(panel)(data=no_wave.reset_index(drop=True), **panel.column_map()),
            waves=WAVES,
            group="arm",
        )
    with pytest.raises(DataError, match="group_label"):
        RICLPM(panel, waves=WAVES, group="arm", group_label=["control"])


def test_numeric_group_column_and_group_order(panel):
    d = panel.data.copy()
    d["arm01"] = (d["arm"] == "treatment").astype(int)
    p2 = load_panel(d, warn=False, covariates=["arm01"])
    res = CLPM(p2, waves=WAVES, group="arm01", group_label=[1, 0], group_equal="regressions").fit()
    ref = CLPM(panel, waves=WAVES, group="arm", group_equal="regressions").fit()
    assert res.group_labels == [1, 0]
    assert res.fit["chisq"] == pytest.approx(ref.fit["chisq"], abs=1e-6)
    assert list(res.fit["chisq.group"]) == ["1", "0"]
    assert res.fit["chisq.group"]["1"] == pytest.approx(
        ref.fit["chisq.group"]["treatment"], abs=1e-6
    )
