"""Content digests of input files, the package's output marker, the clean-up of killed runs' folders and the lock
of a data root (:mod:`stanet_lib.artefacts`)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stanet_lib.artefacts import (
    DataRootLock,
    LockHeld,
    clean_partials,
    file_fingerprint,
    is_package_output,
    mark_output,
    open_npz,
    pid_alive,
    run_key,
    write_npz,
    write_npz_streamed,
)
from stanet_lib.config import load_profile


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_fingerprint_is_the_content_not_the_file_time(tmp_path):
    cache = tmp_path / "digests"
    a = tmp_path / "a.bin"
    a.write_bytes(b"same bytes")
    first = file_fingerprint(a, cache)
    os.utime(a, ns=(1, 1))  # a byte-identical rewrite: another mtime
    assert file_fingerprint(a, cache) == first
    copy = tmp_path / "copy" / "a.bin"
    copy.parent.mkdir()
    shutil.copy(a, copy)  # cp -r data/
    assert file_fingerprint(copy, cache) == first
    a.write_bytes(b"other bytes")
    assert file_fingerprint(a, cache) != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "copy", "digests"]  # nothing beside the input


def test_fingerprint_cache_is_used_and_survives_an_unwritable_cache(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"x" * 100)
    cache = tmp_path / "digests"
    sha = file_fingerprint(a, cache)
    (entry,) = cache.iterdir()
    entry.write_text("f" * 64)  # a cached digest is trusted while size, mtime and inode are unchanged
    assert file_fingerprint(a, cache) == "f" * 64
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    assert file_fingerprint(a, blocked) == sha


def test_marker_and_partials(tmp_path):
    assert not is_package_output(tmp_path / "nothing") and not is_package_output(tmp_path)
    mark_output(tmp_path)
    assert is_package_output(tmp_path)
    dead = _dead_pid()

    def marked(name: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        mark_output(path)
        return path

    ours, old = marked(f".out.partial-{dead}"), marked(f".out.old-{dead}")
    users = tmp_path / f".out.partial-{dead + 1}"  # no marker: never removed
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    live, other = marked(f".out.partial-{os.getppid()}"), marked(f".other.partial-{dead}")
    removed = clean_partials(tmp_path, "out", log=lambda m: None)
    assert sorted(removed) == sorted([ours, old])
    assert users.exists() and live.exists() and other.exists()
    assert pid_alive(os.getpid()) and not pid_alive(dead) and not pid_alive(0)


def test_lock_refuses_a_second_holder_and_takes_over_a_stale_one(tmp_path):
    with DataRootLock(tmp_path, "run --profile demo") as lock:
        holder = lock.holder()
        assert holder["pid"] == os.getpid() and holder["what"] == "run --profile demo"
        with pytest.raises(LockHeld, match=rf"pid {os.getpid()} .*run --profile demo"):
            DataRootLock(tmp_path, "run --profile smoke").acquire()
    assert not (tmp_path / ".stanet.lock").exists()
    (tmp_path / ".stanet.lock").write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    with DataRootLock(tmp_path, "again"):  # a killed run's lock
        assert DataRootLock(tmp_path).holder()["what"] == "again"
    (tmp_path / ".stanet.lock").write_text("{not json")
    with DataRootLock(tmp_path, "after garbage"):
        pass


def test_a_streamed_npz_is_what_savez_writes_and_opens_memory_mapped(tmp_path):
    rng = np.random.default_rng(0)
    maps = rng.random((40, 6, 6)).astype(np.float16)
    names = np.array([f"v{i // 10}" for i in range(40)])
    write_npz(tmp_path / "whole.npz", maps=maps, video=names)
    write_npz_streamed(tmp_path / "streamed.npz", [
        ("maps", maps.dtype, maps.shape, lambda: (maps[i : i + 7] for i in range(0, 40, 7))),
        ("video", names.dtype, names.shape, lambda: iter([names[:25], names[25:]]))])
    with np.load(tmp_path / "streamed.npz") as z:  # numpy reads it as its own
        assert np.array_equal(z["maps"], maps) and np.array_equal(z["video"], names)
    for name in ("whole.npz", "streamed.npz"):
        opened = open_npz(tmp_path / name, mmap_from=1024)
        assert isinstance(opened["maps"], np.memmap) and not isinstance(opened["video"], np.memmap)
        assert np.array_equal(opened["maps"], maps) and np.array_equal(opened["video"], names)
        assert Path(opened["maps"].filename).name == name


def test_a_streamed_npz_with_missing_or_misshapen_rows_is_not_written(tmp_path):
    a = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match="member a: 7 rows written, the shape says"):
        write_npz_streamed(tmp_path / "x.npz", [("a", a.dtype, a.shape, lambda: iter([a[:7]]))])
    with pytest.raises(ValueError, match=r"a block of shape \(10, 2\)"):
        write_npz_streamed(tmp_path / "x.npz", [("a", a.dtype, a.shape, lambda: iter([a[:, :2]]))])
    assert list(tmp_path.iterdir()) == []  # nothing half-written under the name or beside it


def test_run_key_leaves_out_the_switch_smoothing():
    """model.switch_smoothing_s reaches a net only through its p_switch data (a run key's parts), so a net that
    takes no p_switch (S, ST, the switch itself) keeps its trained weights when only the smoothing changes."""
    cfg = load_profile("smoke")
    assert run_key(cfg, "S", 1) == run_key(cfg.override(**{"model.switch_smoothing_s": 0.5}), "S", 1)
    assert run_key(cfg, "S", 1) != run_key(cfg.override(**{"model.width": cfg.model.width * 2}), "S", 1)
    assert run_key(cfg, "S", 1) != run_key(cfg, "S", 2)
