"""A corpus of bad input that looks valid (issue 16), run through the command line.

Every case is a table (or flags) a user could plausibly give, with the exit code and the words
the message must contain: 2 for bad input, 1 for a fit that did not converge, 130 for Ctrl-C.
No case may end in "please report it" (the message for a bug) or a traceback.
"""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from causalrel import DataError, load_panel
from causalrel.cli import main
from causalrel.data import SessionPanel
from causalrel.families import FAMILIES
from causalrel.simulate import simulate

BUG = "please report it"


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    """80 clients x 8 sessions, complete: every case below spoils a copy of it."""
    return simulate(80, 8, seed=3).data


def cli(capsys, *argv) -> tuple[int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert BUG not in err and "Traceback" not in err, err
    return code, out, err


def write(df: pd.DataFrame, path, **kw):
    df.to_csv(path, index=False, **kw)
    return path


# ---------------------------------------------------------------------------------------------
# The corpus: name -> (spoil the table, extra flags, exit code, words in the message)
# ---------------------------------------------------------------------------------------------
def _codes(df, col="symptoms", code=-99, share=0.05, seed=1):
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(df), int(share * len(df)), replace=False)
    df.loc[rows, col] = code
    return df


def _two_codes(df):
    return _codes(_codes(df, "alliance", -99, 0.03, 1), "alliance", 999, 0.03, 2)


def _huge(df):
    df.loc[17, "alliance"] = 1e300
    return df


def _typo(df):
    df.loc[30, "symptoms"] = 400.0  # once: a typo, not a code
    return df


def _between_only(df):
    df["alliance"] = df.groupby("client")["alliance"].transform("mean")
    return df


def _almost_between_only(df):
    df = _between_only(df)
    df.loc[df.client == 5, "alliance"] += np.arange((df.client == 5).sum()) * 0.1
    return df


def _out_of_range(df):
    df["alliance"] = (df["alliance"] - df["alliance"].min()).round().clip(0, 4) + 1
    df.loc[3, "alliance"] = 9
    return df


def _therapist_change(df):
    df["therapist"] = "T" + (df["client"] % 5).astype(str)
    df.loc[(df.client == 3) & (df.session > 4), "therapist"] = "T9"
    return df


def _lag_as_covariate(df):
    df["alliance_lag1"] = df.groupby("client")["alliance"].shift()
    return df


def _symptoms_copy_alliance(df):
    df["symptoms"] = 10 - 2 * df["alliance"]  # a rescaled copy: a column-mapping slip
    return df


CASES = {
    "symptoms a rescaled copy of alliance": (
        _symptoms_copy_alliance,
        [],
        2,
        ["'alliance' and 'symptoms' carry the same within-client information", "-1.000000"],
    ),
    "code -99 in 5% of symptoms": (
        _codes,
        [],
        2,
        ["-99 in 32 rows (5.0%)", "missing-value code", "--na symptoms=-99"],
    ),
    "two codes -99 and 999": (_two_codes, [], 2, ["-99 in", "999 in", "--na alliance=-99,999"]),
    "absurd magnitude 1e300": (_huge, [], 2, ["1e+300", "line 19", "client 3 session 2"]),
    "single typo far outside": (_typo, [], 2, ["implausible value", "400", "line 32", "--range"]),
    "value outside a declared range": (
        _out_of_range,
        ["--range", "alliance=1:5"],
        2,
        ["outside its declared range [1, 5]", "9 (1x)", "--na alliance=9"],
    ),
    "bad --range syntax": (lambda d: d, ["--range", "alliance=5:1"], 2, ["COLUMN=LOW:HIGH"]),
    "range for a column that is not a rating": (
        lambda d: d,
        ["--range", "session=1:10"],
        2,
        ["not a rating or covariate column"],
    ),
    "--na for an unknown column": (lambda d: d, ["--na", "mood=-99"], 2, ["'mood' is not one"]),
    "alliance constant within every client": (
        _between_only,
        [],
        2,
        ["'alliance' does not vary within clients", "80 of 80 clients", "covariate"],
    ),
    "alliance varies within one client only": (
        _almost_between_only,
        [],
        2,
        ["does not vary within clients", "79 of 80 clients"],
    ),
    "client changes therapist": (
        _therapist_change,
        ["--therapist", "therapist"],
        2,
        ["1 client(s) change therapist", "client 3: therapist T3 until session 4", "T9"],
    ),
    "user lag column used as covariate": (
        _lag_as_covariate,
        ["--covariates", "alliance_lag1"],
        2,
        ["computes the lag of 'alliance' itself"],
    ),
}


@pytest.mark.parametrize("command", ["validate", "describe"])
@pytest.mark.parametrize("case", list(CASES))
def test_corpus(case, command, base, tmp_path, capsys):
    spoil, flags, code, words = CASES[case]
    f = write(spoil(base.copy()), tmp_path / "d.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow warnings
        got, out, err = cli(capsys, command, f, *flags)
    assert got == code, err
    for w in words:
        assert w in err, (w, err)


@pytest.mark.parametrize("family", ["fe", "riclpm"])
def test_fit_refuses_between_only_and_coded_data(family, base, tmp_path, capsys):
    for spoil, words in [(_between_only, "does not vary within"), (_codes, "--na symptoms=-99")]:
        f = write(spoil(base.copy()), tmp_path / "d.csv")
        got, _, err = cli(capsys, "fit", family, f)
        assert got == 2 and words in err, err


def test_declared_code_gives_the_estimate_of_blank_cells(base, tmp_path, capsys):
    """--na -99 turns the codes into missing ratings: the same fit as empty cells."""
    coded = _codes(base.copy())
    blank = coded.replace(-99, np.nan)
    f1, f2 = write(coded, tmp_path / "coded.csv"), write(blank, tmp_path / "blank.csv")
    got, out, err = cli(capsys, "validate", f1, "--na", "-99")
    assert got == 0 and "32 value(s) of 'symptoms' are missing-value codes (-99)" in out
    fits = []
    for argv in (["fit", "fe", f1, "--na", "-99,999", "--json"], ["fit", "fe", f2, "--json"]):
        got, out, err = cli(capsys, *argv)
        assert got == 0, err
        fits.append(json.loads(out)["effects"]["within"])
    assert fits[0] == fits[1]
    truth = simulate(80, 8, seed=3).truth.within["alliance->symptoms"]
    assert abs(fits[0]["alliance->symptoms"]["est"] - truth) < 0.15


def test_na_values_and_ranges_in_python(base):
    coded = _codes(base.copy())
    p = load_panel(coded, na_values={"symptoms": [-99]}, warn=False)
    assert p.data["symptoms"].isna().sum() == 32 and p.notes
    # a declared range replaces the search for codes (real scores far out stay allowed)
    p = load_panel(coded, ranges={"symptoms": (-100, 10)}, warn=False)
    assert (p.data["symptoms"] == -99).sum() == 32
    with pytest.raises(DataError, match="outside its declared range"):
        load_panel(coded, ranges={"symptoms": (-10, 10)})
    # "." as a text code, per column
    text = base.astype({"alliance": object})
    text.loc[0, "alliance"] = "."
    p = load_panel(text, na_values={"alliance": ["."]}, warn=False)
    assert np.isnan(p.data.loc[0, "alliance"])


def test_ordinary_scales_are_not_flagged():
    """Rating-scale data (integers 1-7, skewed symptom counts, binary covariates) pass."""
    sim = simulate(120, 8, seed=4)
    d = sim.data.copy()
    d["alliance"] = (d["alliance"] * 1.5 + 4).round().clip(1, 7)
    d["symptoms"] = np.round(np.exp(d["symptoms"] + 1.5))  # long right tail, many repeats
    d["female"] = (d["client"] % 3 == 0).astype(int)
    p = load_panel(d, covariates=["female"], warn=False)
    assert p.n_rows == len(d)


@pytest.mark.slow  # imports DoWhy
def test_causal_layer_refuses_between_only_cause(base):
    """Even given a panel that skipped validation, no 1e-16 interval is printed."""
    from causalrel.causal import causal_analysis

    panel = SessionPanel(data=_between_only(base.copy()))
    with pytest.raises(DataError, match="does not vary within clients"):
        causal_analysis(panel, fast=True)


# ---------------------------------------------------------------------------------------------
# Ids and column names
# ---------------------------------------------------------------------------------------------
def test_ids_with_leading_zeros_stay_apart(base, tmp_path, capsys):
    d = base.astype({"client": str})
    d.loc[d.client == "7", "client"] = "07"
    d.loc[d.client == "8", "client"] = "7"
    f = write(d, tmp_path / "d.csv")
    got, out, err = cli(capsys, "validate", f)
    assert got == 0, err
    assert "80 clients" in out and "read as text" in out and "'07'" in out
    assert "differ only by leading zeros ('07' and '7')" in err
    assert load_panel(f, warn=False).data["client"].nunique() == 80
    plain = load_panel(write(base, tmp_path / "p.csv"), warn=False)
    assert pd.api.types.is_integer_dtype(plain.data["client"])


def test_user_lag_column_never_crashes(base, tmp_path, capsys):
    """A column named like an internal one (lags computed beforehand) is simply not used."""
    f1 = write(_lag_as_covariate(base.copy()), tmp_path / "lag.csv")
    f2 = write(base, tmp_path / "plain.csv")
    got, out, err = cli(capsys, "describe", f1)
    assert got == 0, err
    fits = []
    for f in (f1, f2):
        got, out, err = cli(capsys, "fit", "fe", f, "--json")
        assert got == 0, err
        fits.append(json.loads(out)["effects"])
    assert fits[0] == fits[1]


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------
def test_excel_and_compressed_csv(base, tmp_path, capsys):
    base.to_excel(tmp_path / "d.xlsx", index=False)
    base.to_csv(tmp_path / "d.csv.gz", index=False)
    base.to_csv(tmp_path / "d.tsv.gz", index=False, sep="\t")
    for name in ("d.xlsx", "d.csv.gz", "d.tsv.gz"):
        got, out, err = cli(capsys, "validate", tmp_path / name)
        assert got == 0 and "80 clients, 640 client-sessions" in out, (name, err)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0 not really")
    got, _, err = cli(capsys, "validate", tmp_path / "old.xls")
    assert got == 2 and "save it as .xlsx or as CSV" in err


def test_latin1_file_gets_a_hint_and_reads_with_encoding(base, tmp_path, capsys):
    d = base.astype({"client": str})
    d["client"] = "Zoë" + d["client"]
    f = write(d, tmp_path / "d.csv", encoding="latin-1")
    got, _, err = cli(capsys, "validate", f)
    assert got == 2 and "not UTF-8" in err and "--encoding latin-1" in err
    got, out, err = cli(capsys, "validate", f, "--encoding", "latin-1")
    assert got == 0 and "80 clients" in out, err
    got, _, err = cli(capsys, "validate", f, "--encoding", "klingon")
    assert got == 2 and "Unknown encoding" in err


# ---------------------------------------------------------------------------------------------
# Every "please report it" path a user reached with bad input or a bad flag
# ---------------------------------------------------------------------------------------------
def test_describe_json_with_one_client(base, tmp_path, capsys):
    f = write(base[base.client == 1], tmp_path / "one.csv")
    got, out, err = cli(capsys, "describe", f, "--json")
    assert got == 0, err
    d = json.loads(out)
    assert d["n_clients"] == 1 and d["correlations"]["between"] is None
    assert "one client only" in err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--missing", "1.5"], "mcar (--missing) is a probability in [0, 1); got 1.5"),
        (["--dropout", "1"], "dropout (--dropout) is a probability"),
        (["--clients", "0"], "number of clients must be at least 1 (--clients); got 0"),
        (["--sessions", "0"], "Sessions per client must be >= 1"),
        (["--therapists", "0"], "number of therapists must be at least 1"),
    ],
)
def test_simulate_bad_flags(flags, words, capsys):
    got, out, err = cli(capsys, "simulate", *flags)
    assert got == 2 and words in err and out == ""


def test_out_that_cannot_be_written(base, tmp_path, capsys):
    got, _, err = cli(capsys, "simulate", "--clients", "5", "--out", tmp_path / "no/dir/x.csv")
    assert got == 2 and "does not exist; create it first" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    f = write(base, tmp_path / "d.csv")
    got, _, err = cli(capsys, "analyze", f, "--fast", "--out", blocker / "report")
    assert got == 2 and "cannot use" in err and str(blocker) in err


def test_debug_after_the_command(tmp_path, capsys):
    with pytest.raises(DataError, match="no such file"):
        main(["validate", str(tmp_path / "missing.csv"), "--debug"])
    got, _, err = cli(capsys, "validate", tmp_path / "missing.csv")
    assert got == 2 and "no such file" in err


# ---------------------------------------------------------------------------------------------
# Honest states
# ---------------------------------------------------------------------------------------------
# Drawn by the generated-tables test below (session 6): 7 clients, 13 rows, 4 waves. The
# trust-region subproblem never settled on it (scipy issue #12513) and ``fit clpm`` hung.
STALLING_TABLE = """client,session,alliance,symptoms
c0,3,-1.1665,0.0012
c1,1,0.5860,0.2987
c1,4,-1.8006,-0.2741
c2,4,0.1294,-0.8906
c3,2,-0.8821,-0.4547
c3,3,-1.6959,-0.9916
c3,4,2.2478,0.0601
c4,1,-0.9868,1.3402
c4,3,0.3208,-0.4922
c5,1,-1.9924,-0.6205
c5,3,1.2423,0.4898
c5,4,0.0438,0.3569
c6,2,-0.2502,0.1054
"""


@pytest.mark.parametrize("model", ["clpm", "riclpm", "dpml"])
def test_a_stalling_optimiser_ends_as_not_converged(model, tmp_path, capsys):
    """The table that hung ``fit clpm``: every SEM now ends (within a minute, or the alarm
    fails the test) and says it did not converge."""
    f = tmp_path / "stall.csv"
    f.write_text(STALLING_TABLE)

    def too_long(*_):
        raise TimeoutError(f"fit {model} still running after 60 s")

    old = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    try:
        got, _, err = cli(capsys, "fit", model, f)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert got == 1
    assert f"{model} did not converge" in err and "do not use its numbers" in err


def test_improper_sem_is_not_converged(tmp_path, capsys):
    """No stable traits: RI-CLPM's random-intercept variance goes negative (a Heywood case)."""
    f = write(simulate(60, 5, trait_sd=(0.0, 0.0), seed=0).data, tmp_path / "d.csv")
    got, out, err = cli(capsys, "fit", "riclpm", f, "--json")
    assert got == 1
    diag = json.loads(out)["diagnostics"]
    assert diag["converged"] is False and diag["improper"] is True
    assert diag["optimizer_converged"] is True
    assert "riclpm did not converge (improper solution: negative variance" in err
    assert "Try constrained=True" in err


def test_keyboard_interrupt_in_process(base, tmp_path, capsys, monkeypatch):
    import causalrel.cli as cli_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "load_panel", interrupted)
    got, out, err = cli(capsys, "fit", "fe", write(base, tmp_path / "d.csv"))
    assert got == 130 and "interrupted" in err and out == ""


SWALLOWING = textwrap.dedent(
    """
    import sys, time
    import causalrel.cli as cli

    def sampler_like(*args, **kwargs):  # PyMC and nutpie catch Ctrl-C and return partial draws
        print("ready", flush=True)
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            pass
        print("carried on with partial draws", flush=True)
        raise SystemExit(0)

    cli.load_panel = sampler_like
    sys.argv = ["causalrel", "validate", "whatever.csv"]
    sys.exit(cli.main())
    """
)


def test_ctrl_c_ends_the_command_at_once():
    """A real SIGINT stops the process with 130, even when the running code swallows it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SWALLOWING],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert "carried on" not in out


# ---------------------------------------------------------------------------------------------
# Feedback in normal use
# ---------------------------------------------------------------------------------------------
def test_version(capsys):
    from causalrel import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"causalrel {__version__}"


def test_fit_help_lists_families_and_only_installed_samplers(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    for name in FAMILIES:
        assert re.search(rf"^  {name}\s+\w.{{20,}}$", text, re.M), name
    installed = [s for s in ("nutpie", "numpyro") if importlib.util.find_spec(s)] + ["pymc"]
    assert "{" + ",".join(installed) + "}" in text.replace("\n", "").replace(" ", "")
    missing = [s for s in ("nutpie", "numpyro") if s not in installed]
    for s in missing:
        with pytest.raises(SystemExit) as exc:
            main(["fit", "mlm", "x.csv", "--sampler", s])
        assert exc.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_analyze_log_is_line_by_line_off_a_terminal(tmp_path, capsys):
    """stderr is not a terminal under pytest: no bar fragments, one message per line."""
    f = write(simulate(40, 6, seed=5).data, tmp_path / "d.csv")
    got, out, err = cli(capsys, "analyze", f, "--fast", "--out", tmp_path / "rep")
    assert got == 0, err
    assert "\r" not in err and "it/s" not in err and "step/s" not in err
    lines = err.splitlines()
    assert "fitting riclpm ..." in lines and "mlm: skipped (--fast)" in lines
    assert any(line.startswith("riclpm: alliance->symptoms") for line in lines)


# ---------------------------------------------------------------------------------------------
# Generated tables: bad or good, the CLI answers with a message, never with a bug report
# ---------------------------------------------------------------------------------------------
cells = st.one_of(
    st.none(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(["", "NA", "-99", "07", "7", "x", "3,5", "1e300", " 2 "]),
)


@st.composite
def tables(draw):
    """Tables of every kind: messy cells anywhere, or a well-formed panel with odd values."""
    if draw(st.booleans()):  # messy
        n = draw(st.integers(1, 24))
        ids = st.sampled_from(["1", "2", "03", "3", "a"])
        clients = draw(st.lists(ids, min_size=n, max_size=n))
        sessions = draw(st.lists(st.sampled_from([1, 2, 3, 4, 0, "2"]), min_size=n, max_size=n))
        cols = {"client": clients, "session": sessions}
        for name in ("alliance", "symptoms", "alliance_lag1"):
            cols[name] = draw(st.lists(cells, min_size=n, max_size=n))
        return pd.DataFrame(cols)
    else:  # a panel grid, some rows dropped, numbers with the odd gap, code or magnitude
        n_clients, n_sessions = draw(st.integers(1, 30)), draw(st.integers(1, 6))
        pattern = draw(st.sampled_from(["{}", "0{}", "c{}"]))
        grid = [(pattern.format(c), s) for c in range(n_clients) for s in range(1, n_sessions + 1)]
        keep = draw(st.lists(st.booleans(), min_size=len(grid), max_size=len(grid)))
        grid = [g for g, k in zip(grid, keep, strict=True) if k or len(grid) > 40] or grid[:1]
        cols = {"client": [g[0] for g in grid], "session": [g[1] for g in grid]}
        n = len(grid)
        for name in ("alliance", "symptoms", "alliance_lag1"):
            seed = draw(st.integers(0, 2**16))
            col = list(np.random.default_rng(seed).normal(size=n))
            odd = draw(
                st.sampled_from([None] * 6 + [np.nan, -99.0, 1e300, 3.0, "x", "all the same"])
            )
            if odd == "all the same":
                col = [1.0] * n
            elif odd is not None:
                col[draw(st.integers(0, n - 1))] = odd
            cols[name] = col
        return pd.DataFrame(cols)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same 25 tables on every machine, with or without CI set
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    table=tables(),
    command=st.sampled_from(["validate", "describe", "fe", "dpd", "riclpm", "clpm", "dpml"]),
)
def test_generated_tables_never_reach_a_bug_report(table, command, tmp_path, capsys):
    f = write(table, tmp_path / "g.csv")
    argv = ["fit", command, f] if command in FAMILIES else [command, f]
    if command == "describe":
        argv.append("--json")
    got, out, err = cli(capsys, *argv)
    event(f"{command}: exit {got}")
    assert got in (0, 1, 2)
    if got == 2:
        assert err.startswith("causalrel: error:") or "error:" in err


def test_ctrl_c_in_analyze_stops_and_leaves_no_report(base, tmp_path, capsys, monkeypatch):
    """Nothing is fitted after the interrupt, and no old report stays behind as if done."""
    import causalrel.report.run as report

    out = tmp_path / "rep"
    out.mkdir()
    (out / "summary.json").write_text('{"ok": true}')
    (out / "report.html").write_text("old")
    fitted = []

    def fit(name, panel, opts):
        fitted.append(name)
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_fit", fit)
    got, _, err = cli(capsys, "analyze", write(base, tmp_path / "d.csv"), "--out", out)
    assert got == 130 and "interrupted" in err
    assert fitted == ["clpm"]
    assert not (out / "summary.json").exists() and not (out / "report.html").exists()


def test_fit_shows_no_sampler_bars_in_a_log(base, tmp_path, capsys, monkeypatch):
    """stderr is not a terminal here: Bayesian fits get progress=False, others nothing."""
    import causalrel.families as families

    seen = {}

    def fit_model(name, panel, **options):
        seen[name] = options
        raise DataError("stop here")

    monkeypatch.setattr(families, "fit_model", fit_model)
    f = write(base, tmp_path / "d.csv")
    for name in ("mlm", "fe"):
        got, _, err = cli(capsys, "fit", name, f)
        assert got == 2 and "stop here" in err
    assert seen == {"mlm": {"progress": False}, "fe": {}}


@pytest.mark.parametrize("model", ["clpm", "riclpm", "dpml"])
def test_fewer_clients_than_the_sem_needs(model, tmp_path, capsys):
    """8 clients x 5 sessions: 10 observed variables, a singular covariance: exit 2, advice."""
    rng = np.random.default_rng(0)
    rows = [(c, s, rng.normal(), rng.normal()) for c in range(8) for s in range(1, 6)]
    df = pd.DataFrame(rows, columns=["client", "session", "alliance", "symptoms"])
    code, _, err = cli(capsys, "fit", model, write(df, tmp_path / "few.csv"))
    assert code == 2
    assert "8 clients for 10 observed variables" in err and "--waves" in err


@pytest.mark.parametrize("family,coefficients", [("dowhy", 4), ("fe", 2)])
def test_fewer_clients_than_clustered_errors_need(family, coefficients, tmp_path, capsys):
    """2 clients: SEs clustered by client would be singular, so no number (exit 2, advice)."""
    f = write(simulate(2, 6, seed=1).data, tmp_path / "two.csv")
    code, out, err = cli(capsys, "fit", family, f)
    assert code == 2 and "est" not in out
    assert f"2 clients for {coefficients} coefficients" in err and "more clients" in err
    assert "kurtosistest" not in err  # DoWhy's unread OLS summary stays quiet


@pytest.mark.parametrize("family", ["dowhy", "fe"])
def test_few_clients_get_a_note_on_clustered_intervals(family, tmp_path, capsys):
    """8 clients: the estimates stand, with a note that clustered intervals are too narrow."""
    f = write(simulate(8, 3, seed=1, mcar=0, skip=0).data, tmp_path / "eight.csv")
    code, out, _ = cli(capsys, "fit", family, f)
    assert code == 0
    assert "Only 8 clients" in out and "Cameron & Miller 2015" in out
