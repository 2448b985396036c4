"""Monte Carlo power analysis (issue 18): MCSEs, seeds, schedulers, resume, type-I error, power.

The fast tests use the FE family on small designs; the Monte Carlo checks of type-I error and
of power against the large-sample Wald approximation, and the process/Dask identity checks,
are marked slow.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import causalrel
from causalrel.cli import main
from causalrel.data import DataError
from causalrel.families import fit_model
from causalrel.power import DEFAULT_EFFECTS, Design, clients_needed, performance
from causalrel.power.runner import replication_seeds
from causalrel.simulate import simulate

SMALL = dict(families="fe", clients=[30, 40], sessions=[5], reps=4, seed=3, progress=False,
             estimate=False)  # fmt: skip


def _stable(table: pd.DataFrame) -> pd.DataFrame:
    return table.reset_index(drop=True)


# -- Monte Carlo standard errors -------------------------------------------------------------
@pytest.mark.slow
def test_mcse_matches_spread_over_repeated_studies():
    """Each MCSE equals the SD of its measure over many independent simulation studies."""
    rng = np.random.default_rng(0)
    true, bias, sd, n = 0.2, 0.05, 0.1, 200
    results = []
    for _ in range(3000):
        est = true + bias + sd * rng.standard_normal(n)
        se = sd * np.exp(0.2 * rng.standard_normal(n))
        z = stats.norm.ppf(0.975)
        results.append(performance(est, se, est - z * se, est + z * se, true))
    frame = pd.DataFrame(results)
    for measure in ("bias", "emp_se", "model_se", "rmse", "coverage", "power"):
        spread = frame[measure].std()
        mcse = frame[f"{measure}_mcse"].mean()
        assert mcse == pytest.approx(spread, rel=0.08), measure
    assert frame["bias"].mean() == pytest.approx(bias, abs=0.001)
    assert frame["type1_error"].isna().all()  # the truth is not 0


def test_type1_error_column_only_where_truth_is_zero():
    est = np.array([0.3, -0.1, 0.05, 0.0])
    se = np.full(4, 0.1)
    out = performance(est, se, est - 0.196, est + 0.196, 0.0)
    assert out["type1_error"] == out["power"] == 0.25  # only |0.3 / 0.1| > 1.96
    assert out["type1_error_mcse"] == pytest.approx(math.sqrt(0.25 * 0.75 / 4))


# -- design and seeds --------------------------------------------------------------------------
def test_replication_seeds_depend_on_seed_cell_and_rep_only():
    assert replication_seeds(1, 7, 0) == replication_seeds(1, 7, 0)
    seeds = {replication_seeds(1, c, r) for c in range(3) for r in range(50)}
    assert len(seeds) == 150
    assert replication_seeds(2, 7, 0) != replication_seeds(1, 7, 0)


def test_cell_identity_does_not_depend_on_the_rest_of_the_grid():
    a = {(c.clients, c.sessions): c.id for c in Design([100, 200], [6]).cells()}
    b = {(c.clients, c.sessions): c.id for c in Design([50, 100], [10, 6]).cells()}
    assert a[(100, 6)] == b[(100, 6)]
    assert len(set(a.values()) | set(b.values())) == 5  # five distinct designs


def test_effect_values_make_a_grid_axis():
    cells = Design([100], [6], {"alliance->symptoms": [0, -0.2]}, {"mcar": 0.1}).cells()
    assert [c.effects["alliance->symptoms"] for c in cells] == [0, -0.2]
    assert cells[0].effects["symptoms->alliance"] == -0.1  # the documented default
    assert cells[0].simulate_kwargs()["mcar"] == 0.1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(effects={"alliance=>symptoms": -0.2}), "Unknown effect"),
        (dict(design={"n_clients": 5}), "cannot set"),
        (dict(design={"colour": 5}), "Unknown design argument"),
        (dict(families={"fe": {"constrained": True}}), "do not apply to model 'fe'"),
        (dict(families="lasso"), "Unknown model"),
        (dict(sessions=[1]), "sessions must be at least 2"),
        (dict(effects={"alliance->alliance": 1.2}), "not stationary"),
        (dict(reps=1), "reps must be at least 2"),
    ],
)
def test_bad_design_is_a_clear_error(kwargs, match):
    with pytest.raises(DataError, match=match):
        causalrel.power(**(SMALL | kwargs))


def test_standardized_effects_are_within_person_sd_ratios():
    """A standardised -0.2 becomes the raw effect whose simulated b * sd(x) / sd(y) is -0.2."""
    from causalrel.power.design import raw_effects, standardized_effects

    target = standardized_effects(DEFAULT_EFFECTS) | {"alliance->symptoms": -0.2}
    design = {"innovation_sd": (0.3, 0.6), "innovation_corr": -0.3}
    raw = raw_effects(target, design)
    assert standardized_effects(raw, design) == pytest.approx(target, abs=1e-10)
    assert raw["alliance->alliance"] == pytest.approx(0.3) and raw["alliance->symptoms"] < -0.3
    cell = Design([3000], [40], {"alliance->symptoms": -0.2}, design, units="standardized")
    cell = cell.cells()[0]
    kw = cell.simulate_kwargs() | {"trait_sd": 0.0}
    data = simulate(**kw, seed=1).data
    sd = data[["alliance", "symptoms"]].std()
    assert kw["cross"][0] * sd["alliance"] / sd["symptoms"] == pytest.approx(-0.2, rel=0.02)
    assert cell.raw["alliance->symptoms"] == kw["cross"][0]


@pytest.mark.slow
def test_standardized_units_in_the_table(tmp_path):
    table = causalrel.power(**SMALL, scheduler="serial", effects={"alliance->symptoms": -0.2},
                            units="standardized")  # fmt: skip
    row = table[table["effect"] == "alliance->symptoms"].iloc[0]
    assert row["true_std"] == pytest.approx(-0.2) and row["true"] != row["true_std"]
    assert row["setting"] == "alliance->symptoms=-0.2 (standardized)"
    raw = causalrel.power(**SMALL, scheduler="serial", effects={"alliance->symptoms": -0.2})
    assert raw.loc[raw["effect"] == "alliance->symptoms", "true"].iloc[0] == -0.2
    with pytest.raises(DataError, match="units must be"):
        causalrel.power(**SMALL, units="sd")


def test_time_words_set_the_simulated_trends():
    cells = Design([50], [6], vary={"time": ["none", "common", "client"]}).cells()
    kw = {c.varied["time"]: c.simulate_kwargs() for c in cells}
    assert kw["none"]["trend"] == [0.0, 0.0] and kw["none"]["trend_sd"] == 0.0
    assert kw["common"]["trend"] == [0.05, -0.05] and kw["common"]["trend_sd"] == 0.0
    assert kw["client"]["trend_sd"] == [0.05, 0.05]
    sized = Design([50], [6], design={"time": "common", "trend": (0.1, -0.2)}).cells()[0]
    assert sized.simulate_kwargs()["trend"] == [0.1, -0.2]
    with pytest.raises(DataError, match="time must be one of"):
        Design([50], [6], design={"time": "linear"}).cells()
    with pytest.raises(DataError, match="trend_sd > 0"):
        Design([50], [6], design={"time": "client", "trend_sd": 0}).cells()


# -- the table, serial and resumed ------------------------------------------------------------
def test_power_table_is_tidy_and_reproducible(tmp_path):
    table = causalrel.power(**SMALL, scheduler="serial", effects={"alliance->symptoms": -0.2})
    assert len(table) == 2 * 4  # cells x effect keys (one family)
    row = table[(table["effect"] == "alliance->symptoms") & (table["clients"] == 40)].iloc[0]
    assert row["true"] == -0.2 and row["reps"] == 4 and row["converged"] == 1
    assert 0 <= row["power"] <= 1 and row["power_mcse"] >= 0
    assert row["rmse"] ** 2 == pytest.approx(row["bias"] ** 2 + row["emp_se"] ** 2 * 3 / 4)
    again = causalrel.power(**SMALL, scheduler="serial", effects={"alliance->symptoms": -0.2})
    pd.testing.assert_frame_equal(table, again)


def test_replication_is_the_simulation_and_fit_of_its_own_seed():
    """A record in the table is exactly a fit of simulate(seed=replication seed)."""
    from causalrel.power.runner import chunks_for, run_chunk

    cell = Design([40], [5]).cells()[0]
    chunk = chunks_for(cell, {"fe": ("fe", {})}, 3, 2, 2)[0]
    rec = [r for r in run_chunk(chunk) if r["rep"] == 1 and r["effect"] == "alliance->symptoms"]
    sim_seed, _ = replication_seeds(3, cell.key, 1)
    res = fit_model("fe", simulate(40, 5, seed=sim_seed).panel())
    assert rec[0]["est"] == res.effects["within"]["alliance->symptoms"].est


@pytest.mark.parametrize(
    "family, options, design",
    [
        ("riclpm", {}, {}),
        ("riclpm", {"constrained": True}, {"mcar": 0.1, "dropout": 0.08}),
        ("clpm", {"time": "none"}, {"mcar": 0.1}),
        ("dpml", {}, {"dropout": 0.1, "n_therapists": 6}),
        ("riclpm", {"estimator": "mlr", "level": 0.9}, {"mcar": 0.05}),
    ],
)
def test_lean_sem_path_gives_the_full_fit_to_1e_10(family, options, design):
    """The power runner's SEM path (model template, effects from the estimates) = a full fit."""
    from causalrel.power.fitting import Fitter
    from causalrel.power.runner import chunks_for, run_chunk

    assert Fitter(family, options).lean
    cell = Design([80], [5], design=design).cells()[0]
    chunk = chunks_for(cell, {family: (family, options)}, 2, 2, 2)[0]  # two replications
    records = run_chunk(chunk)
    assert len(records) == 2 * 4
    for rec in records:
        sim_seed, _ = replication_seeds(2, cell.key, rec["rep"])
        panel = simulate(**chunk.simulate_kwargs, seed=sim_seed).panel()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_model(family, panel, **options)
        eff = res.effects["within"][rec["effect"]]
        assert rec["converged"] == res.converged
        for what in ("est", "se", "lower", "upper"):
            want = getattr(eff, what)  # NaN where a degenerate fit has no SE: NaN in both
            assert rec[what] == pytest.approx(want, abs=1e-10, nan_ok=True), (rec["rep"], what)


@pytest.mark.parametrize("mcar", [0.0, 0.15])
def test_direct_sigma_hessian_equals_the_kernel_product(mcar):
    """The FIML Hessian's covariance block by traces (fast path) = JS Kss JS' (reference)."""
    from causalrel.sem.estimate import _Objective
    from causalrel.sem.fiml import moment_hessian, sigma_quadratic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_model("riclpm", simulate(60, 5, mcar=mcar, seed=8).panel())
    sem = res.engine if hasattr(res, "engine") else res.sem  # .sem until the rename lands
    r = _Objective(sem.models, sem.group_patterns)._eval(sem.theta)
    model, pats = sem.models[0], sem.group_patterns[0]
    dS, _ = model.jacobian(sem.theta, r["imp"])
    JS = dS.reshape(model.q, -1)
    for expected in (False, True):
        Kss, _, _ = moment_hessian(pats, r["E"], r["Q"], r["v"], expected=expected)
        ref = JS @ Kss @ JS.T
        fast = sigma_quadratic(pats, r["E"], r["Q"], dS, expected)
        assert np.abs(fast - ref).max() <= 1e-12 * np.abs(ref).max()


def test_full_only_options_take_the_family_fit():
    from causalrel.power.fitting import Fitter

    assert not Fitter("riclpm", {"covariates": ["z"]}).lean
    assert not Fitter("fe", {}).lean


def test_replication_panel_is_the_panel_load_panel_makes():
    from causalrel.power.fitting import replication_panel

    for kwargs in ({}, {"mcar": 0.2, "dropout": 0.1, "skip": 0.1, "n_therapists": 4}):
        sim = simulate(30, 6, **kwargs, seed=4)
        fast, full = replication_panel(sim), sim.panel()
        pd.testing.assert_frame_equal(fast.data, full.data)
        for attr in ("client", "session", "x", "y", "therapist", "covariates"):
            assert getattr(fast, attr) == getattr(full, attr), attr


@pytest.mark.slow
def test_resume_after_interruption_gives_the_same_table(tmp_path):
    full = causalrel.power(**SMALL, scheduler="serial")
    seen = []

    def stop_after_first(cell_id):
        seen.append(cell_id)
        raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        causalrel.power(**SMALL, scheduler="serial", out=out, on_cell=stop_after_first)
    assert [p.stem for p in (out / "cells").glob("*.jsonl")] == seen  # one cell on disk
    with pytest.raises(DataError, match="already holds a power run"):
        causalrel.power(**SMALL, scheduler="serial", out=out)
    with pytest.raises(DataError, match="reps differ"):
        causalrel.power(**(SMALL | {"reps": 7}), scheduler="serial", out=out, resume=True)
    rerun = []
    resumed = causalrel.power(
        **SMALL, scheduler="serial", out=out, resume=True, on_cell=rerun.append
    )
    assert len(rerun) == 1 and rerun[0] not in seen  # only the missing cell was computed
    pd.testing.assert_frame_equal(_stable(full), _stable(resumed))
    for name in ("power.csv", "power.json", "power.html", "power.png", "clients_needed.csv"):
        assert (out / name).stat().st_size > 0


def test_clients_needed_picks_smallest_grid_size_reaching_target():
    table = pd.DataFrame(
        {
            "family": "riclpm", "setting": "s", "effect": "alliance->symptoms", "true": -0.2,
            "sessions": [6, 6, 6, 10, 10, 10], "clients": [100, 200, 400] * 2,
            "power": [0.5, 0.79, 0.9, 0.7, 0.85, 0.99], "power_mcse": 0.02,
        }
    )  # fmt: skip
    needed = clients_needed(table, 0.8).set_index("sessions")
    assert needed.loc[6, "clients_needed"] == 400 and needed.loc[6, "power_below"] == 0.79
    assert needed.loc[10, "clients_needed"] == 200
    assert clients_needed(table, 0.995)["clients_needed"].isna().all()


# -- command line ------------------------------------------------------------------------------
def test_cli_power_json_records(capsys, tmp_path):
    code = main(
        ["power", "--families", "fe", "--clients", "40", "--sessions", "5", "--effect",
         "alliance->symptoms=0,-0.2", "--reps", "4", "--seed", "1", "--scheduler", "serial",
         "--json", "--no-progress", "--out", str(tmp_path / "o")]
    )  # fmt: skip
    assert code == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 2 * 4
    keys = {"family", "clients", "sessions", "effect", "true", "power", "power_mcse", "bias",
            "rmse", "coverage", "converged", "type1_error"}  # fmt: skip
    assert keys <= set(records[0])
    null = [r for r in records if r["effect"] == "alliance->symptoms" and r["true"] == 0]
    assert len(null) == 1 and null[0]["type1_error"] == null[0]["power"]
    assert (tmp_path / "o" / "power.html").is_file()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--effect", "alliance->symptoms"], "--effect takes KEY=VALUE"),
        (["--clients", "a,b"], "--clients takes comma-separated whole numbers"),
        (["--set", "riclpm.constrained=true"], "FAMILY in --families"),
        (["--resume"], "give --out"),
        (["--time", "linear"], "time must be one of"),
        pytest.param(  # waits for the connection timeout
            ["--scheduler", "tcp://127.0.0.1:9"],
            "Cannot reach the Dask scheduler",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_cli_power_bad_input_exits_2(argv, match, capsys):
    base = ["power", "--families", "fe", "--reps", "2", "--no-progress", "--clients", "20",
            "--sessions", "4"]  # fmt: skip
    assert main(base + argv) == 2
    assert match in capsys.readouterr().err


def test_cli_power_time_axis_and_standardized_units(capsys):
    code = main(
        ["power", "--families", "fe", "--clients", "40", "--sessions", "5", "--effect",
         "alliance->symptoms=-0.2", "--units", "standardized", "--time", "none,client",
         "--reps", "3", "--scheduler", "serial", "--json", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["time"] for r in records} == {"none", "client"}
    mine = [r for r in records if r["effect"] == "alliance->symptoms"]
    assert all(r["true_std"] == pytest.approx(-0.2) for r in mine)


def test_cli_power_help_documents_the_grid(capsys):
    with pytest.raises(SystemExit):
        main(["power", "--help"])
    text = capsys.readouterr().out
    for flag in ("--families", "--clients", "--sessions", "--effect", "--reps", "--seed",
                 "--scheduler", "--json", "--out", "--resume", "--reliability", "--time", "--units"):  # fmt: skip
        assert flag in text


# -- measurement error in the simulator --------------------------------------------------------
def test_reliability_adds_measurement_error_of_the_right_size():
    base = simulate(4000, 4, seed=2)
    noisy = simulate(4000, 4, seed=2, reliability=(0.6, 0.9))
    pd.testing.assert_frame_equal(base.data, simulate(4000, 4, seed=2, reliability=1.0).data)
    for col, rel in (("alliance", 0.6), ("symptoms", 0.9)):
        error = noisy.data[col] - base.data[col]
        assert error.var() / noisy.data[col].var() == pytest.approx(1 - rel, abs=0.015)
    assert noisy.truth.params["reliability"] == [0.6, 0.9]
    with pytest.raises(ValueError, match="reliability"):
        simulate(10, 3, reliability=0)


# -- slow: schedulers, type-I error, power ---------------------------------------------------
@pytest.mark.slow
def test_serial_processes_and_dask_give_identical_tables():
    from dask.distributed import Client, LocalCluster

    args = SMALL | {"families": "riclpm,fe", "clients": [60, 80], "reps": 5}
    serial = causalrel.power(**args, scheduler="serial")
    procs = causalrel.power(**args, workers=2)
    pd.testing.assert_frame_equal(serial, procs)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        on_client = causalrel.power(**args, scheduler=client)
        on_address = causalrel.power(**args, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(serial, on_client)
    pd.testing.assert_frame_equal(serial, on_address)


@pytest.mark.slow
def test_type1_error_of_frequentist_families_on_a_null_design():
    """No cross-lagged effects and independent innovations: both cross-lag tests reject ~5%.

    (Independent innovations keep FE unbiased for the cross-lags despite Nickell bias in the
    autoregressions; the default design, with correlated innovations, shows FE's inflated rate.)
    """
    reps = 400
    table = causalrel.power(
        ["fe", "riclpm"], [150], [6], {"alliance->symptoms": 0.0, "symptoms->alliance": 0.0},
        design={"innovation_corr": 0.0}, reps=reps, seed=11, progress=False, estimate=False,
    )  # fmt: skip
    null = table[table["true"] == 0]
    assert len(null) == 4 and (null["converged"] == 1).all()
    mcse = math.sqrt(0.05 * 0.95 / reps)
    for row in null.itertuples():
        assert abs(row.type1_error - 0.05) < 3 * mcse, (row.family, row.effect, row.type1_error)
        assert abs(row.bias) < 3 * row.bias_mcse + 0.005, (row.family, row.effect)


@pytest.mark.slow
def test_power_agrees_with_the_large_sample_wald_approximation():
    """RI-CLPM power at N clients = Wald power with the SE of a 20,000-client sample x sqrt(20000/N)."""
    effect, n_big, reps = -0.1, 20_000, 400
    design = {"cross": (effect, -0.1)}
    big = fit_model("riclpm", simulate(n_big, 6, **design, seed=99).panel())
    se_big = big.effects["within"]["alliance->symptoms"].se
    table = causalrel.power(
        "riclpm", [150, 300], [6], {"alliance->symptoms": effect}, reps=reps, seed=5,
        progress=False, estimate=False,
    )  # fmt: skip
    rows = table[table["effect"] == "alliance->symptoms"].set_index("clients")
    z = stats.norm.ppf(0.975)
    for n in (150, 300):
        se_n = se_big * math.sqrt(n_big / n)
        wald = stats.norm.cdf(abs(effect) / se_n - z) + stats.norm.cdf(-abs(effect) / se_n - z)
        assert 0.35 < wald < 0.95  # a design where power is informative
        got = rows.loc[n]
        assert abs(got["power"] - wald) < 3 * got["power_mcse"] + 0.02, (n, got["power"], wald)
        assert got["emp_se"] == pytest.approx(se_n, rel=0.12)
        assert abs(got["coverage"] - 0.95) < 3 * got["coverage_mcse"]
