"""The DoWhy causal layer: identification, recovery of simulated truth, the plm reference,
the within-client placebo, the other refuters and the sensitivity analysis."""

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from causalrel import DataError, load_panel
from causalrel.causal import (
    CausalAnalysis,
    causal_analysis,
    draw_graph,
    permute_within,
    slice_graph,
    unrolled_graph,
    within_frame,
)
from causalrel.simulate import simulate

from .conftest import FIXTURES

matplotlib.use("Agg")

XY, YX = "alliance->symptoms", "symptoms->alliance"


@pytest.fixture(scope="module")
def confounded():
    """Strongly correlated stable traits (the confounding the within estimand removes)."""
    return simulate(300, 20, trait_corr=0.6, trait_sd=(1.0, 1.0), seed=3)


@pytest.fixture(scope="module")
def fitted(confounded):
    return CausalAnalysis(confounded.panel()).fit(
        n_placebo=30, n_random_common_cause=5, n_subsets=10, seed=5
    )


# -- identification ---------------------------------------------------------------------------
def test_identified_within_not_on_raw_scores(fitted):
    ident = fitted.identification.set_index("effect")
    assert not ident["identified_on_raw_scores"].any()
    assert ident["identified_within_client"].all()
    assert set(ident.loc[XY, "backdoor_set"].split(", ")) == {"symptoms_lag1", "session"}
    assert set(ident.loc[YX, "backdoor_set"].split(", ")) == {"alliance_lag1", "session"}


def test_slice_graph_is_acyclic_and_traits_only_on_raw(small_sim):
    import networkx as nx

    p = small_sim.panel()
    raw, within = slice_graph(p, within=False), slice_graph(p, within=True, time_node="session")
    assert nx.is_directed_acyclic_graph(raw) and nx.is_directed_acyclic_graph(within)
    assert "client_traits" in raw and "client_traits" not in within
    assert ("alliance_lag1", "symptoms") in within.edges and ("session", "symptoms") in within.edges


def test_unrolled_graph_structure(small_sim):
    g = unrolled_graph(small_sim.panel(), waves=4, trend=False)
    kinds = pd.Series([d["kind"] for *_, d in g.edges(data=True)]).value_counts()
    assert kinds["effect"] == kinds["reverse"] == 3  # x_t -> y_t+1 for t = 1..3
    assert kinds["carry"] == 6 and kinds["trait"] == 8 and kinds["shock"] == 4
    assert not g.nodes["trait_alliance"]["observed"]
    with pytest.raises(DataError):
        unrolled_graph(small_sim.panel(), waves=1)


def test_draw_graph_needs_no_graphviz(small_sim):
    fig = draw_graph(small_sim.panel(), waves=3)
    assert isinstance(fig, matplotlib.figure.Figure) and fig.axes


def _same_session_patches(fig):
    return [p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("same_session:")]


def test_draw_graph_draws_the_same_session_link_as_the_model_has_it(small_sim):
    panel = small_sim.panel()
    # default: what every family estimates, a residual covariance (dashed, two heads)
    cov = _same_session_patches(draw_graph(panel, waves=3))
    assert [p.get_gid() for p in cov] == ["same_session:symptoms~~alliance"] * 3
    for p in cov:
        assert type(p.get_arrowstyle()).__name__ == "CurveFilledAB"  # heads at both ends
        assert p.get_linestyle() not in ("-", "solid")
    # the rating order's direction: one solid arrow per session, symptoms -> alliance
    directed = _same_session_patches(draw_graph(panel, waves=3, same_session="symptoms->alliance"))
    assert [p.get_gid() for p in directed] == ["same_session:symptoms->alliance"] * 3
    for p in directed:
        assert type(p.get_arrowstyle()).__name__ == "CurveFilledB"  # one head, at the outcome
        assert p.get_linestyle() in ("-", "solid")
    g = unrolled_graph(panel, waves=3, same_session="alliance->symptoms")
    assert g.edges["alliance_2", "symptoms_2"]["kind"] == "same_session"
    assert not g.has_edge("symptoms_2", "alliance_2")
    assert _same_session_patches(draw_graph(panel, waves=3, same_session="none")) == []
    with pytest.raises(DataError, match="same_session must be one of"):
        unrolled_graph(panel, same_session="both")
    matplotlib.pyplot.close("all")


# -- estimation: recovery and the reference -----------------------------------------------------
def test_within_estimate_brackets_truth_and_raw_does_not(fitted, confounded):
    truth = confounded.truth.within
    for key in (XY, YX):
        e = fitted.effects["within"][key]
        assert e.lower <= truth[key] <= e.upper, (key, e, truth[key])
    est = fitted.estimates.set_index(["effect", "data"])
    raw = est.loc[(XY, "raw scores (client traits ignored)")]
    # the stable-trait confounding pushes the raw-score estimate far from the truth
    assert not raw["lower"] <= truth[XY] <= raw["upper"]
    assert abs(raw["est"] - truth[XY]) > 3 * abs(fitted.effects["within"][XY].est - truth[XY])


@pytest.mark.parametrize("time,suffix", [("none", "individual"), ("client", "detrended")])
def test_matches_plm_within_estimator(time, suffix):
    """The DoWhy within estimate is plm's within estimator (tests/reference/plm/plm_reference.R)."""
    ref = json.loads((FIXTURES["plm"] / "plm_results.json").read_text())["fe"]
    panel = load_panel(FIXTURES["plm"] / "plm_data.csv", warn=False)
    res = CausalAnalysis(panel, time=time).fit(refute=False)
    for d in res.directions.values():
        coefs = {c["term"]: c for c in ref[f"{d.outcome}_{suffix}"]["coefficients"]}
        r = coefs[f"lag({d.cause})"]
        assert d.effect.est == pytest.approx(r["est"], rel=1e-8, abs=1e-10)
        # cluster-robust SE: plm's HC0 vs statsmodels' small-sample-corrected CR1
        assert d.effect.se == pytest.approx(r["se"], rel=0.01)


@pytest.mark.parametrize(
    "time,word", [("none", "none"), ("common", "linear"), ("client", "detrend")]
)
def test_results_name_the_time_handling_in_the_families_vocabulary(time, word):
    """``to_dict()`` says ``time`` as every family does (the former word kept as ``trend``)."""
    res = CausalAnalysis(simulate(40, 5, seed=3).panel(), time=time).fit(refute=False)
    out = res.to_dict()
    assert res.time == out["time"] == time
    assert out["trend"] == res.trend == word
    assert out["time_meaning"] == out["trend_meaning"]


def test_refuter_progress_is_on_by_default_and_can_be_turned_off(capsys):
    """Long work shows progress by default (as sampling, power and analyze); progress=False
    is silent."""
    panel = simulate(30, 5, seed=3).panel()
    kw = dict(n_placebo=3, n_random_common_cause=1, n_subsets=2, seed=1)
    CausalAnalysis(panel, time="none").fit(**kw)
    assert "placebo" in capsys.readouterr().err
    CausalAnalysis(panel, time="none").fit(**kw, progress=False)
    assert capsys.readouterr().err == ""


def test_exclusions_are_in_the_vocabulary_and_add_up():
    """Every row left out has one reason of causalrel.design.EXCLUSIONS, per outcome."""
    from causalrel.design import check_exclusions

    sim = simulate(150, 7, mcar=0.05, skip=0.1, seed=4)
    data = sim.data[~((sim.data["client"] <= 3) & (sim.data["session"] > 1))]  # one-session
    panel = load_panel(data, warn=False)
    for cause, outcome in (("alliance", "symptoms"), ("symptoms", "alliance")):
        raw, _, excluded = within_frame(panel, cause, outcome, trend="none")
        check_exclusions(excluded)
        rows = sum(v for k, v in excluded.items() if k.startswith("rows."))
        assert rows + len(raw) == panel.n_rows, excluded
        assert excluded["clients.too_few_sessions"] == 3
    res = CausalAnalysis(panel, time="none").fit(refute=False)
    check_exclusions(res.excluded)
    assert any(k.endswith(":symptoms") for k in res.excluded)  # per outcome where they differ


def test_within_frame_counts_and_centres(small_sim):
    raw, within, excluded = within_frame(small_sim.panel(), "alliance", "symptoms")
    assert len(raw) == len(within) == 200 * 9  # session 1 has no previous session
    assert excluded == {"rows.first_session": 200}
    means = within.groupby("client")[["symptoms", "alliance_lag1", "session"]].mean()
    assert np.abs(means.to_numpy()).max() < 1e-10


def test_bad_input():
    p = simulate(20, 5, seed=1).panel()
    with pytest.raises(DataError, match="time must be one of"):
        CausalAnalysis(p, time="linear")
    with pytest.warns(DeprecationWarning, match="time='common'"):
        assert CausalAnalysis(p, trend="linear").time == "common"
    with pytest.warns(DeprecationWarning), pytest.raises(DataError, match="trend"):
        CausalAnalysis(p, trend="quadratic")
    with pytest.warns(DeprecationWarning), pytest.raises(DataError, match="not both"):
        CausalAnalysis(p, time="none", trend="detrend")
    assert CausalAnalysis(p).time == "common" and CausalAnalysis(p).trend == "linear"
    with pytest.raises(DataError, match="subset_fraction"):
        CausalAnalysis(p).fit(subset_fraction=1.5)
    one = simulate(3, 2, seed=1).panel()  # one lagged row per client: nothing within
    with pytest.raises(DataError, match="Too few usable rows"):
        CausalAnalysis(one).fit(refute=False)


# -- refuters -----------------------------------------------------------------------------------
def test_permute_within_never_crosses_clients():
    rng = np.random.default_rng(0)
    groups = np.array([3, 1, 3, 2, 1, 3, 2, 2, 1, 3])
    values = np.arange(len(groups))
    moved = False
    for _ in range(20):
        perm = permute_within(groups, rng)
        assert (groups[perm] == groups).all()  # every value stays with its client
        assert sorted(perm) == list(range(len(groups)))
        moved |= (perm != values).any()
    assert moved


def test_placebo_is_near_zero_and_others_pass(fitted):
    ref = fitted.refutations.set_index(["effect", "refuter"])
    for key in (XY, YX):
        d = fitted.directions[key]
        draws = d.placebo_draws
        assert len(draws) == 30
        # the placebo effect is centred on zero: within sampling error, far from the estimate
        assert abs(draws.mean()) < 4 * draws.std(ddof=1) / np.sqrt(len(draws))
        assert abs(draws.mean()) < 0.1 * abs(d.effect.est)
        # and the real estimate lies far outside the placebo distribution
        assert abs(d.effect.est) > 3 * draws.std(ddof=1)
        assert ref.loc[(key, "placebo treatment (permuted within client)"), "passed"]
        assert ref.loc[(key, "random common cause (DoWhy)"), "passed"]
        assert ref.loc[(key, "data subset (80% of clients)"), "passed"]


@pytest.mark.slow
def test_placebo_detects_nothing_when_there_is_no_effect():
    """With no true cross-lagged effect the estimate itself looks like a placebo draw."""
    sim = simulate(200, 15, cross=(0.0, 0.0), seed=21)
    res = CausalAnalysis(sim.panel()).fit(n_placebo=40, n_random_common_cause=5, n_subsets=5)
    d = res.directions[XY]
    assert abs(d.effect.est) < 3 * d.placebo_draws.std(ddof=1)


@pytest.mark.slow
def test_same_seed_same_refutations(small_sim):
    p = small_sim.panel()
    kw = dict(n_placebo=10, n_random_common_cause=5, n_subsets=5, seed=9)
    a = CausalAnalysis(p).fit(**kw).refutations
    b = CausalAnalysis(p).fit(**kw).refutations
    pd.testing.assert_frame_equal(a, b)


# -- sensitivity --------------------------------------------------------------------------------
def test_sensitivity_robustness_values(fitted):
    sens = fitted.sensitivity.set_index("effect")
    for key in (XY, YX):
        s = sens.loc[key]
        assert 0 < s["robustness_value_5pct"] < s["robustness_value"] < 1
        assert "explain" in s["interpretation"]
    b = fitted.benchmarks
    for key in (XY, YX):
        rows = b[b["effect"] == key].sort_values("times_as_strong")
        est = fitted.effects["within"][key].est
        # a stronger confounder moves the bias-adjusted estimate monotonically towards (and
        # past) zero
        shifted = (rows["bias_adjusted_estimate"] - est) * np.sign(est)
        assert (np.diff(shifted.to_numpy()) < 0).all()
        assert rows["r2_confounder_cause"].is_monotonic_increasing


def _resid(v, X):
    X = np.column_stack([np.ones(len(v)), X])
    return v - X @ np.linalg.lstsq(X, v, rcond=None)[0]


def _partial_r2(a, b, X):
    ra, rb = _resid(a, X), _resid(b, X)
    return float(np.corrcoef(ra, rb)[0, 1] ** 2)


def test_sensitivity_recovers_an_omitted_time_varying_confounder():
    """Omit a session-level confounder u (it moves alliance at t and symptoms at t+1): the
    estimate becomes spurious, and DoWhy's bias adjustment at u's own partial R² values gives
    back the estimate that adjusting for u would give (the omitted-variable-bias identity that
    the sensitivity analysis rests on), and u is at least as strong as the robustness value."""
    rng = np.random.default_rng(4)
    sim = simulate(300, 15, cross=(0.0, 0.0), seed=4)
    data = sim.data.copy()
    data["u"] = rng.normal(size=len(data))
    data["alliance"] += 0.25 * data["u"]
    prev = data[["client", "session", "u"]].assign(session=lambda f: f["session"] + 1)
    data = data.merge(prev.rename(columns={"u": "u_prev"}), on=["client", "session"], how="left")
    data["symptoms"] += 0.25 * data["u_prev"].fillna(0.0)
    panel = load_panel(data.drop(columns=["u", "u_prev"]), warn=False)
    # only the sensitivity analysis is asked about: the fewest refuter draws
    res = CausalAnalysis(panel).fit(n_placebo=2, n_random_common_cause=1, n_subsets=2)
    d = res.directions[XY]
    assert d.effect.lower > 0  # a spurious "effect" of alliance on later symptoms

    raw, within, _ = within_frame(panel, "alliance", "symptoms")
    u = raw.merge(data[["client", "session", "u_prev"]], on=["client", "session"], how="left")[
        "u_prev"
    ]
    u_w = (u - u.groupby(raw["client"]).transform("mean")).to_numpy()
    W = within[["symptoms_lag1", "session"]].to_numpy()
    t, y = within["alliance_lag1"].to_numpy(), within["symptoms"].to_numpy()
    r2tu = _partial_r2(u_w, t, W)
    r2yu = _partial_r2(u_w, y, np.column_stack([t, W]))
    adjusted = d.analyzer.compute_bias_adjusted(r2tu, r2yu)["bias_adjusted_estimate"]
    X = np.column_stack([np.ones(len(y)), t, W, u_w])
    with_u = np.linalg.lstsq(X, y, rcond=None)[0][1]
    assert adjusted == pytest.approx(with_u, abs=1e-8)
    assert abs(with_u) < abs(d.effect.est) / 3  # adjusting for u removes most of it
    assert max(r2tu, r2yu) >= d.sensitivity["robustness_value"] * 0.9


# -- output -------------------------------------------------------------------------------------
def test_to_dict_json_safe_and_model_results(fitted):
    d = fitted.to_dict()
    json.dumps(d, allow_nan=False)
    assert {"effects", "estimates", "identification", "refutations", "sensitivity"} <= set(d)
    assert len(d["refutations"]) == 6
    mr = d  # CausalResults is a ModelResults: the contract and the causal tables in one dict
    assert mr["model"] == "dowhy" and set(mr["effects"]["within"]) == {XY, YX}


@pytest.mark.slow
def test_fast_settings_and_plots(small_sim):
    res = causal_analysis(small_sim.panel(), fast=True, seed=2)
    assert res.refutations["n_simulations"].tolist() == [30, 20, 20, 30, 20, 20]
    fig = res.plot_sensitivity()
    assert len(fig.axes) >= 2


def test_results_follow_the_vocabulary(fitted, small_sim):
    """A ModelResults: lavaan's params columns, .engine = DoWhy's estimates, level=."""
    from dowhy.causal_estimator import CausalEstimate

    from causalrel import ModelResults
    from causalrel.results import PARAM_COLUMNS

    assert isinstance(fitted, ModelResults) and fitted.model == "dowhy" and fitted.converged
    assert list(fitted.params.columns[: len(PARAM_COLUMNS)]) == PARAM_COLUMNS
    row = fitted.params.iloc[0]
    assert (row["lhs"], row["op"], row["rhs"]) == ("symptoms", "~", "alliance_lag1")
    assert row["est"] == fitted.effects["within"][XY].est
    assert row["ci.lower"] == fitted.effects["within"][XY].lower
    assert set(fitted.engine) == {XY, YX}
    assert all(isinstance(e, CausalEstimate) for e in fitted.engine.values())
    assert fitted.engine[XY].value == pytest.approx(fitted.effects["within"][XY].est)
    wide = CausalAnalysis(small_sim.panel()).fit(refute=False, level=0.99).effects["within"][XY]
    narrow = CausalAnalysis(small_sim.panel()).fit(refute=False).effects["within"][XY]
    assert wide.est == narrow.est and wide.upper - wide.lower > narrow.upper - narrow.lower
    with pytest.warns(DeprecationWarning, match="is a ModelResults"):
        assert fitted.as_model_results() is fitted
