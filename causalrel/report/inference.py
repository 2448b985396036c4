"""How ``analyze`` chooses the standard errors: the automatic MLR rule and clustering by therapist.

Two decisions, made once per run from the data and applied to every family that takes the
option (read from the families' signatures, :func:`causalrel.families.family_options`):

* **Estimator of the SEM families** (``estimator="ml"`` or ``"mlr"``). Normal-theory ML
  standard errors and chi-square assume multivariate normal scores; with skewed or heavy-tailed
  scores the chi-square is inflated and the standard errors are too small, while MLR (sandwich
  standard errors, Yuan–Bentler scaled chi-square) stays right. The rule: **MLR when either
  score, as raw scores (each session's mean removed) or as within-client deviations (each
  client's mean removed), has |skewness| > 2 or excess kurtosis > 7.** These are the values of
  the "moderately non-normal" condition of Curran, West & Finch (1996, *Psychological Methods*
  1(1), 16-29), at which their simulations showed the ML chi-square clearly inflated while the
  Satorra–Bentler scaled statistic was unbiased (Finch, West & MacKinnon 1997, *Structural
  Equation Modeling* 4(2), with the same conditions, found the ML standard errors too small);
  they are also the limits up to which Finney & DiStefano (2006, in Hancock & Mueller,
  *Structural Equation Modeling: A Second Course*) consider normal-theory ML acceptable. Below them the data are not "clearly" non-normal, and ML is kept (MLR would
  move the standard errors little there). Skewness and kurtosis are the bias-adjusted sample
  statistics (``scipy.stats.skew``/``kurtosis`` with ``bias=False``, what SPSS reports), so the
  report's numbers are the ones a reader can check. Both kinds of scores are measured because
  the random-intercept models split the scores into a between part and a within part, and either
  can be the non-normal one.
* **Clustering** (``cluster=``). When the data have a therapist column, clients are nested in
  therapists and may share shocks, so every family with a ``cluster`` option clusters its
  standard errors by therapist: the SEM families (which implies MLR, as lavaan's
  ``cluster =``), fe and dpd. The user's own options (``analyze(options=...)``) always win.

The user can also make either decision for the whole run (``analyze(estimator=...,
cluster=...)``, ``causalrel analyze --estimator ml|mlr --cluster COLUMN|none``): the choice wins
over the rule, and the report says it was the user's (and what the rule would have chosen).
A user's ``estimator="ml"`` with automatic clustering leaves the SEM families unclustered
(clustered SEM standard errors are MLR's); with a cluster the user named it is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..data import SessionPanel
from .document import Document

__all__ = [
    "SKEW_LIMIT",
    "KURTOSIS_LIMIT",
    "RULE",
    "Inference",
    "normality",
    "choose_inference",
    "inference_section",
    "NO_CLUSTER",
]

#: The ``cluster`` value that turns clustering off (``--cluster none``).
NO_CLUSTER = "none"

#: |skewness| above this makes the scores clearly non-normal (Curran, West & Finch 1996).
SKEW_LIMIT = 2.0
#: Excess kurtosis above this makes the scores clearly non-normal (Curran, West & Finch 1996).
KURTOSIS_LIMIT = 7.0
#: The rule in words, as the report states it.
RULE = (
    f"MLR when either score, as raw scores (session means removed) or within-client deviations "
    f"(client means removed), has |skewness| > {SKEW_LIMIT:g} or excess kurtosis > "
    f"{KURTOSIS_LIMIT:g}: the moderately non-normal condition of Curran, West & Finch (1996), "
    "where normal-theory ML's chi-square is clearly inflated (and, in Finch, West & MacKinnon "
    "1997, its standard errors too small) while the robust statistics are not"
)
#: Fewer values than this give no skewness/kurtosis worth a decision.
MIN_VALUES = 20


@dataclass
class Inference:
    """``analyze``'s choice of estimator (SEM families) and cluster (every family with one)."""

    estimator: str
    cluster: str | None
    measures: pd.DataFrame = field(repr=False)
    reason: str = ""
    #: Who made each choice: ``{"estimator": "rule" | "user", "cluster": "rule" | "user"}``.
    chosen_by: dict[str, str] = field(
        default_factory=lambda: {"estimator": "rule", "cluster": "rule"}
    )

    def options(self, accepted: set[str]) -> dict[str, Any]:
        """The options for a family accepting ``accepted`` (only those it takes)."""
        out: dict[str, Any] = {}
        clustered = self.cluster is not None and "cluster" in accepted
        if "estimator" in accepted:  # clustered SEM standard errors are MLR's (lavaan)
            if clustered and self.estimator == "ml" and self.chosen_by["estimator"] == "user":
                clustered = False  # the user's ML wins over the automatic cluster
            out["estimator"] = "mlr" if clustered else self.estimator
        if clustered:
            out["cluster"] = self.cluster
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``settings["inference"]`` entry of ``summary.json``."""
        return {
            "estimator": self.estimator,
            "cluster": self.cluster,
            "chosen_by": dict(self.chosen_by),
            "rule": RULE,
            "skew_limit": SKEW_LIMIT,
            "kurtosis_limit": KURTOSIS_LIMIT,
            "reason": self.reason,
            "measures": self.measures.to_dict(orient="records"),
        }


def normality(panel: SessionPanel) -> pd.DataFrame:
    """Skewness and excess kurtosis of each score, raw (each session's mean removed) and within
    clients (each client's mean removed; clients with two or more ratings).

    Returns one row per variable and kind: ``variable, scores, n, skew, kurtosis, clearly
    non-normal`` (the last is NaN-safe: ``False`` when fewer than 20 values were available).
    """
    from scipy import stats

    d = panel.data
    rows = []
    for v in (panel.x, panel.y):
        raw = d[v] - d.groupby(panel.session)[v].transform("mean")
        counts = d.groupby(panel.client)[v].transform("count")
        within = (d[v] - d.groupby(panel.client)[v].transform("mean")).where(counts >= 2)
        for kind, values in (("raw (session-centred)", raw), ("within-client", within)):
            a = values.dropna().to_numpy(float)
            if len(a) >= MIN_VALUES and np.ptp(a) > 0:
                skew = float(stats.skew(a, bias=False))
                kurt = float(stats.kurtosis(a, fisher=True, bias=False))
            else:
                skew = kurt = float("nan")
            rows.append(
                {
                    "variable": v,
                    "scores": kind,
                    "n": int(len(a)),
                    "skew": skew,
                    "kurtosis": kurt,
                    "clearly non-normal": bool(abs(skew) > SKEW_LIMIT or kurt > KURTOSIS_LIMIT),
                }
            )
    return pd.DataFrame(rows)


def choose_inference(
    panel: SessionPanel, *, estimator: str | None = None, cluster: str | None = None
) -> Inference:
    """Apply the rule (module docstring) to ``panel``: MLR or ML, and the cluster column.

    Parameters
    ----------
    panel : SessionPanel
    estimator : {"ml", "mlr"}, optional
        The user's choice for the SEM families; wins over the rule (None: the rule decides).
    cluster : str, optional
        The user's cluster column (a client-level column, e.g. ``"site"``), or ``"none"``
        for no clustering; wins over the automatic therapist column (None: automatic).
    """
    from ..data import DataError, client_column

    if estimator is not None:
        estimator = str(estimator).lower()
        if estimator not in ("ml", "mlr"):
            raise DataError(f"estimator must be 'ml' or 'mlr' (got {estimator!r}).")
    if cluster is not None and str(cluster).lower() == NO_CLUSTER:
        cluster = NO_CLUSTER
    elif cluster is not None:
        if "," in str(cluster):
            raise DataError(
                f"analyze clusters every family by one client-level column (got {cluster!r}); "
                "two-way clustering is fe's: causalrel fit fe FILE --cluster therapist,session."
            )
        client_column(panel, cluster, "cluster", "the therapist")  # present, constant
        if estimator == "ml":
            raise DataError(
                f"cluster='{cluster}' with estimator='ml': clustered SEM standard errors are "
                "MLR's (lavaan's cluster= needs MLR). Give estimator 'mlr' (--estimator mlr), "
                "or cluster 'none' for normal-theory ML."
            )
    m = normality(panel)
    hits = m[m["clearly non-normal"]]
    if len(hits):
        what = "; ".join(
            f"{r.variable} {r.scores}: skew {r.skew:+.2f}, kurtosis {r.kurtosis:+.2f}"
            for r in hits.itertuples()
        )
        reason = f"MLR: the scores are clearly non-normal ({what})."
        rule = "mlr"
    else:
        worst_s = float(np.nanmax(np.abs(m["skew"]))) if m["skew"].notna().any() else np.nan
        worst_k = float(np.nanmax(m["kurtosis"])) if m["kurtosis"].notna().any() else np.nan
        reason = (
            f"ML: no score is clearly non-normal (largest |skew| {worst_s:.2f}, largest "
            f"kurtosis {worst_k:+.2f})."
        )
        rule = "ml"
    chosen_by = {"estimator": "rule", "cluster": "rule"}
    if estimator is not None:
        chosen_by["estimator"] = "user"
        reason = (
            f"{estimator.upper()}: chosen by the user (estimator='{estimator}'); the rule "
            f"alone would give {reason}"
        )
    else:
        estimator = rule
    if cluster is None:
        cluster = panel.therapist
        if cluster is not None and panel.data[cluster].nunique() < 2:
            reason += f" Not clustered: the data have a single {cluster}."
            cluster = None
    else:
        chosen_by["cluster"] = "user"
        if cluster == NO_CLUSTER:
            reason += " Not clustered: the user chose cluster='none'."
            cluster = None
    if cluster is not None:
        who = " (chosen by the user)" if chosen_by["cluster"] == "user" else ""
        reason += (
            f" Standard errors clustered by {cluster}{who} in every family with a cluster option"
        )
        if estimator == "ml" and chosen_by["estimator"] == "user":
            reason += (
                " except the SEM families: the user chose ML, and clustered SEM standard "
                "errors are MLR's."
            )
        elif estimator == "ml":
            reason += "; for the SEM families that means MLR (lavaan's cluster = needs it)."
        else:
            reason += "."
    return Inference(
        estimator=estimator, cluster=cluster, measures=m, reason=reason, chosen_by=chosen_by
    )


def inference_section(doc: Document, outcome: Any, panel: SessionPanel) -> None:
    """The report's account of the choice: the rule, the measured skewness and kurtosis, the
    decision, the clustering, and which families received what."""
    info = outcome.settings.get("inference")
    if not info:
        return
    doc.h(3, "Standard errors: normality and clustering")
    m = pd.DataFrame(info["measures"])
    if len(m):
        m["clearly non-normal"] = m["clearly non-normal"].map({True: "yes", False: "no"})
        doc.table(m)
    doc.p(f"Rule: {info['rule']}. Decision: {info['reason']}")
    used = [
        f"{name}: " + ", ".join(f"{k}={v}" for k, v in opts.items())
        for name, opts in outcome.settings.get("family_inference", {}).items()
        if opts
    ]
    if used:
        doc.p("Each family was fitted with (options given to analyze override these):")
        doc.ul(used)
    ctx = (getattr(outcome, "verdict", None) or {}).get("context", {})
    tests = [
        f"{what}: {ctx[key]}"
        for what, key in (
            ("CLPM vs RI-CLPM (random-intercept variances)", "random_intercepts_test"),
            ("RI-CLPM vs LCM-SR (slope variances)", "client_slopes_test"),
        )
        if ctx.get(key)
    ]
    if tests:
        doc.p(
            "Nested comparisons of the verdict (the Satorra-Bentler 2001 scaled difference "
            "whenever either model is fitted with MLR, as lavaan's lavTestLRT):"
        )
        doc.ul(tests)
