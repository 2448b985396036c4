"""The causal layer (the registered family ``dowhy``): DoWhy's identification, estimation and refutation of within-client effects.

Every model family estimates "alliance at one session -> symptoms at the next" (and the reverse)
under its own assumptions. This module states those assumptions as a causal graph and lets
DoWhy check what follows from them:

1. **Graph.** Session-by-session data unrolled in time: stable client traits (and, optionally,
   the therapist) affect every alliance and symptom score; alliance at session t affects symptoms
   at t+1, symptoms at t affect alliance at t+1; each variable carries over to the next session;
   same-session shocks correlate the two scores of a session; a shared time trend affects every
   score. :func:`unrolled_graph` builds it for a few sessions and :func:`draw_graph` draws it with
   matplotlib alone (the Graphviz ``dot`` program is not needed). DoWhy works on the one-step
   slice of that graph (:func:`slice_graph`): the scores of sessions t-1 and t, and the
   unobserved nodes that feed them.
2. **Identification.** On raw scores the effect is *not* identified: the stable traits open a
   back-door path (alliance_{t-1} <- traits -> symptoms_t) that no observed variable blocks.
   Within-client (person-mean) centring removes the traits, and on the within-client slice DoWhy
   finds the back-door set {last session's outcome (and time)}. Both identifications are
   reported.
3. **Estimation.** DoWhy's ``backdoor.linear_regression`` on the within-transformed rows, i.e. the
   fixed-effects (within) estimand: every variable of the regression is centred on its client's
   mean over the rows used, which equals regression with one dummy per client. DoWhy's standard
   errors treat rows as independent; the reported ones are cluster-robust by client (the same
   regression refitted with statsmodels), and the point estimates are checked to agree.
   Like every fixed-effects estimator with a lagged outcome it carries Nickell's bias of order
   1/T (T = sessions per client); the dynamic-panel families correct for it.
4. **Refutation.** A placebo treatment (the cause permuted *within* client), a random common
   cause (DoWhy's), client subsets (the data-subset refuter drawing whole clients), and DoWhy's
   linear partial-R² sensitivity analysis for an unobserved time-varying confounder (Cinelli &
   Hazlett's robustness value, benchmarked against last session's outcome).
   Each refuter is a test that can fail: the placebo fails when the real estimate does not stand
   out from the placebo distribution (no lagged effect beyond what shuffled timing gives), the
   subsets fail when more than 5% of client subsets give the estimate the other sign (a few
   clients carry it). DoWhy's random common cause fails only when adding an independent column
   moves the estimate, i.e. when the estimator itself is broken or numerically unstable.

Why the placebo and the subsets are written here rather than taken from DoWhy: DoWhy's
``placebo_treatment_refuter(placebo_type="permute")`` permutes the treatment across *all* rows,
and its ``data_subset_refuter`` drops single rows. With clients as the units, a permutation across
clients hands one client's within-client deviations to another, so the placebo no longer has a
zero mean within each client and carries between-client variance the within estimand was built to
exclude; a within-client permutation keeps each client's own distribution of alliance and breaks
only its timing, which is the hypothesis under test. Dropping rows keeps part of every client and
understates how much the answer depends on which clients were sampled; dropping whole clients
mirrors how the data were sampled (and leaves the remaining clients' centring intact). Both reuse
DoWhy's estimator object and significance test, so only the resampling is ours.


Modules: :mod:`.graph` (the graphs and their drawing), :mod:`.frame` (the within-client rows),
:mod:`.estimate` (identification and estimation; :class:`CausalAnalysis`), :mod:`.refute`
(refuters and sensitivity), :mod:`.results` (:class:`CausalResults`).
"""

from .estimate import CausalAnalysis, causal_analysis
from .frame import TRENDS, permute_within, within_frame
from .graph import draw_graph, slice_graph, unrolled_graph
from .refute import BENCHMARK_FRACTIONS, SUBSET_FLIP_MAX
from .results import CausalResults, DirectionResult

__all__ = [
    "TRENDS",
    "SUBSET_FLIP_MAX",
    "BENCHMARK_FRACTIONS",
    "unrolled_graph",
    "slice_graph",
    "draw_graph",
    "within_frame",
    "permute_within",
    "CausalAnalysis",
    "CausalResults",
    "DirectionResult",
    "causal_analysis",
]
