"""Notebook parameters: an unknown or mistyped papermill parameter is an error, not a warning.

papermill only warns when ``-p NAME value`` names no parameter of the notebook and then runs it with the
defaults (``-p profile smoke`` runs the demo). Every stage notebook therefore calls :func:`check_parameters`
first in the cell after its parameters cell. The check needs no list of names: the parameters cell declares
each parameter with an annotation (``PROFILE: str = "demo"``), which Python records in the namespace's
``__annotations__``, while papermill's injected cell assigns without one (``PROFILE = "smoke"``). So a data
value (str, number, bool, list, dict, None) in the namespace that is not annotated was injected under a name
the notebook does not have; names the kernel put there itself (IPython's ``user_ns_hidden``), private names,
modules, functions and classes (the imports above) are not parameters. The check runs once per kernel (it
marks the namespace): running the cell again in JupyterLab, after later cells have defined names of their own,
does not raise.

:data:`PIPELINE_PARAMETERS` are the parameters the pipeline (``python -m stanet_lib run``) passes to every
notebook; each notebook declares all of them (a test checks it).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

__all__ = ["PIPELINE_PARAMETERS", "ParameterError", "check_parameters"]

#: The parameters the pipeline passes to every stage notebook (each notebook declares them all).
PIPELINE_PARAMETERS: tuple[str, ...] = ("PROFILE", "SEED", "DATA_ROOT", "AVE_ROOT", "STAVIS_ROOT", "REPORTS_DIR",
                                        "OVERRIDES", "SMOKE")
_CHECKED = "_stanet_parameters_checked"
_DATA = (str, int, float, bool, list, dict, tuple, type(None))


class ParameterError(ValueError):
    """A notebook was given a parameter it does not have, or a value of the wrong type."""


def _type_problem(name: str, value: Any, annotation: Any) -> str | None:
    if not isinstance(annotation, type) or annotation not in (str, int, float, bool):
        return None  # only the simple literal types of a parameters cell are checked
    ok = isinstance(value, annotation) and not (isinstance(value, bool) and annotation is not bool)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    return None if ok else f"{name} must be {annotation.__name__}, got {type(value).__name__} {value!r}"


def check_parameters(namespace: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> list[str]:
    """Raise :class:`ParameterError` when ``namespace`` (a notebook's ``globals()``) holds a parameter the
    notebook does not declare, or a declared one of the wrong type; return the declared names otherwise.

    Args:
        namespace: the notebook's globals after papermill's injected cell.
        hidden: names the kernel defined itself (default: IPython's ``user_ns_hidden`` when running in IPython).

    Example:
        >>> check_parameters({"__annotations__": {"PROFILE": str}, "PROFILE": "smoke"})
        ['PROFILE']
    """
    declared = dict(namespace.get("__annotations__", {}))
    if namespace.get(_CHECKED):
        return list(declared)
    if hidden is None:
        ip = namespace.get("get_ipython")
        hidden = getattr(ip(), "user_ns_hidden", {}) if callable(ip) else {}
    unknown = sorted(n for n, v in namespace.items() if not n.startswith("_") and n not in hidden
                     and n not in declared and isinstance(v, _DATA))
    problems = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), list(declared), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"unknown parameter {name!r}{hint}")
    problems += [p for n, t in declared.items() if n in namespace
                 for p in [_type_problem(n, namespace[n], t)] if p]
    if problems:
        raise ParameterError("; ".join(problems) + f". This notebook's parameters: {', '.join(declared)}")
    if isinstance(namespace, dict):
        namespace[_CHECKED] = True
    return list(declared)
