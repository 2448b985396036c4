"""Refutation: the within-client placebo, DoWhy's random common cause, client subsets, and
DoWhy's partial-R² sensitivity analysis (why the placebo and subsets are ours: the package
docstring).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._warnings import DOWHY, ignoring
from .frame import lag_column as _lag
from .frame import permute_within
from .results import DirectionResult

__all__ = ["SUBSET_FLIP_MAX", "BENCHMARK_FRACTIONS", "refute", "sensitivity"]

#: Largest share of client subsets whose estimate may have the other sign (subset refuter).
SUBSET_FLIP_MAX = 0.05

#: Benchmark multiples of last session's outcome for the partial-R² sensitivity table.
BENCHMARK_FRACTIONS = (0.25, 0.5, 1.0, 2.0, 3.0)


def refute(
    d: DirectionResult,
    rng: np.random.Generator,
    n_placebo: int,
    n_random: int,
    n_subsets: int,
    fraction: float,
    progress: bool,
) -> None:
    from dowhy.causal_refuter import CausalRefutation, test_significance
    from dowhy.causal_refuters.random_common_cause import refute_random_common_cause
    from tqdm.auto import tqdm

    estimate, estimand = d._estimate, d._estimand  # type: ignore[attr-defined]
    within: pd.DataFrame = d._within  # type: ignore[attr-defined]
    data = within.drop(columns="client")
    clients = within["client"].to_numpy()
    codes, uniques = pd.factorize(clients)

    def reestimate(frame: pd.DataFrame) -> float:
        with ignoring(*DOWHY):  # DoWhy's pandas deprecation notices
            new = estimate.estimator.get_new_estimator_object(estimand)
            new.fit(frame, effect_modifier_names=[])
            value = new.estimate_effect(frame, treatment_value=1, control_value=0).value
        return float(value)

    def bar(n: int, what: str):
        return tqdm(range(n), desc=f"{d.key}: {what}", disable=not progress, leave=False)

    # Placebo: the cause permuted within client (timing broken, client distribution kept).
    draws = []
    for _ in bar(n_placebo, "placebo (within-client permutation)"):
        perm = permute_within(codes, rng)
        frame = data.copy()
        frame[d.treatment] = data[d.treatment].to_numpy()[perm]
        draws.append(reestimate(frame))
    draws = np.asarray(draws)
    ref = CausalRefutation(estimate.value, float(draws.mean()), "placebo (within-client)")
    # The placebo draws are the estimate's distribution when only the timing is broken; the
    # refuter asks whether the real estimate stands out from it (DoWhy's significance test:
    # empirical below 100 draws is replaced by its normal approximation). Asking whether 0
    # lies in that distribution, as DoWhy's own placebo refuter does, cannot fail: the
    # distribution is centred on 0 by construction.
    sig = test_significance(estimate, draws)
    d.placebo_draws = draws
    d.refutations.append(
        _refutation_row(
            d,
            "placebo treatment (permuted within client)",
            ref.new_effect,
            draws.std(ddof=1) if len(draws) > 1 else float("nan"),
            sig["p_value"],
            len(draws),
            passed=bool(sig["is_statistically_significant"]),
            meaning=(
                "The cause shuffled across each client's own sessions (timing broken, each "
                "client's values kept): the placebo effect is zero on average. Passed = the "
                "real estimate lies outside the placebo distribution (p < 0.05), i.e. it "
                "depends on the order of the sessions; failed = shuffled timing produces "
                "estimates as large, so the data do not show a lagged effect."
            ),
        )
    )
    # Random common cause (DoWhy's refuter).
    with ignoring(*DOWHY):
        rcc = refute_random_common_cause(
            data,
            estimand,
            estimate,
            num_simulations=n_random,
            random_state=int(rng.integers(2**31 - 1)),
            show_progress_bar=progress,
        )
    d.refutations.append(
        _refutation_row(
            d,
            "random common cause (DoWhy)",
            rcc.new_effect,
            float("nan"),
            rcc.refutation_result["p_value"],
            n_random,
            passed=not rcc.refutation_result["is_statistically_significant"],
            meaning=(
                "An independent random variable added as a confounder: the estimate should "
                "not move. Passed = the estimate lies inside the refuted distribution."
            ),
        )
    )
    # Data subset by client.
    k = max(2, int(round(fraction * len(uniques))))
    sub = []
    for _ in bar(n_subsets, f"subsets of {fraction:.0%} of clients"):
        keep = rng.choice(len(uniques), size=k, replace=False)
        rows = np.isin(codes, keep)
        sub.append(reestimate(data[rows].reset_index(drop=True)))
    sub = np.asarray(sub)
    # Whether the estimate lies inside its own subsample distribution cannot fail; whether
    # its sign survives leaving out a fifth of the clients can: a few influential clients
    # (or an estimate indistinguishable from zero) flip it in many subsets.
    flipped = float(np.mean(np.sign(sub) != np.sign(d.effect.est))) if len(sub) else 1.0
    d.refutations.append(
        _refutation_row(
            d,
            f"data subset ({fraction:.0%} of clients)",
            float(sub.mean()),
            sub.std(ddof=1) if len(sub) > 1 else float("nan"),
            flipped,
            len(sub),
            passed=flipped <= SUBSET_FLIP_MAX,
            meaning=(
                "Re-estimated on random subsets of whole clients: the conclusion should not "
                "hang on a few clients. p_value = the share of subsets whose estimate has "
                f"the other sign; passed = at most {SUBSET_FLIP_MAX:.0%} of them."
            ),
        )
    )
    sensitivity(d)


def sensitivity(d: DirectionResult) -> None:
    """DoWhy's linear partial-R² sensitivity analysis (Cinelli & Hazlett 2020)."""
    from dowhy.causal_refuters.add_unobserved_common_cause import (
        sensitivity_linear_partial_r2,
    )

    estimate = d._estimate  # type: ignore[attr-defined]
    data = d._within.drop(columns="client")  # type: ignore[attr-defined]
    benchmark = _lag(d.outcome)
    analyzer, fractions = None, list(BENCHMARK_FRACTIONS)
    with ignoring(*DOWHY):
        while fractions:
            try:
                analyzer = sensitivity_linear_partial_r2(
                    data,
                    estimate,
                    [d.treatment],
                    frac_strength_treatment=[float(f) for f in fractions],
                    frac_strength_outcome=[float(f) for f in fractions],
                    benchmark_common_causes=[benchmark],
                    significance_level=0.05,
                    plot_estimate=False,
                )
                break
            except ValueError:  # a multiple too strong to be possible (R² >= 1): drop it
                fractions = fractions[:-1]
    if analyzer is None:
        d.sensitivity = {"error": "the partial-R² sensitivity analysis could not be run"}
        return
    s = analyzer.stats
    rv, rv_a = float(s["robustness_value"]), float(s["robustness_value_alpha"])
    b = analyzer.benchmarking_results.copy()
    b.insert(0, "times_as_strong", fractions)
    b.insert(0, "benchmark", benchmark)
    b = b.rename(
        columns={
            "r2tu_w": "r2_confounder_cause",
            "r2yu_tw": "r2_confounder_outcome",
            "bias_adjusted_lower_CI": "bias_adjusted_lower",
            "bias_adjusted_upper_CI": "bias_adjusted_upper",
        }
    )
    lo, hi = (
        b[["bias_adjusted_lower", "bias_adjusted_upper"]].min(axis=1),
        b[["bias_adjusted_lower", "bias_adjusted_upper"]].max(axis=1),
    )
    b["bias_adjusted_lower"], b["bias_adjusted_upper"] = lo, hi
    b["explains_away"] = np.sign(b["bias_adjusted_estimate"]) != np.sign(d.effect.est)
    d.benchmarks = b.reset_index(drop=True)
    first_away = b.loc[b["explains_away"], "times_as_strong"]
    d.sensitivity = {
        "estimate": d.effect.est,
        "partial_r2_cause_outcome": float(s["r2yt_w"]),
        "robustness_value": rv,
        "robustness_value_5pct": rv_a,
        "benchmark": benchmark,
        "explained_away_at_times_benchmark": (
            float(first_away.iloc[0]) if len(first_away) else None
        ),
        "interpretation": (
            f"An unobserved time-varying confounder would have to explain at least "
            f"{rv:.1%} of the residual within-client variance of both {d.treatment} and "
            f"{d.outcome} to bring the estimate to zero (and {rv_a:.1%} to make it "
            "non-significant at 5%). "
            + (
                f"A confounder {first_away.iloc[0]:g} times as strong as last session's "
                f"{d.outcome} ({benchmark}) would explain it away."
                if len(first_away)
                else f"Even a confounder {fractions[-1]:g} times as strong as last "
                f"session's {d.outcome} ({benchmark}) would not explain it away."
            )
        ),
    }
    d.sensitivity["robustness_value_5pct_note"] = "from DoWhy's OLS errors (optimistic)"
    d.analyzer = analyzer


def _refutation_row(
    d: DirectionResult,
    refuter: str,
    new_effect: float,
    sd: float,
    p_value: float,
    n: int,
    *,
    passed: bool,
    meaning: str,
) -> dict[str, Any]:
    return {
        "effect": d.key,
        "refuter": refuter,
        "estimate": d.effect.est,
        "new_effect": float(new_effect),
        "new_effect_sd": float(sd),
        "p_value": float(p_value),
        "n_simulations": int(n),
        "passed": bool(passed),
        "meaning": meaning,
    }
