"""The main job: fit every family (the causal layer among them) and write the side-by-side report.

:func:`analyze` validates and describes the data, fits each registered family through
:func:`causalrel.families.fit_model` and writes into one folder:

- ``report.html`` (self-contained: the figures are embedded as base64 PNG) and ``report.md``;
- the figures as PNG files (variance decomposition, pooled / between / within associations,
  forest plot of the within-client effects across families, between-client association per
  family, and the causal layer's graph, sensitivity contours and placebo distribution);
- ``summary.json``: ``models`` (each family's results-contract dict keyed by name; a family that
  failed is ``{"error": "..."}``, one not run is ``{"skipped": "..."}``), ``verdict``,
  ``refutations``, ``sensitivity``, ``data``, ``warnings`` and ``ok``
  (``docs/results-contract.md``).

A family that raises is caught, reported as failed in the report, the JSON and the exit status,
and never dropped silently; warnings raised during a fit (non-convergence above all) are
collected and listed.

Modules: :mod:`.run` (the analysis run and its one step helper), :mod:`.tables` (tables on
:func:`causalrel.results.compare`), :mod:`.figures`, :mod:`.sections` (one function per report
section), :mod:`.document` (the Markdown/HTML renderer).
"""

from .figures import FIGURES
from .run import TRENDS, AnalysisOutcome, analyze
from .tables import between_table, effects_table, within_table

__all__ = [
    "FIGURES",
    "TRENDS",
    "AnalysisOutcome",
    "analyze",
    "effects_table",
    "within_table",
    "between_table",
]
