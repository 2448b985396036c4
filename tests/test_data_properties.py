"""Property tests of the data layer and of the estimators, with assertions that are reached.

- Arbitrary tables: the data layer fails only with :class:`DataError` (never a bare
  ``KeyError``/``TypeError``), and a table it accepts keeps every row.
- Valid and valid-but-awkward panels (string ids, unsorted rows, skipped sessions, missing
  ratings): every generated panel is accepted (the accepted share is asserted, so the checks
  below cannot pass vacuously), no row is lost or altered, lags never cross a skipped session,
  and the long -> wide -> long round trip is exact.
- Estimator invariances (fe and riclpm, few examples): row order and client-id relabelling do
  not change the estimates; an affine rescaling ``x -> a x + b`` of the alliance multiplies the
  alliance -> symptoms effect by ``1 / a`` and the symptoms -> alliance effect by ``a`` and
  leaves the autoregressions unchanged.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalrel import load_panel
from causalrel.data import DataError, DataWarning
from causalrel.families import fit_model
from causalrel.simulate import simulate

XY, YX, XX, YY = (
    "alliance->symptoms",
    "symptoms->alliance",
    "alliance->alliance",
    "symptoms->symptoms",
)

cell = st.one_of(
    st.none(),
    st.integers(-3, 30),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(max_size=4),
    st.booleans(),
)
names = st.sampled_from(["client", "session", "alliance", "symptoms", "other", ""])


@st.composite
def tables(draw):
    cols = draw(st.lists(names, min_size=0, max_size=6, unique=True))
    n = draw(st.integers(0, 12))
    return pd.DataFrame({c: draw(st.lists(cell, min_size=n, max_size=n)) for c in cols})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_load_panel_raises_only_data_error(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        try:
            p = load_panel(df)
        except DataError as exc:
            assert str(exc)
            return
    assert p.n_rows == len(df)  # nothing dropped silently
    assert p.data[p.session].min() >= 1


@st.composite
def awkward_panels(draw):
    """A valid long table: 2-6 clients, each with >= 2 sessions out of 1..8 (gaps allowed),
    int or string ids, missing ratings (never all of a column), rows in random order."""
    n_clients = draw(st.integers(2, 6))
    string_ids = draw(st.booleans())
    rows = []
    for i in range(n_clients):
        sessions = draw(st.lists(st.integers(1, 8), min_size=2, max_size=8, unique=True))
        cid = f"c-{i:02d}" if string_ids else 10 * i + 7
        for s in sessions:
            x = draw(st.one_of(st.none(), st.floats(0, 5, allow_nan=False)))
            y = draw(st.one_of(st.none(), st.floats(0, 40, allow_nan=False)))
            rows.append((cid, s, x, y))
    df = pd.DataFrame(rows, columns=["client", "session", "alliance", "symptoms"])
    df[["alliance", "symptoms"]] = df[["alliance", "symptoms"]].astype(float)
    # two fixed, distinct ratings so no column is empty or constant
    df.loc[0, ["alliance", "symptoms"]] = [1.0, 10.0]
    df.loc[1, ["alliance", "symptoms"]] = [4.0, 30.0]
    order = draw(st.permutations(range(len(df))))
    return df.iloc[list(order)].reset_index(drop=True)


@pytest.mark.slow
def test_awkward_valid_panels_are_accepted_whole():
    seen = {"total": 0, "accepted": 0}

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(awkward_panels())
    def check(df):
        seen["total"] += 1
        p = load_panel(df, warn=False)
        seen["accepted"] += 1
        assert p.n_rows == len(df)
        # same (client, session) -> (alliance, symptoms) mapping, now sorted
        key = ["client", "session"]
        a = df.sort_values(key).reset_index(drop=True)
        b = p.data[["client", "session", "alliance", "symptoms"]]
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
        assert b.set_index(key).index.is_monotonic_increasing
        # a lag is the value at session - 1 of the same client, or missing across a gap
        lag = p.lagged()
        value = {
            (c, t): v for c, t, v in zip(b["client"], b["session"], b["alliance"], strict=True)
        }
        for c, t, got in zip(lag["client"], lag["session"], lag["alliance_lag1"], strict=True):
            want = value.get((c, t - 1), np.nan)
            assert got == want or (np.isnan(got) and np.isnan(want)), (c, t, got, want)
        lookup = b.set_index(key)
        # long -> wide -> long is exact
        back = p.wide().stack("wave", future_stack=True).dropna(how="all")
        back.index = back.index.set_names(["client", "session"])
        observed = lookup[["alliance", "symptoms"]].dropna(how="all")
        pd.testing.assert_frame_equal(
            back[["alliance", "symptoms"]].sort_index(),
            observed.sort_index(),
            check_names=False,
            check_dtype=False,
        )

    check()
    # every generated panel is valid: the checks above ran on all of them
    assert seen["total"] >= 40 and seen["accepted"] == seen["total"], seen


# -- estimator invariances ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_data():
    return simulate(60, 5, mcar=0.05, seed=31).data


def _effects(model, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        panel = load_panel(data)
    return fit_model(model, panel, **kw).effects["within"]


_BASE: dict = {}


def _base(model, data):
    if model not in _BASE:
        _BASE[model] = _effects(model, data)
    return _BASE[model]


FAST = settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TOL = {"fe": 1e-8, "riclpm": 1e-4}  # riclpm: the optimiser's convergence tolerance


@pytest.mark.parametrize("model", ["fe", "riclpm"])
@FAST
@given(seed=st.integers(0, 2**31 - 1))
def test_row_order_and_id_relabelling_do_not_change_estimates(base_data, model, seed):
    rng = np.random.default_rng(seed)
    ids = base_data["client"].unique()
    relabel = dict(zip(ids, [f"id{v:04d}" for v in rng.permutation(len(ids))], strict=True))
    data = base_data.assign(client=base_data["client"].map(relabel))
    data = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
    ref, new = _base(model, base_data), _effects(model, data)
    for k in (XY, YX, XX, YY):
        assert new[k].est == pytest.approx(ref[k].est, rel=TOL[model], abs=TOL[model]), k
        assert new[k].se == pytest.approx(ref[k].se, rel=10 * TOL[model], abs=TOL[model]), k


@pytest.mark.parametrize("model", ["fe", "riclpm"])
@FAST
@given(a=st.floats(0.2, 5.0), b=st.floats(-10, 10), sign=st.sampled_from([1.0, -1.0]))
def test_affine_rescaling_scales_the_lagged_effects(base_data, model, a, b, sign):
    a = sign * a
    data = base_data.assign(alliance=a * base_data["alliance"] + b)
    ref, new = _base(model, base_data), _effects(model, data)
    tol = dict(rel=10 * TOL[model], abs=TOL[model])
    assert new[XY].est == pytest.approx(ref[XY].est / a, **tol)
    assert new[YX].est == pytest.approx(ref[YX].est * a, **tol)
    assert new[XX].est == pytest.approx(ref[XX].est, **tol)
    assert new[YY].est == pytest.approx(ref[YY].est, **tol)
    assert new[XY].se == pytest.approx(ref[XY].se / abs(a), rel=100 * TOL[model])
