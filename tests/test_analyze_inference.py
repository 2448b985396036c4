"""``analyze`` chooses the standard errors from the data (causalrel.report.inference): MLR for
the SEM families when a score is clearly non-normal (|skew| > 2 or excess kurtosis > 7, raw or
within-client; Curran, West & Finch 1996), clustering by therapist in every family with a
``cluster`` option when the data name a therapist column; the report says the rule, the
measured skewness and kurtosis and the decision, and the user's options win.

The skewness and kurtosis are checked against pandas' own bias-adjusted ``skew``/``kurt``
(a separate implementation from scipy's, used by the module).
"""

import json

import numpy as np
import pandas as pd
import pytest

from causalrel.data import load_panel
from causalrel.report import analyze
from causalrel.report.inference import (
    KURTOSIS_LIMIT,
    SKEW_LIMIT,
    choose_inference,
    normality,
)
from causalrel.simulate import simulate

from .conftest import FIXTURES


def _panel(data: pd.DataFrame, **kw):
    return load_panel(data, warn=False, **kw)


@pytest.fixture(scope="module")
def normal_sim():
    return simulate(150, 6, n_therapists=15, seed=21)


@pytest.fixture(scope="module")
def skewed_data(normal_sim):
    d = normal_sim.data.copy()
    d["symptoms"] = np.exp(0.9 * d["symptoms"])  # lognormal-like, clearly skewed
    return d


def test_measures_equal_pandas_bias_adjusted_moments(skewed_data):
    p = _panel(skewed_data)
    m = normality(p).set_index(["variable", "scores"])
    d = skewed_data
    for v in ("alliance", "symptoms"):
        raw = d[v] - d.groupby("session")[v].transform("mean")
        within = d[v] - d.groupby("client")[v].transform("mean")
        for kind, s in (("raw (session-centred)", raw), ("within-client", within)):
            row = m.loc[(v, kind)]
            assert row["n"] == s.notna().sum()
            assert row["skew"] == pytest.approx(s.skew(), rel=1e-9)
            assert row["kurtosis"] == pytest.approx(s.kurt(), rel=1e-9)


def test_normal_scores_keep_ml_and_skewed_scores_get_mlr(normal_sim, skewed_data):
    normal = choose_inference(_panel(normal_sim.data))
    assert normal.estimator == "ml" and normal.cluster is None
    assert not normal.measures["clearly non-normal"].any()
    assert normal.reason.startswith("ML: no score is clearly non-normal")
    skewed = choose_inference(_panel(skewed_data))
    assert skewed.estimator == "mlr"
    m = skewed.measures.set_index(["variable", "scores"])
    # exp() of a normal score: the raw scores stay under both limits here, while the
    # within-client deviations (the part the within-client models see) are heavy-tailed
    raw, within = m.loc[("symptoms", "raw (session-centred)")], m.loc[("symptoms", "within-client")]
    assert raw["kurtosis"] < KURTOSIS_LIMIT and abs(raw["skew"]) < SKEW_LIMIT
    assert not raw["clearly non-normal"]
    assert within["kurtosis"] > KURTOSIS_LIMIT and within["clearly non-normal"]
    assert "symptoms within-client: skew" in skewed.reason
    assert "raw" not in skewed.reason
    assert skewed.measures.query("variable == 'alliance'")["clearly non-normal"].sum() == 0


def test_thresholds_are_strict_and_either_one_suffices():
    """Scores on either side of each limit, each limit flagging on its own."""
    rng = np.random.default_rng(4)
    n = 4000

    def data(values):
        v = np.asarray(values)
        return pd.DataFrame(
            {
                "client": np.repeat(np.arange(n // 2), 2),
                "session": np.tile([1, 2], n // 2),
                "alliance": rng.normal(size=n),
                "symptoms": v,
            }
        )

    def raw(values):
        m = normality(_panel(data(values)))
        return m.query("variable == 'symptoms' and scores == 'raw (session-centred)'").iloc[0]

    # symmetric and heavy-tailed: a normal with 5% of values from a 5x wider normal has excess
    # kurtosis about 17 (flagged by kurtosis alone); a Laplace score has 3 (not flagged)
    wide = np.where(rng.random(n) < 0.05, 5.0, 1.0) * rng.normal(size=n)
    k = raw(wide)
    assert k["kurtosis"] > KURTOSIS_LIMIT and abs(k["skew"]) < SKEW_LIMIT
    assert k["clearly non-normal"]
    k = raw(rng.laplace(size=n))
    assert k["kurtosis"] < KURTOSIS_LIMIT and not k["clearly non-normal"]
    # skewed without extreme kurtosis: a 0/1 score with 10% ones has skew about 2.7 and excess
    # kurtosis about 5.1 (flagged by skewness alone); chi-square(8) has skew 1 (not flagged)
    k = raw((rng.random(n) < 0.1).astype(float))
    assert k["skew"] > SKEW_LIMIT and k["kurtosis"] < KURTOSIS_LIMIT and k["clearly non-normal"]
    k = raw(rng.chisquare(8, size=n))
    assert k["skew"] < SKEW_LIMIT and not k["clearly non-normal"]


def test_therapist_column_clusters_and_makes_sem_mlr(normal_sim):
    inf = choose_inference(_panel(normal_sim.data, therapist="therapist"))
    assert inf.estimator == "ml" and inf.cluster == "therapist"
    assert "clustered by therapist" in inf.reason and "means MLR" in inf.reason
    sem = inf.options({"estimator", "cluster", "seed"})
    assert sem == {"estimator": "mlr", "cluster": "therapist"}
    assert inf.options({"cluster", "method"}) == {"cluster": "therapist"}  # fe, dpd
    assert inf.options({"seed"}) == {}  # a family without the options gets none
    one = normal_sim.data.assign(therapist=7)
    inf = choose_inference(_panel(one, therapist="therapist"))
    assert inf.cluster is None and "Not clustered: the data have a single therapist" in inf.reason


@pytest.mark.slow  # about 8 s: the RI-CLPM (and its time="client" refit), fe and dpd
@pytest.mark.filterwarnings("ignore::causalrel.data.DataWarning")
def test_analyze_applies_and_reports_the_choice(tmp_path):
    """The skewed, therapist-nested panel of the lavaan MLR fixture: analyze fits the RI-CLPM
    with MLR clustered by therapist and fe/dpd clustered by therapist, equal to fitting them so
    by hand, and the report states the rule, the numbers and the decision."""
    panel = load_panel(
        FIXTURES["lavaan"] / "lavaan_data_cluster.csv", therapist="therapist", warn=False
    )
    out = analyze(panel, out=tmp_path, families=["riclpm", "fe", "dpd"], progress=False)
    assert not out.failures, out.failures
    s = json.loads((tmp_path / "summary.json").read_text())
    inf = s["settings"]["inference"]
    assert inf["estimator"] == "mlr" and inf["cluster"] == "therapist"
    assert s["settings"]["family_inference"] == {
        "riclpm": {"estimator": "mlr", "cluster": "therapist"},
        "fe": {"cluster": "therapist"},
        "dpd": {"cluster": "therapist"},
    }
    ri = out.results["riclpm"]
    assert ri.diagnostics["estimator"] == "mlr" and ri.diagnostics["cluster"] == "therapist"
    from causalrel.families import fit_model

    for name, opts in s["settings"]["family_inference"].items():
        by_hand = fit_model(name, panel, **opts)
        for key, e in by_hand.effects["within"].items():
            assert out.results[name].effects["within"][key].se == pytest.approx(e.se, rel=1e-9)
    md = (tmp_path / "report.md").read_text()
    assert "Standard errors: normality and clustering" in md
    assert "Curran, West & Finch (1996)" in md and "MLR: the scores are clearly non-normal" in md
    sk = [r for r in inf["measures"] if r["variable"] == "symptoms"][0]["skew"]
    assert f"{sk:.3g}"[:4] in md or f"{sk:.2f}" in md  # the measured skewness is printed
    assert "clustered by therapist" in md


def test_user_options_override_the_choice(tmp_path, skewed_data):
    panel = _panel(skewed_data, therapist="therapist")
    out = analyze(
        panel,
        out=tmp_path,
        families=["riclpm", "fe"],
        progress=False,
        options={"riclpm": {"estimator": "ml", "cluster": None}, "fe": {"cluster": None}},
    )
    assert not out.failures, out.failures
    assert out.results["riclpm"].diagnostics["estimator"] == "ml"
    assert out.settings["family_inference"]["fe"] == {"cluster": None}
    assert not any("clustered by therapist" in n for n in out.results["fe"].notes)


def test_analyze_fits_the_sem_with_mlr_on_skewed_scores(tmp_path, skewed_data):
    out = analyze(_panel(skewed_data), out=tmp_path, families=["clpm"], progress=False)
    assert not out.failures, out.failures
    assert out.settings["inference"]["estimator"] == "mlr"
    assert out.settings["family_inference"] == {"clpm": {"estimator": "mlr"}}
    res = out.results["clpm"]
    assert res.diagnostics["estimator"] == "mlr" and res.diagnostics["cluster"] is None
    assert "chisq.scaled" in res.fit
    md = (tmp_path / "report.md").read_text()
    assert "Decision: MLR: the scores are clearly non-normal" in md
    assert "- clpm: estimator=mlr" in md


def test_user_choice_wins_over_the_rule(normal_sim, skewed_data):
    """analyze(estimator=..., cluster=...): the user's choice, recorded as the user's."""
    from causalrel.data import DataError

    skewed = _panel(skewed_data, therapist="therapist")
    inf = choose_inference(skewed, estimator="ml")
    assert inf.estimator == "ml" and inf.chosen_by == {"estimator": "user", "cluster": "rule"}
    assert inf.reason.startswith("ML: chosen by the user (estimator='ml'); the rule alone")
    assert "would give MLR: the scores are clearly non-normal" in inf.reason
    # the user's ML wins over the automatic cluster for the SEM families only
    assert inf.options({"estimator", "cluster"}) == {"estimator": "ml"}
    assert inf.options({"cluster"}) == {"cluster": "therapist"}
    assert "except the SEM families: the user chose ML" in inf.reason
    inf = choose_inference(skewed, cluster="none")
    assert inf.cluster is None and inf.estimator == "mlr"
    assert inf.options({"estimator", "cluster"}) == {"estimator": "mlr"}
    assert "the user chose cluster='none'" in inf.reason
    normal = _panel(normal_sim.data)  # no therapist column declared: cluster by a named one
    inf = choose_inference(normal, cluster="therapist", estimator="mlr")
    assert inf.cluster == "therapist" and inf.chosen_by["cluster"] == "user"
    assert inf.options({"estimator", "cluster"}) == {"estimator": "mlr", "cluster": "therapist"}
    assert "clustered by therapist (chosen by the user)" in inf.reason
    assert choose_inference(normal, cluster="therapist").options({"estimator", "cluster"}) == {
        "estimator": "mlr",
        "cluster": "therapist",
    }
    with pytest.raises(DataError, match="estimator must be 'ml' or 'mlr'"):
        choose_inference(normal, estimator="wls")
    with pytest.raises(DataError, match="not a column"):
        choose_inference(normal, cluster="nurse")
    with pytest.raises(DataError, match="needs MLR|MLR's"):
        choose_inference(normal, cluster="therapist", estimator="ml")
    bad = normal_sim.data.assign(site=np.arange(len(normal_sim.data)) % 3)
    with pytest.raises(DataError, match="constant|changes|differ"):
        choose_inference(_panel(bad), cluster="site")
