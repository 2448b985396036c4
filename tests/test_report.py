"""`analyze`: every family side by side, failures reported (never dropped), the report files."""

import json
import sys
import types
import warnings

import pandas as pd
import pytest

from causalrel import DataError, ModelResults
from causalrel.bayes import DSEM
from causalrel.cli import main
from causalrel.families import FAMILIES, family_spec
from causalrel.report import FIGURES, analyze, effects_table
from causalrel.report.run import _family_options
from causalrel.results import Effect
from causalrel.simulate import simulate

XY, YX = "alliance->symptoms", "symptoms->alliance"


@pytest.fixture(scope="module")
def confounded():
    """Strong, correlated stable traits: the CLPM's blind spot."""
    return simulate(200, 10, trait_corr=0.6, trait_sd=(1.0, 1.0), seed=7)


@pytest.fixture(scope="module")
def report(confounded, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    outcome = analyze(
        confounded.panel(),
        out=out,
        fast=True,
        seed=3,
        progress=False,
        truth=confounded.truth.within,
    )
    summary = json.loads((out / "summary.json").read_text())
    return outcome, summary, out


@pytest.mark.slow
def test_files_exist_and_hold_every_family(report):
    outcome, summary, out = report
    for name in ("report.html", "report.md", "summary.json", *FIGURES.values()):
        assert (out / name).stat().st_size > 0, name
    for png in FIGURES.values():
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(summary["models"]) == set(FAMILIES)
    for name, m in summary["models"].items():
        if name in ("mlm", "dsem"):  # fast=True skips the samplers, and says so
            assert m == {"skipped": "skipped by --fast (a sampler family)"}
        else:
            assert set(m["effects"]["within"]) >= {XY, YX}, name
            assert m["model"] == name and m["diagnostics"]["converged"] is True
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for name in FAMILIES:
        assert f"| {name} |" in md, name
        assert family_spec(name).assumes[:40] in md
    # self-contained: every figure embedded, nothing linked
    assert html.count('src="data:image/png;base64,') == len(FIGURES)
    assert '.png"' not in html.replace('src="data:image/png', "")
    assert summary["ok"] is True and outcome.ok


@pytest.mark.slow
def test_verdict_comes_first_and_excludes_the_clpm_on_stable_traits(report, confounded):
    outcome, summary, out = report
    v = summary["verdict"]
    truth = confounded.truth.within
    assert "stable levels differ" in v["families"]["clpm"]["reasons"][0]
    for key in (XY, YX):
        d = v[key]
        assert d["answer"] in ("effect", "no effect detected", "inconclusive")
        assert "clpm" in d["excluded"] and "clpm" not in d["families"]
        assert set(d["families"]) <= set(outcome.results) | {"dowhy"}
        if d["answer"] == "effect":
            assert d["sign"] == ("negative" if truth[key] < 0 else "positive"), (key, d)
    assert v["bayesian_families_run"] is False
    md = (out / "report.md").read_text()
    assert md.index("## The answer") < md.index("## 1. The data")
    assert v[XY]["sentence"] in md and "--fast" in md


@pytest.mark.slow
def test_clpm_bias_shows_and_unbiased_families_bracket_the_truth(report, confounded):
    outcome, summary, _ = report
    truth = confounded.truth.within
    within = {n: m["effects"]["within"] for n, m in summary["models"].items() if "effects" in m}
    clpm = within["clpm"][XY]
    assert not clpm["lower"] <= truth[XY] <= clpm["upper"]
    assert clpm["est"] > 0 > truth[XY]  # the stable traits even flip its sign
    for name in ("riclpm", "dpml", "dpd"):
        for key in (XY, YX):
            e = within[name][key]
            assert e["lower"] <= truth[key] <= e["upper"], (name, key, e, truth[key])
    dowhy = summary["models"]["dowhy"]["effects"]["within"][XY]
    assert dowhy["lower"] <= truth[XY] <= dowhy["upper"]


@pytest.mark.slow
def test_effects_table_reads_the_report_back(report, confounded):
    _, summary, out = report
    truth = confounded.truth.within
    table = effects_table(out, truth=truth)
    assert list(table.columns) == [
        "family",
        "effect",
        "est",
        "lower",
        "upper",
        "converged",
        "truth",
    ]
    fitted = [n for n, m in summary["models"].items() if "effects" in m]
    assert list(dict.fromkeys(table["family"])) == fitted  # skipped: no rows; dowhy last
    assert fitted[-1] == "dowhy"
    assert "mlm" not in set(table["family"]) and table.notna().all().all()
    clpm = table[(table.family == "clpm") & (table.effect == XY)].iloc[0]
    assert clpm["est"] == summary["models"]["clpm"]["effects"]["within"][XY]["est"]
    dowhy = table[(table.family == "dowhy") & (table.effect == XY)].iloc[0]
    assert dowhy["lower"] == summary["models"]["dowhy"]["effects"]["within"][XY]["lower"]
    assert (table["truth"] == table["effect"].map(truth)).all()
    pd.testing.assert_frame_equal(effects_table(summary), effects_table(out / "summary.json"))
    assert "truth" not in effects_table(summary)
    cross = effects_table(summary, effects=[YX, XY])
    assert list(cross["effect"]) == [YX, XY] * len(fitted)
    assert list(dict.fromkeys(cross["family"])) == fitted


@pytest.mark.slow
def test_refutations_and_sensitivity_in_summary(report):
    _, summary, _ = report
    ref = pd.DataFrame(summary["refutations"])
    assert len(ref) == 6 and ref["passed"].all()
    placebo = ref[ref["refuter"].str.startswith("placebo")]
    assert (placebo["new_effect"].abs() < 0.3 * placebo["estimate"].abs()).all()
    sens = pd.DataFrame(summary["sensitivity"])
    assert set(sens["effect"]) == {XY, YX}
    assert sens["robustness_value"].between(0, 1).all()


# -- failures are reported, never dropped ---------------------------------------------------------
class Boom:
    def __init__(self, panel):
        self.panel = panel

    def fit(self):
        raise RuntimeError("the optimiser exploded")


class Stuck:
    def __init__(self, panel):
        self.panel = panel

    def fit(self, *, seed=None):
        res = ModelResults(
            model="stuck",
            n_clients=self.panel.n_clients,
            n_observations=self.panel.n_rows,
            effects={"within": {XY: Effect.from_normal(-0.1, 0.05)}},
            params=pd.DataFrame(),
            diagnostics={"converged": False, "message": "iteration limit"},
        )
        res.warn_if_not_converged("more iterations")
        return res


@pytest.fixture
def fake_families(monkeypatch):
    mod = types.ModuleType("causalrel_fake_families")
    mod.Boom, mod.Stuck = Boom, Stuck
    monkeypatch.setitem(sys.modules, "causalrel_fake_families", mod)
    monkeypatch.setitem(FAMILIES, "boom", "causalrel_fake_families:Boom")
    monkeypatch.setitem(FAMILIES, "stuck", "causalrel_fake_families:Stuck")
    monkeypatch.setitem(FAMILIES, "ghost", "causalrel_no_such_module:Ghost")


@pytest.mark.slow
def test_failed_and_unconverged_families_are_reported(fake_families, tmp_path):
    panel = simulate(80, 8, seed=2).panel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # analyze must not leak warnings either
        outcome = analyze(
            panel,
            out=tmp_path,
            fast=True,
            progress=False,
            families=["fe", "boom", "stuck", "ghost"],
        )
    assert not outcome.ok
    assert set(outcome.failures) == {"boom", "ghost"}
    assert "RuntimeError: the optimiser exploded" in outcome.failures["boom"]
    assert "ModuleNotFoundError" in outcome.failures["ghost"]
    assert outcome.not_converged == ["stuck"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"] is False
    assert summary["models"]["boom"] == {"error": outcome.failures["boom"]}
    assert summary["models"]["stuck"]["diagnostics"]["converged"] is False
    assert "effects" in summary["models"]["fe"]
    assert any("ConvergenceWarning" in w and "stuck" in w for w in summary["warnings"])
    md = (tmp_path / "report.md").read_text()
    assert "**boom FAILED**: RuntimeError: the optimiser exploded" in md
    assert "**ghost FAILED**" in md and "**stuck did not converge**" in md
    assert "| boom | – | – | FAILED |" in md


@pytest.mark.slow
def test_cli_exit_status(monkeypatch, fake_families, tmp_path):
    csv = tmp_path / "d.csv"
    simulate(60, 6, seed=4).data.to_csv(csv, index=False)
    monkeypatch.setattr("causalrel.families.FAMILIES", {"fe": FAMILIES["fe"]})
    assert main(["analyze", str(csv), "--out", str(tmp_path / "ok"), "--fast"]) == 0
    monkeypatch.setattr(
        "causalrel.families.FAMILIES", {"fe": FAMILIES["fe"], "boom": FAMILIES["boom"]}
    )
    assert main(["analyze", str(csv), "--out", str(tmp_path / "bad"), "--fast"]) == 1
    assert json.loads((tmp_path / "bad" / "summary.json").read_text())["failed"]["boom"]


def test_bad_arguments(tmp_path, small_sim):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError, match="is a file"):
        analyze(small_sim.panel(), out=f, progress=False)
    with pytest.raises(DataError, match="Unknown family nope"):
        analyze(small_sim.panel(), out=tmp_path / "o", families=["fe", "nope"], progress=False)


def test_sampler_options_defaults_and_user_override(small_sim, tmp_path):
    opts = _family_options("dsem", 5, {})
    defaults = DSEM.analyze_options
    assert {k: opts[k] for k in defaults} == defaults and opts["seed"] == 5
    assert _family_options("dsem", 5, {"draws": 50})["draws"] == 50
    assert "draws" not in _family_options("fe", 5, {})  # only options a family accepts
    # analyze's trend setting reaches the DSEM (latent trends by default), and only the DSEM
    assert opts["time"] == "client" and "detrend" not in opts
    assert _family_options("dsem", 5, {}, trend="detrend")["detrend"] is True
    assert _family_options("dsem", 5, {}, trend="none")["time"] == "none"  # not the default
    assert "time" not in _family_options("mlm", 5, {}) and "detrend" not in _family_options(
        "mlm", 5, {}, trend="detrend"
    )
    assert _family_options("dsem", 5, {"time": "none"})["time"] == "none"  # the user wins
    with pytest.raises(DataError, match="trend must be one of"):
        analyze(small_sim.panel(), out=tmp_path / "t", trend="cubic", progress=False)


def test_rci_must_be_positive(tmp_path, small_sim, capsys):
    f = tmp_path / "s.csv"
    small_sim.data.to_csv(f, index=False)
    assert main(["analyze", str(f), "--out", str(tmp_path / "r"), "--fast", "--rci", "-6"]) == 2
    assert "--rci must be a positive number of symptoms points" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::causalrel.data.DataWarning")
def test_rci_gives_the_effect_as_a_share_of_the_threshold(tmp_path, small_sim):
    f = tmp_path / "s.csv"
    small_sim.data.to_csv(f, index=False)
    main(["analyze", str(f), "--out", str(tmp_path / "r"), "--fast", "--rci", "6"])
    v = json.loads((tmp_path / "r" / "summary.json").read_text())["verdict"]
    xy = v["alliance->symptoms"]
    assert xy["rci_share"] == pytest.approx(abs(xy["per_within_sd"]) / 6)
    assert v["symptoms->alliance"]["rci_share"] is None  # the threshold is the outcome's


class Markup:
    def __init__(self, panel):
        self.panel = panel

    def fit(self):
        raise RuntimeError('<script>alert("x")</script> & <b>bold</b>')


@pytest.mark.slow
def test_report_html_escapes_what_it_quotes(monkeypatch, tmp_path):
    """Messages, names and table cells go into report.html as text, never as markup."""
    mod = types.ModuleType("causalrel_markup_family")
    mod.Markup = Markup
    monkeypatch.setitem(sys.modules, "causalrel_markup_family", mod)
    monkeypatch.setitem(FAMILIES, "<i>markup</i>", "causalrel_markup_family:Markup")
    panel = simulate(40, 6, seed=5).panel()
    analyze(panel, out=tmp_path, fast=True, progress=False, families=["fe", "<i>markup</i>"])
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page and "<i>markup</i>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;i&gt;markup&lt;/i&gt;" in page


@pytest.mark.slow
def test_full_run_fits_and_counts_the_bayesian_families(tmp_path):
    """Without ``fast`` the MLM is fitted (with the user's sampler settings) and in the verdict."""
    sim = simulate(100, 15, cross=(-0.3, -0.1), seed=8)  # T=15: small Nickell bias
    analyze(
        sim.panel(),
        out=tmp_path,
        seed=2,
        progress=False,
        families=["fe", "riclpm", "mlm"],
        options={"mlm": {"draws": 2000, "tune": 1000, "chains": 2}},
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"]["bayesian_families_run"] is True
    mlm = summary["models"]["mlm"]
    assert mlm["diagnostics"]["converged"] is True, mlm["diagnostics"]
    assert (mlm["diagnostics"]["chains"], mlm["diagnostics"]["draws"]) == (2, 2000)
    for key in (XY, YX):
        e, true = mlm["effects"]["within"][key], sim.truth.within[key]
        assert e["lower"] < true < e["upper"], (key, e, true)
    counted = summary["verdict"][XY]
    assert "mlm" in counted["families"] or "mlm" in counted["excluded"]
    md = (tmp_path / "report.md").read_text()
    assert "were not fitted" not in md and "| mlm |" in md
