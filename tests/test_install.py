"""The locked install: the lock covers pyproject's ranges, CI and the README install with it,
and a Bayesian fit's process prints no BLAS warning the user cannot act on."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def test_lock_pins_every_requirement_inside_its_range():
    pins = _pins()
    assert len(pins) > 100  # transitive dependencies too, not only the direct ones
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in the lock: run `bash .ci/lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"lock pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}"
        )


def test_every_requirement_has_a_tested_upper_bound():
    for req in _requirements():
        assert any(s.operator in ("<", "<=", "==") for s in req.specifier), (
            f"{req} has no upper bound: set it to the newest release tested"
        )


def test_ci_and_readme_install_from_the_lock():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*(python3\.11 -m venv [^\n]*)$", readme, flags=re.M)[:2]
    assert len(commands) == 2
    for cmd in commands:
        assert "pip install -e " in cmd and "-c requirements-lock.txt" in cmd
    assert "-c requirements-lock.txt" in ci and "CAUSALREL_UNLOCKED" in ci
    test_cmd = commands[1].rsplit("&& ", 1)[1]  # README command 2's test runner
    assert test_cmd in ci


def test_no_blas_warning_when_pytensor_compiles():
    """A fresh process: settle_blas, then a compiled matrix product, with warnings as errors."""
    code = (
        "import warnings; warnings.simplefilter('error', UserWarning)\n"
        "from causalrel.bayes.blas import settle_blas\n"
        "flags = settle_blas()\n"
        "import numpy as np, pytensor, pytensor.tensor as pt\n"
        "a = pt.matrix('a'); f = pytensor.function([a], pt.dot(a, a.T))\n"
        "assert np.allclose(f(np.eye(3)), np.eye(3))\n"
        "print('ok', repr(flags))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "BLAS" not in out.stderr
