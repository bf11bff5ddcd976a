"""The fixation viewer: one test video at a time, frame by frame, with the sound.

:func:`viewer` returns a :class:`FixationViewer` over a profile's world: database and video dropdowns, a
frame slider with play/pause (``ipywidgets.Play`` linked to the ``IntSlider`` in the browser), toggles for the
ten layers of :data:`stanet_lib.viz.layers.LAYER_NAMES` (a layer that is missing is disabled and its tooltip and
the status line give the reason), opacity and colormap, coarse or fine CAMs, side-by-side mode for two
layers, the clip's audio (``ipywidgets.Audio``, the wav bytes), the spectrogram strip with a playhead under
the frame, and the AUC-J / SIM / CC / NSS of every shown prediction layer on the current frame
(:func:`stanet_lib.viz.layers.frame_metrics`).

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
import time
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np

from . import layers as L
from . import render as viz

__all__ = ["CMAPS", "ANNOTATIONS", "png_bytes", "FixationViewer", "viewer"]


CMAPS = ("jet", "viridis", "inferno", "magma", "hot", "turbo", "gray")
ANNOTATIONS = ("box", "gt_fixations")  # drawn on top of maps, also in side-by-side mode
STRIP_HEIGHT = 40
PLAY_MIN_INTERVAL_MS = 150  # play at the video's fps, but no faster than a redraw with all layers keeps up


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of an (H, W, 3) uint8 image with fast settings (zlib level 1: a redraw is 2-3x quicker than 6)."""
    buf = io.BytesIO()
    viz.to_pil(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


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
        self.last_redraw_ms = float("nan")
        db = db or self.videos[0][0]
        dbs = sorted({d for d, _ in self.videos})
        self.db = W.Dropdown(options=dbs, value=db, description="database")
        self.video = W.Dropdown(options=self._videos_of(db), description="video")
        if video is not None:
            self.video.value = video
        self.play = W.Play(value=0, min=0, max=1, step=1, interval=250, description="play")
        self.slider = W.IntSlider(value=0, min=0, max=1, step=1, description="frame", continuous_update=True)
        self.slider.add_class("stanet-frame-slider")
        W.jslink((self.play, "value"), (self.slider, "value"))
        self.toggles = {n: W.ToggleButton(value=n in layers, description=n, layout=W.Layout(width="auto"))
                        for n in L.LAYER_NAMES}
        for n, tb in self.toggles.items():
            tb.add_class(f"stanet-layer-{n}")
        self.opacity = W.FloatSlider(value=opacity, min=0.0, max=1.0, step=0.05, description="opacity")
        self.cmap = W.Dropdown(options=CMAPS, value=cmap, description="colormap")
        self.cam_stage = W.ToggleButtons(options=["coarse", "fine"], value="coarse", description="CAMs")
        self.side = W.Checkbox(value=False, description="side by side")
        self.left = W.Dropdown(options=L.LAYER_NAMES, value="gt_map", description="left")
        self.right = W.Dropdown(options=L.LAYER_NAMES, value="SCAM_fine", description="right")
        self.image = W.Image(format="png", layout=W.Layout(align_self="flex-start"))  # natural size, not stretched
        self.image.add_class("stanet-viewer-image")
        self.audio = W.Audio(format="wav", autoplay=False, loop=False, controls=True)
        self.metrics = W.HTML()
        self.status = W.HTML()
        self.widget = W.VBox([
            W.HBox([self.db, self.video, self.cam_stage]),
            W.HBox([self.play, self.slider]),
            W.HBox(list(self.toggles.values()), layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.opacity, self.cmap, self.side, self.left, self.right], layout=W.Layout(flex_flow="row wrap")),
            self.image, self.audio, self.metrics, self.status,
        ])
        self.widget.add_class("stanet-viewer")
        self.db.observe(self._on_db, "value")
        for w in (self.video, self.cam_stage):
            w.observe(self._on_video, "value")
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
        self._busy = True
        try:
            for n, tb in self.toggles.items():
                ok = vl.available(n)
                tb.disabled = not ok
                tb.tooltip = f"{n}: shown" if ok else f"{n}: {vl.reasons[n]}"
                if not ok:
                    tb.value = False
            fps = 1.0 / float(np.median(np.diff(vl.times))) if len(vl.times) > 1 else 4.0
            self.play.interval = max(int(round(1000.0 / fps)), PLAY_MIN_INTERVAL_MS)
            self.slider.value = 0
            self.play.value = 0
            self.slider.max = self.play.max = max(len(vl) - 1, 0)
            wav = vl.wav_bytes()
            self.audio.value = wav or b""
            self.audio.layout.display = None if wav else "none"
        finally:
            self._busy = False
        self.redraw()

    def shown_layers(self) -> list[str]:
        """Layers drawn now, in drawing order (side-by-side: the two chosen layers)."""
        if self.side.value:
            return list(dict.fromkeys([self.left.value, self.right.value]))
        return [n for n in L.LAYER_NAMES if self.toggles[n].value]

    # ------------------------------------------------------------------------------------------ render
    def _compose(self, vl: L.VideoLayers, t: int, names: list[str]) -> np.ndarray:
        frame = vl.frame(t, self.size)
        values, reasons = vl.values_at(t, names, self.size)
        n_maps = sum(viz.LAYERS[n].kind == "map" for n in names if values.get(n) is not None)
        return viz.compose_layers(frame, values, names, float(self.opacity.value), self.cmap.value,
                                  reasons=reasons, weighted=n_maps > 1).image

    def render(self, t: int | None = None) -> np.ndarray:
        """The current view of frame index ``t`` (default: the slider's) with the spectrogram strip below."""
        vl = self.current
        t = int(self.slider.value if t is None else t)
        if self.side.value:
            annot = [a for a in ANNOTATIONS if self.toggles[a].value]
            names = [self.left.value, self.right.value]
            tiles = [self._compose(vl, t, [n, *[a for a in annot if a != n]]) for n in names]
            img = viz.side_by_side(tiles, labels=names)
        else:
            img = self._compose(vl, t, self.shown_layers())
        playhead = (t + 0.5) / max(len(vl), 1)
        strip = viz.spectrogram_strip(vl.audio, img.shape[1], STRIP_HEIGHT, playhead=playhead)
        return np.concatenate([img, strip], axis=0)

    def metrics_html(self, t: int | None = None) -> str:
        """An HTML table of AUC-J, SIM, CC, NSS of every shown prediction layer at frame ``t``."""
        vl = self.current
        t = int(self.slider.value if t is None else t)
        preds = [n for n in self.shown_layers() if n in L.PREDICTIONS]
        if not preds:
            return "<i>metrics: switch on a prediction layer (" + ", ".join(L.PREDICTIONS) + ")</i>"
        head = "".join(f"<th style='padding:0 8px'>{m.replace('_', '-')}</th>" for m in L.METRICS)
        rows = []
        for n in preds:
            s = vl.metrics(n, t)
            cells = (f"<td colspan={len(L.METRICS)} style='color:gray'>{html.escape(s)}</td>" if isinstance(s, str)
                     else "".join(f"<td style='padding:0 8px'>{s[m]:.3f}</td>" for m in L.METRICS))
            rows.append(f"<tr><td>{n}</td>{cells}</tr>")
        return (f"<table class='stanet-metrics'><tr><th>frame {int(vl.numbers[t])}</th>{head}</tr>"
                + "".join(rows) + "</table>")

    def status_html(self) -> str:
        vl = self.current
        t = int(self.slider.value)
        missing = [f"<span style='color:gray'>{n}: {html.escape(r)}</span>" for n, r in vl.reasons.items()]
        return (f"<b>{vl.db}/{vl.video}</b> frame {int(vl.numbers[t])} of {len(vl)}, t = {vl.times[t]:.2f} s, "
                f"redraw {self.last_redraw_ms:.0f} ms<br>" + "<br>".join(missing))

    def redraw(self) -> None:
        """Render the current view into the image widget, update metrics and status."""
        if self._busy:
            return
        t0 = time.perf_counter()
        self.image.value = png_bytes(self.render())
        self.metrics.value = self.metrics_html()
        self.last_redraw_ms = (time.perf_counter() - t0) * 1e3
        self.status.value = self.status_html()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def viewer(world: Any, **kwargs: Any) -> FixationViewer:
    """The fixation viewer over a world or data root (see :class:`FixationViewer` for the options)."""
    return FixationViewer(world, **kwargs)
