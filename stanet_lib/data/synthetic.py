"""The synthetic audio-visual world (``../shared/DESIGN.md``, "The synthetic world").

A seeded generator that writes the real layouts (AVE: ``reference/evaluation_protocol_and_datasets.md`` §2.1;
STAViS: §2.2) so the real readers are the ones exercised, plus the truth it knows::

    DIR/ave/       AVE/<id>.mp4, Annotations.txt (with header), trainSet.txt, valSet.txt, testSet.txt
    DIR/stavis/    video_frames, video_audio, annotations (fixMap .mat + maps/eyeMap .jpg), fold_lists
    DIR/truth/     clips.csv; ave/<video>.npz, stavis/<DB>/<video>.npz (times, box, part_center, sounding,
                   fixations for STAViS)
    DIR/manifest.json

A category is a body shape shared by several categories (``FAMILIES``) plus a small category-specific
discriminative part (colour x pattern at a fixed place on the body), and a sound: a harmonic tone with a
category-specific fundamental, amplitude-modulated by a category-specific rhythm. The part of the sounding
object pulses with that envelope (audio-visual synchrony); distractors of other categories, at
``synth.distractor_scale`` of its size (1.0 in the demo), and its twins (silent copies) are silent. A silent
object's part holds one level (``synth.silent_level`` of the envelope's [0, 1] range), as does the tagged object
outside its event or under unrelated audio (in an AVE-layout clip with ``synth.mismatched_played`` it is played,
unheard, instead). With ``synth.mimed_share``, that share of the clips has its first distractor mimed: played with
its own rhythm during the event, and not heard.
:func:`render_clip` is pure (spec in, arrays out); :func:`generate` writes a whole world atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage, signal

from .. import artefacts
from ..config import CHOICES, Config, SynthConfig, load_profile, parse_overrides
from ..paths import profile_dirs
from ..progress import bar as progress_bar
from . import ave, encode, stavis

GENERATOR_VERSION = "2"
CATEGORY_NAMES = (
    "bell", "drum", "flute", "horn", "guitar", "violin", "dog", "cat", "bird", "engine", "siren", "clock",
    "whistle", "piano", "goat", "horse", "train", "truck", "bus", "baby", "speech", "saw", "toilet", "banjo",
    "shofar", "mandolin", "frying", "plane",
)  # fmt: skip
FAMILIES = ("disc", "square", "triangle", "diamond")
PART_COLOURS = np.array(
    [[230, 30, 30], [30, 200, 40], [40, 60, 235], [240, 220, 20],
     [220, 40, 220], [20, 210, 220], [250, 130, 10], [130, 40, 200]], dtype=np.float32,
)  # fmt: skip
PATTERNS = ("solid", "ring", "hstripes", "vstripes")
PART_OFFSETS = ((0.1, 0.0), (0.4, -0.42), (0.4, 0.42), (-0.35, 0.0))  # (dy, dx) / body half-size
PART_PLACES = CHOICES["synth.part_place"]  # where the parts sit (the config's one list of them)
PART_PATTERNS = CHOICES["synth.part_pattern"]  # how the parts' patterns are dealt (likewise)
BODY_COLOURS = np.array(
    [[150, 140, 130], [110, 120, 135], [160, 150, 110], [120, 100, 90], [140, 155, 140], [100, 105, 110]],
    dtype=np.float32,
)  # fmt: skip
FIX_TARGETS = ("part", "body", "distractor", "centre")
ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))
CLIP_COLUMNS = ["source", "db", "video", "category", "label", "split", "audio_matches_tag", "audio_kind",
                "width", "height", "fps", "n_frames", "event_start", "event_end"]  # fmt: skip


@dataclass(frozen=True)
class Category:
    """Visual object and sound of one category (index ``i`` of :data:`CATEGORY_NAMES`)."""

    index: int
    name: str
    family: str  # body shape
    part_colour: tuple[float, float, float]
    pattern: str
    part_offset: tuple[float, float]  # (dy, dx) in body half-sizes
    f0: float  # Hz, fundamental of the harmonic tone
    harmonics: tuple[float, ...]  # amplitude of harmonic 1, 2, ...
    am_rate: float  # Hz, amplitude-modulation rhythm: 0.6-1.8 Hz, below the 2 Hz Nyquist rate of 4 fps sampling
    am_sharpness: float  # envelope exponent: 1 smooth ... 4 percussive


def category(i: int, families: int = 3, looks: int = 1, place: str = "category", pattern: str = "look"
             ) -> Category:
    """Category ``i``: its look (body shape cycling over ``families``, part colour x pattern x place) is unique over
    all 28 when ``looks`` is 1; with ``looks`` = L, categories L*a .. L*a + L - 1 share look ``a`` and differ in their
    sound and its rhythm only (member 0 slow and smooth ... member L - 1 fast and percussive), so a still frame
    names the look, not the category, and the part's pulsing or the sound decides. ``place`` (``synth.part_place``):
    "category" puts the part at one of :data:`PART_OFFSETS` by look, "shared" every part at the first of them.
    ``pattern`` (``synth.part_pattern``): "look" deals :data:`PATTERNS` by eights of looks (one pattern for looks
    0-7), "category" the four in turn by look (look ``a`` gets pattern ``a % 4``)."""
    if not 0 <= i < len(CATEGORY_NAMES):
        raise ValueError(f"category index {i} outside 0..{len(CATEGORY_NAMES) - 1}")
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    if place not in PART_PLACES:
        raise ValueError(f"part place must be one of {PART_PLACES}, got {place!r}")
    if pattern not in PART_PATTERNS:
        raise ValueError(f"part pattern must be one of {PART_PATTERNS}, got {pattern!r}")
    a, m = divmod(i, looks)
    n_h = 2 + i % 4
    if looks == 1:
        am_rate, sharpness = 0.6 + ((i * 5) % 7) * 0.2, (1.0, 2.0, 4.0)[i % 3]
    else:  # spread over 0.6-1.8 Hz and sharpness 1-4 by member, a small offset by look
        am_rate, sharpness = 0.6 + 1.1 * m / (looks - 1) + 0.1 * (a % 2), 1.0 + 3.0 * m / (looks - 1)
    return Category(
        index=i, name=CATEGORY_NAMES[i], family=FAMILIES[a % families],
        part_colour=tuple(float(c) for c in PART_COLOURS[a % 8]), pattern=PATTERNS[(a // 8 if pattern == "look" else a) % 4],
        part_offset=PART_OFFSETS[a % 4 if place == "category" else 0], f0=180.0 * 2.0 ** (3.0 * ((i * 11) % 28) / 28.0),
        harmonics=tuple(1.0 / h ** (0.5 + 0.5 * (i % 3)) for h in range(1, n_h + 1)),
        am_rate=am_rate, am_sharpness=sharpness,
    )  # fmt: skip


@dataclass(frozen=True)
class ClipSpec:
    """Everything :func:`render_clip` needs; ``entropy`` seeds the clip's own random stream."""

    source: str  # "ave" | "stavis"
    db: str
    video: str
    category: int
    split: str
    width: int
    height: int
    fps: float
    n_frames: int
    sample_rate: int
    event_start: float
    event_end: float
    audio_kind: str  # "tag" | "other:<name>" | "noise" | "silence"
    audio_category: int  # category heard for "other:<name>", else -1
    observers: int
    entropy: tuple[int, ...]


# ---------------------------------------------------------------------------------------------- motion, audio
def _track(rng: np.random.Generator, t: np.ndarray, half: float, h: int, w: int, reach: float = 1.0) -> np.ndarray:
    """Smooth (y, x) centre track (T, 2): two slow sinusoids per axis, kept inside the frame. Their amplitudes
    are drawn as shares of the room between the start and the nearer edge, times ``reach``
    (``synth.track_reach``); above 1 the track may reach the edge, where it is held."""
    out = np.empty((t.size, 2))
    for ax, size in enumerate((h, w)):
        lo, hi = half + 1.0, size - half - 2.0
        c0 = rng.uniform(lo, hi) if hi > lo else size / 2
        room = max(min(c0 - lo, hi - c0), 0.0)
        a1, a2 = room * rng.uniform(0.3, 0.7) * reach, room * rng.uniform(0.0, 0.3) * reach
        f1, f2 = rng.uniform(0.1, 0.35), rng.uniform(0.35, 0.8)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        out[:, ax] = c0 + a1 * np.sin(2 * np.pi * f1 * t + p1) + a2 * np.sin(2 * np.pi * f2 * t + p2)
        if reach > 1.0 and hi > lo:
            out[:, ax] = out[:, ax].clip(lo, hi)
    return out


def envelope(cat: Category, t: np.ndarray, phase: float, floor: float = 0.0) -> np.ndarray:
    """Amplitude-modulation envelope in [``floor``, 1] of a category's sound at times ``t`` (s): the category's
    rhythm, lifted by ``floor`` (``synth.envelope_floor``: a played instrument that never falls quite silent)."""
    return floor + (1.0 - floor) * ((1.0 + np.sin(2 * np.pi * cat.am_rate * t + phase)) / 2.0) ** cat.am_sharpness


def _gate(t: np.ndarray, start: float, end: float, ramp: float = 0.02) -> np.ndarray:
    """1 inside [start, end) with short linear ramps (no clicks), 0 outside."""
    return np.clip(np.minimum(t - start, end - t) / ramp + 0.5, 0.0, 1.0)


def _tone(cat: Category, t: np.ndarray, rng: np.random.Generator, phase: float, floor: float = 0.0) -> np.ndarray:
    f0 = cat.f0 * (1.0 + rng.uniform(-0.02, 0.02))
    x = sum(a * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi))
            for h, a in enumerate(cat.harmonics, start=1))  # fmt: skip
    return x / sum(cat.harmonics) * envelope(cat, t, phase, floor)


def _audio(spec: ClipSpec, cats: dict[int, Category], rng: np.random.Generator, phase: float,
           floor: float = 0.0) -> np.ndarray:
    """(N,) float32 mono track: the tag's tone, another category's, loud noise, or silence, inside the event;
    quiet ambient noise everywhere except for silence."""
    n = int(round(spec.n_frames / spec.fps * spec.sample_rate))
    t = np.arange(n) / spec.sample_rate
    if spec.audio_kind == "silence":
        return np.zeros(n, np.float32)
    ambient = signal.lfilter([1.0], [1.0, -0.95], rng.normal(0, 1, n))
    x = 0.01 * ambient / (np.abs(ambient).max() + 1e-9)
    gate = _gate(t, spec.event_start, spec.event_end)
    if spec.audio_kind == "noise":
        x = x + 0.25 * gate * np.clip(rng.normal(0, 0.4, n), -1, 1)
    else:
        heard = cats[spec.category if spec.audio_kind == "tag" else spec.audio_category]
        x = x + rng.uniform(0.35, 0.6) * gate * _tone(heard, t, rng, phase, floor)
    return x.astype(np.float32)


# ------------------------------------------------------------------------------------------------ rendering
def _background(rng: np.random.Generator, t: int, h: int, w: int, noise: float) -> np.ndarray:
    """Textured, slowly panning background (T, H, W, 3) float32: colour noise, a grating, bright blobs."""
    pad = max(4, min(h, w) // 8)
    hh, ww = h + 2 * pad, w + 2 * pad
    coarse = rng.normal(0, 1, (hh // 10 + 2, ww // 10 + 2, 4))  # luminance + 3 chroma channels
    tex = ndimage.zoom(coarse, (hh / coarse.shape[0], ww / coarse.shape[1], 1), order=1)[:hh, :ww]
    tex = tex / (tex.std((0, 1)) + 1e-9)
    tex = (115.0 + 32.0 * tex[..., :1] + 14.0 * tex[..., 1:]).astype(np.float32)  # (hh, ww, 3)
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
    theta, period = rng.uniform(0, np.pi), rng.uniform(6, 16) * min(h, w) / 72
    tex += 25.0 * np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)[..., None]
    for _ in range(3):  # bright blobs: the sounding object is never simply the brightest region
        cy, cx, r = rng.uniform(0, hh), rng.uniform(0, ww), rng.uniform(0.05, 0.12) * min(h, w)
        tex[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = rng.uniform(215, 250)
    vel = rng.uniform(-1, 1, 2) * pad / max(t, 1)
    frames = np.empty((t, h, w, 3), np.float32)
    for k in range(t):  # one slice per frame, not per pixel
        oy, ox = (np.round(pad + vel * k).astype(int)).clip(0, 2 * pad)
        frames[k] = tex[oy : oy + h, ox : ox + w]
    # sensor noise of std ``noise``: uniform, 7x faster to draw than Gaussian at this size
    frames += (rng.random(frames.shape, dtype=np.float32) - np.float32(0.5)) * np.float32(noise * np.sqrt(12))
    return frames


def _body_mask(family: str, dy: np.ndarray, dx: np.ndarray, s: float) -> np.ndarray:
    if family == "disc":
        return dy**2 + dx**2 <= s * s
    if family == "square":
        return np.maximum(np.abs(dy), np.abs(dx)) <= 0.88 * s
    if family == "triangle":  # apex up at -s, base at +0.8 s, half-width s
        return (dy <= 0.8 * s) & (np.abs(dx) <= (dy + s) / 1.8)
    if family == "diamond":
        return np.abs(dy) + np.abs(dx) <= 1.1 * s
    raise ValueError(f"unknown body family {family!r}")


def _draw_object(
    frames: np.ndarray, cat: Category, centre: np.ndarray, s: float, body_colour: np.ndarray,
    level: np.ndarray, part_scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Paint one object (half-size ``s`` px) in place. centre (T, 2); level (T,) in [0, 1] drives the part's
    brightness and size (the audio envelope for the sounding object, a constant for silent ones).

    Returns the object's mask (T, H, W) and the part centre (T, 2)."""
    t, h, w, _ = frames.shape
    reach = 1.3 * s  # every shape and part lies within 1.3 s of the centre: paint only that window
    y_lo, x_lo = np.floor(np.maximum(centre.min(0) - reach, 0)).astype(int)
    y_hi, x_hi = np.ceil(np.minimum(centre.max(0) + reach + 1, (h, w))).astype(int)
    win = frames[:, y_lo:y_hi, x_lo:x_hi]  # (T, h', w') view: painting it paints the frames
    yy = np.arange(y_lo, y_hi, dtype=np.float32)[None, :, None]  # (1, h', 1)
    xx = np.arange(x_lo, x_hi, dtype=np.float32)[None, None, :]  # (1, 1, w')
    c = centre.astype(np.float32)
    dy, dx = yy - c[:, 0, None, None], xx - c[:, 1, None, None]  # (T, h', 1), (T, 1, w')
    body = _body_mask(cat.family, dy, dx, s)  # (T, h', w')
    shade = (1.0 - 0.2 * dy / s)[..., None]  # (T, h', 1, 1): lit from the top
    np.copyto(win, body_colour * shade, where=body[..., None])
    part_c = centre + np.array(cat.part_offset) * s  # (T, 2)
    pr = (part_scale * s * (0.85 + 0.3 * level)).astype(np.float32)[:, None, None]  # (T, 1, 1)
    pc = part_c.astype(np.float32)
    py, px = yy - pc[:, 0, None, None], xx - pc[:, 1, None, None]  # (T, h', 1), (T, 1, w')
    r2 = py**2 + px**2  # (T, h', w')
    part = r2 <= pr**2
    if cat.pattern == "ring":
        part_on = r2 >= (0.45 * pr) ** 2
    elif cat.pattern in ("hstripes", "vstripes"):
        part_on = np.sin(2 * np.pi * (py if cat.pattern == "hstripes" else px) / pr) >= 0
    else:
        part_on = np.ones_like(part)
    gain = (0.5 + 0.5 * level).astype(np.float32)[:, None, None, None]  # (T, 1, 1, 1)
    colour = np.where(part_on[..., None], np.array(cat.part_colour, np.float32), np.float32(25.0)) * gain
    np.copyto(win, colour, where=part[..., None])
    mask = np.zeros((t, h, w), bool)
    mask[:, y_lo:y_hi, x_lo:x_hi] = body | part
    return mask, part_c


def _box(mask: np.ndarray) -> np.ndarray:
    """Inclusive (y0, y1, x0, x1) of each frame's mask (T, H, W) -> (T, 4) int32."""
    rows, cols = mask.any(2), mask.any(1)  # (T, H), (T, W)
    h, w = mask.shape[1:]
    y0, y1 = rows.argmax(1), h - 1 - rows[:, ::-1].argmax(1)
    x0, x1 = cols.argmax(1), w - 1 - cols[:, ::-1].argmax(1)
    return np.stack([y0, y1, x0, x1], 1).astype(np.int32)


def render_clip(spec: ClipSpec, synth: SynthConfig) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Render one clip in memory (pure: the same spec and config give the same arrays).

    Returns:
        frames (T, H, W, 3) uint8, audio (N,) float32 in [-1, 1], truth dict with ``times`` (T,) float64,
        ``box`` (T, 4) int32 inclusive (y0, y1, x0, x1), ``part_center`` (T, 2) float32 (y, x), ``sounding``
        (T,) bool (the tag's object is audible), ``part_radius`` () float32 px (at rest), and when
        ``spec.observers > 0`` the arrays of :func:`simulate_fixations`.
    """
    rng = np.random.default_rng(list(spec.entropy))
    h, w, t = spec.height, spec.width, spec.n_frames
    times = np.arange(t, dtype=np.float64) / spec.fps
    n_twins = synth.twins if spec.source == "stavis" or synth.twins_in_ave else 0
    others = _distractor_categories(rng, spec.category, synth)
    if synth.heard_visible and spec.audio_category >= 0 and others:  # the heard sound's object on screen, silent
        others[0] = spec.audio_category
    ids = [spec.category] + others + [spec.category] * n_twins
    cats = {i: category(i, synth.body_families, synth.shared_looks, synth.part_place, synth.part_pattern)
            for i in {*ids, spec.audio_category} if i >= 0}
    phase = rng.uniform(0, 2 * np.pi)
    audio = _audio(spec, cats, rng, phase, synth.envelope_floor)
    frames = _background(rng, t, h, w, synth.frame_noise)
    s_main = synth.object_scale * min(h, w) * rng.uniform(0.9, 1.1)
    main_track = _track(rng, times, s_main * 1.1, h, w, synth.track_reach)
    distractors, twins, placed = [], [], [main_track]
    in_event = (times >= spec.event_start) & (times < spec.event_end)
    # synth.mimed_share: its own random stream, so that every other draw, and the world at 0, stay as they were
    mime = np.random.default_rng([*spec.entropy, 1835625829])
    mimed = bool(others) and synth.mimed_share > 0 and bool(mime.random() < synth.mimed_share)
    j = synth.twin_size_jitter  # the same one draw whatever j: only the twin's size changes with it
    for k, i in enumerate(ids[1:]):
        twin = k >= len(ids) - 1 - n_twins  # the last ``n_twins`` ids: silent copies of the tag's category
        s = s_main * (rng.uniform(1.0 - j, 1.0 + j) if twin else synth.distractor_scale)
        reach = synth.track_reach * synth.silent_motion
        cands = [_track(rng, times, s * 1.1, h, w, reach) for _ in range(8)]  # keep away from the objects placed
        best = max(cands, key=lambda c: min(np.linalg.norm(c - o, axis=1).min() for o in placed))
        colour = BODY_COLOURS[rng.integers(len(BODY_COLOURS))]
        level_d = np.full(t, synth.silent_level)
        if mimed and k == 0:  # played, unheard: its part pulses with its own category's rhythm in the event
            level_d = np.where(in_event, envelope(cats[i], times, mime.uniform(0, 2 * np.pi), synth.envelope_floor),
                               synth.silent_level)
        _, part_d = _draw_object(frames, cats[i], best, s, colour, level_d, synth.part_scale)
        distractors.append((best, s))
        placed.append(best)
        if twin:
            twins.append((part_d, best, s))
    sounding = (spec.audio_kind == "tag") & in_event
    dubbed = synth.mismatched_played if spec.source == "ave" else synth.unrelated_played
    played = sounding | (in_event & dubbed)  # dubbed: played, not heard
    level = np.where(played, envelope(cats[spec.category], times, phase, synth.envelope_floor), synth.silent_level)
    colour = BODY_COLOURS[rng.integers(len(BODY_COLOURS))]
    mask, part_c = _draw_object(frames, cats[spec.category], main_track, s_main, colour, level,
                                synth.part_scale)
    frames = np.clip(np.round(frames), 0, 255).astype(np.uint8)
    truth = {"times": times, "box": _box(mask), "part_center": part_c.astype(np.float32),
             "sounding": sounding, "part_radius": np.float32(s_main * synth.part_scale)}
    if spec.observers > 0:
        truth.update(simulate_fixations(rng, spec, synth, part_c, main_track, s_main, distractors, twins,
                                        played=bool(played.any())))
    return frames, audio, truth


def _distractor_categories(rng: np.random.Generator, tag: int, synth: SynthConfig) -> list[int]:
    others = [i for i in range(synth.num_classes) if i != tag]
    if synth.distractors <= 0 or not others:
        return []
    replace = synth.distractors > len(others)
    return [int(i) for i in rng.choice(others, synth.distractors, replace=replace)]


# -------------------------------------------------------------------------------------------- eye tracking
def simulate_fixations(
    rng: np.random.Generator, spec: ClipSpec, synth: SynthConfig, part_c: np.ndarray, main_track: np.ndarray,
    s_main: float, distractors: list[tuple[np.ndarray, float]],
    twins: list[tuple[np.ndarray, np.ndarray, float]] | None = None, played: bool | None = None,
) -> dict[str, np.ndarray]:
    """Observers' gaze, one sample per frame each: episodes on a target (part, body, a distractor, the screen
    centre) drawn from ``synth.fixation_mix``, lasting ~``fixation_dwell_s``, following the target (pursuit)
    with a per-episode offset, a slow drift and a per-observer bias. The first ~0.2 s look at the centre.

    When nothing on screen is played (``played`` False; None: the clip's audio is the tag's,
    ``spec.audio_kind == "tag"``), a part or body episode goes to any of the tag's objects, the drawn one or one of
    its silent ``twins`` ((part centre (T, 2), track (T, 2), half-size) each), with equal chance; otherwise to the
    played one, heard or dubbed (``synth.unrelated_played``).

    Returns ``fixations`` (N, 3) int32 (frame 1-based, y, x), clipped to the frame, N = observers x frames;
    ``fixation_observer`` (N,) int16; ``fixation_target`` (N,) int8 (index into :data:`FIX_TARGETS`)."""
    t, h, w = spec.n_frames, spec.height, spec.width
    played = spec.audio_kind == "tag" if played is None else played
    diag = float(np.hypot(h, w))
    mix = np.array([synth.fixation_mix.get(k, 0.0) for k in FIX_TARGETS], float)
    if not distractors:
        mix[FIX_TARGETS.index("distractor")] = 0.0
    mix /= mix.sum()
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    pr = s_main * synth.part_scale
    rows, obs, tgt = [], [], []
    for o in range(spec.observers):
        bias, k, first = rng.normal(0, 0.01 * diag, 2), 0, True
        while k < t:
            kind = 3 if first else int(rng.choice(4, p=mix))
            if first:  # onset at the centre: 0.2 s, at most an eighth of a short clip
                dur = max(1, min(round(0.2 * spec.fps), t // 8))
            else:
                dur = int(np.clip(round(rng.gamma(2.0, synth.fixation_dwell_s / 2) * spec.fps), 1, t - k))
            first = False
            obj = (part_c, main_track, s_main)
            if kind in (0, 1) and twins and not played:
                obj = [obj, *twins][int(rng.integers(len(twins) + 1))]
            if kind == 0:
                target, off = obj[0][k : k + dur], rng.normal(0, 0.3 * obj[2] * synth.part_scale, 2)
            elif kind == 1:
                target, off = obj[1][k : k + dur], rng.uniform(-0.6, 0.6, 2) * obj[2]
            elif kind == 2:
                track, s = distractors[rng.integers(len(distractors))]
                target, off = track[k : k + dur], rng.normal(0, 0.3 * s, 2)
            else:
                target, off = np.broadcast_to(centre, (dur, 2)), rng.normal(0, 0.04 * diag, 2)
            drift = np.cumsum(rng.normal(0, 0.03 * pr, (dur, 2)), axis=0)
            rows.append(np.column_stack([np.arange(k, k + dur) + 1, target + off + drift + bias]))
            obs.append(np.full(dur, o))
            tgt.append(np.full(dur, kind))
            k += dur
    fix = np.concatenate(rows) if rows else np.zeros((0, 3))
    fix = np.round(fix).astype(np.int32)
    fix[:, 1], fix[:, 2] = fix[:, 1].clip(0, h - 1), fix[:, 2].clip(0, w - 1)
    cat_o = np.concatenate(obs) if obs else np.zeros(0)
    cat_t = np.concatenate(tgt) if tgt else np.zeros(0)
    return {"fixations": fix, "fixation_observer": cat_o.astype(np.int16),
            "fixation_target": cat_t.astype(np.int8)}


def fixation_maps(fix: np.ndarray, t: int, h: int, w: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Binary maps (T, H, W) bool, one pixel per fixation, and continuous maps (T, H, W) uint8: the binary map
    blurred with a Gaussian of ``sigma`` px (~1 degree), each frame scaled to max 255 (STAViS
    ``maps/eyeMap``)."""
    binary = np.zeros((t, h, w), bool)
    binary[fix[:, 0] - 1, fix[:, 1], fix[:, 2]] = True
    dens = ndimage.gaussian_filter(binary.astype(np.float32), sigma=(0, sigma, sigma), mode="constant")
    peak = dens.reshape(t, -1).max(1)[:, None, None]
    cont = np.where(peak > 0, dens / np.maximum(peak, 1e-12) * 255.0, 0.0)
    return binary, np.round(cont).astype(np.uint8)


# ------------------------------------------------------------------------------------------------- planning
def _validate(synth: SynthConfig) -> None:
    """Raise ValueError naming the ``synth.*`` key that cannot make a world."""
    checks = [
        (2 <= synth.num_classes <= len(CATEGORY_NAMES), "num_classes", f"must be 2..{len(CATEGORY_NAMES)}"),
        (synth.width > 0 and synth.height > 0 and synth.width % 2 == 0 and synth.height % 2 == 0,
         "width/height", "must be positive and even (h264 yuv420p)"),
        (round(synth.clip_seconds * synth.video_fps) >= 1, "clip_seconds", "gives no frame at video_fps"),
        (all(len(v) == 2 and min(v) > 0 and v[0] % 2 == 0 and v[1] % 2 == 0 for v in synth.ave_sizes),
         "ave_sizes", "must be (width, height) pairs, positive and even"),
        (0.0 <= synth.mismatched_audio_fraction <= 1.0, "mismatched_audio_fraction", "must be in [0, 1]"),
        (0.0 <= synth.stavis_unrelated_fraction <= 1.0, "stavis_unrelated_fraction", "must be in [0, 1]"),
        (synth.twins >= 0 and synth.distractors >= 0, "twins/distractors", "must be >= 0"),
        (0.0 <= synth.twin_size_jitter < 1.0, "twin_size_jitter", "must be in [0, 1)"),
        (1 <= synth.body_families <= len(FAMILIES), "body_families", f"must be in 1..{len(FAMILIES)}"),
        (synth.shared_looks >= 1 and synth.num_classes % synth.shared_looks == 0, "shared_looks",
         "must be >= 1 and divide num_classes"),
        (all(synth.clips_per_class.get(s, 0) >= 0 for s in ave.SPLIT_FILES)
         and sum(synth.clips_per_class.get(s, 0) for s in ave.SPLIT_FILES) >= 1,
         "clips_per_class", "needs non-negative train/val/test counts, at least one clip per class"),
        (set(synth.fixation_mix) <= set(FIX_TARGETS) and sum(synth.fixation_mix.values()) > 0,
         "fixation_mix", f"keys must be among {FIX_TARGETS} with a positive sum"),
        (synth.folds >= 1, "folds", "must be >= 1"),
    ]  # fmt: skip
    for db, v in synth.test_dbs.items():
        ok = len(v) == 5 and min(v) > 0 and int(v[3]) >= synth.folds
        why = "needs (width, height, fps, n_videos >= folds, n_frames), all > 0"
        checks.append((ok, f"test_dbs[{db!r}]", why))
    for ok, key, why in checks:
        if not ok:
            raise ValueError(f"synth.{key} {why} (config: {dataclasses.asdict(synth)})")


def _youtube_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 11-character ids over the YouTube alphabet (never starting with '-')."""
    out: dict[str, None] = {}
    while len(out) < n:
        chars = ID_ALPHABET[rng.integers(0, len(ID_ALPHABET), 11)]
        chars[0] = ID_ALPHABET[rng.integers(0, 62)]
        out["".join(chars)] = None
    return list(out)


def _event_span(rng: np.random.Generator, duration: float, full_fraction: float) -> tuple[float, float]:
    """AVE-like span: the whole clip with probability ``full_fraction``, else integer seconds inside it."""
    whole = int(np.floor(duration))
    if whole < 2 or rng.random() < full_fraction:
        return 0.0, float(duration)
    length = int(rng.integers(1, whole))
    start = int(rng.integers(0, whole - length + 1))
    return float(start), float(start + length)


def plan_world(cfg: Config, seed: int) -> list[ClipSpec]:
    """Every clip of the world (AVE splits, then STAViS databases), drawn from ``seed`` only."""
    synth = cfg.synth
    _validate(synth)
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    rng = np.random.default_rng([seed, 0])
    per_class = {s: int(synth.clips_per_class.get(s, 0)) for s in ave.SPLIT_FILES}
    ids = iter(_youtube_ids(rng, sum(per_class.values()) * synth.num_classes))
    n_frames = int(round(synth.clip_seconds * synth.video_fps))
    sizes = [tuple(v) for v in synth.ave_sizes] or [(synth.width, synth.height)]
    specs: list[ClipSpec] = []
    for split, n in per_class.items():
        labels = [c for c in range(synth.num_classes) for _ in range(n)]
        mism = rng.permutation(len(labels))[: int(round(synth.mismatched_audio_fraction * len(labels)))]
        offset = int(rng.integers(3))  # mismatch kinds in equal shares: noise, silence, another category
        kind_of = {int(j): ("noise", "silence", "other")[(r + offset) % 3] for r, j in enumerate(mism)}
        for j, c in enumerate(labels):
            start, end = _event_span(rng, n_frames / synth.video_fps, synth.full_event_fraction)
            kind, heard = kind_of.get(j, "tag"), -1
            if kind == "other":
                heard = int(rng.choice([i for i in range(synth.num_classes) if i != c]))
                kind = f"other:{CATEGORY_NAMES[heard]}"
            w, h = sizes[j % len(sizes)]
            specs.append(ClipSpec(
                "ave", "", next(ids), c, split, int(w), int(h), synth.video_fps, n_frames,
                synth.sample_rate, start, end, kind, heard, 0, (seed, 1, len(specs))))  # fmt: skip
    for d, (db, v) in enumerate(sorted(synth.test_dbs.items())):
        w, h, fps, n_videos, nf = int(v[0]), int(v[1]), float(v[2]), int(v[3]), int(v[4])
        cats = rng.permutation(np.arange(n_videos) % synth.num_classes)
        unrelated = set(rng.permutation(n_videos)[: int(round(synth.stavis_unrelated_fraction * n_videos))].tolist())
        for i, c in enumerate(cats):
            kind, heard = "tag", -1
            if i in unrelated:  # off-screen sound of another category, or music-like noise, in turn (or never noise)
                if not synth.unrelated_noise or len(unrelated & set(range(i))) % 2 == 0:
                    heard = int(rng.choice([k for k in range(synth.num_classes) if k != c]))
                    kind = f"other:{CATEGORY_NAMES[heard]}"
                else:
                    kind = "noise"
            specs.append(ClipSpec(
                "stavis", db, f"V{i + 1:02d}_{CATEGORY_NAMES[c]}", int(c), "test", w, h, fps, nf,
                synth.sample_rate, 0.0, nf / fps, kind, heard, synth.observers, (seed, 2, d, i)))  # fmt: skip
    return specs


# -------------------------------------------------------------------------------------------------- writing
def truth_path(world: str | Path, source: str, db: str, video: str) -> Path:
    """``DIR/truth/ave/<video>.npz`` or ``DIR/truth/stavis/<DB>/<video>.npz``."""
    base = Path(world) / "truth"
    return base / "ave" / f"{video}.npz" if source == "ave" else base / "stavis" / db / f"{video}.npz"


def read_truth(world: str | Path) -> pd.DataFrame:
    """``DIR/truth/clips.csv`` with its types (``db`` is ``""`` for AVE rows, ``audio_matches_tag`` bool)."""
    path = Path(world) / "truth" / "clips.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: synthetic-world truth table not found")
    df = pd.read_csv(path, keep_default_na=False, dtype={"db": str, "video": str, "audio_kind": str})
    missing = set(CLIP_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    df["audio_matches_tag"] = df["audio_matches_tag"].astype(str).str.lower().eq("true")
    return df


def _write_clip(world: Path, spec: ClipSpec, synth: SynthConfig) -> dict:
    """Render one clip and write its media and truth; return its ``clips.csv`` row."""
    frames, audio, truth = render_clip(spec, synth)
    if spec.source == "ave":
        encode.write_mp4(ave.video_path(world / "ave", spec.video), frames, spec.fps, audio, spec.sample_rate)
    else:
        root, db, v = stavis.StavisRoot(world / "stavis"), spec.db, spec.video
        encode.write_wav(root.audio_path(db, v), audio, spec.sample_rate)
        sigma = synth.gt_sigma_frac * float(np.hypot(spec.height, spec.width))
        binary, cont = fixation_maps(truth["fixations"], spec.n_frames, spec.height, spec.width, sigma)
        for k in range(spec.n_frames):
            encode.write_jpeg(root.frame_path(db, v, k + 1), frames[k])
            stavis.save_fixation_map(root.fixation_path(db, v, k + 1), binary[k])
            encode.write_jpeg(root.map_path(db, v, k + 1), cont[k])
    artefacts.write_npz(truth_path(world, spec.source, spec.db, spec.video), **truth)
    return {"source": spec.source, "db": spec.db, "video": spec.video,
            "category": CATEGORY_NAMES[spec.category], "label": spec.category, "split": spec.split,
            "audio_matches_tag": spec.audio_kind == "tag", "audio_kind": spec.audio_kind,
            "width": spec.width, "height": spec.height, "fps": spec.fps, "n_frames": spec.n_frames,
            "event_start": spec.event_start, "event_end": spec.event_end}  # fmt: skip


def _write_ave_index(root: Path, specs: list[ClipSpec]) -> None:
    """``Annotations.txt`` (header; rows grouped by category in label order, as in the real file) and the
    three split files (no header)."""
    rows = pd.DataFrame(
        [(s.category, CATEGORY_NAMES[s.category], s.video, "good", s.event_start, s.event_end, s.split)
         for s in specs if s.source == "ave"],
        columns=["label", "category", "video_id", "quality", "start", "end", "split"],
    ).sort_values("label", kind="stable")  # fmt: skip
    ave.write_annotation_file(root / "Annotations.txt", rows, header=True)
    for split, fname in ave.SPLIT_FILES.items():
        ave.write_annotation_file(root / fname, rows[rows["split"] == split], header=False)


def _write_fold_lists(root: Path, specs: list[ClipSpec], folds: int, seed: int) -> None:
    """``<DB>_list_{test,train}_<k>_fps.txt`` ("name nframes fps"); the test folds partition each database."""
    for d, db in enumerate(sorted({s.db for s in specs if s.source == "stavis"})):
        vids = [s for s in specs if s.source == "stavis" and s.db == db]
        fold_of = np.empty(len(vids), int)
        fold_of[np.random.default_rng([seed, 3, d]).permutation(len(vids))] = np.arange(len(vids)) % folds
        for k in range(folds):
            for kind, keep in (("test", fold_of == k), ("train", fold_of != k)):
                lines = [f"{s.video} {s.n_frames} {s.fps:.6f}" for s, m in zip(vids, keep, strict=True) if m]
                path = root / "fold_lists" / f"{db}_list_{kind}_{k + 1}_fps.txt"
                artefacts.write_text(path, "\n".join(lines))  # no trailing newline, as the real lists


def _inputs(cfg: Config, seed: int) -> dict[str, str]:
    """What the world depends on: the ``synth`` section, the seed and the generator version."""
    return {"synth": artefacts.digest(dataclasses.asdict(cfg.synth)), "seed": str(seed),
            "generator": GENERATOR_VERSION}  # fmt: skip


def is_complete(out: str | Path, cfg: Config, seed: int) -> bool:
    """True when ``out/manifest.json`` (written last) records the same synth config, seed and generator."""
    path = Path(out) / "manifest.json"
    try:
        return json.loads(path.read_text()).get("inputs_digest") == artefacts.digest(_inputs(cfg, seed))
    except (OSError, json.JSONDecodeError):
        return False


def generate(cfg: Config, out: str | Path, seed: int | None = None, force: bool = False,
             progress: bool = True) -> Path:  # fmt: skip
    """Write the whole world into ``out.tmp-<pid>`` and rename it to ``out`` (a crash leaves no half world).

    An existing complete world with the same synth config and seed is kept unless ``force``.
    """

    seed = cfg.seed if seed is None else int(seed)
    out = Path(out)
    if not force and is_complete(out, cfg, seed):
        return out
    specs = plan_world(cfg, seed)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.perf_counter()
    try:
        bar = progress_bar(specs, desc="synth", unit="clip", enabled=progress)
        rows = [_write_clip(tmp, s, cfg.synth) for s in bar]
        _write_ave_index(tmp / "ave", specs)
        _write_fold_lists(tmp / "stavis", specs, cfg.synth.folds, seed)
        table = pd.DataFrame(rows, columns=CLIP_COLUMNS)
        artefacts.write_text(tmp / "truth" / "clips.csv", table.to_csv(index=False))
        counts = {src: int((table["source"] == src).sum()) for src in ("ave", "stavis")}
        manifest = artefacts.make_manifest(
            cfg.to_dict(), _inputs(cfg, seed), seed=seed, profile=cfg.profile, generator=GENERATOR_VERSION,
            counts=counts, seconds=round(time.perf_counter() - t0, 2))  # fmt: skip
        artefacts.write_json(tmp / "manifest.json", manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f"{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib synth``."""
    p.add_argument("--profile", default="demo", choices=("smoke", "demo", "paper"), help="config profile")
    p.add_argument("--seed", type=int, default=None, help="world seed (default: the profile's seed)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: data/synthetic/<profile>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. synth.num_classes=4 (repeatable)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="regenerate even if an identical world exists")


def run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib synth``: write the synthetic world of a profile."""
    cfg = load_profile(args.profile, **parse_overrides(args.overrides))
    seed = cfg.seed if args.seed is None else args.seed
    out = Path(args.out) if args.out is not None else profile_dirs(args.profile)["synth"]
    if not args.force and is_complete(out, cfg, seed):
        print(f"synth: {out} is up to date (profile {cfg.profile}, seed {seed}); --force to regenerate")
        return 0
    t0 = time.perf_counter()
    generate(cfg, out, seed, force=True, progress=sys.stderr.isatty())
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"synth: wrote {out} (profile {cfg.profile}, seed {seed}) in {time.perf_counter() - t0:.1f} s, "
          f"{size / 2**20:.1f} MiB")  # fmt: skip
    return 0
