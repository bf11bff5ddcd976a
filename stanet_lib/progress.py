"""Progress bars: a widget in Jupyter, one updating line in a terminal, one summary line in a log.

Every long loop of the package goes through :func:`bar`, which picks the display for where the code runs
(:func:`mode`):

* ``widget``: a kernel with a notebook frontend (JupyterLab): ``tqdm.notebook``, a bar widget;
* ``terminal``: stderr is a terminal: plain tqdm, one line updated in place;
* ``log``: anything else, above all a papermill run (the pipeline sets ``STANET_PROGRESS=log`` for its kernels,
  and a notebook run by papermill from the shell is recognised by papermill's injected ``# Parameters`` cell): no
  bar at all, and one line on stdout when the loop ends (``prep: 42 videos in 12.3 s``), so an executed
  notebook holds no stderr boxes and no empty bar widgets;
* ``off``: nothing (``enabled=False``, or ``STANET_PROGRESS=off``).

``STANET_PROGRESS`` (``widget``, ``terminal``, ``log``, ``off``) overrides the choice.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm import notebook as tqdm_notebook
from tqdm import std as tqdm_std

__all__ = ["MODES", "ENV", "mode", "bar", "LogBar", "logged"]

MODES = ("widget", "terminal", "log", "off")
ENV = "STANET_PROGRESS"


def _kernel() -> Any:
    """The running IPython kernel shell, or None (plain Python, a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    ip = ipython.get_ipython() if ipython is not None else None
    return ip if ip is not None and type(ip).__name__ == "ZMQInteractiveShell" else None


def _papermill_run(ip: Any) -> bool:
    """Has this kernel executed papermill's injected parameters cell (its source starts with ``# Parameters``)?"""
    return any(str(src).startswith("# Parameters\n") for src in ip.user_ns.get("In", []))


def mode(environ: dict[str, str] | None = None) -> str:
    """Where progress goes now: ``widget``, ``terminal``, ``log`` or ``off`` (see the module)."""
    env = os.environ if environ is None else environ
    forced = env.get(ENV, "")
    if forced:
        if forced not in MODES:
            raise ValueError(f"{ENV}={forced!r}: choose one of {MODES}")
        return forced
    ip = _kernel()
    if ip is not None:
        return "log" if _papermill_run(ip) else "widget"
    return "terminal" if sys.stderr.isatty() else "log"


class LogBar:
    """The ``log`` display: counts like tqdm (iterate, :meth:`update`, :meth:`set_postfix`, a context manager) and
    prints one line when closed: ``<desc>: <n> <unit> in <s> s`` plus the last postfix."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", file: Any = None) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n, self.postfix, self.file, self._t0, self._closed = 0, "", file, time.perf_counter(), False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable or ():
                yield item
                self.n += 1
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items."""
        self.n += n

    def set_postfix(self, **kwargs: Any) -> None:
        """Remember values to print with the summary line (``loss=0.12``)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in kwargs.items())

    def close(self) -> None:
        """Print the summary line (once)."""
        if self._closed:
            return
        self._closed = True
        of = f"/{self.total}" if self.total is not None and self.total != self.n else ""
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}{of} {self.unit} in {time.perf_counter() - self._t0:.1f} s{extra}",
              file=self.file or sys.stdout, flush=True)

    def __enter__(self) -> LogBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Off(LogBar):
    def close(self) -> None:
        self._closed = True


def bar(iterable: Iterable | None = None, total: int | None = None, desc: str = "", unit: str = "it",
        enabled: bool = True, leave: bool = False) -> Any:
    """A progress bar over ``iterable`` (or one to :meth:`update` by hand up to ``total``) for :func:`mode`.

    Example:
        >>> for clip in bar(clips, desc="synth", unit="clip"):
        ...     write(clip)
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    how = mode() if enabled else "off"
    if how == "widget":
        return tqdm_notebook.tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave)
    if how == "terminal":
        return tqdm_std.tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True)
    return (LogBar if how == "log" else _Off)(iterable, total, desc, unit)


@contextlib.contextmanager
def logged() -> Iterator[None]:
    """Within: processes started from here (papermill's kernels) report progress as ``log`` lines, unless
    ``STANET_PROGRESS`` was set already."""
    before = os.environ.get(ENV)
    os.environ[ENV] = before or "log"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
