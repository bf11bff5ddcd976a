"""Selective class activation mapping (SCAM) and the coarse-to-fine box, as pure batched tensor functions.

Paper §3.2-3.6 (Eq. 1-3). These replace the released code's numbered MATLAB scripts
(``reference/original_code_audit.md`` §4): every op takes and returns tensors, keeps the batch dimension
first, never reads or writes files and runs on any device. Shape letters: ``B`` batch, ``N`` sources
(S, ST, SA), ``K`` classes, ``T`` frames of one video, ``H, W`` frame, ``h, w`` CAM or fine-stage map.

Defaults follow the paper (``../shared/DESIGN.md`` fidelity table); the released code's undocumented
behaviours are separate functions, off unless the caller applies them: :func:`temporal_smooth`,
:func:`mean_floor` and :func:`hard_filter`; :func:`time_window_mean` is this package's form of the first, its
window in seconds.

Example:
    >>> cams = normalize(torch.rand(2, 3, 8, 8))  # (B, N, H, W) tag-class CAMs of S, ST, SA
    >>> w = soft_filter(torch.softmax(torch.randn(2, 3, 5), -1), torch.tensor([1, 4]))  # (B, N)
    >>> fused = selective_fusion(cams, w)  # (B, H, W), Eq. 2
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "normalize", "cam_from_features", "select_class", "resize_maps", "soft_filter", "hard_filter",
    "selective_fusion", "average_fusion", "coarse_box", "crop_and_resize", "recover", "temporal_smooth",
    "time_window_mean", "mean_floor", "fill_empty",
]


def _check_float(x: Tensor, name: str, min_dim: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dims, got shape {tuple(x.shape)}")


def _check_tag(tag: Tensor, batch: int, num_classes: int) -> None:
    if tag.dim() != 1 or tag.shape[0] != batch or tag.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"tag must be a (B,) = ({batch},) integer tensor, got {tuple(tag.shape)} "
                         f"{tag.dtype}")
    if tag.numel() and (int(tag.min()) < 0 or int(tag.max()) >= num_classes):
        raise ValueError(f"tag values must be in [0, {num_classes}), got {tag.tolist()}")


def normalize(maps: Tensor, eps: float = 1e-8) -> Tensor:
    r"""The paper's :math:`\xi[\cdot]`: per-map min-max normalisation over the last two dims.

    :math:`\xi[M] = (M - \min M) / (\max M - \min M)`, as ``MatrixNormalization.m`` (audit §4). A map whose
    range is at most ``eps`` (a constant map) carries no location and becomes all zeros, never NaN.

    Args:
        maps: (..., H, W) floating maps.
        eps: ranges at most this are treated as constant.

    Returns:
        (..., H, W) maps in [0, 1].
    """
    _check_float(maps, "maps", 2)
    lo = maps.amin(dim=(-2, -1), keepdim=True)  # (..., 1, 1)
    rng = maps.amax(dim=(-2, -1), keepdim=True) - lo
    ok = rng > eps
    return torch.where(ok, (maps - lo) / torch.where(ok, rng, torch.ones_like(rng)), torch.zeros_like(maps))


def cam_from_features(features: Tensor, fc_weight: Tensor, fc_bias: Tensor | None = None) -> Tensor:
    r"""Eq. 1 before :math:`\xi`: class maps :math:`\sum_i^d w_{k,i} f_i` of every class k.

    With global average pooling before the FC layer, ``GAP(cam_from_features(f, W, b)) == FC(GAP(f))``:
    this is why :class:`stanet_lib.nets.classifier.Classifier` (a 1x1 conv to class maps, then GAP) gives the CAM
    directly. Apply :func:`normalize` for the paper's :math:`\xi`.

    Args:
        features: (B, d, h, w) last convolutional features.
        fc_weight: (K, d) weights of the fully connected classifier.
        fc_bias: optional (K,) bias, added to every location (a constant that :func:`normalize` removes).

    Returns:
        (B, K, h, w) class activation maps.
    """
    _check_float(features, "features", 4)
    if fc_weight.dim() != 2 or fc_weight.shape[1] != features.shape[1]:
        raise ValueError(f"fc_weight must be (K, {features.shape[1]}), got {tuple(fc_weight.shape)}")
    cams = torch.einsum("kd,bdhw->bkhw", fc_weight, features)  # (B, K, h, w)
    if fc_bias is not None:
        cams = cams + fc_bias.view(1, -1, 1, 1)
    return cams


def select_class(cams: Tensor, tag: Tensor) -> Tensor:
    """The map of class ``tag[b]`` for every sample: (B, K, h, w) -> (B, h, w)."""
    _check_float(cams, "cams", 4)
    _check_tag(tag, cams.shape[0], cams.shape[1])
    return cams[torch.arange(cams.shape[0], device=cams.device), tag.to(cams.device).long()]


def resize_maps(maps: Tensor, size: int | Sequence[int]) -> Tensor:
    """Bilinear resize of (..., h, w) maps to ``size`` (the fidelity table: CAMs go to frame resolution
    before the box is taken, audit §4.2 "resolution mismatch hazard")."""
    _check_float(maps, "maps", 2)
    hw = (size, size) if isinstance(size, int) else tuple(size)
    lead = maps.shape[:-2]
    flat = maps.reshape(1, -1, *maps.shape[-2:])  # (1, L, h, w)
    out = F.interpolate(flat, size=hw, mode="bilinear", align_corners=False)
    return out.reshape(*lead, *hw)


def _tag_confidence(probs: Tensor, tag: Tensor) -> tuple[Tensor, Tensor]:
    """(C^v, max_{u != v} C^u) for probs (B, *, K) and tag (B,), both (B, *)."""
    _check_float(probs, "probs", 2)
    _check_tag(tag, probs.shape[0], probs.shape[-1])
    idx = tag.to(probs.device).long().view(-1, *([1] * (probs.dim() - 1))).expand(*probs.shape[:-1], 1)
    c_v = probs.gather(-1, idx).squeeze(-1)  # (B, *)
    others = probs.scatter(-1, idx, float("-inf")).amax(-1)  # (B, *); -inf when K == 1
    return c_v, others


def soft_filter(probs: Tensor, tag: Tensor) -> Tensor:
    r"""Eq. 3, the soft filter :math:`\oint(C^v)`: the tag-class confidence if the tag is the arg-max.

    :math:`\oint(C^v) = C^v` if :math:`C^v > C^u` for every :math:`u \neq v`, else 0. The comparison is
    strict: a tie for the top class gives 0. The fidelity table takes :math:`C^v` as the softmax
    probability of the tag class (the released code wrote the top-1 probability, audit §2.1).

    Args:
        probs: (B, N, K) class probabilities of N sources (any (B, *, K) works).
        tag: (B,) long, the video tag v of each sample.

    Returns:
        (B, N) fusion weights, each in {0} U (0, 1].
    """
    c_v, others = _tag_confidence(probs, tag)
    return torch.where(c_v > others, c_v, torch.zeros_like(c_v))


def hard_filter(probs: Tensor, tag: Tensor, p: float = 0.99) -> Tensor:
    """The released code's frame filter (option, audit §4.1 ``AVcrop1.m``/``ssmooth.m``): keep a source
    only if its top-1 class is the tag and that probability exceeds ``p``.

    Use as ``soft_filter(probs, tag) * hard_filter(probs, tag)`` to drop unconfident sources, or
    ``hard_filter(...).all(1)`` to drop whole frames as the code did.

    Args:
        probs: (B, N, K) class probabilities (any (B, *, K) works).
        tag: (B,) long.
        p: probability threshold (strict).

    Returns:
        (B, N) bool.
    """
    c_v, others = _tag_confidence(probs, tag)
    return (c_v > others) & (c_v > p)


def selective_fusion(cams: Tensor, weights: Tensor, lam: float = 1e-4) -> Tensor:
    r"""Eq. 2, SCAM: :math:`\xi[(\sum_n \oint(C_n^v)\,\Phi_n + \lambda) / (\sum_n \oint(C_n^v) + \lambda)]`.

    Because :math:`\xi` removes any per-map affine change, :math:`\lambda` only matters when every weight
    is 0 (no source has the tag as its top class): the ratio is then the constant 1 and SCAM is all zeros
    (no location), where the released code dropped the frame instead (audit §4.1).

    Args:
        cams: (B, N, H, W) CAMs of the tag class, already normalised with :func:`normalize`.
        weights: (B, N) from :func:`soft_filter`.
        lam: :math:`\lambda` (1e-4 in ``Coarse_Fine_crop.m``).

    Returns:
        (B, H, W) SCAM in [0, 1].
    """
    _check_float(cams, "cams", 4)
    if weights.shape != cams.shape[:2]:
        raise ValueError(f"weights must be (B, N) = {tuple(cams.shape[:2])}, got {tuple(weights.shape)}")
    w = weights.to(cams.dtype)
    num = (w[:, :, None, None] * cams).sum(1) + lam  # (B, H, W)
    den = w.sum(1) + lam  # (B,)
    return normalize(num / den[:, None, None])


def average_fusion(cams: Tensor) -> Tensor:
    r"""The SCAM_avg ablation (paper Table 1): :math:`\xi[\frac{1}{N}\sum_n \Phi_n]`.

    Args:
        cams: (B, N, H, W) normalised CAMs of the tag class.

    Returns:
        (B, H, W) in [0, 1].
    """
    _check_float(cams, "cams", 4)
    return normalize(cams.mean(1))


def coarse_box(maps: Tensor, factor: float = 2.0) -> Tensor:
    """Paper §3.6: the tight box around every pixel above ``factor`` x the map's mean (2 x average).

    One box around all supra-threshold pixels (not a connected component), as ``Coarse_Fine_crop.m``
    (audit §4.2). When no pixel passes (e.g. a constant map) the box is the whole frame, where the
    released code skipped the frame.

    Args:
        maps: (B, H, W), e.g. the coarse SCAM resized to frame resolution.
        factor: threshold multiple of the per-map mean (strictly greater).

    Returns:
        (B, 4) long boxes ``(y0, y1, x0, x1)``, inclusive pixel indices.
    """
    _check_float(maps, "maps", 3)
    if maps.dim() != 3:
        raise ValueError(f"maps must be (B, H, W), got {tuple(maps.shape)}")
    B, H, W = maps.shape
    mask = maps > factor * maps.mean(dim=(-2, -1), keepdim=True)  # (B, H, W)
    rows, cols = mask.any(-1), mask.any(-2)  # (B, H), (B, W)

    def first_last(line: Tensor, n: int) -> tuple[Tensor, Tensor]:
        first = line.int().argmax(-1)  # first True (argmax returns the first maximum)
        last = n - 1 - line.flip(-1).int().argmax(-1)
        return first, last

    y0, y1 = first_last(rows, H)
    x0, x1 = first_last(cols, W)
    boxes = torch.stack([y0, y1, x0, x1], dim=1).long()  # (B, 4)
    whole = torch.tensor([0, H - 1, 0, W - 1], device=maps.device)
    return torch.where(rows.any(-1, keepdim=True), boxes, whole)


def _check_boxes(boxes: Tensor, batch: int, height: int, width: int) -> list[list[int]]:
    if boxes.shape != (batch, 4):
        raise ValueError(f"boxes must be ({batch}, 4), got {tuple(boxes.shape)}")
    out = boxes.tolist()
    for y0, y1, x0, x1 in out:
        if not (0 <= y0 <= y1 < height and 0 <= x0 <= x1 < width):
            raise ValueError(f"box (y0, y1, x0, x1) = {(y0, y1, x0, x1)} is outside a {height}x{width} frame")
    return out


def crop_and_resize(images: Tensor, boxes: Tensor, size: int | Sequence[int], antialias: bool = True
                    ) -> Tensor:
    """Crop each sample to its box and resize it to the fine-stage input size (paper §3.6).

    Bilinear with antialiasing on by default, like MATLAB ``imresize`` used by ``Coarse_Fine_crop.m``.
    All leading dims after the batch share the sample's box, so a 3-frame ST window is cropped the same.

    Args:
        images: (B, *, H, W) floating images (e.g. (B, C, H, W) or (B, T, C, H, W)).
        boxes: (B, 4) long ``(y0, y1, x0, x1)`` inclusive, from :func:`coarse_box`.
        size: output side (int) or (h, w).
        antialias: low-pass when shrinking.

    Returns:
        (B, *, h, w) crops.
    """
    _check_float(images, "images", 3)
    hw = (size, size) if isinstance(size, int) else tuple(size)
    out = []
    for img, (y0, y1, x0, x1) in zip(images, _check_boxes(boxes, *images.shape[:1], *images.shape[-2:])):
        crop = img[..., y0:y1 + 1, x0:x1 + 1]
        flat = crop.reshape(1, -1, *crop.shape[-2:])  # (1, L, bh, bw)
        res = F.interpolate(flat, size=hw, mode="bilinear", align_corners=False, antialias=antialias)
        out.append(res.reshape(*crop.shape[:-2], *hw))
    return torch.stack(out)


def recover(fine_maps: Tensor, boxes: Tensor, size: int | Sequence[int], antialias: bool = True) -> Tensor:
    """Paste fine-stage maps back into full frames (paper §3.6; ``construcam.m``/``RecoverCAM.m``).

    Each (h, w) map is resized (bilinear) to its box and written into a zero (H, W) canvas; everything
    outside the box is 0.

    Args:
        fine_maps: (B, h, w) maps computed on the crops.
        boxes: (B, 4) long ``(y0, y1, x0, x1)`` inclusive, in the (H, W) frame.
        size: frame side (int) or (H, W).
        antialias: low-pass when the box is smaller than the map.

    Returns:
        (B, H, W) full-frame maps.
    """
    _check_float(fine_maps, "fine_maps", 3)
    if fine_maps.dim() != 3:
        raise ValueError(f"fine_maps must be (B, h, w), got {tuple(fine_maps.shape)}")
    H, W = (size, size) if isinstance(size, int) else tuple(size)
    canvas = fine_maps.new_zeros(fine_maps.shape[0], H, W)  # (B, H, W)
    for b, (y0, y1, x0, x1) in enumerate(_check_boxes(boxes, fine_maps.shape[0], H, W)):
        patch = F.interpolate(fine_maps[b][None, None], size=(y1 - y0 + 1, x1 - x0 + 1), mode="bilinear",
                              align_corners=False, antialias=antialias)
        canvas[b, y0:y1 + 1, x0:x1 + 1] = patch[0, 0]
    return canvas


def temporal_smooth(maps: Tensor, window: int = 5, recursive: bool = True) -> Tensor:
    r"""The released code's pseudo-fixation smoothing (option; audit §4.3, ``ssmooth.m``/``CAMsmooth.m``).

    Frame t gets :math:`\xi[\mathrm{mean}(V_{t-r..t+r})]`, r = window // 2, over the :math:`\xi`-normalised
    maps of one video. ``recursive=True`` reproduces the MATLAB queue: after frame t is computed, its output
    replaces the newest map :math:`V_{t+r}` in the queue, so in steady state
    :math:`out_t = \xi[\mathrm{mean}(out_{t-2r..t-1}, V_{t+r})]`. The recursion starts at the first full
    window, as the script does; near the ends (which the script never wrote) the window shrinks to the
    frames available and nothing is written back. Apply :func:`mean_floor` afterwards for the script's
    3 x mean floor (the floor is not fed back).

    Args:
        maps: (T, H, W) maps of one video in frame order.
        window: odd window length.
        recursive: the MATLAB feedback; False = a plain sliding mean.

    Returns:
        (T, H, W) smoothed maps in [0, 1].
    """
    _check_float(maps, "maps", 3)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd integer, got {window}")
    T, r = maps.shape[0], window // 2
    work = list(normalize(maps).unbind(0))  # the queue contents, by frame position
    out = []
    for t in range(T):
        lo, hi = max(0, t - r), min(T - 1, t + r)
        smoothed = normalize(torch.stack(work[lo:hi + 1]).mean(0))
        out.append(smoothed)
        if recursive and t >= r and t + r < T:
            work[t + r] = smoothed
    return torch.stack(out)


def time_window_mean(maps: Tensor, times: Sequence[float] | Tensor, half_width_s: float) -> Tensor:
    r"""A plain temporal mean of one video's maps over a window in seconds (this package's form of the released
    code's pseudo-fixation smoothing, audit §4.3: there 5 frames, recursive, whatever the frame rate).

    Frame t gets :math:`\xi[\mathrm{mean}\{\xi[V_u] : |\tau_u - \tau_t| \le h\}]` over the frames u of the
    video at times :math:`\tau`, :math:`\xi` the min-max normalisation, so the window covers the same seconds
    at 25 fps, at 15 fps and on 4 fps training frames. All-zero maps stay out of the mean (they carry no
    estimate: Eq. 3 filtered out every source there); a frame whose window holds none stays all zero. Nothing
    is fed back (the MATLAB queue of :func:`temporal_smooth` is not reproduced).

    Args:
        maps: (T, H, W) maps of one video.
        times: (T,) frame times in seconds.
        half_width_s: h >= 0; 0 returns the normalised maps.

    Returns:
        (T, H, W) maps in [0, 1].
    """
    _check_float(maps, "maps", 3)
    t = torch.as_tensor(times, dtype=torch.float64).flatten()
    if t.shape[0] != maps.shape[0]:
        raise ValueError(f"times must be one per map ({maps.shape[0]}), got {t.shape[0]}")
    if not half_width_s >= 0:
        raise ValueError(f"half_width_s must be >= 0, got {half_width_s}")
    norm = normalize(maps)
    present = (maps.flatten(1).amax(1) > 0).to(maps.dtype)  # (T,)
    inside = ((t[:, None] - t[None, :]).abs() <= half_width_s + 1e-9).to(maps.dtype) * present[None, :]  # (T, T)
    summed = torch.einsum("tu,uhw->thw", inside, norm)
    return normalize(summed / inside.sum(1).clamp(min=1)[:, None, None])


def mean_floor(maps: Tensor, factor: float = 3.0) -> Tensor:
    """The released code's floor (option, ``ssmooth.m``): zero every pixel below ``factor`` x the map mean.

    Args:
        maps: (..., H, W).
        factor: multiple of the per-map mean; pixels equal to the threshold are kept.

    Returns:
        (..., H, W).
    """
    _check_float(maps, "maps", 2)
    thr = factor * maps.mean(dim=(-2, -1), keepdim=True)
    return torch.where(maps < thr, torch.zeros_like(maps), maps)


def fill_empty(maps: Tensor, fallback: Tensor) -> Tensor:
    """Frames whose map carries no location (all zero, e.g. a SCAM no source passed Eq. 3 for) take ``fallback``
    instead, resized bilinearly to the maps' size and :func:`normalize`-d; every other map is returned as is. The
    pseudo-fixations' ``scam.empty_fallback="coarse"`` (the frame's coarse SCAM), a departure from the paper,
    where such a frame has no map.

    Args:
        maps: (B, H, W) maps in [0, 1].
        fallback: (B, h, w) maps of the same frames at any size.

    Returns:
        (B, H, W).
    """
    _check_float(maps, "maps", 3)
    _check_float(fallback, "fallback", 3)
    if maps.dim() != 3 or fallback.dim() != 3 or fallback.shape[0] != maps.shape[0]:
        raise ValueError(f"maps (B, H, W) and fallback (B, h, w) must share B, got {tuple(maps.shape)} and "
                         f"{tuple(fallback.shape)}")
    empty = maps.flatten(1).amax(1) <= 0  # (B,)
    if not bool(empty.any()):
        return maps
    filled = normalize(resize_maps(fallback[empty].to(maps.dtype), maps.shape[-2:]))
    out = maps.clone()
    out[empty] = filled
    return out
