"""DistributedDataParallel plumbing of the training loop (``torchrun``; :mod:`stanet_lib.train.engine` uses it).

* :func:`init_distributed` reads torchrun's environment; :func:`rank` is 0 outside torchrun;
* :func:`distribute_loader` rebuilds a plain loader for the ranks (DistributedSampler for training, a
  :class:`~stanet_lib.data.loaders.ShardSampler` for validation);
* :func:`interleave` puts the ranks' inference outputs back into sample order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler

from ..data.loaders import ShardSampler, is_distributed

__all__ = ["rank", "init_distributed", "distribute_loader", "interleave"]


def rank() -> int:
    """This process's rank under torchrun (0 otherwise)."""
    return dist.get_rank() if is_distributed() else 0


def init_distributed() -> bool:
    """Initialise the process group from ``torchrun``'s environment (WORLD_SIZE > 1); True if distributed."""
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return True

def distribute_loader(loader: DataLoader, seed: int, train: bool = True) -> DataLoader:
    """Rebuild a plain loader for the ranks (same batch size, workers, collate): a DistributedSampler for
    training (every rank the same number of steps, as DDP needs), a :class:`ShardSampler` for validation."""
    want = DistributedSampler if train else ShardSampler
    if not is_distributed() or isinstance(loader.sampler, want):
        return loader
    if loader.batch_size is None:
        raise ValueError("cannot distribute a DataLoader with a custom batch_sampler; use make_loader")
    shuffle = isinstance(loader.sampler, RandomSampler) or getattr(loader.sampler, "shuffle", False)
    sampler: Sampler = (DistributedSampler(loader.dataset, shuffle=shuffle, seed=seed, drop_last=loader.drop_last)
                        if train else ShardSampler(len(loader.dataset), dist.get_rank(), dist.get_world_size()))
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      drop_last=loader.drop_last,
                      worker_init_fn=loader.worker_init_fn, pin_memory=loader.pin_memory)

def interleave(parts: list[Any], size: int) -> Any:
    """Rank r's rows are samples r, r + world, ... (ShardSampler / unshuffled DistributedSampler): merge the
    ranks' outputs back into sample order, the padding of DistributedSampler dropped."""
    if all(p is None for p in parts):
        return None
    first = next(p for p in parts if p is not None)
    world = len(parts)
    if isinstance(first, Tensor):
        total = sum(len(p) for p in parts if p is not None)
        out = first.new_empty((total, *first.shape[1:]))
        for r, p in enumerate(parts):
            if p is not None:
                out[r::world][: len(p)] = p
        return out[:size]
    pick = (lambda k: [None if p is None else p[k] for p in parts])
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(interleave(pick(i), size) for i in range(len(first))))
    if isinstance(first, (list, tuple)):
        return type(first)(interleave(pick(i), size) for i in range(len(first)))
    if isinstance(first, Mapping):
        return {k: interleave(pick(k), size) for k in first}
    raise TypeError(f"predict: cannot gather outputs of type {type(first).__name__} across ranks")
