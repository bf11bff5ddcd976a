"""Shared fixtures. ``smoke_pipeline`` runs every stage notebook once per test session at the ``smoke``
profile through papermill (the same path as ``make reproduce``), into a temporary data root and reports folder;
tests of later stages read its artefacts instead of training again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class SmokePipeline:
    data_root: Path
    reports: Path
    report: object  # pipeline.RunReport
    logs: list


@pytest.fixture(scope="module")
def one_thread():
    """Tiny nets on a shared 2-core machine: one intra-op thread is several times faster than two contended
    ones. Module-scoped and restored afterwards (the library itself leaves threading alone)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smoke_pipeline(tmp_path_factory) -> SmokePipeline:
    from stanet_lib import pipeline

    base = tmp_path_factory.mktemp("smoke_pipeline")
    params = {"SMOKE": True, "DATA_ROOT": str(base / "data"), "REPORTS_DIR": str(base / "reports"),
              "OVERRIDES": "train.progress=false"}
    logs: list = []
    report = pipeline.run("smoke", params, base / "reports", log=logs.append)
    return SmokePipeline(base / "data", base / "reports", report, logs)


@pytest.fixture(scope="session")
def smoke_data_root(tmp_path_factory) -> Path:
    """A data root holding the smoke synthetic world and its cache (no trained stage), built once per session
    by :func:`stanet_lib.stages.open_world` as a stage notebook opened alone would."""
    from stanet_lib.config import load_profile
    from stanet_lib.stages import open_world

    root = tmp_path_factory.mktemp("smoke_data") / "data"
    open_world(load_profile("smoke"), root, load=False, log=lambda m: None)
    return root
