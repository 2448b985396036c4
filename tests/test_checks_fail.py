"""Refuters and diagnostics shown to fail: data constructed so that each check must reject.

A check that passes on good data proves little unless it also fails on bad data. Here:
the within-client placebo (no lagged effect), the client-subset refuter (one client carries the
effect), the AR(2) test of difference GMM (a second-order process fitted as first-order) and
the chi-bar-square test of CLPM against RI-CLPM (stable traits; the Hansen test's rejection of
invalid instruments is in test_panel_simulation.py, the PPC's and R-hat's in the sampling tests).
"""

import numpy as np
import pandas as pd
import pytest

from causalrel import load_panel
from causalrel.causal import SUBSET_FLIP_MAX, CausalAnalysis
from causalrel.causal.estimate import _quiet_dowhy
from causalrel.causal.refute import refute
from causalrel.families import fit_model
from causalrel.sem import compare_nested
from causalrel.simulate import simulate

XY = "alliance->symptoms"
PLACEBO = "placebo treatment (permuted within client)"
SUBSET = "data subset (80% of clients)"


def _refute_one_direction(panel, seed, n_placebo=2, n_subsets=2):
    """The refuters of CausalAnalysis.fit for alliance -> next symptoms only: the same code
    (fit runs ``refute`` once per direction, the rng drawn in this order), half the work."""
    _quiet_dowhy()
    d = CausalAnalysis(panel)._direction(panel.x, panel.y)
    refute(d, np.random.default_rng(seed), n_placebo, 1, n_subsets, 0.8, False)
    assert d.key == XY
    return pd.DataFrame(d.refutations).set_index("refuter")


def test_placebo_fails_without_a_lagged_effect_and_passes_with_one():
    null = simulate(150, 10, cross=(0.0, 0.0), seed=21).panel()
    row = _refute_one_direction(null, seed=2, n_placebo=20).loc[PLACEBO]
    assert not bool(row["passed"])
    assert row["p_value"] > 0.05
    strong = simulate(150, 10, cross=(-0.3, 0.0), seed=21).panel()
    row = _refute_one_direction(strong, seed=2, n_placebo=20).loc[PLACEBO]
    assert bool(row["passed"]) and row["p_value"] < 0.001


def _one_client_carries_it():
    """80 clients with a negative effect of alliance on next symptoms, plus one client with a
    huge positive one and a hundredfold variance: the pooled estimate is positive only while
    that client is in the sample."""
    base = simulate(80, 12, cross=(-0.3, 0.0), seed=8).data
    rng = np.random.default_rng(3)
    n = 12
    x = rng.normal(0, 10, n)
    y = np.empty(n)
    y[0] = rng.normal(0, 1)
    y[1:] = 2.0 * x[:-1] + rng.normal(0, 1, n - 1)
    big = pd.DataFrame(
        {"client": 9999, "session": np.arange(1, n + 1), "alliance": x, "symptoms": y}
    )
    data = pd.concat([base, big], ignore_index=True)
    # the outlying client is deliberate: declare the scales so the typo check accepts it
    wide = {"alliance": (-1e3, 1e3), "symptoms": (-1e3, 1e3)}
    return load_panel(data, ranges=wide, warn=False)


def test_subset_refuter_fails_when_one_client_carries_the_effect():
    panel = _one_client_carries_it()
    table = _refute_one_direction(panel, seed=4, n_subsets=40)
    assert table.loc[SUBSET, "estimate"] > 0
    row = table.loc[SUBSET]
    assert not bool(row["passed"])
    assert row["p_value"] > SUBSET_FLIP_MAX  # share of subsets with the other sign
    # without that client the estimate is negative in every subset: the refuter passes
    rest = panel.subset(panel.data["client"] != 9999)
    row = _refute_one_direction(rest, seed=4, n_subsets=20).loc[SUBSET]
    assert row["estimate"] < 0
    assert bool(row["passed"]) and row["p_value"] == 0.0


@pytest.mark.slow
def test_refuters_fail_through_causal_analysis_fit():
    """The same two failures through the public CausalAnalysis.fit (both directions)."""
    null = simulate(150, 10, cross=(0.0, 0.0), seed=21).panel()
    res = CausalAnalysis(null).fit(n_placebo=30, n_random_common_cause=2, n_subsets=2, seed=2)
    assert not bool(_refutation(res, XY, PLACEBO)["passed"])
    res = CausalAnalysis(_one_client_carries_it()).fit(
        n_placebo=2, n_random_common_cause=2, n_subsets=60, seed=4
    )
    assert res.effects["within"][XY].est > 0
    assert not bool(_refutation(res, XY, SUBSET)["passed"])


def _refutation(res, key, refuter):
    return res.refutations.set_index(["effect", "refuter"]).loc[(key, refuter)]


def _ar2_panel(n_clients=800, n_sessions=12, seed=5):
    """Each score depends on itself two sessions back: a first-order model leaves AR(2) in the
    differenced residuals (and makes the t-2 levels invalid instruments)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_clients):
        mu = rng.normal(0, 0.6, 2)
        w = np.zeros((n_sessions + 30, 2))
        for t in range(2, len(w)):
            w[t, 0] = 0.1 * w[t - 1, 0] + 0.6 * w[t - 2, 0] + rng.normal(0, 0.4)
            w[t, 1] = 0.1 * w[t - 1, 1] + 0.6 * w[t - 2, 1] - 0.2 * w[t - 1, 0] + rng.normal(0, 0.4)
        for s, (a, b) in enumerate(w[-n_sessions:], start=1):
            rows.append((i, s, mu[0] + a, mu[1] + b))
    return load_panel(pd.DataFrame(rows, columns=["client", "session", "alliance", "symptoms"]))


def test_ar2_test_rejects_a_second_order_process():
    res = fit_model("dpd", _ar2_panel())
    assert res.fit["ar2_pvalue.symptoms"] < 1e-4 and res.fit["ar2_pvalue.alliance"] < 1e-4
    assert any("AR(2) test p" in n for n in res.notes)
    assert res.fit["hansen_pvalue.symptoms"] < 1e-4  # the t-2 levels are invalid instruments
    ok = fit_model("dpd", simulate(600, 9, seed=5).panel())
    assert ok.fit["ar2_pvalue.symptoms"] > 0.01
    assert not any("AR(2) test p" in n for n in ok.notes)


def test_chibar_square_rejects_the_clpm_when_clients_differ_stably():
    with_traits = simulate(300, 5, trait_sd=(1.0, 1.0), seed=6).panel()
    test = compare_nested(fit_model("clpm", with_traits), fit_model("riclpm", with_traits))
    assert test.pvalue_chibar < 1e-6


def test_chibar_square_p_value_is_the_mixture_of_its_weights():
    """p = sum_k w_k P(chi2_k > T): each weight goes with its own degrees of freedom (chi2_0 is
    a point mass at 0), so the p-value is below the naive chi2_df one."""
    from scipy import stats

    panel = simulate(400, 5, trait_sd=(0.3, 0.3), seed=3).panel()
    test = compare_nested(fit_model("clpm", panel), fit_model("riclpm", panel))
    mix = sum(w * (stats.chi2.sf(test.chisq, k) if k else 0.0) for k, w in test.weights.items())
    assert test.pvalue_chibar == pytest.approx(mix, rel=1e-12, abs=0)
    assert 0 < test.pvalue_chibar < test.pvalue
