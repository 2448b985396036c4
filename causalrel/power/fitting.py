"""Fit one family to the replications of a power study, reusing what the data do not change.

A power study fits the same model to hundreds of data sets of the same design. For the panel
SEMs (``clpm``, ``riclpm``, ``dpml``) most of a full :meth:`fit` is set-up and reporting that
does not depend on the data: writing and parsing the lavaan syntax, building the model
matrices, and afterwards the parameter table, fit measures and between-client correlations
that a power study does not use. :class:`Fitter` keeps one model per set of waves as a
template (its syntax, parameter table and, through :func:`causalrel.sem.estimate.ram_models`,
its model matrices), gives each replication a copy holding that replication's data, and reads
the within-client effects straight from the estimates. The estimation itself is the family's
own (the model's ``estimate()``, the same call with the same arguments as ``fit()`` makes), so estimates, standard errors and intervals are identical to a full fit
(``tests/test_power.py`` checks them to 1e-10). Options the lean path does not cover
(groups, covariates, clusters, bootstrap, defined parameters) and every other family go
through :func:`causalrel.families.fit_model` unchanged.

:func:`replication_panel` turns a simulated data set into a panel without
:func:`~causalrel.data.load_panel`'s checks of user data (numbers, codes, ids, ranges: they
took 40% of an RI-CLPM replication, and the simulator's output passes them by construction);
the panel's data are the ones ``load_panel`` would give (tested).
"""

from __future__ import annotations

import copy
from typing import Any

from ..data import SessionPanel
from ..families import _keyword_names, fit_model, get_model_class
from ..results import Effect
from ..simulate import Simulation

__all__ = ["Fitter", "replication_panel"]

#: options that only a full fit handles
_FULL_ONLY = {"group", "group_equal", "group_label", "covariates", "cluster", "bootstrap",
              "defined", "n_jobs", "progress"}  # fmt: skip


class Fitter:
    """Fits family ``name`` with ``options`` to one replication's panel at a time.

    Parameters
    ----------
    name : str
        A registered family.
    options : dict
        Its model and fit options, as given to :func:`~causalrel.families.fit_model`.
    """

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.options = dict(options)
        cls = get_model_class(name)
        self._cls = cls
        self._fit_names = _keyword_names(cls.fit)
        self._init_names = _keyword_names(cls.__init__)
        from ..sem.models import _PanelSEM

        used = {k for k, v in self.options.items() if v not in (None, False, 0, (), [])}
        self.lean = issubclass(cls, _PanelSEM) and not (used & _FULL_ONLY)
        self._templates: dict[tuple[int, ...], Any] = {}

    @property
    def names(self) -> set[str]:
        """The family's option names (model and fit)."""
        return self._init_names | self._fit_names

    def fit(self, panel: Any, seed: int | None = None) -> tuple[dict[str, Effect], bool, str]:
        """``(within effects, converged, message)`` of the family on ``panel``.

        ``seed`` is passed to families that take one (unless the options set it); the lean
        path has no random step.
        """
        if not self.lean:
            opts = dict(self.options)
            if seed is not None and "seed" in self.names and "seed" not in opts:
                opts["seed"] = seed
            if "reuse" in self._init_names and "reuse" not in opts:
                opts["reuse"] = True  # a Bayesian family compiles once per design (compiled.py)
            res = fit_model(self.name, panel, **opts)
            message = "" if res.converged else str(res.diagnostics.get("message", ""))
            return res.effects["within"], bool(res.converged), message
        model_opts = {k: v for k, v in self.options.items() if k in self._init_names}
        fit_opts = {k: v for k, v in self.options.items() if k in self._fit_names}
        model = self._model(panel, model_opts)
        sem, _, _ = model.estimate(  # fit_partable (+ time="client"'s slope_variances)
            information=fit_opts.get("information", "observed"),
            estimator=fit_opts.get("estimator", "ml"),
            max_iter=fit_opts.get("max_iter", 200),
        )
        effects = model._within(sem, fit_opts.get("level", 0.95))
        converged = bool(sem.converged and not sem.problems)
        message = f"improper solution: {sem.problems[0]}" if sem.problems else sem.message
        return effects, converged, "" if converged else message

    def _model(self, panel: Any, model_opts: dict[str, Any]) -> Any:
        """The family's model on ``panel``: a copy of the template for the panel's waves."""
        from ..sem.models import default_waves

        waves = model_opts.get("waves")
        if waves is None:
            waves = default_waves(panel, model_opts.get("min_reach", 0.5))
        key = tuple(sorted({int(w) for w in waves}))
        template = self._templates.get(key)
        if template is None:  # the first panel with these waves: a full construction
            model = self._cls(panel, **model_opts)
            self._templates[tuple(model.waves)] = model
            return model
        model = copy.copy(template)
        model.panel = panel
        model.wide, model.excluded = model._wide_data()
        return model


def replication_panel(sim: Simulation) -> SessionPanel:
    """The simulated data as a :class:`~causalrel.data.SessionPanel`, without the checks.

    Equal to ``sim.panel()`` in its data and columns (sorted by client and session, the
    simulator's names and dtypes); ``warnings`` (about clients with one session or gaps,
    which no family reads) are left empty.
    """
    data = sim.data.sort_values(["client", "session"], kind="stable").reset_index(drop=True)
    return SessionPanel(
        data=data,
        x=sim.names[0],
        y=sim.names[1],
        therapist="therapist" if sim.therapist else None,
        source="simulate()",
    )
