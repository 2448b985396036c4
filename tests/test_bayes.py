"""Fast checks of the Bayesian families: data handling, priors (one prior-only sampling), errors."""

import warnings

import numpy as np
import pandas as pd
import pytest

from causalrel import DataError, DataWarning, load_panel
from causalrel.bayes import DSEM, MLM, Prior
from causalrel.bayes.mlm import mlm_design
from causalrel.bayes.sampling import available_samplers, sample
from causalrel.design import check_exclusions
from causalrel.simulate import simulate


def _panel(rows, **kw):
    df = pd.DataFrame(rows, columns=["client", "session", "alliance", "symptoms"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_panel(df, **kw)


@pytest.fixture(scope="module")
def sim():
    return simulate(40, 8, cross_sd=0.1, mcar=0.1, seed=11)


def test_dsem_grid_keeps_missed_session_as_empty_slot():
    rows = [
        [1, 1, 1.0, 2.0],
        [1, 2, 1.5, 2.5],
        [1, 4, 1.2, np.nan],  # session 3 missed
        [2, 2, 0.5, 1.0],
        [2, 3, 0.7, 1.1],
    ] + [[c, s, np.sin(c + s), np.cos(c * s)] for c in range(3, 12) for s in (1, 2, 3)]
    panel = _panel(rows)
    model = DSEM(panel, random_lags=False, time="none")
    g = model.grid
    # client 1: slots for sessions 1..4; slot 3 (session 3) latent in both variables
    assert g.lengths[0] == 4
    assert g.first_session[1] == 2  # client 2's grid starts at its first session
    raw = g.raw[0]
    assert np.isnan(raw[2]).all() and not np.isnan(raw[3, 0]) and np.isnan(raw[3, 1])
    # transitions: 1->2, 2->3, 3->4 valid for client 1; none into padding for client 2
    assert g.valid[0].tolist()[:3] == [1.0, 1.0, 1.0]
    assert g.valid[1].tolist()[:3] == [1.0, 0.0, 0.0]
    # latent cells = missed session (2) + one missing rating, in client 1's range only
    assert len(g.miss_pos) == 3 + 0
    assert g.n_missed_sessions == 1 and g.n_missing_ratings == 1


def test_mlm_design_never_lags_across_a_missed_session():
    rows = [[1, 1, 1.0, 2.0], [1, 2, 2.0, 1.0], [1, 4, 3.0, 0.0], [1, 5, 1.0, 1.0]]
    rows += [[c, s, float(c * s % 5), float((c + s) % 3)] for c in range(2, 12) for s in (1, 2, 3)]
    panel = _panel(rows)
    eqs, _ = mlm_design(panel)
    y = eqs["symptoms"]
    one = y[y["client"] == 1]
    assert one["session"].tolist() == [2, 5]  # session 4 has no session-3 predictor
    # within = value minus the client's mean (alliance mean of client 1 = 1.75)
    assert one["alliance_within"].tolist() == pytest.approx([1.0 - 1.75, 3.0 - 1.75])


def test_dsem_names_clients_with_too_few_sessions_and_whole_missing_variable(sim):
    data = sim.data.copy()
    data = data[~((data["client"] == 3) & (data["session"] > 1))]  # client 3: one session
    data.loc[data["client"] == 5, "alliance"] = np.nan  # client 5: no alliance at all
    panel = load_panel(data, warn=False)
    with pytest.warns(DataWarning) as rec:
        model = DSEM(panel)
    text = " ".join(str(w.message) for w in rec)
    assert "fewer than two rated sessions" in text and "client(s) 3." in text
    assert "'alliance' is missing in every session" in text and "client(s) 5." in text
    assert model.grid.excluded == {"clients.too_few_sessions": 1}
    check_exclusions(model.grid.excluded)
    assert 3 not in set(model.grid.clients) and 5 in set(model.grid.clients)


def test_mlm_names_clients_without_values_or_lags(sim):
    data = sim.data.copy()
    data = data[~((data["client"] == 4) & (data["session"] > 1))]
    data.loc[data["client"] == 6, "symptoms"] = np.nan
    panel = load_panel(data, warn=False)
    with pytest.warns(DataWarning) as rec:
        model = MLM(panel)
    text = " ".join(str(w.message) for w in rec)
    assert "'symptoms' is missing in every session" in text and "client(s) 6." in text
    assert "no two consecutive sessions" in text and "4" in text
    assert model.excluded["clients.too_few_sessions"] == 1  # client 4: one session
    check_exclusions(model.excluded)  # the contract's vocabulary (causalrel.design)
    assert model.excluded["rows.first_session"] == data["client"].nunique()


def test_too_few_clients_for_random_effects_is_an_error_naming_them():
    rows = [[c, s, float(s + c), float(s * c % 4)] for c in (7, 8, 9) for s in range(1, 6)]
    panel = _panel(rows)
    # the default (random lags and trends): the message names both ways to fewer effects
    with pytest.raises(
        DataError, match=r"3 client\(s\) \(7, 8, 9\).*random_lags=False.*time='common'"
    ):
        DSEM(panel)
    with pytest.raises(DataError, match=r"4 random effects.*Use time='common'"):
        DSEM(panel, random_lags=False)
    with pytest.warns(DataWarning, match="only 3 clients for 2 random effects"):
        DSEM(panel, random_lags=False, time="none")


def test_priors_user_wins_and_unknown_class_is_an_error(sim):
    panel = sim.panel()
    m = MLM(
        panel,
        priors={
            "b": Prior("normal", mu=0, sigma=1),
            "alliance:sigma": {"dist": "halfnormal", "sigma": 3},
        },
    )
    assert str(m.priors["symptoms:b"]) == "normal(0, 1)"
    assert str(m.priors["alliance:sigma"]) == "halfnormal(3)"
    # defaults are scaled to the data: the intercept prior is centred on the outcome mean
    e = m.eqs["symptoms"]
    assert m.priors["symptoms:Intercept"].params["mu"] == pytest.approx(e["symptoms"].mean())
    assert m.priors["symptoms:sigma"].params["sigma"] == pytest.approx(e["symptoms"].std())
    with pytest.raises(DataError, match="No parameter class 'slope'"):
        DSEM(panel, priors={"slope": Prior("normal", mu=0, sigma=1)})
    with pytest.raises(DataError, match="takes the parameters mu, sigma"):
        Prior("normal", sigma=1)
    d = DSEM(panel, priors={"lag": Prior("normal", mu=0, sigma=0.2)})
    assert str(d.priors["lag"]) == "normal(0, 0.2)"


@pytest.mark.slow
def test_dsem_model_builds_with_every_option_and_has_finite_gradient():
    sim = simulate(30, 6, n_therapists=5, mcar=0.1, skip=0.1, seed=5)
    data = sim.data.copy()
    rng = np.random.default_rng(0)
    age = pd.Series(rng.normal(40, 10, data["client"].nunique()), index=data["client"].unique())
    data["age"] = data["client"].map(age)
    panel = load_panel(data, therapist="therapist", covariates=["age"], warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        model = DSEM(panel, random_innovations=True, covariates=["age"])
    m = model.build()
    names = {v.name for v in m.free_RVs}
    assert {"sd_therapist", "z_therapist", "beta", "gamma_log_sigma", "missing"} <= names
    point = m.initial_point()
    assert np.isfinite(m.compile_logp()(point))
    grad = m.compile_dlogp()(point)
    assert np.all(np.isfinite(grad))
    # one row per random effect: 2 means, 4 lags, 2 log innovation SDs, 2 trends (the default)
    assert m["beta"].type.shape == (10, 1)


def test_unknown_sampler_and_bad_options_are_clear_errors(sim):
    model = MLM(sim.panel()).build()
    with pytest.raises(DataError, match="Unknown sampler 'stan'"):
        sample(model, sampler="stan")
    with pytest.raises(DataError, match="target_accept"):
        sample(model, target_accept=1.5)
    assert available_samplers()[-1] == "pymc"
    from causalrel.families import fit_model

    with pytest.raises(DataError, match="Option 'iterations' does not apply to model 'dsem'"):
        fit_model("dsem", sim.panel(), iterations=10)


def test_detrend_and_therapist_options_change_the_model():
    sim = simulate(40, 8, time="common", trend=(0.1, -0.1), n_therapists=4, seed=8)
    panel = sim.panel()
    plain = MLM(panel, therapist=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.warns(DeprecationWarning, match="use time='client'"):
            flat = MLM(panel, detrend=True)
    assert "trend was removed" in " ".join(flat.notes)
    # detrending removes the shared drift: the within deviations no longer trend with session
    for m, expect_trend in ((plain, True), (flat, False)):
        e = m.eqs["symptoms"]
        slope = np.polyfit(e["session"], e["symptoms_within"], 1)[0]
        assert (abs(slope) > 0.03) == expect_trend, slope
    assert flat.therapist and "y_sd_therapist" in {v.name for v in flat.build().free_RVs}
    assert "y_sd_therapist" not in {v.name for v in plain.build().free_RVs}
    for cls, name in ((DSEM, "dsem"), (MLM, "mlm")):
        with pytest.raises(DataError, match=f"{name}: a therapist level needs a therapist column"):
            cls(simulate(20, 5, seed=1).panel(), therapist=True)


@pytest.mark.slow
def test_sd_corr_cholesky_prior_is_lkj_and_matches_lkjcholeskycov():
    # the prior alone, sampled with NUTS: every correlation of an n x n LKJ(eta) matrix has
    # (r + 1) / 2 ~ Beta(a, a), a = eta - 1 + n / 2 (variance 1 / (2a + 1) = 1/9 here); an
    # exponent of L[i, i] off by one is LKJ(eta +- 1/2), variance 1/8 or 1/10
    import pymc as pm
    from scipy import stats

    from causalrel.bayes.priors import lkj_cholesky, sd_corr_cholesky

    n, eta = 6, 2.0
    sd = Prior("halfnormal", sigma=0.5 * np.arange(1, n + 1))
    with pm.Model() as model:
        pm.Deterministic("c_chol", sd_corr_cholesky("c", n, eta, sd))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = pm.sample(
            model=model, draws=2000, tune=300, chains=4, cores=1, random_seed=1,
            progressbar=False, compute_convergence_checks=False,
        )  # fmt: skip
    low = np.tril_indices(n, -1)
    r = idata.posterior["c_corr"].values.reshape(-1, n, n)[:, low[0], low[1]]
    a = eta - 1 + n / 2
    assert abs(r.var() - 1 / (2 * a + 1)) < 0.004
    assert np.all(np.abs(r.var(axis=0) - 1 / (2 * a + 1)) < 0.012)
    assert np.all(np.abs(r.mean(axis=0)) < 0.03)
    thin = r[::4]  # roughly independent draws for the KS tests
    p_beta = [stats.kstest((thin[:, q] + 1) / 2, stats.beta(a, a).cdf).pvalue for q in range(15)]
    assert min(p_beta) > 0.001
    stds = idata.posterior["c_stds"].values.reshape(-1, n)
    np.testing.assert_allclose(stds.mean(axis=0), 0.5 * np.arange(1, n + 1) * np.sqrt(2 / np.pi),
                               rtol=0.05)  # fmt: skip
    # the returned factor is lower-triangular with chol @ chol.T = diag(sds) corr diag(sds)
    chol = idata.posterior["c_chol"].values.reshape(-1, n, n)[:50]
    corr = idata.posterior["c_corr"].values.reshape(-1, n, n)[:50]
    assert np.all(np.triu(chol, 1) == 0) and np.all(np.diagonal(chol, axis1=1, axis2=2) > 0)
    cov = stds[:50, :, None] * corr * stds[:50, None, :]
    np.testing.assert_allclose(chol @ chol.transpose(0, 2, 1), cov, atol=1e-10)
    # ... and the same joint prior as PyMC's LKJCholeskyCov (forward draws)
    with pm.Model():
        lkj_cholesky("c", n, eta, sd)
        prior = pm.sample_prior_predictive(4000, var_names=["c_corr"], random_seed=2)
    ref = prior.prior["c_corr"].values.reshape(-1, n, n)[:, low[0], low[1]]
    assert stats.ks_2samp(thin.ravel(), ref.ravel()).pvalue > 0.001
    assert abs(r.var() - ref.var()) < 0.006


def test_unsupported_sds_are_those_piled_at_zero():
    from causalrel.bayes.base import unsupported_sds
    from causalrel.bayes.common import PARAM_COLUMNS

    rows = [
        dict(lhs="a", op="sd", rhs="client", term="sd(a)", **{"ci.lower": 0.002, "ci.upper": 0.1}),
        dict(lhs="b", op="sd", rhs="client", term="sd(b)", **{"ci.lower": 0.05, "ci.upper": 0.2}),
        dict(lhs="c", op="sd", rhs="innovation", term="sigma(c)", **{"ci.lower": 0, "ci.upper": 1}),
    ]
    params = pd.DataFrame(rows).reindex(columns=PARAM_COLUMNS)
    assert unsupported_sds(params, "client") == ["sd(a)"]
    assert unsupported_sds(pd.DataFrame(), "client") == []


def test_time_vocabulary_and_deprecated_spellings(sim):
    panel = sim.panel()
    # the defaults the committed validation chose (benchmarks/validate_bayes_time.py)
    assert DSEM(panel).time == "client" and MLM(panel).time == "none"
    with pytest.warns(DeprecationWarning):  # detrend alone still means observed trends removed
        assert DSEM(panel, detrend=True).time == "none"
    with pytest.warns(DeprecationWarning, match="use time='client'"):
        assert DSEM(panel, trend=True).time == "client"
    with pytest.raises(DataError, match="time must be one of"):
        MLM(panel, time="linear")
    m = MLM(panel, time="client")
    assert m._preds("symptoms")[-1] == "session"
    assert m.priors["symptoms:sd"].params["sigma"].shape == (3,)
    assert MLM(panel, time="common").priors["symptoms:sd"].params["sigma"].shape == (2,)
    assert {"gamma_trend"} <= {v.name for v in DSEM(panel, time="common").build().free_RVs}
    with pytest.raises(DataError, match="level must lie strictly between"):
        MLM(panel).fit(level=95)
