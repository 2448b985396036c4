"""The verdict: what the credible families, together, say about each direction.

What: :func:`credibility` decides, family by family, whether a fit counts on *these* data, with
its reasons; :func:`verdict` draws one conclusion per direction (``"alliance->symptoms"`` and
``"symptoms->alliance"``) from the families that count. Every rule is one small function below,
named for the bias or check it is about; the report shows the rules' reasons, and nothing is
weighted in secret.

Credibility rules (a family that fails any of them does not count):

- ``converged``: a fit that failed its convergence checks (sampler diagnostics, an optimiser
  that stopped, an improper SEM solution) says nothing.
- ``stable_traits``: the CLPM has no random intercepts, so its cross-lags mix stable
  between-client differences into the within-client process (Hamaker, Kuiper & Grasman 2015);
  it counts only when the chi-bar-square test of the random-intercept variances (CLPM vs
  RI-CLPM) does not reject at 5% (under MLR the Satorra-Bentler 2001 scaled difference,
  :func:`causalrel.sem.compare_nested`; the reason names the test).
- ``instruments``: difference GMM counts only when its AR(2) and Hansen tests do not reject at
  5% in either equation (Arellano & Bond 1991; Roodman 2009).
- ``nickell``: families that centre on observed client means with a lagged outcome (``fe``,
  ``mlm``, the causal layer) are biased by about ``-(1 + rho) / (T - 1)`` in the
  autoregression (Nickell 1981), and their cross-lags inherit part of it; they count only when
  that bias, with ``T`` the median sessions per client, is smaller than the autoregression's
  own standard error (the bias would then hide inside the interval).
- ``trends``: when the SEMs were also fitted with each client's own linear trajectory
  (``name:time=client``, the LCM-SR for the RI-CLPM; Curran et al. 2014), the likelihood-ratio
  test of the slope variances decides which of the two counts: if it rejects at 5%, clients
  follow their own trajectories and the ``time="common"`` fits ignore them (their cross-lags
  are then biased toward zero: ``benchmarks/validate_lcmsr.py``); if not, the simpler
  ``time="common"`` fit counts and the ``time="client"`` one does not (no family counts
  twice). When the test cannot be run (the LCM-SR did not converge, as on IMPLEMENT), the
  trajectories are not established and the ``time="common"`` fit counts.
- ``predictive``: a Bayesian fit whose posterior predictive check of the means is extreme
  (p < .05 or > .95) misfits the level of the scores (often an unmodelled trend).
- ``refuters``: the causal layer counts only when every refuter passed.
- ``identified``: a cross-lag without a finite standard error (a singular information
  matrix: the model is not locally identified at the estimate, Rothenberg 1971) or with an
  interval of width ~0 (a numerically degenerate estimate) does not count. An SEM also needs
  enough information: its FIML likelihood uses every observed rating, so what limits it is
  not clients per parameter but observed ratings per free parameter, which must be at least
  :data:`MIN_VALUES_PER_PARAMETER`. A short-and-wide SEM (IMPLEMENT: 57 clients, 86-134 free
  parameters, 11 to 18 observed ratings per parameter in ``analyze --fast``) can be estimated
  well; the rule "more free parameters than
  clients" excluded it. ``benchmarks/validate_verdict_identified.py`` (committed result in
  ``benchmarks/results/``) measures the coverage of the SEMs' 95% intervals on simulated
  panels of IMPLEMENT's shape as clients shrink (12 waves, 10% missing ratings; 15-25 fits
  per cell): with 6.5 to 9.8 ratings per parameter (RI-CLPM 32, DPML 24 and 32 clients)
  15-27% of the fits ended improper; from 11.5 (57 clients) every fit was proper (a first
  run, stopped before it wrote its results, had 0 of 25 proper RI-CLPM fits with 18 clients,
  3.7 ratings per parameter). The proper fits' intervals covered the truth within
  Monte Carlo error of 95% in every cell (0.90-0.97 over 30-40 intervals), so what fails
  below the threshold is stability, not the proper fits' intervals: the threshold, 10, is
  where (nearly) every fit is proper. A small run: the threshold is a stated default to be
  refined with more replications, not a sharp boundary.
  Families without an SEM likelihood fall back on "fewer
  clients than free parameters".

The conclusion per direction (the ``answer`` of the machine-readable contract):

- ``"effect"``: at least one credible family; all credible point estimates share one sign;
  a strict majority of the credible families have a 95% interval that excludes zero on that
  side; and none excludes zero on the other side.
- ``"no effect detected"``: at least one credible family, and every credible family's
  interval includes zero.
- ``"inconclusive"``: anything else (no credible family, disagreement in sign, or a minority
  of intervals excluding zero).

``estimate`` is the median of the credible families' point estimates, ``lower``/``upper`` the
smallest lower and largest upper limit among them (the envelope of their intervals), all in raw
units (outcome points per cause point). ``standardized`` rescales the estimate to
within-client SD units, ``b * sd_w(cause) / sd_w(outcome)``, the within-person
standardisation of Schuurman, Ferrer, de Boer-Sonnenschein & Hamaker (2016) with pooled
within-client SDs, so that the two directions can be compared: ``verdict["difference"]``
compares their sizes, family by family, with an interval (:func:`size_difference`), and
concludes by the same rule. ``long_run`` is the effect of a lasting one-point change in the
cause once the outcome's carry-over has played out (:func:`long_run`), over the credible
families whose autoregression allows it.

Why own code: no library combines estimates across model families; these are a few explicit
rules, kept in one place so that they can be read, tested and changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .results import Effect

__all__ = [
    "ALPHA",
    "Credibility",
    "credibility",
    "verdict",
    "direction_verdict",
    "sentence",
    "analysis_verdict",
    "observed_values",
    "effect_covariance",
    "size_difference",
    "long_run",
    "difference_verdict",
]

#: Level of every test the rules use.
ALPHA = 0.05
#: An interval narrower than this (relative to the estimate's scale) is numerically degenerate.
DEGENERATE_WIDTH = 1e-10
#: Fewest observed ratings per free parameter for an SEM to count (see the ``identified`` rule;
#: calibrated by ``benchmarks/validate_verdict_identified.py``).
MIN_VALUES_PER_PARAMETER = 10.0
#: The causal layer's name in the verdict's tables.
CAUSAL = "dowhy"


@dataclass
class Credibility:
    """Whether one family counts on these data, and why (or why not)."""

    family: str
    credible: bool
    reasons: list[str] = field(default_factory=list)  # why it does not count
    checks: list[str] = field(default_factory=list)  # checks it passed, in plain words

    def to_dict(self) -> dict[str, Any]:
        return {"credible": self.credible, "reasons": self.reasons, "checks": self.checks}


# -- rules: each returns (passed: bool | None, message); None = does not apply -------------------
def _rule_converged(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    d = getattr(res, "diagnostics", {}) or {}
    if d.get("converged", True):
        return True, "converged"
    return False, f"did not converge ({d.get('message') or 'see its warnings'})"


def _rule_stable_traits(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    if name != "clpm":
        return None, ""
    p = ctx.get("random_intercepts_p")
    if p is None:
        return False, (
            "no random intercepts: its cross-lags mix stable differences between clients into "
            "the within-client effect (no RI-CLPM to test them against)"
        )
    test = ctx.get("random_intercepts_test", "chi-bar-square test")
    if not np.isfinite(p):  # a test that could not be computed is no evidence of no traits
        return False, (
            f"no random intercepts, and the test against the RI-CLPM ({test}) could not be "
            "computed, so nothing shows that stable differences between clients are absent"
        )
    if p < ALPHA:
        return False, (
            f"the clients' stable levels differ (random-intercept variances: {test}, "
            f"p = {p:.3g}), and the CLPM ignores them"
        )
    return True, f"random-intercept variances not detected ({test}, p = {p:.3g})"


def _rule_instruments(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    fit = getattr(res, "fit", {}) or {}
    tests = {k: v for k, v in fit.items() if k.startswith(("ar2_pvalue.", "hansen_pvalue."))}
    if not tests:
        return None, ""
    bad = {k: v for k, v in tests.items() if v is not None and np.isfinite(v) and v < ALPHA}
    if bad:
        which = ", ".join(f"{k.replace('_pvalue', '')} p = {v:.3g}" for k, v in sorted(bad.items()))
        return False, f"instrument checks reject ({which}): the lagged instruments are not valid"
    return True, "AR(2) and Hansen tests do not reject"


def _rule_nickell(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    if name not in ("fe", "mlm", CAUSAL):
        return None, ""
    T = ctx.get("median_sessions")
    if not T or T < 3:
        return None, ""
    worst = None
    own = _within(res)
    for var in ctx.get("variables", ()):
        # the causal layer reports cross-lags only: its design is the FE's, so use the FE's
        eff = own.get(f"{var}->{var}") or ctx.get("fe_autoregressions", {}).get(f"{var}->{var}")
        if eff is None or not np.isfinite(eff.se):
            continue
        bias = (1 + eff.est) / (T - 1)
        if bias > eff.se and (worst is None or bias / eff.se > worst[1] / worst[2]):
            worst = (var, bias, eff.se)
    if worst is None:
        return True, f"Nickell bias below the standard error with {T:g} sessions per client"
    var, bias, se = worst
    return False, (
        f"Nickell bias: centring on observed client means with {T:g} sessions per client biases "
        f"the {var} autoregression by about -{bias:.2f}, more than its standard error ({se:.2f})"
    )


def _rule_trends(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    p = ctx.get("client_slopes_p")
    base, _, setting = name.partition(":time=")
    if base not in ("riclpm", "dpml") or base + ":time=client" not in ctx["names"]:
        return None, ""
    if p is None:  # no test (e.g. the LCM-SR did not converge): one fit only, the simpler one
        if setting == "client":
            return False, (
                "the slope variances could not be tested (see the warnings), so client "
                f"trajectories are not established: the simpler {base} fit counts instead"
            )
        return None, ""
    if setting == "client":
        if p < ALPHA:
            return True, f"client trajectories modelled (slope variances p = {p:.3g})"
        return False, (
            f"no client trajectories detected (slope variances p = {p:.3g}): the simpler "
            f"{base} fit counts instead"
        )
    if p < ALPHA:
        return False, (
            f"clients follow their own trajectories (slope variances p = {p:.3g}), which this "
            f"fit ignores: {base}:time=client counts instead"
        )
    return True, f"no client trajectories detected (slope variances p = {p:.3g})"


def _rule_predictive(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    fit = getattr(res, "fit", {}) or {}
    ps = {k: v for k, v in fit.items() if k.startswith("ppc_p:") and k.endswith(":mean")}
    if not ps:
        return None, ""
    bad = {k: v for k, v in ps.items() if v is not None and not (ALPHA < v < 1 - ALPHA)}
    if bad:
        which = ", ".join(f"{k.split(':')[1]} p = {v:.3f}" for k, v in sorted(bad.items()))
        return False, f"posterior predictive check of the means fails ({which})"
    return True, "posterior predictive check of the means passes"


def _rule_refuters(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    table = getattr(res, "refutations", None)
    if table is None or not len(table) or "passed" not in table:
        return None, ""
    failed = table.loc[~table["passed"].astype(bool)]
    if len(failed):
        col = "refuter" if "refuter" in failed else failed.columns[0]
        return False, "refuters failed: " + ", ".join(map(str, failed[col].unique()))
    return True, "every refuter passed"


def observed_values(res: Any) -> int | None:
    """Observed data values an SEM's FIML likelihood used: ratings summed over clients and
    waves (None for a family without missingness patterns, i.e. not an SEM)."""
    pats = getattr(getattr(res, "engine", None), "group_patterns", None)
    if not pats:
        return None
    return int(sum(float((p.mask.sum(axis=1) * p.n).sum()) for p in pats))


def _rule_identified(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    fit = getattr(res, "fit", {}) or {}
    npar = fit.get("npar")
    x, y = ctx.get("variables", (None, None))
    cross = {f"{x}->{y}", f"{y}->{x}"}
    for key, eff in _within(res).items():
        if key in cross and not np.isfinite(eff.se):
            return False, (
                f"no standard error for {key}: the information matrix is singular at the "
                "estimate, so the model is not (locally) identified on these data"
            )
        width = eff.upper - eff.lower
        if np.isfinite(width) and width < DEGENERATE_WIDTH * max(1.0, abs(eff.est)):
            return False, f"numerically degenerate estimate of {key} (interval width {width:.1e})"
    values = observed_values(res)
    if npar is not None and values is not None:
        per = values / npar
        if per < MIN_VALUES_PER_PARAMETER:
            return False, (
                f"too little information: {values} observed ratings for {int(npar)} free "
                f"parameters ({per:.1f} per parameter, fewer than {MIN_VALUES_PER_PARAMETER:g}); "
                "at this size many fits of the model end improper (unstable estimates)"
            )
        return True, f"{per:.0f} observed ratings per free parameter"
    n = getattr(res, "n_clients", None)
    if npar is not None and n is not None and n < npar:  # no patterns: clients are all we know
        return False, f"fewer clients ({n}) than free parameters ({int(npar)})"
    return True, ""


RULES = {
    "converged": _rule_converged,
    "stable_traits": _rule_stable_traits,
    "instruments": _rule_instruments,
    "nickell": _rule_nickell,
    "trends": _rule_trends,
    "predictive": _rule_predictive,
    "refuters": _rule_refuters,
    "identified": _rule_identified,
}


def _within(res: Any) -> dict:
    effects = getattr(res, "effects", {}) or {}
    return effects.get("within", effects)  # the causal layer's effects are not split by side


def _sem_weights(res: Any, keys: list[str], variables: tuple[str, str]) -> np.ndarray | None:
    """Rows ``w`` with ``w @ theta`` = the SEM's reported within effect for each key (the
    average over waves of the wave-specific lags, as the SEM families report it); None when the
    results are not a single-group SEM or the weights do not reproduce the reported estimates."""
    eng, waves = getattr(res, "engine", None), getattr(res, "waves", None)
    if eng is None or not waves or not hasattr(eng, "partable") or eng.n_groups != 1:
        return None
    t = eng.partable.table
    reg = t[(t["op"] == "~") & (t["free"] > 0)]
    index = {(r.lhs, r.rhs): int(r.free) - 1 for r in reg.itertuples(index=False)}
    letter = {variables[0]: "x", variables[1]: "y"}
    W = np.zeros((len(keys), len(eng.theta)))
    for i, key in enumerate(keys):
        cause, outcome = key.split("->")
        for pre in ("w", ""):  # the RI-CLPM's within components are wx<s>, wy<s>
            rows = [
                (f"{pre}{letter[outcome]}{s}", f"{pre}{letter[cause]}{prev}")
                for prev, s in zip(waves[:-1], waves[1:], strict=True)
            ]
            if rows and all(r in index for r in rows):
                break
        else:
            return None
        for r in rows:
            W[i, index[r]] += 1.0 / len(rows)
    reported = [_within(res)[k].est for k in keys]
    return W if np.allclose(W @ eng.theta, reported, rtol=0, atol=1e-8) else None


def effect_covariance(res: Any, keys: list[str], variables: tuple[str, str]) -> np.ndarray:
    """Covariance matrix of a family's within effects ``keys`` (``"cause->outcome"``).

    Exact for the SEMs (their weights over the parameter vector and its covariance matrix);
    for the other families the effects are treated as uncorrelated (SEs squared on the
    diagonal): the panel families estimate each outcome's equation separately and report no
    covariance across them, and the Bayesian families' joint draws are not kept in the results.
    """
    eff = _within(res)
    cov = np.diag([eff[k].se ** 2 for k in keys])
    W = _sem_weights(res, keys, variables)
    if W is not None and np.isfinite(res.engine.vcov).all():
        cov = W @ res.engine.vcov @ W.T
    return cov


def size_difference(
    res: Any, x: str, y: str, sd_x: float, sd_y: float, level: float = 1 - ALPHA
) -> Effect | None:
    """``|std(x->y)| - |std(y->x)|``: how much larger (in within-client SD units) the effect
    of x on y is than the reverse, with a delta-method interval (signs of the two point
    estimates held fixed; see :func:`effect_covariance` for the covariance used)."""
    kxy, kyx = f"{x}->{y}", f"{y}->{x}"
    eff = _within(res)
    if kxy not in eff or kyx not in eff or not (np.isfinite(sd_x) and np.isfinite(sd_y)):
        return None
    b = np.array([eff[kxy].est, eff[kyx].est], dtype=float)
    g = np.sign(b) * np.array([sd_x / sd_y, -sd_y / sd_x])
    se = float(np.sqrt(max(g @ effect_covariance(res, [kxy, kyx], (x, y)) @ g, 0.0)))
    if not np.isfinite(se):
        return None
    return Effect.from_normal(float(abs(b[0]) * sd_x / sd_y - abs(b[1]) * sd_y / sd_x), se, level)


def long_run(
    res: Any, cause: str, outcome: str, variables: tuple[str, str], level: float = 1 - ALPHA
) -> Effect | None:
    """The long-run effect of a lasting one-point change in ``cause``: ``b / (1 - rho)``.

    If the cause stays one point above the client's usual level session after session, the
    outcome settles ``b / (1 - rho)`` points away from its usual level, ``b`` being the
    cross-lag and ``rho`` the outcome's autoregression (the long-run multiplier of an
    autoregressive distributed-lag equation; De Boef & Keele 2008). Delta-method interval.
    None unless the family estimates the autoregression and it is stationary (|rho| < 1).
    """
    k, ar = f"{cause}->{outcome}", f"{outcome}->{outcome}"
    eff = _within(res)
    if k not in eff or ar not in eff:
        return None
    b, rho = eff[k].est, eff[ar].est
    if not (np.isfinite(b) and np.isfinite(rho) and abs(rho) < 1):
        return None
    g = np.array([1 / (1 - rho), b / (1 - rho) ** 2])
    se = float(np.sqrt(max(g @ effect_covariance(res, [k, ar], variables) @ g, 0.0)))
    return Effect.from_normal(b / (1 - rho), se, level) if np.isfinite(se) else None


def _envelope(effects: Mapping[str, Effect]) -> dict[str, Any] | None:
    """Median estimate and the envelope of the intervals over the families, or None."""
    if not effects:
        return None
    names = sorted(effects)
    return {
        "estimate": float(np.median([effects[n].est for n in names])),
        "lower": float(min(effects[n].lower for n in names)),
        "upper": float(max(effects[n].upper for n in names)),
        "families": names,
        "per_family": {n: effects[n].to_dict() for n in names},
    }


def credibility(results: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Credibility]:
    """Apply every rule to every family.

    Parameters
    ----------
    results : mapping of name -> ModelResults (or the causal layer's results)
    context : mapping
        ``variables`` (the two score names), ``median_sessions`` (sessions per client), when
        the CLPM and RI-CLPM were both fitted ``random_intercepts_p`` (chi-bar-square) and
        ``random_intercepts_test`` (its name: the Satorra-Bentler scaled difference under
        MLR), and when the RI-CLPM was also fitted with ``time="client"`` ``client_slopes_p``
        and ``client_slopes_test`` (test of the slope variances).
    """
    ctx = dict(context)
    ctx["names"] = set(results)
    if "fe" in results:
        ctx.setdefault("fe_autoregressions", _within(results["fe"]))
    out = {}
    for name, res in results.items():
        reasons, checks = [], []
        for rule in RULES.values():
            passed, msg = rule(name, res, ctx)
            if passed is False:
                reasons.append(msg)
            elif passed and msg:
                checks.append(msg)
        out[name] = Credibility(name, not reasons, reasons, checks)
    return out


def direction_verdict(
    estimates: Mapping[str, Any],
    excluded: Mapping[str, str],
    scale: float = float("nan"),
    cause_sd: float = float("nan"),
    rci: float | None = None,
) -> dict[str, Any]:
    """The contract for one direction from the credible families' effects (name -> Effect).

    ``scale`` = sd_w(cause) / sd_w(outcome) gives ``standardized``; ``cause_sd`` = sd_w(cause)
    gives ``per_within_sd`` (outcome points per within-client SD of the cause) and, with the
    outcome instrument's reliable-change threshold ``rci``, ``rci_share`` (that change as a
    share of the threshold).
    """
    names = sorted(estimates)
    out: dict[str, Any] = {
        "answer": "inconclusive",
        "sign": None,
        "estimate": None,
        "lower": None,
        "upper": None,
        "standardized": None,
        "per_within_sd": None,
        "rci_share": None,
        "families": names,
        "excluded": dict(excluded),
        "significant": [],
    }
    if not names:
        out["reason"] = "no credible family estimated this effect"
        return out
    est = np.array([estimates[n].est for n in names], dtype=float)
    lo = np.array([estimates[n].lower for n in names], dtype=float)
    hi = np.array([estimates[n].upper for n in names], dtype=float)
    neg, pos = hi < 0, lo > 0
    out.update(
        estimate=float(np.median(est)),
        lower=float(lo.min()),
        upper=float(hi.max()),
        significant=[n for n, s in zip(names, neg | pos, strict=True) if s],
    )
    if np.isfinite(scale):
        out["standardized"] = out["estimate"] * scale
    if np.isfinite(cause_sd):
        out["per_within_sd"] = out["estimate"] * cause_sd
        if rci:
            out["rci_share"] = abs(out["per_within_sd"]) / rci
    k, m = int(max(neg.sum(), pos.sum())), len(names)
    side = neg if neg.sum() >= pos.sum() else pos
    sign = "negative" if side is neg else "positive"
    same_sign = bool((est < 0).all() or (est > 0).all())
    if same_sign and 2 * k > m and not (neg.any() and pos.any()):
        out.update(answer="effect", sign=sign)
        out["reason"] = f"{k} of {m} credible families agree on a {sign} effect"
    elif not (neg | pos).any():
        out.update(answer="no effect detected")
        out["reason"] = f"all {m} credible families' intervals include zero"
    else:
        out["reason"] = f"{k} of {m} credible families exclude zero" + (
            "" if same_sign else "; their estimates differ in sign"
        )
    return out


def verdict(
    results: Mapping[str, Any],
    *,
    x: str,
    y: str,
    context: Mapping[str, Any],
    within_sd: Mapping[str, float] | None = None,
    rci: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """``summary.json["verdict"]``: credibility per family, and a conclusion per direction.

    Parameters
    ----------
    results : mapping of name -> results
        Every fitted family (and the causal layer under ``"dowhy"``).
    x, y : str
        The cause and outcome columns (alliance, symptoms).
    context : mapping
        See :func:`credibility`.
    within_sd : mapping, optional
        Pooled within-client SD per variable, for the standardised effects.
    rci : mapping, optional
        Reliable-change threshold per outcome variable (e.g. ``{"symptoms": 6}``), in its points.
    """
    cred = credibility(results, {"variables": (x, y), **context})
    sd = dict(within_sd or {})
    out: dict[str, Any] = {"families": {n: c.to_dict() for n, c in cred.items()}}
    for name, res in results.items():  # each family's two cross-lags, so the verdict stands alone
        eff = _within(res)
        out["families"][name]["effects"] = {
            k: eff[k].to_dict() for k in (f"{x}->{y}", f"{y}->{x}") if k in eff
        }
    for cause, outcome in ((x, y), (y, x)):
        key = f"{cause}->{outcome}"
        good, bad = {}, {}
        for name, res in results.items():
            eff = _within(res).get(key)
            if eff is None:
                continue
            if cred[name].credible:
                good[name] = eff
            else:
                bad[name] = "; ".join(cred[name].reasons)
        scale = sd.get(cause, math.nan) / sd.get(outcome, math.nan) if sd else math.nan
        threshold = (rci or {}).get(outcome)
        out[key] = direction_verdict(good, bad, scale, sd.get(cause, math.nan), threshold)
        runs = {n: long_run(results[n], cause, outcome, (x, y)) for n in good}
        out[key]["long_run"] = _envelope({n: e for n, e in runs.items() if e is not None})
        out[key]["sentence"] = sentence(key, out[key], cause, outcome)
    out["difference"] = difference_verdict(results, cred, x, y, sd)
    return out


def difference_verdict(
    results: Mapping[str, Any],
    cred: Mapping[str, Credibility],
    x: str,
    y: str,
    within_sd: Mapping[str, float],
) -> dict[str, Any]:
    """Is ``x->y`` larger than ``y->x``? The size difference of the standardised effects.

    Per family credible for both directions, :func:`size_difference`; the conclusion follows
    :func:`direction_verdict`'s rule applied to these differences: ``"x->y larger"`` or
    ``"y->x larger"`` (a clear majority of intervals on one side, no sign disagreement),
    ``"no difference detected"`` (every interval includes zero), otherwise ``"inconclusive"``.
    """
    kxy, kyx = f"{x}->{y}", f"{y}->{x}"
    sx, sy = within_sd.get(x, math.nan), within_sd.get(y, math.nan)
    diffs = {}
    for name, res in results.items():
        if cred[name].credible:
            d = size_difference(res, x, y, sx, sy)
            if d is not None:
                diffs[name] = d
    v = direction_verdict(diffs, {})
    answer = {
        "effect": f"{kxy} larger" if v["sign"] == "positive" else f"{kyx} larger",
        "no effect detected": "no difference detected",
    }.get(v["answer"], "inconclusive")
    out = {
        "what": f"|standardized {kxy}| - |standardized {kyx}| (within-client SD units)",
        "answer": answer,
        **{k: v[k] for k in ("estimate", "lower", "upper", "families", "significant")},
        "per_family": {n: e.to_dict() for n, e in sorted(diffs.items())},
    }
    if v["answer"] == "effect":
        out["sentence"] = (
            f"In within-client SD units, {answer.replace(' larger', '')} is the larger effect: "
            f"by {abs(v['estimate']):.2g} (range over credible families [{v['lower']:.2g}, "
            f"{v['upper']:.2g}]; {len(v['significant'])} of {len(diffs)} intervals exclude "
            "zero)."
        )
    elif v["answer"] == "no effect detected":
        out["sentence"] = (
            f"The two directions are not detectably different in size (standardised "
            f"difference {v['estimate']:.2g}, envelope [{v['lower']:.2g}, {v['upper']:.2g}])."
        )
    else:
        out["sentence"] = "Which direction is larger is inconclusive" + (
            f": {v['reason']}." if v.get("reason") else "."
        )
    return out


def sentence(key: str, v: Mapping[str, Any], cause: str, outcome: str) -> str:
    """The plain-language conclusion for one direction."""
    m = len(v["families"])
    if v["answer"] == "effect":
        lower = "lower" if v["sign"] == "negative" else "higher"
        return (
            f"When a client's {cause} score was higher than usual, the {outcome} score at the "
            f"next session was {lower}: about {abs(v['estimate']):.2g} {outcome} points per {cause} point "
            f"(range over credible families [{v['lower']:.2g}, {v['upper']:.2g}]); "
            f"this held in {len(v['significant'])} of {m} credible families."
            + _clinical(v, cause, outcome)
            + _lasting(v, cause, outcome)
        )
    if v["answer"] == "no effect detected":
        return (
            f"No within-client effect of {cause} on next-session {outcome} was detected: every "
            f"one of the {m} credible families' intervals includes zero (envelope "
            f"[{v['lower']:.2g}, {v['upper']:.2g}])."
        )
    why = v.get("reason", "")
    return f"Inconclusive for {cause} -> next-session {outcome}: {why}."


def _clinical(v: Mapping[str, Any], cause: str, outcome: str) -> str:
    """What the effect means on the outcome's scale: per within-client SD of the cause."""
    if v.get("per_within_sd") is None:
        return ""
    s = (
        f" One within-client SD more {cause} than the client's usual goes with "
        f"{abs(v['per_within_sd']):.2g} {outcome} points {'less' if v['per_within_sd'] < 0 else 'more'} "
        f"at the next session"
    )
    if v.get("rci_share") is not None:
        s += f", {v['rci_share']:.0%} of the reliable-change threshold"
    return s + "."


def _lasting(v: Mapping[str, Any], cause: str, outcome: str) -> str:
    """The long-run effect of a lasting change, when the families allow it."""
    lr = v.get("long_run")
    if not lr:
        return ""
    return (
        f" If {cause} stayed one point above the client's usual, {outcome} would settle about "
        f"{abs(lr['estimate']):.2g} points {'lower' if lr['estimate'] < 0 else 'higher'} "
        f"(long-run effect, range [{lr['lower']:.2g}, {lr['upper']:.2g}])."
    )


# -- from an analysis run ---------------------------------------------------------------------
def analysis_verdict(
    results: Mapping[str, Any],
    time_client: Mapping[str, Any],
    description: Mapping[str, Any],
    *,
    x: str,
    y: str,
    rci: Mapping[str, float] | None = None,
    warnings: list[str] | None = None,
    bayesian_run: bool = True,
) -> dict[str, Any]:
    """``summary.json["verdict"]`` from an ``analyze`` run: every fitted family, the
    ``time="client"`` refits (as ``name:time=client``), and the context the rules need (the
    CLPM vs RI-CLPM chi-bar-square test, the test of the slope variances, sessions per
    client). A test that cannot be run is noted in ``warnings``."""
    from .data import DataError
    from .sem.compare import compare_nested, compare_slopes

    notes = warnings if warnings is not None else []
    every: dict[str, Any] = dict(results)
    every.update({f"{n}:time=client": r for n, r in time_client.items()})
    context: dict[str, Any] = {"median_sessions": description["sessions"]["median_per_client"]}
    clpm, riclpm = every.get("clpm"), every.get("riclpm")
    if clpm is not None and riclpm is not None and clpm.converged and riclpm.converged:
        try:  # Satorra-Bentler scaled when either fit is MLR (causalrel.sem.compare)
            t = compare_nested(clpm, riclpm)
            context["random_intercepts_p"] = t.pvalue_chibar
            context["random_intercepts_test"] = t.describe()
        except DataError as exc:  # e.g. different clients: the CLPM then cannot be vouched for
            notes.append(f"verdict: no CLPM vs RI-CLPM test ({exc})")
    client = time_client.get("riclpm")
    if riclpm is not None and client is not None and riclpm.converged and client.converged:
        try:
            t = compare_slopes(riclpm, client)
            context["client_slopes_p"] = (
                t.pvalue_chibar if t.pvalue_chibar is not None else t.pvalue
            )
            context["client_slopes_test"] = t.describe()
        except DataError as exc:
            notes.append(f"verdict: no slope-variance test ({exc})")
    sds = {v: e["sd_within"] for v, e in description["variables"].items()}
    out = verdict(every, x=x, y=y, context=context, within_sd=sds, rci=rci or None)
    out["context"] = context
    out["bayesian_families_run"] = bayesian_run
    return out
