"""The synthetic world (stanet_lib/data/synthetic.py): layouts read by the real readers, truth consistent, determinism,
decodable media, mismatch fraction, atomic writes, CLI. Smoke profile, even smaller where possible."""

from __future__ import annotations

import dataclasses
import json
import wave
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from stanet_lib.cli import main
from stanet_lib.config import load_profile
from stanet_lib.data import ave, stavis, synthetic

TINY = {
    "synth.num_classes": 2,
    "synth.clips_per_class": {"train": 1, "val": 1, "test": 1},
    "synth.test_dbs": {"DbA": (48, 32, 25.0, 2, 6), "DbB": (40, 30, 10.0, 2, 5)},
    "synth.folds": 2,
}


@pytest.fixture(scope="module")
def smoke(smoke_data_root: Path) -> tuple[Path, object]:
    """The session's smoke world (conftest.py), generated with the profile's seed (0)."""
    cfg = load_profile("smoke")
    assert cfg.seed == 0
    return smoke_data_root / "synthetic" / "smoke", cfg


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_categories_share_bodies_but_not_parts() -> None:
    cats = [synthetic.category(i) for i in range(len(synthetic.CATEGORY_NAMES))]
    names = synthetic.CATEGORY_NAMES
    assert len(set(names)) == 28 and all(n.islower() and " " not in n for n in names)
    assert len({(c.part_colour, c.pattern) for c in cats}) == 28  # the part identifies the category
    assert max(sum(c.family == f for c in cats) for f in synthetic.FAMILIES) >= 2  # bodies are shared
    assert len({round(c.f0) for c in cats}) == 28


def test_ave_layout_read_by_reader(smoke) -> None:
    world, cfg = smoke
    s = cfg.synth
    idx = ave.read_ave(world / "ave")
    n = {k: v * s.num_classes for k, v in s.clips_per_class.items()}
    assert len(idx.rows) == sum(n.values())
    assert idx.categories == synthetic.CATEGORY_NAMES[: s.num_classes]
    assert {k: len(idx.split(k)) for k in n} == n
    assert (world / "ave" / "Annotations.txt").read_text().splitlines()[0] == "&".join(ave.HEADER)
    assert all(len(v) == 11 for v in idx.rows["video_id"]) and not idx.rows["duplicate_id"].any()
    assert all(ave.video_path(world / "ave", v).is_file() for v in idx.rows["video_id"])
    truth = synthetic.read_truth(world).query("source == 'ave'").set_index("video")
    rows = idx.rows.set_index("video_id")
    assert (rows["label"] == truth.loc[rows.index, "label"]).all()
    assert (rows["split"] == truth.loc[rows.index, "split"]).all()
    assert ((rows["start"] % 1 == 0) & (rows["start"] < rows["end"]) & (rows["end"] <= s.clip_seconds)).all()


def test_event_spans_are_ave_like() -> None:
    """Events are whole seconds (AVE's annotation grain): a clip under 2 s (the demo's 1.5 s) sounds throughout;
    at 3 s most clips sound throughout and some for 1 or 2 s."""
    short = [x for x in synthetic.plan_world(load_profile("demo"), 5) if x.source == "ave"]
    assert short[0].n_frames / short[0].fps < 2
    assert all(x.event_start == 0 and x.event_end == x.n_frames / x.fps for x in short)
    specs = [x for x in synthetic.plan_world(load_profile("demo", **{"synth.clip_seconds": 3.0}), 5)
             if x.source == "ave"]
    dur = specs[0].n_frames / specs[0].fps
    full = np.mean([x.event_start == 0 and x.event_end == dur for x in specs])
    assert 0.4 < full < 0.9  # most whole-length, some shorter (AVE: 66 %)
    part = [x for x in specs if x.event_end - x.event_start < dur]
    assert part and all(x.event_start % 1 == 0 and x.event_end % 1 == 0 and x.event_end <= dur for x in part)


def test_stavis_layout_read_by_reader(smoke) -> None:
    world, cfg = smoke
    root = stavis.StavisRoot(world / "stavis")
    assert root.databases() == sorted(cfg.synth.test_dbs)
    assert len({tuple(v[:3]) for v in cfg.synth.test_dbs.values()}) >= 2  # different size / fps
    splits = tuple(range(1, cfg.synth.folds + 1))
    for db, (w, h, fps, n_videos, n_frames) in cfg.synth.test_dbs.items():
        folds = root.test_folds(db, splits)
        names = [e.name for k in splits for e in folds[k]]
        assert len(names) == len(set(names)) == n_videos  # the test folds partition the videos
        for k in splits:
            train = stavis.read_fold_list(root.fold_dir / f"{db}_list_train_{k}_fps.txt")
            assert {e.name for e in train} == set(names) - {e.name for e in folds[k]}
        assert f"{fps:.6f}" in (root.fold_dir / f"{db}_list_test_1_fps.txt").read_text()
        entry = folds[1][0]
        assert (entry.nframes, entry.fps) == (n_frames, fps)
        _, missing = root.check_videos(db, [e for k in splits for e in folds[k]])
        assert not missing
        v = entry.name
        with wave.open(str(root.audio_path(db, v))) as wf:
            assert abs(wf.getnframes() / wf.getframerate() - n_frames / fps) < 1e-3
        truth = _npz(synthetic.truth_path(world, "stavis", db, v))
        for i in (1, n_frames):
            with Image.open(root.frame_path(db, v, i)) as im:
                assert im.size == (w, h)
            fix = stavis.load_fixation_map(root.fixation_path(db, v, i))
            gt = stavis.load_gt_map(root.map_path(db, v, i))
            assert fix.shape == gt.shape == (h, w)
            pts = truth["fixations"][truth["fixations"][:, 0] == i]
            assert fix.sum() == len({(y, x) for _, y, x in pts}) > 0
            assert gt.max() > 0.9 and gt[fix].mean() > gt.mean()  # blurred map peaks at the fixations
        assert not root.fixation_path(db, v, n_frames + 1).exists()


def test_truth_consistent(smoke) -> None:
    world, cfg = smoke
    table = synthetic.read_truth(world)
    assert list(table.columns) == synthetic.CLIP_COLUMNS
    assert (table["db"][table["source"] == "ave"] == "").all()
    near = []
    for r in table.itertuples():
        tr = _npz(synthetic.truth_path(world, r.source, r.db, r.video))
        t = r.n_frames
        np.testing.assert_allclose(tr["times"], np.arange(t) / r.fps)
        y0, y1, x0, x1 = tr["box"].T
        assert tr["box"].dtype == np.int32 and tr["box"].shape == (t, 4)
        assert (0 <= y0).all() and (y0 <= y1).all() and (y1 < r.height).all()
        assert (0 <= x0).all() and (x0 <= x1).all() and (x1 < r.width).all()
        py, px = np.round(tr["part_center"]).T
        assert tr["part_center"].dtype == np.float32
        assert ((y0 <= py) & (py <= y1) & (x0 <= px) & (px <= x1)).all()
        in_event = (tr["times"] >= r.event_start) & (tr["times"] < r.event_end)
        np.testing.assert_array_equal(tr["sounding"], in_event & r.audio_matches_tag)
        if r.source == "stavis":
            fx = tr["fixations"]
            assert fx.shape == (t * cfg.synth.observers, 3)
            assert fx[:, 0].min() == 1 and fx[:, 0].max() == t
            assert (fx[:, 1] >= 0).all() and (fx[:, 1] < r.height).all()
            assert (fx[:, 2] >= 0).all() and (fx[:, 2] < r.width).all()
            d = np.hypot(*(fx[:, 1:] - tr["part_center"][fx[:, 0] - 1]).T)
            near.append(np.mean(d <= 2.5 * tr["part_radius"]))
    assert np.mean(near) > 0.5  # most fixations on the discriminative part


def test_mismatched_audio_fraction() -> None:
    cfg = load_profile("demo")
    specs = [x for x in synthetic.plan_world(cfg, 1) if x.source == "ave"]
    for split in ("train", "val", "test"):
        sub = [x for x in specs if x.split == split]
        bad = [x for x in sub if x.audio_kind != "tag"]
        assert len(bad) == round(cfg.synth.mismatched_audio_fraction * len(sub))
    kinds = {x.audio_kind.split(":")[0] for x in specs}
    assert kinds == {"tag", "noise", "silence", "other"}
    for x in specs:
        if x.audio_kind.startswith("other:"):
            assert x.audio_kind != f"other:{synthetic.CATEGORY_NAMES[x.category]}"
            assert synthetic.CATEGORY_NAMES[x.audio_category] == x.audio_kind[6:]


def _spec(cfg, kind: str = "tag", seed: int = 0) -> synthetic.ClipSpec:
    x = next(s for s in synthetic.plan_world(cfg, seed) if s.source == "ave")
    whole = x.n_frames / x.fps
    return dataclasses.replace(x, audio_kind=kind, audio_category=-1, event_start=0.0, event_end=whole)


def _inside_boxes(boxes: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(T, H, W) bool: the pixels inside each frame's truth box (T, 4) y0, y1, x0, x1 inclusive."""
    inside = np.zeros(shape, bool)
    for k, (y0, y1, x0, x1) in enumerate(boxes):
        inside[k, y0 : y1 + 1, x0 : x1 + 1] = True
    return inside


def test_render_clip_pure_and_seeded() -> None:
    cfg = load_profile("smoke")
    spec = _spec(cfg)
    f1, a1, t1 = synthetic.render_clip(spec, cfg.synth)
    f2, a2, t2 = synthetic.render_clip(spec, cfg.synth)
    assert f1.shape == (spec.n_frames, spec.height, spec.width, 3) and f1.dtype == np.uint8
    assert a1.shape == (round(spec.n_frames / spec.fps * spec.sample_rate),) and np.abs(a1).max() <= 1
    assert np.array_equal(f1, f2) and np.array_equal(a1, a2)
    assert all(np.array_equal(t1[k], t2[k]) for k in t1)
    f3, a3, t3 = synthetic.render_clip(dataclasses.replace(spec, entropy=(1, 1, 0)), cfg.synth)
    assert not np.array_equal(f1, f3) and not np.array_equal(a1, a3)
    assert not np.array_equal(t1["part_center"], t3["part_center"])


def test_audio_kinds_and_synchrony() -> None:
    cfg = load_profile("demo")
    spec = _spec(cfg)
    frames, audio, truth = synthetic.render_clip(spec, cfg.synth)
    # the part pulses with the audio envelope: part brightness vs audio RMS around each frame time
    py, px = np.round(truth["part_center"]).astype(int).T
    bright = frames[np.arange(spec.n_frames), py, px].astype(float).max(1)
    half = int(spec.sample_rate / spec.fps) // 4
    centres = (truth["times"] * spec.sample_rate).astype(int)
    rms = [np.sqrt(np.mean(audio[max(0, c - half) : c + half] ** 2)) for c in centres]
    assert np.corrcoef(bright, rms)[0, 1] > 0.5
    assert truth["sounding"].all()
    _, silent, tr_s = synthetic.render_clip(dataclasses.replace(spec, audio_kind="silence"), cfg.synth)
    _, noise, tr_n = synthetic.render_clip(dataclasses.replace(spec, audio_kind="noise"), cfg.synth)
    assert not silent.any() and np.sqrt(np.mean(noise**2)) > 0.05
    assert not tr_s["sounding"].any() and not tr_n["sounding"].any()


def test_same_seed_same_world_different_seed_different(tmp_path: Path) -> None:
    cfg = load_profile("smoke", **TINY)
    a = synthetic.generate(cfg, tmp_path / "a", seed=7, progress=False)
    b = synthetic.generate(cfg, tmp_path / "b", seed=7, progress=False)
    c = synthetic.generate(cfg, tmp_path / "c", seed=8, progress=False)
    def listing(w: Path) -> list[Path]:
        return sorted(p.relative_to(w) for p in w.rglob("*") if p.is_file() and p.name != "manifest.json")

    files = listing(a)
    assert files == listing(b) and len(files) > 20
    for rel in files:
        pa, pb = a / rel, b / rel
        if rel.suffix == ".npz":
            za, zb = _npz(pa), _npz(pb)
            assert za.keys() == zb.keys() and all(np.array_equal(za[k], zb[k]) for k in za), rel
        elif rel.suffix == ".mat":
            assert np.array_equal(scipy.io.loadmat(pa)["eyeMap"], scipy.io.loadmat(pb)["eyeMap"]), rel
        elif rel.suffix != ".mp4":  # jpg, wav, txt, csv: same bytes (mp4 container metadata may differ)
            assert pa.read_bytes() == pb.read_bytes(), rel
    assert (a / "truth" / "clips.csv").read_text() != (c / "truth" / "clips.csv").read_text()
    v_a, v_c = (synthetic.read_truth(w).query("db == 'DbA'")["video"].iloc[0] for w in (a, c))
    t_a = _npz(synthetic.truth_path(a, "stavis", "DbA", v_a))
    t_c = _npz(synthetic.truth_path(c, "stavis", "DbA", v_c))
    assert not np.array_equal(t_a["part_center"], t_c["part_center"])


def test_mp4_decodes_with_video_and_audio(smoke) -> None:
    import av

    world, cfg = smoke
    s = cfg.synth
    specs = {x.video: x for x in synthetic.plan_world(cfg, 0) if x.source == "ave"}
    for vid in list(specs)[:3]:
        with av.open(str(ave.video_path(world / "ave", vid))) as box:
            assert box.streams.video and box.streams.audio
            frames = [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]
        with av.open(str(ave.video_path(world / "ave", vid))) as box:
            a_stream = box.streams.audio[0]
            n_samples = sum(f.samples for f in box.decode(audio=0))
            assert a_stream.rate == s.sample_rate
        assert len(frames) == round(s.clip_seconds * s.video_fps)
        assert frames[0].shape == (s.height, s.width, 3)
        assert abs(n_samples / s.sample_rate - s.clip_seconds) < 0.1
        rendered, _, _ = synthetic.render_clip(specs[vid], s)
        # the encoded clip is the rendered one (h264 at crf 18 loses a few grey levels)
        assert np.abs(np.stack(frames).astype(float) - rendered).mean() < 12


def test_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_profile("smoke", **TINY)
    calls = []

    def boom(spec, s):
        calls.append(spec)
        if len(calls) == 3:  # two clips already written
            raise RuntimeError("crash mid-world")
        return orig(spec, s)

    orig = synthetic.render_clip
    monkeypatch.setattr(synthetic, "render_clip", boom)
    with pytest.raises(RuntimeError, match="crash"):
        synthetic.generate(cfg, tmp_path / "w", seed=0, progress=False)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither the world nor its temporary folder


def test_bad_config_named() -> None:
    with pytest.raises(ValueError, match="synth.width/height"):
        synthetic.plan_world(load_profile("smoke", **{"synth.width": 95}), 0)
    with pytest.raises(ValueError, match="test_dbs"):
        synthetic.plan_world(load_profile("smoke", **{"synth.test_dbs": {"X": (32, 32, 25.0, 1, 4)}}), 0)
    with pytest.raises(ValueError, match="seed"):
        synthetic.plan_world(load_profile("smoke"), -1)


def test_cli_runs_skips_and_forces(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "world"
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    argv = ["synth", "--profile", "smoke", "--seed", "3", "--out", str(out), *sets]
    assert main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["config"]["synth"]["num_classes"] == 2
    assert manifest["counts"] == {"ave": 6, "stavis": 4} and "commit" in manifest
    assert len(ave.read_ave(out / "ave").rows) == 6
    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert main(argv) == 0 and "up to date" in capsys.readouterr().out
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    assert main([*argv, "--force"]) == 0 and (out / "manifest.json").stat().st_mtime_ns != stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]


def test_twins_are_silent_copies_of_the_tag_and_observers_follow_the_sound() -> None:
    """The demo's silent twin: same body and part as the sounding object (appearance cannot tell them apart), its
    part does not pulse; observers look at the sounding one when the tag sounds, at both when the audio is
    unrelated and nothing is played (``mismatched_played`` off). A 3 s clip (the demo's are 1.5 s): 36 frames of
    fixations, enough for the shares to settle. The demo shows its twins in the test videos only; ``twins_in_ave``
    puts one in this AVE-layout clip, drawn the same way."""
    cfg = load_profile("demo", **{"synth.clip_seconds": 3.0, "synth.twins_in_ave": True,
                                  "synth.mismatched_played": False})
    assert cfg.synth.twins == 1
    spec = dataclasses.replace(_spec(cfg), observers=8)
    frames, _, truth = synthetic.render_clip(spec, cfg.synth)
    cat = synthetic.category(spec.category, cfg.synth.body_families)
    colour = np.array(cat.part_colour)
    # pixels of the tag's part colour (either object, when bright enough) outside the sounding object's box
    y0, y1, x0, x1 = truth["box"][0]
    gain = 0.5 + 0.5 * cfg.synth.silent_level  # the silent twin's part brightness
    close = np.abs(frames[0].astype(float) - gain * colour).max(-1) < 30
    outside = close.copy()
    outside[y0 : y1 + 1, x0 : x1 + 1] = False
    assert outside.sum() >= 10  # the twin's part, somewhere else in the frame
    on_part = np.linalg.norm(truth["fixations"][:, 1:] - truth["part_center"][truth["fixations"][:, 0] - 1], axis=1)
    near_sounding = (on_part < 3 * truth["part_radius"]).mean()
    unrelated = dataclasses.replace(spec, audio_kind="noise")
    _, _, t_u = synthetic.render_clip(unrelated, cfg.synth)
    on_part_u = np.linalg.norm(t_u["fixations"][:, 1:] - t_u["part_center"][t_u["fixations"][:, 0] - 1], axis=1)
    assert near_sounding > 0.5 > (on_part_u < 3 * t_u["part_radius"]).mean() + 0.1


def test_stavis_unrelated_audio_share() -> None:
    cfg = load_profile("demo")
    specs = [x for x in synthetic.plan_world(cfg, 3) if x.source == "stavis"]
    for db in cfg.synth.test_dbs:
        sub = [x for x in specs if x.db == db]
        unrelated = [x for x in sub if x.audio_kind != "tag"]
        assert len(unrelated) == round(cfg.synth.stavis_unrelated_fraction * len(sub)) >= 1
        assert {x.audio_kind.split(":")[0] for x in unrelated} <= {"other", "noise"}
        assert all(x.audio_kind != f"other:{synthetic.CATEGORY_NAMES[x.category]}" for x in unrelated)


def test_unrelated_noise_off_gives_every_unrelated_video_another_categorys_sound() -> None:
    """synth.unrelated_noise=False: the STAViS-layout unrelated-audio videos all hear another category (none noise);
    the first database's unrelated videos are the same ones (a later one's draws move), and the AVE-layout clips
    (noise, silence, other) are drawn as before."""
    on = synthetic.plan_world(load_profile("demo"), 3)
    off = synthetic.plan_world(load_profile("demo", **{"synth.unrelated_noise": False}), 3)
    assert [s.audio_kind for s in on if s.source == "ave"] == [s.audio_kind for s in off if s.source == "ave"]
    first = sorted(load_profile("demo").synth.test_dbs)[0]
    kinds_on = [s.audio_kind.split(":")[0] for s in on if s.db == first]
    kinds_off = [s.audio_kind.split(":")[0] for s in off if s.db == first]
    assert [k == "tag" for k in kinds_on] == [k == "tag" for k in kinds_off]
    assert "noise" in kinds_on and set(kinds_off) == {"tag", "other"}
    assert {s.audio_kind.split(":")[0] for s in off if s.source == "stavis"} == {"tag", "other"}
    assert all(s.audio_kind != f"other:{synthetic.CATEGORY_NAMES[s.category]}" for s in off if s.source == "stavis")


def test_am_rates_do_not_alias_at_the_training_rate() -> None:
    cfg = load_profile("demo")
    rates = [synthetic.category(i).am_rate for i in range(len(synthetic.CATEGORY_NAMES))]
    assert max(rates) < cfg.media.fps / 2  # below Nyquist: the part's pulse is visible between window frames


def test_shared_looks_pair_categories_that_differ_only_in_sound_and_rhythm() -> None:
    pairs = [(synthetic.category(2 * a, 3, 2), synthetic.category(2 * a + 1, 3, 2)) for a in range(14)]
    for c0, c1 in pairs:
        assert (c0.family, c0.part_colour, c0.pattern, c0.part_offset) == (c1.family, c1.part_colour, c1.pattern,
                                                                           c1.part_offset)
        assert c1.am_rate - c0.am_rate >= 1.0 and c1.am_sharpness > c0.am_sharpness and c0.f0 != c1.f0
    looks = {(c.part_colour, c.pattern) for pair in pairs for c in pair}
    assert len(looks) == 14  # one look per pair, different between pairs
    assert synthetic.category(5, 3, 1) == synthetic.category(5)  # one category per look: the default world
    with pytest.raises(ValueError, match="shared_looks"):
        synthetic.plan_world(load_profile("smoke", **{"synth.shared_looks": 2}), 0)  # 3 classes: not pairs


def test_shared_part_place_puts_every_part_at_one_place_and_keeps_the_rest_of_the_look() -> None:
    """``synth.part_place="shared"``: every category's part at PART_OFFSETS[0]; colour, pattern, body and sound as in
    the default world, where the four places differ by look. Rendered: the sounding part's centre sits there."""
    n = len(synthetic.CATEGORY_NAMES)
    default = [synthetic.category(i) for i in range(n)]
    shared = [synthetic.category(i, place="shared") for i in range(n)]
    assert {c.part_offset for c in default} == set(synthetic.PART_OFFSETS)
    assert {c.part_offset for c in shared} == {synthetic.PART_OFFSETS[0]}
    for a, b in zip(default, shared):
        assert dataclasses.replace(b, part_offset=a.part_offset) == a
    with pytest.raises(ValueError, match="part place"):
        synthetic.category(0, place="corner")
    cfg = load_profile("demo", **{"synth.part_place": "shared"})
    spec = next(s for s in synthetic.plan_world(cfg, 0)
                if synthetic.category(s.category).part_offset != synthetic.PART_OFFSETS[0])
    _, _, truth = synthetic.render_clip(spec, cfg.synth)
    y0, y1, x0, x1 = truth["box"][0].astype(float)
    half = (y1 - y0) / 2  # the body's half-size (the part lies inside it at this place)
    dy, dx = synthetic.PART_OFFSETS[0]
    assert truth["part_center"][0] == pytest.approx([(y0 + y1) / 2 + dy * half, (x0 + x1) / 2 + dx * half], abs=1.5)


def test_part_pattern_by_category_deals_the_four_patterns_by_look_and_keeps_the_rest() -> None:
    """``synth.part_pattern="category"``: look ``a`` gets ``PATTERNS[a % 4]``, so the two categories of each body among
    the demo's six differ in pattern as well as colour; everything else as in the default, where looks 0-7 are all
    solid. Rendered: the horn's part (vertical stripes) has dark columns beside lit ones, the default's does not."""
    n = len(synthetic.CATEGORY_NAMES)
    default = [synthetic.category(i) for i in range(n)]
    dealt = [synthetic.category(i, pattern="category") for i in range(n)]
    assert {c.pattern for c in default[:8]} == {"solid"}
    assert [c.pattern for c in dealt[:8]] == [synthetic.PATTERNS[a % 4] for a in range(8)]
    for a, b in zip(default, dealt):
        assert dataclasses.replace(b, pattern=a.pattern) == a
    six = dealt[:6]
    for family in {c.family for c in six}:
        members = [c for c in six if c.family == family]
        assert len(members) == 2 and members[0].pattern != members[1].pattern
    with pytest.raises(ValueError, match="part pattern"):
        synthetic.category(0, pattern="checks")

    def part_columns(pattern: str) -> np.ndarray:
        cfg = load_profile("demo", **{"synth.part_pattern": pattern})
        spec = next(s for s in synthetic.plan_world(cfg, 0) if synthetic.CATEGORY_NAMES[s.category] == "horn"
                    and s.source == "stavis" and s.audio_kind == "tag")
        frames, _, truth = synthetic.render_clip(spec, cfg.synth)
        k = int(np.flatnonzero(truth["sounding"])[0])
        (py, px), r = np.round(truth["part_center"][k]).astype(int), int(truth["part_radius"] * 0.7)
        return frames[k, py, px - r : px + r + 1].astype(float).sum(1)  # the row through the part's centre

    striped, solid = part_columns("category"), part_columns("look")
    assert striped.min() < 0.5 * striped.max()  # a dark stripe beside a lit one
    assert solid.min() > 0.8 * solid.max()


def test_silent_level_sets_the_part_of_every_silent_object() -> None:
    """At ``silent_level`` 0 a silent object's part is at rest (gain 0.5, the smallest radius); the sounding
    object's part is never dimmer and is brighter whenever its envelope is up."""
    cfg = load_profile("demo", **{"synth.silent_level": 0.0, "synth.twins_in_ave": True})
    spec = dataclasses.replace(_spec(cfg), event_start=0.0, event_end=1e9)
    frames, _, truth = synthetic.render_clip(spec, cfg.synth)
    cat = synthetic.category(spec.category, cfg.synth.body_families, cfg.synth.shared_looks)
    colour = np.array(cat.part_colour)
    at_rest = np.abs(frames.astype(float) - 0.5 * colour).max(-1) < 12  # (T, H, W) pixels of a resting part
    inside = _inside_boxes(truth["box"], at_rest.shape)
    assert (at_rest & ~inside).sum(axis=(1, 2)).min() >= 5  # the twin's resting part, on every frame
    level = synthetic.envelope(cat, truth["times"], 0.0)  # any phase: the envelope's range
    assert level.max() > 0.5  # so some frames show the sounding part well above rest
    bright = np.abs(frames.astype(float) - colour).max(-1) < 40
    assert (bright & inside).any() and not (bright & ~inside).any()


def test_twins_only_in_the_test_videos_when_asked() -> None:
    """``twins_in_ave`` False: the AVE-layout (training) clips show the sounding object without its silent copy,
    the STAViS-layout test videos with it. Counted as pixels of the tag's resting part outside its box."""
    cfg = load_profile("demo", **{"synth.silent_level": 0.0, "synth.twins_in_ave": False, "synth.distractors": 0})
    ave_spec = _spec(cfg)
    stavis_spec = next(s for s in synthetic.plan_world(cfg, 0) if s.source == "stavis" and s.audio_kind == "tag")

    def copies_outside(spec) -> int:
        frames, _, truth = synthetic.render_clip(spec, cfg.synth)
        colour = np.array(synthetic.category(spec.category, cfg.synth.body_families).part_colour)
        rest = np.abs(frames[0].astype(float) - 0.5 * colour).max(-1) < 12
        y0, y1, x0, x1 = truth["box"][0]
        rest[y0 : y1 + 1, x0 : x1 + 1] = False
        return int(rest.sum())

    assert copies_outside(ave_spec) < 3 and copies_outside(stavis_spec) >= 10


def test_track_reach_widens_the_tracks_inside_the_frame() -> None:
    """synth.track_reach: 1 is the plain track (the same draws, never clipped); above 1 the tracks travel further and
    are held at the edge of the frame, never beyond it."""
    t = np.arange(200) / 25.0
    h, w, half = 90, 160, 12.0
    plain = [synthetic._track(np.random.default_rng(i), t, half, h, w) for i in range(40)]
    same = [synthetic._track(np.random.default_rng(i), t, half, h, w, 1.0) for i in range(40)]
    wide = [synthetic._track(np.random.default_rng(i), t, half, h, w, 1.6) for i in range(40)]
    assert all(np.array_equal(a, b) for a, b in zip(plain, same))
    lo, hi = np.array([half + 1.0, half + 1.0]), np.array([h - half - 2.0, w - half - 2.0])
    assert all(((x >= lo - 1e-9) & (x <= hi + 1e-9)).all() for x in wide)
    spread = lambda tracks: np.mean([np.ptp(x, axis=0).mean() for x in tracks])  # noqa: E731
    assert spread(wide) > 1.3 * spread(plain)


def test_envelope_floor_lifts_the_rhythm_and_leaves_the_default_unchanged() -> None:
    """synth.envelope_floor: the envelope in [floor, 1], the same rhythm; 0 is the plain envelope, bit for bit."""
    t = np.linspace(0.0, 4.0, 401)
    for i in range(6):
        cat = synthetic.category(i)
        plain = synthetic.envelope(cat, t, 0.3)
        assert np.array_equal(synthetic.envelope(cat, t, 0.3, 0.0), plain)
        lifted = synthetic.envelope(cat, t, 0.3, 0.25)
        assert lifted.min() >= 0.25 - 1e-12 and lifted.max() <= 1.0 + 1e-12
        np.testing.assert_allclose(lifted, 0.25 + 0.75 * plain)
    cfg = load_profile("smoke", **{"synth.envelope_floor": 0.25})
    spec = next(s for s in synthetic.plan_world(cfg, 0) if s.source == "stavis" and s.audio_kind == "tag")
    _, audio, truth = synthetic.render_clip(spec, cfg.synth)
    third = len(audio) // 3
    quietest = min(np.abs(audio[k : k + 400]).max() for k in range(third, 2 * third - 400, 400))
    assert quietest > 0.02  # never silent between beats (the ambient noise alone is below 0.01)


def test_mismatched_played_changes_only_the_tagged_part() -> None:
    """synth.mismatched_played: an AVE-layout clip with another sound (or silence) shows its tagged object played
    (its part pulsing) instead of at rest; nothing else in the picture or the sound changes, and the truth still
    says nothing is heard. STAViS-layout unrelated-audio videos do not change with it (synth.unrelated_played)."""
    on = load_profile("demo", **{"synth.mismatched_played": True})
    off = load_profile("demo", **{"synth.mismatched_played": False})
    base = _spec(on)
    for kind in ("silence", "noise"):
        spec = dataclasses.replace(base, audio_kind=kind)
        played, audio, truth = synthetic.render_clip(spec, on.synth)
        at_rest, audio_off, _ = synthetic.render_clip(spec, off.synth)
        assert np.array_equal(audio, audio_off) and not truth["sounding"].any()
        diff = np.abs(played.astype(int) - at_rest.astype(int)).max(-1) > 0  # (T, H, W)
        changed = diff.sum(axis=(1, 2))
        assert changed.min() > 0 and not (diff & ~_inside_boxes(truth["box"], diff.shape)).any()  # the part only
        assert changed.max() > 1.5 * changed.min()  # the played part departs from rest with its envelope: it pulses
    stavis = next(s for s in synthetic.plan_world(on, 0) if s.source == "stavis" and s.audio_kind != "tag")
    assert np.array_equal(synthetic.render_clip(stavis, on.synth)[0], synthetic.render_clip(stavis, off.synth)[0])


def test_twin_size_jitter_zero_draws_the_twin_at_the_sounding_objects_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """synth.twin_size_jitter: 0 paints the silent twin at exactly the sounding object's half-size; the default
    jitters it. The world's other draws (the sounding object, the distractor, the audio) do not move with it."""
    sizes: list[float] = []
    draw = synthetic._draw_object

    def recording(frames, cat, centre, s, *rest):
        sizes.append(float(s))
        return draw(frames, cat, centre, s, *rest)

    monkeypatch.setattr(synthetic, "_draw_object", recording)
    runs = {}
    for j in (0.0, 0.1):
        cfg = load_profile("demo", **{"synth.twin_size_jitter": j})
        assert (cfg.synth.distractors, cfg.synth.twins) == (1, 1)
        specs = [s for s in synthetic.plan_world(cfg, 0) if s.source == "stavis"][:4]
        runs[j] = []
        for spec in specs:
            sizes.clear()
            _, audio, truth = synthetic.render_clip(spec, cfg.synth)
            distractor, twin, sounding = sizes  # painted in this order: the sounding object last
            runs[j].append((distractor, twin, sounding, audio, truth["box"]))
    for (d0, t0, s0, a0, b0), (d1, t1, s1, a1, b1) in zip(runs[0.0], runs[0.1]):
        assert t0 == s0 and (d0, s0) == (d1, s1) and np.array_equal(a0, a1) and np.array_equal(b0, b1)
        assert 0.9 * s1 <= t1 <= 1.1 * s1
    assert any(abs(t1 / s1 - 1.0) > 0.01 for _, t1, s1, _, _ in runs[0.1])
    with pytest.raises(ValueError, match="twin_size_jitter"):
        synthetic.plan_world(load_profile("smoke", **{"synth.twin_size_jitter": 1.0}), 0)


def _record_objects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, np.ndarray, float]]:
    """Replace _draw_object by a recorder of (category index, centre track (T, 2), half-size) per painted object,
    in the order painted (the distractors, then the twins, then the tagged object), that still paints."""
    drawn: list[tuple[int, np.ndarray, float]] = []
    draw = synthetic._draw_object

    def recording(frames, cat, centre, s, *rest):
        drawn.append((cat.index, np.array(centre), float(s)))
        return draw(frames, cat, centre, s, *rest)

    monkeypatch.setattr(synthetic, "_draw_object", recording)
    return drawn


def test_unrelated_played_shows_the_tagged_object_played_and_the_observers_follow_it() -> None:
    """synth.unrelated_played: a STAViS-layout video with unrelated audio shows its tagged object played (its part
    pulsing, nothing else in picture or sound changed, the truth still says nothing sounds), and the observers'
    part episodes go to it instead of splitting between it and its silent twin."""
    on = load_profile("demo", **{"synth.unrelated_played": True})
    off = load_profile("demo", **{"synth.unrelated_played": False})
    specs = [s for s in synthetic.plan_world(on, 0) if s.source == "stavis" and s.audio_kind != "tag"][:2]
    assert {s.audio_kind.split(":")[0] for s in specs} == {"other", "noise"}
    for spec in specs:
        played, audio, truth = synthetic.render_clip(spec, on.synth)
        rest, audio_off, truth_off = synthetic.render_clip(spec, off.synth)
        assert np.array_equal(audio, audio_off) and not truth["sounding"].any()
        diff = np.abs(played.astype(int) - rest.astype(int)).max(-1) > 0
        assert diff.sum(axis=(1, 2)).min() > 0 and not (diff & ~_inside_boxes(truth["box"], diff.shape)).any()

        def near_part(tr: dict) -> float:
            fix, kind = tr["fixations"], tr["fixation_target"]
            part = fix[kind == 0]
            centre = tr["part_center"][part[:, 0] - 1]
            return float(np.mean(np.hypot(*(part[:, 1:] - centre).T) < 4 * tr["part_radius"]))

        assert near_part(truth) > 0.95 > 0.8 > near_part(truth_off)
    tag = next(s for s in synthetic.plan_world(on, 0) if s.source == "stavis" and s.audio_kind == "tag")
    a, b = synthetic.render_clip(tag, on.synth), synthetic.render_clip(tag, off.synth)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2]["fixations"], b[2]["fixations"])


def test_heard_visible_puts_the_heard_categorys_object_on_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    """synth.heard_visible: a clip that sounds of another category shows a silent object of that category (its
    first distractor); a clip with the tag's sound or noise is painted exactly as without the option."""
    drawn = _record_objects(monkeypatch)
    on = load_profile("demo", **{"synth.heard_visible": True})
    off = load_profile("demo", **{"synth.heard_visible": False})
    plan = [s for s in synthetic.plan_world(on, 0) if s.audio_kind.startswith("other:")]
    others = [s for s in plan if s.source == "ave"][:3] + [s for s in plan if s.source == "stavis"][:2]
    assert len(others) == 5
    for spec in others:
        drawn.clear()
        synthetic.render_clip(spec, on.synth)
        assert drawn[0][0] == spec.audio_category != spec.category and drawn[-1][0] == spec.category
    for spec in [s for s in synthetic.plan_world(on, 0) if not s.audio_kind.startswith("other:")][:4]:
        assert np.array_equal(synthetic.render_clip(spec, on.synth)[0], synthetic.render_clip(spec, off.synth)[0])


def test_silent_motion_keeps_the_silent_objects_near_their_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """synth.silent_motion: the silent objects' tracks shrink by that share (0: they stay still); the tagged
    object's track and the sound do not change (the same random draws whatever the share)."""
    drawn = _record_objects(monkeypatch)
    spread = {}
    for m in (1.0, 0.1, 0.0):
        cfg = load_profile("demo", **{"synth.silent_motion": m})
        spec = next(s for s in synthetic.plan_world(cfg, 0) if s.source == "stavis" and s.audio_kind == "tag")
        drawn.clear()
        _, audio, _ = synthetic.render_clip(spec, cfg.synth)
        silent, tagged = drawn[:-1], drawn[-1]
        spread[m] = ([np.ptp(c, axis=0).max() for _, c, _ in silent], tagged[1], audio)
    assert all(s > 0 for s in spread[1.0][0]) and all(s == 0 for s in spread[0.0][0])
    assert all(a < 0.2 * b for a, b in zip(spread[0.1][0], spread[1.0][0]))
    assert np.array_equal(spread[0.1][1], spread[1.0][1]) and np.array_equal(spread[0.1][2], spread[1.0][2])


def test_mimed_share_plays_the_first_distractor_unheard(monkeypatch: pytest.MonkeyPatch) -> None:
    """synth.mimed_share: at 1 every clip's first distractor (another category) is played during the event, its part
    level following a rhythm, at rest outside it; the sound, the truth (box, sounding, fixations) and every other
    object are those of the default world, which is the world at 0."""
    levels: list[tuple[int, np.ndarray]] = []
    draw = synthetic._draw_object

    def recording(frames, cat, centre, s, colour, level, part_scale):
        levels.append((cat.index, np.array(level)))
        return draw(frames, cat, centre, s, colour, level, part_scale)

    monkeypatch.setattr(synthetic, "_draw_object", recording)
    on, off = load_profile("demo", **{"synth.mimed_share": 1.0}), load_profile("demo")
    assert off.synth.mimed_share == 0.0 and off.synth.distractors >= 1
    plan = synthetic.plan_world(on, 0)
    specs = [s for s in plan if s.source == "ave"][:2] + [s for s in plan if s.source == "stavis"][:2]
    for spec in specs:
        levels.clear()
        frames_on, audio_on, truth_on = synthetic.render_clip(spec, on.synth)
        drawn_on = list(levels)
        levels.clear()
        frames_off, audio_off, truth_off = synthetic.render_clip(spec, off.synth)
        assert np.array_equal(audio_on, audio_off) and truth_on.keys() == truth_off.keys()
        assert all(np.array_equal(truth_on[k], truth_off[k]) for k in truth_off)
        (cat_on, first_on), (cat_off, first_off) = drawn_on[0], levels[0]
        assert cat_on == cat_off != spec.category
        times = truth_off["times"]
        event = (times >= spec.event_start) & (times < spec.event_end)
        assert event.any() and np.all(first_off == off.synth.silent_level)
        assert np.all(first_on[~event] == on.synth.silent_level) and np.ptp(first_on[event]) > 0.2
        assert all(a == b and np.array_equal(x, y) for (a, x), (b, y) in zip(drawn_on[1:], levels[1:], strict=True))
        assert not np.array_equal(frames_on, frames_off)
    with pytest.raises(ValueError, match="mimed_share"):
        load_profile("demo", **{"synth.mimed_share": 1.5})
