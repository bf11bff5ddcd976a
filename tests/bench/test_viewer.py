"""stanet_lib.bench.viewer: the ``viewer`` benchmark target on the session's smoke world (stand-in maps)."""

import argparse

from stanet_lib.bench.viewer import bench_viewer


def test_bench_viewer_reports_redraw_times(smoke_data_root, tmp_path):
    root = smoke_data_root
    args = argparse.Namespace(profile="smoke", data_root=root, quick=True, work_dir=tmp_path)
    measures, extra = bench_viewer(args)
    names = {m["name"]: m for m in measures}
    assert {"slider_step_all_layers_ms", "slider_step_one_layer_ms", "slider_step_side_by_side_ms"} <= set(names)
    assert all(m["value"] > 0 and m["unit"] == "ms" for m in measures)
    assert extra["maps"].startswith("stand-in")
