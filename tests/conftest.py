"""Shared fixtures. ``smoke_pipeline`` runs every stage notebook once per test session at the ``smoke``
profile through papermill (the same path as ``make reproduce``), into a temporary data root and reports folder;
tests of later stages read its artefacts (``smoke_world``) instead of training again. ``smoke_data_root`` is
the data stage alone (synthetic world and cache, no trained stage), also built once per session; tests that
write artefacts of their own put them in a runs folder of their own, never into these two roots.

The tests are a package (``tests/__init__.py``, one subpackage per library subpackage): pytest imports them
as ``tests.<sub>.test_<module>`` from the repository root, so the helper modules are imported as
``from tests import media_fixtures as mf`` / ``from tests.stavis_fixtures import make_layout``.
"""

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
def smoke_world(smoke_pipeline):
    """The :class:`~stanet_lib.stages.world.World` of the session's smoke pipeline run, frame sets loaded (read it,
    do not change it: every stage test shares it)."""
    from stanet_lib.config import load_profile
    from stanet_lib.stages.world import open_world

    assert smoke_pipeline.report.ok, [s.message for s in smoke_pipeline.report.stages if s.status == "failed"]
    return open_world(load_profile("smoke"), smoke_pipeline.data_root, build=False)


@pytest.fixture(scope="session")
def smoke_data_root(tmp_path_factory) -> Path:
    """A data root holding the smoke synthetic world and its cache (no trained stage), built once per session
    by :func:`stanet_lib.stages.world.open_world` as a stage notebook opened alone would."""
    from stanet_lib.config import load_profile
    from stanet_lib.stages.world import open_world

    root = tmp_path_factory.mktemp("smoke_data") / "data"
    open_world(load_profile("smoke"), root, load=False, log=lambda m: None)
    return root
