"""stanet_lib.data.audio: per-frame windows, log-mel and the released code's STFT features."""

import dataclasses

import numpy as np
import pytest
import torchaudio

from stanet_lib.config import AudioConfig
from stanet_lib.data import audio, encode, media
from tests import media_fixtures as mf

SR = 16000


def test_frame_windows_shape_and_centre():
    wave = np.arange(3 * SR, dtype=np.float32)
    w = audio.frame_windows(wave, SR, np.array([1.5, 2.0]), 1.0)
    assert w.shape == (2, SR) and w.dtype == np.float32
    assert w[0, 0] == 1.5 * SR - SR // 2 and w[0, SR // 2] == 1.5 * SR  # centred on the frame time
    np.testing.assert_array_equal(np.diff(w[1]), 1.0)  # contiguous samples


def test_frame_windows_zero_padded_at_edges():
    wave = np.ones(2 * SR, np.float32)
    w = audio.frame_windows(wave, SR, np.array([0.0, 0.25, 1.0, 2.0, 5.0]), 1.0)
    assert not w[0, : SR // 2].any() and w[0, SR // 2 :].all()  # first half before the clip
    assert not w[1, : SR // 4].any() and w[1, SR // 4 :].all()
    assert w[2].all()
    assert w[3, : SR // 2].all() and not w[3, SR // 2 :].any()  # second half after the clip
    assert not w[4].any()  # far outside: zeros only


def test_logmel_shape_and_finite():
    cfg = AudioConfig()
    feats = audio.logmel(np.random.default_rng(0).normal(size=(3, SR)).astype(np.float32), cfg)
    assert feats.shape == (3, cfg.n_mels, 101) == (3, *audio.feature_shape(cfg))
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    silent = audio.logmel(np.zeros((1, SR), np.float32), cfg)
    np.testing.assert_allclose(silent, np.log(cfg.log_offset), rtol=1e-5)  # log(0 + offset)


def expected_mel_bin(freq: float, cfg: AudioConfig, sr: int = SR) -> int:
    fb = torchaudio.functional.melscale_fbanks(cfg.n_fft // 2 + 1, cfg.f_min, cfg.f_max, cfg.n_mels, sr,
                                               cfg.mel_norm or None, cfg.mel_scale)  # (F, n_mels)
    return int(fb[int(round(freq * cfg.n_fft / sr))].argmax())


@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_pure_tone_lands_in_its_mel_bin(freq):
    cfg = AudioConfig()
    feats = audio.frame_features(mf.tone(2.0, SR, freq), SR, np.array([1.0]), cfg)
    assert int(feats[0].mean(axis=1).argmax()) == expected_mel_bin(freq, cfg)


def dominant_frequency(wave: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / sr)[spec.argmax()])


def test_resampling_keeps_the_tone(tmp_path):
    freq = 1000.0
    a = encode.write_wav(tmp_path / "a.wav", mf.tone(2.0, 44100, freq, channels=2), 44100)
    b = mf.video(tmp_path / "b.mp4", seconds=2.0, sr=8000, channels=1, freq=freq)
    cfg = AudioConfig()
    bins = []
    for path in (a, b):
        wave, present, info = media.read_audio(path, SR)
        assert present and info.sample_rate == SR
        assert dominant_frequency(wave[4000:-4000], SR) == pytest.approx(freq, abs=2.0)
        feats = audio.frame_features(wave, SR, np.array([1.0]), cfg)
        bins.append(int(feats[0].mean(axis=1).argmax()))
    assert bins[0] == bins[1] == expected_mel_bin(freq, cfg)


def test_stft_matches_audiostft_formula():
    """audit §1.3: clip, scipy spectrogram 512/353 with defaults, log(S + 1e-7), z-score -> 257 x 48."""
    from scipy import signal

    cfg = AudioConfig(kind="stft")
    rng = np.random.default_rng(1)
    wave = rng.normal(scale=0.6, size=3 * SR).astype(np.float32)  # some samples beyond [-1, 1]
    times = np.array([0.5, 1.5, 2.5])
    feats = audio.frame_features(wave, SR, times, cfg)
    assert feats.shape == (3, 257, 48) and feats.dtype == np.float32
    assert audio.feature_shape(cfg) == (257, 48)
    for k, t in enumerate(times):
        x = np.clip(wave[int(t * SR) - 4000 : int(t * SR) + 4000].astype(np.float64), -1, 1)
        _, _, s = signal.spectrogram(x, 16000, nperseg=512, noverlap=353)
        s = np.log(s + 1e-7)
        ref = (s - s.mean()) / (s.std() + 1e-9)
        np.testing.assert_allclose(feats[k], ref, rtol=1e-4, atol=1e-4)
        assert abs(feats[k].mean()) < 1e-4 and feats[k].std() == pytest.approx(1.0, abs=1e-3)


def test_stft_spread_placement_is_the_iou_formula():
    cfg = AudioConfig(kind="stft", stft_placement="spread")
    wave = np.arange(20000, dtype=np.float32)
    windows = audio.spread_windows(wave, 5, 8000)
    step = 8000 - int(np.ceil(8000 - (20000 - 8000) / 4))  # audiostft.py: long - IoU
    assert step == 3000
    assert windows[:, 0].tolist() == [0, 3000, 6000, 9000, 12000] and windows.shape == (5, 8000)
    assert audio.frame_features(wave / 20000, SR, np.zeros(5), cfg).shape == (5, 257, 48)
    assert audio.spread_windows(wave, 1, 8000)[0, 0] == 0  # one frame: the code divided by zero


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="kind"):
        audio.frame_features(np.zeros(SR, np.float32), SR, np.array([0.5]), AudioConfig(kind="mfcc"))
    with pytest.raises(ValueError, match="placement"):
        audio.frame_features(np.zeros(SR, np.float32), SR, np.array([0.5]),
                             AudioConfig(kind="stft", stft_placement="middle"))


def test_every_mel_parameter_comes_from_the_config():
    cfg = dataclasses.replace(AudioConfig(), n_mels=32, hop_length=320, window_s=0.5)
    feats = audio.frame_features(mf.tone(1.0, SR, 500.0), SR, np.array([0.5]), cfg)
    assert feats.shape == (1, 32, 1 + 8000 // 320) == (1, *audio.feature_shape(cfg))


@pytest.mark.parametrize("kind", ["logmel", "stft"])
def test_background_features_are_silence_hiss_and_noise_in_a_frames_shape(kind):
    cfg = AudioConfig(kind=kind)
    feats = audio.background_features(40, cfg, np.random.default_rng(0))
    assert feats.shape == (40, *audio.feature_shape(cfg)) and feats.dtype == np.float32 and np.isfinite(feats).all()
    again = audio.background_features(40, cfg, np.random.default_rng(0))
    np.testing.assert_array_equal(feats, again)  # drawn from the generator given, nothing else
    if kind == "logmel":
        level = feats.mean(axis=(1, 2))
        silent = np.isclose(level, np.log(cfg.log_offset))
        assert 0 < silent.sum() < 20  # some of the even fragments are digital silence, the rest a faint hiss
        assert level[1::2].min() > level[0::2].max()  # the odd ones are noise, louder than any hiss
        assert np.ptp(level[1::2]) > 5.0  # at levels spread over tens of dB
