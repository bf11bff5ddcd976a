"""stanet_lib.bench.scale: the private-memory probe of a process tree and the scaled worlds' configs (the benchmark
itself runs from the command line: ``python -m stanet_lib bench scale``)."""

import subprocess
import sys
import time

from stanet_lib.bench.scale import DEMO_CLIPS, rss_anon_tree_mb, scale_config
from stanet_lib.config import load_profile


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


def test_scaled_worlds_multiply_the_demo_clip_counts():
    assert load_profile("demo").synth.clips_per_class == DEMO_CLIPS
    for s in (1, 4, 16):
        cfg = scale_config(s)
        assert cfg.synth.clips_per_class == {k: v * s for k, v in DEMO_CLIPS.items()}
        assert cfg.train.epochs == 1 and cfg.profile == "smoke"
