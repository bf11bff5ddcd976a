"""``python -m stanet_lib bench [targets]``: every benchmark target (speed and memory are checked here, never by
timed tests). :mod:`~stanet_lib.bench.runner` (the command and the JSON schema), :mod:`~stanet_lib.bench.perf`
(FLOPs, timers, peaks, the naive baselines' settings), one module per target group: ``data``, ``eval``, ``viewer``,
``infer`` (target ``sta``), ``train`` (targets ``train``, ``loader``), ``scam``.
"""

from .perf import measure
from .runner import TARGETS, run_cli, write_report

__all__ = ["TARGETS", "measure", "write_report", "run_cli"]
