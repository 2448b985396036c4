"""The sampler diagnostics reject what they must: chains that disagree (R-hat), chains that stick
(ESS), divergent transitions and low BFMI, each built by hand so the verdict is known exactly.

Draws are constructed, not sampled, so these tests cannot depend on sampler luck; the mixed case
shows the same code passes well-mixed chains (a check that always fails would fail it).
"""

import arviz as az
import numpy as np

from causalrel.bayes.diagnostics import diagnose, what_to_try

CHAINS, DRAWS = 4, 1000


def _idata(theta: np.ndarray, *, diverging=None, energy=None):
    stats = {"diverging": np.zeros(theta.shape, bool) if diverging is None else diverging}
    if energy is not None:
        stats["energy"] = energy
    return az.from_dict(posterior={"theta": theta}, sample_stats=stats)


def _mixed(seed=0):
    return np.random.default_rng(seed).normal(size=(CHAINS, DRAWS))


def test_well_mixed_chains_pass():
    rng = np.random.default_rng(1)
    energy = rng.normal(size=(CHAINS, DRAWS))  # independent energies: BFMI about 2
    d = diagnose(_idata(_mixed(), energy=energy), ["theta"])
    assert d["converged"], d.get("message")
    assert d["rhat_max"] < 1.01 and d["ess_bulk_min"] > 400


def test_chains_in_different_places_fail_rhat():
    theta = _mixed() + np.array([0.0, 0.0, 0.0, 0.5])[:, None]  # one chain off by half an SD
    d = diagnose(_idata(theta), ["theta"])
    assert not d["converged"]
    assert d["rhat_max"] > 1.01
    assert "R-hat" in d["message"] and "(at theta)" in d["message"]
    assert "more tuning and draws" in what_to_try(d, simpler="a simpler model")


def test_sticky_chains_fail_ess():
    rng = np.random.default_rng(2)
    theta = np.empty((CHAINS, DRAWS))
    for c in range(CHAINS):  # AR(1) with rho = .995: about 2-3 effective draws per 1000
        x = 0.0
        for t in range(DRAWS):
            x = 0.995 * x + rng.normal() * np.sqrt(1 - 0.995**2)
            theta[c, t] = x
    d = diagnose(_idata(theta), ["theta"])
    assert not d["converged"]
    assert d["ess_bulk_min"] < CHAINS * 100
    assert "bulk ESS" in d["message"]


def test_divergences_and_low_bfmi_fail():
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[2, 10:13] = True
    d = diagnose(_idata(_mixed(), diverging=diverging), ["theta"])
    assert not d["converged"] and d["divergences"] == 3
    assert "3 divergent transition(s)" in d["message"]
    assert "target_accept" in what_to_try(d, simpler="x")
    # BFMI = E[(dE)^2] / Var(E): a random walk in energy has tiny successive differences
    energy = np.random.default_rng(3).normal(size=(CHAINS, DRAWS)).cumsum(axis=1)
    d = diagnose(_idata(_mixed(), energy=energy), ["theta"])
    assert not d["converged"] and d["bfmi_min"] < 0.3
    assert "BFMI" in d["message"]


def test_one_chain_cannot_pass():
    d = diagnose(_idata(_mixed()[:1]), ["theta"])
    assert not d["converged"] and "at least 2 chains" in d["message"]
