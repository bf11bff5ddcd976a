"""stanet_lib.bench.scale: the private-memory probe of a process tree and the scaled worlds' configs (the benchmark
itself runs from the command line: ``python -m stanet_lib bench scale``)."""

import subprocess
import sys
import time

from stanet_lib.bench.scale import BASE_CLIPS, rss_anon_tree_mb, scale_config, time_and_memory_checks


def test_private_memory_of_a_process_tree_counts_children_not_file_maps(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\1" * (64 << 20))
    # a parent that maps and reads a 64 MiB file (file pages: not private) and a child that allocates 48 MiB
    code = ("import mmap, subprocess, sys, time\n"
            f"f = open({str(big)!r}, 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); sum(m[::4096])\n"
            "c = subprocess.Popen([sys.executable, '-c', 'b = bytearray(48 << 20); import time; time.sleep(30)'])\n"
            "print('ready', flush=True); time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        mb = rss_anon_tree_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert 48 <= mb < 48 + 40, mb  # the child's 48 MiB and two interpreters, not the 64 MiB file


def test_scaled_worlds_multiply_the_base_clip_counts():
    for s in (1, 4, 16):
        cfg = scale_config(s)
        assert cfg.synth.clips_per_class == {k: v * s for k, v in BASE_CLIPS.items()}
        assert cfg.train.epochs == 1 and cfg.profile == "smoke"


def test_the_checks_take_the_work_time_against_the_frames_and_the_memory_growth():
    small = {"frames": 1000, "work_s": 10.0, "wall_s": 40.0, "peak_private_mb": 400.0}
    linear = {"frames": 4000, "work_s": 42.0, "wall_s": 71.0, "peak_private_mb": 500.0}
    c = time_and_memory_checks(small, linear)
    assert c["time_about_linear"] and c["time_linearity"] == 1.05 and c["wall_time_ratio"] == 1.77
    assert c["memory_growth"] == 0.25 and c["memory_growth_at_most_30pct"]
    worse = time_and_memory_checks(small, {**linear, "work_s": 160.0, "peak_private_mb": 560.0})
    assert not worse["time_about_linear"] and not worse["memory_growth_at_most_30pct"]
    assert not time_and_memory_checks(small, {**linear, "work_s": 20.0})["time_about_linear"]  # too flat as well
