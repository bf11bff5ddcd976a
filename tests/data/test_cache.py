"""stanet_lib.data.cache: the data stage on tiny worlds with every bad input the reader handles, re-runs, loaders, CLI,
and the smoke data stage the tests share."""

import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from stanet_lib.cli import main
from stanet_lib.config import load_profile
from stanet_lib.data import cache, stavis
from stanet_lib.data.ave import AnnotationError
from tests import media_fixtures as mf

ROWS = [  # (category, video_id, start, end, split)
    ("Bark", "dup", 0, 1, "train"), ("Cat", "dup", 1, 2, "val"),  # one video, two events
    ("Bark", "plain", 0, 2, "train"),
    ("Cat", "mute", 0, 2, "test"),  # no audio track: kept, audio marked absent
    ("Cat", "quiet", 0, 1, "train"),  # silent audio track: present
    ("Bark", "zero", 0, 0, "test"),  # zero-length event: counted skip
    ("Bark", "gone", 0, 1, "train"),  # listed, no file: counted skip
    ("Cat", "broken", 0, 1, "train"),  # corrupt mp4: counted skip
    ("Bark", "cut", 0, 1, "val"),  # truncated mp4: counted skip
    ("Cat", "single", 0, 1, "train"),  # one-frame video: not a video, counted skip
    ("Bark", "vfr", 0, 1, "train"),  # variable frame rate
    ("Cat", "stereo44", 0, 1, "train"),  # 44.1 kHz stereo audio
    ("Bark", "mono8", 0, 1, "train"),  # 8 kHz mono audio
    ("Bark", "image", 0, 1, "train"),  # a PNG named .mp4: not a video, counted skip
    ("Cat", "short", 0, 2, "train"),  # a 0.4 s video for a 2 s event: counted skip
    ("Bark", "late", 0, 2.5, "train"),  # event ends 0.7 s after its 1.8 s video: kept with a warning
]
OK_VIDEOS = {"dup", "plain", "mute", "quiet", "vfr", "stereo44", "mono8", "late"}
N_SKIPS = 8  # zero, gone, broken, cut, single, image, short (AVE) and DBa_ghost (STAViS)


def cfg(**overrides):
    return load_profile("smoke", **{"media.prep_workers": 1, "media.cache_size": 16, **overrides})


def make_world(root):
    ave = root / "ave"
    mf.ave_world(ave, ROWS, make_videos=False)
    vids = ave / "AVE"
    mf.video(vids / "dup.mp4", seconds=2.0)
    mf.video(vids / "plain.mp4", seconds=2.0)
    mf.video(vids / "mute.mp4", seconds=2.0, audio="none")
    mf.video(vids / "quiet.mp4", audio="silent")
    mf.video(vids / "zero.mp4")
    mf.corrupt(vids / "broken.mp4")
    mf.truncated(mf.video(root / "full.mp4", seconds=2.0), vids / "cut.mp4")
    mf.video(vids / "single.mp4", seconds=1 / 12)
    mf.video(vids / "vfr.mp4", fps=20.0, pts=np.array([0.0, 0.05, 0.1, 0.4, 0.45, 0.9]))
    mf.video(vids / "stereo44.mp4", sr=44100, channels=2)
    mf.video(vids / "mono8.mp4", sr=8000)
    Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(vids / "image.png")
    (vids / "image.png").rename(vids / "image.mp4")
    mf.video(vids / "short.mp4", seconds=0.4)
    mf.video(vids / "late.mp4", seconds=1.8)
    st = root / "stavis"
    mf.stavis_world(st, {"DBa": (48, 32, 25.0, 2, 6)}, folds=2)
    with open(st / "fold_lists" / "DBa_list_test_2_fps.txt", "a") as fh:
        fh.write("\nDBa_ghost 6 25")  # a fold list naming a missing video
    return ave, st


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    ave, st = make_world(root)
    out = root / "cache"
    report = cache.prepare(cfg(), ave, st, out)
    return {"root": root, "ave": ave, "stavis": st, "out": out, "report": report}


def test_counts_and_statuses(world):
    rep = world["report"]
    c = rep.counts
    assert c["ave_rows"] == len(ROWS) and c["ave_rows_ok"] == len(ROWS) - (N_SKIPS - 1)
    assert c["ave_videos"] == 15  # 16 rows, "dup" has two; decoded once ("zero", only an empty event: never)
    assert c["stavis_videos"] == 3 and c["stavis_ok"] == 2
    assert c["decoded"] == len(OK_VIDEOS) + 2 and c["reused"] == 0
    assert c["audio_absent"] == 1 and c["skipped"] == N_SKIPS == len(rep.skips)
    idx = cache.load_index(world["out"], ok_only=False)
    status = {(r.video, r.row): r.status for r in idx.itertuples()}
    assert status[("zero", 5)] == "skip:zero_length_event"
    assert status[("gone", 6)] == "skip:missing_video"
    assert status[("broken", 7)] == "skip:decode_error"
    assert status[("cut", 8)] == "skip:decode_error"
    assert status[("DBa_ghost", -1)] == "skip:missing_video"
    assert {v for (v, _), s in status.items() if s == "ok" and v.startswith("DBa") is False} == OK_VIDEOS
    reasons = {s["video"]: s["message"] for s in rep.skips}
    assert "broken.mp4" in reasons["broken"] and "cut.mp4" in reasons["cut"] and "gone.mp4" in reasons["gone"]
    assert "DBa_ghost" in reasons["DBa_ghost"]
    assert status[("single", 9)] == status[("image", 13)] == "skip:not_a_video"
    assert reasons["single"].endswith("single.mp4: a single frame (0.083 s), not a video")
    assert reasons["image"].endswith("image.mp4: a still image or a stream without duration (0 s, one frame), not a video")
    assert status[("short", 14)] == "skip:video_shorter_than_event"
    assert "short row 14: event [0, 2), but the video " in reasons["short"]
    assert "short.mp4 lasts 0.38 s: much shorter than its event" in reasons["short"]
    summary = rep.summary()
    assert f"{N_SKIPS} skipped" in summary and "broken.mp4" in summary
    assert "skip [not_a_video]" in summary and "skip [video_shorter_than_event]" in summary
    assert "no audio track: 1 video(s) kept with the audio features of silence (p_switch near 0): ave/mute" in summary
    assert "warning: late row 15: event [0, 2.5) ends after the video (1.8" in summary and "s are used" in summary


def test_index_columns_and_types(world):
    idx = cache.load_index(world["out"])
    for col in ("source", "db", "video", "row", "category", "label", "split", "n_frames", "fps", "t_first",
                "t_last", "audio_present", "event_start", "event_end", "npz", "status"):
        assert col in idx.columns
    assert (idx["status"] == "ok").all() and len(idx) == len(ROWS) - (N_SKIPS - 1) + 2
    ave = idx[idx["source"] == "ave"]
    assert set(ave["label"]) == {0, 1} and set(ave["split"]) == {"train", "val", "test"}
    assert ave.set_index("video").loc["mute", "audio_present"] == False  # noqa: E712 (pandas boolean)
    assert ave.set_index("video").loc["quiet", "audio_present"] == True  # noqa: E712


def test_no_partial_or_extra_files(world):
    out = world["out"]
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    expected = {"index.csv", "manifest.json"} | {f"ave/{v}.npz" for v in OK_VIDEOS}
    expected |= {f"stavis/DBa/DBa_v0{i}.npz" for i in range(2)}
    assert files == expected  # nothing for skipped videos, no temporary files


def test_npz_contents(world):
    with np.load(world["out"] / "ave" / "plain.npz") as z:
        assert z["frames"].shape == (8, 16, 16, 3) and z["frames"].dtype == np.uint8
        np.testing.assert_allclose(z["times"], (np.arange(8) + 0.5) / 4)
        assert z["audio"].shape == (8, 64, 101) and z["audio"].dtype == np.float16
        assert bool(z["audio_present"])
    with np.load(world["out"] / "stavis" / "DBa" / "DBa_v00.npz") as z:
        assert z["frames"].shape == (6, 16, 16, 3)
        assert z["numbers"].tolist() == [1, 2, 3, 4, 5, 6]
        np.testing.assert_allclose(z["times"], np.arange(6) / 25.0)
        assert z["audio"].shape[0] == 6


def test_duplicate_video_two_rows_and_event_span(world):
    idx = cache.load_index(world["out"])
    dup = idx[idx["video"] == "dup"].sort_values("row")
    assert len(dup) == 2 and dup["npz"].nunique() == 1 and dup["duplicate_id"].all()
    first, second = (cache.load_clip(world["out"], r) for _, r in dup.iterrows())
    np.testing.assert_allclose(first["times"], [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(second["times"], [1.125, 1.375, 1.625, 1.875])
    assert (first["label"], second["label"]) == (0, 1)
    assert first["frames"].shape == (4, 16, 16, 3) and second["audio"].shape[0] == 4
    by_pos = cache.load_clip(world["out"], int(dup.index[0]))
    np.testing.assert_array_equal(by_pos["frames"], first["frames"])
    st = cache.load_clip(world["out"], idx[idx["source"] == "stavis"].iloc[0])
    assert st["numbers"].tolist() == list(range(1, 7)) and st["label"] == -1


def test_load_clip_refuses_a_skipped_row(world):
    idx = cache.load_index(world["out"], ok_only=False)
    with pytest.raises(ValueError, match="skipped"):
        cache.load_clip(world["out"], idx[idx["video"] == "broken"].iloc[0])


def test_manifest(world):
    m = json.loads((world["out"] / "manifest.json").read_text())
    assert m["config"]["media"]["fps"] == 4.0 and m["commit"]
    assert m["inputs"][str(world["ave"] / "AVE" / "plain.mp4")]
    assert m["inputs"][str(world["ave"] / "AVE" / "gone.mp4")] is None
    assert {s["reason"] for s in m["skips"]} == {"zero_length_event", "missing_video", "decode_error", "not_a_video",
                                                 "video_shorter_than_event"}
    assert m["no_audio"] == ["ave/mute"]
    assert m["counts"]["skipped"] == N_SKIPS


def test_rerun_skips_up_to_date_and_redoes_changed(tmp_path):
    ave, st = make_world(tmp_path)
    out = tmp_path / "cache"
    first = cache.prepare(cfg(), ave, st, out)
    t0 = time.perf_counter()
    again = cache.prepare(cfg(), ave, st, out)
    assert again.up_to_date and again.counts["decoded"] == 0 and time.perf_counter() - t0 < 1.0
    assert again.counts["ave_rows_ok"] == first.counts["ave_rows_ok"] and len(again.skips) == len(first.skips)
    plain = ave / "AVE" / "plain.mp4"
    os.utime(plain, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new time, the same bytes: still up to date
    plain.write_bytes(plain.read_bytes())
    assert cache.prepare(cfg(), ave, st, out).up_to_date
    mf.video(plain, seconds=2.0, freq=500.0)  # other bytes: decoded again
    third = cache.prepare(cfg(), ave, st, out)
    assert not third.up_to_date and third.counts["decoded"] == 1
    assert third.counts["reused"] == first.counts["videos_ok"] - 1
    forced = cache.prepare(cfg(), ave, st, out, force=True)
    assert forced.counts["decoded"] == first.counts["videos_ok"]
    whole = cache.prepare(cfg(**{"media.use_event_span": False}), ave, st, out)
    assert whole.counts["decoded"] == first.counts["videos_ok"]  # config changed: everything again
    dup = cache.load_index(out).query("video == 'dup'")
    assert (dup["n_frames"] == 8).all() and (dup["frame_start"] == 0).all()


def test_annotation_error_through_prep(tmp_path, capsys):
    ave = mf.ave_world(tmp_path / "ave", ROWS[:3], make_videos=False)
    text = (ave / "Annotations.txt").read_text().splitlines()
    text.insert(2, "Bark&broken-line&good&zero&1")
    (ave / "Annotations.txt").write_text("\n".join(text))
    with pytest.raises(AnnotationError, match=r"Annotations\.txt:3"):
        cache.prepare(cfg(), ave, None, tmp_path / "cache")
    assert main(["prep", "--ave-root", str(ave), "--out", str(tmp_path / "cache"), "--profile", "smoke"]) == 1
    assert "Annotations.txt:3" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_mat_without_eyemap(tmp_path):
    import scipy.io

    path = tmp_path / "fixMap_00001.mat"
    scipy.io.savemat(path, {"fixations": np.zeros((4, 4))})
    with pytest.raises(stavis.StavisFormatError, match=r"fixMap_00001\.mat.*eyeMap"):
        stavis.load_fixation_map(path)


def test_cli_prints_skips(tmp_path, capsys):
    ave = mf.ave_world(tmp_path / "ave", [("Bark", "a", 0, 1, "train"), ("Bark", "b", 0, 1, "val")])
    (ave / "AVE" / "b.mp4").unlink()
    out = tmp_path / "cache"
    assert main(["prep", "--ave-root", str(ave), "--out", str(out), "--profile", "smoke",
                 "--set", "media.prep_workers=1"]) == 0
    printed = capsys.readouterr().out
    assert "1/2 AVE rows" in printed and "missing_video" in printed and "b.mp4" in printed
    assert main(["prep", "--ave-root", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'nope'}: folder not found\n"


@pytest.mark.slow
def test_smoke_world_data_stage(smoke_data_root):
    """The session's smoke data stage (open_world on an empty root: the synthetic world, then prep with the
    profile's pool of workers): every clip prepared, nothing skipped, clips at the cache canvas."""
    smoke = load_profile("smoke")
    out = smoke_data_root / "cache" / "smoke"
    m = json.loads((out / "manifest.json").read_text())
    n_ave = smoke.synth.num_classes * sum(smoke.synth.clips_per_class.values())
    n_st = sum(db[3] for db in smoke.synth.test_dbs.values())
    assert m["counts"]["ave_rows_ok"] == m["counts"]["ave_rows"] == n_ave
    assert m["counts"]["stavis_ok"] == n_st and m["counts"]["skipped"] == 0 and m["skips"] == []
    idx = cache.load_index(out)
    assert len(idx) == n_ave + n_st and (idx["status"] == "ok").all()
    clip = cache.load_clip(out, 0)
    assert clip["frames"].shape[1:] == (smoke.media.cache_size, smoke.media.cache_size, 3)
    assert len(clip["frames"]) == idx.loc[0, "n_frames"] > 0


def test_truncated_video_kept_with_a_counted_warning(tmp_path):
    ave = mf.ave_world(tmp_path / "ave", [("Bark", "cut", 0, 2, "train")], make_videos=False)
    full = mf.video(tmp_path / "full.mp4", seconds=2.0)
    mf.faststart_truncated(full, ave / "AVE" / "cut.mp4", fraction=0.6)
    strict = cache.prepare(cfg(), ave, None, tmp_path / "strict")
    assert strict.counts["ave_rows_ok"] == 0 and strict.skips[0]["reason"] == "decode_error"
    assert "truncated" in strict.skips[0]["message"] and not (tmp_path / "strict" / "ave").exists()
    kept = cache.prepare(cfg(**{"media.on_truncated": "keep"}), ave, None, tmp_path / "kept")
    assert kept.counts["ave_rows_ok"] == 1 and kept.counts["truncated_kept"] == 1
    assert "cut.mp4" in kept.warnings[0] and "warning" in kept.summary()
    row = cache.load_index(tmp_path / "kept").iloc[0]
    assert 1 <= row["n_frames"] < 8 and row["t_last"] < 1.5
