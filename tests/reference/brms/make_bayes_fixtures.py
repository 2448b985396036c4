"""Write the data, design and priors that the R references of :class:`causalrel.bayes.MLM` fit.

Run from the repository root: ``python tests/reference/brms/make_bayes_fixtures.py``; then
``Rscript tests/reference/brms/brms_mlm.R``, ``Rscript tests/reference/lme4/lme4_mlm.R``,
``Rscript tests/reference/lme4/lme4_mlm_therapist.R`` and ``Rscript tests/reference/brms/brms_mlm_therapist.R``.

Two data sets, both simulated with fixed seeds:

* ``brms_mlm_*``: two levels (sessions in clients), 60 clients x 13 sessions (seed 2024);
* ``mlm_therapist_*``: three levels (sessions in clients in therapists), 200 clients x 8
  sessions in 20 therapists (10 clients each on average) whose shifts have SD 0.3 on both
  variables, random cross-lags with SD 0.2 (seed 7); the truth is in ``mlm_therapist_truth.json``.
  Ten clients per therapist, not five or six, so that the therapist SD is identified away from
  zero by the data: with 120 clients in 20 therapists the REML estimate of one equation's
  therapist SD was 0.20 (profile interval 0 to 0.35) and 4 x 1000 posterior draws did not reach
  the tests' convergence bar.

The design is exactly what :class:`causalrel.bayes.MLM` builds from the data (person-mean-centred
lags, grand-mean-centred client means[, therapist]) and the priors are its data-scaled defaults,
so brms and lme4 fit the same model on the same rows.
"""

import json
from pathlib import Path

import numpy as np

from causalrel.bayes import MLM
from causalrel.simulate import simulate

OUT = Path(__file__).parent

#: The three-level data set (also used by tests/test_bayes_fit.py to know the truth).
THERAPIST_SIM = dict(
    n_clients=200,
    n_sessions=8,
    n_therapists=20,
    therapist_sd=(0.3, 0.3),
    cross_sd=0.2,
    mcar=0.05,
    seed=7,
)


def priors_record(model: MLM) -> dict:
    """Each equation's predictors, random slope and prior scales, as the R scripts read them."""
    priors = {}
    for out in model.eqs:
        p = {k.split(":", 1)[1]: v for k, v in model.priors.items() if k.startswith(out + ":")}
        priors[out] = {
            "predictors": model._preds(out),
            "slope": model._slope(out),
            "intercept": [
                float(p["Intercept"].params["mu"]),
                float(p["Intercept"].params["sigma"]),
            ],
            "b_sd": np.asarray(p["b"].params["sigma"], float).tolist(),
            "sd_sd": np.asarray(p["sd"].params["sigma"], float).tolist(),
            "sigma_sd": float(p["sigma"].params["sigma"]),
            "lkj_eta": float(p["cor"].params["eta"]),
        }
        if model.therapist:
            priors[out]["sd_therapist_sd"] = float(p["sd_therapist"].params["sigma"])
    return priors


def _write_design(model: MLM, prefix: str) -> None:
    """Each equation's design as ``{prefix}_design_{outcome}.csv``, its priors as JSON."""
    for out, frame in model.eqs.items():
        frame.to_csv(OUT / f"{prefix}_design_{out}.csv", index=False)
    (OUT / f"{prefix}_priors.json").write_text(json.dumps(priors_record(model), indent=2) + "\n")


def main() -> None:
    sim = simulate(60, 13, cross_sd=0.1, mcar=0.05, trait_corr=-0.3, seed=2024)
    sim.data.to_csv(OUT / "brms_mlm_data.csv", index=False)
    _write_design(MLM(sim.panel()), "brms_mlm")

    sim = simulate(**THERAPIST_SIM)
    sim.data.to_csv(OUT / "mlm_therapist_data.csv", index=False)
    truth = sim.truth.to_dict()
    del truth["clients"]
    (OUT / "mlm_therapist_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    _write_design(MLM(sim.panel(), therapist=True), "mlm_therapist")


if __name__ == "__main__":
    main()
