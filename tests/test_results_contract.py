"""The results contract's shared code: ``compare`` lines fits up, ``to_dict`` is JSON-safe, the
text and HTML views escape what they show. Results are built by hand so every expected value is
known without fitting anything.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from causalrel.results import ConvergenceWarning, Effect, ModelResults, compare


def _res(model, est, *, converged=True, between=None):
    return ModelResults(
        model=model,
        n_clients=10,
        n_observations=80,
        effects={
            "within": {"alliance->symptoms": Effect.from_normal(est, 0.5)},
            "between": between or {},
        },
        params=pd.DataFrame({"lhs": ["s"], "op": ["~"], "rhs": ["a"], "est": [est]}),
        diagnostics={"converged": converged, "message": "R-hat 1.05 > 1.01"},
    )


def test_wald_and_draws_intervals():
    e = Effect.from_normal(1.0, 0.5)
    assert e.lower == pytest.approx(1 - 1.959964 * 0.5, abs=1e-6)
    assert e.upper == pytest.approx(1 + 1.959964 * 0.5, abs=1e-6)
    e90 = Effect.from_normal(1.0, 0.5, level=0.90)
    assert e90.upper - e90.lower == pytest.approx(2 * 1.644854 * 0.5, abs=1e-6)
    d = Effect.from_draws(np.arange(1001.0))
    assert (d.est, d.lower, d.upper) == pytest.approx((500.0, 25.0, 975.0))
    d80 = Effect.from_draws(np.arange(1001.0), level=0.80)  # the level moves the quantiles
    assert (d80.lower, d80.upper) == pytest.approx((100.0, 900.0))


def test_compare_one_row_per_model_and_effect_in_order():
    a, b = _res("fe", -1.0), _res("mlm", -2.0, converged=False)
    table = compare({"fe": a, "mlm (trend)": b})
    assert list(table.columns) == ["model", "effect", "est", "se", "lower", "upper", "converged"]
    assert list(table["model"]) == ["fe", "mlm (trend)"]
    assert list(table["est"]) == [-1.0, -2.0]
    assert list(table["converged"]) == [True, False]
    # a list uses each result's own name; an empty side gives an empty table with the columns
    assert list(compare([a, b])["model"]) == ["fe", "mlm"]
    empty = compare([a], side="between")
    assert len(empty) == 0 and "est" in empty.columns


def test_to_dict_is_json_safe_and_keeps_the_contract_keys():
    r = _res("fe", -1.0, between={"alliance~symptoms": Effect(float("nan"))})
    r.fit["chisq"] = np.float64(3.5)
    r.fit["df"] = np.int64(4)
    d = json.loads(r.to_json())
    assert set(d) >= {
        "model",
        "n_clients",
        "n_observations",
        "excluded",
        "effects",
        "params",
        "fit",
        "diagnostics",
        "notes",
        "seconds",
    }
    assert d["effects"]["between"]["alliance~symptoms"]["est"] is None  # NaN -> null
    assert d["fit"] == {"chisq": 3.5, "df": 4}
    assert d["params"][0] == {"lhs": "s", "op": "~", "rhs": "a", "est": -1.0}
    assert d["seconds"] is None and not math.isnan(
        d["effects"]["within"]["alliance->symptoms"]["est"]
    )


def test_html_view_escapes_markup():
    r = _res("fe", -1.0)
    r.notes.append("<script>alert(1)</script> & more")
    html = r._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html and "&amp; more" in html


def test_not_converged_warns_with_reason_and_advice():
    with pytest.warns(ConvergenceWarning, match=r"R-hat 1\.05 > 1\.01.*Try: more draws"):
        _res("mlm", 0.0, converged=False).warn_if_not_converged("more draws")
