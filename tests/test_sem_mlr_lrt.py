"""Nested comparisons under MLR: the Satorra-Bentler (2001) scaled difference agrees with
lavaan's ``lavTestLRT`` for the pairs ``analyze``'s verdict tests (fixtures by
tests/reference/lavaan/lavaan_mlr_lrt.R), a fit made with ML is scaled like its MLR twin, and
the verdict names the test it used.

Tolerances: the scaled difference within 0.01 and the scaling factors within 1e-3 (the
issue's tolerances for ``chisq.scaled`` and the scaling factor), the p-value within 1e-4.
Measured: scaled differences within 2.3e-3 (the CLPM vs RI-CLPM difference of 250.6 on
missing data; the others within 2e-4), scaling factors within 4e-6, p-values within 2e-5
relative where they are above 1e-10.
"""

import json
import warnings

import numpy as np
import pytest

from causalrel.data import DataError, load_panel
from causalrel.sem import CLPM, RICLPM, HeywoodWarning, compare_nested, compare_slopes

from .conftest import FIXTURES

C5, M6, L7 = dict(waves=range(1, 6)), dict(waves=range(1, 7)), dict(waves=range(1, 8))
TH = dict(cluster="therapist")
MLR = dict(estimator="mlr")

#: case: (data, restricted (class, options, fit options), full (...), comparison); the LCM-SRs
#: keep their slope variances free (no fallback), as lavaan fits them
PAIRS = {
    "clpm_riclpm_cluster": ("cluster", (CLPM, C5, TH), (RICLPM, C5, TH), compare_nested),
    "riclpm_lcmsr_cluster": (
        "cluster",
        (RICLPM, C5, TH),
        (RICLPM, dict(C5, time="client", slope_variances="free"), TH),
        compare_slopes,
    ),
    "clpm_riclpm_missing": ("missing", (CLPM, M6, MLR), (RICLPM, M6, MLR), compare_nested),
    "riclpm_lcmsr_missing": (
        "lcmsr_missing",
        (RICLPM, dict(L7, constrained=True), MLR),
        (RICLPM, dict(L7, constrained=True, time="client", slope_variances="free"), MLR),
        compare_slopes,
    ),
    "riclpm_constrained_missing": (
        "missing",
        (RICLPM, dict(M6, constrained=True), MLR),
        (RICLPM, M6, MLR),
        compare_nested,
    ),
}


@pytest.fixture(scope="module")
def panels():
    names = ("cluster", "missing", "lcmsr_missing")
    return {n: load_panel(FIXTURES["lavaan"] / f"lavaan_data_{n}.csv", warn=False) for n in names}


def _fit(panel, cls, options, fit_options):
    with warnings.catch_warnings():  # the LCM-SR of data without slopes is improper
        warnings.simplefilter("ignore", HeywoodWarning)
        return cls(panel, **options).fit(**fit_options)


@pytest.fixture(scope="module")
def pairs(panels):
    out = {}
    for case, (data, restricted, full, how) in PAIRS.items():
        r0, r1 = (_fit(panels[data], *spec) for spec in (restricted, full))
        out[case] = (r0, r1, how(r0, r1))
    return out


@pytest.mark.parametrize("case", list(PAIRS))
def test_scaled_difference_matches_lavtestlrt(pairs, case):
    ref = json.loads((FIXTURES["lavaan"] / f"lavaan_mlr_lrt_{case}.json").read_text())
    assert "satorra.bentler.2001" in ref["method"]
    r0, r1, test = pairs[case]
    for res, side in ((r0, "restricted"), (r1, "full")):
        assert res.fit["npar"] == ref[side]["npar"]
        assert res.fit["chisq"] == pytest.approx(ref[side]["chisq"], abs=0.01)
        assert res.fit["chisq.scaling.factor"] == pytest.approx(
            ref[side]["chisq.scaling.factor"], abs=1e-3
        )
    assert test.method == "satorra.bentler.2001" and test.estimator == "mlr"
    assert test.cluster == ref["cluster"] or (test.cluster is None and ref["cluster"] == "")
    assert test.df == ref["df_diff"]
    assert test.chisq == pytest.approx(ref["chisq_diff"], abs=0.01)
    assert test.pvalue == pytest.approx(ref["pvalue"], abs=1e-4)
    assert test.chisq_unscaled == pytest.approx(
        ref["restricted"]["chisq"] - ref["full"]["chisq"], abs=0.01
    )
    assert "Satorra-Bentler" in test.describe()


def test_ml_fit_is_scaled_like_its_mlr_twin(panels, pairs):
    """Either fit MLR is enough: an ML fit's scaling factor is computed from its estimates
    (and with the other fit's clusters), so the test is the one of two MLR fits."""
    r0, r1, both = pairs["clpm_riclpm_missing"]
    ml0 = CLPM(panels["missing"], **M6).fit()
    mixed = compare_nested(ml0, r1)
    assert mixed.method == "satorra.bentler.2001"
    assert mixed.chisq == pytest.approx(both.chisq, rel=1e-8)
    assert mixed.scaling_factor == pytest.approx(both.scaling_factor, rel=1e-8)
    assert mixed.pvalue_chibar == pytest.approx(both.pvalue_chibar, rel=1e-8)
    # an ML full model: the chi-bar-square weights use the robust covariance all the same
    ml1 = RICLPM(panels["missing"], **M6).fit()
    other = compare_nested(r0, ml1)
    assert other.chisq == pytest.approx(both.chisq, rel=1e-8)
    assert other.weights == pytest.approx(both.weights, abs=1e-12)
    # clustered on one side: both scaling factors are the cluster-robust ones
    c0, c1, clustered = pairs["clpm_riclpm_cluster"]
    mixed = compare_nested(CLPM(panels["cluster"], **C5).fit(estimator="mlr"), c1)
    assert mixed.cluster == "therapist"
    assert mixed.chisq == pytest.approx(clustered.chisq, rel=1e-8)
    assert compare_nested(c0, RICLPM(panels["cluster"], **C5).fit()).chisq == pytest.approx(
        clustered.chisq, rel=1e-8
    )


def test_normal_theory_test_unchanged_and_named(panels, pairs):
    ml = [cls(panels["missing"], **M6).fit() for cls in (CLPM, RICLPM)]
    test = compare_nested(*ml)
    assert test.method == "likelihood ratio" and test.scaling_factor is None
    assert test.chisq == pytest.approx(2 * (ml[1].fit["loglik"] - ml[0].fit["loglik"]))
    assert "normal-theory ML" in test.describe() and "chi-bar-square" in test.describe()
    scaled = pairs["clpm_riclpm_missing"][2]
    assert not np.isclose(scaled.chisq, test.chisq, rtol=1e-3)
    assert scaled.to_dict()["test"].startswith("Satorra-Bentler (2001) scaled")


def test_bad_pairs(panels, pairs):
    c0 = pairs["clpm_riclpm_cluster"][0]
    d = panels["cluster"].data.copy()
    d["site"] = d["therapist"] % 3
    other = RICLPM(load_panel(d, warn=False), **C5).fit(cluster="site")
    with pytest.raises(DataError, match="clustered by different columns"):
        compare_nested(c0, other)
    fewer = d[d["client"] > d["client"].min()]
    with pytest.raises(DataError, match="different clients"):
        compare_nested(c0, RICLPM(load_panel(fewer, warn=False), **C5).fit())


def test_verdict_uses_and_names_the_scaled_test(panels, pairs):
    """analyze's verdict: the CLPM's random-intercept check and the slope-variance check use
    the scaled difference of the MLR fits and say so."""
    from causalrel.decompose import describe
    from causalrel.verdict import analysis_verdict

    c0, c1, test = pairs["clpm_riclpm_cluster"]
    r0, r1, slopes = pairs["riclpm_lcmsr_cluster"]
    assert r1.converged is False  # improper LCM-SR (no slopes in these data): no slope test
    panel = panels["cluster"]
    v = analysis_verdict({"clpm": c0, "riclpm": c1}, {}, describe(panel), x=panel.x, y=panel.y)
    ctx = v["context"]
    assert ctx["random_intercepts_p"] == test.pvalue_chibar
    assert ctx["random_intercepts_test"] == (
        "Satorra-Bentler (2001) scaled difference test (MLR, clustered by therapist), "
        "chi-bar-square p-value"
    )
    reason = v["families"]["clpm"]["reasons"][0]
    assert "stable levels differ" in reason and "Satorra-Bentler" in reason
    # simulated client slopes (seed 2: both fits proper), lags equal over waves
    from causalrel.simulate import simulate

    sim = simulate(300, 6, time="client", trend=(0.0, 0.0), trend_sd=0.1, seed=2)
    p = load_panel(sim.data, warn=False)
    d0 = RICLPM(p, constrained=True).fit(estimator="mlr")
    d1 = RICLPM(p, constrained=True, time="client").fit(estimator="mlr")
    assert d0.converged and d1.converged
    v = analysis_verdict({"riclpm": d0}, {"riclpm": d1}, describe(p), x=p.x, y=p.y)
    lcm = compare_slopes(d0, d1)
    assert lcm.scaling_factor is not None and v["context"]["client_slopes_p"] == lcm.pvalue_chibar
    assert v["context"]["client_slopes_test"] == (
        "Satorra-Bentler (2001) scaled difference test (MLR), chi-bar-square p-value"
    )
