"""Every ``causalrel fit`` flag reaches the model: the CLI's JSON equals ``fit_model`` called
with the same options, and differs from the default fit where the option changes the model.

These tests fail if ``cli._fit_options`` drops or mistranslates a flag (a flag silently ignored
gives the default fit, which the "differs from the default" half catches), and they pin the
exit codes: 0 for a converged fit, 1 for a fit that did not converge, 2 for bad flags.
The data are small (120 clients, 6 sessions) so each fit takes well under a second.
"""

import json
import warnings

import numpy as np
import pytest

from causalrel import ConvergenceWarning, load_panel
from causalrel.cli import main
from causalrel.families import fit_model
from causalrel.simulate import simulate

#: keys of the JSON that depend on the wall clock, not on the model
VOLATILE = ("seconds",)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    sim = simulate(120, 6, mcar=0.05, seed=5)
    d = sim.data.copy()
    rng = np.random.default_rng(2)
    codes = d["client"].astype("category").cat.codes.to_numpy()
    d["age"] = rng.normal(size=codes.max() + 1)[codes] + 0.3 * d.groupby("client")[
        "alliance"
    ].transform("mean")
    d["site"] = np.where(codes % 2 == 0, "north", "south")
    path = tmp_path_factory.mktemp("cli") / "sessions.csv"
    d.to_csv(path, index=False)
    return path


def _cli_json(capsys, *args):
    capsys.readouterr()
    code = main(["fit", *args, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else None, out.err


def _python_json(path, model, panel_covariates=(), **options):
    panel = load_panel(path, covariates=list(panel_covariates), warn=False)
    return fit_model(model, panel, **options).to_dict()


def _strip(d):
    return {k: v for k, v in d.items() if k not in VOLATILE}


def _same(a, b):
    assert _strip(a) == _strip(b)


def _within(d):
    return d["effects"]["within"]


#: (model, CLI flags, the same options in Python, what must differ from the default fit)
CASES = [
    ("riclpm", ["--constrained"], dict(constrained=True), "df"),
    ("clpm", ["--constrained"], dict(constrained=True), "df"),
    ("riclpm", ["--waves", "4"], dict(waves=[1, 2, 3, 4]), "df"),
    ("riclpm", ["--information", "expected"], dict(information="expected"), "se"),
    ("dpml", ["--set", "constrained=false"], dict(constrained=False), "df"),
    ("riclpm", ["--set", "level=0.9"], dict(level=0.9), "interval"),
    ("fe", ["--time", "client"], dict(time="client"), "est"),
    ("fe", ["--time", "common"], dict(time="common"), "est"),
    ("dpd", ["--method", "one-step"], dict(method="one-step"), "est"),
    ("dpd", ["--method", "anderson-hsiao"], dict(method="anderson-hsiao"), "est"),
    ("dpd", ["--time", "none"], dict(time="none"), "est"),
    ("dpd", ["--time", "client"], dict(time="client"), "est"),
    ("dpd", ["--set", "collapse=false"], dict(collapse=False), "est"),
]


def _differs(kind, a, b):
    ea, eb = _within(a)["alliance->symptoms"], _within(b)["alliance->symptoms"]
    if kind == "df":
        return a["fit"]["df"] != b["fit"]["df"]
    if kind == "se":
        return ea["est"] == pytest.approx(eb["est"], abs=1e-6) and ea["se"] != pytest.approx(
            eb["se"], rel=1e-3
        )
    if kind == "interval":
        return (
            ea["est"] == eb["est"]
            and (ea["upper"] - ea["lower"]) < (eb["upper"] - eb["lower"]) * 0.9
        )
    return ea["est"] != pytest.approx(eb["est"], abs=1e-6)


_DEFAULTS: dict = {}


def _default(path, model):
    if model not in _DEFAULTS:
        _DEFAULTS[model] = _python_json(path, model)
    return _DEFAULTS[model]


@pytest.mark.parametrize("model,flags,options,changes", CASES, ids=lambda v: str(v))
def test_flag_equals_python_option_and_changes_the_fit(
    capsys, data_file, model, flags, options, changes
):
    code, cli, err = _cli_json(capsys, model, str(data_file), *flags)
    assert code == 0, err
    _same(cli, _python_json(data_file, model, **options))
    assert _differs(changes, cli, _default(data_file, model)), (flags, changes)


#: two-sided normal quantiles from tables, independent of the package's own computation
Z = {0.95: 1.959963984540054, 0.9: 1.6448536269514722}


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_intervals_have_the_requested_level(capsys, data_file, level):
    flags = [] if level == 0.95 else ["--set", f"level={level}"]
    code, cli, err = _cli_json(capsys, "riclpm", str(data_file), *flags)
    assert code == 0, err
    for key, e in _within(cli).items():
        assert e["lower"] == pytest.approx(e["est"] - Z[level] * e["se"], rel=1e-9), key
        assert e["upper"] == pytest.approx(e["est"] + Z[level] * e["se"], rel=1e-9), key
    for row in cli["params"]:
        if row["se"]:
            assert row["ci.lower"] == pytest.approx(row["est"] - Z[level] * row["se"], rel=1e-9)


def test_no_flags_equals_python_defaults(capsys, data_file):
    for model in ("riclpm", "fe"):
        code, cli, err = _cli_json(capsys, model, str(data_file))
        assert code == 0, err
        _same(cli, _default(data_file, model))


def test_covariates_reach_the_sem(capsys, data_file):
    """``--covariates age`` must put ``age`` into the model, not only into the panel."""
    code, cli, err = _cli_json(capsys, "riclpm", str(data_file), "--covariates", "age")
    assert code == 0, err
    py = _python_json(data_file, "riclpm", panel_covariates=["age"], covariates=["age"])
    _same(cli, py)
    assert cli["fit"]["df"] != _default(data_file, "riclpm")["fit"]["df"]
    assert any(r["lhs"] == "age" or r["rhs"] == "age" for r in cli["params"])
    code = main(["fit", "fe", str(data_file), "--covariates", "age"])
    assert code == 2 and "Option 'covariates' does not apply" in capsys.readouterr().err


def test_multigroup_through_set(capsys, data_file):
    code, cli, err = _cli_json(
        capsys, "riclpm", str(data_file), "--constrained", "--set", "group=site"
    )
    assert code == 0, err
    _same(cli, _python_json(data_file, "riclpm", constrained=True, group="site"))
    assert {"alliance->symptoms[site=north]", "alliance->symptoms[site=south]"} <= set(_within(cli))


def test_non_converged_fit_exits_1_and_warns(capsys, data_file):
    with warnings.catch_warnings():
        # the suite turns ConvergenceWarning into an error; here the CLI must print it
        warnings.simplefilter("always", ConvergenceWarning)
        code, cli, err = _cli_json(capsys, "riclpm", str(data_file), "--set", "max_iter=1")
    assert code == 1
    assert cli["diagnostics"]["converged"] is False
    assert "warning:" in err and "did not converge" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["fe", "--constrained"], "does not apply to model 'fe'"),
        (["riclpm", "--draws", "300"], "does not apply to model 'riclpm'"),
        (["riclpm", "--set", "novalue"], "--set takes KEY=VALUE"),
        (["riclpm", "--set", "=3"], "--set takes KEY=VALUE"),
        (["riclpm", "--set", "no_such_option=1"], "Option 'no_such_option' does not apply"),
        (["dpd", "--method", "three-step"], "three-step"),
        (["riclpm", "--information", "fisher"], "information must be 'observed' or 'expected'"),
    ],
)
def test_bad_flags_exit_2_without_traceback(capsys, data_file, args, message):
    capsys.readouterr()
    code = main(["fit", args[0], str(data_file), *args[1:]])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_argparse_errors_exit_2(capsys, data_file):
    for args in (["fit", "nope", str(data_file)], ["fit", "fe", str(data_file), "--waves", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2


def test_debug_shows_the_traceback(data_file):
    from causalrel.data import DataError

    with pytest.raises(DataError, match="does not apply"):
        main(["--debug", "fit", "fe", str(data_file), "--constrained"])


def test_interrupt_exits_130(capsys, monkeypatch, data_file):
    import causalrel.families as fam

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(fam, "fit_model", interrupted)
    assert main(["fit", "fe", str(data_file)]) == 130
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["mlm", "dsem"])
def test_sampler_flags_reach_the_bayesian_families(capsys, monkeypatch, data_file, model):
    """The sampler's flags reach ``fit_model`` as its options (sampling itself is tested in
    test_bayes_fit.py; here the wiring, without a sampler run)."""
    import causalrel.families as families
    from causalrel.data import DataError

    seen = {}

    def fake_fit_model(name, panel, **options):
        seen.update(options, name=name)
        raise DataError("stop here")

    monkeypatch.setattr(families, "fit_model", fake_fit_model)
    flags = ["--draws", "50", "--tune", "60", "--chains", "3", "--seed", "7"]
    flags += ["--sampler", "nutpie", "--time", "common", "--set", "retry=false"]
    code = main(["fit", model, str(data_file), *flags])
    assert code == 2 and "stop here" in capsys.readouterr().err
    assert seen == {
        "name": model,
        "draws": 50,
        "tune": 60,
        "chains": 3,
        "seed": 7,
        "sampler": "nutpie",
        "time": "common",
        "retry": False,
        "progress": False,  # stderr is not a terminal under pytest
    }
