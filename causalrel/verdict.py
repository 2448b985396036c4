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
  RI-CLPM) does not reject at 5%.
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
  twice).
- ``predictive``: a Bayesian fit whose posterior predictive check of the means is extreme
  (p < .05 or > .95) misfits the level of the scores (often an unmodelled trend).
- ``refuters``: the causal layer counts only when every refuter passed.
- ``identified``: fewer clients than free parameters, or an interval of width ~0 (a
  numerically degenerate estimate), does not count.

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
within-client SDs, so that the two directions can be compared.

Why own code: no library combines estimates across model families; these are a few explicit
rules, kept in one place so that they can be read, tested and changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ALPHA",
    "Credibility",
    "credibility",
    "verdict",
    "direction_verdict",
    "sentence",
    "analysis_verdict",
]

#: Level of every test the rules use.
ALPHA = 0.05
#: An interval narrower than this (relative to the estimate's scale) is numerically degenerate.
DEGENERATE_WIDTH = 1e-10
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
    if p < ALPHA:
        return False, (
            f"the clients' stable levels differ (chi-bar-square test of the random intercepts, "
            f"p = {p:.3g}), and the CLPM ignores them"
        )
    return True, f"random-intercept variances not detected (chi-bar-square p = {p:.3g})"


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
    if p is None or base not in ("riclpm", "dpml") or base + ":time=client" not in ctx["names"]:
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


def _rule_identified(name: str, res: Any, ctx: dict) -> tuple[bool | None, str]:
    fit = getattr(res, "fit", {}) or {}
    npar, n = fit.get("npar"), getattr(res, "n_clients", None)
    if npar is not None and n is not None and n < npar:
        return False, f"fewer clients ({n}) than free parameters ({int(npar)})"
    for key, eff in _within(res).items():
        width = eff.upper - eff.lower
        if np.isfinite(width) and width < DEGENERATE_WIDTH * max(1.0, abs(eff.est)):
            return False, f"numerically degenerate estimate of {key} (interval width {width:.1e})"
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


def credibility(results: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Credibility]:
    """Apply every rule to every family.

    Parameters
    ----------
    results : mapping of name -> ModelResults (or the causal layer's results)
    context : mapping
        ``variables`` (the two score names), ``median_sessions`` (sessions per client), when
        the CLPM and RI-CLPM were both fitted ``random_intercepts_p`` (chi-bar-square), and
        when the RI-CLPM was also fitted with ``time="client"`` ``client_slopes_p`` (test of
        the slope variances).
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
        out[key]["sentence"] = sentence(key, out[key], cause, outcome)
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
        try:
            context["random_intercepts_p"] = compare_nested(clpm, riclpm).pvalue_chibar
        except DataError as exc:  # e.g. different clients: the CLPM then cannot be vouched for
            notes.append(f"verdict: no CLPM vs RI-CLPM test ({exc})")
    client = time_client.get("riclpm")
    if riclpm is not None and client is not None and riclpm.converged and client.converged:
        try:
            t = compare_slopes(riclpm, client)
            context["client_slopes_p"] = (
                t.pvalue_chibar if t.pvalue_chibar is not None else t.pvalue
            )
        except DataError as exc:
            notes.append(f"verdict: no slope-variance test ({exc})")
    sds = {v: e["sd_within"] for v, e in description["variables"].items()}
    out = verdict(every, x=x, y=y, context=context, within_sd=sds, rci=rci or None)
    out["context"] = context
    out["bayesian_families_run"] = bayesian_run
    return out
