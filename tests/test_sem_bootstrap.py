"""Nonparametric bootstrap of the SEM fits over clients (or therapists): reproducible with a
seed, independent of the number of workers, failed replications counted, standard errors that
agree with the robust (sandwich) ones on simulated data, intervals that contain the truth.
lavaan's bootstrap draws come from R's generator, so the check against lavaan is indirect:
the robust SEs the bootstrap SEs are compared with are lavaan's (tests/test_sem_mlr.py)."""

import numpy as np
import pytest

from causalrel.data import DataError
from causalrel.sem import RICLPM
from causalrel.sem.bootstrap import bootstrap
from causalrel.simulate import simulate


@pytest.fixture(scope="module")
def small():
    return simulate(150, 4, trait_corr=0.3, mcar=0.05, seed=5).panel()


def test_seeded_and_structured(small):
    res = RICLPM(small, constrained=True, defined=True).fit()
    a = bootstrap(res, 15, seed=3, ci="percentile")
    b = bootstrap(res, 15, seed=3, ci="percentile")
    c = bootstrap(res, 15, seed=4, ci="percentile")
    np.testing.assert_array_equal(a.draws, b.draws)
    assert not np.allclose(a.draws, c.draws)
    assert a.n_failed == 0 and a.unit == "clients"
    t = a.table
    assert len(t) == res.engine.model.q + 3 and (t["op"] == ":=").sum() == 3
    assert (t["boot.lower"] <= t["boot.upper"]).all() and (t["boot.se"] > 0).all()
    with pytest.raises(DataError, match="ci must be"):
        bootstrap(res, 10, ci="normal")
    with pytest.raises(DataError, match="at least 2"):
        bootstrap(res, 1)


@pytest.mark.slow
def test_bootstrap_se_agrees_with_robust_and_covers_truth():
    sim = simulate(400, 5, trait_corr=0.3, seed=21)
    res = RICLPM(sim.panel(), constrained=True, defined=True).fit(
        estimator="mlr", bootstrap=200, seed=1
    )
    p = res.params.drop_duplicates("label")
    lags = p[p["label"].isin(["cl_xy", "cl_yx", "ar_x", "ar_y"])].set_index("label")
    ratio = lags["boot.se"] / lags["se"]
    assert ratio.between(0.8, 1.25).all(), ratio
    truth = {"cl_xy": -0.2, "cl_yx": -0.1, "ar_x": 0.3, "ar_y": 0.4}
    for k, v in truth.items():
        assert lags.loc[k, "boot.lower"] < v < lags.loc[k, "boot.upper"], k
    assert res.diagnostics["bootstrap"]["n_failed"] == 0
    # parallel workers give the same draws
    one = bootstrap(res, 8, seed=2, ci="percentile")
    two = bootstrap(res, 8, seed=2, ci="percentile", n_jobs=2)
    np.testing.assert_allclose(one.draws, two.draws)


@pytest.mark.slow
def test_cluster_bootstrap_resamples_therapists():
    sim = simulate(240, 4, n_therapists=12, therapist_sd=(0.4, 0.4), seed=8)
    from causalrel.data import load_panel

    panel = load_panel(sim.data, therapist="therapist", warn=False)
    res = RICLPM(panel, constrained=True).fit(cluster="therapist")
    b = bootstrap(res, 20, seed=1, ci="percentile")
    assert b.unit == "clusters (therapist)"
    assert b.n_failed == 0
