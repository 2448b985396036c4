"""The APA results template reads summary.json's verdict and data and nothing else."""

from __future__ import annotations

import json

from causalrel.report.apa import results_paragraph, results_table
from causalrel.results import Effect, ModelResults
from causalrel.verdict import verdict

X, Y = "alliance", "symptoms"


def fam(as_, sa, ar=(0.3, 0.05)):
    w = {
        f"{X}->{Y}": Effect.from_normal(*as_),
        f"{Y}->{X}": Effect.from_normal(*sa),
        f"{X}->{X}": Effect.from_normal(*ar),
        f"{Y}->{Y}": Effect.from_normal(*ar),
    }
    return ModelResults("m", 300, 3000, {"within": w}, params=None)


def summary(tmp_path):
    results = {
        "riclpm": fam((-1.0, 0.2), (-0.01, 0.02)),
        "dpml": fam((-0.8, 0.2), (0.01, 0.02)),
        "fe": fam((-2.0, 0.1), (-0.02, 0.01), ar=(0.1, 0.01)),
    }
    ctx = {"median_sessions": 10, "random_intercepts_p": 0.001}
    v = verdict(results, x=X, y=Y, context=ctx, within_sd={X: 0.5, Y: 4.0})
    v["bayesian_families_run"] = False
    data = {
        "n_clients": 300,
        "n_rows": 3000,
        "n_therapists": 20,
        "sessions": {"median_per_client": 10},
        "variables": {
            X: {"missing_share": 0.05, "sd_within": 0.5},
            Y: {"missing_share": 0.1, "sd_within": 4.0},
        },
    }
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"verdict": v, "data": data}))
    return path, v


def test_paragraph_states_sample_missingness_exclusions_and_each_direction(tmp_path):
    path, v = summary(tmp_path)
    text = results_paragraph(path, labels={Y: "distress"})
    assert "300 clients with 3000 rated sessions" in text and "20 therapists" in text
    assert "10.0% of distress ratings" in text
    assert "fe (Nickell bias" in text  # the excluded family and its reason
    assert "predicted lower distress at the next session" in text
    assert "median b = \u22120.90" in text and "across 2 credible specifications" in text
    assert f"\u03b2 = \u2212{abs(v['alliance->symptoms']['standardized']):.2f}" in text
    assert "No within-client effect of distress on next-session alliance" in text
    assert "long-run effect" in text and "not run" in text


def test_table_has_every_family_and_direction_with_its_status(tmp_path):
    path, _ = summary(tmp_path)
    t = results_table(path)
    assert len(t) == 6 and set(t["family"]) == {"riclpm", "dpml", "fe"}
    fe = t[(t.family == "fe") & (t.effect == f"{X}->{Y}")].iloc[0]
    assert fe["counts"] == "no" and "Nickell" in fe["why not"]
    assert fe["beta_w"] == -2.0 * 0.5 / 4.0
    assert fe["95% CI"].startswith("[\u22122.20")
