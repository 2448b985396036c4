"""The report's sections, one function each, and the writing of the report files.

A section sees the run (:class:`~causalrel.report.run.AnalysisOutcome`) and the data; it reads
what it needs about a family from the family (:func:`causalrel.families.family_spec`) or from
its results, never from a table kept here. The causal section is written for any results that
refute their own estimate (``identification``, ``estimates``, ``refutations``, ``sensitivity``,
``benchmarks``; :class:`causalrel.causal.CausalResults` is the one such family today).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..data import SessionPanel
from ..results import effect_key
from .document import Document, fmt, interval, value
from .figures import (
    FIGURES,
    fig_associations,
    fig_between,
    fig_forest,
    fig_variance,
    save,
)
from .inference import inference_section
from .tables import between_table, rows, status, within_table

__all__ = ["SECTIONS", "build_document", "write_outputs", "refuting"]


def refuting(outcome: Any) -> list[tuple[str, Any]]:
    """The fitted families whose results refute their own estimate (the causal layer)."""
    return [(n, r) for n, r in outcome.results.items() if hasattr(r, "refutations")]


def write_outputs(outcome: Any, panel: SessionPanel, truth: Mapping[str, float] | None = None):
    """Draw the figures and write ``report.md`` and ``report.html`` into ``outcome.out``."""
    out, d, files = outcome.out, outcome.description, outcome.files
    figure_errors = []

    def figure(key: str, make: Callable[[], Any]) -> None:
        try:
            files[key] = save(make(), out / FIGURES[key])
        except Exception as exc:  # a figure must not sink the report; say so in it
            figure_errors.append(f"figure {FIGURES[key]}: {type(exc).__name__}: {exc}")

    figure("variance", lambda: fig_variance(d))
    figure("associations", lambda: fig_associations(d, panel))
    figure("forest", lambda: fig_forest(outcome, panel, truth))
    figure("between", lambda: fig_between(outcome, panel))
    for _, res in refuting(outcome)[:1]:
        figure("dag", res.draw_graph)
        figure("sensitivity", res.plot_sensitivity)
        figure("placebo", res.plot_placebo)
    outcome.warnings += figure_errors

    doc = build_document(outcome, panel)
    (out / "report.md").write_text(doc.markdown())
    (out / "report.html").write_text(doc.html(f"causalrel analyze: {panel.source}"))
    files["report.md"] = out / "report.md"
    files["report.html"] = out / "report.html"
    files["summary.json"] = out / "summary.json"


def build_document(outcome: Any, panel: SessionPanel) -> Document:
    """The whole report: every section of :data:`SECTIONS`, in order."""
    doc = Document()
    for section in SECTIONS:
        section(doc, outcome, panel)
    return doc


def header(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """Title, data and settings."""
    d, s = outcome.description, outcome.settings
    doc.h(1, f"Does {panel.x} lead to fewer {panel.y}? causalrel analyze")
    doc.p(
        f"Data: `{panel.source}` — {d['n_clients']} clients, {d['n_rows']} client-sessions, "
        f"sessions {d['sessions']['min']}–{d['sessions']['max']} (median "
        f"{d['sessions']['median_per_client']:g} per client)"
        + (f", {d['n_therapists']} therapists" if d.get("n_therapists") else "")
        + f". Settings: fast={s['fast']}, seed={s['seed']}, time trend in the causal layer: "
        f"{s['trend']}. Run time {outcome.seconds:.0f} s."
    )


def status_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """Status first: nothing fails quietly."""
    problems = [f"**{name} FAILED**: {msg}" for name, msg in outcome.failures.items()]
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
    problems += [f"{name}: {why}." for name, why in outcome.skipped.items()]
    if problems:
        doc.h(2, "Status")
        doc.ul(problems)
    else:
        doc.p("Status: every family was fitted and converged.")


def answer_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """The answer first: one conclusion per direction, and which families counted and why."""
    v = outcome.verdict
    if not v:
        return
    doc.h(2, "The answer")
    keys = [effect_key(panel.x, panel.y), effect_key(panel.y, panel.x)]
    items = [f"**{k}: {v[k]['answer']}.** {v[k]['sentence']}" for k in keys]
    if "difference" in v:
        items.append(
            f"**Which is larger: {v['difference']['answer']}.** {v['difference']['sentence']}"
        )
    doc.ul(items)
    if not v.get("bayesian_families_run", True):
        doc.p(
            "This was a `--fast` run: the sampling (Bayesian) families were not fitted and "
            "do not count; run without `--fast` for the full verdict."
        )
    table = [
        {
            "family": name,
            "counts": "yes" if c["credible"] else "no",
            "why not": "; ".join(c["reasons"]) or "—",
            "checks passed": "; ".join(c["checks"]) or "—",
        }
        for name, c in v["families"].items()
    ]
    doc.p(
        "A family counts toward the answer only if it passes every check that applies to it "
        "on these data (rules: `causalrel.verdict`). Standardised (within-client SD units): "
        + ", ".join(f"{k} {fmt(v[k]['standardized'])}" for k in keys)
        + "."
    )
    doc.table(pd.DataFrame(table))
    if outcome.time_client:
        slopes = v.get("context", {}).get("client_slopes_p")
        doc.p(
            "Trend sensitivity: families fitted again with each client's own linear "
            'trajectory (`time="client"`; the RI-CLPM becomes the latent curve model with '
            "structured residuals, LCM-SR)"
            + (f"; test of the slope variances p = {fmt(slopes)}." if slopes is not None else ".")
        )
        trows = []
        for name, client in outcome.time_client.items():
            for label, r in (("common", outcome.results[name]), ("client", client)):
                trows.append(
                    {
                        "family": name,
                        "time": label,
                        **{k: interval(r.effects["within"][k]) for k in keys},
                        "slope variances": _slope_cell(r, label),
                        "converged": r.converged,
                    }
                )
        doc.table(pd.DataFrame(trows))


def _slope_cell(res: Any, label: str) -> str:
    """The trend table's word on the slope variances of a ``time="client"`` fit."""
    slopes = res.diagnostics.get("slopes")
    if label != "client" or slopes is None:
        return "—"
    if slopes["fixed_at_zero"]:
        return f"not supported by the data: {', '.join(slopes['fixed_at_zero'])} fixed at 0"
    return "free" if slopes["supported"] else f"not supported ({slopes['reason']})"


def data_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """1. The data: variance shares and pooled / between / within correlations."""
    d, f = outcome.description, outcome.files
    x, y = panel.x, panel.y
    kxy, kyx = effect_key(x, y), effect_key(y, x)
    doc.h(2, "1. The data: within and between clients")
    table = []
    for v, e in d["variables"].items():
        table.append(
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
    doc.table(pd.DataFrame(table))
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


def within_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """2. Within-client effects, every family side by side."""
    x, y = panel.x, panel.y
    doc.h(2, "2. Within-client effects, every family side by side")
    causal = ", ".join(f"`{n}`" for n, _ in refuting(outcome))
    doc.p(
        f"`{effect_key(x, y)}`: the effect of {x} at one session on {y} at the next, in raw "
        f"units; `{effect_key(y, x)}`: the reverse. 95% confidence (or credible) intervals."
        + (f" {causal} is the causal layer's within-client estimate (section 4)." if causal else "")
    )
    doc.table(within_table(outcome, panel))
    if "forest" in outcome.files:
        doc.img(
            outcome.files["forest"], "Within-client lagged effects by family, with 95% intervals"
        )


def between_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """3. Between-client association per family."""
    doc.h(2, "3. Between-client association per family")
    doc.table(between_table(outcome, panel))
    if "between" in outcome.files:
        doc.img(outcome.files["between"], "Between-client association per family")


def causal_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """4. The causal layer: identification, estimates, refutations, sensitivity."""
    f = outcome.files
    for name, cr in refuting(outcome):
        doc.h(2, f"4. Causal layer ({name}): identification, estimate, refutations, sensitivity")
        if "dag" in f:
            doc.img(f["dag"], "The time-unrolled causal graph the causal layer assumes")
        doc.p(getattr(cr, "identification_note", ""))
        doc.table(cr.identification.drop(columns=["estimand"]))
        doc.h(3, "Estimates")
        est = cr.estimates.copy()
        est["estimate [95% interval]"] = [
            f"{fmt(r.est)} [{fmt(r.lower)}, {fmt(r.upper)}]" for r in est.itertuples()
        ]
        cols = ["effect", "data", "estimate [95% interval]", "se_type", "adjusted_for"]
        doc.table(est[[*cols, "n_clients", "n_observations"]])
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
                f"{fmt(r.bias_adjusted_estimate)} [{fmt(r.bias_adjusted_lower)}, "
                f"{fmt(r.bias_adjusted_upper)}]"
                for r in b.itertuples()
            ]
            cols = ["effect", "benchmark", "times_as_strong", "r2_confounder_cause"]
            cols += ["r2_confounder_outcome", "adjusted estimate [95%]", "explains_away"]
            doc.table(b[cols])
        if "sensitivity" in f:
            doc.img(f["sensitivity"], "Bias-adjusted estimate over confounder strengths")
        doc.ul(cr.notes)


def assumptions_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """5. What each family assumes, and when to distrust it (from the families themselves)."""
    from ..families import family_spec

    doc.h(2, "5. What each family assumes, and when to distrust it")
    notes = []
    for name, _ in rows(outcome):
        try:
            spec = family_spec(name, strict=False)
            a, w = spec.assumes, spec.distrust_when
        except Exception:  # a family that cannot even be imported: its failure is above
            a, w = "(no note for this family)", "(no note)"
        notes.append(
            {
                "family": name,
                "status": status(outcome, name),
                "what it assumes": a,
                "when to distrust it": w,
            }
        )
    doc.table(pd.DataFrame(notes))


def warnings_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """6. Warnings: non-convergence first, then every warning the run recorded."""
    doc.h(2, "6. Warnings")
    conv = []
    for name in outcome.not_converged:
        r = outcome.results[name]
        diag = ", ".join(
            f"{k}={value(v)}"
            for k, v in r.diagnostics.items()
            if k not in ("converged", "message")
            and isinstance(v, (int, float, bool, np.number, np.bool_))
        )
        conv.append(f"**{name} did not converge** ({diag})")
    if conv or outcome.warnings:
        doc.ul(conv + list(outcome.warnings))
    else:
        doc.p("No warnings.")


def paper_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """A results paragraph and table for a paper (APA style), from the same numbers."""
    from .apa import results_paragraph, results_table

    if not outcome.verdict:
        return
    summary = outcome.to_dict()
    doc.h(2, "For a paper: results paragraph and table (APA/JARS template)")
    doc.p(
        "A draft to adapt (name the instruments and the design; say what the estimates mean "
        "for your question); `causalrel.report.apa` writes it from `summary.json`."
    )
    doc.p(results_paragraph(summary))
    doc.table(results_table(summary))


def files_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """Where the numbers are."""
    doc.h(2, "Files")
    doc.p(
        "Figures as PNG beside this report; every number above is in `summary.json` "
        "(`models` holds each family's full results, `refutations` the table of section 4)."
    )


#: The report, in order: (document, outcome, panel) -> None each.
SECTIONS: list[Callable[[Document, Any, SessionPanel], None]] = [
    header,
    status_section,
    answer_section,
    data_section,
    inference_section,
    within_section,
    between_section,
    causal_section,
    assumptions_section,
    warnings_section,
    paper_section,
    files_section,
]
