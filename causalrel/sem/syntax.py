"""lavaan model syntax of the cross-lagged panel models: CLPM, RI-CLPM, LCM-SR and DPML.

Kept apart from the model classes (:mod:`causalrel.sem.models`) so that the syntax can be read,
tested and pasted into R on its own: each builder returns the lavaan syntax for the given waves
(session numbers), with the names the models use (observed ``x<s>``, ``y<s>``; random
intercepts ``RIx``, ``RIy``; within components ``wx<s>``, ``wy<s>``; slopes ``Sx``, ``Sy``;
fixed effects ``FEx``, ``FEy``; trend factors ``TRx``, ``TRy``) and the labels of the
constrained parameters (:data:`LAG_LABELS`, ``m_x``, ``e_x``, ``gx_<z>``). The models
(:mod:`causalrel.sem.models`) explain what each part means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "LAG_LABELS",
    "SAME_LABELS",
    "riclpm_syntax",
    "lcmsr_syntax",
    "clpm_syntax",
    "dpml_syntax",
    "per_group_labels",
]

#: Labels of the time-invariant lagged effects (``constrained=True``).
LAG_LABELS = {("x", "x"): "ar_x", ("y", "y"): "ar_y", ("x", "y"): "cl_xy", ("y", "x"): "cl_yx"}
#: Labels of the time-invariant same-session paths (``constrained=True``, ``same_session``).
SAME_LABELS = {("x", "y"): "ss_xy", ("y", "x"): "ss_yx"}


def _same_session_terms(
    pre: str, waves: list[int], same_session: tuple[str, str] | None, constrained: bool
) -> list[str]:
    """What links the two scores of each session in ``waves``: the residual covariance
    (``same_session=None``: ``<pre>x<s> ~~ <pre>y<s>``) or a directed same-session path
    (``("y", "x")``: ``<pre>x<s> ~ <pre>y<s>``, symptoms rated before the session acting on
    the alliance rated after it), labelled ``ss_yx`` when ``constrained``."""
    if same_session is None:
        return [f"{pre}x{s} ~~ {pre}y{s}" for s in waves]
    cause, out = same_session
    lab = f"{SAME_LABELS[(cause, out)]}*" if constrained else ""
    return [f"{pre}{out}{s} ~ {lab}{pre}{cause}{s}" for s in waves]


def _lag_terms(prefix: str, s: int, prev: int, constrained: bool) -> list[str]:
    """``<prefix>x<s> ~ ...`` and ``<prefix>y<s> ~ ...`` regressions on wave ``prev``."""
    lines = []
    for out in ("x", "y"):
        terms = []
        for cause in ("x", "y"):
            lab = f"{LAG_LABELS[(cause, out)]}*" if constrained else ""
            terms.append(f"{lab}{prefix}{cause}{prev}")
        lines.append(f"{prefix}{out}{s} ~ " + " + ".join(terms))
    return lines


def _means(waves: list[int], invariant: bool) -> list[str]:
    if not invariant:
        return []
    return [f"{v}{s} ~ m_{v}*1" for v in ("x", "y") for s in waves]


def _covariate_block(covariates: list[str]) -> list[str]:
    """Variances and covariances of time-invariant covariates (random, as fixed.x = FALSE)."""
    if not covariates:
        return []
    lines = ["# time-invariant covariates"]
    lines += [f"{z} ~~ {z}" for z in covariates]
    lines += [f"{a} ~~ {b}" for i, a in enumerate(covariates) for b in covariates[i + 1 :]]
    return lines


#: Type (lavaan's group.equal name) of each label prefix the model syntaxes write.
_LABEL_TYPES = {
    "ar_": "regressions",
    "cl_": "regressions",
    "gx_": "regressions",
    "gy_": "regressions",
    "ss_": "regressions",
    "m_": "intercepts",
    "e_": "residuals",
}


def per_group_labels(syntax: str, groups: int, group_equal: Iterable[str] = ()) -> str:
    """Make the syntax's labels group-specific (``ar_x*`` -> ``c(ar_x_g1, ar_x_g2)*``).

    In lavaan a plain label is shared by all groups, which makes the parameter equal across
    groups. Labels whose parameter type is in ``group_equal`` stay shared.
    """
    if groups <= 1:
        return syntax
    equal = set(group_equal)

    def repl(m: re.Match) -> str:
        lab = m.group(1)
        kind = next((t for pre, t in _LABEL_TYPES.items() if lab.startswith(pre)), None)
        if kind is None or kind in equal:
            return m.group(0)
        return "c(" + ", ".join(f"{lab}_g{g}" for g in range(1, groups + 1)) + ")*"

    return re.sub(r"(?<![\w.(])([A-Za-z_][A-Za-z0-9_]*)\*", repl, syntax)


def _within_lines(
    w: list[int], constrained: bool, same_session: tuple[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """The within-client part shared by the RI-CLPM and the LCM-SR: components ``w<v><s>``,
    lags and same-session covariances (or paths), and (second list) the within variances."""
    lines = ["# within components"]
    lines += [f"w{v}{s} =~ 1*{v}{s}" for s in w for v in ("x", "y")]
    lines.append("# lagged effects")
    for prev, s in zip(w[:-1], w[1:], strict=True):
        lines += _lag_terms("w", s, prev, constrained)
    if same_session is None:
        lines.append("# wave-1 covariance and same-session innovation covariances")
    else:
        lines.append("# wave-1 covariance and directed same-session paths")
    lines.append(f"wx{w[0]} ~~ wy{w[0]}")
    lines += _same_session_terms("w", w[1:], same_session, constrained)
    variances = ["# within (residual) variances"]
    variances += [f"w{v}{s} ~~ w{v}{s}" for s in w for v in ("x", "y")]
    return lines, variances


def riclpm_syntax(
    waves: Iterable[int],
    *,
    constrained: bool = False,
    invariant_means: bool = False,
    covariates: Iterable[str] = (),
    same_session: tuple[str, str] | None = None,
) -> str:
    """lavaan syntax of the RI-CLPM (Mulder & Hamaker 2021) for the given waves.

    Time-invariant ``covariates`` predict the random intercepts (the tutorial's extension
    with a time-invariant predictor: ``RIx + RIy ~ z``). ``same_session`` (cause, outcome),
    e.g. ``("y", "x")``: from the second wave on, the same-session innovation covariance
    ``wx<s> ~~ wy<s>`` becomes the path ``wx<s> ~ wy<s>`` (the first wave's covariance, which
    also holds the earlier history, stays).
    """
    w = list(waves)
    cov = list(covariates)
    structure, variances = _within_lines(w, constrained, same_session)
    lines = [
        "# between: random intercepts",
        "RIx =~ " + " + ".join(f"1*x{s}" for s in w),
        "RIy =~ " + " + ".join(f"1*y{s}" for s in w),
    ]
    lines += structure
    lines.append("# random intercepts: variances and covariance")
    lines += ["RIx ~~ RIx", "RIy ~~ RIy", "RIx ~~ RIy"]
    lines += variances
    if cov:
        lines.append("RIx + RIy ~ " + " + ".join(cov))
        lines += _covariate_block(cov)
    lines += _means(w, invariant_means)
    return "\n".join(lines)


def _zero_slopes(lines: list[str], fixed: set[str]) -> list[str]:
    """``lines`` with every (co)variance of a slope in ``fixed`` fixed at 0 (``A ~~ 0*B``).

    A line ``A ~~ B + C`` is split per term so that only the terms touching a fixed slope
    are fixed. Regressions of a fixed slope on covariates (``S ~ z``) are fixed at 0 too:
    with no slope variance there is nothing for a covariate to explain.
    """
    if not fixed:
        return lines
    out = []
    for line in lines:
        m = re.fullmatch(r"(\w+) (~~|~) (.+)", line)
        if m is None or m.group(2) == "~" and "=~" in line:
            out.append(line)
            continue
        lhs, op, rhs = m.groups()
        if op == "~" and rhs.strip() == "1":
            out.append(line)  # a mean: the common mean slope is kept
            continue
        terms = [t.strip() for t in rhs.split("+")]
        out += [
            f"{lhs} {op} 0*{t}" if lhs in fixed or t in fixed else f"{lhs} {op} {t}" for t in terms
        ]
    return out


def _split_lhs(lines: list[str]) -> list[str]:
    """``A + B ~ z`` written as ``A ~ z`` and ``B ~ z`` (so one outcome can be fixed)."""
    out = []
    for line in lines:
        m = re.fullmatch(r"(\w+(?: \+ \w+)+) ~ (.+)", line)
        if m is None:
            out.append(line)
        else:
            out += [f"{lhs.strip()} ~ {m.group(2)}" for lhs in m.group(1).split("+")]
    return out


def lcmsr_syntax(
    waves: Iterable[int],
    *,
    constrained: bool = False,
    linear_means: bool = False,
    covariates: Iterable[str] = (),
    zero_slopes: Iterable[str] = (),
    same_session: tuple[str, str] | None = None,
) -> str:
    """lavaan syntax of the LCM-SR (Curran et al. 2014): the RI-CLPM plus latent slopes.

    ``Sx``/``Sy`` load ``s - first`` on ``x<s>``/``y<s>``; the intercepts ``RIx``/``RIy`` and
    slopes covary freely (a 4 x 4 matrix); the within-client residuals ``wx<s>``, ``wy<s>``
    have the RI-CLPM's lagged and same-session structure. ``linear_means``: observed
    intercepts fixed at 0 and the four latent means free (the published model); otherwise
    the wave means are free and the latent means 0. Time-invariant ``covariates`` predict
    intercepts and slopes (``RIx + RIy + Sx + Sy ~ z``).

    ``zero_slopes`` (a subset of ``"x"``, ``"y"``): those slopes' variances, their
    covariances and their covariate effects are fixed at 0 (``Sx ~~ 0*Sx``, ``RIx ~~
    0*Sx``, ...), the model a lavaan user fits when a slope variance is not supported by
    the data; with ``linear_means`` the slope's mean (the common linear change) stays free.
    With both slopes fixed and wave-specific means the model is the RI-CLPM.
    ``same_session``: directed same-session paths among the residuals, as
    :func:`riclpm_syntax`.
    """
    w = list(waves)
    cov = list(covariates)
    lines = [
        "# between: latent intercepts and slopes",
        "RIx =~ " + " + ".join(f"1*x{s}" for s in w),
        "RIy =~ " + " + ".join(f"1*y{s}" for s in w),
        "Sx =~ " + " + ".join(f"{s - w[0]}*x{s}" for s in w),
        "Sy =~ " + " + ".join(f"{s - w[0]}*y{s}" for s in w),
    ]
    structure, variances = _within_lines(w, constrained, same_session)
    lines += structure
    lines.append("# intercepts and slopes: variances and covariances")
    growth = ["RIx", "RIy", "Sx", "Sy"]
    lines += [f"{a} ~~ {a}" for a in growth]
    lines += [f"{a} ~~ {b}" for i, a in enumerate(growth) for b in growth[i + 1 :]]
    lines += variances
    if cov:
        lines.append("RIx + RIy + Sx + Sy ~ " + " + ".join(cov))
        lines += _covariate_block(cov)
    fixed = {f"S{v}" for v in _check_zero(zero_slopes)}
    if fixed:
        lines = _zero_slopes(_split_lhs(lines), fixed)
    if linear_means:
        lines.append("# linear mean trajectory: observed intercepts 0, latent means free")
        lines += [f"{v}{s} ~ 0*1" for v in ("x", "y") for s in w]
        lines += [f"{a} ~ 1" for a in growth]
    return "\n".join(lines)


def _check_zero(zero_slopes: Iterable[str]) -> list[str]:
    z = sorted(set(zero_slopes))
    if not set(z) <= {"x", "y"}:
        raise ValueError(f"zero_slopes must be a subset of ('x', 'y'); got {z}")
    return z


def clpm_syntax(
    waves: Iterable[int],
    *,
    constrained: bool = False,
    invariant_means: bool = False,
    covariates: Iterable[str] = (),
    same_session: tuple[str, str] | None = None,
) -> str:
    """lavaan syntax of the classic CLPM (lags between the observed variables).

    Time-invariant ``covariates`` predict x and y at every wave (wave-specific effects).
    ``same_session``: directed same-session paths from the second wave on, as
    :func:`riclpm_syntax`.
    """
    w = list(waves)
    cov = list(covariates)
    lines = ["# lagged effects"]
    for prev, s in zip(w[:-1], w[1:], strict=True):
        lines += _lag_terms("", s, prev, constrained)
    lines.append("# wave-1 covariance and same-session residual covariances (or paths)")
    lines.append(f"x{w[0]} ~~ y{w[0]}")
    lines += _same_session_terms("", w[1:], same_session, constrained)
    lines.append("# (residual) variances")
    lines += [f"{v}{s} ~~ {v}{s}" for s in w for v in ("x", "y")]
    if cov:
        lines += [f"x{s} + y{s} ~ " + " + ".join(cov) for s in w]
        lines += _covariate_block(cov)
    lines += _means(w, invariant_means)
    return "\n".join(lines)


def dpml_syntax(
    waves: Iterable[int],
    *,
    constrained: bool = True,
    invariant_error_variances: bool = False,
    covariates: Iterable[str] = (),
    invariant_means: bool = False,
    trends: bool = False,
    zero_slopes: Iterable[str] = (),
    same_session: tuple[str, str] | None = None,
) -> str:
    """lavaan syntax of the ML dynamic panel model (Allison, Williams & Moral-Benito 2017).

    Time-invariant ``covariates`` enter both equations from the second wave on (effects equal
    over waves when ``constrained``), correlate freely with the first wave's observations and
    are uncorrelated with the fixed effects (as in ``xtdpdml``). ``invariant_means``: one
    intercept per equation from the second wave on (``m_x``, ``m_y``; the first wave's
    exogenous means stay free), i.e. no change shared by all clients (``time="none"``).
    ``trends``: client-specific linear trends in both equations (``time="client"``): trend
    factors ``TRx``, ``TRy`` loading ``s - first`` from the second wave on, correlated freely
    with each other, the fixed effects and the first wave's observations (the random-trend
    dynamic model; the wave intercepts keep the shared change). ``zero_slopes`` (a subset
    of ``"x"``, ``"y"``): those trend factors' variances and covariances fixed at 0 (as
    :func:`lcmsr_syntax`); with both fixed the model is the DPML without trends.
    ``same_session`` (cause, outcome), e.g. ``("y", "x")``: the same-session error
    covariances become paths ``x<s> ~ y<s>`` (from the second wave; labelled ``ss_yx`` when
    ``constrained``), a contemporaneous regressor in the structural equation.
    """
    w = list(waves)
    cov = list(covariates)
    first, rest = w[0], w[1:]
    lines = [
        "# fixed effects (loading 1 from the second wave on)",
        "FEx =~ " + " + ".join(f"1*x{s}" for s in rest),
        "FEy =~ " + " + ".join(f"1*y{s}" for s in rest),
        "# lagged effects",
    ]
    for prev, s in zip(w[:-1], w[1:], strict=True):
        lines += _lag_terms("", s, prev, constrained)
    lines.append("# fixed effects and the first wave correlate freely")
    lines += [
        "FEx ~~ FEx",
        "FEy ~~ FEy",
        "FEx ~~ FEy",
        f"FEx ~~ x{first} + y{first}",
        f"FEy ~~ x{first} + y{first}",
        f"x{first} ~~ x{first}",
        f"y{first} ~~ y{first}",
        f"x{first} ~~ y{first}",
    ]
    if trends:
        lines.append("# client-specific trends, free to correlate with FE and the first wave")
        fixed = {f"TR{v}" for v in _check_zero(zero_slopes)}
        lines += _zero_slopes(
            [
                "TRx =~ " + " + ".join(f"{s - first}*x{s}" for s in rest),
                "TRy =~ " + " + ".join(f"{s - first}*y{s}" for s in rest),
                "TRx ~~ TRx",
                "TRy ~~ TRy",
                "TRx ~~ TRy",
                "TRx ~~ FEx + FEy",
                "TRy ~~ FEx + FEy",
                f"TRx ~~ x{first} + y{first}",
                f"TRy ~~ x{first} + y{first}",
            ],
            fixed,
        )
    lines.append("# error variances and same-session error covariances")
    for s in rest:
        if invariant_error_variances:
            lines += [f"x{s} ~~ e_x*x{s}", f"y{s} ~~ e_y*y{s}"]
        else:
            lines += [f"x{s} ~~ x{s}", f"y{s} ~~ y{s}"]
        lines += _same_session_terms("", [s], same_session, constrained)
    if cov:
        for s in rest:
            for v in ("x", "y"):
                terms = [f"g{v}_{z}*{z}" if constrained else z for z in cov]
                lines.append(f"{v}{s} ~ " + " + ".join(terms))
        lines += _covariate_block(cov)
        lines += [f"{v}{first} ~~ {z}" for z in cov for v in ("x", "y")]
    if invariant_means:
        lines += [f"{v}{s} ~ m_{v}*1" for v in ("x", "y") for s in rest]
    return "\n".join(lines)
