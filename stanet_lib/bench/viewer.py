"""Benchmark target ``viewer``: redraw time of the fixation viewer on the smoke world.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..viz import layers as L
from ..viz.viewer import viewer
from .perf import measure


def bench_viewer(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Redraw time of one slider step on the profile's world (``bench`` target ``viewer``).

    Uses the real maps when the pipeline wrote them, else stand-in maps in the same format
    (:func:`layers.example_world`, in a scratch folder) so that every layer is drawn. Measures: a slider
    step with all layers on, with one prediction layer, in side-by-side mode, and switching video.
    """

    world = L.as_world(getattr(args, "data_root", None), args.profile)  # default: the project's data/
    steps = 8 if getattr(args, "quick", False) else 30
    with tempfile.TemporaryDirectory(dir=getattr(args, "work_dir", None)) as tmp:
        real = any(L.maps_file(world, "coarse", db).is_file() for db, _ in L.list_videos(world)[:1])
        if not real:
            world = L.example_world(world, Path(tmp) / "runs")
        v = viewer(world, layers=L.LAYER_NAMES)
        n = len(v.current)

        def steps_ms(label: str) -> dict[str, Any]:
            times = []
            for i in range(1, steps + 1):
                t0 = time.perf_counter()
                v.slider.value = 1 + i % n
                times.append((time.perf_counter() - t0) * 1e3)
            return measure(f"slider_step_{label}_ms", float(np.median(times)), "ms", size=v.size,
                           p95_ms=float(np.percentile(times, 95)), max_ms=float(np.max(times)), steps=steps)

        out = [steps_ms("all_layers")]  # first pass: ground truth and metrics get cached too
        out.append(steps_ms("all_layers_cached"))
        for tb in v.toggles.values():
            tb.value = False
        v.toggles["SCAM_fine"].value = True
        out.append(steps_ms("one_layer"))
        v.side.value = True
        out.append(steps_ms("side_by_side"))
        t0 = time.perf_counter()
        v.video.value = [x for x in v.video.options if x != v.video.value][0]
        out.append(measure("switch_video_ms", (time.perf_counter() - t0) * 1e3, "ms", size=v.size))
    return out, {"maps": "pipeline" if real else "stand-in (layers.example_world)", "frames": n,
                 "canvas": int(v.current.canvas)}
