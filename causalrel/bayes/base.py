"""The fitting pipeline every Bayesian family shares: build, sample, summarise, diagnose.

A family subclasses :class:`BayesModel` and supplies ``build()`` (the PyMC model),
``_summarise()`` (posterior -> effects, parameter table, per-client table, notes),
``_diagnosed`` (the parameters whose convergence decides ``converged``), ``_loglik()`` (the
pointwise log-likelihood for LOO), ``_simpler()`` (the simpler model to suggest when the
diagnostics fail) and ``_replicate()`` (one-step-ahead replicates of the outcomes for the
posterior predictive check, :mod:`causalrel.bayes.ppc`). ``fit()`` is written once here: it
samples, diagnoses, computes LOO and the predictive check the same way for every family, and its
options (which ``causalrel.fit_model`` and the CLI route by name) are the same for all.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..data import DataError, SessionPanel
from . import ppc as _ppc
from .common import loo_waic
from .compiled import release_memory
from .diagnostics import diagnose, what_to_try
from .results import BayesResults
from .sampling import sample

#: The ``time`` values of the Bayesian families (issue 13's vocabulary): ``"none"`` no change
#: over sessions; ``"common"`` change shared by all clients (MLM: a fixed effect of session;
#: DSEM: a fixed linear trend of the latent means); ``"client"`` each client's own linear
#: trajectory besides the shared one (MLM: the session effect's random slope; DSEM: random
#: latent trends).
TIMES = ("none", "common", "client")


#: A random-effect SD whose interval's lower bound is below this share of its upper bound has a
#: posterior piled at zero (a half-normal-like shape; a supported SD's interval sits away from 0).
SUPPORT_RATIO = 0.1


def unsupported_sds(params: Any, client: str) -> list[str]:
    """Terms of between-client SDs whose posterior piles at zero (see :data:`SUPPORT_RATIO`)."""
    if not len(params) or "op" not in params:
        return []
    sds = params[(params["op"] == "sd") & (params["rhs"] == client)]
    weak = sds[sds["ci.lower"] < SUPPORT_RATIO * sds["ci.upper"]]
    return [str(t) for t in weak["term"]]


def compact(idata: Any, drop: list[str], *, dtype: Any = np.float32) -> Any:
    """Keep only the draws results need (issue 14's memory target), in place.

    Drops the posterior variables named in ``drop`` (sampler auxiliaries: non-centred
    standard normals, latent cells already summarised), every variable on the unconstrained
    scale (names ending ``__``; the constrained values are kept), the pointwise
    log-likelihood (LOO and WAIC are already in ``fit``) and stores the remaining draws and
    replicates as ``dtype``. float32 keeps 7 significant digits, far finer than a posterior
    SD / sqrt(ESS); every summary (effects, parameter table, diagnostics, LOO, the predictive
    check) is computed from the float64 draws before this runs. Measured on the DSEM 200 x 20
    with 10% missing, 4 x 1000 draws: the results keep 33 MB (posterior 19 MB, replicates
    13 MB); every draw as float64 with the tuning draws nutpie kept is about 190 MB (from
    the variables' sizes; ``benchmarks/results/bench_bayes_memory.json``).
    """
    post = idata.posterior
    gone = [v for v in post.data_vars if v in drop or str(v).endswith("__")]
    post = post.drop_vars(gone)
    idata.posterior = post.astype({v: dtype for v in post.data_vars if post[v].dtype == float})
    if "posterior_predictive" in idata.groups():
        pp = idata.posterior_predictive
        idata.posterior_predictive = pp.astype(dtype)
    if "log_likelihood" in idata.groups():
        del idata.log_likelihood
    return idata


class BayesModel:
    """Base of :class:`~causalrel.bayes.MLM` and :class:`~causalrel.bayes.DSEM`."""

    name: str = "bayes"
    #: whether ``fit`` computes PSIS-LOO/WAIC unless told otherwise
    loo_default: bool = True
    #: interval level of the summaries (set by ``fit(level=...)``)
    level: float = 0.95
    #: build the model for reuse (the constructor's ``reuse``; :mod:`causalrel.bayes.compiled`)
    reuse: bool = False

    def _data(self, name: str, value: Any) -> Any:
        """``value`` in the model: a ``pm.Data`` container when built for reuse, else a constant.

        Reuse needs every data-dependent array as a shared variable (swapped for the next data
        set of the same structure), but shared variables cost the first compilation: measured
        side by side on one 100 x 15 MLM (2 x 1000 draws, cold caches, same load), nutpie's
        compilation took 685 s with every array shared against 499 s with constants, which
        PyTensor can fold. So a single fit keeps constants; repeated fits of one design
        (validation grids, power) ask for ``reuse=True``.
        """
        import pymc as pm
        import pytensor.tensor as pt

        if self.reuse:
            return pm.Data(name, value)
        return pt.as_tensor_variable(np.asarray(value))

    def _setup(self, panel: SessionPanel, *, therapist: bool | None, detrend: bool) -> None:
        """Shared constructor steps: resolve the therapist level, detrend, start the notes.

        ``detrend`` is deprecated (one release): ``time="client"`` models each client's trend
        with the other effects instead of removing the observed one first.
        """
        if detrend:
            warnings.warn(
                f"{self.name}: detrend=True is deprecated; use time='client' (each client's "
                "own linear trend, estimated with the lagged effects).",
                DeprecationWarning,
                stacklevel=3,
            )
        if therapist is None:
            therapist = panel.therapist is not None
        if therapist and panel.therapist is None:
            raise DataError(
                f"{self.name}: a therapist level needs a therapist column "
                "(load_panel(..., therapist=...))."
            )
        self.therapist = bool(therapist)
        self.notes: list[str] = []
        if detrend:
            from ..decompose import detrend as _detrend

            panel = _detrend(panel)
            self.notes.append("each client's linear trend was removed before fitting.")
        self.panel = panel

    def build(self) -> Any:  # pragma: no cover - every family overrides it
        raise NotImplementedError

    def _summarise(self, idata: Any, seconds: float, sampler: str) -> BayesResults:
        """The results contract from the posterior, without ``diagnostics`` and LOO."""
        raise NotImplementedError  # pragma: no cover

    def _diagnosed(self) -> list[str]:
        """Posterior variables whose R-hat, ESS decide ``converged``."""
        raise NotImplementedError  # pragma: no cover

    def _loglik(self, idata: Any) -> Iterable[tuple[str, str]]:
        """Add the pointwise log-likelihood to ``idata``; ``(variable, fit-key prefix)`` pairs."""
        raise NotImplementedError  # pragma: no cover

    def _diagnose(self, idata: Any, info: dict) -> dict[str, Any]:
        """The diagnostics block (:func:`~causalrel.bayes.diagnostics.diagnose`) and timings."""
        out = diagnose(idata, self._diagnosed())
        out["sampler"] = info["sampler"]
        keys = ("backend", "compile_seconds", "sample_seconds", "reused_compilation")
        out.update({k: info[k] for k in keys if k in info})
        return out

    def _loo(self, idata: Any, keep: bool = True) -> dict[str, Any]:
        """PSIS-LOO and WAIC per modelled outcome; an error is reported, not raised.

        ``_loglik`` may add the outcomes' pointwise log-likelihoods one at a time (a
        generator); without ``keep`` each is dropped once its LOO is computed, so that one
        outcome's (draws x observations) array is in memory at a time.
        """
        fit: dict[str, Any] = {}
        try:
            for var, prefix in self._loglik(idata):
                fit.update(loo_waic(idata, var, prefix=prefix))
                if not keep:
                    idata.log_likelihood = idata.log_likelihood.drop_vars(var)
        except Exception as exc:  # noqa: BLE001 - LOO is optional; say why it is absent
            fit["loo_error"] = str(exc)
        return fit

    def _auxiliary(self) -> list[str]:
        """Posterior variables no result needs (dropped unless ``fit(keep_draws=True)``)."""
        return []

    def _simpler(self) -> str:
        """The simpler model a failed fit should try, in words."""
        raise NotImplementedError  # pragma: no cover

    def _replicate(self, posterior: Any, rng: np.random.Generator) -> _ppc.Replicates:
        """One-step-ahead replicates of the outcomes for the draws in ``posterior``."""
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def _time(time: str | None, trend: bool | None, name: str, default: str = "none") -> str:
        """Resolve ``time`` (``"none" | "common" | "client"``; ``default`` when neither it
        nor the deprecated ``trend`` is given)."""
        if trend is not None:
            warnings.warn(
                f"{name}: trend= is deprecated; use time='client' (trend=True) or "
                "time='none' (trend=False).",
                DeprecationWarning,
                stacklevel=3,
            )
            if time is not None and time != ("client" if trend else "none"):
                raise DataError(f"{name}: give time= or the deprecated trend=, not both.")
            time = "client" if trend else "none"
        time = default if time is None else time
        if time not in TIMES:
            raise DataError(
                f"{name}: time must be one of {', '.join(repr(t) for t in TIMES)}; got {time!r}."
            )
        return time

    def _structure(self) -> Any:
        """Structure key of the compiled model (:mod:`~causalrel.bayes.compiled`); None: no reuse."""
        return self._key() if self.reuse else None

    def _key(self) -> Any:
        """What the compiled model depends on besides its ``pm.Data`` (families override it)."""
        return None

    def fit(
        self,
        *,
        draws: int = 2000,
        tune: int = 1000,
        chains: int = 4,
        seed: int | None = None,
        sampler: str | None = None,
        backend: str | None = None,
        target_accept: float = 0.9,
        progress: bool = True,
        cores: int | None = None,
        loo: bool | None = None,
        ppc: bool = True,
        level: float = 0.95,
        retry: bool = True,
        keep_draws: bool = False,
        **deprecated: Any,
    ) -> BayesResults:
        """Sample the posterior and summarise it per the results contract.

        Parameters
        ----------
        draws, tune, chains : int
            Kept draws per chain, tuning draws per chain, chains. 2000 draws by default: the
            between-client SDs of random effects mix slowly, and in 20 simulated replications
            (150 clients x 8 sessions, ``benchmarks/validate_bayes.py``) 80% of DSEM fits passed
            every diagnostic at 4 x 2000 draws against 30% at 4 x 1000.
        seed : int, optional
            Random seed; the same seed gives the same result (for one sampler backend).
        sampler : {"nutpie", "numpyro", "pymc"}, optional
            NUTS backend; default the fastest installed.
        backend : {"numba", "jax"}, optional
            nutpie's model compiler (``sampler="nutpie"`` only): PyTensor's numba backend or
            its JAX backend (:mod:`causalrel.bayes.compiled` says which is faster where);
            default :data:`~causalrel.bayes.compiled.DEFAULT_BACKEND`. Recorded in
            ``diagnostics["backend"]``. A seed gives the same draws within a backend, not
            across backends.
        target_accept : float
            Step-size adaptation target; raise to 0.95-0.99 after divergences.
        progress : bool
            Show progress: "compiling (first time for this shape)" or "reusing compiled model"
            (nutpie compiles a model once per structure and process,
            :mod:`causalrel.bayes.compiled`), then the sampler's bar.
        cores : int, optional
            Parallel chains (default: all cores).
        loo : bool, optional
            Compute PSIS-LOO and WAIC; default ``loo_default`` of the family (see its
            docstring for why).
        ppc : bool
            Posterior predictive check: replicate every modelled rating one session ahead
            (given the previous session and the client's effects) for at most
            :data:`~causalrel.bayes.ppc.MAX_DRAWS` posterior draws in all, chosen at random
            with ``seed``; add them to ``idata`` (groups ``posterior_predictive`` and
            ``observed_data``, one variable per outcome, named by its column) and put
            posterior predictive p-values ``"ppc_p:{outcome}:{statistic}"`` in ``fit``
            (:mod:`causalrel.bayes.ppc`). Extreme p-values get a note; they do not change
            ``converged``.
        level : float
            Level of the equal-tailed credible intervals in ``effects`` and ``params``.
        retry : bool
            When the diagnostics fail, sample once more with twice the tuning and draws (and
            ``target_accept`` at least 0.95 after divergences) before reporting failure; the
            notes say so. The second run replaces the first.
        keep_draws : bool
            Keep every sampled variable's draws in ``idata`` as float64: the latent cells,
            the non-centred auxiliaries, the unconstrained values and the pointwise
            log-likelihood. Default ``False`` keeps what the results need, as float32
            (:func:`compact`; the DSEM's latent cells are summarised in ``imputed``): the
            memory of a fit is then a fraction (issue 14).
        **deprecated
            ``progressbar``: the old spelling of ``progress`` (one release; a
            DeprecationWarning). Not in the signature, so option routing offers ``progress``.

        Returns
        -------
        BayesResults
            Contract results with ``idata`` (also ``engine``); a
            :class:`~causalrel.results.ConvergenceWarning` is emitted when the diagnostics
            fail, saying what to try.
        """
        unknown = set(deprecated) - {"progressbar"}
        if unknown:
            raise TypeError(f"fit() got unexpected keyword argument(s) {sorted(unknown)}")
        if "progressbar" in deprecated:
            warnings.warn(
                "fit(progressbar=...) is deprecated; use fit(progress=...).",
                DeprecationWarning,
                stacklevel=2,
            )
            progress = bool(deprecated["progressbar"])
        if not 0 < level < 1:
            raise DataError(f"level must lie strictly between 0 and 1 (e.g. 0.95); got {level}.")
        opts = dict(draws=draws, tune=tune, target_accept=target_accept)
        run = (chains, seed, sampler, backend, progress, cores, loo, ppc, level, keep_draws)
        res = self._fit_once(opts, *run)
        if retry and not res.converged:
            first = res.diagnostics.get("message", "")
            more = dict(opts, draws=2 * draws, tune=2 * tune)
            if res.diagnostics.get("divergences"):
                more["target_accept"] = max(target_accept, 0.95)
            res = self._fit_once(more, *run)
            res.diagnostics["retried"] = True
            res.notes.append(
                f"the first run ({chains} x {draws} draws after {tune} tuning, target_accept "
                f"{target_accept}) did not pass the diagnostics ({first}); these results are "
                f"from one automatic longer run ({chains} x {more['draws']} after "
                f"{more['tune']}, target_accept {more['target_accept']})."
            )
        res.warn_if_not_converged(what_to_try(res.diagnostics, simpler=self._simpler()))
        return res

    def _fit_once(
        self,
        opts: dict,
        chains,
        seed,
        sampler,
        backend,
        progress,
        cores,
        loo,
        ppc,
        level,
        keep_draws,
    ) -> BayesResults:
        model = self.build()
        t0 = time.perf_counter()
        idata, info = sample(
            model,
            chains=chains,
            seed=seed,
            sampler=sampler,
            backend=backend,
            progress=progress,
            cores=cores,
            key=self._structure(),
            label=self.name,
            **opts,
        )
        seconds = time.perf_counter() - t0
        self.level = level
        res = self._summarise(idata, seconds, info["sampler"])
        res.diagnostics = self._diagnose(idata, info)
        weak = unsupported_sds(res.params, self.panel.client)
        if weak:
            res.diagnostics["unsupported_sds"] = weak
            res.notes.append(
                "between-client SD(s) the data do not support (posterior piled at zero: lower "
                f"interval bound under {SUPPORT_RATIO:.0%} of the upper): {', '.join(weak)}. "
                "These random effects may be dropped (fixed at zero: "
                f"{self._simpler()}); slow mixing of such SDs is the usual cause of R-hat and ESS "
                "failures."
            )
        if self.loo_default if loo is None else loo:
            res.fit.update(self._loo(idata, keep=keep_draws))
        if ppc:
            rng = np.random.default_rng(seed)
            reps = self._replicate(_ppc.thin(idata.posterior, rng), rng)
            fit, notes = _ppc.check(idata, reps)
            res.fit.update(fit)
            res.notes.extend(notes)
        if not keep_draws:
            compact(idata, self._auxiliary())
        release_memory()
        return res
