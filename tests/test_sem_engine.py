"""The SEM engine's pieces: syntax parser, exact derivatives, FIML by pattern, EM, weights."""

import numpy as np
import pytest
from scipy import stats

from causalrel.data import DataError
from causalrel.sem import chibar_weights_psd2, parse_model, riclpm_syntax
from causalrel.sem.estimate import _Objective, fit_partable, loglik_hessian
from causalrel.sem.fiml import Patterns, em_saturated, fiml_loglik
from causalrel.sem.matrices import RAMModel
from causalrel.simulate import simulate


@pytest.fixture(scope="module")
def small():
    """An RI-CLPM over 4 waves with MCAR gaps, dropout and a random start point."""
    sim = simulate(120, 4, mcar=0.15, dropout=0.1, seed=5)
    panel = sim.panel()
    wide = panel.wide(waves=range(1, 5))
    pt = parse_model(riclpm_syntax(range(1, 5)))
    Y = np.column_stack(
        [wide[(panel.x if v[0] == "x" else panel.y, int(v[1:]))] for v in pt.observed]
    )
    model = RAMModel(pt)
    pats = Patterns.from_array(Y)
    theta = model.start_theta(np.nanvar(Y, axis=0), np.nanmean(Y, axis=0))
    theta = theta + np.random.default_rng(1).normal(0, 0.03, theta.size)
    return pt, model, pats, Y, theta


# -- parser ------------------------------------------------------------------------------------
def test_parser_labels_fixed_values_and_multiple_sides():
    pt = parse_model("f =~ 1*a + l*b + l*c\ny1 + y2 ~ f\n a ~~ start(0.5)*a; f ~ 1")
    t = pt.table.set_index(["lhs", "op", "rhs"])
    assert pt.latent == ["f"] and pt.observed == ["a", "b", "c", "y1", "y2"]
    assert t.loc[("f", "=~", "a"), "free"] == 0 and t.loc[("f", "=~", "a"), "ustart"] == 1
    assert t.loc[("f", "=~", "b"), "free"] == t.loc[("f", "=~", "c"), "free"] > 0
    assert pt.n_equality == 1
    assert {("y1", "~", "f"), ("y2", "~", "f")} <= set(t.index)
    assert t.loc[("a", "~~", "a"), "ustart"] == 0.5 and t.loc[("a", "~~", "a"), "free"] > 0
    assert t.loc[("f", "~1", ""), "free"] > 0  # user intercept of a latent is free
    assert t.loc[("b", "~1", ""), "free"] > 0  # observed intercepts free (int.ov.free)
    assert t.loc[("b", "~~", "b"), "free"] == 0  # lavaan(): unmodelled variance fixed at 0


@pytest.mark.parametrize("bad", ["x y z", "a =~ 2a", "a ~~ b\nb ~~ a", "a =~ b*c*(d"])
def test_parser_rejects_bad_syntax(bad):
    with pytest.raises(DataError):
        parse_model(bad)


# -- derivatives -------------------------------------------------------------------------------
def test_gradient_is_exact(small):
    _, model, pats, _, theta = small
    obj = _Objective(model, pats)
    g = obj.jac(theta)
    eps = 1e-6
    num = np.array(
        [
            (obj.fun(theta + eps * e) - obj.fun(theta - eps * e)) / (2 * eps)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(g, num, atol=1e-7)


def test_hessian_is_exact_and_expected_information_is_its_expectation(small):
    _, model, pats, _, theta = small
    obj = _Objective(model, pats)
    H = obj.hess(theta)
    eps = 1e-6
    num = np.array(
        [
            (obj.jac(theta + eps * e) - obj.jac(theta - eps * e)) / (2 * eps)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(H, num, atol=1e-6)
    # expected information equals the observed one when the data equal the implied moments
    imp = model.implied(theta)
    exact = Patterns(
        mask=pats.mask,
        n=pats.n,
        mean=np.where(pats.mask, imp["mu"], 0.0),
        cov=np.where(pats.mask2, imp["Sigma"], 0.0),
    )
    r = fiml_loglik(imp["Sigma"], imp["mu"], exact)
    r["imp"] = imp
    obs = loglik_hessian(model, exact, theta, r)
    exp = loglik_hessian(model, exact, theta, r, expected=True)
    second = model.second_order(theta, r["G"], r["gmu"], imp)
    np.testing.assert_allclose(obs - second, exp, atol=1e-8 * np.abs(exp).max())


# -- FIML ----------------------------------------------------------------------------------------
def test_pattern_loglik_equals_casewise_loglik(small):
    _, model, pats, Y, theta = small
    imp = model.implied(theta)
    total = 0.0
    for row in Y:
        o = ~np.isnan(row)
        if o.any():
            total += stats.multivariate_normal(imp["mu"][o], imp["Sigma"][np.ix_(o, o)]).logpdf(
                row[o]
            )
    assert fiml_loglik(imp["Sigma"], imp["mu"], pats, derivs=False)["loglik"] == pytest.approx(
        total, rel=1e-10
    )
    assert pats.n_total == (~np.isnan(Y)).any(axis=1).sum()


def test_cost_grows_with_patterns_not_clients(small):
    _, model, pats, Y, theta = small
    big = Patterns.from_array(np.vstack([Y] * 5))
    assert big.n_patterns == pats.n_patterns
    imp = model.implied(theta)
    ll = fiml_loglik(imp["Sigma"], imp["mu"], pats, derivs=False)["loglik"]
    assert fiml_loglik(imp["Sigma"], imp["mu"], big, derivs=False)["loglik"] == pytest.approx(
        5 * ll
    )


def test_em_finds_the_saturated_maximum(small):
    _, _, pats, Y, _ = small
    h1 = em_saturated(pats)
    assert h1["converged"]
    r = fiml_loglik(h1["Sigma"], h1["mu"], pats)
    scale = pats.n_total
    assert np.abs(r["G"]).max() / scale < 1e-7 and np.abs(r["gmu"]).max() / scale < 1e-7
    # complete data: the sample moments (divisor N)
    Yc = Y[~np.isnan(Y).any(axis=1)]
    h1c = em_saturated(Patterns.from_array(Yc))
    np.testing.assert_allclose(h1c["Sigma"], np.cov(Yc.T, bias=True), atol=1e-12)


def test_fit_rejects_constant_variable():
    pt = parse_model("y ~ x\ny ~~ y\nx ~~ x")
    Y = np.column_stack([np.ones(50), np.arange(50.0)])
    with pytest.raises(DataError, match="zero variance"):
        fit_partable(pt, Y)


# -- chi-bar-square weights ----------------------------------------------------------------------
def test_chibar_weights_for_the_circular_cone():
    """With V making the PSD cone circular (var1, var2, sqrt(2) cov isotropic), the weights
    are known in closed form: w0 = w3 = (1 - cos 45 deg) / 2."""
    V = np.diag([1.0, 1.0, 0.5])
    w = chibar_weights_psd2(V, draws=40000)
    expected = (1 - np.cos(np.pi / 4)) / 2
    assert w[0] == pytest.approx(expected, abs=0.01)
    assert w[3] == pytest.approx(expected, abs=0.01)
    assert sum(w.values()) == pytest.approx(1.0)
