"""Stage 03 (notebook 03): the coarse nets' tag-class CAMs, SCAM (Eq. 2-3) and SCAM_avg, and the 2 x mean boxes
(paper §3.4-3.6), for every frame set.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..artefacts import tensor_digest
from ..config import Config
from ..data.frames import FrameSet
from ..progress import bar as progress_bar
from .maps import load_maps, resumable_pass, save_maps_parts
from .pseudo import (
    CAM_BATCH,
    CamResult,
    batch_aligned,
    boxes_from,
    fused_maps,
    set_cams,
    set_tags,
    stage_nets,
)
from .world import World, frame_inputs, load_switch, write_stage_manifest

__all__ = ["coarse_set", "coarse_maps", "coarse_set_resumable", "stage_coarse_scam"]


def coarse_set(nets: dict[str, nn.Module], fs: FrameSet, images: Tensor, tags: Tensor, p_switch: np.ndarray,
               cfg: Config, **infer) -> dict[str, Tensor]:
    """Stage 03 on one frame set: the maps of :func:`~stanet_lib.stages.pseudo.fused_maps` plus ``boxes`` (N, 4) (the
    2 x mean box of the coarse SCAM at the canvas) and ``tags``. ``infer``: see :func:`~stanet_lib.stages.pseudo.set_cams`."""
    return coarse_maps(set_cams(nets, fs, images, tags, p_switch, **infer), tags, fs.canvas, cfg)


def coarse_maps(cams: dict[str, CamResult], tags: Tensor, canvas: int, cfg: Config) -> dict[str, Tensor]:
    """:func:`coarse_set`'s maps from the four nets' CAMs of some frames, with their ``tags``."""
    maps = fused_maps(cams, tags, cfg.scam.lam)
    maps["boxes"] = boxes_from(maps["SCAM"], canvas, cfg.scam.box_factor)
    maps["tags"] = tags
    return maps

def coarse_set_resumable(nets: dict[str, nn.Module], fs: FrameSet, images: Tensor, tags: Tensor,
                         p_switch: np.ndarray, cfg: Config, folder: str | Path, collect: bool = True,
                         **infer) -> dict[str, Tensor] | list[Path]:
    """:func:`coarse_set` one video at a time through :func:`~stanet_lib.stages.maps.resumable_pass` (a killed pass
    resumes at the first video without its maps), under a key of the nets' weights, the inputs, the SCAM
    config and ``infer``. Each video's maps are cut from the whole-set pass's batches
    (:func:`~stanet_lib.stages.pseudo.batch_aligned`), so they are bit-equal to :func:`coarse_set` over the
    whole set; ``collect=False``: the per-video part files instead (for
    :func:`~stanet_lib.stages.maps.save_maps_parts`)."""
    infer = {"batch_size": CAM_BATCH, **infer}
    key = tensor_digest(*[v for n in sorted(nets) for v in nets[n].state_dict().values()], images, tags,
                        np.asarray(p_switch, np.float32), fs.prev, fs.next, repr(cfg.scam),
                        repr(sorted(infer.items())))

    def batch(k: int, rows: np.ndarray) -> dict[str, Tensor]:
        cams = set_cams(nets, fs, images, tags, p_switch, batches=[k], **infer)
        return coarse_maps(cams, tags[torch.from_numpy(rows)], fs.canvas, cfg)

    return resumable_pass(folder, fs, key, batch_aligned(batch, len(fs), infer["batch_size"]), collect=collect)


def stage_coarse_scam(world: World, log=print) -> pd.DataFrame:
    """Notebook 03: coarse CAMs, SCAM, SCAM_avg, boxes, for every frame set. Returns per-set summaries."""
    cfg, t0 = world.cfg, time.perf_counter()
    p_switch = load_switch(world)
    rows = []
    nets = stage_nets(world, "coarse")
    bar = progress_bar(total=sum(len(fs) for fs in world.sets.values()), desc="coarse CAMs, SCAM, boxes",
                       unit="frames")
    for name, fs in world.sets.items():
        size = cfg.model.coarse_size
        images = frame_inputs(world, name, size, log)
        tags, tag_source = set_tags(world, name, images)
        log(f"coarse CAMs {name} ({len(fs)} frames) ...")
        parts = world.maps_path("coarse", name).with_suffix(".parts")
        files = coarse_set_resumable(nets, fs, images, tags, p_switch[name], cfg, parts, collect=False)
        bar.update(len(fs))
        maps = load_maps(save_maps_parts(world.maps_path("coarse", name), fs, files))  # streamed, then mapped
        shutil.rmtree(parts)  # the package's own per-video files, now in the set's npz
        b = maps["boxes"].astype(np.int64)
        area = (b[:, 1] - b[:, 0] + 1) * (b[:, 3] - b[:, 2] + 1)
        rows.append({"set": name, "frames": len(fs), "tags": tag_source,
                     "box_area_fraction": float(area.mean() / fs.canvas ** 2),
                     **{f"top1_acc_{k}": float((maps[f"probs_{k}"].argmax(-1) == tags.numpy()).mean())
                        for k in ("S", "ST", "SA", "SA_noswitch")}})
    bar.close()
    df = pd.DataFrame(rows)
    write_stage_manifest(world, "stage03", time.perf_counter() - t0, summary=df.to_dict("records"))
    return df
