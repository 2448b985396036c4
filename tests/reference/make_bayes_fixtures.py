"""Write the data, design and priors that tests/reference/brms_mlm.R and lme4_mlm.R fit.

Run from the repository root: ``python tests/reference/make_bayes_fixtures.py``; then
``Rscript tests/reference/brms_mlm.R`` and ``Rscript tests/reference/lme4_mlm.R``. The data are
simulated (seed 2024); the design is exactly what :class:`causalrel.bayes.MLM` builds from them
(person-mean-centred lags, grand-mean-centred client means) and the priors are its data-scaled
defaults, so brms fits the same model on the same rows.
"""

import json
from pathlib import Path

import numpy as np

from causalrel.bayes import MLM
from causalrel.simulate import simulate

OUT = Path(__file__).parent / "fixtures"


def main() -> None:
    sim = simulate(60, 13, cross_sd=0.1, mcar=0.05, trait_corr=-0.3, seed=2024)
    sim.data.to_csv(OUT / "brms_mlm_data.csv", index=False)
    model = MLM(sim.panel())
    priors = {}
    for out, frame in model.eqs.items():
        frame.to_csv(OUT / f"brms_mlm_design_{out}.csv", index=False)
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
    (OUT / "brms_mlm_priors.json").write_text(json.dumps(priors, indent=2) + "\n")


if __name__ == "__main__":
    main()
