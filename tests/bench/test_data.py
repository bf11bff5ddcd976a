"""stanet_lib.bench.data: the ``data`` benchmark target on the session's smoke world."""

import argparse

import pytest

from stanet_lib.bench.data import bench_data
from stanet_lib.config import load_profile


@pytest.mark.slow
def test_bench_data_reuses_the_world_and_measures_prep(smoke_data_root):
    smoke = load_profile("smoke")
    args = argparse.Namespace(profile="smoke", work_dir=smoke_data_root.parent, quick=True)
    measures, extra = bench_data(args)  # the world is there: timed from its manifest, prep redone in a scratch dir
    by_name = {m["name"]: m for m in measures}
    rate = by_name["prep_video_seconds_per_s"]
    assert rate["value"] > 0 and rate["baseline_value"] > 0 and rate["unit"] == "video-s/s"
    assert by_name["prep_single_process_video_seconds_per_s"]["workers"] == 1
    assert by_name["data_stage_wall_s"]["synth_built"] is False
    assert by_name["data_stage_wall_s"]["synth_s_from"] == "world manifest"
    assert by_name["prep_rerun_s"]["up_to_date"] is True
    assert extra["world"] == str(smoke_data_root / "synthetic" / "smoke") and extra["naive_videos"] == 4
    assert extra["counts"]["ave_rows_ok"] == smoke.synth.num_classes * sum(smoke.synth.clips_per_class.values())
    assert sorted(p.name for p in smoke_data_root.parent.iterdir()) == ["data"]  # its scratch folder is gone
