"""stanet_lib.bench.eval: the ``eval`` benchmark target (quick run) and its synthetic STAViS-layout database."""

import argparse

from stanet_lib.bench.eval import bench_eval, make_synthetic_stavis
from stanet_lib.data.stavis import StavisRoot
from stanet_lib.eval.protocol import EvalOptions, evaluate_db


def test_bench_quick_schema(tmp_path):
    measures, extra = bench_eval(argparse.Namespace(quick=True, work_dir=tmp_path))
    m = measures[0]
    assert m["name"] == "eval_frames_per_s" and m["frames"] == 12 and m["baseline_frames"] == 4
    assert m["unit"] == "frames/s" and m["value"] > 0 and m["baseline_value"] > 0
    assert m["speedup"] == m["value"] / m["baseline_value"]
    # naive and fast runs differ only through random draws: deterministic metrics agree
    for k in ("CC", "SIM", "NSS"):
        assert extra["max_abs_diff_vs_naive"][k] < 1e-9
    assert list(tmp_path.iterdir()) == []  # its scratch folder is gone


def test_synthetic_stavis_database_is_read_by_the_protocol(tmp_path):
    entries = make_synthetic_stavis(tmp_path / "st", "BenchDB", videos=2, nframes=3, gt_size=(36, 64),
                                    pred_size=(20, 20), pred_root=tmp_path / "preds")
    assert [e.name for e in entries] == ["video00", "video01"]
    assert StavisRoot(tmp_path / "st").test_folds("BenchDB", (1,))[1] == entries
    res = evaluate_db(tmp_path / "st", "BenchDB", tmp_path / "preds", (1,), EvalOptions())
    assert res.missing == [] and res.per_video["frames_scored"].tolist() == [3, 3]
    assert res.means["CC"] > 0.3  # the predictions are noisy blobs on the fixated region
