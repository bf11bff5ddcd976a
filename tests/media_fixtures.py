"""Tiny media files for the media, audio and cache tests (48 x 32 px, 1-2 s), good and bad.

Frame ``k`` of a fixture video is a flat grey of level :func:`level` ``(k)`` so a test can tell which frame a
reader picked; the audio is a pure tone so a test can find its frequency.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stanet_lib.data import ave, encode, stavis

W, H = 48, 32


def level(k: int) -> int:
    """Grey level of frame ``k`` (distinct for k < 12, far apart so h264 cannot blur them together)."""
    return 16 + 20 * (k % 12)


def flat_frames(n: int, w: int = W, h: int = H) -> np.ndarray:
    return np.stack([np.full((h, w, 3), level(k), np.uint8) for k in range(n)])  # (T, H, W, 3)


def tone(seconds: float, sr: int, freq: float = 1000.0, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x if channels == 1 else np.stack([x] * channels, axis=1)  # (N,) or (N, C)


def video(path: Path, seconds: float = 1.0, fps: float = 12.0, audio: str = "tone", sr: int = 22050,
          channels: int = 1, freq: float = 1000.0, pts: np.ndarray | None = None) -> Path:
    """``audio``: "tone", "silent" (a track of zeros) or "none" (no audio track)."""
    n = len(pts) if pts is not None else max(1, int(round(seconds * fps)))
    wave = None
    if audio == "tone":
        wave = tone(seconds, sr, freq, channels)
    elif audio == "silent":
        wave = np.zeros((int(seconds * sr), channels) if channels > 1 else int(seconds * sr), np.float32)
    return encode.write_mp4(path, flat_frames(n), fps, wave, sample_rate=sr, pts_seconds=pts)


def corrupt(path: Path) -> Path:
    """Bytes that are no container at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return path


def truncated(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of an mp4's bytes (the index is at the end, so nothing opens)."""
    data = src.read_bytes()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def faststart_truncated(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    """Remux with the index first (``movflags=faststart``) and cut: it opens and decodes until the cut."""
    import av

    full = dst.with_name(dst.stem + ".full.mp4")
    dst.parent.mkdir(parents=True, exist_ok=True)
    opts = {"movflags": "faststart"}
    with av.open(str(src)) as i, av.open(str(full), "w", format="mp4", options=opts) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for packet in i.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            o.mux(packet)
    data = full.read_bytes()
    full.unlink()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def ave_world(root: Path, rows: list[tuple[str, str, float, float, str]], seconds: float = 1.0,
              fps: float = 12.0, make_videos: bool = True) -> Path:
    """An AVE-layout root: ``rows`` = (category, video_id, start, end, split); one tone video per id."""
    import pandas as pd

    df = pd.DataFrame([(c, v, "good", s, e) for c, v, s, e, _ in rows],
                      columns=["category", "video_id", "quality", "start", "end"])
    ave.write_annotation_file(root / "Annotations.txt", df, header=True)
    for split, fname in ave.SPLIT_FILES.items():
        ave.write_annotation_file(root / fname, df[[r[4] == split for r in rows]], header=False)
    if make_videos:
        cats = list(dict.fromkeys(r[0] for r in rows))
        for c, v, *_ in rows:
            path = ave.video_path(root, v)
            if not path.exists():
                video(path, seconds, fps, freq=500.0 + 250.0 * cats.index(c))
    return root


def stavis_world(root: Path, dbs: dict[str, tuple[int, int, float, int, int]], folds: int = 2,
                 sr: int = 16000) -> Path:
    """A STAViS-layout root; ``dbs``: name -> (width, height, fps, videos, frames).

    Video ``i`` of each database is in test fold ``i % folds + 1``; every frame has a JPEG, a ``fixMap`` and a
    ``maps/eyeMap``.
    """
    sroot = stavis.StavisRoot(root)
    for db, (w, h, fps, nvid, nfr) in dbs.items():
        lists: dict[int, list[str]] = {k: [] for k in range(1, folds + 1)}
        for i in range(nvid):
            name = f"{db}_v{i:02d}"
            frames = flat_frames(nfr, w, h)
            for j in range(1, nfr + 1):
                encode.write_jpeg(sroot.frame_path(db, name, j), frames[j - 1])
                fix = np.zeros((h, w), np.uint8)
                fix[h // 2, (j * 3) % w] = 1
                stavis.save_fixation_map(sroot.fixation_path(db, name, j), fix)
                encode.write_jpeg(sroot.map_path(db, name, j), (fix * 255).astype(np.uint8))
            encode.write_wav(sroot.audio_path(db, name), tone(nfr / fps, sr, 700.0), sr)
            lists[i % folds + 1].append(f"{name} {nfr} {fps:g}")
        for k, lines in lists.items():
            path = sroot.fold_dir / f"{db}_list_test_{k}_fps.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines))
    return root
