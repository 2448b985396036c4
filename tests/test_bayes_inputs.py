"""The R references fit today's model: the MLM's design and priors equal the committed brms and
lme4 inputs (tests/reference/brms/make_bayes_fixtures.py wrote them from the MLM of the day). A
change to the centring, the lags, the predictors or the data-scaled default priors fails here,
without sampling, instead of silently comparing a new model with an old reference."""

import json

import pandas as pd
import pytest

from causalrel import load_panel
from causalrel.bayes import MLM

from .conftest import FIXTURES
from .reference.brms.make_bayes_fixtures import priors_record


@pytest.mark.parametrize(
    "prefix,data,therapist",
    [("brms_mlm", "brms_mlm_data.csv", False), ("mlm_therapist", "mlm_therapist_data.csv", True)],
)
def test_mlm_design_and_priors_equal_the_committed_reference_inputs(prefix, data, therapist):
    panel = load_panel(
        FIXTURES["brms"] / data, therapist="therapist" if therapist else None, warn=False
    )
    model = MLM(panel, therapist=therapist)
    assert set(model.eqs) == {"symptoms", "alliance"}
    for out, frame in model.eqs.items():
        ref = pd.read_csv(FIXTURES["brms"] / f"{prefix}_design_{out}.csv")
        ours = frame.reset_index(drop=True)
        assert list(ours.columns) == list(ref.columns), out
        pd.testing.assert_frame_equal(ours, ref, check_dtype=False, rtol=1e-12, atol=1e-12)
    ref_priors = json.loads((FIXTURES["brms"] / f"{prefix}_priors.json").read_text())
    ours = priors_record(model)
    assert ours.keys() == ref_priors.keys()
    for out in ours:
        assert ours[out].keys() == ref_priors[out].keys(), out
        for k, v in ours[out].items():
            assert _equal(v, ref_priors[out][k]), (out, k, v, ref_priors[out][k])


def _equal(a, b):
    if isinstance(a, str):
        return a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == pytest.approx(b, rel=1e-12)
