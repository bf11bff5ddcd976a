"""stanet_lib.data.media: frames by timestamp, audio to 16 kHz mono, STAViS frame folders, bad input."""

import warnings

import numpy as np
import pytest

from stanet_lib.data import encode, media
from tests import media_fixtures as mf


def grey(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), -1).mean(axis=1)


def nearest_level(values: np.ndarray) -> list[int]:
    """Index k of the fixture level closest to each grey value."""
    levels = np.array([mf.level(k) for k in range(12)])
    return [int(np.argmin(np.abs(levels - v))) for v in values]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return mf.video(path, seconds=1.0, fps=12.0, sr=22050, channels=2)


def test_probe(clip):
    info = media.probe(clip)
    assert (info.width, info.height) == (mf.W, mf.H)
    assert info.fps == pytest.approx(12.0)
    assert info.duration == pytest.approx(1.0, abs=1e-6)
    assert info.n_frames == 12
    assert info.has_audio and info.audio_rate == 22050 and info.audio_channels == 2


def test_frames_by_timestamp(clip):
    frames, times = media.read_frames(clip, fps=4.0, size=16)
    assert frames.shape == (4, 16, 16, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(times, [0.125, 0.375, 0.625, 0.875])
    # frame shown at t: the last one with pts <= t, pts = k / 12
    assert nearest_level(grey(frames)) == [int(np.floor(t * 12)) for t in times]


def test_native_size_and_span(clip):
    frames, times = media.read_frames(clip, fps=4.0, size=None, start=0.25, end=0.75)
    assert frames.shape == (2, mf.H, mf.W, 3)
    np.testing.assert_allclose(times, [0.375, 0.625])
    assert nearest_level(grey(frames)) == [4, 7]


def test_upsampling_repeats_frames(clip):
    frames, times = media.read_frames(clip, fps=24.0, size=8)
    assert len(frames) == 24
    assert nearest_level(grey(frames)) == [int(np.floor(t * 12)) for t in times]


def test_variable_frame_rate(tmp_path):
    pts = np.array([0.0, 0.05, 0.1, 0.4, 0.45, 1.0, 1.5, 1.6])
    path = mf.video(tmp_path / "vfr.mp4", fps=20.0, pts=pts)
    frames, times = media.read_frames(path, fps=4.0, size=8)
    assert media.probe(path).duration == pytest.approx(1.65)
    assert len(times) == 6  # floor(1.65 * 4)
    expected = [int(np.searchsorted(pts, t, side="right")) - 1 for t in times]
    assert nearest_level(grey(frames)) == expected  # counting frames would give 0, 1, 2, 3, 4, 5


def test_one_frame_video(tmp_path):
    path = mf.video(tmp_path / "one.mp4", seconds=1 / 12, fps=12.0)
    frames, times = media.read_frames(path, fps=4.0, size=8)
    assert frames.shape == (1, 8, 8, 3)
    assert times[0] == pytest.approx(1 / 24)  # midpoint of the only frame's span
    wave, present, _ = media.read_audio(path)
    assert present and len(wave) > 0


@pytest.mark.parametrize("maker", ["corrupt", "truncated", "missing"])
def test_unreadable_video_names_the_file(tmp_path, clip, maker):
    path = tmp_path / f"{maker}.mp4"
    if maker == "corrupt":
        mf.corrupt(path)
    elif maker == "truncated":
        mf.truncated(clip, path)
    with pytest.raises(media.MediaError, match=str(path)):
        media.read_frames(path, 4.0, 8)
    with pytest.raises(media.MediaError, match=str(path)):
        media.read_audio(path)
    with pytest.raises(media.MediaError, match=str(path)):
        media.probe(path)


def test_truncated_with_index_first(tmp_path):
    src = mf.video(tmp_path / "long.mp4", seconds=2.0)
    path = mf.faststart_truncated(src, tmp_path / "cut.mp4", fraction=0.6)
    with pytest.raises(media.MediaError, match="truncated"):
        media.read_frames(path, 4.0, 8)
    with pytest.warns(media.MediaWarning, match="cut.mp4"):
        frames, times = media.read_frames(path, 4.0, 8, on_truncated="keep")
    assert 1 <= len(frames) < 8 and len(frames) == len(times)
    assert times[-1] < 2.0 * 0.75


def test_no_audio_track(tmp_path):
    path = mf.video(tmp_path / "mute.mp4", seconds=1.0, audio="none")
    assert not media.probe(path).has_audio
    wave, present, info = media.read_audio(path, 16000)
    assert not present and info.source_rate == 0
    assert wave.dtype == np.float32 and len(wave) == 16000 and not wave.any()


def test_silent_track_is_present(tmp_path):
    path = mf.video(tmp_path / "silent.mp4", seconds=1.0, audio="silent")
    wave, present, _ = media.read_audio(path)
    assert present and len(wave) >= 16000 and np.abs(wave).max() < 1e-4


@pytest.mark.parametrize("sr,channels", [(44100, 2), (8000, 1), (16000, 1)])
def test_audio_rate_and_channels(tmp_path, sr, channels):
    path = encode.write_wav(tmp_path / "a.wav", mf.tone(1.5, sr, 440.0, channels), sr)
    wave, present, info = media.read_audio(path, 16000)
    assert present and info.source_rate == sr and info.channels == channels
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) == pytest.approx(24000, abs=2)
    assert np.abs(wave[2000:-2000]).max() == pytest.approx(0.5, abs=0.01)


def test_stereo_is_averaged(tmp_path):
    left = mf.tone(1.0, 16000, 300.0)
    path = encode.write_wav(tmp_path / "lr.wav", np.stack([left, np.zeros_like(left)], axis=1), 16000)
    wave, _, _ = media.read_audio(path)
    assert np.abs(wave).max() == pytest.approx(0.25, abs=0.005)


def test_audio_keeps_timing(tmp_path):
    for sr in (44100, 8000):
        x = np.zeros(2 * sr)
        x[sr] = 0.9  # click at 1.0 s
        wave, _, _ = media.read_audio(encode.write_wav(tmp_path / f"click{sr}.wav", x, sr))
        assert abs(int(np.argmax(np.abs(wave))) - 16000) <= 1


def test_frame_folder(tmp_path):
    folder = tmp_path / "v"
    frames = mf.flat_frames(5, 40, 30)
    for i, f in enumerate(frames, start=1):
        encode.write_jpeg(folder / f"img_{i:05d}.jpg", f)
    arr, numbers = media.read_frame_folder(folder, 16)
    assert arr.shape == (5, 16, 16, 3) and arr.dtype == np.uint8
    assert numbers.tolist() == [1, 2, 3, 4, 5]
    assert nearest_level(grey(arr)) == [0, 1, 2, 3, 4]
    (folder / "img_00003.jpg").unlink()
    with pytest.raises(media.MediaError, match="img_00003.jpg"):
        media.read_frame_folder(folder, 16)
    encode.write_jpeg(folder / "img_00003.jpg", frames[2])
    (folder / "img_00004.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(media.MediaError, match="img_00004.jpg"):
        media.read_frame_folder(folder, 16)
    with pytest.raises(media.MediaError, match="not found"):
        media.read_frame_folder(tmp_path / "nope", 16)


def test_resize_square_keeps_flat_colour():
    img = np.full((30, 70, 3), 123, np.uint8)
    out = media.resize_square(img, 20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8 and (out == 123).all()
    assert media.resize_square(img, None) is img


def test_target_times():
    np.testing.assert_allclose(media.target_times(1.0, 2.0, 2.0), [1.25, 1.75])
    np.testing.assert_allclose(media.target_times(0.0, 0.1, 4.0), [0.05])
    with pytest.raises(ValueError):
        media.target_times(2.0, 1.0, 4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(media.target_times(0.0, 10.0, 4.0)) == 40
