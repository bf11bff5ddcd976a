"""Writing media in the real formats: h264 + AAC mp4 (PyAV, FFmpeg bundled), PCM wav, JPEG frames.

Used by the synthetic-world generator, by ``predict`` (overlay videos) and by tests that need bad inputs.
All writers are atomic (temporary file + rename).
"""

from __future__ import annotations

import fractions
import wave
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ..artefacts import atomic_path


def write_mp4(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = 22050,
    crf: int = 18,
    pts_seconds: np.ndarray | None = None,
) -> Path:
    """Encode ``frames`` (T, H, W, 3) uint8 as h264 (yuv420p) and ``audio`` (N,) or (N, C) float in [-1, 1]
    as AAC into an mp4.

    Args:
        pts_seconds: optional per-frame presentation times (variable frame rate); default ``k / fps``.
    """

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"{path}: h264/yuv420p needs even width and height, got {w}x{h}")
    rate = fractions.Fraction(fps).limit_denominator(1001)
    time_base = fractions.Fraction(1, 90000)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            vs = out.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.time_base = time_base
            vs.options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency"}
            a_stream = None
            if audio is not None:
                a = np.asarray(audio, dtype=np.float32)
                a = a[:, None] if a.ndim == 1 else a
                layout = "mono" if a.shape[1] == 1 else "stereo"
                a_stream = out.add_stream("aac", rate=sample_rate, layout=layout)
            for k in range(t):
                frame = av.VideoFrame.from_ndarray(frames[k], format="rgb24")
                sec = float(pts_seconds[k]) if pts_seconds is not None else k / float(rate)
                frame.pts = int(round(sec / time_base))
                frame.time_base = time_base
                for packet in vs.encode(frame):
                    out.mux(packet)
            for packet in vs.encode():
                out.mux(packet)
            if a_stream is not None:
                _encode_audio(out, a_stream, np.clip(a, -1, 1), sample_rate)
    return Path(path)


def _encode_audio(out, stream, audio: np.ndarray, sample_rate: int) -> None:

    chunk = 1024
    planar = np.ascontiguousarray(audio.T)  # (C, N) for fltp
    layout = "mono" if audio.shape[1] == 1 else "stereo"
    for start in range(0, planar.shape[1], chunk):
        block = np.ascontiguousarray(planar[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """16-bit PCM wav; ``audio`` (N,) or (N, C) float in [-1, 1]."""
    a = np.asarray(audio, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    pcm = (np.clip(a, -1, 1) * 32767).round().astype("<i2")
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as wf:
            wf.setnchannels(pcm.shape[1])
            wf.setsampwidth(2)
            wf.setframerate(int(sample_rate))
            wf.writeframes(pcm.tobytes())
    return Path(path)


def write_jpeg(path: str | Path, image: np.ndarray, quality: int = 95) -> Path:
    """Write a (H, W) or (H, W, 3) uint8 image as JPEG."""

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 image, got {arr.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="JPEG", quality=quality)
    return Path(path)
