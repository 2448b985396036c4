"""``same_session=``: the order of the ratings within a session as a directed same-session
path in the panel SEMs (issue 13 item 4). Parity with lavaan 0.6 (fixtures by
tests/reference/lavaan/lavaan_same_session.R; tolerances of tests/test_sem_parity.py), the
reparameterisation of the covariance version (free lags), recovery of a simulated
same-session effect, and the errors of the families that cannot.
"""

import json

import numpy as np
import pandas as pd
import pytest

from causalrel.data import DataError, load_panel
from causalrel.families import fit_model
from causalrel.sem import CLPM, DPML, RICLPM
from causalrel.simulate import simulate

from .conftest import FIXTURES
from .test_cli import call  # noqa: F401 (the fixture)
from .test_sem_parity import check_fit, check_params

YX, XY = "symptoms->alliance", "alliance->symptoms"

CASES = {
    "riclpm_complete_yx": ("complete", RICLPM, dict(waves=range(1, 6), same_session=YX)),
    "riclpm_missing_constrained_yx": (
        "missing",
        RICLPM,
        dict(waves=range(1, 7), constrained=True, same_session=YX),
    ),
    "clpm_complete_xy": ("complete", CLPM, dict(waves=range(1, 6), same_session=XY)),
    "dpml_missing_yx": ("missing", DPML, dict(waves=range(1, 7), same_session=YX)),
    "lcmsr_missing_constrained_yx": (
        "lcmsr_missing",
        RICLPM,
        dict(waves=range(1, 8), constrained=True, time="client", same_session=YX),
    ),
}


@pytest.fixture(scope="module")
def panels():
    files = {
        "complete": "lavaan_data_complete.csv",
        "missing": "lavaan_data_missing.csv",
        "lcmsr_missing": "lavaan_data_lcmsr_missing.csv",
    }
    return {k: load_panel(FIXTURES["lavaan"] / f, warn=False) for k, f in files.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_same_session_path_matches_lavaan(case, panels):
    data, cls, opts = CASES[case]
    res = cls(panels[data], **opts).fit()
    ref_params = pd.read_csv(FIXTURES["lavaan"] / f"lavaan_same_{case}_params.csv")
    ref = json.loads((FIXTURES["lavaan"] / f"lavaan_same_{case}_fit.json").read_text())
    assert res.converged
    check_params(res.params, ref_params)
    check_fit(res.fit, ref)
    key = f"{opts['same_session']} (same session)"
    pre = "w" if cls is RICLPM else ""
    cause, out = ("y", "x") if opts["same_session"] == YX else ("x", "y")
    paths = res.params.query(f"op == '~' and lhs == '{pre}{out}3' and rhs == '{pre}{cause}3'")
    assert len(paths) == 1
    if opts.get("constrained", cls is DPML):
        assert paths["label"].iloc[0] == f"ss_{cause}{out}"
        assert res.effects["within"][key].est == pytest.approx(paths["est"].iloc[0], abs=1e-12)
    assert any("same_session=" in n for n in res.notes)


@pytest.mark.parametrize("cls", [RICLPM, CLPM])
def test_free_lags_make_it_a_reparameterisation(cls, panels):
    """Same chi-square and df as the covariance version; each path = cov / var of the
    covariance version's same-session residuals."""
    p = panels["complete"]
    cov = cls(p, waves=range(1, 6)).fit()
    path = cls(p, waves=range(1, 6), same_session=YX).fit()
    assert path.fit["chisq"] == pytest.approx(cov.fit["chisq"], abs=1e-6)
    assert path.fit["df"] == cov.fit["df"]
    pre = "w" if cls is RICLPM else ""
    c = cov.params.set_index(["lhs", "op", "rhs"])["est"]
    b = path.params.set_index(["lhs", "op", "rhs"])["est"]
    ratios = []
    for s in range(2, 6):
        ratio = c[(f"{pre}x{s}", "~~", f"{pre}y{s}")] / c[(f"{pre}y{s}", "~~", f"{pre}y{s}")]
        assert b[(f"{pre}x{s}", "~", f"{pre}y{s}")] == pytest.approx(ratio, abs=1e-5)
        ratios.append(ratio)
    key = "symptoms->alliance (same session)"
    assert path.effects["within"][key].est == pytest.approx(np.mean(ratios), abs=1e-5)
    # the outcome's equation is unchanged: the other direction's lag is the same number
    assert path.effects["within"][XY].est == pytest.approx(cov.effects["within"][XY].est, abs=1e-5)


def test_recovers_a_simulated_same_session_effect():
    """Symptoms act on the same session's alliance (-0.3); the lagged effects are the direct
    ones. The covariance version's symptoms->alliance lag mixes in the same-session path."""
    sim = simulate(400, 8, innovation_corr=0.0, same_session={YX: -0.3}, seed=3)
    truth = sim.truth.within
    assert truth[f"{YX} (same session)"] == -0.3
    p = sim.panel()
    for cls in (RICLPM, DPML):
        res = cls(p, same_session=YX, constrained=True).fit()
        assert res.converged
        for key in (XY, YX, f"{YX} (same session)"):
            e = res.effects["within"][key]
            assert abs(e.est - truth[key]) < 0.06, (cls.__name__, key, e)
            assert e.lower <= truth[key] <= e.upper, (cls.__name__, key, e)
    cov = RICLPM(p, constrained=True).fit()
    assert cov.effects["within"][YX].upper < truth[YX]  # -0.1 + (-0.3)(0.4): biased


def test_simulate_same_session_errors_and_default():
    base = simulate(30, 4, seed=1)
    again = simulate(30, 4, seed=1, same_session=None)
    pd.testing.assert_frame_equal(base.data, again.data)
    assert base.truth.params["same_session"] is None
    with pytest.raises(DataError, match="same_session takes one effect"):
        simulate(30, 4, same_session={"alliance->alliance": 0.2})
    with pytest.raises(DataError, match="same_session takes one effect"):
        simulate(30, 4, same_session={YX: 0.2, XY: 0.1})


def test_families_that_cannot_name_those_that_can(panels):
    p = panels["complete"]
    with pytest.raises(DataError, match="same_session must be one of 'covariance'"):
        RICLPM(p, same_session="alliance")
    with pytest.raises(DataError, match="assume no directed same-session path"):
        RICLPM(p, constrained=True, defined=True, same_session=YX)
    res = RICLPM(p, constrained=True, defined=["total := cl_yx + ss_yx * ar_y"], same_session=YX)
    assert "total := cl_yx + ss_yx * ar_y" in res.syntax
    for family in ("fe", "dpd", "mlm", "dowhy"):
        with pytest.raises(DataError, match="Families that take 'same_session': clpm, riclpm"):
            fit_model(family, p, same_session=YX)


def test_cli_same_session(example_path, call):  # noqa: F811
    r = call("fit", "riclpm", str(example_path), "--same-session", YX, "--json")
    assert r.returncode == 0, r.stderr
    within = json.loads(r.stdout)["effects"]["within"]
    assert f"{YX} (same session)" in within
    r = call("fit", "fe", str(example_path), "--same-session", YX)
    assert r.returncode == 2 and "Families that take 'same_session'" in r.stderr
