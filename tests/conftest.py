"""Shared fixtures: small simulated panels with known truth, and paths."""

from pathlib import Path

import pytest

from causalrel.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
#: The R references: one folder per reference tool, holding its script(s) and their outputs
#: (tests/reference/README.md).
REFERENCE = ROOT / "tests" / "reference"
FIXTURES = {tool: REFERENCE / tool for tool in ("lavaan", "plm", "lme4", "brms")}
EXAMPLE = ROOT / "data" / "sessions.csv"


@pytest.fixture(scope="session")
def small_sim():
    """200 clients x 10 sessions, no missingness: quick and exact enough for shape tests."""
    return simulate(200, 10, seed=11)


@pytest.fixture(scope="session")
def example_path():
    return EXAMPLE
