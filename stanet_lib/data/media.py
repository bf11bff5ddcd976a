"""Decoding: video frames chosen by timestamp, audio as 16 kHz mono, STAViS frame folders (PyAV, Pillow).

Conventions (``reference/original_code_audit.md`` §1.2-1.3):

* **Frames by timestamp.** A clip span ``[start, end)`` sampled at ``fps`` gives
  ``n = floor((end - start) * fps)`` target times ``t_k = start + (k + 0.5) / fps``; the frame shown at
  ``t_k`` is the last decoded frame whose presentation time is ``<= t_k`` (the first frame when ``t_k``
  precedes it).
  This is exact for variable frame rate files, where counting frames is not. A span shorter than ``1 / fps``
  (e.g. a one-frame video) gives one frame, at the span's midpoint. The released code took every native frame
  (audit §1.2); here ``fps`` is a config value.
* **Resize.** To a square ``size`` canvas, aspect ratio not kept (as ``cv.resize(frame, (400, 400))`` in the
  released ``generateframe.py``), with Pillow's bilinear filter, which widens its support when it shrinks an
  image (antialiased). The same function resizes mp4 frames and STAViS JPEG frames.
* **Audio.** Every channel layout and sample format is read through PyAV, resampled per channel to
  ``sample_rate`` by FFmpeg's swresample (windowed-sinc filter, in C; ``torchaudio.functional.resample``
  gives the same tone frequencies but was 8x slower here, mostly rebuilding its kernel on every call) and
  averaged to mono (``np.mean`` over channels, as ``audiostft.py``; both steps are linear, so their order does
  not matter). Sample 0 is time 0 of the file (a stream that starts late is padded, one that starts early is
  trimmed), so audio and frame times share one clock. A file without an audio track gives zeros of the
  clip's duration and ``present=False``; a silent track is ``present=True``.
* **Truncated files.** An mp4 cut before its index (``moov`` at the end, the usual case) cannot be opened:
  :class:`MediaError`. One whose index survives (``faststart``) decodes up to the cut: by default that is
  also a :class:`MediaError` (``on_truncated="error"``: a clip that silently freezes would teach the nets
  wrong frame/audio pairs); ``on_truncated="keep"`` keeps the decoded part, drops the target times after it
  and emits a :class:`MediaWarning` (the data stage counts it).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

_FRAME_RE = re.compile(r"^img_(\d{5})\.jpg$")


class MediaError(ValueError):
    """A media file cannot be decoded; the message names the file and what is wrong."""


class NotAVideoError(MediaError):
    """The file decodes, but as a still image or a single frame: not a video (:func:`not_a_video`)."""


class MediaWarning(UserWarning):
    """A media file was only partly decodable and the decodable part was kept."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` reads from a container's header (no decoding)."""

    path: str
    width: int
    height: int
    fps: float  # average frame rate of the video stream
    duration: float  # seconds, video stream (container duration when the stream has none)
    n_frames: int  # from the header; 0 when the container does not say
    has_audio: bool
    audio_rate: int  # 0 without audio
    audio_channels: int  # 0 without audio


@dataclass(frozen=True)
class AudioInfo:
    """Where a wave returned by :func:`read_audio` came from."""

    path: str
    source_rate: int  # 0 when there is no audio track
    channels: int
    sample_rate: int  # rate of the returned wave
    duration: float  # seconds of the returned wave


def _open(path: str | Path) -> Any:

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"{path}: not a readable media file, corrupt or truncated ({exc})") from exc


def _video_duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        return start + float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return 0.0


def probe(path: str | Path) -> VideoInfo:
    """Header facts of a video file.

    Raises:
        MediaError: the file is missing, not a media file, or has no video stream.
    """
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(f"{path}: no video stream")
        vs = c.streams.video[0]
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        aus = c.streams.audio[0] if c.streams.audio else None
        return VideoInfo(
            path=str(path),
            width=int(vs.codec_context.width),
            height=int(vs.codec_context.height),
            fps=float(rate) if rate else 0.0,
            duration=_video_duration(c, vs),
            n_frames=int(vs.frames or 0),
            has_audio=aus is not None,
            audio_rate=int(aus.rate) if aus is not None else 0,
            audio_channels=int(aus.channels) if aus is not None else 0,
        )


def not_a_video(info: VideoInfo) -> str:
    """Why a file that decodes is not a video ("" when it is one): no duration (a still image, e.g. a PNG or JPEG
    named ``.mp4``, which FFmpeg reads as a 0 s stream of one frame) or a single frame."""
    if info.duration <= 0:
        return "a still image or a stream without duration (0 s, one frame), not a video"
    if info.n_frames == 1 or (info.fps > 0 and info.duration * info.fps < 1.5):
        return f"a single frame ({info.duration:.3f} s), not a video"
    return ""


def target_times(start: float, end: float, fps: float) -> np.ndarray:
    """``t_k = start + (k + 0.5) / fps`` for ``k < floor((end - start) * fps)``; one midpoint if that is 0."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if end < start:
        raise ValueError(f"span ends before it starts: [{start}, {end})")
    n = int(math.floor((end - start) * fps + 1e-9))
    if n == 0:
        return np.array([start + (end - start) / 2.0])
    return start + (np.arange(n, dtype=np.float64) + 0.5) / fps


def resize_square(image: np.ndarray, size: int | None) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8 with Pillow's bilinear filter (antialiased when shrinking).

    ``size=None`` returns the image unchanged.
    """
    if size is None or image.shape[:2] == (size, size):
        return image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


def read_frames(
    path: str | Path,
    fps: float,
    size: int | None,
    start: float | None = None,
    end: float | None = None,
    *,
    on_truncated: str = "error",
) -> tuple[np.ndarray, np.ndarray]:
    """Frames of a video at ``fps``, chosen by timestamp (module docstring).

    Args:
        path: any container FFmpeg reads (mp4 in AVE).
        fps: sampling rate of the returned frames (not the file's).
        size: square output side; ``None`` keeps the native (H, W).
        start, end: span in seconds; default the whole video stream.
        on_truncated: ``"error"`` or ``"keep"`` (module docstring).

    Returns:
        frames ``(T, S, S, 3)`` uint8 (``(T, H, W, 3)`` when ``size`` is None) and their target times
        ``(T,)`` float64.

    Raises:
        MediaError: missing, corrupt or (with ``on_truncated="error"``) truncated file, or no decodable frame.
    """

    if on_truncated not in ("error", "keep"):
        raise ValueError(f"on_truncated must be 'error' or 'keep', got {on_truncated!r}")
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(f"{path}: no video stream")
        vs = c.streams.video[0]
        declared = _video_duration(c, vs)
        start = 0.0 if start is None else float(start)
        if declared > 0 and start >= declared:
            raise MediaError(f"{path}: requested start {start:.3f} s is at or after the video's end "
                             f"({declared:.3f} s)")
        end = declared if end is None else (min(float(end), declared) if declared > 0 else float(end))
        times = target_times(start, end, fps)
        rate = vs.average_rate or vs.guessed_rate
        frame_dur = 1.0 / float(rate) if rate else 0.0
        to_rgb = VideoReformatter()  # one swscale context per video (a fresh one per frame costs ~1 ms)

        def convert(f: Any) -> np.ndarray:
            return resize_square(to_rgb.reformat(f, format="rgb24").to_ndarray(), size)

        out: list[np.ndarray] = []
        prev, prev_arr, last_t, error = None, None, -math.inf, None
        k = 0
        try:
            for frame in c.decode(vs):
                t = frame.time if frame.time is not None else last_t + frame_dur
                while k < len(times) and t > times[k]:
                    if prev_arr is None:
                        prev_arr = convert(frame if prev is None else prev)
                    out.append(prev_arr)
                    k += 1
                if k >= len(times):
                    break
                prev, prev_arr, last_t = frame, None, t
        except av.FFmpegError as exc:
            error = exc
        if prev is None:
            raise MediaError(f"{path}: no decodable video frame ({error or 'empty stream'})")
        if k < len(times):  # the stream ended before the last target times
            decoded_end = last_t + frame_dur
            short = decoded_end < min(declared, end) - (2 * frame_dur + 0.05)
            if error is not None or short:
                what = f"decoding stopped at {decoded_end:.3f} s of {declared:.3f} s" + (
                    f" ({error})" if error is not None else "")
                if on_truncated == "error":
                    raise MediaError(f"{path}: truncated or corrupt video: {what}")
                warnings.warn(f"{path}: truncated video, kept the decodable part: {what}", MediaWarning,
                              stacklevel=2)
                keep = int(np.searchsorted(times, decoded_end, side="left"))
                times = times[: max(keep, k, 1)]
            last_arr = prev_arr if prev_arr is not None else convert(prev)
            out.extend([last_arr] * (len(times) - k))
    return np.stack(out[: len(times)]), times


def read_audio(
    path: str | Path, sample_rate: int = 16000, *, on_truncated: str = "error"
) -> tuple[np.ndarray, bool, AudioInfo]:
    """Audio of an mp4 or wav as a mono float32 wave at ``sample_rate`` (module docstring).

    Returns:
        ``(wave (N,), present, info)``; ``present`` is False only when the file has no audio track, and then
        ``wave`` is zeros of the video's duration.

    Raises:
        MediaError: missing or corrupt file, or (``on_truncated="error"``) a decode error mid-stream.
    """

    with _open(path) as c:
        if not c.streams.audio:
            dur = _video_duration(c, c.streams.video[0]) if c.streams.video else (c.duration or 0) / 1e6
            n = int(round(dur * sample_rate))
            return np.zeros(n, np.float32), False, AudioInfo(str(path), 0, 0, sample_rate, n / sample_rate)
        st = c.streams.audio[0]
        src_rate, channels = int(st.rate), int(st.channels)
        # any sample format -> planar float at the target rate, channels kept (averaged below)
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        chunks: list[np.ndarray] = []
        first_t, error = None, None
        try:
            for frame in c.decode(st):
                if first_t is None:
                    first_t = float(frame.time) if frame.time is not None else 0.0
                chunks += [f.to_ndarray().mean(axis=0) for f in resampler.resample(frame)]  # (C, n) -> (n,)
        except av.FFmpegError as exc:
            error = exc
        chunks += [f.to_ndarray().mean(axis=0) for f in resampler.resample(None)]  # flush the filter
        if error is not None:
            if on_truncated == "error" or not chunks:
                raise MediaError(f"{path}: truncated or corrupt audio stream ({error})")
            warnings.warn(f"{path}: truncated audio, kept the decodable part ({error})", MediaWarning,
                          stacklevel=2)
    wave = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    offset = int(round((first_t or 0.0) * sample_rate))
    wave = np.concatenate([np.zeros(offset, np.float32), wave]) if offset > 0 else wave[-offset:]
    return wave, True, AudioInfo(str(path), src_rate, channels, sample_rate, len(wave) / sample_rate)


def list_frame_folder(folder: str | Path) -> list[Path]:
    """The ``img_%05d.jpg`` files of a STAViS frame folder, in frame order, checked to be 1..n.

    Raises:
        MediaError: the folder is missing, holds no frames, or a frame number is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MediaError(f"{folder}: frame folder not found")
    names = (p.name for p in folder.iterdir())
    found = {int(m[1]): folder / name for name in names if (m := _FRAME_RE.match(name))}
    if not found:
        raise MediaError(f"{folder}: no img_%05d.jpg frames")
    n = max(found)
    missing = [i for i in range(1, n + 1) if i not in found]
    if missing:
        first = folder / f"img_{missing[0]:05d}.jpg"
        raise MediaError(f"{first}: frame missing ({len(missing)} of {n} frame numbers missing)")
    return [found[i] for i in range(1, n + 1)]


def read_image(path: str | Path, size: int | None) -> np.ndarray:
    """One JPEG/PNG as (S, S, 3) uint8 (RGB); JPEG decoding is reduced in the DCT domain when much larger.

    Raises:
        MediaError: missing or unreadable image.
    """

    try:
        with Image.open(path) as im:
            if size is not None and im.format == "JPEG":
                im.draft("RGB", (size, size))  # decode at 1/2, 1/4, 1/8 scale, never below `size`
            arr = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{path}: not a readable image ({exc})") from exc
    return resize_square(arr, size)


def read_frame_folder(folder: str | Path, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of a STAViS video folder: ``(frames (T, S, S, 3) uint8, numbers (T,) int64 = 1..T)``."""
    files = list_frame_folder(folder)
    frames = [read_image(p, size) for p in files]
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise MediaError(f"{folder}: frames have different sizes {sorted(shapes)}")
    return np.stack(frames), np.arange(1, len(files) + 1, dtype=np.int64)
