"""The fixation viewer: one test video at a time, frame by frame, with the sound.

:func:`viewer` returns a :class:`FixationViewer` over a profile's world: database and video dropdowns, a
frame slider with play/pause (``ipywidgets.Play`` linked to the ``IntSlider`` in the browser, stepping at the
clip's frame rate), toggles for the ten layers of :data:`stanet_lib.viz.layers.LAYER_NAMES` (a layer that is
switched on is blue with a check mark; a missing one is disabled and its tooltip and the status line give the
reason), opacity and colormap, coarse or fine CAMs, side-by-side mode for two layers, the clip's audio
(``ipywidgets.Audio``, the wav bytes), the spectrogram strip with a playhead under the frame, a legend (a colour
bar and a one-line description per shown layer, :data:`stanet_lib.viz.layers.GLOSSARY`), and the AUC-J / SIM /
CC / NSS of every shown prediction layer on the current frame (:func:`stanet_lib.viz.layers.frame_metrics`).

Frames are numbered from 1, as the STAViS files are (``img_00001.jpg`` is frame 1): the slider, the status line
and the metrics table show the same number. Controls that do nothing in a mode are disabled (the map toggles in
side-by-side mode, the left / right choice outside it, the colormap when several maps are shown: each map then
has a colormap of its own, named in the legend).

The sound follows the frame. The audio element lives in the browser, so a small script (one ``Output`` widget
holding an ``application/javascript`` output, run by the notebook frontend) keeps it at the time of the frame
the slider shows, ``(frame - 1) / fps``: paused, the audio element is moved to that time; playing, it plays
from there and is moved back whenever it drifts by more than :data:`SYNC_TOLERANCE_S` or a frame. The kernel
writes the clip's frame interval and whether Play is running into a hidden ``HTML`` widget, the clock, which
the script watches. Play steps at the clip's frame rate in the browser (its interval is corrected while it
plays for the time the browser's timer spends beyond it, :meth:`FixationViewer._pace`); when a redraw is slower than a frame
interval the kernel skips the steps it has fallen behind on (:attr:`FixationViewer.dropped`), as a video
player drops frames, and always draws the frame Play stops on. Without a frontend that runs scripts the
viewer works as before, the audio just does not follow.

Drawing is :mod:`stanet_lib.viz` on a frame upscaled to ``size`` pixels, sent as PNG bytes to one
``ipywidgets.Image`` (fast PNG settings); loaded videos, ground truth and metrics are cached, so a slider
step costs one composite and one PNG encode (:func:`bench_viewer` measures it: ``python -m stanet_lib bench
viewer``). The widget classes are plain ipywidgets, so the viewer also works (and is tested) without a
browser: setting ``viewer.slider.value`` redraws synchronously.
"""

from __future__ import annotations

import collections
import html
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np

from . import layers as L
from . import render as viz

__all__ = ["CMAPS", "MULTI_CMAPS", "ANNOTATIONS", "png_bytes", "layer_cmaps", "FixationViewer", "viewer"]


CMAPS = ("jet", "viridis", "inferno", "magma", "hot", "turbo", "gray")
#: One colormap per map when several maps are shown at once (in the order of the layer toggles).
MULTI_CMAPS = ("Reds", "Blues", "Greens", "Purples", "Oranges", "Greys", "YlOrBr", "PuRd")
ANNOTATIONS = ("box", "gt_fixations")  # drawn on top of maps, also in side-by-side mode
ANNOTATION_COLORS = {"box": "#ffffff", "gt_fixations": "#ff00ff"}  # render.compose_layers' defaults
STRIP_HEIGHT = 40
MIN_INTERVAL_MS = 20  # Play's timer never runs faster than 50 steps per second
PACE_EVERY = 3  # while playing, Play's interval is corrected every this many steps
SYNC_TOLERANCE_S = 0.25  # while playing, the audio is moved back to the frame when it drifts further

_SYNC_JS = """
(function () {
  const uid = %(uid)s, tol = %(tol)s;
  function bind() {
    const root = document.querySelector('.stanet-viewer-' + uid);
    const audio = root && root.querySelector('audio');
    const clock = root && root.querySelector('.stanet-clock');
    if (!audio || !clock) return false;
    if (root.dataset.stanetSync) return true;
    root.dataset.stanetSync = '1';
    const readout = root.querySelector('.stanet-frame-slider .widget-readout');
    const apply = () => {
      const s = clock.querySelector('[data-time]');
      if (!s) return;
      const step = parseFloat(s.dataset.step), playing = s.dataset.playing === '1';
      const shown = readout ? parseInt(readout.innerText, 10) : NaN;  // the slider as the browser shows it now
      const t = Number.isFinite(shown) ? (shown - 1) * step : parseFloat(s.dataset.time);
      if (playing) {
        if (audio.paused) { audio.currentTime = t; audio.play().catch(() => {}); }
        else if (Math.abs(audio.currentTime - t) > Math.max(tol, 1.5 * step)) audio.currentTime = t;
      } else {
        if (!audio.paused) audio.pause();
        if (Math.abs(audio.currentTime - t) > 1e-3) audio.currentTime = t;
      }
    };
    const watch = {childList: true, subtree: true, characterData: true, attributes: true};
    new MutationObserver(apply).observe(clock, watch);
    if (readout) new MutationObserver(apply).observe(readout, watch);
    audio.addEventListener('loadedmetadata', apply);
    apply();
    return true;
  }
  if (!bind()) {
    const h = setInterval(() => { if (bind()) clearInterval(h); }, 200);
    setTimeout(() => clearInterval(h), 600000);
  }
})();
"""


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of an (H, W, 3) uint8 image with fast settings (zlib level 1: a redraw is 2-3x quicker than 6)."""
    buf = io.BytesIO()
    viz.to_pil(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def layer_cmaps(names: list[str], cmap: str) -> dict[str, str]:
    """Colormap of each map layer in ``names``: ``cmap`` for a single map; several maps get one of
    :data:`MULTI_CMAPS` each (in order), so that they can be told apart."""
    maps = [n for n in names if viz.LAYERS.get(n, viz.LayerSpec("map", "")).kind == "map"]
    if len(maps) <= 1:
        return {n: cmap for n in maps}
    return {n: MULTI_CMAPS[i % len(MULTI_CMAPS)] for i, n in enumerate(maps)}


def _legend_row(name: str, cmap: str | None) -> str:
    if cmap is not None:
        bar = (f"<span title='{html.escape(cmap)}' style='display:inline-block;width:90px;height:10px;"
               f"vertical-align:middle;background:linear-gradient(to right,{','.join(viz.colormap_stops(cmap))})'>"
               "</span> <small>low&nbsp;&rarr;&nbsp;high</small>")
    else:
        shape = "border:2px solid #888" if name == "box" else "border-radius:50%"
        color = ANNOTATION_COLORS.get(name, "#000")
        bar = (f"<span style='display:inline-block;width:10px;height:10px;vertical-align:middle;"
               f"background:{color};{shape}'></span>")
    return (f"<tr class='stanet-legend-{name}'><td style='padding:0 6px'><b>{name}</b></td>"
            f"<td style='padding:0 6px'>{bar}</td><td>{html.escape(L.GLOSSARY.get(name, ''))}</td></tr>")


class FixationViewer:
    """The viewer's widgets and state; display it (it delegates to :attr:`widget`) or call :meth:`render`.

    Args:
        world: a :class:`stanet_lib.stages.World` or a data root (opened with ``profile``).
        profile: profile of a data root.
        db, video: what to show first (default: the first test video).
        size: displayed frame size in pixels (frames are upscaled from the cache canvas).
        layers: layers switched on at start (those that are available).
        cmap, opacity: initial colormap and map opacity.
        stavis_root: ground truth and audio root (default: the one the cache was built from).
        seed: seed of the AUC-J jitter.
    """

    def __init__(self, world: Any, profile: str = "demo", db: str | None = None, video: str | None = None,
                 size: int = 384, layers: tuple[str, ...] = ("gt_fixations", "SCAM_fine"), cmap: str = "jet",
                 opacity: float = 0.5, stavis_root: str | Path | None = None, seed: int = 0) -> None:
        self.world = L.as_world(world, profile)
        self.videos = L.list_videos(self.world)
        if not self.videos:
            raise LookupError(f"{Path(self.world.cache) / 'index.csv'}: no STAViS test videos (run notebook 01)")
        self.size, self.stavis_root, self.seed = int(size), stavis_root, seed
        self._cache: collections.OrderedDict[tuple[str, str, str], L.VideoLayers] = collections.OrderedDict()
        self._busy = False
        self._loaded: tuple[str, str] | None = None
        self._play_start = (0.0, 1)  # (perf_counter, frame) when Play was pressed
        self.dropped = 0  # slider steps not drawn while playing because the view had fallen behind
        self.last_redraw_ms = float("nan")
        self.uid = uuid.uuid4().hex[:12]
        db = db or self.videos[0][0]
        dbs = sorted({d for d, _ in self.videos})
        self.db = W.Dropdown(options=dbs, value=db, description="database")
        self.video = W.Dropdown(options=self._videos_of(db), description="video")
        if video is not None:
            self.video.value = video
        self.play = W.Play(value=1, min=1, max=1, step=1, interval=250, description="play", show_repeat=False)
        self.slider = W.IntSlider(value=1, min=1, max=1, step=1, description="frame", continuous_update=True)
        self.slider.add_class("stanet-frame-slider")
        self.play.add_class("stanet-play")
        W.jslink((self.play, "value"), (self.slider, "value"))
        self.toggles = {n: W.ToggleButton(value=n in layers, description=n, layout=W.Layout(width="auto"))
                        for n in L.LAYER_NAMES}
        for n, tb in self.toggles.items():
            tb.add_class(f"stanet-layer-{n}")
        self.opacity = W.FloatSlider(value=opacity, min=0.0, max=1.0, step=0.05, description="opacity")
        self.cmap = W.Dropdown(options=CMAPS, value=cmap, description="colormap")
        self.cam_stage = W.ToggleButtons(options=["coarse", "fine"], value="coarse", description="CAMs",
                                         tooltips=["CAM_S / CAM_ST / CAM_SA of the coarse nets (whole frame)",
                                                   "CAM_S / CAM_ST / CAM_SA of the fine nets (the box's crop)"])
        self.cam_stage.add_class("stanet-cam-stage")
        self.side = W.Checkbox(value=False, description="side by side")
        self.left = W.Dropdown(options=L.LAYER_NAMES, value="gt_map", description="left")
        self.right = W.Dropdown(options=L.LAYER_NAMES, value="SCAM_fine", description="right")
        self.image = W.Image(format="png", layout=W.Layout(align_self="flex-start"))  # natural size, not stretched
        self.image.add_class("stanet-viewer-image")
        self.audio = W.Audio(format="wav", autoplay=False, loop=False, controls=True)
        self.clock = W.HTML(layout=W.Layout(display="none"))
        self.clock.add_class("stanet-clock")
        self.sync = W.Output(layout=W.Layout(display="none"))
        self.sync.outputs = ({"output_type": "display_data", "metadata": {}, "data": {
            "application/javascript": _SYNC_JS % {"uid": json.dumps(self.uid), "tol": SYNC_TOLERANCE_S}}},)
        self.legend = W.HTML()
        self.legend.add_class("stanet-legend")
        self.metrics = W.HTML()
        self.status = W.HTML()
        self.status.add_class("stanet-status")
        self.widget = W.VBox([
            W.HBox([self.db, self.video, self.cam_stage]),
            W.HBox([self.play, self.slider]),
            W.HBox(list(self.toggles.values()), layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.opacity, self.cmap, self.side, self.left, self.right], layout=W.Layout(flex_flow="row wrap")),
            self.image, self.audio, self.legend, self.metrics, self.status, self.clock, self.sync,
        ])
        self.widget.add_class("stanet-viewer")
        self.widget.add_class(f"stanet-viewer-{self.uid}")
        self.db.observe(self._on_db, "value")
        for w in (self.video, self.cam_stage):
            w.observe(self._on_video, "value")
        self.play.observe(self._on_playing, "playing")
        for w in (self.slider, self.opacity, self.cmap, self.side, self.left, self.right, *self.toggles.values()):
            w.observe(lambda _change: self.redraw(), "value")
        self._on_video()

    # ------------------------------------------------------------------------------------------- state
    def _videos_of(self, db: str) -> list[str]:
        return [v for d, v in self.videos if d == db]

    @property
    def current(self) -> L.VideoLayers:
        """The loaded video (cached: switching back and forth does not reload)."""
        key = (self.db.value, self.video.value, self.cam_stage.value)
        if key not in self._cache:
            self._cache[key] = L.VideoLayers(self.world, key[0], key[1], key[2], self.stavis_root, self.seed)
            while len(self._cache) > 6:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return self._cache[key]

    @property
    def frame(self) -> int:
        """The shown frame's number, 1-based (the slider's value; frame ``n`` is the STAViS file ``n``)."""
        return int(self.slider.value)

    def frame_time(self, frame: int | None = None) -> float:
        """Time in seconds of frame ``frame`` (default: the shown one) in the clip and its audio."""
        return float(self.current.times[(self.frame if frame is None else int(frame)) - 1])

    @property
    def fps(self) -> float:
        """The clip's frame rate (from its frame times), at which Play steps."""
        times = self.current.times
        return 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 4.0

    def _on_db(self, _change: Any = None) -> None:
        self._busy = True
        try:
            self.video.options = self._videos_of(self.db.value)  # selects the first: fires _on_video
        finally:
            self._busy = False
        self._on_video()

    def _on_video(self, _change: Any = None) -> None:
        if self._busy or self.video.value is None:
            return
        vl = self.current
        new_video = self._loaded != (vl.db, vl.video)  # coarse <-> fine keeps the frame
        self._busy = True
        try:
            for n, tb in self.toggles.items():
                if not vl.available(n):
                    tb.value = False
            self.play.interval = self._frame_ms()
            frame = 1 if new_video else min(self.frame, len(vl))
            self.slider.max = self.play.max = max(len(vl), 1)
            self.slider.value = self.play.value = frame
            if new_video:
                self.play.playing = False
                wav = vl.wav_bytes()
                self.audio.value = wav or b""
                self.audio.layout.display = None if wav else "none"
            self._loaded = (vl.db, vl.video)
        finally:
            self._busy = False
        self.redraw()

    def shown_layers(self) -> list[str]:
        """Layers drawn now, in drawing order (side-by-side: the two chosen layers)."""
        if self.side.value:
            return list(dict.fromkeys([self.left.value, self.right.value]))
        return [n for n in L.LAYER_NAMES if self.toggles[n].value]

    def _sync_controls(self) -> None:
        """Enabled state, look and tooltip of every control for the current mode and video."""
        vl = self.current
        side = bool(self.side.value)
        for n, tb in self.toggles.items():
            ok = vl.available(n)
            tb.disabled = not ok or (side and n not in ANNOTATIONS)
            tb.button_style = "info" if tb.value and not tb.disabled else ""
            tb.icon = "check" if tb.value and not tb.disabled else ""
            why = (vl.reasons[n] if not ok else "side by side: choose the layers with left / right" if tb.disabled
                   else "shown" if tb.value else "hidden")
            tb.tooltip = f"{n} ({why}): {L.GLOSSARY[n]}"
        self.left.disabled = self.right.disabled = not side
        n_maps = len(layer_cmaps(self.shown_layers(), self.cmap.value))
        self.cmap.disabled = n_maps > 1 and not side
        self.cmap.tooltip = "one colormap per map while several are shown (see the legend)" if self.cmap.disabled \
            else "colormap of the shown map"

    def _on_playing(self, _change: Any = None) -> None:
        self._play_start = (time.perf_counter(), self.frame)
        self.play.interval = self._frame_ms()
        if self.play.playing:
            self._tick()
        else:
            self.redraw()  # the frame Play stopped on is drawn even if its step was dropped

    def _frame_ms(self) -> int:
        """The clip's frame interval in ms, Play's interval when its timer has no overhead."""
        return max(int(round(1000.0 / self.fps)), MIN_INTERVAL_MS)

    def _behind(self) -> bool:
        """While playing: is the shown frame already older than the one due at the clip's frame rate?"""
        if not self.play.playing or self.frame >= self.slider.max:
            return False
        t0, f0 = self._play_start
        due = f0 + (time.perf_counter() - t0) * self.fps
        return self.frame < due - 1

    def _pace(self) -> None:
        """Keep Play at the clip's rate: the browser's timer waits ``interval`` after each step's own work, so
        every few steps the interval is shortened by the time each step has been taking beyond a frame."""
        t0, f0 = self._play_start
        n = self.frame - f0
        if not self.play.playing or n < PACE_EVERY or n % PACE_EVERY:
            return
        lag_ms = (time.perf_counter() - t0) * 1000.0 / n - 1000.0 / self.fps  # per step, > 0: too slow
        interval = min(max(int(round(self.play.interval - lag_ms)), MIN_INTERVAL_MS), self._frame_ms())
        if interval != self.play.interval:
            self.play.interval = interval

    def _tick(self) -> None:
        """Write the shown frame's time and the play state into the clock the browser's audio follows."""
        vl = self.current
        step = 1.0 / self.fps
        self.clock.value = (f"<span data-time='{self.frame_time():.4f}' data-step='{step:.4f}' "
                            f"data-playing='{int(bool(self.play.playing))}' data-frame='{self.frame}' "
                            f"data-video='{html.escape(vl.db + '/' + vl.video)}'></span>")

    # ------------------------------------------------------------------------------------------ render
    def _compose(self, vl: L.VideoLayers, t: int, names: list[str], cmaps: dict[str, str]) -> np.ndarray:
        frame = vl.frame(t, self.size)
        values, reasons = vl.values_at(t, names, self.size)
        n_maps = sum(viz.LAYERS[n].kind == "map" for n in names if values.get(n) is not None)
        return viz.compose_layers(frame, values, names, float(self.opacity.value), cmaps,
                                  reasons=reasons, weighted=n_maps > 1).image

    def render(self, frame: int | None = None) -> np.ndarray:
        """The current view of frame number ``frame`` (1-based; default: the slider's) with the spectrogram
        strip below."""
        vl = self.current
        t = (self.frame if frame is None else int(frame)) - 1
        if self.side.value:
            annot = [a for a in ANNOTATIONS if self.toggles[a].value]
            names = [self.left.value, self.right.value]
            tiles = [self._compose(vl, t, [n, *[a for a in annot if a != n]], {n: self.cmap.value}) for n in names]
            img = viz.side_by_side(tiles, labels=names)
        else:
            names = self.shown_layers()
            img = self._compose(vl, t, names, layer_cmaps(names, self.cmap.value))
        playhead = (t + 0.5) / max(len(vl), 1)
        strip = viz.spectrogram_strip(vl.audio_strip, img.shape[1], STRIP_HEIGHT, playhead=playhead)
        return np.concatenate([img, strip], axis=0)

    def legend_html(self) -> str:
        """A colour bar (maps) or a swatch (box, fixations) and a one-line description of every shown layer."""
        names = self.shown_layers()
        if self.side.value:
            cmaps = {n: self.cmap.value for n in names if viz.LAYERS[n].kind == "map"}
            names = names + [a for a in ANNOTATIONS if self.toggles[a].value and a not in names]
        else:
            cmaps = layer_cmaps(names, self.cmap.value)
        rows = [_legend_row(n, cmaps.get(n)) for n in names]
        strip = ("<tr><td style='padding:0 6px'><b>audio strip</b></td><td></td><td>the clip's sound along time (log "
                 "spectrogram, low pitches at the bottom, dark = quiet); the white line marks the shown frame</td></tr>")
        note = "<tr><td colspan=3><small>maps are scaled to their own minimum and maximum on each frame</small></td></tr>"
        return "<table class='stanet-legend-table'>" + "".join(rows) + strip + note + "</table>"

    def metrics_html(self, frame: int | None = None) -> str:
        """An HTML table of AUC-J, SIM, CC, NSS of every shown prediction layer at frame number ``frame``."""
        vl = self.current
        frame = self.frame if frame is None else int(frame)
        preds = [n for n in self.shown_layers() if n in L.PREDICTIONS]
        if not preds:
            return "<i>metrics: switch on a prediction layer (" + ", ".join(L.PREDICTIONS) + ")</i>"
        head = "".join(f"<th style='padding:0 8px'>{m.replace('_', '-')}</th>" for m in L.METRICS)
        rows = []
        for n in preds:
            s = vl.metrics(n, frame - 1)
            cells = (f"<td colspan={len(L.METRICS)} style='color:gray'>{html.escape(s)}</td>" if isinstance(s, str)
                     else "".join(f"<td style='padding:0 8px'>{s[m]:.3f}</td>" for m in L.METRICS))
            rows.append(f"<tr><td>{n}</td>{cells}</tr>")
        return (f"<table class='stanet-metrics'><tr><th>frame {frame}</th>{head}</tr>"
                + "".join(rows) + "</table>")

    def status_html(self) -> str:
        """The status line: video, frame number of the total, frame time, redraw time, missing layers."""
        vl = self.current
        missing = [f"<span style='color:gray'>{n}: {html.escape(r)}</span>" for n, r in vl.reasons.items()]
        return (f"<b>{vl.db}/{vl.video}</b> <span class='stanet-frame-caption'>frame {self.frame} of {len(vl)}"
                f"</span>, t = {self.frame_time():.2f} s ({self.fps:g} frames/s), "
                f"redraw {self.last_redraw_ms:.0f} ms<br>" + "<br>".join(missing))

    def redraw(self) -> None:
        """Render the current view into the image widget; update legend, metrics, status and the audio clock."""
        if self._busy:
            return
        self._pace()
        if self._behind():  # a redraw slower than the clip's frame interval: skip to the frame Play is at
            self.dropped += 1
            return
        t0 = time.perf_counter()
        self._sync_controls()
        self._tick()
        self.image.value = png_bytes(self.render())
        self.legend.value = self.legend_html()
        self.metrics.value = self.metrics_html()
        self.last_redraw_ms = (time.perf_counter() - t0) * 1e3
        self.status.value = self.status_html()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def viewer(world: Any, **kwargs: Any) -> FixationViewer:
    """The fixation viewer over a world or data root (see :class:`FixationViewer` for the options)."""
    return FixationViewer(world, **kwargs)
