"""Fixed effects with standard errors clustered by therapist (``cluster="therapist"``, the
option the SEM families share) agree with R: plm's within estimates and
``sandwich::vcovCL(type = "HC0", cadjust = FALSE)`` on the equivalent dummy-variable
regression (fixture by tests/reference/plm/plm_cluster.R). Tolerances: estimates 1e-6, SEs 1e-4
relative (measured: both below 1e-8)."""

import json

import numpy as np
import pytest

from causalrel.data import DataError, load_panel
from causalrel.panel import FixedEffects
from causalrel.panel.design import lag_name

from .conftest import FIXTURES

REF = json.loads((FIXTURES["plm"] / "plm_cluster.json").read_text())


@pytest.fixture(scope="module")
def panel():
    return load_panel(FIXTURES["lavaan"] / "lavaan_data_cluster.csv", warn=False)


def test_fe_clustered_by_therapist_matches_r(panel):
    res = FixedEffects(panel).fit(cluster="therapist")
    by_client = FixedEffects(panel).fit()
    for outcome in ("symptoms", "alliance"):
        eq, ref = res.engine[outcome], REF[outcome]
        names = [lag_name("alliance"), lag_name("symptoms")]
        np.testing.assert_allclose(eq.params[names], ref["est"], atol=1e-6)
        np.testing.assert_allclose(ref["est"], ref["est_plm"], atol=1e-8)
        np.testing.assert_allclose(eq.std_errors[names], ref["se"], rtol=1e-4)
        assert eq.nobs == ref["nobs"]
        # a different computation from clustering by client
        other = by_client.engine[outcome].std_errors[names]
        assert np.abs(eq.std_errors[names] / other - 1).max() > 0.05
    assert any("clustered by therapist" in n for n in res.notes)


def test_fe_cluster_bad_input(panel):
    with pytest.raises(DataError, match="not a column"):
        FixedEffects(panel).fit(cluster="nurse")
    with pytest.raises(DataError, match="needs cov_type='clustered'"):
        FixedEffects(panel).fit(cluster="therapist", cov_type="robust")
