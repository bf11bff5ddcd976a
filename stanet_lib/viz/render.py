"""Pure render functions: frame + map overlays, fixation points, boxes, spectrogram strips, grids.

Every function takes arrays and returns a new ``(H, W, 3)`` uint8 image (inputs are never modified); nothing
here holds state, opens a figure or needs a widget, so the viewer (``stanet_lib.viz.viewer``), the papermill
reports and paper figures all call the same code (STYLE.md principle 15, after torchcam's
``utils.overlay_mask(img, mask, colormap, alpha)``, which validates its arguments and returns an image).
matplotlib is used only for its colormap tables (``matplotlib.colormaps[name]``); resizing and text go
through Pillow. One convention differs from torchcam: here ``alpha`` is the opacity of the *map*
(0 = the frame unchanged, 1 = the colormap alone), which is what an "opacity" slider means.

Coordinates: points are ``(y, x)`` in frame pixels (row, column), boxes are ``(y0, y1, x0, x1)`` with both
ends inclusive, as the SCAM 2x-mean box (paper §3.5) is stored.

Example:
    >>> img, missing = compose_layers(frame, {"CAM_S": cam, "CAM_SA": None}, ["CAM_S", "CAM_SA"])
    >>> missing
    ['CAM_SA: not computed yet (run notebook 03_coarse_scam)']
    >>> save_png("reports/figures/frame.png", img)
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..artefacts import atomic_path

Color = tuple[int, int, int]


class LayerSpec(NamedTuple):
    """How a named layer is drawn (``kind``: "map", "points" or "box") and which stage produces it."""

    kind: str
    source: str


#: The viewer's layers, in drawing order. Names not listed here are drawn as maps.
LAYERS: dict[str, LayerSpec] = {
    "gt_map": LayerSpec("map", "01_data_prep"),
    "CAM_S": LayerSpec("map", "03_coarse_scam"),
    "CAM_ST": LayerSpec("map", "03_coarse_scam"),
    "CAM_SA": LayerSpec("map", "03_coarse_scam"),
    "SCAM_coarse": LayerSpec("map", "03_coarse_scam"),
    "SCAM_fine": LayerSpec("map", "04_fine_pseudo_fixations"),
    "pseudo_fixation": LayerSpec("map", "04_fine_pseudo_fixations"),
    "STA_prediction": LayerSpec("map", "05_sta_training"),
    "box": LayerSpec("box", "03_coarse_scam"),
    "gt_fixations": LayerSpec("points", "01_data_prep"),
}

GREY = 128


class Composite(NamedTuple):
    """Result of :func:`compose_layers`: the image and one message per requested layer that was missing."""

    image: np.ndarray  # (H, W, 3) uint8
    missing: list[str]


# --------------------------------------------------------------------------------------------- validation
def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB array, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {image.shape}")
    return image


def _check_color(color: Sequence[int], name: str = "color") -> np.ndarray:
    c = np.asarray(color)
    if c.shape != (3,) or np.any(c < 0) or np.any(c > 255):
        raise ValueError(f"{name} must be three values in 0..255, got {color!r}")
    return c.astype(np.uint8)


@functools.lru_cache(maxsize=32)
def _lut(cmap: str) -> np.ndarray:
    """The colormap's own table as uint8 (N, 3); indexing it with ``min(int(v * N), N - 1)`` reproduces
    ``matplotlib.colormaps[cmap](v)`` for v in [0, 1]. Cached: a pure function of the name."""

    try:
        cm = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r} (see matplotlib.colormaps, e.g. 'jet', 'viridis')") from None
    table = np.rint(cm(np.arange(cm.N))[:, :3] * 255).astype(np.uint8)  # (N, 3)
    table.setflags(write=False)
    return table


def colormap_stops(cmap: str = "jet", n: int = 9) -> list[str]:
    """``n`` evenly spaced colours of a colormap, from 0 to 1, as ``#rrggbb`` strings (for a colour bar)."""
    if int(n) < 2:
        raise ValueError(f"a colour bar needs at least 2 stops, got {n}")
    rgb = colorize(np.linspace(0.0, 1.0, int(n)), cmap)  # (n, 3)
    return ["#%02x%02x%02x" % tuple(int(c) for c in row) for row in rgb]


def colorize(values: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """Map values in [0, 1] (clipped) to RGB uint8 with a matplotlib colormap: (h, w) -> (h, w, 3)."""
    table = _lut(cmap)
    n = table.shape[0]
    idx = np.minimum((np.clip(values, 0.0, 1.0) * n).astype(np.intp), n - 1)
    return table[idx]


def _prepare_map(saliency: np.ndarray, shape: tuple[int, int], normalize: bool) -> np.ndarray:
    """(h, w) map of any numeric dtype -> (H, W) float32 in [0, 1]; non-finite values become 0.

    uint8 maps (stored predictions, ``maps/eyeMap_*.jpg``) are read as ``v / 255``. With ``normalize`` the
    map is min-max scaled (a constant map becomes all zeros); otherwise it is clipped to [0, 1]. The resize
    is Pillow's bilinear filter on float32, which on upsampling equals ``F.interpolate(mode="bilinear",
    align_corners=False)`` and on downsampling is antialiased; its weights are non-negative, so normalising
    before resizing (cheaper on small CAMs) gives the same range as after.
    """
    sal = np.asarray(saliency)
    if sal.ndim != 2:
        raise ValueError(f"saliency map must be 2-D (h, w), got shape {sal.shape}")
    if sal.size == 0:
        raise ValueError(f"saliency map is empty: shape {sal.shape}")
    if not (np.issubdtype(sal.dtype, np.number) or sal.dtype == np.bool_):
        raise ValueError(f"saliency map must be numeric, got dtype {sal.dtype}")
    m = sal.astype(np.float32) / (255.0 if sal.dtype == np.uint8 else 1.0)
    m[~np.isfinite(m)] = 0.0
    if normalize:
        lo, hi = float(m.min()), float(m.max())
        m = (m - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(m)
    else:
        m = np.clip(m, 0.0, 1.0)
    if m.shape != shape:
        m = np.asarray(Image.fromarray(m).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))
        m = np.clip(m, 0.0, 1.0)
    return m  # (H, W)


# ------------------------------------------------------------------------------------------------ overlays
def overlay(
    frame: np.ndarray, saliency: np.ndarray, cmap: str = "jet", alpha: float = 0.5, normalize: bool = True,
    weighted: bool = False,
) -> np.ndarray:
    """Blend a colour-mapped saliency map onto a frame: ``out = (1 - a) * frame + a * cmap(map)`` with
    ``a = alpha`` (torchcam's uniform blend), or ``a = alpha * map`` per pixel when ``weighted``, so that
    non-salient regions stay transparent and several stacked layers keep the frame visible.

    Args:
        frame: (H, W, 3) uint8 RGB.
        saliency: (h, w) map of any size and numeric dtype, resized bilinearly to (H, W); NaN/inf count as 0.
        cmap: a ``matplotlib.colormaps`` name.
        alpha: opacity of the map in [0, 1]; 0 returns the frame exactly, 1 the colormap exactly.
        normalize: min-max scale the map first (else values are clipped to [0, 1]).
        weighted: scale the opacity per pixel by the (prepared) map value.

    Returns:
        (H, W, 3) uint8.

    Raises:
        ValueError: wrong shapes or dtype, alpha outside [0, 1], unknown colormap.
    """
    frame = _check_image(frame, "frame")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    m = _prepare_map(saliency, frame.shape[:2], normalize)  # (H, W) in [0, 1]
    color = colorize(m, cmap)  # (H, W, 3)
    if alpha == 0.0:
        return frame.copy()
    if alpha == 1.0 and not weighted:
        return color
    a = (np.float32(alpha) * m)[..., None] if weighted else np.float32(alpha)  # (H, W, 1) or scalar
    out = frame.astype(np.float32) * (1.0 - a) + color.astype(np.float32) * a
    return np.rint(out).astype(np.uint8)


def points_from_map(fixation_map: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """(N, 2) (y, x) of the non-zero pixels of a binary fixation map (``stavis.load_fixation_map``),
    rescaled pixel-centre to pixel-centre into a frame of ``shape`` (H, W) when given."""
    fix = np.asarray(fixation_map)
    if fix.ndim != 2:
        raise ValueError(f"fixation map must be 2-D (h, w), got shape {fix.shape}")
    pts = np.argwhere(fix > 0).astype(np.float64)  # (N, 2)
    if shape is not None and tuple(shape) != fix.shape:
        scale = np.array(shape[:2], dtype=np.float64) / np.array(fix.shape, dtype=np.float64)
        pts = (pts + 0.5) * scale - 0.5
    return pts


def draw_points(
    image: np.ndarray, points: np.ndarray, color: Color = (255, 0, 255), radius: int = 2
) -> np.ndarray:
    """Draw filled discs of ``radius`` pixels (0 = one pixel) at (N, 2) ``(y, x)`` points, rounded to the
    nearest pixel. Points whose centre lies outside the image are ignored; discs are clipped at the border."""
    image = _check_image(image)
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        pts = pts.reshape(0, 2)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be (N, 2) (y, x), got shape {pts.shape}")
    if int(radius) < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    c = _check_color(color)
    h, w = image.shape[:2]
    out = image.copy()
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    centres = np.rint(pts).astype(np.intp)
    centres = centres[(centres[:, 0] >= 0) & (centres[:, 0] < h) & (centres[:, 1] >= 0) & (centres[:, 1] < w)]
    r = int(radius)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = np.stack([dy[dy**2 + dx**2 <= r * r], dx[dy**2 + dx**2 <= r * r]], axis=1)  # (K, 2)
    pix = (centres[:, None, :] + disc[None, :, :]).reshape(-1, 2)  # (N*K, 2)
    pix = pix[(pix[:, 0] >= 0) & (pix[:, 0] < h) & (pix[:, 1] >= 0) & (pix[:, 1] < w)]
    out[pix[:, 0], pix[:, 1]] = c
    return out


def draw_box(
    image: np.ndarray, box: Sequence[int], color: Color = (255, 255, 255), thickness: int = 2
) -> np.ndarray:
    """Draw the outline of ``box = (y0, y1, x0, x1)`` (inclusive) with lines ``thickness`` pixels wide,
    growing inwards from the edges. The outline is clipped to the image: only the visible parts of the
    box's own edges are drawn (a box running off the frame shows no edge at the frame border)."""
    image = _check_image(image)
    b = np.asarray(box)
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise ValueError(f"box must be 4 finite numbers (y0, y1, x0, x1), got {box!r}")
    y0, y1, x0, x1 = (int(round(float(v))) for v in b)
    if y1 < y0 or x1 < x0:
        raise ValueError(f"box must have y0 <= y1 and x0 <= x1, got {(y0, y1, x0, x1)}")
    if thickness < 1:
        raise ValueError(f"thickness must be >= 1, got {thickness}")
    c = _check_color(color)
    h, w = image.shape[:2]
    out = image.copy()
    t = int(thickness)
    bands = [  # (rows, cols) inclusive ranges of the four edges
        (y0, min(y0 + t - 1, y1), x0, x1),
        (max(y1 - t + 1, y0), y1, x0, x1),
        (y0, y1, x0, min(x0 + t - 1, x1)),
        (y0, y1, max(x1 - t + 1, x0), x1),
    ]
    for r0, r1, c0, c1 in bands:
        r0, r1, c0, c1 = max(r0, 0), min(r1, h - 1), max(c0, 0), min(c1, w - 1)
        if r0 <= r1 and c0 <= c1:
            out[r0 : r1 + 1, c0 : c1 + 1] = c
    return out


# ----------------------------------------------------------------------------------------------- text
@functools.lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _write(image: np.ndarray, lines: Sequence[str], xy: tuple[int, int], size: int,
           fill: Color = (255, 255, 255), background: Color | None = None) -> np.ndarray:
    """Write text lines at ``xy`` (x, y) with Pillow's default font, optionally on a filled box."""
    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    text = "\n".join(lines)
    if background is not None:
        x0, y0, x1, y1 = draw.multiline_textbbox(xy, text, font=_font(size))
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), fill=background)
    draw.multiline_text(xy, text, fill=fill, font=_font(size))
    return np.asarray(pil).copy()


def _wrap(text: str, width_px: int, size: int) -> list[str]:
    """Wrap text to lines no wider than ``width_px`` pixels (approximately, using the font's 'M' width)."""
    char_w = max(_font(size).getlength("M"), 1.0)
    return textwrap.wrap(text, width=max(int(width_px / char_w * 1.4), 4)) or [""]


def placeholder(shape: Sequence[int], text: str, size: int = 11) -> np.ndarray:
    """A grey (H, W, 3) image with ``text`` wrapped and written on it, for a layer that cannot be drawn,
    e.g. ``placeholder((128, 128), "CAM_SA: not computed yet (run notebook 03_coarse_scam)")``."""
    if len(shape) not in (2, 3) or int(shape[0]) < 1 or int(shape[1]) < 1:
        raise ValueError(f"shape must be (H, W) or (H, W, 3) with H, W >= 1, got {tuple(shape)}")
    h, w = int(shape[0]), int(shape[1])
    img = np.full((h, w, 3), GREY, dtype=np.uint8)
    lines = _wrap(text, w - 8, size)
    return _write(img, lines, (4, 4), size, fill=(255, 255, 255))


# --------------------------------------------------------------------------------------------- spectrogram
def spectrogram_strip(
    spec: np.ndarray, width: int, height: int, playhead: float | None = None, cmap: str = "magma",
    playhead_color: Color = (255, 255, 255),
) -> np.ndarray:
    """Render a (F, S) log spectrogram (frequency x time; low frequencies at the bottom) as a (height,
    width, 3) strip, min-max scaled, with a 1-pixel vertical line at ``playhead`` in [0, 1] of the width
    (column ``round(playhead * (width - 1))``). A (T, F, S) stack of per-frame features is concatenated
    along time first, so a whole clip fits in one strip."""
    s = np.asarray(spec)
    if s.ndim == 3:
        s = np.concatenate(list(s), axis=1)  # (F, T*S)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(f"spectrogram must be (F, S) or (T, F, S) and non-empty, got shape {np.shape(spec)}")
    if int(width) < 1 or int(height) < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    if playhead is not None and not 0.0 <= float(playhead) <= 1.0:
        raise ValueError(f"playhead must be a fraction in [0, 1], got {playhead}")
    m = _prepare_map(s[::-1], (int(height), int(width)), normalize=True)  # row 0 = highest frequency
    out = colorize(m, cmap)
    if playhead is not None:
        out[:, int(round(float(playhead) * (int(width) - 1)))] = _check_color(playhead_color, "playhead_color")
    return out


# ---------------------------------------------------------------------------------------------- layers
def compose_layers(
    frame: np.ndarray,
    layers: Mapping[str, np.ndarray | None],
    enabled: Sequence[str],
    opacity: float | Mapping[str, float] = 0.5,
    cmap: str | Mapping[str, str] = "jet",
    points: np.ndarray | None = None,
    box: Sequence[int] | None = None,
    *,
    reasons: Mapping[str, str] | None = None,
    annotate_missing: bool = True,
    normalize: bool = True,
    weighted: bool = False,
    point_color: Color = (255, 0, 255),
    point_radius: int = 2,
    box_color: Color = (255, 255, 255),
    box_thickness: int = 2,
) -> Composite:
    """Draw the ``enabled`` layers of ``layers`` onto ``frame``; a missing layer is reported, never raised.

    Map layers are blended in the order of ``enabled`` (each over the result so far); then boxes, then
    points, so annotations stay visible. A layer's kind comes from :data:`LAYERS` (unlisted names are maps):
    "map" takes an (h, w) map of any size; "box" a ``(y0, y1, x0, x1)``; "points" an (N, 2) ``(y, x)``
    array in frame pixels or a 2-D binary fixation map of any size (see :func:`points_from_map`). The
    ``points``/``box`` arguments are drawn in addition, whatever ``enabled`` says. ``opacity`` and ``cmap``
    may be per-layer mappings (absent names get 0.5 and "jet"); ``normalize`` and ``weighted`` are passed
    to :func:`overlay`.

    A requested layer whose value is None (or that is a known layer name absent from ``layers``) is
    skipped and gets a message ``"<name>: <reason>"``; the reason comes from ``reasons`` or defaults to
    "not computed yet (run notebook <stage>)". With ``annotate_missing`` the messages are also written on
    the image, so a static report shows them. An unknown name that is not in ``layers`` (a typo) raises.

    Returns:
        ``Composite(image, missing)``: (H, W, 3) uint8 and the list of messages (empty when all were drawn).
    """
    out = _check_image(frame, "frame").copy()
    missing: list[str] = []
    boxes: list[np.ndarray] = [np.asarray(box)] if box is not None else []
    pts: list[np.ndarray] = [np.asarray(points)] if points is not None else []
    for name in enabled:
        if name not in layers and name not in LAYERS:
            raise ValueError(f"unknown layer {name!r}: not in the given layers {sorted(layers)} nor in LAYERS")
        value = layers.get(name)
        spec = LAYERS.get(name, LayerSpec("map", "the stage that produces it"))
        if value is None:
            reason = (reasons or {}).get(name, f"not computed yet (run notebook {spec.source})")
            missing.append(f"{name}: {reason}")
        elif spec.kind == "box":
            boxes.append(np.asarray(value))
        elif spec.kind == "points":
            v = np.asarray(value)
            is_pts = v.ndim == 2 and v.shape[1] == 2 and v.dtype != np.bool_
            pts.append(v if is_pts else points_from_map(v, out.shape[:2]))
        else:
            a = opacity.get(name, 0.5) if isinstance(opacity, Mapping) else opacity
            cm = cmap.get(name, "jet") if isinstance(cmap, Mapping) else cmap
            try:
                out = overlay(out, value, cm, a, normalize, weighted)
            except ValueError as exc:
                raise ValueError(f"layer {name!r}: {exc}") from None
    for b in boxes:
        out = draw_box(out, b, box_color, box_thickness)
    for p in pts:
        out = draw_points(out, p, point_color, point_radius)
    if missing and annotate_missing:
        out = _write(out, missing, (4, 4), 10, background=(64, 64, 64))
    return Composite(out, missing)


# ---------------------------------------------------------------------------------------------- tiling
def _caption_strip(labels: Sequence[str], widths: Sequence[int], gap: int, size: int) -> np.ndarray:
    h = size + 6
    strip = np.full((h, sum(widths) + gap * (len(widths) - 1), 3), 255, dtype=np.uint8)
    pil = Image.fromarray(strip)
    draw = ImageDraw.Draw(pil)
    x = 0
    for label, w in zip(labels, widths):
        text = label
        while text and draw.textlength(text, font=_font(size)) > w - 4:
            text = text[:-1]  # crop long captions to the tile width
        draw.text((x + 2, 2), text, fill=(0, 0, 0), font=_font(size))
        x += w + gap
    return np.asarray(pil).copy()


def side_by_side(
    images: Sequence[np.ndarray], labels: Sequence[str] | None = None, gap: int = 2, caption_size: int = 11
) -> np.ndarray:
    """Tile (H_i, W_i, 3) uint8 images left to right on white (shorter ones padded at the bottom, no
    resampling), with a caption above each when ``labels`` is given."""
    if len(images) == 0:
        raise ValueError("side_by_side needs at least one image")
    ims = [_check_image(im, f"images[{i}]") for i, im in enumerate(images)]
    if labels is not None and len(labels) != len(ims):
        raise ValueError(f"got {len(labels)} labels for {len(ims)} images")
    h = max(im.shape[0] for im in ims)
    widths = [im.shape[1] for im in ims]
    out = np.full((h, sum(widths) + gap * (len(ims) - 1), 3), 255, dtype=np.uint8)
    x = 0
    for im in ims:
        out[: im.shape[0], x : x + im.shape[1]] = im
        x += im.shape[1] + gap
    if labels is not None:
        out = np.concatenate([_caption_strip(labels, widths, gap, caption_size), out], axis=0)
    return out


def frame_grid(
    rows_of_images: Sequence[Sequence[np.ndarray | None]],
    labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    gap: int = 2,
) -> np.ndarray:
    """One image for a static report: rows are sample frames, columns are layers (``labels`` once on top,
    ``row_labels`` written at the bottom-left of each row's first tile). A None cell becomes a grey "missing" placeholder the
    size of the row's first image. All rows must have the same number of columns."""
    if len(rows_of_images) == 0:
        raise ValueError("frame_grid needs at least one row")
    ncols = {len(r) for r in rows_of_images}
    if len(ncols) != 1 or 0 in ncols:
        raise ValueError(f"every row needs the same, non-zero number of images, got lengths {sorted(ncols)}")
    if row_labels is not None and len(row_labels) != len(rows_of_images):
        raise ValueError(f"got {len(row_labels)} row labels for {len(rows_of_images)} rows")
    grid: list[list[np.ndarray]] = []
    for i, row in enumerate(rows_of_images):
        ref = next((im for im in row if im is not None), None)
        shape = np.asarray(ref).shape[:2] if ref is not None else (64, 64)
        cells = [placeholder(shape, "missing") if im is None else _check_image(im, f"rows[{i}]") for im in row]
        if row_labels is not None:
            at = (3, max(cells[0].shape[0] - 16, 0))  # bottom-left, clear of a placeholder's own text
            cells[0] = _write(cells[0], [row_labels[i]], at, 11, background=(0, 0, 0))
        grid.append(cells)
    tiles = [side_by_side(cells, gap=gap) for cells in grid]
    width = max(t.shape[1] for t in tiles)
    body = [np.pad(t, ((0, gap), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
    out = np.concatenate(body, axis=0)
    out = out[: out.shape[0] - gap]  # no gap under the last row
    if labels is not None:
        widths = [c.shape[1] for c in grid[0]]
        if len(labels) != len(widths):
            raise ValueError(f"got {len(labels)} column labels for {len(widths)} columns")
        cap = _caption_strip(labels, widths, gap, 11)
        cap = np.pad(cap, ((0, 0), (0, width - cap.shape[1]), (0, 0)), constant_values=255)
        out = np.concatenate([cap, out], axis=0)
    return out


# ---------------------------------------------------------------------------------------------- output
def to_pil(image: np.ndarray) -> Image.Image:
    """The (H, W, 3) uint8 image as a PIL RGB image (for ipywidgets.Image / IPython display)."""
    return Image.fromarray(_check_image(image))


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write the image as PNG atomically (``artefacts.atomic_path``) and return the path."""
    pil = to_pil(image)
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG")
    return Path(path)
