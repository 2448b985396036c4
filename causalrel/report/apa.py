"""A results paragraph and table for a paper, in the APA style, from ``summary.json``.

What: :func:`results_paragraph` drafts the results paragraph that the APA's Journal Article
Reporting Standards for quantitative research (JARS-Quant; Appelbaum et al. 2018) ask for in a
longitudinal observational study: the sample actually analysed, how missing data were handled,
the estimators, and every estimate with its interval and an effect size (here the within-client
standardised effect); :func:`results_table` is the table behind it, one row per family and
direction, with whether the family counted toward the verdict and why not. Both read only the
``summary.json`` of ``causalrel analyze`` (a path or its parsed content), so a paper's numbers
come from the same file as the report's.

It is a template: the authors still name the instruments, the design and the preregistration,
and say what the estimates mean for their question.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["results_paragraph", "results_table"]


def _load(summary: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    if isinstance(summary, (str, Path)):
        return json.loads(Path(summary).read_text())
    return summary


def _num(v: float | None) -> str:
    """APA numbers: two decimals (three below 0.1, so that small effects do not read as
    zero), a true minus sign."""
    if v is None:
        return "n/a"
    digits = 2 if abs(v) >= 0.1 or v == 0 else 3
    return f"{v:.{digits}f}".replace("-", "\u2212")


def _ci(lo: float | None, hi: float | None) -> str:
    return f"[{_num(lo)}, {_num(hi)}]"


def _directions(s: Mapping[str, Any]) -> list[str]:
    return [k for k in s["verdict"] if "->" in k and isinstance(s["verdict"][k], dict)]


def results_table(summary: Mapping[str, Any] | str | Path) -> pd.DataFrame:
    """One row per family and direction: estimate, 95% interval, standardised estimate, and
    whether the family counted toward the verdict (with the reason when it did not)."""
    s = _load(summary)
    v = s["verdict"]
    sd = {name: e["sd_within"] for name, e in s["data"]["variables"].items()}
    rows = []
    for key in _directions(s):
        cause, outcome = key.split("->")
        for name, fam in v["families"].items():
            eff = fam.get("effects", {}).get(key)
            if eff is None:
                continue
            rows.append(
                {
                    "effect": key,
                    "family": name,
                    "b": eff["est"],
                    "95% CI": _ci(eff["lower"], eff["upper"]),
                    "beta_w": eff["est"] * sd[cause] / sd[outcome],
                    "counts": "yes" if fam["credible"] else "no",
                    "why not": "; ".join(fam["reasons"]),
                }
            )
    return pd.DataFrame(rows)


def results_paragraph(
    summary: Mapping[str, Any] | str | Path,
    *,
    labels: Mapping[str, str] | None = None,
) -> str:
    """A draft results paragraph (APA style, JARS-Quant elements) from ``summary.json``.

    Parameters
    ----------
    summary : mapping or path
        The content of ``summary.json`` or its path.
    labels : mapping, optional
        Words for the score names, e.g. ``{"alliance": "the working alliance (WAI-SR)",
        "symptoms": "distress (CORE-OM)"}``; default the column names.
    """
    s = _load(summary)
    d, v = s["data"], s["verdict"]
    name = dict(labels or {})

    def word(var: str) -> str:
        return name.get(var, var)

    keys = _directions(s)
    fams = sorted(v["families"])
    excluded = {n: f["reasons"] for n, f in v["families"].items() if not f["credible"]}
    miss = ", ".join(
        f"{e['missing_share']:.1%} of {word(var)} ratings" for var, e in d["variables"].items()
    )
    text = [
        f"We analysed {d['n_clients']} clients with {d['n_rows']} rated sessions (median "
        f"{d['sessions']['median_per_client']:g} sessions per client"
        + (f", {d['n_therapists']} therapists" if d.get("n_therapists") else "")
        + f"). Missing ratings ({miss}) were handled by full-information maximum likelihood in "
        "the structural equation models and by dropping incomplete session pairs in the panel "
        "estimators.",
        f"Within-client lagged effects were estimated with {len(fams)} model specifications "
        f"({', '.join(fams)}). A specification counted toward the conclusion only if it passed "
        "the checks that apply to it on these data"
        + (
            "; excluded were "
            + "; ".join(f"{n} ({'; '.join(r)})" for n, r in sorted(excluded.items()))
            if excluded
            else ""
        )
        + ".",
    ]
    for key in keys:
        e = v[key]
        cause, outcome = key.split("->")
        k = len(e["families"])
        if e["answer"] == "effect":
            head = (
                f"A higher-than-usual {word(cause)} predicted "
                f"{'lower' if e['sign'] == 'negative' else 'higher'} {word(outcome)} at the "
                "next session"
            )
        elif e["answer"] == "no effect detected":
            head = f"No within-client effect of {word(cause)} on next-session {word(outcome)} was detected"
        else:
            head = f"The effect of {word(cause)} on next-session {word(outcome)} was inconclusive"
        if k:
            body = (
                f" (median b = {_num(e['estimate'])}, 95% CI envelope "
                f"{_ci(e['lower'], e['upper'])} across {k} credible specifications; "
                f"within-client standardised \u03b2 = {_num(e['standardized'])}; "
                f"{len(e['significant'])} of {k} intervals excluded zero)"
            )
            lr = e.get("long_run")
            if lr:
                body += (
                    f"; the long-run effect of a lasting one-point change was "
                    f"{_num(lr['estimate'])}, {_ci(lr['lower'], lr['upper'])}"
                )
        else:
            body = " (no specification counted)"
        text.append(head + body + ".")
    diff = v.get("difference")
    if diff and diff.get("estimate") is not None:
        text.append(
            f"The difference in size of the standardised effects ({keys[0]} minus {keys[1]}) "
            f"was {_num(diff['estimate'])}, 95% CI envelope "
            f"{_ci(diff['lower'], diff['upper'])} ({diff['answer']})."
        )
    if not v.get("bayesian_families_run", True):
        text.append("The Bayesian specifications were not run (a fast analysis).")
    return " ".join(text)
