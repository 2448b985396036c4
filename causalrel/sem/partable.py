"""The parameter table: one row per model parameter, lavaan-style, driving everything.

As in lavaan, a model is first written as (a subset of) lavaan model syntax, the syntax becomes
a table with columns ``lhs op rhs label free ustart``, the table becomes model matrices (see
:mod:`causalrel.sem.matrices`), estimation writes ``est``/``se`` back into it, and the
``params`` of the results are read out of it. Rows that share a label share one free-parameter
index: that is how equality constraints work (lavaan turns them into ``==`` constraints; a
shared index is the same model, estimated in the reduced parameterisation).

Supported syntax (enough for the CLPM family and ordinary SEMs): ``=~`` loadings, ``~``
regressions, ``~~`` (co)variances, ``~ 1`` intercepts, several names on either side joined by
``+``, and modifiers ``1*x`` (fixed value), ``NA*x`` (free), ``a*x`` (label), ``start(.5)*x``,
and with several groups ``c(a1, a2)*x`` / ``c(1, NA)*x`` (one modifier per group); defined
parameters ``name := expression`` of labels (:mod:`causalrel.sem.defined`, kept in
``options["defined"]``).
Semantics follow ``lavaan::lavaan()``: nothing is added unless asked for (``auto_*`` options
reproduce what ``sem()`` adds), observed intercepts are free and latent means fixed at zero.

Multiple groups (``groups=G``) work as in lavaan: the model is repeated for every group (table
columns ``group`` and ``block``, 1..G), every parameter is free per group unless constrained,
a plain label is shared by all groups (so ``a*x`` is equal across groups, lavaan's rule) and
``group_equal`` makes parameters of the listed types equal across groups (lavaan's
``group.equal``; the shared label is lavaan's ``.p<id>.`` of the first group's row).
Written here, not taken from a library: the only Python SEM package (semopy) has its own table
and fails on this model family under FIML (see causalrel.sem), and the table is small.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data import DataError
from .defined import DEFINED_OP, check_defined, parse_defined

__all__ = ["ParTable", "parse_model"]

_OPS = ("=~", "~~", "~")
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class ParTable:
    """A lavaan-style parameter table.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``lhs op rhs label free ustart start user``: ``free`` is 0 for a fixed
        parameter and otherwise the 1-based index of the free parameter (rows sharing a label
        share it); ``ustart`` is the fixed value (or a user start value), NaN otherwise;
        ``group`` and ``block`` number the groups (all 1 for a single-group model).
    observed, latent : list of str
        Observed variables (in order of first appearance) and latent variables.
    """

    table: pd.DataFrame
    observed: list[str]
    latent: list[str]
    syntax: str = ""
    options: dict = field(default_factory=dict)

    @property
    def n_free(self) -> int:
        """Number of distinct free parameters (after equality constraints)."""
        return int(self.table["free"].max()) if len(self.table) else 0

    @property
    def n_equality(self) -> int:
        """Number of equality constraints implied by shared labels (lavaan's ``==`` rows)."""
        free = self.table.loc[self.table["free"] > 0, "free"]
        return int(len(free) - free.nunique())

    @property
    def n_groups(self) -> int:
        """Number of groups (1 for a single-group model)."""
        return int(self.table["group"].max()) if "group" in self.table and len(self.table) else 1

    def free_rows(self) -> pd.DataFrame:
        """The first row of each free parameter, ordered by free index."""
        t = self.table[self.table["free"] > 0]
        return t.drop_duplicates("free").sort_values("free")

    def __len__(self) -> int:
        return len(self.table)


def _split_terms(text: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "+" and depth == 0:
            terms.append(cur.strip())
            cur = ""
        else:
            cur += ch
    terms.append(cur.strip())
    return [t for t in terms if t]


def _statements(syntax: str) -> list[str]:
    """Strip comments, split on newlines and ';', join continuation lines."""
    out: list[str] = []
    for raw in syntax.splitlines():
        line = re.split(r"[#!]", raw, maxsplit=1)[0]
        for part in line.split(";"):
            part = part.strip()
            if not part:
                continue
            if out and (out[-1].endswith(("+", "~", "=~", "*")) or part.startswith("+")):
                out[-1] = out[-1] + " " + part
            else:
                out.append(part)
    return out


def _parse_term(term: str, where: str, groups: int = 1) -> tuple[str, list, list, list]:
    """``mod*name`` -> (name, fixed values or NaN, labels, start values or NaN), one per group."""
    fixed, label, start = [np.nan] * groups, [""] * groups, [np.nan] * groups
    parts = [p.strip() for p in term.split("*")]
    name = parts[-1]
    for mod in parts[:-1]:
        if mod.startswith("c(") and mod.endswith(")"):
            mods = [m.strip() for m in mod[2:-1].split(",")]
            if len(mods) != groups:
                raise DataError(
                    f"Model syntax: '{mod}' in '{where}' gives {len(mods)} "
                    f"modifier(s) for {groups} group(s); give one per group."
                )
            for g, m in enumerate(mods):
                if _NUMBER.match(m):
                    fixed[g] = float(m)
                elif m == "NA":
                    fixed[g] = np.nan
                elif _NAME.match(m):
                    label[g] = m
                else:
                    raise DataError(f"Model syntax: cannot read '{m}' in '{mod}' ('{where}').")
        elif _NUMBER.match(mod):
            fixed = [float(mod)] * groups
        elif mod == "NA":
            fixed = [np.nan] * groups
        elif mod.startswith("start(") and mod.endswith(")"):
            start = [float(mod[6:-1])] * groups
        elif _NAME.match(mod):
            label = [mod] * groups
        else:
            raise DataError(f"Model syntax: cannot read the modifier '{mod}' in '{where}'.")
    if not (_NAME.match(name) or name == "1"):
        raise DataError(f"Model syntax: '{name}' in '{where}' is not a variable name.")
    return name, fixed, label, start


#: lavaan's ``group.equal`` parameter types (and what each covers here).
GROUP_EQUAL = (
    "loadings",
    "intercepts",
    "means",
    "regressions",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
)


def parse_model(
    syntax: str,
    *,
    meanstructure: bool = True,
    int_ov_free: bool = True,
    int_lv_free: bool = False,
    auto_var: bool = False,
    auto_fix_first: bool = False,
    auto_cov_lv_x: bool = False,
    groups: int = 1,
    group_equal: Sequence[str] = (),
) -> ParTable:
    """Turn lavaan model syntax into a :class:`ParTable`.

    Parameters
    ----------
    syntax : str
        Model syntax (see the module docstring for the supported subset).
    meanstructure : bool
        Add intercept rows (``~1``) for every variable without one.
    int_ov_free, int_lv_free : bool
        Whether the added intercepts of observed / latent variables are free (else fixed at 0).
    auto_var : bool
        Add a free (residual) variance for every variable without one (lavaan ``sem()``).
    auto_fix_first : bool
        Fix the first loading of each latent variable at 1 unless it has a modifier.
    auto_cov_lv_x : bool
        Add free covariances among exogenous latent variables.
    groups : int
        Number of groups: the model is repeated for each (columns ``group``/``block``).
    group_equal : sequence of str
        Parameter types held equal across groups, as lavaan's ``group.equal``: "loadings"
        (``=~``), "intercepts" (observed ``~1``), "means" (latent ``~1``), "regressions"
        (``~``), "residuals" / "residual.covariances" (observed ``~~``), "lv.variances" /
        "lv.covariances" (latent ``~~``). Only free, unlabelled rows are affected. Unlike
        ``lavaan()``, "intercepts" does not free the latent means of the later groups (in an
        RI-CLPM that would leave the model unidentified): here it means equal observed means.

    Returns
    -------
    ParTable
    """
    if int(groups) < 1:
        raise DataError("groups must be at least 1.")
    groups = int(groups)
    if isinstance(group_equal, str):
        group_equal = [group_equal]
    bad = [g for g in group_equal if g not in GROUP_EQUAL]
    if bad:
        raise DataError(
            f"group_equal: unknown parameter type(s) {bad}; choose from {list(GROUP_EQUAL)}."
        )
    template: list[dict] = []
    order: list[str] = []

    def seen(name: str) -> None:
        if name != "1" and name not in order:
            order.append(name)

    defined = []
    for stmt in _statements(syntax):
        if DEFINED_OP in stmt:
            defined.append(parse_defined(stmt))
            continue
        op = next((o for o in _OPS if o in stmt), None)
        if op is None:
            raise DataError(f"Model syntax: no operator (=~, ~, ~~) in '{stmt}'.")
        left, right = stmt.split(op, 1)
        lhs_names = [t.strip() for t in _split_terms(left)]
        for name in lhs_names:
            if not _NAME.match(name):
                raise DataError(f"Model syntax: '{name}' in '{stmt}' is not a variable name.")
        terms = [_parse_term(t, stmt, groups) for t in _split_terms(right)]
        if not terms:
            raise DataError(f"Model syntax: nothing on the right-hand side of '{stmt}'.")
        for lhs in lhs_names:
            seen(lhs)
            for rhs, fixed, label, start in terms:
                row_op = op
                if rhs == "1":
                    if op != "~":
                        raise DataError(f"Model syntax: '1' only works with '~' ('{stmt}').")
                    row_op, rhs = "~1", ""
                else:
                    seen(rhs)
                template.append(
                    dict(lhs=lhs, op=row_op, rhs=rhs, label=label, fixed=fixed, start=start)
                )
    if not template:
        raise DataError("Model syntax is empty.")
    latent = [n for n in order if any(r["op"] == "=~" and r["lhs"] == n for r in template)]
    observed = [n for n in order if n not in latent]
    opts = dict(
        meanstructure=meanstructure,
        int_ov_free=int_ov_free,
        int_lv_free=int_lv_free,
        auto_var=auto_var,
        auto_fix_first=auto_fix_first,
        auto_cov_lv_x=auto_cov_lv_x,
    )
    rows: list[dict] = []
    for g in range(groups):
        user = [
            dict(
                lhs=r["lhs"],
                op=r["op"],
                rhs=r["rhs"],
                label=r["label"][g],
                fixed=r["fixed"][g],
                start=r["start"][g],
                user=True,
            )
            for r in template
        ]
        rows += [
            dict(r, group=g + 1, block=g + 1)
            for r in _complete_group(user, observed, latent, **opts)
        ]

    table = pd.DataFrame(rows)
    key = table.apply(
        lambda r: (
            (r["group"], r["lhs"], r["op"], r["rhs"])
            if r["op"] != "~~"
            else (r["group"], min(r["lhs"], r["rhs"]), "~~", max(r["lhs"], r["rhs"]))
        ),
        axis=1,
    )
    dup = key[key.duplicated()]
    if len(dup):
        _, lhs, op, rhs = dup.iloc[0]
        raise DataError(f"Model syntax: the parameter '{lhs} {op} {rhs}' is given twice.")

    # group.equal: free unlabelled rows of the listed types share the first group's label.
    if groups > 1 and group_equal:
        first = {k[1:]: i for i, k in key.items() if k[0] == 1}
        labels = table["label"].to_numpy(dtype=object)
        for i, r in table.iterrows():
            if (
                r["label"]
                or not np.isnan(r["fixed"])
                or _param_type(r, set(latent)) not in group_equal
            ):
                continue
            j = first.get(key[i][1:])
            if j is None or table.at[j, "label"] or not np.isnan(table.at[j, "fixed"]):
                continue
            labels[i] = labels[j] = f".p{j + 1}."
        table["label"] = labels

    # Free-parameter indices: rows sharing a label share one index (equality constraint).
    free = np.zeros(len(table), dtype=int)
    by_label: dict[str, int] = {}
    k = 0
    for i, r in table.iterrows():
        if not np.isnan(r["fixed"]):
            continue
        if r["label"] and r["label"] in by_label:
            free[i] = by_label[r["label"]]
            continue
        k += 1
        free[i] = k
        if r["label"]:
            by_label[r["label"]] = k
    table["free"] = free
    table["ustart"] = np.where(np.isnan(table["fixed"]), table["start"], table["fixed"])
    table = table[["lhs", "op", "rhs", "label", "free", "ustart", "user", "group", "block"]]
    check_defined(defined, set(table.loc[table["free"] > 0, "label"]) - {""})
    opts.update(groups=groups, group_equal=list(group_equal), defined=defined)
    return ParTable(
        table=table.reset_index(drop=True),
        observed=observed,
        latent=latent,
        syntax=syntax,
        options=opts,
    )


def _param_type(r, latent: set[str]) -> str:
    """lavaan's parameter type of a row, as used by ``group.equal``."""
    if r["op"] == "=~":
        return "loadings"
    if r["op"] == "~":
        return "regressions"
    if r["op"] == "~1":
        return "means" if r["lhs"] in latent else "intercepts"
    lv = r["lhs"] in latent or r["rhs"] in latent
    if r["lhs"] == r["rhs"]:
        return "lv.variances" if lv else "residuals"
    return "lv.covariances" if lv else "residual.covariances"


def _complete_group(
    rows: list[dict],
    observed: list[str],
    latent: list[str],
    *,
    meanstructure: bool,
    int_ov_free: bool,
    int_lv_free: bool,
    auto_var: bool,
    auto_fix_first: bool,
    auto_cov_lv_x: bool,
) -> list[dict]:
    """One group's user rows plus what lavaan adds automatically (lavaan's semantics)."""
    # lavaan's "first loading fixed at 1" convention.
    if auto_fix_first:
        for lv in latent:
            first = next(r for r in rows if r["op"] == "=~" and r["lhs"] == lv)
            if np.isnan(first["fixed"]) and not first["label"] and np.isnan(first["start"]):
                first["fixed"] = 1.0

    def has(lhs: str, op: str, rhs: str) -> bool:
        return any(
            r["op"] == op and ((r["lhs"], r["rhs"]) in ((lhs, rhs), (rhs, lhs))) for r in rows
        )

    def add(lhs: str, op: str, rhs: str, free: bool) -> None:
        rows.append(
            dict(
                lhs=lhs,
                op=op,
                rhs=rhs,
                label="",
                fixed=np.nan if free else 0.0,
                start=np.nan,
                user=False,
            )
        )

    if auto_var:
        for v in observed + latent:
            if not has(v, "~~", v):
                add(v, "~~", v, True)
    else:
        # lavaan() lists the (unmodelled) residual variances of observed variables as fixed 0
        for v in observed:
            if not has(v, "~~", v):
                add(v, "~~", v, False)
    if auto_cov_lv_x:
        endo = {r["lhs"] for r in rows if r["op"] == "~"} | {
            r["rhs"] for r in rows if r["op"] == "=~" and r["rhs"] in latent
        }
        exo = [v for v in latent if v not in endo]
        for i, a in enumerate(exo):
            for b in exo[i + 1 :]:
                if not has(a, "~~", b):
                    add(a, "~~", b, True)
    if meanstructure:
        for v in observed:
            if not has(v, "~1", ""):
                add(v, "~1", "", int_ov_free)
        for v in latent:
            if not has(v, "~1", ""):
                add(v, "~1", "", int_lv_free)
    return rows
