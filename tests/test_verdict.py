"""The verdict's rules on constructed results: each rule excludes what it should, and the
answer per direction follows the documented rule exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causalrel.results import Effect, ModelResults
from causalrel.verdict import credibility, direction_verdict, verdict

X, Y = "alliance", "symptoms"
AS, SA = "alliance->symptoms", "symptoms->alliance"


def res(model, as_=(-1.0, 0.2), sa=(-0.03, 0.02), ar=(0.3, 0.02), fit=None, converged=True, n=300):
    """A results object with the given (estimate, SE) of the two cross-lags and autoregressions."""
    within = {
        AS: Effect.from_normal(*as_),
        SA: Effect.from_normal(*sa),
        f"{X}->{X}": Effect.from_normal(*ar),
        f"{Y}->{Y}": Effect.from_normal(*ar),
    }
    return ModelResults(
        model=model,
        n_clients=n,
        n_observations=10 * n,
        effects={"within": within},
        params=pd.DataFrame(),
        fit=dict(fit or {}),
        diagnostics={"converged": converged, "message": None if converged else "R-hat 1.05"},
    )


CTX = {"median_sessions": 30, "random_intercepts_p": 0.001}


def test_effect_needs_sign_agreement_and_a_strict_majority():
    e = {
        "a": Effect(-1, 0.2, -1.4, -0.6),
        "b": Effect(-0.8, 0.3, -1.4, -0.2),
        "c": Effect(-0.2, 0.3, -0.8, 0.4),
    }
    v = direction_verdict(e, {})
    assert v["answer"] == "effect" and v["sign"] == "negative"
    assert v["estimate"] == -0.8 and v["lower"] == -1.4 and v["upper"] == 0.4
    assert v["significant"] == ["a", "b"] and v["families"] == ["a", "b", "c"]
    # one of three excluding zero is not a majority
    e["b"] = Effect(-0.8, 0.5, -1.8, 0.2)
    assert direction_verdict(e, {})["answer"] == "inconclusive"
    # two of four is not a strict majority
    e["b"] = Effect(-0.8, 0.3, -1.4, -0.2)
    e["d"] = Effect(-0.1, 0.3, -0.7, 0.5)
    assert direction_verdict(e, {})["answer"] == "inconclusive"


def test_disagreeing_signs_are_inconclusive_even_with_a_majority():
    e = {
        "a": Effect(-1, 0.2, -1.4, -0.6),
        "b": Effect(-0.8, 0.3, -1.4, -0.2),
        "c": Effect(0.1, 0.3, -0.5, 0.7),
    }
    v = direction_verdict(e, {})
    assert v["answer"] == "inconclusive" and "differ in sign" in v["reason"]
    e["c"] = Effect(0.9, 0.3, 0.3, 1.5)  # significant on the other side
    assert direction_verdict(e, {})["answer"] == "inconclusive"


def test_no_effect_detected_needs_every_interval_to_include_zero():
    e = {"a": Effect(-0.1, 0.2, -0.5, 0.3), "b": Effect(0.05, 0.2, -0.35, 0.45)}
    v = direction_verdict(e, {}, scale=2.0)
    assert v["answer"] == "no effect detected" and v["sign"] is None
    assert v["standardized"] == pytest.approx(2.0 * v["estimate"])
    e["c"] = Effect(-0.5, 0.2, -0.9, -0.1)
    assert direction_verdict(e, {})["answer"] == "inconclusive"


def test_no_credible_family_is_inconclusive():
    v = direction_verdict({}, {"fe": "Nickell bias"})
    assert v["answer"] == "inconclusive" and v["excluded"] == {"fe": "Nickell bias"}


def test_rules_exclude_what_they_should():
    results = {
        "clpm": res("clpm"),
        "riclpm": res("riclpm"),
        "dpd": res("dpd", fit={"ar2_pvalue.symptoms": 0.01, "hansen_pvalue.symptoms": 0.4}),
        "fe": res("fe", ar=(0.2, 0.01)),  # Nickell: (1 + 0.2) / 29 = 0.041 > 0.01
        "mlm": res("mlm", converged=False),
        "dsem": res("dsem", fit={"ppc_p:symptoms:mean": 0.004, "ppc_p:alliance:mean": 0.5}),
        "dpml": res("dpml", fit={"npar": 500}),
    }
    cred = credibility(results, {"variables": (X, Y), **CTX})
    assert {n for n, c in cred.items() if c.credible} == {"riclpm"}
    assert "stable levels differ" in cred["clpm"].reasons[0]
    assert "ar2" in cred["dpd"].reasons[0]
    assert "Nickell" in cred["fe"].reasons[0]
    assert "did not converge" in cred["mlm"].reasons[0]
    assert "posterior predictive" in cred["dsem"].reasons[0]
    assert "fewer clients" in cred["dpml"].reasons[0]


def test_rules_pass_when_their_checks_pass():
    results = {
        "clpm": res("clpm"),
        "dpd": res("dpd", fit={"ar2_pvalue.symptoms": 0.3, "hansen_pvalue.symptoms": 0.4}),
        "fe": res("fe", ar=(0.2, 0.05)),  # bias 0.041 < SE 0.05
        "dsem": res("dsem", fit={"ppc_p:symptoms:mean": 0.3}),
    }
    ctx = {"variables": (X, Y), "median_sessions": 30, "random_intercepts_p": 0.4}
    assert all(c.credible for c in credibility(results, ctx).values())


def test_clpm_does_not_count_when_the_random_intercept_test_could_not_be_computed():
    """A NaN p-value (a test that failed) is no evidence that stable traits are absent; it
    once let the CLPM count on IMPLEMENT (NaN < alpha is False)."""
    ctx = {"variables": (X, Y), "median_sessions": 30, "random_intercepts_p": float("nan")}
    cred = credibility({"clpm": res("clpm")}, ctx)["clpm"]
    assert not cred.credible and "could not be computed" in cred.reasons[0]


def test_causal_layer_uses_the_fe_autoregression_and_its_refuters():
    class Causal:  # the causal layer's shape: effects by key, a refutation table
        effects = {AS: Effect.from_normal(-1, 0.2), SA: Effect.from_normal(-0.03, 0.02)}
        refutations = pd.DataFrame({"refuter": ["placebo", "subset"], "passed": [True, False]})

    fe = res("fe", ar=(0.2, 0.05))
    cred = credibility({"fe": fe, "dowhy": Causal()}, {"variables": (X, Y), "median_sessions": 8})
    assert not cred["dowhy"].credible
    assert any("Nickell" in r for r in cred["dowhy"].reasons)
    assert any("subset" in r for r in cred["dowhy"].reasons)


def test_degenerate_interval_is_refused():
    r = res("fe")
    r.effects["within"][AS] = Effect(8.6e-17, 1e-17, 7.1e-17, 9.9e-17)
    cred = credibility({"fe": r}, {"variables": (X, Y), "median_sessions": 30})
    assert "degenerate" in " ".join(cred["fe"].reasons)


def test_verdict_contract_and_sentences():
    results = {
        "riclpm": res("riclpm"),
        "dpml": res("dpml", as_=(-0.9, 0.25)),
        "fe": res("fe", ar=(0.2, 0.01)),
    }
    v = verdict(results, x=X, y=Y, context=CTX, within_sd={X: 0.5, Y: 4.0}, rci={Y: 6.0})
    a, s = v[AS], v[SA]
    assert set(a) >= {
        "answer",
        "sign",
        "estimate",
        "lower",
        "upper",
        "standardized",
        "families",
        "excluded",
    }
    assert a["answer"] == "effect" and a["sign"] == "negative"
    assert a["families"] == ["dpml", "riclpm"] and "fe" in a["excluded"]
    assert a["standardized"] == pytest.approx(a["estimate"] * 0.5 / 4.0)
    assert "lower" in a["sentence"] and "2 of 2" in a["sentence"]
    assert a["per_within_sd"] == pytest.approx(a["estimate"] * 0.5)
    assert a["rci_share"] == pytest.approx(abs(a["estimate"]) * 0.5 / 6.0)
    assert "reliable-change threshold" in a["sentence"]
    assert s["rci_share"] is None  # no threshold given for the alliance
    assert s["answer"] == "no effect detected" and s["standardized"] == pytest.approx(
        s["estimate"] * 4.0 / 0.5
    )
    assert v["families"]["fe"]["credible"] is False
    assert v["families"]["fe"]["effects"][AS]["est"] == pytest.approx(-1.0)
    assert a["long_run"]["families"] == ["dpml", "riclpm"]  # credible ones only
    assert set(v["difference"]) >= {"answer", "estimate", "lower", "upper", "families"}


def test_trend_rule_picks_one_of_common_and_client_fits():
    results = {"riclpm": res("riclpm", as_=(-0.7, 0.1)), "riclpm:time=client": res("riclpm")}
    base = {"variables": (X, Y), "median_sessions": 30}
    cred = credibility(results, {**base, "client_slopes_p": 0.001})
    assert not cred["riclpm"].credible and "own trajectories" in cred["riclpm"].reasons[0]
    assert cred["riclpm:time=client"].credible
    cred = credibility(results, {**base, "client_slopes_p": 0.6})
    assert cred["riclpm"].credible and not cred["riclpm:time=client"].credible
    # without the test (e.g. the LCM-SR did not converge) only the simpler fit counts
    cred = credibility(results, base)
    assert cred["riclpm"].credible and not cred["riclpm:time=client"].credible
    assert "could not be tested" in cred["riclpm:time=client"].reasons[0]
    # a DPML refit without an RI-CLPM slope test: the same (no family counts twice)
    cred = credibility({"dpml": res("dpml"), "dpml:time=client": res("dpml")}, base)
    assert [c.credible for c in cred.values()] == [True, False]


# -- identification: information per parameter, not clients per parameter ----------------------
def test_singular_information_is_not_identified():
    r = res("riclpm", fit={"npar": 10})
    r.effects["within"][AS] = Effect(-0.2, float("nan"), float("nan"), float("nan"))
    cred = credibility({"riclpm": r}, {"variables": (X, Y), "median_sessions": 12})
    assert not cred["riclpm"].credible
    assert "not (locally) identified" in cred["riclpm"].reasons[0]


def test_without_an_sem_likelihood_clients_per_parameter_still_decides():
    cred = credibility({"x": res("x", fit={"npar": 500})}, {"variables": (X, Y)})
    assert "fewer clients (300) than free parameters (500)" in cred["x"].reasons[0]


@pytest.fixture(scope="module")
def short_wide():
    """IMPLEMENT's shape: 57 clients, 12 waves, an RI-CLPM with more parameters than clients."""
    from causalrel.families import fit_model
    from causalrel.simulate import simulate

    sim = simulate(57, 12, cross=(-0.2, -0.15), trait_sd=(0.6, 0.6), mcar=0.1, seed=3)
    return fit_model("riclpm", sim.panel(), progress=False)


def test_a_short_wide_sem_counts_on_the_information_it_has(short_wide):
    from causalrel.verdict import MIN_VALUES_PER_PARAMETER, observed_values

    r = short_wide
    assert r.n_clients < r.fit["npar"]  # the old rule excluded it
    values = observed_values(r)
    assert values == int(r.engine.patterns.mask.sum(axis=1) @ r.engine.patterns.n)
    assert values / r.fit["npar"] >= MIN_VALUES_PER_PARAMETER
    cred = credibility({"riclpm": r}, {"variables": (X, Y), "median_sessions": 12})
    assert cred["riclpm"].credible, cred["riclpm"].reasons
    assert any("observed ratings per free parameter" in c for c in cred["riclpm"].checks)


def test_too_few_ratings_per_parameter_are_excluded(short_wide):
    import copy

    from causalrel.verdict import MIN_VALUES_PER_PARAMETER, observed_values

    r = copy.copy(short_wide)
    r.fit = {**r.fit, "npar": observed_values(r) / MIN_VALUES_PER_PARAMETER + 1}
    cred = credibility({"riclpm": r}, {"variables": (X, Y), "median_sessions": 12})
    assert not cred["riclpm"].credible and "too little information" in cred["riclpm"].reasons[0]


# -- the two directions on one scale: size difference and long-run effects -----------------------
def test_sem_effect_covariance_reproduces_the_reported_standard_errors(short_wide):
    from causalrel.verdict import effect_covariance

    keys = [AS, SA, f"{Y}->{Y}"]
    cov = effect_covariance(short_wide, keys, (X, Y))
    se = [short_wide.effects["within"][k].se for k in keys]
    assert np.sqrt(np.diag(cov)) == pytest.approx(se, rel=1e-8)
    assert cov[0, 2] != 0  # the SEM's joint covariance, not the diagonal fallback


def test_size_difference_and_long_run_by_the_delta_method():
    from causalrel.verdict import long_run, size_difference

    r = res("fe", as_=(-1.0, 0.2), sa=(-0.03, 0.02), ar=(0.5, 0.1))
    d = size_difference(r, X, Y, sd_x=0.5, sd_y=4.0)
    # |-1 * 0.5/4| - |-0.03 * 4/0.5| = 0.125 - 0.24; se from uncorrelated effects
    assert d.est == pytest.approx(0.125 - 0.24)
    assert d.se == pytest.approx(np.hypot(0.2 * 0.5 / 4, 0.02 * 4 / 0.5))
    lr = long_run(r, X, Y, (X, Y))
    assert lr.est == pytest.approx(-1.0 / 0.5)
    assert lr.se == pytest.approx(np.hypot(0.2 / 0.5, 1.0 / 0.25 * 0.1))
    r.effects["within"][f"{Y}->{Y}"] = Effect.from_normal(1.02, 0.05)  # not stationary
    assert long_run(r, X, Y, (X, Y)) is None


def test_difference_verdict_says_which_direction_is_larger():
    results = {"riclpm": res("riclpm"), "dpml": res("dpml", as_=(-0.9, 0.2))}
    v = verdict(results, x=X, y=Y, context=CTX, within_sd={X: 2.0, Y: 2.0})
    assert v["difference"]["answer"] == f"{AS} larger"
    assert v["difference"]["families"] == ["dpml", "riclpm"]
    assert v[AS]["long_run"]["estimate"] == pytest.approx(np.median([-0.9, -1.0]) / 0.7)
    assert "settle" in v[AS]["sentence"]
    # equal sizes: no difference detected
    same = {"riclpm": res("riclpm", as_=(-0.3, 0.1), sa=(-0.3, 0.1))}
    v = verdict(same, x=X, y=Y, context=CTX, within_sd={X: 1.0, Y: 1.0})
    assert v["difference"]["answer"] == "no difference detected"
