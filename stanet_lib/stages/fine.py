"""Stage 04 (notebook 04): the fine nets on the crops, fine CAMs and SCAM recovered into the frame, the
pseudo-fixations (paper §3.6).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from .. import scam
from ..artefacts import tensor_digest
from ..config import Config
from ..data.frames import FrameSet, crop_window
from ..nets.runtime import select_device
from ..progress import bar as progress_bar
from .classifiers import branch_init, branch_tuned, train_classifier
from .maps import load_maps, resumable_pass, save_maps_parts
from .pseudo import (
    CAM_BATCH,
    SA_VARIANTS,
    STAGE_NETS,
    CamResult,
    batch_aligned,
    classifier_dataset,
    fused_maps,
    postprocess,
    set_cams,
    stage_nets,
)
from .world import World, load_switch, net_inputs, write_stage_manifest

__all__ = ["fine_set", "recovered_maps", "with_pseudo", "fine_set_resumable", "stage_fine"]


def _boxes(world: World, set_name: str) -> Tensor:
    """The coarse boxes (N, 4) of a frame set (stage 03)."""
    m = load_maps(world.maps_path("coarse", set_name))
    return torch.as_tensor(m["boxes"]).long()

def fine_set(nets: dict[str, nn.Module], fs: FrameSet, crops: tuple[Tensor, Tensor, Tensor], tags: Tensor,
             boxes: Tensor, p_switch: np.ndarray, cfg: Config, recover_on: torch.device | None = None,
             fallback: Tensor | None = None, **infer) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Stage 04 on one frame set, after training: fine CAMs of the crops ``(t-1, t, t+1)``, fused (Eq. 2-3),
    recovered into the canvas with the coarse ``boxes`` (on ``recover_on``, default the nets' device), and the
    pseudo-fixations (:func:`postprocess`; ``fallback``: the coarse SCAM of the frames, for
    ``scam.empty_fallback``). ``infer``: see :func:`~stanet_lib.stages.pseudo.set_cams`.

    Returns:
        (the maps saved for the set: CAM_*, SCAM*, ``pseudo``, ``valid``, ``boxes``, ``tags``, ``weights``,
        ``probs_*``; the fused fine-size maps).
    """
    p, c, n = crops
    cams = set_cams(nets, fs, c, tags, p_switch, window=(p, n), **infer)
    out, fine = recovered_maps(cams, tags, boxes, fs.canvas, cfg, recover_on)
    return with_pseudo(out, fs, cfg, fallback), fine


def recovered_maps(cams: dict[str, CamResult], tags: Tensor, boxes: Tensor, canvas: int, cfg: Config,
                   recover_on: torch.device | None = None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The fine nets' CAMs of some frames fused and recovered into the canvas with their coarse ``boxes``:
    (CAM_*, SCAM*, ``boxes``, ``tags``, ``weights``, ``probs_*`` per frame; the fused fine-size maps)."""
    dev = select_device() if recover_on is None else recover_on  # where the recovery runs
    fine = fused_maps(cams, tags, cfg.scam.lam)
    size = cfg.model.fine_size  # the crops' side (the inputs may be the trunk's features of them)
    recovered = {k: scam.recover(scam.resize_maps(v.float().to(dev), size), boxes, canvas).cpu()
                 for k, v in fine.items() if k.startswith(("CAM_", "SCAM"))}
    out = {**recovered, "boxes": boxes, "tags": tags, "weights": fine["weights"],
           **{k: v for k, v in fine.items() if k.startswith("probs_")}}
    return out, fine


def with_pseudo(maps: dict[str, Tensor], fs: FrameSet, cfg: Config,
                fallback: Tensor | None = None) -> dict[str, Tensor]:
    """:func:`recovered_maps` of the frames of ``fs`` (whole clips) with the pseudo-fixations and ``valid`` of
    :func:`~stanet_lib.stages.pseudo.postprocess` (the fine SCAM, per clip; ``fallback``: the frames' coarse SCAM,
    for ``scam.empty_fallback``)."""
    probs = {k: maps[f"probs_{k}"] for k in ("S", "ST", "SA")}
    pseudo_maps, valid = postprocess(maps["SCAM"], fs, cfg, probs, maps["tags"], fallback)
    return {**maps, "pseudo": pseudo_maps, "valid": valid}

def fine_set_resumable(nets: dict[str, nn.Module], fs: FrameSet, crops: tuple[Tensor | None, Tensor, Tensor | None],
                       tags: Tensor, boxes: Tensor, p_switch: np.ndarray, cfg: Config, folder: str | Path,
                       recover_on: torch.device | None = None, collect: bool = True,
                       fallback: Tensor | None = None, **infer) -> dict[str, Tensor] | list[Path]:
    """:func:`fine_set` one video at a time through :func:`~stanet_lib.stages.maps.resumable_pass` (a killed pass
    resumes at the first video without its maps), under a key of the nets' weights, the crops, tags, boxes,
    p_switch, the SCAM config and ``infer``. The recovered maps are cut from the whole-set pass's batches
    (:func:`~stanet_lib.stages.pseudo.batch_aligned`) and post-processed per video, so they are bit-equal to
    :func:`fine_set`'s; ``collect=False``: the per-video part files (for
    :func:`~stanet_lib.stages.maps.save_maps_parts`), so the set's maps are never whole in memory."""
    infer = {"batch_size": CAM_BATCH, **infer}
    fallback = None if fallback is None else torch.as_tensor(fallback)
    key = tensor_digest(*[v for n in sorted(nets) for v in nets[n].state_dict().values()],
                        *[x for x in crops if x is not None], tags, boxes, np.asarray(p_switch, np.float32),
                        fs.prev, fs.next, repr(cfg.scam), cfg.model.fine_size, repr(sorted(infer.items())),
                        *([] if fallback is None else [fallback]))
    p, c, n = crops

    def batch(k: int, rows: np.ndarray) -> dict[str, Tensor]:
        cams = set_cams(nets, fs, c, tags, p_switch, window=(p, n), batches=[k], **infer)
        idx = torch.from_numpy(rows)
        return recovered_maps(cams, tags[idx], boxes[idx], fs.canvas, cfg, recover_on)[0]

    maps = batch_aligned(batch, len(fs), infer["batch_size"])

    def pseudo(rows: np.ndarray) -> dict[str, Tensor]:
        fb = None if fallback is None else fallback[torch.from_numpy(np.asarray(rows))]
        return with_pseudo(maps(rows), fs.subset(rows), cfg, fb)

    return resumable_pass(folder, fs, key, pseudo, collect=collect)


def stage_fine(world: World, seed: int = 0, log=print) -> dict[str, pd.DataFrame]:
    """Notebook 04: fine nets on the crops, fine CAMs and SCAM recovered into the frame, pseudo-fixations."""
    cfg, t0 = world.cfg, time.perf_counter()
    size = cfg.model.fine_size
    p_switch = load_switch(world)
    dev = select_device()  # crops and recovery run where the nets run
    crops = {}
    for name, fs in world.sets.items():  # crops of t-1, t, t+1 in frame t's box, or the trunk's features of them
        window = crop_window(fs, _boxes(world, name), size, device=dev, window=cfg.scam.fine_window,
                             path=world.runs / "features" / f"crops{size}_{name.replace(':', '__')}")
        crops[name] = tuple(None if x is None else net_inputs(world, f"crops{size}_{name}_{part}", x, log)
                            for part, x in zip(("prev", "centre", "next"), window, strict=True))
    train, val = world.sets["train"], world.sets["val"]
    acc_rows = []
    for name, kind in STAGE_NETS.items():
        sw = p_switch if SA_VARIANTS.get(name) else None

        def ds(set_name: str, fs: FrameSet):
            p, c, n = crops[set_name]
            return classifier_dataset(kind, fs, c, fs.labels, None if sw is None else sw[set_name], p, n)

        log(f"fine {name} ...")
        t1 = time.perf_counter()
        train_classifier(kind, ds("train", train), ds("val", val), world.num_classes, cfg,
                         world.net_dir(f"fine_{name}"), cfg.train.batch_fine, seed, branch_init(world, "fine", kind),
                         branch_tuned(cfg, "fine"), stage="fine")
        log_df = pd.read_csv(world.net_dir(f"fine_{name}") / "log.csv")
        best = log_df.loc[log_df["val_acc"].idxmax()]
        acc_rows.append({"net": f"fine {name}", "epochs": len(log_df), "best_epoch": int(best["epoch"]),
                         "train_acc": best["train_acc"], "val_acc": best["val_acc"],
                         "seconds": round(time.perf_counter() - t1, 1)})
    rows = []
    nets = stage_nets(world, "fine")
    bar = progress_bar(total=sum(len(fs) for fs in world.sets.values()), desc="fine CAMs, SCAM, pseudo-fixations",
                       unit="frames")
    for name, fs in world.sets.items():
        coarse = load_maps(world.maps_path("coarse", name))
        tags = torch.as_tensor(coarse["tags"]).long()
        boxes = torch.as_tensor(coarse["boxes"]).long()
        log(f"fine CAMs {name} ...")
        parts = world.maps_path("fine", name).with_suffix(".parts")
        fallback = torch.as_tensor(coarse["SCAM"]) if cfg.scam.empty_fallback == "coarse" else None
        files = fine_set_resumable(nets, fs, crops[name], tags, boxes, p_switch[name], cfg, parts, dev,
                                   collect=False, fallback=fallback)
        out = load_maps(save_maps_parts(world.maps_path("fine", name), fs, files))  # streamed, then mapped
        shutil.rmtree(parts)  # the package's own per-video files, now in the set's npz
        rows.append({"set": name, "frames": len(fs), "valid_frames": int(out["valid"].sum()),
                     **{f"top1_acc_{k}": float((out[f"probs_{k}"].argmax(-1) == tags.numpy()).mean())
                        for k in ("S", "ST", "SA", "SA_noswitch")}})
        bar.update(len(fs))
    bar.close()
    tables = {"accuracy": pd.DataFrame(acc_rows), "summary": pd.DataFrame(rows)}
    write_stage_manifest(world, "stage04", time.perf_counter() - t0, tables={k: v.to_dict("records") for k, v in tables.items()})
    return tables
