"""The cross-lagged panel models: CLPM, RI-CLPM and the ML dynamic panel model (DPML).

Each model writes lavaan syntax for the chosen waves (session numbers), which
:func:`~causalrel.sem.partable.parse_model` turns into a parameter table with lavaan's
``lavaan()`` semantics (observed intercepts free, nothing else added), so every row of the
result can be compared with ``parameterEstimates()`` of the same syntax in R.

Names: observed ``x<s>``, ``y<s>`` for session ``s`` (x = ``panel.x``, the alliance; y =
``panel.y``, the symptoms). RI-CLPM as in Mulder & Hamaker (2021): random intercepts ``RIx``,
``RIy`` (loadings 1 on every wave), within components ``wx<s>``, ``wy<s>`` (loading 1),
lagged effects between consecutive within components, wave-1 and same-session within
covariances, observed residual variances fixed at 0. CLPM: the same lags between the observed
variables themselves. DPML (Allison, Williams & Moral-Benito 2017; Stata's ``xtdpdml``):
fixed effects ``FEx``, ``FEy`` loading 1 on waves 2..T, the first wave's observations
exogenous and free to correlate with the fixed effects and each other, lags constrained equal
over waves (as in ``xtdpdml``), error variances and same-session error covariances free per
wave.

Waves: by default sessions ``first .. K`` where ``K`` is the last session that at least
``min_reach`` (default half) of the clients reached (had a row for); later sessions are left
out and counted in ``excluded``. Give ``waves=`` to choose.

Multiple groups (``group="arm"``): a client-level column (constant within client; a string
column is read from ``panel.data``) splits the clients; the model is fitted in every group at
once by FIML (lavaan's ``group=``), everything free per group unless ``group_equal`` holds
parameter types equal across groups (lavaan's ``group.equal``, e.g. ``"regressions"`` for the
lagged effects). Labelled constraints written by the model (``constrained=True``'s ``ar_x``,
``invariant_means``' ``m_x``, ...) hold within each group (written ``c(ar_x_g1, ar_x_g2)*``)
unless their type is in ``group_equal``. ``effects.within`` keeps the contract's keys only when
the lagged effects are equal across groups; otherwise each group's effects are reported under
``"alliance->symptoms[arm=treatment]"`` and so on (the same for ``effects.between``).

Time (``time=``, the one vocabulary across families; ``causalrel.families`` has the table): ``"common"`` (default) = change
shared by all clients, absorbed by wave-specific means (lavaan's free observed intercepts);
``"none"`` = one mean per variable over all waves (labels ``m_x``, ``m_y``; RI-CLPM and
CLPM); ``"client"`` = each client's own linear trajectory besides the shared one: the RI-CLPM
becomes the latent curve model with structured residuals (LCM-SR; Curran, Howard, Bainter,
Lane & McGinley 2014, *JCCP* 82(5), 879-894), with latent slopes ``Sx``, ``Sy`` loading
``s - first`` (0, 1, ..., T-1: waves are consecutive sessions, so this is both the wave count
and the session number from the first wave) on the wave scores, free (co)variances among
``RIx, RIy, Sx, Sy`` and the same lagged and same-session structure among the within-client
residuals ``wx<s>``, ``wy<s>``. With the default ``linear_means=False`` the wave-specific
means stay free and the latent means are 0, so the RI-CLPM is the LCM-SR with the slope
(co)variances at 0 (the nesting :func:`causalrel.sem.compare.compare_slopes` tests);
``linear_means=True`` is the published LCM-SR's mean structure (observed intercepts 0, the
means of ``RIx``, ``RIy``, ``Sx``, ``Sy`` free: a linear average trajectory). The DPML has
``"common"``, ``"none"`` (intercepts equal from wave 2 on) and ``"client"`` (trend factors
``TRx``, ``TRy`` correlated with the fixed effects and the first wave; see :class:`DPML`).

Slope variances the data do not support (``slope_variances=``, default ``"auto"``): with no
or little variation of the clients' slopes the free LCM-SR is often improper (a negative slope
variance, a slope block that is not positive definite) or does not converge: 5-40% proper
solutions in benchmarks/results/validate_time_defaults.txt. As lavaan users do, and as a
Bayesian model's positive slope SDs do by construction, the fit is then redone with the
unsupported slopes' variances and covariances fixed at 0 (the slope with the negative
variance first, then both), keeping the shared change; the notes say "Slope variance not
supported by the data", ``diagnostics["slopes"]`` records what was fixed, why and the free
fit's estimates, and the fixed rows are in ``params`` (est 0). With the fallback
``time="client"`` converges in 95-100% of replications
(benchmarks/results/validate_time_defaults_riclpm_dpml.txt). The DPML's trend factors are
handled the same way.

The order of the ratings within a session (``same_session=``, the vocabulary of
:func:`causalrel.causal.draw_graph`): ``"covariance"`` (default) leaves the two ratings of a
session correlated with no direction; ``"symptoms->alliance"`` (symptoms rated before the
session, the alliance after it) makes the same-session residual covariance from the second
wave on a directed path, reported in ``params`` (op ``"~"``) and in
``effects.within["symptoms->alliance (same session)"]``. With free lags the RI-CLPM and the
CLPM with the path are reparameterisations of the covariance version (same chi-square and
df). The DSEM takes the same option (:class:`causalrel.bayes.DSEM`, the same keys, from its
draws); the regression families (fe, dpd, mlm) and the causal layer have no such option:
their ``fit_model`` error names the families that take it.

No ``detrend`` option: removing each client's linear trend over the modelled waves puts an
exact linear constraint on every complete client's scores, which makes the covariance matrix
of the waves singular. Client-specific trends need latent slopes: ``time="client"``.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..data import DataError, SessionPanel, client_column
from ..design import TIME_VALUES, client_values
from ..families import check_time
from ..results import Effect, between_key, effect_key
from .estimate import _is_free_var, fit_partable, warn_problems
from .fitmeasures import fit_measures
from .partable import GROUP_EQUAL, ParTable, parse_model
from .results import SEMResults
from .syntax import (
    clpm_syntax,
    dpml_syntax,
    lcmsr_syntax,
    per_group_labels,
    riclpm_syntax,
)

__all__ = [
    "CLPM",
    "RICLPM",
    "DPML",
    "default_waves",
    "same_session_key",
    "same_session_path",
    "TIME_VALUES",
]


def _linear_effect(sem, w: np.ndarray, level: float) -> Effect:
    """The estimate ``w' theta`` with its delta-method standard error."""
    est = float(w @ sem.theta)
    se = float(np.sqrt(max(w @ sem.vcov @ w, 0.0))) if np.isfinite(sem.vcov).all() else np.nan
    return Effect.from_normal(est, se, level)


def _with_bootstrap(params: pd.DataFrame, sem, boot: pd.DataFrame) -> pd.DataFrame:
    """``params`` with the bootstrap columns (free rows by free index, ``:=`` rows by name)."""
    cols = ["boot.se", "boot.lower", "boot.upper"]
    free = sem.partable.table["free"].to_numpy()
    q = sem.model.q
    out = params.copy()
    for c in cols:
        out[c] = np.nan
    n = len(free)  # the table's rows come first in params, in order
    idx = np.flatnonzero(free[:n] > 0)
    if sem.meanstructure:
        out.loc[idx, cols] = boot[cols].to_numpy()[free[idx] - 1]
    dmask = out["op"] == ":="
    named = boot.iloc[q:].set_index("lhs")
    out.loc[dmask, cols] = named.loc[out.loc[dmask, "lhs"], cols].to_numpy()
    return out


def default_waves(panel: SessionPanel, min_reach: float = 0.5) -> list[int]:
    """Sessions ``first .. K``: ``K`` is the last session at least ``min_reach`` of clients reached."""
    last = panel.data.groupby(panel.client, sort=False)[panel.session].max()
    first = int(panel.data[panel.session].min())
    top = int(last.max())
    reach = np.array([(last >= s).mean() for s in range(first, top + 1)])
    ok = np.flatnonzero(reach >= min_reach)
    k = first + int(ok.max()) if len(ok) else first
    return list(range(first, k + 1))


class _PanelSEM:
    """Shared machinery: waves, wide data, exclusions, fitting, effects."""

    name = "sem"
    min_waves = 2
    prefix = ""  # latent prefix of the within components ("w" for the RI-CLPM)
    between: tuple[str, str] | None = None  # latent pair whose correlation is "between"
    time = "common"  # the time option (see the module docstring)
    slopes: tuple[str, str] | None = None  # latent slope pair with time="client"
    slope_variances = "free"  # "auto" | "free" | "zero" (see RICLPM); families with slopes

    def __init__(
        self,
        panel: SessionPanel,
        *,
        waves: Iterable[int] | None = None,
        constrained: bool = False,
        min_reach: float = 0.5,
        covariates: Iterable[str] = (),
        group: str | None = None,
        group_equal: Iterable[str] | str = (),
        group_label: Iterable | None = None,
        defined: bool | Iterable[str] = False,
        same_session: str = "covariance",
    ) -> None:
        if not isinstance(panel, SessionPanel):
            raise DataError("Give a SessionPanel (see causalrel.load_panel).")
        self.same_session = same_session
        self._same = same_session_path(panel, same_session)
        if not 0 < min_reach <= 1:
            raise DataError("min_reach must be a share of clients in (0, 1].")
        if isinstance(covariates, str):
            covariates = [covariates]
        if isinstance(group_equal, str):
            group_equal = [group_equal]
        self.covariates = list(covariates)
        self.panel = panel
        self.constrained = bool(constrained)
        self.group = group
        self.group_equal = list(group_equal)
        bad = [g for g in self.group_equal if g not in GROUP_EQUAL]
        if bad:
            raise DataError(
                f"group_equal: unknown parameter type(s) {bad}; choose from "
                f"{list(GROUP_EQUAL)} (e.g. 'regressions' for the lagged effects)."
            )
        if self.group_equal and group is None:
            raise DataError("group_equal needs group=... (the column that splits the clients).")
        self.waves = self._check_waves(panel, waves, min_reach)
        self.group_labels = self._check_group(group_label) if group is not None else [1]
        self.wide, self.excluded = self._wide_data()
        self._defined = defined
        self._zero_models: dict = {}  # fallback models by fixed slopes (shared by copies)
        zero = ("x", "y") if self.slope_variances == "zero" else ()
        self.syntax, self.partable = self._model(zero)

    def _model(self, zero_slopes: tuple[str, ...] = ()) -> tuple[str, ParTable]:
        """The syntax and parameter table, with the slopes of ``zero_slopes`` fixed at 0."""
        G = len(self.group_labels)
        syntax = per_group_labels(self._syntax(zero_slopes), G, self.group_equal)
        syntax += self._defined_syntax(self._defined)
        return syntax, parse_model(syntax, groups=G, group_equal=self.group_equal)

    @property
    def n_groups(self) -> int:
        return len(self.group_labels)

    def _defined_syntax(self, defined) -> str:
        """``:=`` lines: the standard set (``defined=True``) or the user's statements."""
        if defined is False or defined is None:
            return ""
        if defined is not True:
            lines = [defined] if isinstance(defined, str) else list(defined)
            return "\n# defined parameters\n" + "\n".join(lines)
        if self._same is not None:
            raise DataError(
                "defined=True's long-run effects assume no directed same-session path; with "
                f"same_session='{self.same_session}' give your own 'name := ...' statements "
                "as defined=[...] (the path's label is ss_" + "".join(self._same) + ")."
            )
        if not self.constrained:
            raise DataError(
                "defined=True needs constrained=True (one cross-lag per direction, "
                "labels cl_xy, cl_yx, ar_x, ar_y); or give your own 'name := ...' "
                "statements as defined=[...]."
            )
        one = self.n_groups == 1 or "regressions" in self.group_equal
        suffixes = [""] if one else [f"_g{g}" for g in range(1, self.n_groups + 1)]
        lines = [
            "# defined parameters: cross-lag difference (its std.all is the difference",
            "# of the standardized cross-lags) and long-run effects ((I - Phi)^-1)",
        ]
        for g in suffixes:
            ax, ay, cxy, cyx = (f"{n}{g}" for n in ("ar_x", "ar_y", "cl_xy", "cl_yx"))
            det = f"((1 - {ax}) * (1 - {ay}) - {cxy} * {cyx})"
            lines += [
                f"cl_diff{g} := {cxy} - {cyx}",
                f"lr_xy{g} := {cxy} / {det}",
                f"lr_yx{g} := {cyx} / {det}",
            ]
        return "\n" + "\n".join(lines)

    def _client_column(self, col, role: str, example: str) -> pd.Series:
        """A client-level column (group, cluster), one value per client; not a covariate."""
        if col in self.covariates:
            raise DataError(
                f"{role}='{col}' is a model variable or covariate; the {role} must "
                f"be a separate client-level column (e.g. {example})."
            )
        return client_column(self.panel, col, role, example)

    def _check_group(self, group_label) -> list:
        """The group column: one value per client, no missing values, at least two groups."""
        g = self.group
        self._client_column(g, "group", "the treatment arm")
        values = self.panel.data[g]
        seen = list(pd.unique(values))
        if group_label is None:
            labels = seen  # order of first appearance, as lavaan
        else:
            labels = list(group_label)
            missing = [v for v in seen if v not in labels]
            if missing or len(set(labels)) != len(labels):
                raise DataError(
                    f"group_label {labels} must list each value of '{g}' once (values: {seen})."
                )
            labels = [v for v in labels if v in seen]
        if len(labels) < 2:
            raise DataError(
                f"The group column '{g}' has only one value ({labels}): a "
                "multiple-group model needs at least two groups."
            )
        return labels

    # -- data -----------------------------------------------------------------------------------
    def _check_waves(self, panel: SessionPanel, waves, min_reach: float) -> list[int]:
        if waves is None:
            w = default_waves(panel, min_reach)
            if len(w) < self.min_waves:
                raise DataError(
                    f"{self.name}: only {len(w)} session(s) were reached by at least "
                    f"{min_reach:.0%} of clients, and the model needs {self.min_waves} waves. "
                    "Give waves=[...] explicitly or lower min_reach."
                )
            return w
        try:
            w = sorted({int(s) for s in waves})
        except (TypeError, ValueError) as exc:
            raise DataError("waves must be session numbers (whole numbers).") from exc
        if len(w) < self.min_waves:
            raise DataError(
                f"{self.name} needs at least {self.min_waves} waves; got {len(w)} ({w})."
            )
        if w != list(range(w[0], w[-1] + 1)):
            raise DataError(f"waves must be consecutive sessions (lags are one session); got {w}.")
        return w

    def _wide_data(self) -> tuple[pd.DataFrame, dict[str, int]]:
        p = self.panel
        wide = p.wide([p.x, p.y], self.waves)
        names = {p.x: "x", p.y: "y"}
        wide.columns = [f"{names[v]}{s}" for v, s in wide.columns]
        if self.group is not None:
            gcol = p.data.groupby(p.client, sort=False)[self.group].first()
            parts = [
                (f" in group {self.group}={lab!r}", wide[gcol.reindex(wide.index) == lab])
                for lab in self.group_labels
            ]
        else:
            parts = [("", wide)]
        for where, part in parts:
            for col in part.columns:
                vals = part[col].dropna()
                var, session = (p.x if col[0] == "x" else p.y), col[1:]
                if len(vals) == 0:
                    raise DataError(
                        f"Session {session} has no observed '{var}'{where} at all: a wave with "
                        "no data cannot be modelled. Choose waves without it (waves=[...])."
                    )
                if len(vals) < 2 or np.ptp(vals.to_numpy()) == 0:
                    raise DataError(
                        f"'{var}' has zero variance at session {session}{where} ({len(vals)} "
                        "value(s)): a model cannot estimate effects of or on a constant. "
                        "Choose other waves."
                    )
        empty = wide.isna().all(axis=1)
        sess = p.data[p.session]
        excluded = {
            "clients.no_usable_rows": int(empty.sum()),
            "rows.after_last_wave": int((sess > self.waves[-1]).sum()),
        }
        if (sess < self.waves[0]).any():
            excluded["rows.before_first_wave"] = int((sess < self.waves[0]).sum())
        wide = wide[~empty]
        for z in self.covariates:
            wide[z] = self._client_covariate(z).reindex(wide.index)
        if self.group is not None:
            wide[self.group] = gcol.reindex(wide.index)
        return wide, excluded

    def _client_covariate(self, z: str) -> pd.Series:
        """One value per client of a time-invariant covariate (checked constant)."""
        p = self.panel
        if z not in p.data.columns:
            raise DataError(
                f"Covariate '{z}' is not a column of the data; load it with "
                f"load_panel(..., covariates=['{z}'])."
            )
        if z in (p.x, p.y, p.client, p.session, self.group) or re.fullmatch(
            r"(w?[xy]\d+|RI[xy]|FE[xy]|S[xy]|TR[xy])", z
        ):
            raise DataError(f"Covariate name '{z}' clashes with a model variable; rename it.")
        values = pd.to_numeric(p.data[z], errors="coerce")
        if values.notna().sum() < p.data[z].notna().sum():
            raise DataError(f"Covariate '{z}' must be numeric (code groups as 0/1).")
        out = client_values(
            p.data.assign(**{z: values}),
            p.client,
            z,
            policy="constant",
            role="time-invariant covariate",
            example="a baseline score",
            missing="allow",
        )
        if out.nunique() < 2:
            raise DataError(f"Covariate '{z}' has zero variance across clients.")
        return out

    def _syntax(self, zero_slopes: tuple[str, ...] = ()) -> str:  # pragma: no cover
        raise NotImplementedError

    # -- fit ------------------------------------------------------------------------------------
    def fit(
        self,
        *,
        information: str = "observed",
        estimator: str = "ml",
        cluster: str | None = None,
        level: float = 0.95,
        max_iter: int = 200,
        bootstrap: int = 0,
        seed: int | None = None,
        n_jobs: int = 1,
        progress: bool = False,
    ) -> SEMResults:
        """Estimate by ML with FIML for missing values.

        Parameters
        ----------
        information : {"observed", "expected"}
            Standard errors from the observed information (lavaan's default under FIML) or
            the expected information (with ``estimator="mlr"``: the bread of the sandwich).
        estimator : {"ml", "mlr"}
            ``"mlr"``: robust (Huber-White) standard errors from the casewise scores, the
            Yuan-Bentler scaled chi-square (``fit["chisq.scaled"]``) and the robust
            CFI/TLI/RMSEA (``fit["cfi.robust"]``, ...), as lavaan's ``estimator = "MLR"``;
            for skewed or heavy-tailed scores. The estimates are the ML ones.
        cluster : str, optional
            A client-level column (e.g. ``"therapist"``, constant within client) whose
            clusters the standard errors and the scaled test are robust to (lavaan's
            ``cluster =``); implies ``estimator="mlr"``.
        level : float
            Confidence level of the intervals.
        max_iter : int
            Maximum Newton iterations (a fit that needs more warns that it did not converge).
        bootstrap : int
            If positive, that many nonparametric bootstrap replications over clients (over
            clusters when ``cluster`` is given; :func:`causalrel.sem.bootstrap.bootstrap`):
            ``params`` gains ``boot.se``, ``boot.lower``, ``boot.upper`` (BCa interval) for
            every free and defined parameter, ``diagnostics["bootstrap"]`` the counts
            (including failed replications). ``seed`` makes it reproducible; ``n_jobs``
            workers (-1 = all cores); ``progress`` shows a progress bar.

        Returns
        -------
        SEMResults
        """
        t0 = time.perf_counter()
        if cluster is not None:
            estimator = "mlr"
        sem, syntax, slopes = self.estimate(
            information=information, estimator=estimator, cluster=cluster, max_iter=max_iter
        )
        fit = fit_measures(sem)
        seconds = time.perf_counter() - t0
        params = sem.params(level)
        res = SEMResults(
            model=self.name,
            n_clients=int(sem.n),
            n_observations=self._n_observations(),
            effects={"within": self._within(sem, level), "between": self._between(sem, level)},
            params=params,
            fit=fit,
            diagnostics={
                # an improper or unidentified solution (negative variances, a singular
                # information matrix) is not a converged fit
                "converged": sem.converged and not sem.problems,
                "optimizer_converged": sem.converged,
                "iterations": sem.iterations,
                "message": f"improper solution: {sem.problems[0]}" if sem.problems else sem.message,
                "information": information,
                "estimator": sem.estimator,
                "time": self.time,
                "cluster": cluster,
                "n_patterns": int(sum(p.n_patterns for p in sem.group_patterns)),
                "improper": bool(sem.problems),
                "problems": list(sem.problems),
                **(
                    {"slopes": slopes, "slope_fallback": bool(slopes["fixed_at_zero"])}
                    if slopes is not None
                    else {}
                ),
            },
            excluded=self.excluded,
            seconds=seconds,
            notes=self._notes()
            + self._slope_notes(slopes)
            + self._robust_notes(sem)
            + list(sem.notes),
            syntax=syntax,
            waves=list(self.waves),
            engine=sem,
            group=self.group,
            group_labels=list(self.group_labels) if self.group else [],
            group_equal=list(self.group_equal),
        )
        if bootstrap:
            from .bootstrap import bootstrap as run_bootstrap

            boot = run_bootstrap(
                res, int(bootstrap), seed=seed, level=level, n_jobs=n_jobs, progress=progress
            )
            res.params = _with_bootstrap(res.params, sem, boot.table)
            res.diagnostics["bootstrap"] = boot.to_dict()
            res.notes.append(
                f"Bootstrap: {boot.n_boot} replications over {boot.unit} "
                f"(seed {seed}), {boot.n_failed} failed; BCa intervals in "
                "params (boot.lower, boot.upper)."
            )
            res.seconds = time.perf_counter() - t0
        warn_problems(sem, self.name)
        return res

    def estimate(
        self,
        *,
        information: str = "observed",
        estimator: str = "ml",
        cluster: str | None = None,
        max_iter: int = 200,
    ):
        """The engine's fit of this model to its data: ``(SEMFit, syntax, slopes)``.

        The estimation step of :meth:`fit` without the reporting (a power study calls it
        for every replication): :func:`~causalrel.sem.estimate.fit_partable`, and with
        ``time="client"`` the ``slope_variances`` handling, whose record (``slopes``, None
        without slopes) and fitted syntax it returns too.
        """
        data = self.wide if cluster is None else self._with_cluster(cluster)

        def engine_fit(partable: ParTable):
            return fit_partable(
                partable,
                data,
                group=self.group,
                group_label=self.group_labels if self.group else None,
                information=information,
                estimator=estimator,
                cluster=cluster,
                max_iter=max_iter,
            )

        sem = engine_fit(self.partable)
        if self.time != "client" or self.slopes is None:
            return sem, self.syntax, None
        if self.slope_variances == "auto":
            return self._slope_fallback(sem, engine_fit)
        if self.slope_variances == "free":
            rec = self._slope_record(sem, "free", (), self._slope_problems(sem)[0])
        else:
            rec = self._slope_record(
                sem, "zero", ("x", "y"), ["fixed at 0 by slope_variances='zero'"]
            )
        return sem, self.syntax, rec

    # -- slope variances not supported by the data (time="client") -----------------------------
    def _slope_problems(self, sem) -> tuple[list[str], tuple[str, ...]]:
        """Why the slope variances are not supported by ``sem`` (empty if they are), and
        which slopes (``"x"``, ``"y"``) to fix at 0 for it.

        Not supported: a negative slope variance (a Heywood case: those slopes); a covariance
        matrix of the between-client factors that is not positive definite only because of
        the slopes (the matrix without the slope rows is); an optimiser that did not
        converge or a singular information matrix (both slopes; the fallback is then kept
        only if it is a proper solution, see :meth:`_slope_fallback`).
        """
        reasons: list[str] = []
        negative: set[str] = set()
        block = False
        for model, imp in zip(sem.models, sem.group_implied, strict=True):
            names = list(model.names)
            S = imp["S"]
            idx = {v: names.index(lv) for v, lv in zip("xy", self.slopes, strict=True)}
            for v, i in idx.items():
                if S[i, i] < 0 and _is_free_var(model.table, names[i]):
                    negative.add(v)
            slope_i = set(idx.values())
            touch = {j for i in slope_i for j in np.flatnonzero(S[i] != 0)} | slope_i
            rest = sorted(touch - slope_i)
            full = sorted(touch)
            if not negative and rest:
                if np.linalg.eigvalsh(S[np.ix_(full, full)]).min() < -1e-10 and (
                    np.linalg.eigvalsh(S[np.ix_(rest, rest)]).min() > -1e-10
                ):
                    block = True
        if negative:
            est = ", ".join(
                f"{lv} {self._slope_variance(sem, lv):.3g}"
                for v, lv in zip("xy", self.slopes, strict=True)
                if v in negative
            )
            reasons.append(f"negative slope variance ({est})")
            return reasons, tuple(sorted(negative))
        if block:
            reasons.append(
                "the covariance matrix of the slopes with the between-client factors is "
                "not positive definite (slope correlations beyond +-1)"
            )
        if not sem.converged:
            reasons.append(f"the free fit did not converge ({sem.message})")
        if any("information matrix is singular" in p for p in sem.problems):
            reasons.append("singular information matrix (slope variances not identified)")
        return reasons, (("x", "y") if reasons else ())

    def _slope_variance(self, sem, lv: str, group: int = 1) -> float:
        p = sem.params()
        row = p[(p["lhs"] == lv) & (p["op"] == "~~") & (p["rhs"] == lv)]
        if "group" in p:
            row = row[row["group"] == group]
        return float(row["est"].iloc[0])

    def _slope_record(self, sem, setting: str, fixed=(), reasons=(), free=None) -> dict:
        """``diagnostics["slopes"]``: the slope variances, what was fixed at 0, and why."""
        names = dict(zip("xy", self.slopes, strict=True))
        rec = {
            "setting": setting,
            "supported": not reasons,
            "fixed_at_zero": [names[v] for v in fixed],
            "reason": "; ".join(reasons),
            "variances": {lv: self._slope_variance(sem, lv) for lv in self.slopes},
        }
        if free is not None:
            rec["free_fit"] = {
                "loglik": float(free.loglik),
                "converged": bool(free.converged and not free.problems),
                "variances": {lv: self._slope_variance(free, lv) for lv in self.slopes},
                "problems": list(free.problems),
            }
        return rec

    def _slope_fallback(self, sem, engine_fit):
        """``slope_variances="auto"``: keep the free fit if its slope variances are supported,
        else refit with the unsupported slopes' (co)variances fixed at 0 (first only the
        slopes with a negative variance, then both) and keep the first proper refit.

        This is what lavaan users do with a negative variance estimate (fix it at 0: Chen,
        Bollen, Paxton, Curran & Kirby 2001, *Sociol. Methods Res.* 29(4), 468-508) and what
        a Bayesian model's positive slope SDs do by construction. Returns the engine fit, its
        syntax and :meth:`_slope_record`.
        """
        reasons, which = self._slope_problems(sem)
        if not reasons:
            return sem, self.syntax, self._slope_record(sem, "auto")
        negative = bool(which) and reasons[0].startswith("negative")
        tries = [which] if which != ("x", "y") else []
        tries.append(("x", "y"))
        cache = self._zero_models
        for zero in tries:
            if zero not in cache:
                cache[zero] = self._model(zero)
            syntax, table = cache[zero]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # this fit's own problems are warned below
                alt = engine_fit(table)
            if (alt.converged and not alt.problems) or (negative and zero == tries[-1]):
                rec = self._slope_record(alt, "auto", zero, reasons, free=sem)
                return alt, syntax, rec
        # not a negative variance, and fixing the slopes gave no proper solution either: the
        # trouble is not the slopes; keep the free fit (its own warnings are emitted)
        rec = self._slope_record(sem, "auto", (), reasons)
        rec["reason"] += "; fixing the slope variances at 0 did not give a proper solution"
        return sem, self.syntax, rec

    def _slope_notes(self, slopes: dict | None) -> list[str]:
        if slopes is None or not slopes["fixed_at_zero"] and slopes["supported"]:
            return []
        if slopes["setting"] == "zero":
            return ["slope_variances='zero': the slope variances and covariances are fixed at 0."]
        if not slopes["fixed_at_zero"]:
            return [
                f"The slope variances are not supported by the data ({slopes['reason']}); "
                "the free fit is reported."
            ]
        fixed = " and ".join(slopes["fixed_at_zero"])
        return [
            f"Slope variance not supported by the data ({slopes['reason']}): refitted with "
            f"the variance of {fixed} and its covariances fixed at 0 (rows '{fixed} ~~ "
            f"...' in params with est 0; diagnostics['slopes'] has the free fit), as lavaan "
            "users fix a negative variance at 0. The change shared by all clients stays in "
            "the model (wave-specific means, or the mean slope with linear_means=True); "
            "with both slopes fixed and wave-specific means this is the "
            f"{'RI-CLPM' if self.name == 'riclpm' else 'DPML without trends'}. Give "
            "slope_variances='free' for the unrestricted fit."
        ]

    def _with_cluster(self, cluster: str) -> pd.DataFrame:
        """The wide data plus the client-level cluster column (checked constant in client)."""
        per_client = self._client_column(cluster, "cluster", "the therapist")
        wide = self.wide.copy()
        wide[cluster] = per_client.reindex(wide.index)
        return wide

    def _robust_notes(self, sem) -> list[str]:
        if sem.estimator != "mlr":
            return []
        note = (
            "estimator = 'mlr': standard errors are robust (Huber-White sandwich: observed "
            "information bread, casewise-score meat) and fit holds the Yuan-Bentler scaled "
            "chi-square (chisq.scaled, chisq.scaling.factor) and robust cfi/tli/rmsea "
            "(cfi.robust, ...), as lavaan's estimator = 'MLR'."
        )
        if sem.cluster is not None:
            n = [int(c.max()) + 1 for c in getattr(sem, "cluster_codes", [])] or ["?"]
            note += (
                f" Clustered by '{sem.cluster}' ({'/'.join(map(str, n))} clusters): "
                "scores summed within clusters, as lavaan's cluster =."
            )
        if sem.robust is None:
            note += " The robust statistics are not available (singular information)."
        return [note]

    def _n_observations(self) -> int:
        """Client-sessions within the waves with at least one observed rating."""
        p = self.panel
        d = p.data
        used = d[p.session].isin(self.waves) & d[[p.x, p.y]].notna().any(axis=1)
        return int(used.sum())

    def _lag_rows(self, cause: str, out: str) -> list[tuple[str, str, str]]:
        pre = self.prefix
        return [
            (f"{pre}{out}{s}", "~", f"{pre}{cause}{prev}")
            for prev, s in zip(self.waves[:-1], self.waves[1:], strict=True)
        ]

    def _group_keys(self) -> list[tuple[int, str]]:
        """(group number, key suffix) for each set of reported effects."""
        if self.n_groups == 1:
            return [(1, "")]
        return [(g + 1, f"[{self.group}={lab}]") for g, lab in enumerate(self.group_labels)]

    @property
    def lags_equal_across_groups(self) -> bool:
        return self.n_groups == 1 or "regressions" in self.group_equal

    def _within(self, sem, level: float) -> dict[str, Effect]:
        p = self.panel
        t = sem.partable.table
        key = {(int(r.group), r.lhs, r.op, r.rhs): int(r.free) for r in t.itertuples(index=False)}
        names = {"x": p.x, "y": p.y}
        groups = [(1, "")] if self.lags_equal_across_groups else self._group_keys()
        out = {}
        for g, suffix in groups:
            for cause, outcome in (("x", "y"), ("y", "x"), ("x", "x"), ("y", "y")):
                rows = self._lag_rows(cause, outcome)
                w = np.zeros(sem.model.q)
                for r in rows:
                    w[key[(g, *r)] - 1] += 1.0 / len(rows)
                eff = _linear_effect(sem, w, level)
                out[effect_key(names[cause], names[outcome]) + suffix] = eff
            if self._same is not None:
                cause, outcome = self._same
                rows = self._same_rows(cause, outcome)
                w = np.zeros(sem.model.q)
                for r in rows:
                    w[key[(g, *r)] - 1] += 1.0 / len(rows)
                name = same_session_key(names[cause], names[outcome])
                out[name + suffix] = _linear_effect(sem, w, level)
        return out

    def _same_rows(self, cause: str, out: str) -> list[tuple[str, str, str]]:
        """The params rows of the directed same-session paths (from the second wave on)."""
        pre = self.prefix
        return [(f"{pre}{out}{s}", "~", f"{pre}{cause}{s}") for s in self.waves[1:]]

    def _between(self, sem, level: float) -> dict[str, Effect]:
        if self.between is None:
            return {}
        equal = self.n_groups == 1 or {"lv.variances", "lv.covariances"} <= set(self.group_equal)
        out = {}
        x, y = self.panel.x, self.panel.y
        for g, suffix in [(1, "")] if equal else self._group_keys():
            out[between_key(x, y) + suffix] = self._correlation(sem, g, level, self.between)
            if self.time == "client":
                out[between_key(f"slope({x})", f"slope({y})") + suffix] = self._correlation(
                    sem, g, level, self.slopes
                )
        return out

    def _correlation(self, sem, g: int, level: float, pair: tuple[str, str]) -> Effect:
        a, b = pair
        t = sem.partable.table
        idx = {}
        for lhs, rhs in ((a, a), (b, b), (a, b)):
            row = t[(t["op"] == "~~") & (t["lhs"] == lhs) & (t["rhs"] == rhs) & (t["group"] == g)]
            idx[(lhs, rhs)] = int(row["free"].iloc[0]) - 1
        if min(idx.values()) < 0:  # a variance fixed at 0 (slope_variances): no correlation
            return Effect(float("nan"))
        va, vb, c = (sem.theta[idx[k]] for k in ((a, a), (b, b), (a, b)))
        if va <= 0 or vb <= 0:
            return Effect(float("nan"))
        r = c / np.sqrt(va * vb)
        grad = np.zeros(sem.model.q)
        grad[idx[(a, b)]] += 1 / np.sqrt(va * vb)
        grad[idx[(a, a)]] += -0.5 * r / va
        grad[idx[(b, b)]] += -0.5 * r / vb
        se = (
            float(np.sqrt(max(grad @ sem.vcov @ grad, 0.0)))
            if np.isfinite(sem.vcov).all()
            else np.nan
        )
        return Effect.from_normal(r, se, level)

    def _group_notes(self) -> list[str]:
        if self.n_groups == 1:
            return []
        labels = ", ".join(f"{g + 1} = {lab!r}" for g, lab in enumerate(self.group_labels))
        notes = [
            f"Multiple groups by '{self.group}' (group {labels}; params has lavaan's "
            "group/block columns). Parameters are free in every group unless held equal: "
            f"group_equal = {self.group_equal or 'none'}."
        ]
        if self.lags_equal_across_groups:
            notes.append(
                "The lagged effects are equal across groups (group_equal contains "
                "'regressions'), so effects.within holds the common estimates."
            )
        else:
            notes.append(
                f"The lagged effects differ by group: effects.within reports each "
                f"group's under keys like '{self.panel.x}->{self.panel.y}"
                f"[{self.group}={self.group_labels[0]}]' (no pooled estimate). "
                "Test their equality with causalrel.sem.wald_equal_across_groups(res) "
                "or compare_nested(fit with group_equal='regressions', this fit)."
            )
        return notes

    def _notes(self) -> list[str]:
        p = self.panel
        w = self.waves
        notes = [
            f"Waves are sessions {w[0]}..{w[-1]} ({len(w)} waves); x = '{p.x}', y = '{p.y}' "
            f"(variables x{w[0]}..x{w[-1]}, y{w[0]}..y{w[-1]} in params).",
            f"{self.excluded['rows.after_last_wave']} session row(s) after session {w[-1]} "
            "are not used; clients' earlier sessions are (FIML uses every observed rating).",
        ]
        notes += self._group_notes()
        if self.covariates:
            notes.append(
                "Time-invariant covariate(s) "
                + ", ".join(self.covariates)
                + " are modelled as random (their mean and variance are estimated; "
                "missing values by FIML)."
            )
        if self._same is not None:
            names = {"x": p.x, "y": p.y}
            cause, out = (names[v] for v in self._same)
            key = same_session_key(cause, out)
            notes.append(
                f"same_session='{self.same_session}': {cause} is taken to be rated before "
                f"{out} in each session, so from session {w[1]} on the same-session "
                f"residual covariance is a directed path {out} ~ {cause} (params op '~'; "
                f"effects.within['{key}'], the average over waves"
                + (", label ss_" + "".join(self._same) if self.constrained else "")
                + f"). The lagged {effect_key(cause, out)} effect is then the part not "
                "passing through the next session's own rating; with free lags the model is "
                "a reparameterisation of the covariance version (same chi-square and df)."
            )
        if self.constrained:
            notes.append(
                "Lagged effects are constrained equal over waves (labels ar_x, ar_y, cl_xy, cl_yx)."
            )
        else:
            notes.append(
                "Lagged effects are wave-specific; effects.within reports their "
                "average over waves (delta-method SE); every wave is in params."
            )
        return notes


def same_session_key(cause: str, outcome: str) -> str:
    """The effects key of a directed same-session path, e.g. ``"symptoms->alliance (same
    session)"``."""
    return f"{effect_key(cause, outcome)} (same session)"


def same_session_path(panel: SessionPanel, value: str) -> tuple[str, str] | None:
    """``same_session`` (the vocabulary of :func:`causalrel.causal.draw_graph`) as the
    model's (cause, outcome) letters: ``None`` for ``"covariance"``, ``("y", "x")`` for
    ``"<y>-><x>"`` (symptoms rated before the session acting on the alliance after it)."""
    x, y = panel.x, panel.y
    paths = {effect_key(y, x): ("y", "x"), effect_key(x, y): ("x", "y")}
    if value == "covariance":
        return None
    if value in paths:
        return paths[value]
    choices = ", ".join(repr(c) for c in ["covariance", *paths])
    raise DataError(
        f"same_session must be one of {choices} (got {value!r}): 'covariance' (default) "
        "leaves the two ratings of a session correlated with no direction; "
        f"'{effect_key(y, x)}' says {y} is rated before the session and acts on {x} rated "
        "after it (the other order the other way)."
    )


#: values of ``slope_variances`` (RICLPM, DPML with ``time="client"``)
SLOPE_VARIANCES = ("auto", "free", "zero")


def _check_slope_variances(value: str, time: str) -> str:
    if value not in SLOPE_VARIANCES:
        raise DataError(
            f"slope_variances must be one of {', '.join(map(repr, SLOPE_VARIANCES))} "
            f"(got {value!r}): 'auto' fixes them at 0 when the data do not support them."
        )
    if value != "auto" and time != "client":
        raise DataError(
            f"slope_variances={value!r} is about the client slopes of time='client'; "
            f"with time={time!r} there are none. Give time='client' or leave it out."
        )
    return value


def _resolve_time(family: str, time: str, invariant_means: bool) -> str:
    """The ``time`` value, with the older ``invariant_means=True`` read as ``time="none"``."""
    check_time(family, time)
    if invariant_means:
        if time == "client":
            raise DataError(
                "invariant_means=True means time='none' (one mean per variable); "
                "it cannot be combined with time='client'. Give one time value."
            )
        return "none"
    return time


class _MeansSEM(_PanelSEM):
    """A panel SEM whose observed means may be held equal over waves (RI-CLPM and CLPM)."""

    def __init__(
        self,
        panel: SessionPanel,
        *,
        waves: Iterable[int] | None = None,
        constrained: bool = False,
        invariant_means: bool = False,
        covariates: Iterable[str] = (),
        min_reach: float = 0.5,
        group: str | None = None,
        group_equal: Iterable[str] | str = (),
        group_label: Iterable | None = None,
        defined: bool | Iterable[str] = False,
        time: str = "common",
        same_session: str = "covariance",
    ) -> None:
        self.time = _resolve_time(self.name, time, bool(invariant_means))
        self.invariant_means = self.time == "none"
        super().__init__(
            panel,
            waves=waves,
            constrained=constrained,
            min_reach=min_reach,
            covariates=covariates,
            group=group,
            group_equal=group_equal,
            group_label=group_label,
            defined=defined,
            same_session=same_session,
        )


#: What time='common' (the default of the RI-CLPM and the DPML) assumes, and what the committed
#: validation (``benchmarks/validate_time_defaults.py --families riclpm dpml``) found when it
#: is wrong: 95% coverage of alliance->symptoms when clients change at different rates, at
#: 150 clients x 8 sessions and at 400 x 12 (the bias grows with the series' length).
COMMON_TIME_NOTE = (
    "time='common': wave-specific means, i.e. the change over sessions is shared by all "
    "clients. If clients change at different rates, the lagged effects absorb part of it: in "
    "the committed validation with client-specific trajectories "
    "(benchmarks/results/validate_time_defaults_riclpm*.txt) the 95% intervals of "
    "alliance->symptoms covered the truth in {small} of fits at 150 clients x 8 sessions and "
    "{large} at 400 x 12. Fit time='client' as well (`causalrel fit {family} --time client`); "
    "`causalrel analyze` fits both, and its verdict counts the time='client' fit when the test of the slope variances finds client-specific change."
)


class RICLPM(_MeansSEM):
    """The random-intercept cross-lagged panel model (Hamaker, Kuiper & Grasman 2015).

    Written as in Mulder & Hamaker (2021): random intercepts ``RIx``/``RIy`` separate clients'
    stable levels from within-client components ``wx<s>``/``wy<s>``, whose lagged effects are
    the within-client carry-over and cross-lagged effects.

    Parameters
    ----------
    panel : SessionPanel
        The data; session numbers are the waves.
    time : {"common", "none", "client"}
        How change over sessions is modelled. ``"common"`` (default): change shared by all
        clients, as wave-specific means. ``"none"``: one mean per variable (the same as
        ``invariant_means=True``). ``"client"``: each client's own linear trajectory besides
        the shared one, the latent curve model with structured residuals (LCM-SR; Curran,
        Howard, Bainter, Lane & McGinley 2014): latent slopes ``Sx``/``Sy`` (loadings 0, 1,
        ..., T-1) correlated freely with the random intercepts, the lagged and same-session
        effects among the within-client residuals. Needs 4 waves. Measured
        (benchmarks/results/validate_time_defaults_riclpm.txt, 50 replications per cell):
        ``"client"`` with the slope fallback is right in all 6 world x size cells (converged
        98-100%), ``"common"`` in 5 (it misses the client-trajectory world at 400 x 12:
        alliance->symptoms bias +0.029, coverage .60). The default stays ``"common"`` so that
        the family named for the RI-CLPM fits the RI-CLPM (Hamaker, Kuiper & Grasman 2015),
        as lavaan users and the published tutorials write it; the right answer across the
        three worlds comes from ``analyze``, which fits both and whose verdict counts the
        LCM-SR when the test of the slope variances finds them (the main job's default).
        For a fit of your own on data whose clients change at different speeds, ask for
        ``time="client"``.
    linear_means : bool
        With ``time="client"``: the published LCM-SR's mean structure, a linear average
        trajectory (observed intercepts 0; the means of ``RIx``, ``RIy``, ``Sx``, ``Sy``
        free, in ``params`` as ``Sx ~1`` ...). Default False: the wave-specific means stay
        free (any shape of shared change) and the latent means are 0, so the RI-CLPM is
        nested in the LCM-SR (:func:`causalrel.sem.compare_slopes`).
    slope_variances : {"auto", "free", "zero"}
        With ``time="client"``: ``"auto"`` (default) fits the slope variances freely and,
        when the data do not support them (a negative slope variance, a slope block that is
        not positive definite, no convergence or a singular information matrix), refits with
        the unsupported slopes' variances and covariances fixed at 0 (first only the slope(s)
        with a negative variance, then both; the common change is kept), says so in
        ``notes`` and records it in ``diagnostics["slopes"]`` (``fixed_at_zero``, the
        ``reason``, the free fit's estimates) and ``diagnostics["slope_fallback"]``.
        ``"free"``: the unrestricted LCM-SR always (lavaan's fit of the same syntax, improper
        or not). ``"zero"``: both slopes fixed at 0 from the start.
    same_session : str
        What links the two ratings of one session (the vocabulary of
        :func:`causalrel.causal.draw_graph`). ``"covariance"`` (default): a residual
        covariance with no direction (``wx<s> ~~ wy<s>``). ``"symptoms->alliance"`` (the
        panel's ``"<y>-><x>"``): symptoms are rated before the session and the alliance after
        it, so from the second wave on the covariance becomes the directed path
        ``wx<s> ~ wy<s>``, reported in ``params`` (op ``"~"``) and in
        ``effects.within["symptoms->alliance (same session)"]`` (the average over waves; one
        label ``ss_yx`` with ``constrained=True``): "improvement builds the alliance" within
        the same session. ``"alliance->symptoms"``: the other order. With free lags the model
        is a reparameterisation of the covariance version (the same chi-square and df; the
        path is the innovation covariance over the cause's innovation variance); the lagged
        effect into the outcome is then the part that does not pass through the same-session
        rating.
    waves : iterable of int, optional
        Consecutive session numbers to use. Default: from the first session to the last one
        that at least ``min_reach`` of the clients reached (later sessions are excluded and
        counted in ``excluded``; clients who stop earlier keep all their data via FIML).
    constrained : bool
        Time-invariant lagged effects (one ``ar_x``, ``ar_y``, ``cl_xy``, ``cl_yx``).
    invariant_means : bool
        Time-invariant means (``m_x``, ``m_y``).
    covariates : sequence of str
        Client-level (time-invariant) numeric columns, e.g. treatment arm coded 0/1, that
        predict the random intercepts (``RIx + RIy ~ z``).
    min_reach : float
        Share of clients that must have reached the last default wave.
    group : str, optional
        A client-level column (constant within client, any type: e.g. the treatment arm as
        text) that splits the clients into groups; the model is fitted in every group at once
        (lavaan's ``group=``), every parameter free per group unless ``group_equal`` says
        otherwise.
    group_equal : str or sequence of str
        Parameter types held equal across groups, as lavaan's ``group.equal``:
        ``"regressions"`` (the lagged effects, and covariate effects), ``"lv.variances"``
        and ``"lv.covariances"`` (random-intercept and within (co)variances), ``"intercepts"``
        (the observed means; unlike ``lavaan()``, latent means stay fixed at 0),
        ``"residuals"``, ``"residual.covariances"``, ``"means"``, ``"loadings"``.
    group_label : sequence, optional
        The order of the groups (default: order of first appearance in the data, as lavaan).
    defined : bool or sequence of str
        Defined parameters (lavaan's ``:=``) added to ``params`` (op ``":="``) with
        delta-method SEs (robust with ``estimator="mlr"``) and ``std.all``; ``se.std`` is the
        SE of the standardized value. ``True`` (needs ``constrained=True``): ``cl_diff :=
        cl_xy - cl_yx`` (its ``std.all`` is the difference of the standardized cross-lags,
        at the first lag as lavaan's ``standardizedSolution()``), and the long-run effects
        ``lr_xy``, ``lr_yx`` (entries of ``(I - Phi)^-1``: the summed effect over all later
        sessions of a one-off unit change); per group (suffix ``_g1``...) when the lags are
        free across groups. Or your own statements, e.g. ``["d := cl_xy + cl_yx"]``.

    Notes
    -----
    ``effects.within["x->y"]`` is the average over waves of the wave-specific cross-lagged
    effects ``wy<s> ~ wx<s-1>`` (the common value if constrained);
    ``effects.between["x~y"]`` is the random-intercept correlation. With ``group=`` and lags
    not equal across groups, both are reported per group (keys ``"x->y[arm=treatment]"``).
    With ``time="client"``, ``effects.between`` adds ``"slope(x)~slope(y)"``, the correlation
    of the clients' slopes; the slope variances (``Sx ~~ Sx``), covariances and (with
    ``linear_means``) means (``Sx ~1``) are rows of ``params``.
    """

    # -- what the family is (read by causalrel.families; see CONTRIBUTING.md) --
    name = "riclpm"
    summary = "random-intercept CLPM (SEM): lagged effects within clients, stable traits apart"
    assumes = (
        "Assumes stable client levels (random intercepts) plus within-client cross-lagged "
        "effects that are linear and the same for every client; sessions are the waves."
    )
    distrust_when = (
        "Distrust it with strong trends, few clients for many waves, effects that differ a lot "
        "between clients, or convergence / Heywood warnings."
    )
    samples = False
    time_support = ("none", "common", "client")
    trend_check = True  # analyze refits it with time="client" (the LCM-SR)

    min_waves = 3
    prefix = "w"
    between = ("RIx", "RIy")
    between_meaning = "correlation of the random intercepts (stable client levels)"
    slopes = ("Sx", "Sy")

    def __init__(
        self,
        panel: SessionPanel,
        *,
        waves: Iterable[int] | None = None,
        time: str = "common",
        constrained: bool = False,
        invariant_means: bool = False,
        linear_means: bool = False,
        covariates: Iterable[str] = (),
        min_reach: float = 0.5,
        group: str | None = None,
        group_equal: Iterable[str] | str = (),
        group_label: Iterable | None = None,
        defined: bool | Iterable[str] = False,
        slope_variances: str = "auto",
        same_session: str = "covariance",
    ) -> None:
        self.slope_variances = _check_slope_variances(slope_variances, time)
        self.linear_means = bool(linear_means)
        if self.linear_means and time != "client":
            raise DataError(
                "linear_means=True is the LCM-SR's mean structure; it needs time='client'."
            )
        if time == "client":
            self.min_waves = 4  # T = 3 leaves the LCM-SR with more parameters than moments
        super().__init__(
            panel,
            waves=waves,
            constrained=constrained,
            invariant_means=invariant_means,
            covariates=covariates,
            min_reach=min_reach,
            group=group,
            group_equal=group_equal,
            group_label=group_label,
            defined=defined,
            time=time,
            same_session=same_session,
        )

    def _syntax(self, zero_slopes: tuple[str, ...] = ()) -> str:
        if self.time == "client":
            return lcmsr_syntax(
                self.waves,
                constrained=self.constrained,
                linear_means=self.linear_means,
                covariates=self.covariates,
                zero_slopes=zero_slopes,
                same_session=self._same,
            )
        return riclpm_syntax(
            self.waves,
            constrained=self.constrained,
            invariant_means=self.invariant_means,
            covariates=self.covariates,
            same_session=self._same,
        )

    def _notes(self) -> list[str]:
        notes = super()._notes() + [
            "effects.between is the correlation of the random intercepts RIx and RIy "
            "(clients' stable levels)."
        ]
        if self.time == "client":
            w = self.waves
            means = (
                "a linear average trajectory (observed intercepts 0; the means of RIx, "
                "RIy, Sx, Sy are free)"
                if self.linear_means
                else "wave-specific means for the change shared by all clients (latent means 0)"
            )
            notes.append(
                "time='client': the latent curve model with structured residuals (LCM-SR; "
                "Curran et al. 2014). Every client has an own linear slope per variable (Sx, "
                f"Sy; loadings 0..{w[-1] - w[0]} on sessions {w[0]}..{w[-1]}), correlated "
                "freely with the random intercepts; the lagged effects are among the "
                f"residuals around each client's trajectory. Mean structure: {means}. "
                "effects.between adds the slope correlation; test the slope variances "
                "against the RI-CLPM with causalrel.sem.compare_slopes(riclpm_fit, this_fit)."
            )
        elif self.time == "none":
            notes.append("time='none': one mean per variable over all waves (m_x, m_y).")
        else:
            notes.append(COMMON_TIME_NOTE.format(family="riclpm", small=".94", large=".60"))
        return notes


class CLPM(_MeansSEM):
    """The classic cross-lagged panel model (lags between the observed variables).

    Parameters are as for :class:`RICLPM` (including ``group``/``group_equal`` and
    ``same_session``, here a path between the observed scores); ``covariates`` predict x and
    y at every wave.
    The CLPM has no between-client component, so
    ``effects.between`` is empty; its lagged effects mix within- and between-client
    association when clients differ in stable levels (Hamaker et al. 2015; Lucas 2023).
    """

    # -- what the family is (read by causalrel.families; see CONTRIBUTING.md) --
    name = "clpm"
    summary = "cross-lagged panel model (SEM); mixes between- and within-client differences"
    assumes = (
        "Assumes every client shares one stable level: the lagged paths mix differences between "
        "clients with changes within a client (one SEM over the sessions as waves)."
    )
    distrust_when = (
        "Distrust it whenever clients differ in their stable levels (a between-client share "
        "well above zero): the cross-lags are then biased by stable traits (Hamaker et al. 2015)."
    )
    samples = False
    time_support = ("none", "common")
    trend_check = False

    min_waves = 2
    # time="client" is refused by check_time: latent slopes in a model without random
    # intercepts are not the LCM-SR (use the RI-CLPM).

    def _syntax(self, zero_slopes: tuple[str, ...] = ()) -> str:
        return clpm_syntax(
            self.waves,
            constrained=self.constrained,
            invariant_means=self.invariant_means,
            covariates=self.covariates,
            same_session=self._same,
        )

    def _notes(self) -> list[str]:
        return super()._notes() + [
            "The CLPM has no between-client part: effects.between is empty, and its lagged "
            "effects mix within- and between-client association."
        ]


class DPML(_PanelSEM):
    """The ML dynamic panel model with fixed effects (Allison, Williams & Moral-Benito 2017).

    Cross-lagged equations for x and y with client fixed effects ``FEx``/``FEy`` (latent,
    loading 1 from the second wave on), correlated freely with each other and with the
    first wave's observations (no assumption about how the process started). As in Stata's
    ``xtdpdml`` the lagged effects are equal over waves by default.

    Parameters
    ----------
    panel, waves, min_reach, group, group_equal, group_label
        As for :class:`RICLPM`.
    same_session : str
        As for :class:`RICLPM`: ``"covariance"`` (default, same-session error covariances)
        or a directed same-session path, e.g. ``"symptoms->alliance"`` (``x<s> ~ y<s>``
        from the second wave on: a contemporaneous regressor in the structural equation, with
        the fixed effects in that equation; one label ``ss_yx`` when ``constrained``, the
        default).
    covariates : sequence of str
        Client-level numeric columns entering both equations (from wave 2), correlated with
        the first wave and uncorrelated with the fixed effects (as in ``xtdpdml``).
    constrained : bool
        Time-invariant lagged effects (default True, as in ``xtdpdml``).
    invariant_error_variances : bool
        One error variance per variable for all waves (``xtdpdml``'s ``errorinv``).
    time : {"common", "none", "client"}
        ``"common"`` (default): wave-specific intercepts (change shared by all clients, as
        ``xtdpdml``'s default wave intercepts). ``"none"``: one intercept per equation from
        the second wave on (``m_x``, ``m_y``). ``"client"``: besides the wave intercepts,
        client-specific linear trends in both equations, as trend factors ``TRx``/``TRy``
        (loadings 1, 2, ... from the second wave on) correlated freely with each other, the
        fixed effects and the first wave (the random-trend dynamic model). Needs 4 waves.
        The default stays ``"common"``: in
        benchmarks/results/validate_time_defaults_riclpm_dpml.txt ``"client"`` (with the
        trend fallback) is right in 3 of 6 cells, ``"common"`` in 4.
    slope_variances : {"auto", "free", "zero"}
        With ``time="client"``: what to do when the data do not support the trend factors'
        variances, as for :class:`RICLPM` (default ``"auto"``: fall back to the trend
        variances and covariances fixed at 0, said in ``notes`` and
        ``diagnostics["slopes"]``).
    """

    # -- what the family is (read by causalrel.families; see CONTRIBUTING.md) --
    name = "dpml"
    summary = "dynamic panel model by ML (SEM): lagged outcome with client effects (Allison)"
    assumes = (
        "Assumes client fixed effects that may correlate with everything, lagged effects, and "
        "sequential exogeneity, estimated by maximum likelihood (Allison et al. 2017)."
    )
    distrust_when = (
        "Distrust it with very short series, clearly non-normal scores, or when the fit does not "
        "converge; like all panel models it assumes no time-varying confounder."
    )
    samples = False
    time_support = ("none", "common", "client")
    trend_check = True  # analyze refits it with time="client" (client trend factors)

    between_meaning = "correlation of the latent client fixed effects (stable levels)"
    min_waves = 3
    between = ("FEx", "FEy")
    slopes = ("TRx", "TRy")

    def __init__(
        self,
        panel: SessionPanel,
        *,
        waves: Iterable[int] | None = None,
        constrained: bool = True,
        invariant_error_variances: bool = False,
        covariates: Iterable[str] = (),
        min_reach: float = 0.5,
        group: str | None = None,
        group_equal: Iterable[str] | str = (),
        group_label: Iterable | None = None,
        defined: bool | Iterable[str] = False,
        time: str = "common",
        slope_variances: str = "auto",
        same_session: str = "covariance",
    ) -> None:
        self.slope_variances = _check_slope_variances(slope_variances, time)
        self.time = check_time(self.name, time)
        if self.time == "client":
            self.min_waves = 4
        self.invariant_error_variances = bool(invariant_error_variances)
        super().__init__(
            panel,
            waves=waves,
            constrained=constrained,
            min_reach=min_reach,
            covariates=covariates,
            group=group,
            group_equal=group_equal,
            group_label=group_label,
            defined=defined,
            same_session=same_session,
        )

    def _syntax(self, zero_slopes: tuple[str, ...] = ()) -> str:
        return dpml_syntax(
            self.waves,
            constrained=self.constrained,
            invariant_error_variances=self.invariant_error_variances,
            covariates=self.covariates,
            invariant_means=self.time == "none",
            trends=self.time == "client",
            zero_slopes=zero_slopes,
            same_session=self._same,
        )

    def _notes(self) -> list[str]:
        notes = super()._notes() + [
            "effects.between is the correlation of the fixed effects FEx and FEy."
        ]
        if self.time == "client":
            notes.append(
                "time='client': client-specific linear trends TRx, TRy in both "
                "equations (loadings 1, 2, ... from the second wave), correlated "
                "freely with the fixed effects and the first wave."
            )
        elif self.time == "none":
            notes.append(
                "time='none': one intercept per equation from the second wave on (m_x, m_y)."
            )
        else:
            notes.append(COMMON_TIME_NOTE.format(family="dpml", small=".85", large=".25"))
        return notes
