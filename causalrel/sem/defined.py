"""Defined parameters (lavaan's ``name := expression``) with delta-method standard errors.

A defined parameter is a function of labelled free parameters, e.g. ``d := cl_xy - cl_yx``
(the difference of the two cross-lagged effects) or the long-run effect of a VAR(1)
``lr_xy := cl_xy / ((1 - ar_x) * (1 - ar_y) - cl_xy * cl_yx)``. As lavaan:

- the estimate is the expression at the estimates, its standard error the delta method
  ``sqrt(J V J')`` with ``V`` the covariance of the estimates (robust with ``estimator="mlr"``)
  and ``J`` the numerical Jacobian (central differences);
- its ``std.all`` is the expression evaluated at the standardized values of the parameters
  (each label's first row in the table), as ``standardizedSolution()`` does, and the standard
  error of that standardized value is again the delta method, through the standardization.

Expressions may use labels, earlier defined names, numbers, ``+ - * / ^ **``, parentheses
and ``exp``, ``log``, ``sqrt``, ``abs``. They are parsed with Python's :mod:`ast` and
evaluated by a small walker (never ``eval``), so nothing else can run.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from scipy import stats

from ..data import DataError

__all__ = ["parse_defined", "check_defined", "defined_table", "defined_values", "DEFINED_OP"]

DEFINED_OP = ":="
_FUNCS: dict[str, Callable[[float], float]] = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
}
_BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}


def _names(node: ast.AST, where: str) -> set[str]:
    """The names an expression uses; raises on anything but arithmetic."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Call):
            if not (
                isinstance(n.func, ast.Name)
                and n.func.id in _FUNCS
                and len(n.args) == 1
                and not n.keywords
            ):
                raise DataError(
                    f"Model syntax: only {sorted(_FUNCS)} of one argument may be "
                    f"called in '{where}'."
                )
        elif not isinstance(
            n,
            (
                ast.Expression,
                ast.BinOp,
                ast.UnaryOp,
                ast.Constant,
                ast.USub,
                ast.UAdd,
                ast.Load,
                *_BINOPS,
            ),
        ):
            raise DataError(
                f"Model syntax: '{where}' is not an arithmetic expression of parameter labels."
            )
    return out - set(_FUNCS)


def parse_defined(stmt: str) -> tuple[str, str, ast.Expression]:
    """``"name := expr"`` -> (name, expr text, parsed expression)."""
    name, _, expr = stmt.partition(DEFINED_OP)
    name, expr = name.strip(), expr.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        raise DataError(
            f"Model syntax: '{name}' in '{stmt}' is not a name for a defined parameter."
        )
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise DataError(f"Model syntax: cannot read the expression of '{stmt}'.") from exc
    _names(tree, stmt)
    return name, expr, tree


def _evaluate(node: ast.AST, env: dict[str, float]) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, env)
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        v = _evaluate(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        return float(_BINOPS[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env)))
    if isinstance(node, ast.Call):
        return float(_FUNCS[node.func.id](_evaluate(node.args[0], env)))
    raise DataError("Unsupported expression in a defined parameter.")  # pragma: no cover


def check_defined(defined: Iterable[tuple[str, str, ast.Expression]], labels: set[str]) -> None:
    """Every name used must be a label of the table or an earlier defined parameter."""
    known = set(labels)
    for name, expr, tree in defined:
        unknown = _names(tree, expr) - known
        if unknown:
            raise DataError(
                f"Model syntax: '{name} := {expr}' uses {sorted(unknown)}, which "
                "are not parameter labels (label a parameter with label*variable)."
            )
        if name in known:
            raise DataError(f"Model syntax: '{name}' is defined twice or is also a label.")
        known.add(name)


def _values(defined, label_free: dict[str, int], x: np.ndarray) -> np.ndarray:
    """The defined parameters at free-parameter values ``x`` (labels -> ``x[free - 1]``)."""
    env = {lab: float(x[k - 1]) for lab, k in label_free.items()}
    out = []
    for name, _, tree in defined:
        env[name] = _evaluate(tree, env)
        out.append(env[name])
    return np.array(out)


def _label_free(partable) -> dict[str, int]:
    t = partable.table
    lab = t[(t["label"] != "") & (t["free"] > 0)].drop_duplicates("label")
    return dict(zip(lab["label"], lab["free"].astype(int), strict=True))


def defined_values(partable, theta: np.ndarray) -> np.ndarray:
    """The defined parameters of ``partable`` at free parameters ``theta`` (in order)."""
    defined = partable.options.get("defined", [])
    return _values(defined, _label_free(partable), theta) if defined else np.zeros(0)


def _jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian (step scaled to each parameter, as lavaan's)."""
    f0 = f(x)
    J = np.zeros((len(f0), len(x)))
    for k in range(len(x)):
        h = 1e-6 * max(1.0, abs(x[k]))
        e = np.zeros_like(x)
        e[k] = h
        J[:, k] = (f(x + e) - f(x - e)) / (2 * h)
    return J


def defined_table(
    fit, std_free: Callable[[np.ndarray], np.ndarray], level: float = 0.95
) -> pd.DataFrame:
    """The ``:=`` rows of a fit: est, se, z, pvalue, CI, ``std.all`` and ``se.std``.

    ``std_free(theta)`` returns the standardized value of each free parameter (its first
    row's ``std.all``), the input of the standardized defined parameters.
    """
    defined = fit.partable.options.get("defined", [])
    if not defined:
        return pd.DataFrame()
    label_free = _label_free(fit.partable)
    theta, V = fit.theta, fit.vcov
    est = _values(defined, label_free, theta)
    J = _jacobian(lambda x: _values(defined, label_free, x), theta)
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, V, J), 0, None))

    def std_at(x: np.ndarray) -> np.ndarray:
        return _values(defined, label_free, std_free(x))

    std = std_at(theta)
    Js = _jacobian(std_at, theta)
    se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", Js, V, Js), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / np.where(se > 0, se, np.nan)
    crit = stats.norm.ppf(0.5 + level / 2)
    out = pd.DataFrame(
        {
            "lhs": [d[0] for d in defined],
            "op": DEFINED_OP,
            "rhs": [d[1] for d in defined],
            "label": [d[0] for d in defined],
            "est": est,
            "se": se,
            "z": z,
            "pvalue": 2 * stats.norm.sf(np.abs(z)),
            "ci.lower": est - crit * se,
            "ci.upper": est + crit * se,
            "std.all": std,
            "se.std": se_std,
        }
    )
    if fit.n_groups > 1:
        out.insert(3, "block", 0)
        out.insert(4, "group", 0)
    return out
