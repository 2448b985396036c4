"""Mutation check: does the test suite catch plausible regressions?

Each mutant is one small edit to the package (a dropped CLI option, an off-by-one lag, a lag
across a missed session, listwise deletion instead of FIML, a wrong degrees of freedom, a
flipped refuter verdict, the wrong interval level, a wrong exclusion count, ...). For every
mutant the script copies the package, the tests, the data and ``pyproject.toml`` to a temporary
folder, applies the edit there (never to the working tree), and runs the fast lane of the test
files that guard that code (``pytest -m "not slow" -x``). A mutant is *killed* when those tests
fail; every mutant must be killed. The unmutated copy is run first on the union of the target
files and must pass, so a kill means the edit was detected, not that the tests were broken.

Run from the repository root::

    OPENBLAS_NUM_THREADS=1 python benchmarks/mutation_check.py [--only NAME ...]

Output (one line per mutant, then a summary) goes to standard output and to
``benchmarks/results/mutation_check.txt``. Exit status 1 if any mutant survives.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mutation_check.txt"
COPY = ("causalrel", "tests", "data", "pyproject.toml")


@dataclass
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


CLI = ("tests/test_cli_options.py",)
SEM = ("tests/test_sem_parity.py",)
PANEL = ("tests/test_panel_reference.py",)
CAUSAL = ("tests/test_checks_fail.py",)

MUTANTS = [
    # -- the CLI's wiring ------------------------------------------------------------------------
    Mutant(
        "cli: _fit_options drops every option",
        "causalrel/cli.py",
        "    opts: dict[str, Any] = {}\n    for name in FIT_FLAGS:",
        "    return {}\n    opts: dict[str, Any] = {}\n    for name in FIT_FLAGS:",
        CLI,
    ),
    Mutant(
        "cli: --waves off by one",
        "causalrel/cli.py",
        'list(range(1, int(opts["waves"]) + 1))',
        'list(range(1, int(opts["waves"])))',
        CLI,
    ),
    Mutant(
        "cli: --set values not parsed as JSON",
        "causalrel/cli.py",
        'out[key.strip().replace("-", "_")] = json.loads(raw)',
        'out[key.strip().replace("-", "_")] = raw',
        CLI,
    ),
    Mutant(
        "cli: non-converged fit exits 0",
        "causalrel/cli.py",
        "return 0 if res.converged else EXIT_FAILED",
        "return 0",
        CLI,
    ),
    Mutant(
        "cli: --covariates not passed to the model",
        "causalrel/cli.py",
        'if panel.covariates and "covariates" not in opts:',
        "if False:",
        CLI,
    ),
    # -- the data layer --------------------------------------------------------------------------
    Mutant(
        "data: lag off by one (value two sessions back)",
        "causalrel/design.py",
        "    prev[session] = prev[session] + lag\n",
        "    prev[session] = prev[session] + lag + 1\n",
        ("tests/test_design.py", "tests/test_data.py", "tests/test_data_properties.py"),
    ),
    Mutant(
        "data: lag across a missed session (previous row, not previous session)",
        "causalrel/design.py",
        "    for c in columns:\n        base[names[c]] = found[names[c]].to_numpy()\n",
        "    for c in columns:\n        base[names[c]] = data.groupby(client)[c].shift(lag).to_numpy()\n",
        ("tests/test_design.py", "tests/test_data.py", "tests/test_data_properties.py"),
    ),
    Mutant(
        "data: a missing rating at t-1 not counted as rows.previous_session_missing",
        "causalrel/design.py",
        '"rows.previous_session_missing": int((~first & ~lag_ok).sum()),',
        '"rows.previous_session_missing": int((~first & ~present).sum()),',
        ("tests/test_design.py",),
    ),
    Mutant(
        "data: duplicate client-sessions silently dropped",
        "causalrel/data.py",
        "    _check_duplicates(data, client, session, rowname)\n",
        "    data = data.drop_duplicates([client, session])\n",
        ("tests/test_data.py",),
    ),
    # -- the SEM engine --------------------------------------------------------------------------
    Mutant(
        "sem: listwise deletion instead of FIML",
        "causalrel/sem/estimate.py",
        "pats = Patterns.from_array(Y)",
        "pats = Patterns.from_array(Y[~np.isnan(Y).any(axis=1)])",
        SEM,
    ),
    Mutant(
        "sem: model df off by one",
        "causalrel/sem/fitmeasures.py",
        "df = G * n_moments - npar",
        "df = G * n_moments - npar + 1",
        SEM,
    ),
    Mutant(
        "sem: observed and expected information swapped",
        "causalrel/sem/estimate.py",
        'expected=(information == "expected")',
        'expected=(information != "expected")',
        SEM,
    ),
    Mutant(
        "sem: constrained=True ignored",
        "causalrel/sem/syntax.py",
        'lab = f"{LAG_LABELS[(cause, out)]}*" if constrained else ""',
        'lab = f"{LAG_LABELS[(cause, out)]}*" if False else ""',
        SEM,
    ),
    Mutant(
        "sem: chi-bar-square weights of the 1 and 3 df components swapped",
        "causalrel/sem/compare.py",
        "weights[1] * stats.chi2.sf(chisq, 1) + weights[3] * stats.chi2.sf(chisq, 3)",
        "weights[3] * stats.chi2.sf(chisq, 1) + weights[1] * stats.chi2.sf(chisq, 3)",
        ("tests/test_checks_fail.py::test_chibar_square_p_value_is_the_mixture_of_its_weights",),
    ),
    Mutant(
        "sem: exclusion count of clients without data in the waves",
        "causalrel/sem/models.py",
        '"clients.no_usable_rows": int(empty.sum()),',
        '"clients.no_usable_rows": int(empty.sum()) + 1,',
        ("tests/test_sem_models.py",),
    ),
    Mutant(
        "sem: non-convergence not warned",
        "causalrel/sem/estimate.py",
        "    if not fit.converged:\n        warnings.warn(",
        "    if False:\n        warnings.warn(",
        CLI,
    ),
    Mutant(
        "sem: trust-region subproblem without its cap (scipy #12513: fit clpm hangs)",
        "causalrel/sem/estimate.py",
        "            if calls > self.MAX_INNER:",
        "            if False:",
        ("tests/test_bad_input.py::test_a_stalling_optimiser_ends_as_not_converged",),
    ),
    # -- results ---------------------------------------------------------------------------------
    Mutant(
        "results: Wald interval at the wrong level (one-sided quantile)",
        "causalrel/results.py",
        "z = stats.norm.ppf(0.5 + level / 2)",
        "z = stats.norm.ppf(level)",
        (*SEM, *CLI),
    ),
    Mutant(
        "results: posterior interval at a fixed 95% whatever the level",
        "causalrel/results.py",
        "q = np.quantile(d, [0.5 - level / 2, 0.5 + level / 2])",
        "q = np.quantile(d, [0.025, 0.975])",
        ("tests/test_results_contract.py",),
    ),
    # -- panel GMM and fixed effects -------------------------------------------------------------
    Mutant(
        "dpd: AR(2) test computed at lag 1",
        "causalrel/panel/dynamic.py",
        "ar_test(e, Xa, Za, influence, cov, d.neighbour(order), starts)",
        "ar_test(e, Xa, Za, influence, cov, d.neighbour(1), starts)",
        PANEL,
    ),
    Mutant(
        "dpd: Hansen test df off by one",
        "causalrel/panel/hypotheses.py",
        '        return TestResult(0.0, float("nan"), df)\n    z = Z.T @ e\n',
        '        return TestResult(0.0, float("nan"), df)\n    df += 1\n    z = Z.T @ e\n',
        PANEL,
    ),
    Mutant(
        "dpd: method='one-step' runs two steps",
        "causalrel/panel/dynamic.py",
        'iters = 1 if method == "one-step" else 2',
        "iters = 2",
        PANEL,
    ),
    Mutant(
        "fe: session effects dropped",
        "causalrel/panel/fixed_effects.py",
        'time_effects=self.time == "common",',
        "time_effects=False,",
        (*PANEL, *CLI),
    ),
    # -- the causal layer ------------------------------------------------------------------------
    Mutant(
        "causal: placebo verdict flipped",
        "causalrel/causal/refute.py",
        'passed=bool(sig["is_statistically_significant"]),',
        'passed=not bool(sig["is_statistically_significant"]),',
        CAUSAL,
    ),
    Mutant(
        "causal: subset verdict flipped",
        "causalrel/causal/refute.py",
        "passed=flipped <= SUBSET_FLIP_MAX,",
        "passed=flipped >= SUBSET_FLIP_MAX,",
        CAUSAL,
    ),
    Mutant(
        "causal: subset refuter counts the subsets with the same sign",
        "causalrel/causal/refute.py",
        "np.mean(np.sign(sub) != np.sign(d.effect.est))",
        "np.mean(np.sign(sub) == np.sign(d.effect.est))",
        CAUSAL,
    ),
    Mutant(
        "causal: placebo permutes across clients",
        "causalrel/causal/frame.py",
        "shuffled = np.lexsort((rng.random(len(groups)), groups))",
        "shuffled = rng.permutation(len(groups))",
        ("tests/test_causal.py::test_permute_within_never_crosses_clients",),
    ),
    # -- describe --------------------------------------------------------------------------------
    Mutant(
        "decompose: between share is the within share",
        "causalrel/decompose.py",
        '"between_share": tau2 / (tau2 + sigma2)',
        '"between_share": sigma2 / (tau2 + sigma2)',
        ("tests/test_decompose.py",),
    ),
]


def _copy_tree(dest: Path) -> None:
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)


def _pytest(cwd: Path, tests: tuple[str, ...]) -> tuple[int, float, str]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider"]
    t0 = time.perf_counter()
    r = subprocess.run([*cmd, *tests], cwd=cwd, env=env, capture_output=True, text=True)
    tail = [ln for ln in r.stdout.strip().splitlines() if ln.strip()][-1:] or [""]
    return r.returncode, time.perf_counter() - t0, tail[0]


def _mutate(dest: Path, m: Mutant) -> None:
    path = dest / m.file
    text = path.read_text()
    n = text.count(m.old)
    if n != 1:
        raise SystemExit(f"mutant {m.name!r}: the text to replace occurs {n} times in {m.file}")
    path.write_text(text.replace(m.old, m.new))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="run only mutants whose name contains one of these")
    args = ap.parse_args()
    mutants = [m for m in MUTANTS if not args.only or any(s in m.name for s in args.only)]
    lines = [f"mutation check: {len(mutants)} mutants, fast lane of each mutant's target tests"]

    def out(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="causalrel-mutants-") as tmp:
        base = Path(tmp) / "unmutated"
        base.mkdir()
        _copy_tree(base)
        targets = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
        code, secs, tail = _pytest(base, targets)
        out(f"unmutated copy: exit {code} in {secs:.0f} s ({tail})")
        if code != 0:
            out("the unmutated tests fail: fix them before checking mutants")
            return 1
        survived = []
        for i, m in enumerate(mutants, 1):
            work = Path(tmp) / f"m{i:02d}"
            work.mkdir()
            _copy_tree(work)
            _mutate(work, m)
            code, secs, tail = _pytest(work, m.tests)
            # 1: a test failed; 2: collection failed (e.g. the mutant broke an import)
            killed = code in (1, 2)
            if not killed:
                survived.append(m.name)
            verdict = "killed  " if killed else "SURVIVED"
            out(f"{verdict} {m.name} [{', '.join(m.tests)}] exit {code}, {secs:.0f} s: {tail}")
            shutil.rmtree(work)
    out(
        f"{len(mutants) - len(survived)} of {len(mutants)} mutants killed"
        + (f"; survived: {', '.join(survived)}" if survived else "")
        + f"; total {time.perf_counter() - start:.0f} s"
    )
    if not args.only:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("\n".join(lines) + "\n")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
