"""The main job: fit every family, run the causal layer, and write the side-by-side report.

:func:`analyze` validates and describes the data, fits each registered family through
:func:`causalrel.families.fit_model`, runs the DoWhy layer (:mod:`causalrel.causal`) and writes
into one folder:

- ``report.html`` (self-contained: the figures are embedded as base64 PNG) and ``report.md``;
- the figures as PNG files (variance decomposition, pooled / between / within associations,
  forest plot of the within-client effects across families, between-client association per
  family, the causal graph, the sensitivity contours, the placebo distribution);
- ``summary.json``: ``models`` (each family's results-contract dict keyed by name; a family that
  failed is ``{"error": "..."}``, one not run is ``{"skipped": "..."}``), ``refutations``,
  ``sensitivity``, ``causal``, ``data``, ``warnings`` and ``ok``.

A family that raises is caught, reported as failed in the report, the JSON and the exit status,
and never dropped silently; warnings raised during a fit (non-convergence above all) are
collected and listed. The Markdown and HTML are written by a few lines here rather than with a
templating or Markdown package, to keep the dependency list short.
"""

from __future__ import annotations

import base64
import html
import inspect
import json
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import DataError, SessionPanel
from .results import ModelResults, _jsonable, between_key, effect_key

__all__ = [
    "FAMILY_NOTES",
    "SAMPLER_FAMILIES",
    "BAYES_OPTIONS",
    "AnalysisOutcome",
    "analyze",
    "effects_table",
]

#: Families that run an MCMC sampler (skipped by ``fast=True``).
SAMPLER_FAMILIES = ("mlm", "dsem")

#: Sampler settings used by ``analyze``: 4 chains x 2000 draws. At 1000 draws the random-effect
#: SDs of the shipped data fell short of the diagnostics (bulk ESS ~320 < 400, R-hat 1.012:
#: ``benchmarks/results/``); every fit still reports its diagnostics and warns if it fails them.
BAYES_OPTIONS: dict[str, Any] = {"draws": 2000, "tune": 1000, "chains": 4}

#: How ``analyze``'s ``trend`` setting reaches the DSEM (the causal layer reads it too):
#: "linear" -> random latent trends (``trend=True``), "detrend" -> observed trends removed.
DSEM_TREND = {"linear": {"time": "client"}, "detrend": {"detrend": True}, "none": {}}

#: Per family: what it assumes, and when to distrust it (two plain-language lines).
FAMILY_NOTES: dict[str, tuple[str, str]] = {
    "clpm": (
        "Assumes every client shares one stable level: the lagged paths mix differences between "
        "clients with changes within a client (one SEM over the sessions as waves).",
        "Distrust it whenever clients differ in their stable levels (a between-client share "
        "well above zero): the cross-lags are then biased by stable traits (Hamaker et al. 2015).",
    ),
    "riclpm": (
        "Assumes stable client levels (random intercepts) plus within-client cross-lagged "
        "effects that are linear and the same for every client; sessions are the waves.",
        "Distrust it with strong trends, few clients for many waves, effects that differ a lot "
        "between clients, or convergence / Heywood warnings.",
    ),
    "dpml": (
        "Assumes client fixed effects that may correlate with everything, lagged effects, and "
        "sequential exogeneity, estimated by maximum likelihood (Allison et al. 2017).",
        "Distrust it with very short series, clearly non-normal scores, or when the fit does not "
        "converge; like all panel models it assumes no time-varying confounder.",
    ),
    "fe": (
        "Assumes that removing each client's mean (fixed effects) removes all confounding, and "
        "that last session's scores are the only lagged influences.",
        "Distrust it in short series: with a lagged outcome it is biased by order 1/T (Nickell "
        "1981); shared trends also bias it unless removed.",
    ),
    "dpd": (
        "Assumes Arellano-Bond differencing removes the stable traits and that earlier sessions' "
        "scores are valid instruments (no second-order serial correlation).",
        "Distrust it when the AR(2) or Hansen/Sargan test rejects, or when wide intervals show "
        "weak instruments (many instruments, few clients).",
    ),
    "mlm": (
        "Assumes a Bayesian multilevel regression on person-mean-centred predictors with random "
        "intercepts and slopes; the observed client mean stands in for the true one.",
        "Distrust it in short series (centring on observed means carries Nickell-type bias) and "
        "whenever R-hat > 1.01, divergences or a small effective sample size are reported.",
    ),
    "dsem": (
        "Assumes a multilevel VAR(1) around latent client means (with each client's own linear "
        "trend unless trend='none'), random lagged effects and stationary deviations; missing "
        "sessions are imputed inside the model.",
        "Distrust it when the sampler diagnostics fail, when priors dominate (few clients), or "
        "when change over treatment is far from linear.",
    ),
    "dowhy": (
        "Assumes the causal graph above: within-client (fixed-effects) regression adjusting for "
        "last session's outcome (and time), identified by DoWhy's back-door criterion.",
        "Distrust it if a time-varying confounder could be as strong as the sensitivity table "
        "shows, and in short series (Nickell bias, as for fe).",
    ),
}

FIGURES = {
    "variance": "variance_decomposition.png",
    "associations": "associations.png",
    "forest": "forest_within.png",
    "between": "between_by_family.png",
    "dag": "causal_graph.png",
    "sensitivity": "sensitivity.png",
    "placebo": "placebo.png",
}


# ---------------------------------------------------------------------------------------------
# Outcome
# ---------------------------------------------------------------------------------------------
@dataclass
class AnalysisOutcome:
    """What :func:`analyze` did: results, failures, files.

    ``ok`` is true when every requested family was fitted and converged and the causal layer
    ran; ``causalrel analyze`` exits non-zero otherwise.
    """

    out: Path
    description: dict[str, Any]
    results: dict[str, ModelResults] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    causal: Any = None
    causal_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    verdict: dict[str, Any] = field(default_factory=dict)
    #: Trend sensitivity: the SEM families refitted with ``time="client"`` (each client's own
    #: linear trajectory; the RI-CLPM becomes the LCM-SR), by family name.
    time_client: dict[str, ModelResults] = field(default_factory=dict)

    @property
    def not_converged(self) -> list[str]:
        return [n for n, r in self.results.items() if not r.converged]

    @property
    def ok(self) -> bool:
        return not self.failures and self.causal_error is None and not self.not_converged

    def models_dict(self) -> dict[str, Any]:
        """``summary.json``'s ``models``: every requested family, fitted or not."""
        out: dict[str, Any] = {}
        for name in self.settings.get("families", []):
            if name in self.results:
                out[name] = self.results[name].to_dict()
            elif name in self.failures:
                out[name] = {"error": self.failures[name]}
            else:
                out[name] = {"skipped": self.skipped.get(name, "not run")}
        return out

    def to_dict(self) -> dict[str, Any]:
        """The content of ``summary.json``."""
        causal = self.causal.to_dict() if self.causal is not None else None
        return _jsonable(
            {
                "ok": self.ok,
                "verdict": self.verdict,
                "settings": self.settings,
                "seconds": self.seconds,
                "data": self.description,
                "models": self.models_dict(),
                "failed": dict(self.failures),
                "not_converged": self.not_converged,
                "skipped": dict(self.skipped),
                "refutations": causal["refutations"] if causal else {"error": self.causal_error},
                "sensitivity": causal["sensitivity"] if causal else {"error": self.causal_error},
                "causal": causal if causal else {"error": self.causal_error},
                "warnings": list(self.warnings),
                "files": {k: p.name for k, p in self.files.items()},
            }
        )


# ---------------------------------------------------------------------------------------------
# analyze
# ---------------------------------------------------------------------------------------------
def analyze(
    panel: SessionPanel,
    *,
    out: str | Path,
    fast: bool = False,
    seed: int = 1,
    families: Sequence[str] | None = None,
    progress: bool = True,
    trend: str = "linear",
    options: Mapping[str, Mapping[str, Any]] | None = None,
    truth: Mapping[str, float] | None = None,
    rci: Mapping[str, float] | None = None,
) -> AnalysisOutcome:
    """Fit every family, run the causal layer and write the report into ``out``.

    Parameters
    ----------
    panel : SessionPanel
        Validated data (:func:`causalrel.load_panel`).
    out : path
        Folder for ``report.html``, ``report.md``, the PNG figures and ``summary.json``
        (created if needed; existing files of the same names are replaced).
    fast : bool
        Skip the sampler families (``mlm``, ``dsem``) and run fewer refutation simulations.
    seed : int
        Seed passed to every family that takes one and to the causal layer.
    families : sequence of str, optional
        Families to fit (default: every registered family).
    progress : bool
        Show progress (a bar and one line per step) on standard error.
    trend : {"linear", "none", "detrend"}
        How time trends are handled: by the causal layer (:data:`causalrel.causal.TRENDS`) and
        the DSEM (:data:`DSEM_TREND`: "linear" fits each client's latent linear trend). The
        other families keep their own defaults, so the report shows what trends do to them.
    options : mapping, optional
        ``{family: {option: value}}`` passed to :func:`~causalrel.families.fit_model`; they
        override the defaults used here (sampler settings :data:`BAYES_OPTIONS`, ``seed``).
    truth : mapping, optional
        Known within-client effects (simulated data, e.g. ``Simulation.truth.within``), drawn
        as reference lines in the forest plot.
    rci : mapping, optional
        Reliable-change threshold of an outcome instrument in its points (e.g.
        ``{"symptoms": 6}``): the verdict then says what the effect is as a share of it.

    Returns
    -------
    AnalysisOutcome
        ``.ok`` is false if any family failed or did not converge, or the causal layer failed.
    """
    from tqdm.auto import tqdm

    from .decompose import describe
    from .families import FAMILIES

    start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder for the report.")
    out.mkdir(parents=True, exist_ok=True)
    for old in ("summary.json", "report.html", "report.md"):  # an interrupted run leaves none
        (out / old).unlink(missing_ok=True)
    names = list(families) if families is not None else list(FAMILIES)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise DataError(
            f"Unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}. "
            f"Choose from: {', '.join(FAMILIES)}."
        )
    if trend not in DSEM_TREND:
        raise DataError(f"trend must be one of {', '.join(DSEM_TREND)}; got {trend!r}.")
    options = {k: dict(v) for k, v in (options or {}).items()}
    steps = ["describe", *names, "causal layer", "figures and report"]
    tty = sys.stderr.isatty()  # a log file gets plain lines, no bar fragments
    bar = tqdm(total=len(steps), disable=not (progress and tty), file=sys.stderr, unit="step")

    def say(msg: str) -> None:
        if progress and tty:
            bar.write(msg, file=sys.stderr)
        elif progress:
            print(msg, file=sys.stderr, flush=True)

    def step(what: str) -> None:
        bar.set_description(what)
        if progress and not tty:
            print(f"{what} ...", file=sys.stderr, flush=True)

    step("describing the data")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        description = describe(panel)
    outcome = AnalysisOutcome(
        out=out,
        description=description,
        settings={
            "fast": fast,
            "seed": seed,
            "trend": trend,
            "families": names,
            "bayes_options": BAYES_OPTIONS,
            "options": options,
            "source": panel.source,
            "rci": dict(rci or {}),
            "columns": {k: v for k, v in panel.column_map().items() if v},
        },
    )
    outcome.warnings += [f"data: {m}" for m in panel.warnings]
    outcome.warnings += _messages(caught, "describe")
    say(
        f"data: {description['n_clients']} clients, {description['n_rows']} client-sessions; "
        f"correlations pooled {description['correlations']['pooled']:+.2f}, between "
        f"{description['correlations']['between']:+.2f}, within "
        f"{description['correlations']['within']:+.2f}"
    )
    bar.update()

    for name in names:
        if fast and name in SAMPLER_FAMILIES:
            outcome.skipped[name] = "skipped by --fast (a sampler family)"
            say(f"{name}: skipped (--fast)")
            bar.update()
            continue
        step(f"fitting {name}")
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                opts = _family_options(name, seed, options.get(name, {}), trend=trend)
                res = _fit(name, panel, opts)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # reported as FAILED, never dropped
                outcome.failures[name] = f"{type(exc).__name__}: {exc}"
                res = None
        outcome.warnings += _messages(caught, name)
        secs = time.perf_counter() - t0
        if res is None:
            say(f"{name}: FAILED after {secs:.1f} s: {outcome.failures[name]}")
        else:
            outcome.results[name] = res
            say(
                f"{name}: {_effect_line(res, panel)} ({secs:.1f} s)"
                + ("" if res.converged else "  NOT CONVERGED")
            )
        bar.update()

    _fit_time_client(outcome, panel, options, seed, say)

    step("causal layer (DoWhy)")
    from .causal import causal_analysis

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome.causal = causal_analysis(
                panel,
                trend=trend,
                fast=fast,
                seed=seed,
                progress=progress and sys.stderr.isatty(),  # inner bars only on a terminal
            )
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            outcome.causal_error = f"{type(exc).__name__}: {exc}"
    outcome.warnings += _messages(caught, "causal layer")
    if outcome.causal is not None:
        say(f"causal layer: {_effect_line(outcome.causal.as_model_results(), panel)}")
    else:
        say(f"causal layer: FAILED: {outcome.causal_error}")
    bar.update()

    outcome.verdict = _verdict(outcome, panel)
    step("writing the report")
    outcome.seconds = time.perf_counter() - start
    _write_outputs(outcome, panel, truth)
    outcome.seconds = time.perf_counter() - start
    (out / "summary.json").write_text(
        json.dumps(outcome.to_dict(), indent=2, allow_nan=False) + "\n"
    )
    bar.update()
    bar.close()
    if progress:
        status = "OK" if outcome.ok else "PROBLEMS"
        print(
            f"{status}: report in {out / 'report.html'} ({outcome.seconds:.0f} s)"
            + (f"; failed: {', '.join(outcome.failures)}" if outcome.failures else "")
            + (
                f"; not converged: {', '.join(outcome.not_converged)}"
                if outcome.not_converged
                else ""
            )
            + ("; causal layer failed" if outcome.causal_error else ""),
            file=sys.stderr,
        )
    return outcome


#: Families refitted with ``time="client"`` for the trend-sensitivity check (SEMs: fast).
TIME_CLIENT_FAMILIES = ("riclpm", "dpml")


def _fit_time_client(outcome, panel, options, seed, say) -> None:
    """Refit the SEM families with client trajectories (unless the user chose ``time``)."""
    for name in TIME_CLIENT_FAMILIES:
        if name not in outcome.results or "time" in options.get(name, {}):
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                opts = _family_options(
                    name, seed, options.get(name, {}), trend=outcome.settings["trend"]
                )
                res = _fit(name, panel, {**opts, "time": "client"})
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # the sensitivity check is extra: say so, do not fail
                outcome.warnings.append(f"{name} (time=client): not fitted ({exc})")
                continue
        outcome.warnings += _messages(caught, f"{name} (time=client)")
        outcome.time_client[name] = res
        say(f"{name} (time=client): {_effect_line(res, panel)}")


def _slope_test(outcome: AnalysisOutcome) -> float | None:
    """p-value of the slope variances (RI-CLPM vs LCM-SR), chi-bar-square where available."""
    from .sem.compare import compare_slopes

    common, client = outcome.results.get("riclpm"), outcome.time_client.get("riclpm")
    if common is None or client is None or not (common.converged and client.converged):
        return None
    try:
        t = compare_slopes(common, client)
    except DataError as exc:
        outcome.warnings.append(f"verdict: no slope-variance test ({exc})")
        return None
    return t.pvalue_chibar if t.pvalue_chibar is not None else t.pvalue


def _verdict(outcome: AnalysisOutcome, panel: SessionPanel) -> dict[str, Any]:
    """``summary.json["verdict"]`` from every fitted family (rules: :mod:`causalrel.verdict`)."""
    from .sem.compare import compare_nested
    from .verdict import CAUSAL, verdict

    results: dict[str, Any] = dict(outcome.results)
    results.update({f"{n}:time=client": r for n, r in outcome.time_client.items()})
    if outcome.causal is not None:
        results[CAUSAL] = outcome.causal
    d = outcome.description
    context: dict[str, Any] = {"median_sessions": d["sessions"]["median_per_client"]}
    clpm, riclpm = results.get("clpm"), results.get("riclpm")
    if clpm is not None and riclpm is not None and clpm.converged and riclpm.converged:
        try:
            context["random_intercepts_p"] = compare_nested(clpm, riclpm).pvalue_chibar
        except DataError as exc:  # e.g. different clients: the CLPM then cannot be vouched for
            outcome.warnings.append(f"verdict: no CLPM vs RI-CLPM test ({exc})")
    slopes_p = _slope_test(outcome)
    if slopes_p is not None:
        context["client_slopes_p"] = slopes_p
    sds = {v: e["sd_within"] for v, e in d["variables"].items()}
    rci = outcome.settings.get("rci") or None
    out = verdict(results, x=panel.x, y=panel.y, context=context, within_sd=sds, rci=rci)
    out["context"] = context
    out["bayesian_families_run"] = not outcome.settings["fast"]
    return out


#: Warning categories that are library housekeeping, not news about the fit.
_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def _messages(caught: Sequence[warnings.WarningMessage], prefix: str) -> list[str]:
    """Recorded warnings as report lines, without duplicates or library deprecation notices."""
    seen: list[str] = []
    for w in caught:
        if issubclass(w.category, _NOISE):
            continue
        line = f"{prefix}: {w.category.__name__}: {w.message}"
        if line not in seen:
            seen.append(line)
    return seen


def _family_options(
    name: str, seed: int, user: Mapping[str, Any], *, trend: str = "linear"
) -> dict[str, Any]:
    """Defaults for ``analyze`` (seed, sampler settings, quiet, the DSEM's trend), kept only
    where accepted."""
    from .families import get_model_class

    cls = get_model_class(name)
    accepted = set()
    for func in (cls.__init__, cls.fit):
        accepted |= {
            p.name
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }
    defaults: dict[str, Any] = {"seed": seed, "progressbar": False, "progress": False}
    if name in SAMPLER_FAMILIES:
        defaults.update(BAYES_OPTIONS)
    if name == "dsem":
        defaults.update(DSEM_TREND[trend])
    opts = {k: v for k, v in defaults.items() if k in accepted}
    opts.update(user)  # the user's options always win (and are checked by fit_model)
    return opts


def _fit(name: str, panel: SessionPanel, opts: dict[str, Any]) -> ModelResults:
    from .families import fit_model

    res = fit_model(name, panel, **opts)
    if not isinstance(res, ModelResults):
        raise TypeError(f"{name} returned {type(res).__name__}, not ModelResults")
    return res


def _effect_line(res: ModelResults, panel: SessionPanel) -> str:
    parts = []
    for k in (effect_key(panel.x, panel.y), effect_key(panel.y, panel.x)):
        e = res.effects.get("within", {}).get(k)
        if e is not None:
            parts.append(f"{k} {_fmt(e.est)} [{_fmt(e.lower)}, {_fmt(e.upper)}]")
    return "; ".join(parts) or "no within-client effects reported"


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not np.isfinite(f):
        return "–"
    if f == 0:
        return "0"
    if abs(f) >= 1000 or abs(f) < 0.001:
        return f"{f:.{digits}g}"
    return f"{f:.{max(digits - 1 - int(np.floor(np.log10(abs(f)))), 0)}f}"


def _value(v: Any) -> str:
    """A diagnostic value: booleans and counts as such, other numbers to 3 digits."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and float(v).is_integer()):
        return str(int(v))
    return _fmt(v)


def _interval(e: Any) -> str:
    return f"{_fmt(e.est)} [{_fmt(e.lower)}, {_fmt(e.upper)}]"


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
def _status(outcome: AnalysisOutcome, name: str) -> str:
    if name in outcome.failures:
        return "FAILED"
    if name in outcome.skipped:
        return "skipped"
    res = outcome.results.get(name)
    if res is None:
        return "not run"
    if res.diagnostics.get("improper"):
        return "IMPROPER (not converged)"
    return "converged" if res.converged else "NOT CONVERGED"


def _rows(outcome: AnalysisOutcome) -> list[tuple[str, ModelResults | None]]:
    rows: list[tuple[str, ModelResults | None]] = [
        (n, outcome.results.get(n)) for n in outcome.settings["families"]
    ]
    if outcome.causal is not None:
        rows.append(("dowhy", outcome.causal.as_model_results()))
    elif outcome.causal_error:
        rows.append(("dowhy", None))
    return rows


def within_table(outcome: AnalysisOutcome, panel: SessionPanel) -> pd.DataFrame:
    """One row per family: both within-client lagged effects with 95% intervals and status."""
    kxy, kyx = effect_key(panel.x, panel.y), effect_key(panel.y, panel.x)
    rows = []
    for name, res in _rows(outcome):
        status = "FAILED" if name == "dowhy" and res is None else _status(outcome, name)
        if name == "dowhy" and res is not None:
            status = "estimated"
        w = res.effects.get("within", {}) if res is not None else {}
        rows.append(
            {
                "family": name,
                kxy: _interval(w[kxy]) if kxy in w else "–",
                kyx: _interval(w[kyx]) if kyx in w else "–",
                "status": status,
                "clients": res.n_clients if res is not None else "–",
                "observations": res.n_observations if res is not None else "–",
                "seconds": _fmt(res.seconds, 2) if res is not None else "–",
            }
        )
    return pd.DataFrame(rows)


def effects_table(
    summary: Mapping[str, Any] | str | Path,
    truth: Mapping[str, float] | None = None,
    effects: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A report's within-client lagged effects, one row per family and effect, as numbers.

    Reads what :func:`analyze` (or ``causalrel analyze``) wrote, so that a notebook or script can
    put the families side by side without parsing ``summary.json`` itself.

    Parameters
    ----------
    summary : mapping or path
        The content of ``summary.json``, the file, or the report folder holding it.
    truth : mapping, optional
        Known within-client effects (simulated data, e.g.
        :func:`causalrel.simulate.truth_beside`), added as a ``truth`` column.
    effects : sequence of str, optional
        Effect keys to keep, in this order within each family (e.g. the two cross-lagged
        effects ``["alliance->symptoms", "symptoms->alliance"]``); default: all of them.

    Returns
    -------
    pandas.DataFrame
        Columns ``family, effect, est, lower, upper, converged`` (and ``truth``), the DoWhy
        within estimate last. Families that were skipped or failed have no rows: they are
        listed in the summary's ``skipped`` and ``failed``, and in the report.
    """
    if not isinstance(summary, Mapping):
        path = Path(summary)
        path = path / "summary.json" if path.is_dir() else path
        summary = json.loads(path.read_text())
    rows = []
    for name, res in summary["models"].items():
        for key, e in res.get("effects", {}).get("within", {}).items():
            converged = bool(res["diagnostics"]["converged"])
            rows.append({"family": name, "effect": key, **e, "converged": converged})
    causal = summary.get("causal") or {}
    for key, e in (causal.get("effects") or {}).items():  # DoWhy: an estimate, no iterations
        rows.append({"family": "dowhy", "effect": key, **e, "converged": True})
    table = pd.DataFrame(rows, columns=["family", "effect", "est", "lower", "upper", "converged"])
    if effects is not None:
        rank = {
            "effect": {key: i for i, key in enumerate(effects)},
            "family": {name: i for i, name in enumerate(dict.fromkeys(table["family"]))},
        }
        table = (
            table[table["effect"].isin(rank["effect"])]
            .sort_values(["family", "effect"], key=lambda col: col.map(rank[col.name]))
            .reset_index(drop=True)
        )
    if truth is not None:
        table["truth"] = table["effect"].map(truth)
    return table


def between_table(outcome: AnalysisOutcome, panel: SessionPanel) -> pd.DataFrame:
    """One row per family: its between-client association of x and y."""
    kb = between_key(panel.x, panel.y)
    rows = []
    for name in outcome.settings["families"]:
        res = outcome.results.get(name)
        b = res.effects.get("between", {}) if res is not None else {}
        rows.append(
            {
                "family": name,
                kb: _interval(b[kb]) if kb in b else "not estimated by this family",
                "status": _status(outcome, name),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            import matplotlib.pyplot as plt

            plt.switch_backend("Agg")
        except Exception:  # a backend that cannot switch: keep it
            pass
    import matplotlib.pyplot as plt

    return plt


def fig_variance(description: dict[str, Any]):
    """Stacked bars: share of each variable's variance between clients (therapists) and within."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    names = list(description["variables"])
    for i, v in enumerate(names):
        e = description["variables"][v]
        ther = e.get("therapist_share", 0.0) or 0.0
        between = e["between_share"] - ther
        within = 1 - e["between_share"]
        left = 0.0
        for share, colour, label in (
            (ther, "#9467bd", "therapists"),
            (between, "#ff7f0e", "between clients"),
            (within, "#1f77b4", "within clients (session to session)"),
        ):
            if share <= 0:
                continue
            ax.barh(i, share, left=left, color=colour, label=label if i == 0 else None)
            if share >= 0.08:  # a narrower bar has no room for its label
                ax.text(
                    left + share / 2, i, f"{share:.0%}", ha="center", va="center", color="white"
                )
            left += share
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of variance (random-intercept model)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False, fontsize=8)
    ax.set_title("Variance decomposition")
    fig.tight_layout()
    return fig


def fig_associations(description: dict[str, Any], panel: SessionPanel):
    """Pooled, between-client and within-client correlations, plus lag-1 within correlations."""
    plt = _plt()
    c = description["correlations"]
    lag = description["lagged_within_correlations"]
    kxy, kyx = effect_key(panel.x, panel.y), effect_key(panel.y, panel.x)
    labels = [
        "pooled\n(all rows)",
        "between\n(client means)",
        "within\n(same session)",
        f"within, lag 1\n{panel.x} →\nnext {panel.y}",
        f"within, lag 1\n{panel.y} →\nnext {panel.x}",
    ]
    vals = [c["pooled"], c["between"], c["within"], lag.get(kxy, np.nan), lag.get(kyx, np.nan)]
    colours = ["#7f7f7f", "#ff7f0e", "#1f77b4", "#1f77b4", "#1f77b4"]
    fig, ax = plt.subplots(figsize=(8.4, 3.8))
    ax.bar(range(len(vals)), vals, color=colours)
    for i, v in enumerate(vals):
        if np.isfinite(v):
            ax.text(
                i,
                v + (0.02 if v >= 0 else -0.02),
                f"{v:+.2f}",
                ha="center",
                va="bottom" if v >= 0 else "top",
                fontsize=9,
            )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(vals)), labels, fontsize=8)
    lim = max(0.3, np.nanmax(np.abs(vals)) * 1.3)
    ax.set_ylim(-lim, lim)
    ax.set_ylabel("correlation")
    ax.set_title(f"Correlation of {panel.x} and {panel.y}: pooled vs between vs within clients")
    fig.tight_layout()
    return fig


def _forest_panel(ax, rows, key: str, title: str, truth: float | None = None) -> None:
    ys = np.arange(len(rows))[::-1]
    for y, (name, res, status) in zip(ys, rows, strict=True):
        e = res.effects.get("within", {}).get(key) if res is not None else None
        if e is None or not np.isfinite(e.est):
            ax.text(
                0.5,
                y,
                status if res is None else "not estimated",
                va="center",
                ha="center",
                transform=ax.get_yaxis_transform(),
                fontsize=8,
                color="#b00020",
                bbox=dict(fc="white", ec="none", pad=1),
            )
            continue
        ok = res.converged
        colour = "#2ca02c" if name == "dowhy" else "#1f77b4"
        ax.errorbar(
            e.est,
            y,
            xerr=[[e.est - e.lower], [e.upper - e.est]] if np.isfinite(e.lower) else None,
            fmt="o",
            mfc=colour if ok else "white",
            color=colour,
            capsize=3,
        )
        if not ok:
            ax.text(
                0.98,
                y,
                "not converged",
                va="center",
                ha="right",
                fontsize=7,
                transform=ax.get_yaxis_transform(),
                color="#b00020",
            )
    ax.axvline(0, color="k", lw=0.8)
    if truth is not None:
        ax.axvline(truth, color="#d62728", ls="--", lw=1, label="truth")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(ys, [r[0] for r in rows])
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("effect per unit (raw scale), 95% interval")


def fig_forest(outcome: AnalysisOutcome, panel: SessionPanel, truth: Mapping[str, float] | None):
    """Within-client x -> next y and y -> next x, every family (and DoWhy), with intervals."""
    plt = _plt()
    rows = [
        (n, r, "FAILED" if n == "dowhy" and r is None else _status(outcome, n))
        for n, r in _rows(outcome)
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 1.8), sharey=True)
    for ax, (a, b) in zip(axes, ((panel.x, panel.y), (panel.y, panel.x)), strict=True):
        key = effect_key(a, b)
        _forest_panel(
            ax, rows, key, f"{a} → next session's {b}", None if truth is None else truth.get(key)
        )
    fig.suptitle("Within-client lagged effects by model family", fontsize=11)
    fig.tight_layout()
    return fig


def fig_between(outcome: AnalysisOutcome, panel: SessionPanel):
    """The between-client association each family reports (or why it has none)."""
    plt = _plt()
    kb = between_key(panel.x, panel.y)
    names = outcome.settings["families"]
    fig, ax = plt.subplots(figsize=(6.6, 0.42 * len(names) + 1.6))
    ys = np.arange(len(names))[::-1]
    for y, name in zip(ys, names, strict=True):
        res = outcome.results.get(name)
        e = res.effects.get("between", {}).get(kb) if res is not None else None
        if e is None or not np.isfinite(e.est):
            text = _status(outcome, name) if res is None else "no between-client estimate"
            ax.text(
                0.5,
                y,
                text,
                va="center",
                ha="center",
                transform=ax.get_yaxis_transform(),
                fontsize=8,
                color="#777777",
                bbox=dict(fc="white", ec="none", pad=1),
            )
            continue
        ax.errorbar(
            e.est,
            y,
            xerr=[[e.est - e.lower], [e.upper - e.est]] if np.isfinite(e.lower) else None,
            fmt="o",
            color="#ff7f0e",
            capsize=3,
        )
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(ys, names)
    ax.set_xlabel(f"between-client association {kb} (as each family defines it), 95% interval")
    ax.set_title("Between-client association by family", fontsize=10)
    fig.tight_layout()
    return fig


def fig_placebo(causal: Any):
    """The within-client placebo estimates against the actual estimate, per effect."""
    plt = _plt()
    dirs = [d for d in causal.directions.values() if len(d.placebo_draws)]
    fig, axes = plt.subplots(1, max(len(dirs), 1), figsize=(5.4 * max(len(dirs), 1), 3.2))
    for ax, d in zip(np.atleast_1d(axes), dirs, strict=False):
        ax.hist(d.placebo_draws, bins=20, color="#bbbbbb", label="placebo (permuted within client)")
        ax.axvline(d.effect.est, color="#2ca02c", lw=2, label="estimate")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(d.key, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(
        "Placebo refuter: the effect vanishes when the cause's timing is shuffled", fontsize=10
    )
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
class _Doc:
    """A tiny document model rendered to both Markdown and HTML."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, Any]] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", (level, text)))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def ul(self, items: Sequence[str]) -> None:
        self.blocks.append(("ul", list(items)))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("table", frame))

    def img(self, path: Path, alt: str) -> None:
        self.blocks.append(("img", (path, alt)))

    def markdown(self) -> str:
        out = []
        for kind, val in self.blocks:
            if kind == "h":
                out.append("#" * val[0] + " " + val[1])
            elif kind == "p":
                out.append(val)
            elif kind == "ul":
                out.append("\n".join(f"- {' '.join(str(i).split())}" for i in val))
            elif kind == "table":
                out.append(_md_table(val))
            elif kind == "img":
                out.append(f"![{val[1]}]({val[0].name})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        body = []
        for kind, val in self.blocks:
            if kind == "h":
                body.append(f"<h{val[0]}>{html.escape(val[1])}</h{val[0]}>")
            elif kind == "p":
                body.append(f"<p>{_inline(val)}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in val) + "</ul>")
            elif kind == "table":
                body.append(_html_table(val))
            elif kind == "img":
                data = base64.b64encode(val[0].read_bytes()).decode("ascii")
                body.append(
                    f'<figure><img alt="{html.escape(val[1])}" '
                    f'src="data:image/png;base64,{data}"/>'
                    f"<figcaption>{html.escape(val[1])}</figcaption></figure>"
                )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )


_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;"
    "margin:2em auto;padding:0 1em;color:#222;line-height:1.45}"
    "table{border-collapse:collapse;margin:0.8em 0;font-size:0.88em}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f3f6fa}img{max-width:100%}figure{margin:1em 0}"
    "figcaption{font-size:0.85em;color:#555}code{background:#f4f4f4;padding:0 3px}"
    "h1{border-bottom:2px solid #ddd}h2{border-bottom:1px solid #eee;margin-top:1.6em}"
)


def _inline(text: str) -> str:
    """Escape, then render `code` and **bold** spans."""
    import re

    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)


def _cell(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return _fmt(v)
    return str(v)


def _md_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        cells = [_cell(v).replace("|", "\\|").replace("\n", " ") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _write_outputs(outcome: AnalysisOutcome, panel: SessionPanel, truth=None) -> None:
    out, d = outcome.out, outcome.description
    files = outcome.files
    figure_errors = []

    def figure(key: str, make) -> None:
        try:
            files[key] = _save(make(), out / FIGURES[key])
        except Exception as exc:  # a figure must not sink the report; say so in it
            figure_errors.append(f"figure {FIGURES[key]}: {type(exc).__name__}: {exc}")

    figure("variance", lambda: fig_variance(d))
    figure("associations", lambda: fig_associations(d, panel))
    figure("forest", lambda: fig_forest(outcome, panel, truth))
    figure("between", lambda: fig_between(outcome, panel))
    if outcome.causal is not None:
        figure("dag", lambda: outcome.causal.draw_graph())
        figure("sensitivity", lambda: outcome.causal.plot_sensitivity())
        figure("placebo", lambda: fig_placebo(outcome.causal))
    else:
        from .causal import draw_graph

        figure("dag", lambda: draw_graph(panel))
    outcome.warnings += figure_errors

    doc = _build_doc(outcome, panel)
    (out / "report.md").write_text(doc.markdown())
    (out / "report.html").write_text(doc.html(f"causalrel analyze: {panel.source}"))
    files["report.md"] = out / "report.md"
    files["report.html"] = out / "report.html"
    files["summary.json"] = out / "summary.json"


def _answer_section(doc: _Doc, outcome: AnalysisOutcome, panel: SessionPanel) -> None:
    """The answer first: one conclusion per direction, and which families counted and why."""
    v = outcome.verdict
    if not v:
        return
    doc.h(2, "The answer")
    keys = [effect_key(panel.x, panel.y), effect_key(panel.y, panel.x)]
    doc.ul([f"**{k}: {v[k]['answer']}.** {v[k]['sentence']}" for k in keys])
    if not v.get("bayesian_families_run", True):
        doc.p(
            "This was a `--fast` run: the Bayesian families (MLM, DSEM) were not fitted and "
            "do not count; run without `--fast` for the full verdict."
        )
    rows = []
    for name, c in v["families"].items():
        rows.append(
            {
                "family": name,
                "counts": "yes" if c["credible"] else "no",
                "why not": "; ".join(c["reasons"]) or "—",
                "checks passed": "; ".join(c["checks"]) or "—",
            }
        )
    doc.p(
        "A family counts toward the answer only if it passes every check that applies to it "
        "on these data (rules: `causalrel.verdict`). Standardised (within-client SD units): "
        + ", ".join(f"{k} {_fmt(v[k]['standardized'])}" for k in keys)
        + "."
    )
    doc.table(pd.DataFrame(rows))
    if outcome.time_client:
        doc.p(
            "Trend sensitivity: the SEM families fitted again with each client's own linear "
            'trajectory (`time="client"`; the RI-CLPM becomes the latent curve model with '
            "structured residuals, LCM-SR)"
            + (
                f"; test of the slope variances p = {_fmt(v['context']['client_slopes_p'])}."
                if "client_slopes_p" in v.get("context", {})
                else "."
            )
        )
        trows = []
        for name, client in outcome.time_client.items():
            for label, r in (("common", outcome.results[name]), ("client", client)):
                trows.append(
                    {
                        "family": name,
                        "time": label,
                        **{k: _interval(r.effects["within"][k]) for k in keys},
                        "converged": r.converged,
                    }
                )
        doc.table(pd.DataFrame(trows))


def _build_doc(outcome: AnalysisOutcome, panel: SessionPanel) -> _Doc:
    d, f = outcome.description, outcome.files
    x, y = panel.x, panel.y
    kxy, kyx = effect_key(x, y), effect_key(y, x)
    doc = _Doc()
    doc.h(1, f"Does {x} lead to fewer {y}? causalrel analyze")
    s = outcome.settings
    doc.p(
        f"Data: `{panel.source}` — {d['n_clients']} clients, {d['n_rows']} client-sessions, "
        f"sessions {d['sessions']['min']}–{d['sessions']['max']} (median "
        f"{d['sessions']['median_per_client']:g} per client)"
        + (f", {d['n_therapists']} therapists" if d.get("n_therapists") else "")
        + f". Settings: fast={s['fast']}, seed={s['seed']}, time trend in the causal layer: "
        f"{s['trend']}. Run time {outcome.seconds:.0f} s."
    )
    # status first: nothing fails quietly
    problems = []
    for name, msg in outcome.failures.items():
        problems.append(f"**{name} FAILED**: {msg}")
    for name in outcome.not_converged:
        diag = outcome.results[name].diagnostics
        if diag.get("improper"):
            problems.append(
                f"**{name} has an improper solution** ({'; '.join(diag.get('problems', []))}): "
                "it did not converge to a proper estimate; do not trust its numbers."
            )
        else:
            problems.append(
                f"**{name} did not converge**: do not trust its numbers (see warnings)."
            )
    if outcome.causal_error:
        problems.append(f"**causal layer FAILED**: {outcome.causal_error}")
    for name, why in outcome.skipped.items():
        problems.append(f"{name}: {why}.")
    if problems:
        doc.h(2, "Status")
        doc.ul(problems)
    else:
        doc.p("Status: every family was fitted and converged; the causal layer ran.")

    _answer_section(doc, outcome, panel)

    doc.h(2, "1. The data: within and between clients")
    rows = []
    for v, e in d["variables"].items():
        rows.append(
            {
                "variable": v,
                "mean": e["mean"],
                "SD": e["sd"],
                "missing": f"{e['missing_share']:.1%}",
                "between share (RI model)": e["between_share"],
                "between share (naive)": e["between_share_naive"],
                **({"therapist share": e["therapist_share"]} if "therapist_share" in e else {}),
                "SD between": e["sd_between"],
                "SD within": e["sd_within"],
            }
        )
    doc.table(pd.DataFrame(rows))
    if "variance" in f:
        doc.img(f["variance"], "Share of each score's variance between clients and within clients")
    c, lag = d["correlations"], d["lagged_within_correlations"]
    doc.p(
        f"Correlation of {x} and {y}: pooled {c['pooled']:+.2f}, between clients (client means) "
        f"{c['between']:+.2f}, within clients (same session) {c['within']:+.2f}; lag-1 within: "
        f"{kxy} {lag.get(kxy, float('nan')):+.2f}, {kyx} {lag.get(kyx, float('nan')):+.2f}. "
        "Pooled and between-client associations answer a different question from the "
        "within-client one: whether clients with a better alliance have fewer symptoms, not "
        "whether a better-than-usual alliance is followed by fewer symptoms."
    )
    if "associations" in f:
        doc.img(f["associations"], "Pooled, between-client and within-client correlations")

    doc.h(2, "2. Within-client effects, every family side by side")
    doc.p(
        f"`{kxy}`: the effect of {x} at one session on {y} at the next, in raw units; "
        f"`{kyx}`: the reverse. 95% confidence (or credible) intervals. `dowhy` is the causal "
        "layer's within-client estimate (section 4)."
    )
    doc.table(within_table(outcome, panel))
    if "forest" in f:
        doc.img(f["forest"], "Within-client lagged effects by family, with 95% intervals")

    doc.h(2, "3. Between-client association per family")
    doc.table(between_table(outcome, panel))
    if "between" in f:
        doc.img(f["between"], "Between-client association per family")

    doc.h(2, "4. Causal layer (DoWhy): identification, estimate, refutations, sensitivity")
    if "dag" in f:
        doc.img(f["dag"], "The time-unrolled causal graph the causal layer assumes")
    cr = outcome.causal
    if cr is None:
        doc.p(f"**The causal layer failed**: {outcome.causal_error}")
    else:
        doc.p(
            "DoWhy is given the one-session slice of this graph. On raw scores the effect is "
            "not identified (stable traits open a back-door path no observed variable blocks); "
            "on within-client (person-mean-centred) scores the traits are gone and the back-door "
            "criterion gives the adjustment set below."
        )
        doc.table(cr.identification.drop(columns=["estimand"]))
        doc.h(3, "Estimates")
        est = cr.estimates.copy()
        est["estimate [95% interval]"] = [
            f"{_fmt(r.est)} [{_fmt(r.lower)}, {_fmt(r.upper)}]" for r in est.itertuples()
        ]
        doc.table(
            est[
                [
                    "effect",
                    "data",
                    "estimate [95% interval]",
                    "se_type",
                    "adjusted_for",
                    "n_clients",
                    "n_observations",
                ]
            ]
        )
        doc.h(3, "Refutations")
        ref = cr.refutations
        doc.table(ref.drop(columns="meaning"))  # the meanings follow as a list
        doc.ul(sorted({f"**{r.refuter}**: {r.meaning}" for r in ref.itertuples()}))
        if "placebo" in f:
            doc.img(
                f["placebo"], "Placebo refuter: estimates with the cause permuted within client"
            )
        doc.h(3, "Sensitivity to an unobserved time-varying confounder")
        sens = cr.sensitivity
        if "interpretation" in sens:
            doc.ul([f"**{r.effect}**: {r.interpretation}" for r in sens.itertuples()])
        if len(cr.benchmarks):
            b = cr.benchmarks.copy()
            b["adjusted estimate [95%]"] = [
                f"{_fmt(r.bias_adjusted_estimate)} [{_fmt(r.bias_adjusted_lower)}, "
                f"{_fmt(r.bias_adjusted_upper)}]"
                for r in b.itertuples()
            ]
            doc.table(
                b[
                    [
                        "effect",
                        "benchmark",
                        "times_as_strong",
                        "r2_confounder_cause",
                        "r2_confounder_outcome",
                        "adjusted estimate [95%]",
                        "explains_away",
                    ]
                ]
            )
        if "sensitivity" in f:
            doc.img(f["sensitivity"], "Bias-adjusted estimate over confounder strengths")
        doc.ul(cr.notes)

    doc.h(2, "5. What each family assumes, and when to distrust it")
    notes = []
    for name, _ in _rows(outcome):
        a, w = FAMILY_NOTES.get(name, ("(no note for this family)", "(no note)"))
        status = "causal layer" if name == "dowhy" else _status(outcome, name)
        notes.append(
            {"family": name, "status": status, "what it assumes": a, "when to distrust it": w}
        )
    doc.table(pd.DataFrame(notes))

    doc.h(2, "6. Warnings")
    conv = []
    for name in outcome.not_converged:
        r = outcome.results[name]
        diag = ", ".join(
            f"{k}={_value(v)}"
            for k, v in r.diagnostics.items()
            if k not in ("converged", "message")
            and isinstance(v, (int, float, bool, np.number, np.bool_))
        )
        conv.append(f"**{name} did not converge** ({diag})")
    if conv or outcome.warnings:
        doc.ul(conv + list(outcome.warnings))
    else:
        doc.p("No warnings.")
    doc.h(2, "Files")
    doc.p(
        "Figures as PNG beside this report; every number above is in `summary.json` "
        "(`models` holds each family's full results, `refutations` the table of section 4)."
    )
    return doc
