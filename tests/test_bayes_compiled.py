"""Compile once, reuse with new data (issue 22): same draws as a fresh compile, progress text.

The reuse tests sample: each asserts convergence and the estimates of a full fit besides the
identity of the draws (a reused compilation must give exactly what a fresh one gives for the
same seed). The MLM test compiles once and its identity fits are short, as identity needs no
convergence (3 full fits and 2 compilations per backend took 106 s with numba and 181 s with
JAX of CI).
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from causalrel import DataWarning
from causalrel.bayes import DSEM, MLM
from causalrel.bayes.compiled import COMPILING, REUSING, bucket, cache_info, clear_cache
from causalrel.results import ConvergenceWarning
from causalrel.simulate import simulate

FAST = dict(chains=4, cores=2, progress=False, sampler="nutpie", seed=7, retry=False)


def test_bucket_pads_a_little_and_groups_nearby_sizes():
    assert bucket(0) == 0 and bucket(1) == 16 and bucket(16) == 16
    sizes = np.arange(17, 5000)
    b = np.array([bucket(int(n)) for n in sizes])
    assert np.all(b >= sizes) and np.all(b <= np.ceil(sizes * 2 ** (1 / 8)) + 1)
    assert np.all(np.diff(b) >= 0)
    assert len(np.unique(b)) < len(sizes) / 20  # many sizes share one compiled shape
    assert bucket(800) == bucket(790)


def test_the_session_grid_needs_no_pymc():
    code = (
        "import sys; from causalrel.bayes.grid import SessionGrid; "
        "from causalrel.simulate import simulate; "
        "g = SessionGrid(simulate(10, 5, mcar=0.2, seed=1).panel(), therapist=False, "
        "covariates=()); assert g.n_clients == 10 and len(g.miss_pos) > 0; "
        "assert 'pymc' not in sys.modules and 'pytensor' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_structure_keys_differ_by_option_and_shape_not_by_data():
    a = simulate(30, 6, mcar=0.1, seed=1).panel()
    b = simulate(30, 6, mcar=0.1, seed=2).panel()
    assert MLM(a)._key() == MLM(b)._key()
    assert MLM(a)._key() != MLM(a, time="common")._key()
    assert MLM(a, time="common")._key() != MLM(a, time="client")._key()
    with warnings.catch_warnings():  # 30 clients for the default's 8 random effects: a warning
        warnings.simplefilter("ignore", DataWarning)
        da, db = DSEM(a), DSEM(b)
        assert (bucket(len(da.grid.miss_pos)) == bucket(len(db.grid.miss_pos))) == (
            da._key() == db._key()
        )
        assert DSEM(a)._key() != DSEM(a, random_lags=False)._key()
        assert DSEM(a)._key() != DSEM(a, time="none")._key()
        assert DSEM(a)._key() != DSEM(simulate(31, 6, seed=1).panel())._key()


def _converged(res):
    d = res.diagnostics
    assert d["converged"], d.get("message")


def test_only_models_built_for_reuse_have_shared_data_and_a_structure_key():
    panel = simulate(50, 6, mcar=0.1, seed=1).panel()  # 50 clients: the DSEM's 8 effects
    for cls in (MLM, DSEM):
        single, shared = cls(panel), cls(panel, reuse=True)
        assert single._structure() is None and shared._structure() == shared._key()
        assert not single.build().data_vars  # constants: PyTensor folds them at compile time
        names = {v.name for v in shared.build().data_vars}
        assert names, cls
    # the DSEM pads latent cells to a shared bucket only when built for reuse
    single, shared = DSEM(panel), DSEM(panel, reuse=True)
    n = len(single.grid.miss_pos)
    assert single.build()["missing"].type.shape == (n,)
    assert shared.build()["missing"].type.shape == (bucket(n),) and bucket(n) > n


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_mlm_reuse_gives_the_fresh_compile_draws_and_says_so(capsys, backend):
    """One compilation, three fits: data set b fresh (short), data set a reusing it (full:
    convergence and recovery on numba, the default), b again reusing it (short): its draws
    equal the fresh fit's, so a reused model carries nothing from the data it last sampled.
    JAX samples 2-3x slower, so all its fits are short: the JAX backend's convergence and
    estimates are asserted by tests/test_dsem_same_session.py."""
    sims = [simulate(60, 8, cross=(-0.2, -0.1), mcar=0.05, seed=s) for s in (3, 4)]
    a, b = (MLM(s.panel(), reuse=True) for s in sims)
    assert a._key() == b._key()  # same clients; rows may differ (pm.Data)
    clear_cache()
    opts = dict(draws=1000, tune=1000, loo=False, ppc=False, backend=backend, **FAST)
    short = dict(opts, draws=150, tune=150)  # what these test is identity, not convergence
    full = backend == "numba"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fresh = b.fit(**dict(short, progress=True))
        ra = a.fit(**dict(opts if full else short, progress=True))
        rb = MLM(sims[1].panel(), reuse=True).fit(**short)
    err = capsys.readouterr().err
    assert f"mlm: {COMPILING}" in err and f"mlm: {REUSING}" in err
    assert err.index(COMPILING) < err.index(REUSING)
    assert not fresh.diagnostics["reused_compilation"]
    assert ra.diagnostics["reused_compilation"] and rb.diagnostics["reused_compilation"]
    assert {r.diagnostics["backend"] for r in (ra, rb, fresh)} == {backend}
    assert rb.idata.posterior.sizes["draw"] == 150
    for var in ("y_b", "x_b", "y_chol_stds", "x_client_intercept"):
        np.testing.assert_array_equal(
            rb.idata.posterior[var].values, fresh.idata.posterior[var].values
        )
    if full:
        _converged(ra)
        for key, true in {"alliance->symptoms": -0.2, "symptoms->alliance": -0.1}.items():
            e = ra.effects["within"][key]
            assert e.lower < true < e.upper, (key, e)
    assert cache_info()["structures"] == 1


@pytest.mark.slow
def test_dsem_reuse_across_missingness_recovers_the_lags():
    def panel(seed):
        return simulate(80, 8, ar=(0.3, 0.4), cross=(-0.2, -0.1), mcar=0.1, seed=seed)

    # two replications of one design whose latent cells fall in one padded bucket
    seeds = [s for s in range(20, 40) if bucket(len(DSEM(panel(s).panel()).grid.miss_pos))]
    by_bucket: dict[int, list[int]] = {}
    for s in seeds:
        by_bucket.setdefault(bucket(len(DSEM(panel(s).panel()).grid.miss_pos)), []).append(s)
    s1, s2 = next(v for v in by_bucket.values() if len(v) >= 2)[:2]
    m1 = DSEM(panel(s1).panel(), reuse=True, time="none")
    m2 = DSEM(panel(s2).panel(), reuse=True, time="none")
    assert len(m1.grid.miss_pos) != len(m2.grid.miss_pos) or s1 != s2
    opts = dict(draws=2000, tune=1000, **FAST)  # 1000 draws gave bulk ESS 398 < 400
    clear_cache()
    r1 = m1.fit(**opts)
    r2 = m2.fit(**opts)
    assert not r1.diagnostics["reused_compilation"] and r2.diagnostics["reused_compilation"]
    # (draws equal to a fresh compile's are shown for the MLM above; a second DSEM compilation
    # would add minutes to CI: benchmarks/bench_bayes.py --part reuse compares them)
    truth = panel(s2).truth.within
    for res in (r1, r2):  # 8 checks: 3 posterior SDs (a 95% interval would miss 1 in 3 runs)
        _converged(res)
        for key, true in truth.items():
            e = res.effects["within"][key]
            assert abs(e.est - true) < 3 * e.se, (key, e, true)
    # client labels are the new panel's, not the first compilation's
    assert list(r2.idata.posterior["client"].values) == [str(c) for c in m2.grid.clients]


def test_cache_keeps_one_compilation_per_key_drops_the_oldest_and_keeps_unkeyed_on_the_model(
    monkeypatch, capsys
):
    """The cache's bookkeeping, with nutpie's compiler replaced by a counter (no numba)."""
    import types

    import nutpie

    from causalrel.bayes import compiled as comp

    made = []

    def fake_compile(model):
        made.append(model)
        return types.SimpleNamespace(shared_data={}, model=model)

    monkeypatch.setattr(nutpie, "compile_pymc_model", fake_compile)
    clear_cache()
    models = [types.SimpleNamespace(name=f"m{i}") for i in range(comp.MAX_STRUCTURES + 1)]
    # not built for reuse (key None): compiled once per model object, kept on it
    first, reused = comp.compiled_model(models[0], None, label="t", progress=True)
    again, reused_again = comp.compiled_model(models[0], None, label="t", progress=True)
    assert (reused, reused_again) == (False, True) and again is first and len(made) == 1
    assert cache_info()["structures"] == 0  # unkeyed models never enter the process cache
    err = capsys.readouterr().err
    assert f"t: {COMPILING}" in err and f"t: {REUSING}" in err
    # keyed: one compilation per key; beyond MAX_STRUCTURES the oldest key is dropped
    for i, m in enumerate(models):
        comp.compiled_model(m, ("k", i), progress=False)
    assert cache_info()["structures"] == comp.MAX_STRUCTURES and len(made) == len(models) + 1
    _, hit = comp.compiled_model(models[-1], ("k", len(models) - 1), progress=False)
    assert hit and len(made) == len(models) + 1
    _, hit = comp.compiled_model(models[0], ("k", 0), progress=False)  # evicted: compiled again
    assert not hit and len(made) == len(models) + 2
    clear_cache()


def test_backend_is_checked_before_compiling_and_jax_caches_beside_pytensor():
    from causalrel import DataError
    from causalrel.bayes import compiled as comp
    from causalrel.bayes.sampling import sample

    model = MLM(simulate(40, 5, seed=1).panel()).build()
    with pytest.raises(DataError, match="Unknown backend 'stan'. Choose one of: numba, jax"):
        sample(model, backend="stan")
    with pytest.raises(DataError, match="does not apply to sampler 'pymc'"):
        sample(model, sampler="pymc", backend="jax")
    # JAX's persistent compilation cache: <base_compiledir>/jax, reported by cache_info
    import jax
    from pytensor.configdefaults import config

    path = comp.jax_cache()
    assert path == comp.Path(config.base_compiledir) / "jax" and path.is_dir()
    assert jax.config.jax_compilation_cache_dir == str(path)
    assert cache_info()["jax_path"] == str(path)
