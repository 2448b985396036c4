"""The command line: help everywhere, clean errors (no traceback), contract-shaped JSON."""

import json
import subprocess
import sys
import warnings

import pandas as pd
import pytest

from causalrel.cli import main
from causalrel.data import DataWarning


def run(*args):
    """``causalrel ARGS`` as the installed command: a new process (its own imports, exit code
    and standard streams). Costs an interpreter start and the package import (about 1 s of
    CPU), so most tests use :func:`call`."""
    return subprocess.run(
        [sys.executable, "-m", "causalrel.cli", *args], capture_output=True, text=True
    )


@pytest.fixture
def call(capsys):
    """``causalrel ARGS`` in this process: ``main(ARGS)``, with argparse's usage errors (which
    exit) turned into their exit code; returns what ``run`` returns (returncode, stdout,
    stderr). ``main`` catches every exception it reports, so anything else is a test error.
    Data warnings are printed to standard error as the command prints them (the test suite
    otherwise makes them errors); other warnings stay errors."""

    def go(*args):
        capsys.readouterr()
        with warnings.catch_warnings():  # also restores the showwarning main installs
            warnings.filterwarnings("always", category=DataWarning)
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return go


@pytest.mark.parametrize(
    "cmd", [[], ["validate"], ["describe"], ["simulate"], ["fit"], ["analyze"]]
)
def test_help_everywhere(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*cmd, "--help"])
    assert exc.value.code == 0
    assert "usage: causalrel" in capsys.readouterr().out


def test_validate_ok_and_bad_file(tmp_path, example_path, call):
    r = call("validate", str(example_path))
    assert r.returncode == 0 and "OK. 400 clients" in r.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("client,session,alliance,symptoms\n1,1,3,20\n1,1,4,18\n")
    r = call("validate", str(bad))
    assert r.returncode == 2 and "appear more than once" in r.stderr
    # the installed command: the process exits 2 with the message and no traceback
    r = run("validate", str(bad))
    assert r.returncode == 2
    assert "appear more than once" in r.stderr and "Traceback" not in r.stderr


def test_validate_wrong_column_names(tmp_path, call):
    f = tmp_path / "d.csv"
    pd.DataFrame({"id": [1, 1], "s": [1, 2], "wai": [3, 4], "core": [10, 12]}).to_csv(
        f, index=False
    )
    r = call("validate", str(f))
    assert r.returncode == 2 and "Columns found: 'id', 's', 'wai', 'core'" in r.stderr
    r = call("validate", str(f), "--client", "id", "--session", "s", "--x", "wai", "--y", "core")
    assert r.returncode == 0, r.stderr


def test_describe_json_contract(example_path, call):
    r = call("describe", str(example_path), "--therapist", "therapist", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["n_clients"] == 400
    assert set(d["sessions"]) == {"min", "max", "median_per_client"}
    for v in ("alliance", "symptoms"):
        assert {"mean", "sd", "missing_share", "between_share"} <= set(d["variables"][v])
    assert set(d["correlations"]) == {"pooled", "between", "within"}


def test_describe_text(example_path, call):
    r = call("describe", str(example_path))
    assert r.returncode == 0 and "within clients" in r.stdout


def test_simulate_writes_data_and_truth(tmp_path, call):
    out = tmp_path / "sim.csv"
    r = call("simulate", "--out", str(out), "--clients", "30", "--sessions", "5", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(out).client.nunique() == 30
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert truth["within"]["alliance->symptoms"] == -0.2
    r2 = call("simulate", "--clients", "30", "--sessions", "5", "--seed", "3")
    assert r2.stdout == out.read_text()  # same seed, same data


def test_bad_simulate_flag_is_a_clean_error(call):
    r = call("simulate", "--cross", "0.1")
    assert r.returncode == 2 and "--cross takes 2" in r.stderr


class _Toy:
    """A minimal family: constructor option ``k``, fit option ``draws``."""

    def __init__(self, panel, *, k=1):
        self.panel, self.k = panel, k

    def fit(self, *, draws=10):
        from causalrel.results import ModelResults

        return ModelResults("toy", self.panel.n_clients, self.k * draws, {}, pd.DataFrame())


def test_fit_model_routes_options_and_rejects_unknown(monkeypatch, small_sim):
    import causalrel.families as fam
    from causalrel.data import DataError

    monkeypatch.setitem(fam.FAMILIES, "toy", "tests.test_cli:_Toy")
    res = fam.fit_model("toy", small_sim.panel(), k=3, draws=7)
    assert res.n_observations == 21
    with pytest.raises(DataError, match="does not apply to model 'toy'. Its options: draws, k"):
        fam.fit_model("toy", small_sim.panel(), no_such_option=1)
    with pytest.raises(DataError, match="Unknown model 'nope'"):
        fam.fit_model("nope", small_sim.panel())


def test_fit_riclpm_json_follows_contract(example_path, call):
    r = call("fit", "riclpm", str(example_path), "--constrained", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["model"] == "riclpm" and d["diagnostics"]["converged"] is True
    eff = d["effects"]["within"]["alliance->symptoms"]
    assert set(eff) == {"est", "se", "lower", "upper"} and eff["lower"] < eff["est"] < eff["upper"]
    assert "alliance~symptoms" in d["effects"]["between"]
    row = d["params"][0]
    assert {"lhs", "op", "rhs", "est", "se", "z", "pvalue", "ci.lower", "ci.upper"} <= set(row)
    assert {"chisq", "df", "cfi", "rmsea", "srmr", "aic", "bic"} <= set(d["fit"])


@pytest.mark.slow
def test_fit_fe_and_dpd_with_options(example_path):
    r = run("fit", "fe", str(example_path), "--time", "client", "--json")
    assert r.returncode == 0, r.stderr
    assert "alliance->symptoms" in json.loads(r.stdout)["effects"]["within"]
    r = run("fit", "dpd", str(example_path), "--method", "one-step")
    assert r.returncode == 0 and "within-client effects" in r.stdout, r.stderr


def test_fit_rejects_option_for_wrong_family(example_path, call):
    r = call("fit", "fe", str(example_path), "--constrained")
    assert r.returncode == 2 and "does not apply to model 'fe'" in r.stderr


@pytest.fixture
def sem_and_fe_only(monkeypatch):
    """``analyze`` over clpm, riclpm and fe only (the families the options are about)."""
    import causalrel.families as fam

    keep = {k: fam.FAMILIES[k] for k in ("clpm", "riclpm", "fe")}
    monkeypatch.setattr(fam, "FAMILIES", keep)


@pytest.mark.slow  # about 10 s: two analyze runs of three families (and the LCM-SR refit)
@pytest.mark.filterwarnings("ignore::causalrel.sem.HeywoodWarning")
def test_analyze_estimator_and_cluster_flags_reach_the_fits(tmp_path, call, sem_and_fe_only):
    """`analyze --estimator/--cluster`: the user's choice wins over the automatic rule (the
    skewed, therapist-nested lavaan fixture would get MLR clustered by therapist), reaches
    every family that takes it, and the report says the user chose it."""
    from .conftest import FIXTURES

    data = str(FIXTURES["lavaan"] / "lavaan_data_cluster.csv")
    out = tmp_path / "ml"
    r = call("analyze", data, "--therapist", "therapist", "--estimator", "ml", "--out", str(out))
    assert r.returncode in (0, 1), r.stderr  # 1: a family (the LCM-SR refit) may misfit
    s = json.loads((out / "summary.json").read_text())
    inf = s["settings"]["inference"]
    assert inf["estimator"] == "ml" and inf["chosen_by"] == {"estimator": "user", "cluster": "rule"}
    assert s["settings"]["family_inference"] == {
        "clpm": {"estimator": "ml"},
        "riclpm": {"estimator": "ml"},
        "fe": {"cluster": "therapist"},
    }
    models = s["models"]
    assert models["riclpm"]["diagnostics"]["estimator"] == "ml"
    assert models["riclpm"]["diagnostics"]["cluster"] is None
    assert "chisq.scaled" not in models["clpm"]["fit"]
    md = (out / "report.md").read_text()
    assert "Decision: ML: chosen by the user (estimator='ml'); the rule alone would give MLR" in md
    assert "except the SEM families: the user chose ML" in md
    assert "likelihood-ratio test (normal-theory ML), chi-bar-square p-value" in md

    out = tmp_path / "none"
    r = call("analyze", data, "--therapist", "therapist", "--cluster", "none", "--out", str(out))
    s = json.loads((out / "summary.json").read_text())
    assert s["settings"]["inference"]["chosen_by"] == {"estimator": "rule", "cluster": "user"}
    assert s["settings"]["family_inference"] == {
        "clpm": {"estimator": "mlr"},
        "riclpm": {"estimator": "mlr"},
        "fe": {},
    }
    assert s["models"]["clpm"]["diagnostics"]["cluster"] is None
    md = (out / "report.md").read_text()
    assert "Not clustered: the user chose cluster='none'." in md
    assert "Satorra-Bentler (2001) scaled difference test (MLR), chi-bar-square p-value" in md


def test_analyze_bad_estimator_or_cluster_exits_2(tmp_path, call, example_path):
    out = str(tmp_path / "r")
    r = call("analyze", str(example_path), "--cluster", "nurse", "--out", out)
    assert r.returncode == 2 and "cluster='nurse' is not a column" in r.stderr
    r = call(
        "analyze", str(example_path), "--estimator", "ml", "--cluster", "therapist", "--out", out
    )
    assert r.returncode == 2 and "clustered SEM standard errors are MLR's" in r.stderr
    r = call("analyze", str(example_path), "--cluster", "therapist,session", "--out", out)
    assert r.returncode == 2 and "two-way clustering is fe's" in r.stderr
    r = call("analyze", str(example_path), "--estimator", "wls", "--out", out)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    assert not (tmp_path / "r").exists()  # checked before anything is written
