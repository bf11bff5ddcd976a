"""Per-frame audio features: one window of the wave per video frame, turned into a 2-D spectrogram.

Two kinds (``AudioConfig.kind``; DESIGN.md fidelity table, "audio input"):

* ``"logmel"`` (default, paper §3.7: "1 frame and 1 s audio"): the ``window_s`` (1 s) of audio centred on each
  frame time, zero-padded where it runs past the clip's ends, through ``torchaudio.transforms.MelSpectrogram``
  (every parameter in :class:`~stanet_lib.config.AudioConfig`), then ``log(mel + log_offset)``
  -> ``(T, n_mels, n_steps)``; 64 x 101 with the defaults.
* ``"stft"``: the released code's features (``G1:audiostft.py`` L54-70, ``reference/original_code_audit.md``
  §1.3): 0.5 s windows, clipped to [-1, 1], ``scipy.signal.spectrogram(x, 16000, nperseg=512, noverlap=353)``
  with scipy's defaults (Tukey 0.25 window, constant detrend, one-sided PSD), ``log(S + 1e-7)``, z-score over
  the whole window's matrix with ``std + 1e-9`` -> 257 x 48 at 16 kHz. Window placement
  ``AudioConfig.stft_placement``: ``"centred"`` (default) centres each window on its frame time like the
  log-mel windows, so audio and frame stay aligned whichever frames are sampled; ``"spread"`` is the code's
  formula, ``IoU = ceil(long - (L - long) / (T - 1))`` and window ``i`` at ``i * (long - IoU)``, i.e. the
  ``T`` windows spread evenly from the first to the last sample. ``"spread"`` only reproduces the code when
  ``times`` are all of a clip's frames (it ignores the times, only their count matters); with ``T = 1`` the
  code divides by zero and we take the first window.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torchaudio
from scipy import signal

from ..config import AudioConfig


def window_samples(window_s: float, sr: int) -> int:
    """Samples in a ``window_s`` window at ``sr`` Hz (at least 1)."""
    return int(round(window_s * sr))


def frame_windows(wave: np.ndarray, sr: int, times: np.ndarray, window_s: float) -> np.ndarray:
    """Windows of ``window_s`` seconds centred on each time, zero-padded at the clip's edges.

    Window ``k`` covers samples ``[c_k - W // 2, c_k - W // 2 + W)`` with ``c_k = round(times[k] * sr)``.

    Args:
        wave: (N,) mono wave.
        sr: its sample rate.
        times: (T,) seconds.
        window_s: window length in seconds.

    Returns:
        (T, W) float32 with ``W = round(window_s * sr)``.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"wave must be (N,) mono, got shape {wave.shape}")
    w = window_samples(window_s, sr)
    starts = np.round(np.asarray(times, dtype=np.float64) * sr).astype(np.int64) - w // 2  # (T,)
    padded = np.concatenate([np.zeros(w, np.float32), wave, np.zeros(w, np.float32)])
    # clamp so that windows far outside the clip read zeros only
    starts = np.clip(starts + w, 0, len(padded) - w)
    return padded[starts[:, None] + np.arange(w)[None, :]]  # (T, W)


@functools.lru_cache(maxsize=8)
def _mel_transform(cfg: AudioConfig, sample_rate: int):  # noqa: ANN202 - torch module

    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate,
        n_fft=cfg.n_fft,
        win_length=cfg.win_length,
        hop_length=cfg.hop_length,
        f_min=cfg.f_min,
        f_max=cfg.f_max,
        n_mels=cfg.n_mels,
        power=cfg.power,
        center=cfg.center,
        pad_mode=cfg.pad_mode,
        norm=cfg.mel_norm or None,
        mel_scale=cfg.mel_scale,
    )


def logmel(windows: np.ndarray, cfg: AudioConfig, sample_rate: int = 16000) -> np.ndarray:
    """``log(MelSpectrogram(windows) + log_offset)``: (T, W) -> (T, n_mels, n_steps) float32."""

    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    with torch.no_grad():
        mel = _mel_transform(cfg, sample_rate)(x)  # (T, n_mels, n_steps)
    return np.log(mel.numpy() + np.float32(cfg.log_offset))  # numpy: one thread, no OpenMP start-up per call


def stft_features(windows: np.ndarray, cfg: AudioConfig, sample_rate: int = 16000) -> np.ndarray:
    """The released code's per-window features (module docstring): (T, W) -> (T, 257, 48) float32 (16 kHz)."""

    x = np.clip(np.asarray(windows, dtype=np.float64), -1.0, 1.0)
    _, _, spec = signal.spectrogram(x, sample_rate, nperseg=cfg.stft_nperseg, noverlap=cfg.stft_noverlap,
                                    axis=-1)  # (T, F, S)
    spec = np.log(spec + 1e-7)
    mean = spec.mean(axis=(1, 2), keepdims=True)
    std = spec.std(axis=(1, 2), keepdims=True)  # numpy default ddof=0, as audiostft.py
    return ((spec - mean) / (std + 1e-9)).astype(np.float32)


def spread_windows(wave: np.ndarray, n: int, long: int) -> np.ndarray:
    """``audiostft.py`` L54-63: ``n`` windows of ``long`` samples spread from the first sample to the last.

    ``IoU = ceil(long - (L - long) / (n - 1))``; window ``i`` = ``wave[i * (long - IoU) : ... + long]``.
    A wave shorter than ``long`` is zero-padded at the end first (the code would produce short windows).
    """
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) < long:
        wave = np.concatenate([wave, np.zeros(long - len(wave), np.float32)])
    length = len(wave)
    step = 0 if n <= 1 else long - math.ceil(long - (length - long) / (n - 1))
    starts = np.arange(n, dtype=np.int64) * step
    return wave[starts[:, None] + np.arange(long)[None, :]]  # (n, long)


def feature_window_s(cfg: AudioConfig) -> float:
    """Seconds of audio one frame's features cover: ``window_s`` (``logmel``) or ``stft_window_s`` (``stft``)."""
    return cfg.window_s if cfg.kind == "logmel" else cfg.stft_window_s


def window_features(windows: np.ndarray, cfg: AudioConfig, sample_rate: int = 16000) -> np.ndarray:
    """Features of ``cfg.kind`` of windows (T, W) of :func:`feature_window_s` seconds: (T, F, S) float32."""
    if cfg.kind == "logmel":
        return logmel(windows, cfg, sample_rate)
    if cfg.kind == "stft":
        return stft_features(windows, cfg, sample_rate)
    raise ValueError(f"unknown AudioConfig.kind {cfg.kind!r} (logmel, stft)")


def frame_features(wave: np.ndarray, sr: int, times: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Per-frame features of ``cfg.kind``: (T, F, S) float32 (``logmel``: F = n_mels; ``stft``: 257 x 48)."""
    times = np.asarray(times, dtype=np.float64)
    if cfg.kind == "stft" and cfg.stft_placement != "centred":
        if cfg.stft_placement != "spread":
            raise ValueError(f"unknown AudioConfig.stft_placement {cfg.stft_placement!r} (centred, spread)")
        windows = spread_windows(wave, len(times), window_samples(cfg.stft_window_s, sr))
    else:
        windows = frame_windows(wave, sr, times, feature_window_s(cfg))
    return window_features(windows, cfg, sr)


def feature_shape(cfg: AudioConfig, sr: int = 16000) -> tuple[int, int]:
    """(F, S) of one frame's features, without computing any."""
    if cfg.kind == "stft":
        w = window_samples(cfg.stft_window_s, sr)
        return cfg.stft_nperseg // 2 + 1, (w - cfg.stft_noverlap) // (cfg.stft_nperseg - cfg.stft_noverlap)
    w = window_samples(cfg.window_s, sr)
    steps = 1 + w // cfg.hop_length if cfg.center else 1 + (w - cfg.n_fft) // cfg.hop_length
    return cfg.n_mels, steps


def background_features(n: int, cfg: AudioConfig, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """Features of ``n`` generated fragments of no category, one frame's window each: in turn digital silence or a
    faint hiss (white noise at -80 to -50 dB of full scale, half each), and white noise at -50 to -10 dB, the
    levels drawn log-uniformly. They stand for the classes an AudioSet tagger has for such audio ("Silence",
    "White noise"; Gemmeke et al., ICASSP 2017), the default tagger's class of no category
    (``TrainConfig.tagger_background``).

    Returns:
        (n, F, S) float32, the features :func:`frame_features` gives a frame (``cfg.kind``).
    """
    w = window_samples(feature_window_s(cfg), sample_rate)
    waves = np.zeros((n, w), np.float32)
    for i in range(n):
        if i % 2:  # noise
            db = rng.uniform(-50.0, -10.0)
        elif rng.random() < 0.5:  # silence
            continue
        else:  # a faint hiss
            db = rng.uniform(-80.0, -50.0)
        waves[i] = np.clip(rng.normal(0.0, 10.0 ** (db / 20.0), w), -1.0, 1.0)
    return window_features(waves, cfg, sample_rate)
