"""The ``causalrel`` command line: wires the package together, with no logic of its own.

Bad input ends with a one-paragraph message and a non-zero exit code, never a traceback
(``--debug`` shows one). Warnings go to standard error as ``warning: ...`` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .data import DataError, SessionPanel, load_panel, parse_na, parse_ranges
from .families import FAMILIES

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="long-format data: CSV, TSV, Parquet or SPSS .sav")
    g = p.add_argument_group("column names")
    g.add_argument("--client", default="client", help="client id column (default: client)")
    g.add_argument("--session", default="session", help="session number column (default: session)")
    g.add_argument("--x", default="alliance", help="alliance column (default: alliance)")
    g.add_argument("--y", default="symptoms", help="symptom column (default: symptoms)")
    g.add_argument("--therapist", default=None, help="therapist id column (optional)")
    g.add_argument(
        "--covariates", default="", help="comma-separated further numeric columns (optional)"
    )
    g = p.add_argument_group("values")
    g.add_argument(
        "--na",
        action="append",
        default=[],
        metavar="CODES",
        help="missing-value codes, e.g. --na -99,999 (every rating column) or --na symptoms=-99"
        " (repeatable)",
    )
    g.add_argument(
        "--range",
        action="append",
        default=[],
        metavar="COL=LOW:HIGH",
        help="valid range of a column, e.g. --range alliance=1:7; a value outside is an error"
        " (repeatable)",
    )
    g.add_argument("--encoding", default=None, help="encoding of a text file (default utf-8)")


def _load(args: argparse.Namespace) -> SessionPanel:
    covs = [c.strip() for c in args.covariates.split(",") if c.strip()]
    return load_panel(
        args.file,
        client=args.client,
        session=args.session,
        x=args.x,
        y=args.y,
        therapist=args.therapist,
        covariates=covs,
        na_values=parse_na(args.na, [args.x, args.y, *covs]) or None,
        ranges=parse_ranges(args.range),
        encoding=args.encoding,
    )


def _print_json(obj: Any) -> None:
    from .results import _jsonable

    print(json.dumps(_jsonable(obj), indent=2, allow_nan=False, default=_json_default))


def _json_default(o: Any) -> Any:
    from .results import _jsonable

    out = _jsonable(o)
    if out is o:
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")
    return out


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    panel = _load(args)
    per = panel.sessions_per_client
    print(
        f"{panel.source}: OK. {panel.n_clients} clients, {panel.n_rows} client-sessions "
        f"(sessions {int(panel.data[panel.session].min())}-{int(panel.data[panel.session].max())},"
        f" median {per.median():g} per client); missing: "
        + ", ".join(f"{v} {panel.data[v].isna().mean():.1%}" for v in panel.variables)
        + (f"; {len(panel.warnings)} warning(s) above." if panel.warnings else ".")
    )
    for note in panel.notes:
        print(f"note: {note}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from .decompose import describe

    panel = _load(args)
    d = describe(panel)
    if args.json:
        _print_json(d)
        return 0
    print(f"{panel.source}: {d['n_clients']} clients, {d['n_rows']} client-sessions")
    s = d["sessions"]
    print(f"sessions {s['min']}-{s['max']}, median {s['median_per_client']:g} per client")
    print("\nvariable      mean      sd   missing  between share (RI model / naive)")
    for v, e in d["variables"].items():
        therapist = (
            f"   therapist share {e['therapist_share']:.2f}" if "therapist_share" in e else ""
        )
        print(
            f"{v:<12}{e['mean']:>6.2f}{e['sd']:>8.2f}{e['missing_share']:>9.1%}"
            f"{e['between_share']:>12.2f} / {e['between_share_naive']:.2f}{therapist}"
        )
    c = d["correlations"]
    print(
        f"\ncorrelation of {panel.x} and {panel.y}: pooled {c['pooled']:+.2f}, "
        f"between clients {c['between']:+.2f}, within clients {c['within']:+.2f}"
    )
    lag = d["lagged_within_correlations"]
    print("lag-1 within-client correlations: " + ", ".join(f"{k} {v:+.2f}" for k, v in lag.items()))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate

    lo, _, hi = args.sessions.partition("-")
    sessions = (int(lo), int(hi or lo))
    trend = _floats(args.trend, 2, "--trend") if args.trend else None
    trend_sd = _floats(args.trend_sd, 2, "--trend-sd") if args.trend_sd else None
    time = args.time
    if time is None and (trend is not None or trend_sd is not None):
        time = "client" if trend_sd is not None and any(trend_sd) else "common"
        if trend is None or any(trend) or time == "client":
            print(
                f"causalrel: --trend/--trend-sd without --time is deprecated; add --time {time}",
                file=sys.stderr,
            )
        else:
            time = "none"  # --trend 0,0: no trend
            trend = None
    sim = simulate(
        args.clients,
        sessions,
        ar=_floats(args.ar, 2, "--ar"),
        cross=_floats(args.cross, 2, "--cross"),
        trait_corr=args.trait_corr,
        n_therapists=args.therapists,
        time=time,
        trend=trend,
        trend_sd=trend_sd,
        mcar=args.missing,
        dropout=args.dropout,
        seed=args.seed,
    )
    if args.out:
        _check_writable(Path(args.out))
        data_path, truth_path = sim.save(args.out)
        print(f"wrote {data_path} ({len(sim.data)} rows) and {truth_path}", file=sys.stderr)
    else:
        sim.data.to_csv(sys.stdout, index=False)
    return 0


def _check_writable(path: Path) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise DataError(f"--out {path}: the folder {folder} does not exist; create it first.")
    if not os.access(folder, os.W_OK):
        raise DataError(f"--out {path}: the folder {folder} is not writable; choose another.")


def _floats(text: str, n: int, flag: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != n:
        raise DataError(f"{flag} takes {n} comma-separated numbers, got {text!r}.")
    return vals


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for name in FIT_FLAGS:
        value = getattr(args, name, None)
        if value is not None and value is not False:
            opts[name] = value
    if opts.get("waves") is not None:
        opts["waves"] = list(range(1, int(opts["waves"]) + 1))
    opts.update(_key_values(args.set, "--set"))
    return opts


def _key_values(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` items (JSON values, else text) as a dict; dashes in keys become ``_``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise DataError(f"{flag} takes KEY=VALUE, got {item!r}.")
        try:
            out[key.strip().replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = raw
    return out


def cmd_fit(args: argparse.Namespace) -> int:
    from .families import accepts, fit_model

    panel = _load(args)
    opts = _fit_options(args)
    if panel.covariates and "covariates" not in opts:
        # --covariates names model inputs, not only columns to keep: a family without a
        # covariates option says so (exit 2) instead of silently ignoring them
        opts["covariates"] = list(panel.covariates)
    if not sys.stderr.isatty() and accepts(args.model, "progress"):
        opts.setdefault("progress", False)  # bars in a log file are noise
    res = fit_model(args.model, panel, **opts)
    if args.json:
        _print_json(res.to_dict())
    else:
        print(res.summary())
    if not res.converged:
        reason = res.diagnostics.get("message") or "see the warnings above"
        print(
            f"causalrel: {args.model} did not converge ({reason}); do not use its numbers.",
            file=sys.stderr,
        )
    return 0 if res.converged else EXIT_FAILED


def cmd_analyze(args: argparse.Namespace) -> int:
    from .report import analyze
    from .simulate import truth_beside

    panel = _load(args)
    truth = truth_beside(args.file)
    if truth:
        print(
            f"simulated data: marking the truth from {Path(args.file).with_suffix('.truth.json')}",
            file=sys.stderr,
        )
    if args.rci is not None and not args.rci > 0:
        raise DataError(f"--rci must be a positive number of {panel.y} points; got {args.rci:g}.")
    rci = {panel.y: args.rci} if args.rci else None
    outcome = analyze(
        panel,
        out=Path(args.out),
        fast=args.fast,
        seed=args.seed,
        truth=truth,
        rci=rci,
        estimator=args.estimator,
        cluster=args.cluster,
    )
    return 0 if outcome.ok else EXIT_FAILED


# --- causalrel power (issue 18) ---------------------------------------------------------------
def _power_parser(sub: Any) -> None:
    p = sub.add_parser(
        "power",
        help="Monte Carlo power and design analysis: how many clients and sessions?",
        description=(
            "Simulate REPS data sets per design cell (clients x sessions x effect values), fit "
            "every family to each, and report per cell, family and effect: power at --alpha "
            "(two-sided Wald test), type-I error where the true effect is 0, bias, RMSE, 95%% "
            "coverage and the share of fits that converged, each with its Monte Carlo SE "
            "(Morris, White & Crowther 2019); then the smallest clients reaching --target power "
            "per sessions count. Unset lagged effects keep their defaults (raw units): "
            "alliance->symptoms -0.2, symptoms->alliance -0.1, alliance->alliance 0.3, "
            "symptoms->symptoms 0.4; innovation SDs 0.4, trait SDs 0.6. Replication r of a cell "
            "is seeded from (seed, cell, r), so serial, local-process and Dask runs give the "
            "same table."
        ),
    )
    g = p.add_argument_group("design grid")
    g.add_argument(
        "--families",
        default="riclpm,fe",
        help=f"comma-separated families (default riclpm,fe); any of {', '.join(FAMILIES)}",
    )
    g.add_argument(
        "--clients", default="100,200,400", help="clients, comma-separated (default 100,200,400)"
    )
    g.add_argument(
        "--sessions", default="6,10", help="sessions per client, comma-separated (default 6,10)"
    )
    g.add_argument(
        "--effect",
        action="append",
        metavar="KEY=V[,V...]",
        help="true value(s) of one lagged effect, e.g. 'alliance->symptoms=-0.2' or "
        "'alliance->symptoms=0,-0.2' (0 = type-I error); repeatable",
    )
    g.add_argument("--missing", type=float, default=None, help="share of ratings missing (MCAR)")
    g.add_argument("--dropout", type=float, default=None, help="dropout probability per session")
    g.add_argument(
        "--reliability",
        default=None,
        help="reliability of the scores, R or Rx,Ry (default 1: no measurement error)",
    )
    g.add_argument(
        "--therapists", type=int, default=None, help="nest clients in this many therapists"
    )
    g.add_argument("--trait-corr", type=float, default=None, help="correlation of client traits")
    g.add_argument("--trend", default=None, help="linear change per session of x,y")
    g.add_argument(
        "--time",
        default=None,
        metavar="T[,T...]",
        help="trends in the simulated data: none, common (every client --trend per session, "
        "default 0.05,-0.05) or client (trends vary by client, SD 0.05); a list is a grid axis",
    )
    g.add_argument(
        "--units",
        choices=["raw", "standardized"],
        default="raw",
        help="units of --effect: raw VAR coefficients (default) or within-person standardised "
        "(b x within-SD of the cause / within-SD of the outcome, as powRICLPM)",
    )
    g.add_argument(
        "--design",
        action="append",
        metavar="KEY=VALUE",
        help="any other simulate() argument, JSON value (e.g. skip=0.1); repeatable",
    )
    g.add_argument(
        "--set",
        action="append",
        metavar="FAMILY.KEY=VALUE",
        help="a family option, JSON value (e.g. riclpm.constrained=true); repeatable",
    )
    r = p.add_argument_group("run")
    r.add_argument("--reps", type=int, default=500, help="replications per cell (default 500)")
    r.add_argument("--seed", type=int, default=1, help="master seed (default 1)")
    r.add_argument("--alpha", type=float, default=0.05, help="test level (default 0.05)")
    r.add_argument("--target", type=float, default=0.8, help="target power (default 0.8)")
    r.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address tcp://HOST:PORT, or 'serial'; default: local processes",
    )
    r.add_argument("--workers", type=int, default=None, help="local processes (default: all cores)")
    r.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder for cell-by-cell records, power.csv/json/html/png, clients_needed.csv",
    )
    r.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    r.add_argument("--json", action="store_true", help="print the table as a list of JSON records")
    r.add_argument("--no-progress", action="store_true", help="no progress bar or time estimate")
    p.set_defaults(func=cmd_power)


def cmd_power(args: argparse.Namespace) -> int:
    from .power import clients_needed, parse_effect, power

    def ints(text: str, flag: str) -> list[int]:
        try:
            return [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise DataError(f"{flag} takes comma-separated whole numbers, got {text!r}.") from None

    if args.resume and not args.out:
        raise DataError("--resume continues the run in --out DIR: give --out.")
    effects = dict(parse_effect(e) for e in args.effect or [])
    design = _key_values(args.design, "--design")
    flags = {"mcar": args.missing, "dropout": args.dropout, "n_therapists": args.therapists,
             "trait_corr": args.trait_corr}  # fmt: skip
    for key, value in flags.items():
        if value is not None:
            design[key] = value
    if args.reliability is not None:
        rel = _floats(args.reliability, 2, "--reliability") if "," in args.reliability \
            else _floats(args.reliability, 1, "--reliability")  # fmt: skip
        design["reliability"] = rel[0] if len(rel) == 1 else list(rel)
    if args.trend is not None:
        design["trend"] = list(_floats(args.trend, 2, "--trend"))
    vary: dict[str, list[str]] = {}
    if args.time is not None:
        times = [t.strip() for t in args.time.split(",") if t.strip()]
        if len(times) == 1:
            design["time"] = times[0]
        else:
            vary["time"] = times
    names = [f.strip() for f in args.families.split(",") if f.strip()]
    families: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in _key_values(args.set, "--set").items():
        fam, dot, opt = key.partition(".")
        if not dot or fam not in families:
            raise DataError(f"--set takes FAMILY.KEY=VALUE with FAMILY in --families; got {key!r}.")
        families[fam][opt] = value
    table = power(
        families, ints(args.clients, "--clients"), ints(args.sessions, "--sessions"), effects,
        reps=args.reps, seed=args.seed, alpha=args.alpha, target=args.target, design=design,
        vary=vary, units=args.units, scheduler=args.scheduler, workers=args.workers, out=args.out, resume=args.resume,
        progress=not args.no_progress, estimate=not args.no_progress,
    )  # fmt: skip
    needed = clients_needed(table, args.target, table.attrs["effects"])
    if args.json:
        from .results import _jsonable

        _print_json(_jsonable(table.to_dict(orient="records")))  # NaN (e.g. type1_error) -> null
    else:
        cols = ["family", "clients", "sessions", "effect", "true", "power", "power_mcse",
                "type1_error", "bias", "rmse", "coverage", "converged"]  # fmt: skip
        shown = table[table["effect"].isin(table.attrs["effects"])]
        print(shown[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"\nsmallest clients in the grid reaching {args.target:.0%} power:")
        for row in needed.itertuples(index=False):
            n = (
                "none in the grid"
                if row.clients_needed != row.clients_needed
                else int(row.clients_needed)
            )
            print(f"  {row.family:<8} {row.sessions:>3} sessions  {row.effect} = {row.true:g}"
                  f" [{row.setting}]: {n} (power {row.power:.2f} ± {row.power_mcse:.2f})")  # fmt: skip
    if args.out:
        print(f"wrote {Path(args.out) / 'power.html'} and the tables beside it", file=sys.stderr)
    return 0


# --- end causalrel power ----------------------------------------------------------------------


#: flag name -> (argparse kwargs, help). Passed to the model only when given.
FIT_FLAGS: dict[str, dict[str, Any]] = {
    "constrained": dict(action="store_true", help="SEMs: time-invariant lagged effects"),
    "waves": dict(type=int, help="SEMs: use sessions 1..WAVES as the waves"),
    "time": dict(
        choices=["none", "common", "client"],
        help="change over sessions: none, common (shared by all clients), client (each "
        "client's own linear trajectory: riclpm = the LCM-SR); a family without the value "
        "exits 2 naming the families that have it",
    ),
    "same_session": dict(
        metavar="ORDER",
        help="SEMs, dsem: covariance (default: the two ratings of a session correlate), or "
        "symptoms->alliance (symptoms rated before the session act on the alliance rated "
        "after it: a directed same-session path; alliance->symptoms the other order)",
    ),
    "detrend": dict(
        action="store_true",
        help="remove each client's linear trend first (fe, dpd: deprecated, use --time client)",
    ),
    "trend": dict(
        action="store_true",
        help="deprecated: dsem's --time client (random linear trends of the latent means)",
    ),
    "time_effects": dict(action="store_true", help="deprecated: fe, dpd's --time common"),
    "method": dict(help="dpd: two-step (default), one-step or anderson-hsiao"),
    "information": dict(help="SEMs: observed (default) or expected information for SEs"),
    "estimator": dict(
        choices=["ml", "mlr"],
        help="SEMs: ml (default) or mlr (robust SEs, scaled chi-square, robust CFI/RMSEA)",
    ),
    "cluster": dict(
        metavar="COLUMN",
        help="cluster-robust SEs by this client-level column, e.g. therapist (SEMs: implies "
        "mlr; fe, dpd: clustered instead of by client); fe also two-way, e.g. "
        "therapist,session (Cameron, Gelbach & Miller 2011)",
    ),
    "bootstrap": dict(
        type=int, metavar="N", help="SEMs: N bootstrap replications over clients (BCa CIs)"
    ),
    "draws": dict(type=int, help="Bayesian: posterior draws per chain"),
    "tune": dict(type=int, help="Bayesian: tuning steps per chain"),
    "chains": dict(type=int, help="Bayesian: number of chains"),
    "seed": dict(type=int, help="random seed (reproducible runs)"),
    "sampler": dict(help="Bayesian: NUTS backend ({})"),
    "backend": dict(choices=["numba", "jax"], help="Bayesian, nutpie: model compiler"),
}


def _installed_samplers() -> list[str]:
    """The NUTS backends installed, fastest first (as causalrel.bayes.available_samplers, which
    imports PyMC: too slow for --help)."""
    import importlib.util

    return [s for s in ("nutpie", "numpyro") if importlib.util.find_spec(s)] + ["pymc"]


class _Parser(argparse.ArgumentParser):
    """A sub-command parser whose description may be written only when its help is shown
    (``describe``): ``fit``'s list of families reads every family class, which ``causalrel
    --help`` and the other commands need not import."""

    def __init__(self, *args: Any, describe: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._describe = describe

    def format_help(self) -> str:
        if self._describe is not None:
            self.description, self._describe = self._describe(), None
        return super().format_help()


def _families_help() -> str:
    """``causalrel fit --help``: one line per registered family, from the family itself."""
    from .families import family_spec

    return "Fit one model family. Families:\n" + "\n".join(
        f"  {n:<7} {family_spec(n, strict=False).summary}" for n in FAMILIES
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="causalrel",
        description=(
            "Does the therapeutic alliance cause symptom improvement? Fit models that separate "
            "within-client from between-client effects to session-by-session data."
        ),
    )
    from . import __version__

    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"causalrel {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )

    p = sub.add_parser("validate", help="check a data file and say what is wrong, if anything")
    _data_flags(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("describe", help="variance shares and within/between correlations")
    _data_flags(p)
    p.add_argument("--json", action="store_true", help="print the results-contract JSON")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("simulate", help="simulate data with known truth (CSV + truth JSON)")
    p.add_argument("--out", help="CSV file to write (truth goes to FILE.truth.json)")
    p.add_argument("--clients", type=int, default=300, help="number of clients (default 300)")
    p.add_argument("--sessions", default="8-20", help="sessions per client, N or LOW-HIGH")
    p.add_argument("--ar", default="0.3,0.4", help="autoregressions x,y (default 0.3,0.4)")
    p.add_argument("--cross", default="-0.2,-0.1", help="cross-lags x->y,y->x (default -0.2,-0.1)")
    p.add_argument("--trait-corr", type=float, default=0.0, help="correlation of client traits")
    p.add_argument("--therapists", type=int, default=None, help="number of therapists")
    p.add_argument(
        "--time",
        choices=["none", "common", "client"],
        default=None,
        help="change over sessions: none (default), common (every client changes by --trend "
        "per session), client (clients' own trends, SD --trend-sd around it)",
    )
    p.add_argument("--trend", default=None, help="with --time: linear change per session of x,y")
    p.add_argument(
        "--trend-sd", default=None, help="with --time client: between-client SD of the trends"
    )
    p.add_argument("--missing", type=float, default=0.0, help="share of ratings missing (MCAR)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout probability per session")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "fit",
        help="fit one model family",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        describe=_families_help,
    )
    p.add_argument("model", choices=list(FAMILIES), help="model family (see above)")
    _data_flags(p)
    g = p.add_argument_group("model options (passed only when given)")
    for name, kw in FIT_FLAGS.items():
        if name == "sampler":
            installed = _installed_samplers()
            kw = dict(kw, choices=installed, help=kw["help"].format(", ".join(installed)))
        g.add_argument("--" + name.replace("_", "-"), dest=name, default=None, **kw)
    g.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="any other model option (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="print the results-contract JSON")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("analyze", help="the main job: every family, the causal layer, a report")
    _data_flags(p)
    p.add_argument("--out", required=True, help="folder for report.html, figures, summary.json")
    p.add_argument("--fast", action="store_true", help="skip the Bayesian samplers")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--rci",
        type=float,
        metavar="POINTS",
        help="reliable-change threshold of the outcome (--y) instrument in its points, e.g. 6: "
        "the verdict then gives the effect as a share of it",
    )
    g = p.add_argument_group("standard errors (default: chosen from the data, see the report)")
    g.add_argument(
        "--estimator",
        choices=["ml", "mlr"],
        default=None,
        help="SEM families: ml or mlr for the whole run, over the automatic rule (MLR when a "
        "score is clearly non-normal)",
    )
    g.add_argument(
        "--cluster",
        metavar="COLUMN|none",
        default=None,
        help="cluster-robust SEs by this client-level column in every family with a cluster "
        "option (SEMs: implies mlr), or none; default: the --therapist column",
    )
    p.set_defaults(func=cmd_analyze)

    _power_parser(sub)  # issue 18
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


#: Options whose value may start with a minus sign (``--na -99,999``).
VALUE_MAY_BE_NEGATIVE = ("--na", "--range")


def _normalise_argv(argv: Sequence[str]) -> list[str]:
    """``--debug`` anywhere (also after the command); ``--na -99`` read as ``--na=-99``."""
    argv = list(argv)
    out: list[str] = ["--debug"] if "--debug" in argv else []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--debug":
            pass
        elif a in VALUE_MAY_BE_NEGATIVE and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{a}={argv[i + 1]}")
            i += 1
        else:
            out.append(a)
        i += 1
    return out


def _interrupted(signum: int, frame: Any) -> None:
    """Ctrl-C: stop at once. Samplers catch KeyboardInterrupt and return partial draws, and a
    command would carry on with them; so the process ends here, before anything else runs."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    sys.stderr.write("\ncausalrel: interrupted (Ctrl-C); stopped, nothing after this was run.\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_normalise_argv(sys.argv[1:] if argv is None else argv))
    warnings.showwarning = _show_warning
    previous = None
    if argv is None:  # the installed command: Ctrl-C ends the process (not in-process calls)
        try:
            previous = signal.signal(signal.SIGINT, _interrupted)
        except ValueError:  # not the main thread
            previous = None
    try:
        return args.func(args)
    except DataError as exc:
        if args.debug:
            raise
        print(f"causalrel: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("causalrel: interrupted (Ctrl-C); stopped.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head`: the reader has all it wanted
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, what shells report
    except OSError as exc:  # a file that cannot be read or written: the user can fix that
        if args.debug:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"causalrel: error: cannot use{where}: {exc.strerror or exc}. Check the path and "
            "its permissions.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except Exception as exc:  # a failure we did not foresee: say so plainly, no traceback
        if args.debug:
            raise
        print(
            f"causalrel: {args.command} failed: {type(exc).__name__}: {exc}. "
            "Run again with --debug for the traceback, and please report it.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
