"""causalrel.panel: bad input, counts of what was left out, lags by session number, the contract."""

import json

import numpy as np
import pandas as pd
import pytest

from causalrel import DataError, fit_model, load_panel
from causalrel.panel import DynamicPanel, FixedEffects
from causalrel.panel.design import difference_design
from causalrel.simulate import simulate


def _panel(rows):
    frame = pd.DataFrame(rows, columns=["client", "session", "alliance", "symptoms"])
    return load_panel(frame, warn=False)


def _random_rows(sessions_of, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (c, s, rng.normal(), rng.normal()) for c, sessions in sessions_of.items() for s in sessions
    ]


def test_dpd_with_too_few_sessions_per_client_says_how_many_clients_could_be_used():
    panel = _panel(_random_rows({c: [1, 2] for c in range(30)}))
    with pytest.raises(DataError, match=r"three consecutive sessions.*0 of 30 clients"):
        fit_model("dpd", panel)
    # one lagged pair per client leaves nothing within clients for the fixed-effects model
    with pytest.raises(DataError, match=r"30 of 30 clients have one usable row and none has two"):
        fit_model("fe", panel)
    # with three sessions it works
    panel = _panel(_random_rows({c: [1, 2, 3] for c in range(30)}))
    assert fit_model("fe", panel).n_observations == 60


def test_all_lags_missing_because_of_gaps_is_a_clear_error():
    # every client attends every other session: no session has its previous one
    panel = _panel(_random_rows({c: [1, 3, 5, 7] for c in range(25)}))
    with pytest.raises(DataError, match=r"0 of 25 clients have such a row.*0 have 2 consecutive"):
        fit_model("fe", panel)
    with pytest.raises(DataError, match=r"0 of 25 clients"):
        fit_model("dpd", panel)


def test_dpd_error_counts_clients_with_three_consecutive_sessions():
    rows = _random_rows({c: [1, 2, 4, 5] for c in range(20)})
    rows += _random_rows({100: [1, 2, 3]}, seed=1)  # one usable client is not enough
    with pytest.raises(DataError, match=r"1 of 21 clients.*1 have 3 consecutive"):
        fit_model("dpd", _panel(rows))


def test_two_step_with_more_instruments_than_clients_suggests_collapsing():
    panel = simulate(40, 15, seed=2).panel()
    with pytest.raises(DataError, match=r"collapse=True"):
        fit_model("dpd", panel, collapse=False)
    res = fit_model("dpd", panel, collapse=False, method="one-step")  # one-step needs no Ω^-1
    assert any("instruments for" in n for n in res.notes)
    assert fit_model("dpd", panel).fit["n_instruments.symptoms"] < 40  # collapsed default


def test_bad_options_are_data_errors():
    panel = simulate(50, 6, seed=1).panel()
    with pytest.raises(DataError, match="method"):
        fit_model("dpd", panel, method="three-step")
    with pytest.raises(DataError, match="cause_type"):
        DynamicPanel(panel, cause_type="weird")
    with pytest.raises(DataError, match="max_lag"):
        fit_model("dpd", panel, max_lag=1)
    with pytest.raises(DataError, match="cov_type"):
        FixedEffects(panel).fit(cov_type="bootstrap")
    with pytest.raises(DataError, match="does not apply"):
        fit_model("fe", panel, collapse=True)


def test_lags_are_by_session_number_and_exclusions_are_counted():
    rows = [
        # client 1: sessions 1 2 3 5 6 -> lagged pairs (2,1) (3,2) (6,5); 5 follows a gap
        (1, 1, 1.0, 5.0), (1, 2, 2.0, 4.0), (1, 3, 2.5, 4.5), (1, 5, 3.0, 3.3), (1, 6, 3.5, 2.0),
        # client 2: sessions 1 2 3 4, symptoms missing at 3 -> pairs (2,1) (4,3 lacks lag y)
        (2, 1, 1.0, 6.0), (2, 2, 1.5, 5.5), (2, 3, 2.0, np.nan), (2, 4, 2.2, 5.0),
        # client 3: one session
        (3, 1, 2.0, 2.0),
    ]  # fmt: skip
    panel = _panel(rows)
    # two usable clients: too few for SEs clustered by client (refused), so unclustered ones
    res = fit_model("fe", panel, cov_type="unadjusted")
    eq = res.engine["symptoms"]
    used = sorted(eq.model.dependent.index.tolist())
    assert used == [(1, 2), (1, 3), (1, 6), (2, 2)]
    # client 1's session 5 follows a gap, client 2's session 4 lacks the lagged symptoms (both
    # equations); client 2's session 3 has no symptoms (the symptoms equation only)
    assert res.excluded == {
        "clients.too_few_sessions": 1,
        "rows.first_session": 3,
        "rows.previous_session_missing": 2,
        "rows.missing_rating:symptoms": 1,
    }
    # the within estimator by hand on those rows: demean by client, least squares
    d = panel.lagged().set_index(["client", "session"]).loc[used]
    cols = ["symptoms", "alliance_lag1", "symptoms_lag1"]
    dm = d[cols] - d.groupby(level=0)[cols].transform("mean")
    beta = np.linalg.lstsq(dm[cols[1:]].to_numpy(), dm["symptoms"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(eq.params.to_numpy(), beta, atol=1e-10)


def test_difference_design_uses_session_numbers_and_zero_fills_missing_instruments():
    # clients 0..29 attend sessions 1-5, clients 30..59 sessions 1, 2, 3, 5, 6, 7
    sessions = {c: [1, 2, 3, 4, 5] if c < 30 else [1, 2, 3, 5, 6, 7] for c in range(60)}
    rows = _random_rows(sessions, seed=3)
    rows[1] = (0, 2, np.nan, rows[1][3])  # alliance missing at session 2 of client 0
    panel = _panel(rows)
    d = difference_design(panel, "symptoms", "alliance", collapse=False)
    got = pd.DataFrame({"g": d.groups, "t": d.session})
    # client 0: t=3 and t=4 need alliance_2 (in Δalliance_{t-1}) -> only t=5 is used
    assert got[got.g == 0].t.tolist() == [5]
    # clients 1..29: t = 3, 4, 5; clients 30..: t=5 and t=6 lack session 4 -> t = 3, 7
    assert got[got.g == 1].t.tolist() == [3, 4, 5]
    assert got[got.g == 30].t.tolist() == [3, 7]
    a = panel.data.set_index(["client", "session"])
    z = pd.DataFrame(d.Z, columns=d.z_names)
    # row (client 0, t=5): alliance instruments are sessions 1..3; session 2 is missing -> 0
    assert z.loc[0, "alliance[1]@5"] == a.loc[(0, 1), "alliance"]
    assert z.loc[0, "alliance[2]@5"] == 0.0
    assert z.loc[0, "symptoms[3]@5"] == a.loc[(0, 3), "symptoms"]
    assert z.loc[0, "symptoms[1]@3"] == 0.0  # instruments of other sessions are zero
    # clients 30.. never attend session 4: its t=7 instruments are zero in every used row;
    # no row has t=6 (clients 0..29 stop at 5; the others lack session 4): 2 + 2 * 4 columns
    # without data are dropped
    assert "symptoms[4]@7" not in d.z_names and "symptoms[5]@7" in d.z_names
    assert not any(n.endswith("@6") for n in d.z_names)
    assert d.dropped_instruments == 10
    nb1, nb4 = d.neighbour(1), d.neighbour(4)
    first30 = int(np.flatnonzero(d.groups == 30)[0])
    assert nb1[0] == -1 and nb1[2] == 1 and nb1[first30 + 1] == -1
    assert nb4[first30 + 1] == first30


def test_results_follow_the_contract():
    panel = simulate(150, 8, seed=9).panel()
    for name, opts in (("fe", {}), ("dpd", {}), ("dpd", {"method": "anderson-hsiao"})):
        res = fit_model(name, panel, **opts)
        out = json.loads(res.to_json())
        assert out["model"] == name
        assert set(out["effects"]["within"]) == {
            "alliance->symptoms",
            "symptoms->alliance",
            "alliance->alliance",
            "symptoms->symptoms",
        }
        for eff in out["effects"]["within"].values():
            assert eff["lower"] < eff["est"] < eff["upper"] and eff["se"] > 0
        assert out["diagnostics"]["converged"] is True
        assert out["params"][0].keys() >= {"lhs", "op", "rhs", "est", "se", "pvalue"}
        assert out["n_clients"] <= 150 and out["n_observations"] > 0
        assert out["seconds"] > 0
        if name == "fe":
            assert 0 <= out["fit"]["r2.symptoms"] <= 1
        else:
            assert {"ar1.symptoms", "ar2.alliance", "n_instruments.symptoms"} <= set(out["fit"])
    res = fit_model("fe", panel, lagged_outcome=False)
    assert set(res.effects["within"]) == {"alliance->symptoms", "symptoms->alliance"}


def test_user_column_names_build_the_effect_keys():
    sim = simulate(100, 6, seed=4, names=("wai", "core"))
    res = fit_model("dpd", sim.panel())
    assert "wai->core" in res.effects["within"] and "core->wai" in res.effects["within"]
    assert "hansen.core" in res.fit
