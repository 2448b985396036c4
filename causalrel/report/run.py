"""The analysis run: describe the data, fit every registered family, check, write the report.

Every step runs through one helper (:class:`_Run.step`): it records the warnings the step
raises (non-convergence above all) into the report, turns an exception into a reported
failure (never a dropped family), lets Ctrl-C through, and logs one line. What a family needs
from the run (whether it samples, the defaults ``analyze`` uses, how ``trend`` reaches it,
whether it is refitted with ``time="client"``) is read from the family itself
(:func:`causalrel.families.family_spec`); nothing here names a family. The standard errors
(MLR for clearly non-normal scores, clustering by therapist) are chosen once per run by
:func:`causalrel.report.inference.choose_inference` and given to every family that takes the
option.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import DataError, SessionPanel
from ..results import ModelResults, _jsonable

__all__ = ["TRENDS", "AnalysisOutcome", "analyze"]

#: ``analyze``'s ``trend`` values (each family's ``trend_options`` says what they mean to it).
TRENDS = ("linear", "none", "detrend")

#: Warning categories that are library housekeeping, not news about the fit.
_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


@dataclass
class AnalysisOutcome:
    """What :func:`analyze` did: results, failures, files.

    ``ok`` is true when every requested family was fitted and converged; ``causalrel analyze``
    exits non-zero otherwise.
    """

    out: Path
    description: dict[str, Any]
    results: dict[str, ModelResults] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    verdict: dict[str, Any] = field(default_factory=dict)
    #: Trend sensitivity: the families with ``trend_check`` refitted with ``time="client"``
    #: (each client's own linear trajectory; the RI-CLPM becomes the LCM-SR), by family name.
    time_client: dict[str, ModelResults] = field(default_factory=dict)

    @property
    def not_converged(self) -> list[str]:
        return [n for n, r in self.results.items() if not r.converged]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.not_converged

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
        """The content of ``summary.json``.

        ``refutations`` and ``sensitivity`` gather the tables of every family that refutes its
        own estimate (the causal layer), so that they can be read without knowing its name.
        """
        tables: dict[str, list] = {"refutations": [], "sensitivity": []}
        for res in self.results.values():
            for key in tables:
                if hasattr(res, key):
                    tables[key] += getattr(res, key).to_dict(orient="records")
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
                **tables,
                "warnings": list(self.warnings),
                "files": {k: p.name for k, p in self.files.items()},
            }
        )


class _Run:
    """The progress display and the one step helper of an analysis run."""

    def __init__(self, n_steps: int, progress: bool, outcome_warnings: list[str]) -> None:
        from tqdm.auto import tqdm

        self.progress = progress
        self.tty = sys.stderr.isatty()  # a log file gets plain lines, no bar fragments
        self.bar = tqdm(
            total=n_steps, disable=not (progress and self.tty), file=sys.stderr, unit="step"
        )
        self.warnings = outcome_warnings

    def say(self, msg: str) -> None:
        if self.progress and self.tty:
            self.bar.write(msg, file=sys.stderr)
        elif self.progress:
            print(msg, file=sys.stderr, flush=True)

    def begin(self, what: str) -> None:
        self.bar.set_description(what)
        if self.progress and not self.tty:
            print(f"{what} ...", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def step(self, label: str, errors: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Run one step: its warnings go to the report under ``label``; an exception is
        recorded in ``errors[label]`` (and ``box["error"]``) instead of stopping the run, or
        re-raised when ``errors`` is None. Ctrl-C always stops."""
        box: dict[str, Any] = {"error": None, "seconds": 0.0}
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield box
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                if errors is None:
                    raise
                box["error"] = errors[label] = f"{type(exc).__name__}: {exc}"
        box["seconds"] = time.perf_counter() - t0
        self.warnings += _messages(caught, label)

    def done(self) -> None:
        self.bar.update()


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
    estimator: str | None = None,
    cluster: str | None = None,
) -> AnalysisOutcome:
    """Fit every family (the causal layer among them) and write the report into ``out``.

    Parameters
    ----------
    panel : SessionPanel
        Validated data (:func:`causalrel.load_panel`).
    out : path
        Folder for ``report.html``, ``report.md``, the PNG figures and ``summary.json``
        (created if needed; existing files of the same names are replaced).
    fast : bool
        Skip the families that sample (``samples = True``: ``mlm``, ``dsem``) and use each
        family's ``fast_options`` (fewer refutation simulations in the causal layer).
    seed : int
        Seed passed to every family that takes one.
    families : sequence of str, optional
        Families to fit (default: every registered family).
    progress : bool
        Show progress (a bar and one line per step) on standard error.
    trend : {"linear", "none", "detrend"}
        How time trends are handled by the families that declare ``trend_options`` (the
        causal layer: :data:`causalrel.causal.TRENDS`; the DSEM: "linear" fits each client's
        latent linear trend). The other families keep their own defaults, so the report shows
        what trends do to them.
    options : mapping, optional
        ``{family: {option: value}}`` passed to :func:`~causalrel.families.fit_model`; they
        override the defaults used here (each family's ``analyze_options``, ``seed``).
    truth : mapping, optional
        Known within-client effects (simulated data, e.g. ``Simulation.truth.within``), drawn
        as reference lines in the forest plot.
    rci : mapping, optional
        Reliable-change threshold of an outcome instrument in its points (e.g.
        ``{"symptoms": 6}``): the verdict then says what the effect is as a share of it.
    estimator : {"ml", "mlr"}, optional
        The SEM families' estimator for the whole run, over the automatic rule (Notes).
    cluster : str, optional
        A client-level column to cluster every family with a ``cluster`` option by, or
        ``"none"``; over the automatic therapist column (Notes).

    Notes
    -----
    Standard errors are chosen from the data (:mod:`causalrel.report.inference`): the SEM
    families use ``estimator="mlr"`` when a score is clearly non-normal (|skewness| > 2 or
    excess kurtosis > 7, raw or within-client; Curran, West & Finch 1996), and with a therapist
    column every family with a ``cluster`` option clusters by therapist. The report states the
    rule, the measured skewness and kurtosis and the decision (``settings["inference"]`` in
    ``summary.json``); ``options`` overrides it per family (e.g. ``{"riclpm": {"estimator":
    "ml"}}``).

    Returns
    -------
    AnalysisOutcome
        ``.ok`` is false if any family failed or did not converge.
    """
    from ..decompose import describe
    from ..families import FAMILIES, family_spec
    from ..verdict import analysis_verdict
    from .inference import choose_inference
    from .sections import write_outputs

    start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder for the report.")
    inference = choose_inference(panel, estimator=estimator, cluster=cluster)  # checks them
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
    if trend not in TRENDS:
        raise DataError(f"trend must be one of {', '.join(TRENDS)}; got {trend!r}.")
    options = {k: dict(v) for k, v in (options or {}).items()}
    outcome = AnalysisOutcome(out=out, description={})
    run = _Run(len(names) + 2, progress, outcome.warnings)

    run.begin("describing the data")
    with run.step("describe"):
        description = describe(panel)
    outcome.description = description
    outcome.settings = {
        "fast": fast,
        "seed": seed,
        "trend": trend,
        "families": names,
        "options": options,
        "source": panel.source,
        "rci": dict(rci or {}),
        "columns": {k: v for k, v in panel.column_map().items() if v},
        "inference": inference.to_dict(),
        "family_inference": {},
    }
    outcome.warnings[:0] = [f"data: {m}" for m in panel.warnings]
    c = description["correlations"]
    run.say(
        f"data: {description['n_clients']} clients, {description['n_rows']} client-sessions; "
        f"correlations pooled {c['pooled']:+.2f}, between {c['between']:+.2f}, within "
        f"{c['within']:+.2f}"
    )
    run.say(f"standard errors: {inference.reason}")
    run.done()

    from .tables import effect_line

    refit = []
    for name in names:
        spec = None
        with run.step(name, outcome.failures) as box:
            spec = family_spec(name, strict=False)
            if fast and spec.samples:
                outcome.skipped[name] = "skipped by --fast (a sampler family)"
            else:
                run.begin(f"fitting {name}")
                opts = _family_options(
                    name,
                    seed,
                    options.get(name, {}),
                    trend=trend,
                    fast=fast,
                    progress=run,
                    inference=inference,
                )
                outcome.settings["family_inference"][name] = {
                    k: opts[k] for k in ("estimator", "cluster") if k in opts
                }
                outcome.results[name] = _fit(name, panel, opts)
        if name in outcome.skipped:
            run.say(f"{name}: skipped (--fast)")
        elif box["error"]:
            run.say(f"{name}: FAILED after {box['seconds']:.1f} s: {box['error']}")
        else:
            res = outcome.results[name]
            run.say(
                f"{name}: {effect_line(res, panel)} ({box['seconds']:.1f} s)"
                + ("" if res.converged else "  NOT CONVERGED")
            )
            if spec.trend_check and "time" not in options.get(name, {}):
                refit.append(name)
        run.done()

    for name in refit:  # the trend-sensitivity check is extra: a failure is a warning
        label = f"{name} (time=client)"
        errors: dict[str, str] = {}
        with run.step(label, errors):
            opts = _family_options(
                name, seed, options.get(name, {}), trend=trend, fast=fast, inference=inference
            )
            outcome.time_client[name] = _fit(name, panel, {**opts, "time": "client"})
        if errors:
            outcome.warnings.append(f"{label}: not fitted ({errors[label].split(': ', 1)[1]})")
        else:
            run.say(f"{label}: {effect_line(outcome.time_client[name], panel)}")

    outcome.verdict = analysis_verdict(
        outcome.results,
        outcome.time_client,
        description,
        x=panel.x,
        y=panel.y,
        rci=outcome.settings["rci"] or None,
        warnings=outcome.warnings,
        bayesian_run=not fast,
    )
    run.begin("writing the report")
    outcome.seconds = time.perf_counter() - start
    write_outputs(outcome, panel, truth)
    outcome.seconds = time.perf_counter() - start
    (out / "summary.json").write_text(
        json.dumps(outcome.to_dict(), indent=2, allow_nan=False) + "\n"
    )
    run.done()
    run.bar.close()
    if progress:
        state = "OK" if outcome.ok else "PROBLEMS"
        print(
            f"{state}: report in {out / 'report.html'} ({outcome.seconds:.0f} s)"
            + (f"; failed: {', '.join(outcome.failures)}" if outcome.failures else "")
            + (
                f"; not converged: {', '.join(outcome.not_converged)}"
                if outcome.not_converged
                else ""
            ),
            file=sys.stderr,
        )
    return outcome


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
    name: str,
    seed: int,
    user: Mapping[str, Any],
    *,
    trend: str = "linear",
    fast: bool = False,
    progress: Any = None,
    inference: Any = None,
) -> dict[str, Any]:
    """``analyze``'s options for family ``name``, kept only where accepted: the seed, quiet
    progress, the run's choice of standard errors (``inference``, an
    :class:`~causalrel.report.inference.Inference`), the family's ``analyze_options`` (or
    ``fast_options``) and ``trend_options``.

    Inner progress bars (``progress``, a :class:`_Run`) are shown only on a terminal and only
    for families that do not sample (a sampler's own display would fight the step bar).
    """
    from ..families import family_options, family_spec

    spec = family_spec(name, strict=False)
    accepted = family_options(name)
    inner = bool(progress is not None and progress.progress and progress.tty)
    defaults: dict[str, Any] = {
        "seed": seed,
        "progressbar": False,
        "progress": inner and not spec.samples,
    }
    if inference is not None:
        defaults.update(inference.options(accepted))
    defaults.update(spec.analyze_options)
    if fast:
        defaults.update(spec.fast_options)
    defaults.update(spec.trend_options.get(trend, {}))
    opts = {k: v for k, v in defaults.items() if k in accepted}
    opts.update(user)  # the user's options always win (and are checked by fit_model)
    return opts


def _fit(name: str, panel: SessionPanel, opts: dict[str, Any]) -> ModelResults:
    from ..families import fit_model

    res = fit_model(name, panel, **opts)
    if not isinstance(res, ModelResults):
        raise TypeError(f"{name} returned {type(res).__name__}, not ModelResults")
    return res
