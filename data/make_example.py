"""Make the shipped example data set: data/sessions.csv (+ sessions.truth.json).

SIMULATED data, calibrated to the summary figures of a real session-by-session data set (the
IMPLEMENT trial; see data/README.md). Run from the repository root:

    python data/make_example.py

The seed is fixed, so the output is the same on every machine with the same numpy version.
"""

from pathlib import Path

from causalrel.simulate import simulate

#: Generating values, in raw units of the scales (alliance: WAI-SR item mean 1-5;
#: symptoms: CORE-OM clinical score 0-40). Documented in data/README.md.
SETTINGS = dict(
    n_clients=400,
    n_sessions=(8, 20),
    ar=(0.25, 0.40),
    cross=(-1.0, -0.008),  # alliance -> next symptoms (CORE points per WAI point); reverse
    cross_sd=(0.5, 0.0),  # clients differ in how much the alliance matters
    innovation_sd=(0.33, 3.0),
    innovation_corr=0.0,
    trait_mean=(3.45, 18.0),
    trait_sd=(0.52, 4.0),
    trait_corr=0.15,
    n_therapists=40,
    therapist_sd=(0.15, 1.0),
    time="client",
    trend=(0.04, -0.5),
    trend_sd=(0.03, 0.35),
    mcar=(0.10, 0.03),
    skip=0.03,
    dropout=0.04,
    dropout_on_symptoms=0.4,
    bounds={"alliance": (1.0, 5.0), "symptoms": (0.0, 40.0)},
    decimals={"alliance": 2, "symptoms": 1},
    seed=20261122,
)


OUT = Path(__file__).with_name("sessions.csv")


def make(path: Path = OUT):
    sim = simulate(**SETTINGS)
    sim.save(path)
    return sim


if __name__ == "__main__":
    sim = make()
    print(f"wrote {len(sim.data)} rows for {sim.data['client'].nunique()} clients")
