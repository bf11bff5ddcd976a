"""stanet_lib.data.store: frame sets memory-mapped from the cache's frame store, the same frames as the per-video
npz, rebuilt when an npz changes, and a set larger than a RAM budget loaded and trained on without the private
memory growing by the set's size."""

import gc
import os

import numpy as np
import pandas as pd
import pytest
import torch

from stanet_lib.artefacts import write_npz, write_text
from stanet_lib.data import cache
from stanet_lib.data.frames import FrameDataset, crop_window, load_frameset, resized_frames
from stanet_lib.data.loaders import make_loader


def fake_cache(root, clips: int, t: int, size: int, seed: int = 0) -> None:
    """A cache folder in the data stage's layout (index.csv + one npz per clip) with random frames."""
    rng = np.random.default_rng(seed)
    recs = []
    for c in range(clips):
        vid = f"v{c:03d}"
        frames = rng.integers(0, 256, (t, size, size, 3), dtype=np.uint8)
        audio = rng.standard_normal((t, 4, 5)).astype(np.float16)
        write_npz(root / "ave" / f"{vid}.npz", frames=frames, times=np.arange(t) / 4.0, audio=audio,
                  audio_present=np.bool_(c % 2 == 0), duration=np.float64(t / 4.0), meta=np.str_("{}"))
        recs.append({"source": "ave", "db": "AVE", "video": vid, "row": c, "category": f"k{c % 2}", "label": c % 2,
                     "split": "train" if c < clips - 1 else "val", "folds": "", "n_frames": t, "fps": 4.0,
                     "t_first": 0.0, "t_last": (t - 1) / 4.0, "frame_start": 0, "frame_stop": t,
                     "audio_present": c % 2 == 0, "event_start": 0.0, "event_end": t / 4.0,
                     "duplicate_id": False, "npz": f"ave/{vid}.npz", "status": "ok", "message": ""})
    write_text(root / "index.csv", pd.DataFrame(recs, columns=cache.INDEX_COLUMNS).to_csv(index=False))


def rss_anon_mb() -> float:
    """This process's private resident memory (``RssAnon`` of /proc/self/status; file maps do not count)."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))
    return kb / 1024


def mapped_file(address: int) -> str:
    """The file whose memory map holds ``address`` in this process (/proc/self/maps), or "" (anonymous)."""
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(v, 16) for v in parts[0].split("-"))
            if lo <= address < hi:
                return parts[5] if len(parts) > 5 else ""
    return ""


def test_store_holds_the_npz_frames_memory_mapped(tmp_path):
    fake_cache(tmp_path, clips=4, t=5, size=8)
    fs = load_frameset(tmp_path, "ave", ("train",), window_s=None)
    assert mapped_file(fs.frames.data_ptr()).endswith("store/ave_train.frames.npy")
    assert mapped_file(fs.audio.data_ptr()).endswith("store/ave_train.audio.npy")
    assert len(fs) == 15 and fs.frames.dtype == torch.uint8 and fs.audio.dtype == torch.float16
    for clip, (video, rows) in enumerate(fs.clips()):
        c = cache.load_clip(tmp_path, clip)
        assert video == c["video"]
        assert np.array_equal(fs.frames[rows].numpy(), c["frames"])
        assert np.array_equal(fs.audio[rows].numpy(), c["audio"])
        assert fs.prev[rows].tolist() == [rows[0], *rows[:-1]] and fs.next[rows].tolist() == [*rows[1:], rows[-1]]
    assert fs.labels.tolist() == [0] * 5 + [1] * 5 + [0] * 5
    assert fs.audio_present.tolist() == [True] * 5 + [False] * 5 + [True] * 5
    assert list(fs.meta.columns) == ["source", "db", "video", "row", "split", "clip", "pos", "time", "number"]
    # reopened: the same files, not rewritten; a changed npz rebuilds the store
    stamp = os.stat(f"{fs.store}.frames.npy").st_mtime_ns
    assert os.stat(f"{load_frameset(tmp_path, 'ave', ('train',)).store}.frames.npy").st_mtime_ns == stamp
    z = dict(np.load(tmp_path / "ave" / "v001.npz"))
    z["frames"] = np.zeros_like(z["frames"])
    write_npz(tmp_path / "ave" / "v001.npz", **z)
    again = load_frameset(tmp_path, "ave", ("train",))
    assert int(again.frames[5:10].max()) == 0 and torch.equal(again.frames[:5], fs.frames[:5])
    # derived arrays are kept beside the store and equal a resize of the frames in memory
    small = resized_frames(again, 4)
    assert os.path.isfile(f"{again.store}.r4-cpu.npy")
    mem = type(again)(again.frames.clone(), again.audio, again.labels, again.prev, again.next,
                      again.audio_present, again.meta)
    assert torch.equal(small, resized_frames(mem, 4))


def test_a_bad_store_file_is_named(tmp_path):
    fake_cache(tmp_path, clips=2, t=3, size=8)
    fs = load_frameset(tmp_path, "ave", ("train",))
    with open(f"{fs.store}.frames.npy", "wb") as f:
        f.write(b"not an array")
    with pytest.raises(ValueError, match=r"ave_train\.frames\.npy: not a readable \.npy"):
        load_frameset(tmp_path, "ave", ("train",))


def train_one_epoch(fs) -> int:
    """One epoch of a tiny classifier over the set's frames through the package's loader; frames seen."""
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ds = FrameDataset("S", fs.frames.permute(0, 3, 1, 2), targets=fs.labels)
    seen = 0
    for batch in make_loader(ds, batch_size=20, shuffle=True, seed=0):
        x = batch["frames"].float().mean((2, 3)) / 255.0  # (B, 3)
        loss = torch.nn.functional.cross_entropy(model(x), batch["target"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(batch["target"])
    return seen


def test_a_set_over_the_ram_budget_trains_memory_mapped(tmp_path):
    torch.manual_seed(0)
    fake_cache(tmp_path / "small", clips=3, t=40, size=128, seed=1)
    train_one_epoch(load_frameset(tmp_path / "small", "ave", ("train",)))  # torch's one-off allocations
    fake_cache(tmp_path / "big", clips=33, t=40, size=128)  # 1,280 training frames of 48 KiB: 60 MiB of frames
    set_mb, budget_mb = 32 * 40 * 128 * 128 * 3 / 2**20, 24.0
    assert set_mb > 2 * budget_mb
    gc.collect()
    before = rss_anon_mb()
    fs = load_frameset(tmp_path / "big", "ave", ("train",))  # builds the store, one clip in memory at a time
    seen = train_one_epoch(fs)
    gc.collect()
    growth = rss_anon_mb() - before
    assert seen == len(fs) == 1280
    assert growth < budget_mb, f"private memory grew {growth:.1f} MiB for a {set_mb:.0f} MiB set"


def test_resize_to_the_canvas_is_a_view_of_the_store(tmp_path):
    fake_cache(tmp_path, clips=2, t=3, size=8)
    fs = load_frameset(tmp_path, "ave", ("train",))
    view = resized_frames(fs, 8)
    mem = type(fs)(fs.frames.clone(), fs.audio, fs.labels, fs.prev, fs.next, fs.audio_present, fs.meta)
    computed = resized_frames(mem, 8)
    assert torch.equal(view, computed) and view.stride() == computed.stride()
    assert view.data_ptr() == fs.frames.data_ptr()  # no copy, no file
    assert not os.path.exists(f"{fs.store}.r8-cpu.npy")


def test_fine_crops_of_a_stored_set_are_memory_mapped_and_follow_the_boxes(tmp_path):
    fake_cache(tmp_path, clips=4, t=5, size=16)
    fs = load_frameset(tmp_path, "ave", ("train",), window_s=None)
    boxes = torch.tensor([[0, 15, 0, 15], [2, 9, 3, 12], [4, 13, 1, 8]]).repeat(5, 1)  # (15, 4)
    in_ram = crop_window(fs, boxes, 8)
    prefix = tmp_path / "runs" / "crops8_train"
    mapped = crop_window(fs, boxes, 8, path=prefix, chunk=4)  # written 4 frames at a time
    for part, a, b in zip(("prev", "centre", "next"), in_ram, mapped, strict=True):
        assert mapped_file(b.data_ptr()).endswith(f"crops8_train.{part}.npy")
        assert b.shape == (15, 3, 8, 8) and torch.equal(a, b), part
    stamp = (tmp_path / "runs" / "crops8_train.centre.npy").stat().st_mtime_ns
    assert torch.equal(crop_window(fs, boxes, 8, path=prefix)[1], mapped[1])  # the same boxes: opened again
    assert (tmp_path / "runs" / "crops8_train.centre.npy").stat().st_mtime_ns == stamp
    other = boxes.flip(0).contiguous()  # other boxes: made again, never the old crops
    assert torch.equal(crop_window(fs, other, 8, path=prefix, window="own")[1], crop_window(fs, other, 8)[1])
