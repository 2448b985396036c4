"""Families describe themselves, and the report and CLI know a family only through the registry."""

import ast
import json
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

import causalrel
from causalrel import ModelResults
from causalrel.cli import build_parser, main
from causalrel.families import FAMILIES, family_options, family_spec
from causalrel.report import analyze
from causalrel.results import Effect

XY, YX = "alliance->symptoms", "symptoms->alliance"
REPORT = Path(causalrel.__file__).parent / "report"


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_describes_itself(name):
    spec = family_spec(name)  # strict: raises on a missing or mistyped attribute
    assert spec.name == name
    assert spec.summary and "\n" not in spec.summary and len(spec.summary) <= 90
    assert spec.assumes.startswith("Assumes") and spec.distrust_when.startswith("Distrust")
    assert set(spec.time_support) <= {"none", "common", "client"}
    assert spec.options == family_options(name) and "panel" not in spec.options
    # what analyze passes must be options the family takes
    passed = {**spec.analyze_options, **spec.fast_options}
    for opts in spec.trend_options.values():
        passed.update(opts)
    assert set(passed) <= set(spec.options), name
    assert set(spec.trend_options) <= set(causalrel.report.TRENDS)
    if spec.trend_check:
        assert "client" in spec.time_support


def test_a_class_without_its_description_is_refused(monkeypatch):
    mod = types.ModuleType("causalrel_undescribed")
    mod.Bare = type("Bare", (), {"name": "bare", "fit": lambda self: None})
    monkeypatch.setitem(sys.modules, "causalrel_undescribed", mod)
    monkeypatch.setitem(FAMILIES, "bare", "causalrel_undescribed:Bare")
    with pytest.raises(TypeError, match="needs a class attribute 'summary'.*CONTRIBUTING"):
        family_spec("bare")
    lenient = family_spec("bare", strict=False)
    assert lenient.summary == "(no description)" and lenient.samples is False


def test_help_and_family_descriptions_import_no_engine():
    """One fresh process (an interpreter start and the package import cost ~1 s each): the top
    level --help imports no family module; then the registry reads every family's class, and
    the engines still load only when a family is fitted."""
    code = (
        "import sys\nfrom causalrel.cli import build_parser\n"
        "try:\n    build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass\n"
        "print([m for m in sys.modules if m.startswith(('causalrel.sem', 'causalrel.panel', "
        "'causalrel.bayes', 'causalrel.causal', 'causalrel.report'))])\n"
        "import causalrel.families as f\n"
        "[f.family_spec(n) for n in f.FAMILIES]\n"
        "print([m for m in ('pymc', 'pytensor', 'nutpie', 'arviz', 'dowhy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    help_line, families_line = out.stdout.strip().splitlines()[-2:]
    assert help_line == "[]", out.stdout
    assert families_line == "[]", out.stdout + out.stderr


def test_fit_help_lists_every_family_from_its_class(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "--help"])
    text = capsys.readouterr().out
    for name in FAMILIES:
        assert f"  {name:<7} {family_spec(name).summary}" in text


def test_package_exports():
    from causalrel import analyze as a
    from causalrel import describe, simulate

    assert a is analyze and callable(describe) and callable(simulate)
    from causalrel.simulate import Simulation  # the module stays importable by its path

    assert isinstance(simulate(20, 4, seed=1), Simulation)


# -- the report has no family-specific branches ------------------------------------------------
def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    }


@pytest.mark.parametrize("path", sorted(REPORT.glob("*.py")), ids=lambda p: p.name)
def test_report_code_names_no_family(path):
    named = _string_constants(path) & set(FAMILIES)
    assert not named, f"{path.name} names families {named}: read them from the registry"


class Toy:
    """A family written by CONTRIBUTING.md: a module (here a fake one) and one registry line."""

    name = "toy"
    summary = "a toy family for the registry tests"
    assumes = "Assumes nothing at all: it reports fixed numbers."
    distrust_when = "Distrust it always: it is a test double."
    samples = False
    time_support = ()
    analyze_options = {"scale": 2.0}

    def __init__(self, panel, *, scale: float = 1.0):
        self.panel, self.scale = panel, scale

    def fit(self, *, seed=None, level: float = 0.95):
        within = {XY: Effect.from_normal(-0.1 * self.scale, 0.02, level), YX: Effect(0.0)}
        return ModelResults(
            model=self.name,
            n_clients=self.panel.n_clients,
            n_observations=self.panel.n_rows,
            effects={"within": within, "between": {}},
            params=pd.DataFrame(),
        )


class ToySampler(Toy):
    name = "toysampler"
    summary = "a toy family that samples"
    samples = True


@pytest.fixture
def toy_registry(monkeypatch):
    mod = types.ModuleType("causalrel_toy_family")
    mod.Toy, mod.ToySampler = Toy, ToySampler
    monkeypatch.setitem(sys.modules, "causalrel_toy_family", mod)
    monkeypatch.setitem(FAMILIES, "toy", "causalrel_toy_family:Toy")
    monkeypatch.setitem(FAMILIES, "toysampler", "causalrel_toy_family:ToySampler")


def test_a_registered_family_runs_through_the_report(toy_registry, small_sim, tmp_path):
    outcome = analyze(
        small_sim.panel(), out=tmp_path, families=["toy", "toysampler"], fast=True, progress=False
    )
    assert outcome.ok and outcome.skipped == {"toysampler": "skipped by --fast (a sampler family)"}
    toy = outcome.results["toy"]
    assert toy.effects["within"][XY].est == pytest.approx(-0.2)  # its analyze_options reached it
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["models"]["toy"]["effects"]["within"][XY]["est"] == pytest.approx(-0.2)
    assert summary["refutations"] == [] and "toy" in summary["verdict"]["families"]
    md = (tmp_path / "report.md").read_text()
    assert "| toy | -0.200 [-0.239, -0.161] | 0 [–, –] | converged |" in md
    assert Toy.assumes in md and Toy.distrust_when in md and ToySampler.assumes in md
    assert "Causal layer" not in md  # no family that refutes itself was fitted


def test_a_registered_family_is_fitted_by_the_cli(toy_registry, small_sim, tmp_path, capsys):
    f = tmp_path / "d.csv"
    small_sim.data.to_csv(f, index=False)
    assert main(["fit", "toy", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "toy"
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    assert "toy     a toy family for the registry tests" in capsys.readouterr().out


def test_families_say_what_their_between_number_is():
    """Report section 3 labels each between-client number (issue 16): a correlation of random
    intercepts, of latent means, or the MLM's regression slope are not one quantity."""
    from causalrel.report.figures import _between_label

    with_between = {"riclpm", "dpml", "mlm", "dsem"}
    for name in FAMILIES:
        meaning = family_spec(name).between_meaning
        assert bool(meaning) == (name in with_between), name
        label = _between_label(name).replace("\n", " ")
        assert label == (f"{name} {meaning}" if meaning else name), name
    assert "not a correlation" in family_spec("mlm").between_meaning
    assert _between_label("riclpm:time=client").startswith("riclpm:time=client\ncorrelation")
