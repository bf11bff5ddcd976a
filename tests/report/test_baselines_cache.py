"""stanet_lib.report.results.baseline_results: the baselines' per-video table is reused only for the same test
frames, evaluation options and STAViS files; a table an earlier world left (other videos, other fixations under
the same names) is scored again."""

import dataclasses
import os
import shutil

from stanet_lib.report import results
from stanet_lib.stages.world import World


def test_baselines_are_reused_for_the_same_data_and_scored_again_when_it_changes(smoke_world, tmp_path, monkeypatch):
    root = tmp_path / "stavis"
    shutil.copytree(smoke_world.stavis_root, root)
    monkeypatch.setattr(World, "stavis_root", property(lambda self: root))
    world = dataclasses.replace(smoke_world, runs=tmp_path / "runs")
    calls = []
    real = results.evaluate_db
    monkeypatch.setattr(results, "evaluate_db", lambda *a, **k: calls.append(1) or real(*a, **k))
    quiet = lambda *_: None  # noqa: E731
    first = results.baseline_results(world, kinds=("centre",), log=quiet)
    n_sets = len(world.test_sets())
    assert len(calls) == n_sets
    again = results.baseline_results(world, kinds=("centre",), log=quiet)
    assert len(calls) == n_sets  # the same data: the table is reused
    assert again["centre bias"].equals(first["centre bias"])
    # a table left without its key (an earlier version, or a crash before the key was written): scored again
    (world.runs / "tables" / "baselines_per_video.csv.json").unlink()
    results.baseline_results(world, kinds=("centre",), log=quiet)
    assert len(calls) == 2 * n_sets
    # a regenerated world: one fixation file rewritten under the same name
    fix = next(p for p in sorted(root.rglob("*")) if p.is_file() and "annotations" in p.parts)
    st = fix.stat()
    os.utime(fix, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    results.baseline_results(world, kinds=("centre",), log=quiet)
    assert len(calls) == 3 * n_sets
