"""``python -m stanet_lib train --stage S``: one stage's training, on one GPU or under ``torchrun`` on several.

Multi-GPU::

    torchrun --nproc_per_node=8 -m stanet_lib train --stage classifiers --profile paper --data-root D
    torchrun --nproc_per_node=8 -m stanet_lib train --stage coarse --profile paper --data-root D
    torchrun --nproc_per_node=8 -m stanet_lib train --stage fine --profile paper --data-root D
    torchrun --nproc_per_node=8 -m stanet_lib train --stage sta --profile paper --data-root D
    python -m stanet_lib run --profile paper --data-root D   # the notebooks: every net is found trained

There is no second code path: every rank runs the stage function of the notebooks
(:func:`stanet_lib.stages.classifiers.stage_classifiers`, :func:`~stanet_lib.stages.coarse.stage_coarse_scam`,
:func:`~stanet_lib.stages.fine.stage_fine`; for ``sta`` the training part :func:`stanet_lib.stages.sta.train_sta`), and
:mod:`stanet_lib.train.engine` does the distribution: :func:`~stanet_lib.train.engine.fit` wraps the net in
DistributedDataParallel with a DistributedSampler (SyncBatchNorm on GPUs), only rank 0 writes checkpoints and
logs, and inference (:func:`~stanet_lib.train.engine.predict`, :func:`~stanet_lib.stages.pseudo.tag_cams`) is split over the
ranks and gathered, so every rank holds the same full arrays. The artefacts a stage writes (maps, switch
probabilities) are then the same bytes on every rank and each write is atomic (temporary file + rename); rank 0
waits for the others at the end. ``sta``: after the DDP training, rank 0 alone runs
:func:`~stanet_lib.stages.sta.stage_sta` (predictions of every test set and the STAViS-protocol evaluation, CPU work that
would only be repeated on the other ranks); its training step finds the finished checkpoints (same run key) and
trains no further.

Without torchrun (WORLD_SIZE unset) the command runs the same stage in one process.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch.distributed as dist

from ..config import PROFILES, load_profile, parse_overrides
from ..data.frames import resized_frames
from ..data.loaders import is_distributed
from ..train.distributed import init_distributed, rank
from . import sta
from .classifiers import stage_classifiers
from .coarse import stage_coarse_scam
from .fine import stage_fine
from .world import World, open_world

__all__ = ["STAGES", "add_arguments", "run_stage", "run_cli"]


STAGES = ("classifiers", "coarse", "fine", "sta")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stanet_lib train``."""
    p.add_argument("--stage", required=True, choices=STAGES,
                   help="classifiers: notebook 02 (switch, tagger and the coarse S/ST/SA nets); coarse: notebook 03, which "
                        "trains nothing (the coarse nets' CAMs, SCAM and boxes, inference split over the ranks); "
                        "fine: notebook 04 (the fine nets, pseudo-fixations); sta: notebook 05 (STA nets, then "
                        "predictions and evaluation on rank 0)")
    p.add_argument("--profile", default="demo", choices=PROFILES, help="config profile (paper: real data on GPUs)")
    p.add_argument("--data-root", type=Path, default=None, help="root of synthetic/, cache/, runs/")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set train.epochs=4 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of every net's initialisation and data order")


def _rank_log(r: int) -> Callable[..., None]:
    def log(*a: object) -> None:
        if r == 0:
            print(*a, flush=True)

    return log


def run_stage(stage: str, world: World, seed: int = 0, log: Callable[..., None] = print) -> dict:
    """Run ``stage`` on this rank (module docstring). Returns a summary dict (rank, world size, seconds)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    r, size = rank(), dist.get_world_size() if is_distributed() else 1
    t0 = time.perf_counter()
    if stage == "classifiers":
        stage_classifiers(world, seed=seed, log=log)
    elif stage == "coarse":
        stage_coarse_scam(world, log=log)
    elif stage == "fine":
        stage_fine(world, seed=seed, log=log)
    else:
        size_px = world.cfg.model.sta_size
        images = {name: resized_frames(fs, size_px) for name, fs in world.sets.items() if name in ("train", "val")}
        nets = [("sta", True)] + ([("sta_noswitch", False)] if world.cfg.train.sta_noswitch else [])
        for name, use_switch in nets:
            log(f"STA net {name} (DDP over {size} rank(s)) ...")
            sta.train_sta(world, name, use_switch, images, seed)
    if is_distributed():
        dist.barrier()
        if stage == "sta":
            dist.destroy_process_group()  # rank 0 goes on alone: predictions and evaluation
    if stage == "sta" and r == 0:
        sta.stage_sta(world, seed=seed, log=log)
    return {"stage": stage, "rank": r, "world_size": size, "seconds": round(time.perf_counter() - t0, 1)}


def run_cli(args: argparse.Namespace) -> int:
    """``python -m stanet_lib train``: one stage on this rank (module docstring)."""
    distributed = init_distributed()
    r = rank()
    log = _rank_log(r)
    try:
        cfg = load_profile(args.profile, **parse_overrides(args.overrides))  # fit: progress bars on rank 0 only
        world = open_world(cfg, args.data_root)
        log(f"train --stage {args.stage}: profile {cfg.profile}, world size "
            f"{os.environ.get('WORLD_SIZE', '1') if distributed else 1}")
        summary = run_stage(args.stage, world, args.seed, log)
        log(f"done: {summary}")
    finally:
        if is_distributed():
            dist.destroy_process_group()
    return 0
