"""Property test: the data layer never fails with anything but DataError on arbitrary tables."""

import warnings

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalrel.data import DataError, load_panel

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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_load_panel_raises_only_data_error(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p = load_panel(df)
        except DataError as exc:
            assert str(exc)
            return
    assert p.n_rows == len(df)  # nothing dropped silently
    assert p.data[p.session].min() >= 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(1, 6), st.floats(0, 5), st.floats(0, 40)),
        min_size=1,
        max_size=20,
    )
)
def test_valid_looking_tables_keep_every_row(rows):
    df = pd.DataFrame(rows, columns=["client", "session", "alliance", "symptoms"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p = load_panel(df)
        except DataError:
            return
    assert p.n_rows == len(df.drop_duplicates(["client", "session"]))
