"""Defined parameters (lavaan's ``:=``): the cross-lag difference and the long-run effects,
with delta-method SEs, their standardized values and SEs, against lavaan 0.6.14
(``parameterEstimates`` / ``standardizedSolution``; fixtures by tests/reference/lavaan/lavaan_mlr.R),
recovery of simulated truth, and bad input.

Tolerances as for the parameters: estimates and std.all within 1e-3, SEs within 2%.
"""

import numpy as np
import pandas as pd
import pytest

from causalrel.data import DataError, load_panel
from causalrel.sem import DPML, RICLPM, parse_model
from causalrel.simulate import simulate

from .conftest import FIXTURES

M6 = dict(waves=range(1, 7), constrained=True, defined=True)
CASES = {
    "riclpm_mlr": (RICLPM, "mlr"),
    "riclpm_ml": (RICLPM, "ml"),
    "dpml_mlr": (DPML, "mlr"),
}


@pytest.fixture(scope="module")
def panel():
    return load_panel(FIXTURES["lavaan"] / "lavaan_data_missing.csv", warn=False)


@pytest.mark.parametrize("case", list(CASES))
def test_defined_parameters_match_lavaan(case, panel):
    cls, estimator = CASES[case]
    res = cls(panel, **M6).fit(estimator=estimator)
    ref = pd.read_csv(FIXTURES["lavaan"] / f"lavaan_defined_{case}.csv").set_index("lhs")
    ours = res.params[res.params["op"] == ":="].set_index("lhs")
    assert set(ours.index) == set(ref.index) == {"cl_diff", "lr_xy", "lr_yx"}
    ours = ours.loc[ref.index]
    np.testing.assert_allclose(ours["est"], ref["est"], atol=1e-3)
    np.testing.assert_allclose(ours["se"], ref["se"], rtol=0.02)
    np.testing.assert_allclose(ours["std.all"], ref["est.std"], atol=1e-3)
    np.testing.assert_allclose(ours["se.std"], ref["se.std"], rtol=0.02)


def test_long_run_effects_recover_simulated_truth():
    """VAR(1) within part: ar = (0.3, 0.4), cross-lags x->y -0.2, y->x -0.1, so the long-run
    effects are (I - Phi)^-1 entries -0.2 / 0.40 = -0.5 and -0.1 / 0.40 = -0.25."""
    panel = simulate(1500, 6, trait_corr=0.3, seed=17).panel()
    res = RICLPM(panel, waves=range(1, 7), constrained=True, defined=True).fit()
    d = res.params[res.params["op"] == ":="].set_index("lhs")
    for name, truth in (("lr_xy", -0.5), ("lr_yx", -0.25), ("cl_diff", -0.1)):
        assert abs(d.loc[name, "est"] - truth) < 3 * d.loc[name, "se"], name
        assert d.loc[name, "ci.lower"] < d.loc[name, "est"] < d.loc[name, "ci.upper"]


def test_multigroup_defined_per_group():
    parts = []
    for arm, seed in (("a", 1), ("b", 2)):
        d = simulate(200, 5, seed=seed).data
        d["client"] += 0 if arm == "a" else 10_000
        d["arm"] = arm
        parts.append(d)
    panel = load_panel(pd.concat(parts), warn=False)
    res = RICLPM(panel, constrained=True, group="arm", defined=True).fit()
    d = res.params[res.params["op"] == ":="]
    assert set(d["lhs"]) == {f"{n}_g{g}" for n in ("cl_diff", "lr_xy", "lr_yx") for g in (1, 2)}
    assert (d["group"] == 0).all()
    res = RICLPM(
        panel, constrained=True, group="arm", group_equal="regressions", defined=True
    ).fit()
    assert set(res.params.loc[res.params["op"] == ":=", "lhs"]) == {"cl_diff", "lr_xy", "lr_yx"}


def test_user_defined_and_bad_input(panel):
    res = RICLPM(
        panel, waves=range(1, 7), constrained=True, defined=["s := cl_xy + cl_yx", "t := 2 * s"]
    ).fit()
    d = res.params[res.params["op"] == ":="].set_index("lhs")
    assert d.loc["t", "est"] == pytest.approx(2 * d.loc["s", "est"])
    assert d.loc["t", "se"] == pytest.approx(2 * d.loc["s", "se"], rel=1e-6)
    with pytest.raises(DataError, match="constrained=True"):
        RICLPM(panel, waves=range(1, 7), defined=True)
    with pytest.raises(DataError, match="not parameter labels"):
        parse_model("y ~ b*x\nd := b - c")
    with pytest.raises(DataError, match="arithmetic|may be called"):
        parse_model("y ~ b*x\nd := __import__('os')")
    with pytest.raises(DataError, match="defined twice"):
        parse_model("y ~ b*x\nd := b\nd := 2*b")
