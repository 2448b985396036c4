"""Posterior predictive checks of the Bayesian families, and recovery of random innovation SDs.

One simulated panel serves both: its clients' innovation SDs differ (log-normal, SD 0.4 of the
log SD; ``simulate(innovation_sd_sd=...)``). ``DSEM(random_innovations=True)`` is the model that
generated it: it must recover the average log SD and its between-client SD, and its posterior
predictive check must find nothing. The MLM assumes one residual SD for every client: its check
must flag the between-client spread of the clients' residual SDs (``resid_sd_client_sds``) while
the level and spread of the data (mean, SD) still look fine. Each fit samples 2 chains (compiling the model takes
most of the time) and is checked for convergence before anything else is asserted.
"""

import numpy as np
import pandas as pd
import pytest

from causalrel import ConvergenceWarning
from causalrel.bayes import DSEM, MLM
from causalrel.bayes import ppc as ppc_mod
from causalrel.families import _keyword_names
from causalrel.simulate import simulate

# the sampler is pinned: the same seed gives the same draws only within one backend (and version)
FAST = dict(chains=2, cores=2, progress=False, sampler="nutpie")
SD_LOG_SD = 0.4


def _converged(res):
    d = res.diagnostics
    assert d["converged"], d.get("message")
    assert d["rhat_max"] <= 1.01 and d["divergences"] == 0
    assert d["ess_bulk_min"] >= 200 and d["ess_tail_min"] >= 200  # 100 per chain
    assert d["bfmi_min"] >= 0.3


@pytest.fixture(scope="module")
def hetero():
    return simulate(150, 15, innovation_sd_sd=(SD_LOG_SD, SD_LOG_SD), mcar=0.05, seed=3)


@pytest.fixture(scope="module")
def dsem_fit(hetero):
    model = DSEM(hetero.panel(), random_lags=False, random_innovations=True, time="none")
    # 4 x 1000 after 1000 tuning steps: at 500/500 the innovation-SD mean missed R-hat 1.01
    # (1.013) on the locked versions
    return model, model.fit(draws=1000, tune=1000, seed=1, **FAST)


@pytest.fixture(scope="module")
def mlm_fit(hetero):
    model = MLM(hetero.panel())
    return model, model.fit(draws=1000, tune=1000, seed=1, loo=False, **FAST)


# -- no sampling ----------------------------------------------------------------------------------
def test_innovation_sd_sd_varies_client_sds_and_leaves_the_default_unchanged():
    base = simulate(60, 8, mcar=0.1, seed=9)
    zero = simulate(60, 8, mcar=0.1, seed=9, innovation_sd_sd=0.0)
    pd.testing.assert_frame_equal(base.data, zero.data)
    assert zero.truth.between["sd(log_sigma(symptoms))"] == 0.0
    # with heterogeneity: the other draws (traits) are the same, the client SDs log-normal
    het = simulate(4000, 8, seed=9, innovation_sd_sd=(0.3, 0.6))
    ref = simulate(4000, 8, seed=9)
    np.testing.assert_array_equal(
        het.truth.clients["trait_alliance"], ref.truth.clients["trait_alliance"]
    )
    assert not np.allclose(het.data["alliance"], ref.data["alliance"])
    log_sd = np.log(het.truth.clients[["innovation_sd_alliance", "innovation_sd_symptoms"]])
    assert log_sd.std().to_numpy() == pytest.approx([0.3, 0.6], abs=0.02)
    assert log_sd.mean().to_numpy() == pytest.approx(np.log(0.4), abs=0.03)  # median SD 0.4
    assert het.truth.between["sd(log_sigma(symptoms))"] == 0.6
    assert het.truth.params["innovation_sd_sd"] == [0.3, 0.6]
    # the series use them: white noise, so a client's sample SD tracks its innovation SD
    wn = simulate(300, 40, ar=(0, 0), cross=(0, 0), trait_sd=0.0, innovation_sd_sd=0.5, seed=2)
    sample_sd = wn.data.groupby("client")["symptoms"].std()
    true_sd = wn.truth.clients.set_index("client")["innovation_sd_symptoms"]
    assert np.corrcoef(np.log(sample_sd), np.log(true_sd.loc[sample_sd.index]))[0, 1] > 0.9
    with pytest.raises(ValueError, match="innovation_sd_sd"):
        simulate(10, 5, innovation_sd_sd=-0.1)


def test_ppc_statistics_agree_with_pandas():
    rng = np.random.default_rng(0)
    client = np.repeat([3, 1, 2, 7], [5, 1, 4, 6])
    v = rng.normal(size=client.size) * np.repeat([1.0, 1.0, 2.0, 0.5], [5, 1, 4, 6])
    m = rng.normal(size=client.size)
    order = rng.permutation(client.size)  # statistics must not rely on sorted clients
    t = ppc_mod.statistics(v[order], client[order], m[order])
    df = pd.DataFrame({"c": client, "v": v, "r": v - m})
    g = df.groupby("c")["r"]
    assert t["mean"] == pytest.approx(df["v"].mean())
    assert t["sd"] == pytest.approx(df["v"].std())
    assert t["resid_sd"] == pytest.approx(np.sqrt((df["r"] ** 2).mean()))
    assert t["resid_sd_client_means"] == pytest.approx(g.mean().std())
    rms = g.apply(lambda r: np.sqrt((r**2).mean()))
    assert t["resid_sd_client_sds"] == pytest.approx(rms.std())
    assert set(ppc_mod.statistics(v, client)) == {"mean", "sd"}  # no mean, no residuals
    # vectorised over leading (chain, draw) axes, each draw with its own conditional mean
    stacked = np.stack([v, 2 * v])[None]
    t2 = ppc_mod.statistics(stacked, client, np.stack([m, 2 * m])[None])
    assert t2["sd"].shape == (1, 2) and t2["sd"][0, 1] == pytest.approx(2 * df["v"].std())
    assert t2["resid_sd_client_sds"][0, 1] == pytest.approx(2 * rms.std())
    # p-values: one replicate far more spread than the data, one far less: p = 0.5
    reps = ppc_mod.Replicates(
        observed={"y": v},
        replicated={"y": np.stack([[3 * v, 0.1 * v]])},
        mean={"y": np.zeros((1, 2, v.size))},
        client={"y": client},
        session={"y": np.arange(client.size)},
        chains=np.array([0]),
        draws=np.array([0, 1]),
    )
    p = ppc_mod.pvalues(reps)
    assert p["ppc_p:y:sd"] == 0.5 and p["ppc_p:y:resid_sd_client_sds"] == 0.5
    assert set(p) == {f"ppc_p:y:{s}" for s in ppc_mod.STATISTICS}
    # thinning keeps at most MAX_DRAWS in all, the same draws in every chain
    import xarray as xr

    post = xr.Dataset({"a": (("chain", "draw"), np.zeros((4, 1000)))})
    thin = ppc_mod.thin(post, np.random.default_rng(1))
    assert thin.sizes["chain"] * thin.sizes["draw"] == ppc_mod.MAX_DRAWS
    assert ppc_mod.thin(post.isel(draw=slice(0, 50)), np.random.default_rng(1)).sizes["draw"] == 50


def test_ppc_option_routes_through_fit_model():
    assert "ppc" in _keyword_names(DSEM.fit) and "ppc" in _keyword_names(MLM.fit)


@pytest.mark.parametrize(
    "options",
    [
        dict(random_innovations=True, time="none"),
        dict(random_lags=False, time="none"),
        dict(time="client"),
        dict(time="common"),
    ],
    ids=["random_innovations", "fixed_lags", "time_client", "time_common"],
)
@pytest.mark.slow
def test_dsem_one_step_moments_match_the_model(options):
    """The shared one-step helper (log-likelihood, replicates) is the model's own likelihood.

    At a random parameter point: the pointwise log-likelihood sums to the model's transition
    potential (in raw units), and replicates minus their conditional means are innovations
    with the point's SDs and correlation. No sampling.
    """
    import arviz as az
    import xarray as xr

    sim = simulate(60, 8, mcar=0.1, skip=0.1, time="common", trend=(0.05, -0.1), seed=2)
    model = DSEM(sim.panel(), **options)
    pm_model = model.build()
    rng = np.random.default_rng(3)
    point = {k: v + rng.normal(0, 0.2, np.shape(v)) for k, v in pm_model.initial_point().items()}
    names = ["client_mean", "rho", "missing"]
    names += ["client_lag"] if model.random_lags else ["gamma_lag"]
    names += ["client_sigma"] if model.random_innovations else ["sigma"]
    names += {"client": ["client_trend"], "common": ["gamma_trend"]}.get(options.get("time"), [])
    pot = next(p for p in pm_model.potentials if p.name == "transitions")
    outs = [pm_model[n] for n in names] + [pot]
    fn = pm_model.compile_fn(
        pm_model.replace_rvs_by_values(outs), inputs=pm_model.value_vars, on_unused_input="ignore"
    )
    values = fn(point)
    n_draws = 400  # the same point repeated: replicates differ only by their noise
    post = xr.Dataset(
        {
            n: (
                ("chain", "draw", *[f"{n}_{i}" for i in range(np.ndim(v))]),
                np.broadcast_to(v, (1, n_draws, *np.shape(v))),
            )
            for n, v in zip(names, values[:-1], strict=True)
        },
        coords={"chain": [0], "draw": np.arange(n_draws)},
    )
    idata = az.InferenceData(posterior=post)
    model._add_loglik(idata)
    g = model.grid
    ll = idata.log_likelihood["transitions"].values[0, 0].sum()
    assert ll == pytest.approx(float(values[-1]) - g.n_transitions * np.log(g.scale).sum())
    reps = model._replicate(post, rng)
    sd = np.asarray(values[names.index("client_sigma" if model.random_innovations else "sigma")])
    rho = float(values[names.index("rho")])
    x, y = model.panel.x, model.panel.y
    # residuals in standardised units, each rating divided by its client's innovation SD
    z = {}
    for k, v in enumerate((x, y)):
        s_k = sd[..., k] if sd.ndim == 1 else sd[:, k][np.searchsorted(g.clients, reps.client[v])]
        z[v] = (reps.replicated[v] - reps.mean[v]) / (g.scale[k] * s_k)
        assert z[v].std() == pytest.approx(1.0, abs=0.02)
        assert abs(z[v].mean()) < 0.02
    # same-session innovations correlate rho: pair the cells where both ratings are observed
    key = {v: list(zip(reps.client[v], reps.session[v], strict=True)) for v in (x, y)}
    both = sorted(set(key[x]) & set(key[y]))
    ix = pd.Index(key[x]).get_indexer(both)
    iy = pd.Index(key[y]).get_indexer(both)
    r = np.corrcoef(z[x][..., ix].ravel(), z[y][..., iy].ravel())[0, 1]
    assert r == pytest.approx(rho, abs=0.03)


# -- DSEM with random innovation SDs --------------------------------------------------------------
@pytest.mark.slow
def test_dsem_recovers_random_innovation_sds(hetero, dsem_fit):
    _, res = dsem_fit
    _converged(res)
    params = res.params.set_index("term")
    truth = hetero.truth
    for j, v in enumerate(("alliance", "symptoms")):
        # the average log SD (raw units) and its between-client SD
        row = params.loc[f"log_sigma({v})"]
        true = np.log(truth.params["innovation_sd"][j])
        assert row["ci.lower"] < true < row["ci.upper"], (v, row, true)
        assert abs(row["est"] - true) < 3 * row["se"]
        key = f"sd(log_sigma({v}))"
        e = res.effects["between"][key]
        assert truth.between[key] == SD_LOG_SD
        assert abs(e.est - SD_LOG_SD) < 3 * e.se and e.se < 0.05, (key, e)
        # and the 95% interval covers the SD of these 150 clients' own log SDs
        realised = np.log(truth.clients[f"innovation_sd_{v}"]).std()
        assert e.lower < realised < e.upper, (key, e, realised)
    # each client's posterior SD tracks its true innovation SD
    cl = res.clients[res.clients["effect"] == "sigma(symptoms)"].set_index("client")["est"]
    true_sd = truth.clients.set_index("client")["innovation_sd_symptoms"].loc[cl.index]
    assert np.corrcoef(np.log(cl), np.log(true_sd))[0, 1] > 0.7


@pytest.mark.slow
def test_dsem_ppc_replicates_observed_ratings_and_finds_no_misfit(hetero, dsem_fit):
    _, res = dsem_fit
    _converged(res)
    idata = res.idata
    pp, od = idata.posterior_predictive, idata.observed_data
    assert set(pp.data_vars) == set(od.data_vars) == {"alliance", "symptoms"}
    d = hetero.data
    first = d.groupby("client")["session"].transform("min")
    for v in ("alliance", "symptoms"):
        # every observed rating after a client's first session, exactly, in raw units
        want = d[(d["session"] > first) & d[v].notna()].sort_values(["client", "session"])
        np.testing.assert_array_equal(od[v].values, want[v].to_numpy())
        np.testing.assert_array_equal(od[f"{v}_client"].values, want["client"].to_numpy())
        np.testing.assert_array_equal(od[f"{v}_session"].values, want["session"].to_numpy())
        assert pp[v].dims == ("chain", "draw", f"{v}_obs")
        assert pp[v].shape == (2, 250, len(want))  # thinned to 500 draws in all
        assert np.isfinite(pp[v].values).all()
        # replicates are on the data's scale: their SD is close to the data's
        assert pp[v].values.std() == pytest.approx(want[v].std(), rel=0.1)
        for stat in ppc_mod.STATISTICS:
            p = res.fit[f"ppc_p:{v}:{stat}"]
            assert 0.05 < p < 0.95, (v, stat, p)  # the model generated these data
    assert res.fit["ppc_draws"] == 500
    assert not any("posterior predictive" in n for n in res.notes)
    import matplotlib

    matplotlib.use("Agg")
    axes = res.plot_ppc()
    assert np.asarray(axes).size == 2


@pytest.mark.slow
def test_ppc_off_adds_nothing(dsem_fit):
    model, _ = dsem_fit  # refit of the compiled model: cheap
    with pytest.warns(ConvergenceWarning):
        res = model.fit(draws=20, tune=20, seed=2, ppc=False, **FAST)
    assert "posterior_predictive" not in res.idata.groups()
    assert not any(k.startswith("ppc") for k in res.fit)


# -- MLM: one residual SD for all clients --------------------------------------------------------
@pytest.mark.slow
def test_mlm_ppc_flags_client_specific_sds(hetero, mlm_fit):
    model, res = mlm_fit
    _converged(res)
    pp, od = res.idata.posterior_predictive, res.idata.observed_data
    assert set(pp.data_vars) == set(od.data_vars) == {"alliance", "symptoms"}
    d = hetero.data.set_index(["client", "session"])
    for v in ("alliance", "symptoms"):
        # outcome at t observed, both predictors observed at t - 1 (the equation's rows)
        prev = d[["alliance", "symptoms"]].rename(index=lambda s: s + 1, level="session")
        both = prev.notna().all(axis=1)
        rows = d.index[d[v].notna()].intersection(prev.index[both])
        got = pd.Series(
            od[v].values,
            index=pd.MultiIndex.from_arrays(
                [od[f"{v}_client"].values, od[f"{v}_session"].values], names=["client", "session"]
            ),
        )
        assert len(got) == len(rows) == len(model.eqs[v])
        np.testing.assert_array_equal(got.sort_index().to_numpy(), d.loc[rows.sort_values(), v])
        assert pp[v].shape[:2] == (2, 250) and pp[v].shape[2] == len(rows)
        assert 0.05 < res.fit[f"ppc_p:{v}:mean"] < 0.95
        assert 0.05 < res.fit[f"ppc_p:{v}:sd"] < 0.95
        # clients' SDs differ far more than one residual SD allows: the data's spread of
        # client SDs is above every replicate's
        assert res.fit[f"ppc_p:{v}:resid_sd_client_sds"] < 0.01
    note = next(n for n in res.notes if "posterior predictive" in n)
    assert "symptoms:resid_sd_client_sds" in note and "alliance:resid_sd_client_sds" in note
    assert "random_innovations=True" in note and "symptoms:mean" not in note
    assert res.converged  # a failed check is a note, not a convergence failure
    import matplotlib

    matplotlib.use("Agg")
    ax = res.plot_ppc("symptoms")
    assert "symptoms" in ax.get_xlabel()
    with pytest.raises(ValueError, match="No replicates of 'mood'"):
        res.plot_ppc("mood")
