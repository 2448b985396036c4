"""What a Bayesian fit keeps (issue 14's memory target): the draws results need, as float32.

No sampling: :func:`causalrel.bayes.base.compact` and the DSEM's summary of its latent cells
are checked on posteriors made here.
"""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from causalrel.bayes import DSEM, MLM
from causalrel.bayes.base import compact
from causalrel.simulate import simulate


def _post(**arrays):
    return xr.Dataset(
        {
            k: (("chain", "draw", *[f"{k}_{i}" for i in range(v.ndim - 2)]), v)
            for k, v in arrays.items()
        }
    )


def test_compact_drops_auxiliaries_and_unconstrained_values_and_stores_float32():
    rng = np.random.default_rng(1)
    keep, aux, raw = (rng.normal(size=(2, 50, 3)) for _ in range(3))
    idata = az.InferenceData(
        posterior=_post(theta=keep, z=aux, sigma_log__=raw),
        posterior_predictive=_post(y=rng.normal(size=(2, 50, 7))),
        log_likelihood=_post(y=rng.normal(size=(2, 50, 7))),
        observed_data=xr.Dataset({"y": ("y_obs", rng.normal(size=7))}),
    )
    compact(idata, ["z"])
    assert list(idata.posterior.data_vars) == ["theta"]
    assert idata.posterior["theta"].dtype == np.float32
    np.testing.assert_array_equal(idata.posterior["theta"].values, keep.astype(np.float32))
    assert idata.posterior_predictive["y"].dtype == np.float32
    assert "log_likelihood" not in idata.groups()
    assert idata.observed_data["y"].dtype == np.float64  # the data stay as they are


def test_each_family_drops_only_variables_it_does_not_summarise():
    panel = simulate(60, 6, mcar=0.1, seed=1).panel()
    models = [MLM(panel), MLM(panel, time="client"), MLM(panel, centred_intercepts=False)]
    models += [DSEM(panel), DSEM(panel, time="client", centred_means=False)]
    models += [DSEM(panel, random_lags=False), DSEM(simulate(60, 6, seed=1).panel())]
    for model in models:
        free = {v.name for v in model.build().free_RVs}
        summarised = set(model._diagnosed()) | {"client_mean", "client_lag", "client_trend"}
        aux = set(model._auxiliary())
        assert aux and not aux & summarised, model.name
        # every dropped name is a variable of the model (no stale names)
        names = set(model.build().named_vars)
        assert aux <= names, aux - names
        assert aux & free
        # what the summaries read is kept: they run on the compacted posterior's names
        assert not aux & {"client_mean", "client_lag", "client_trend", "gamma_lag"}


def test_dsem_summarises_every_latent_cell_where_it_is_missing():
    sim = simulate(40, 6, mcar=0.2, skip=0.1, seed=3)
    model = DSEM(sim.panel())
    g = model.grid
    n = len(g.miss_pos)
    assert n > 20
    # draws of cell j centred on j / 10 (standardised scale), two chains of 200 draws
    rng = np.random.default_rng(2)
    d = np.arange(n) / 10 + rng.normal(0, 0.01, (2, 200, n))
    imp = model._imputed(xr.Dataset({"missing": (("chain", "draw", "cell"), d)}))
    assert list(imp.columns) == ["client", "session", "variable", "est", "se", "lower", "upper"]
    assert len(imp) == n
    # each row is a rating the data do not have: missing, or its session absent
    data = sim.panel().data.set_index(["client", "session"])
    for row in imp.itertuples():
        key = (row.client, row.session)
        assert key not in data.index or np.isnan(data.loc[key, row.variable]), row
    # estimates in raw units: loc + scale * the draws' mean
    k = pd.Series({"alliance": 0, "symptoms": 1})[imp["variable"]].to_numpy()
    np.testing.assert_allclose(imp["est"], g.loc[k] + g.scale[k] * np.arange(n) / 10, atol=0.01)
    assert (imp["lower"] < imp["est"]).all() and (imp["est"] < imp["upper"]).all()
    # and without latent cells the table is empty, with its columns
    full = DSEM(simulate(40, 6, seed=3).panel())
    assert len(full.grid.miss_pos) == 0 and full._imputed(xr.Dataset()).empty


def test_loo_in_blocks_equals_one_arviz_call():
    from causalrel.bayes import common

    rng = np.random.default_rng(4)
    mu = rng.normal(0, 0.1, (4, 300, 1))
    y = rng.standard_t(4, 1234)  # heavy tails: some high Pareto k
    ll = -0.5 * (y - mu) ** 2 - 0.5 * np.log(2 * np.pi)
    idata = az.InferenceData(posterior=_post(mu=mu[..., 0]), log_likelihood=_post(y=ll))
    got = common.loo_waic(idata, "y", prefix="y:")
    assert common.LOO_BLOCK < 1234  # several blocks
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo, waic = az.loo(idata, var_name="y", pointwise=True), az.waic(idata, var_name="y")
    want = {
        "y:elpd_loo": loo.elpd_loo,
        "y:elpd_loo_se": loo.se,
        "y:p_loo": loo.p_loo,
        "y:looic": -2 * loo.elpd_loo,
        "y:elpd_waic": waic.elpd_waic,
        "y:waic": -2 * waic.elpd_waic,
    }
    for key, value in want.items():
        assert got[key] == pytest.approx(float(value), rel=1e-10), key
    assert got["y:pareto_k_over_0.7"] == int((np.asarray(loo.pareto_k) > 0.7).sum())
