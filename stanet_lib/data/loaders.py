"""Data loaders of the training loop and inference (used by :mod:`stanet_lib.train.engine`).

* :class:`EpochSampler`: the shuffled order is a function of (seed, epoch), so resume is exact; under
  ``torchrun`` :func:`make_loader` gives a DistributedSampler (training) or a :class:`ShardSampler`
  (validation / inference: every sample exactly once over the ranks).
* Whole-batch fetches: a dataset with ``get_batch(indices)`` (:class:`~stanet_lib.data.frames.FrameDataset`)
  is wrapped in :class:`BatchedView`, whose ``__getitems__`` (the ``DataLoader``'s batched fetch) returns the
  batch that :func:`collate` passes through: one tensor gather per batch instead of per-sample dicts and a
  collate, frames as uint8 (a quarter of the bytes to pin and copy).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset, default_collate

__all__ = [
    "is_distributed", "EpochSampler", "ShardSampler", "Batch", "BatchedView", "collate", "make_loader"
]


def is_distributed() -> bool:
    """``torch.distributed`` is initialised (a ``torchrun`` process)."""
    return dist.is_available() and dist.is_initialized()


class EpochSampler(Sampler[int]):
    """Shuffled order fixed by ``seed + epoch`` (the same permutation as DistributedSampler on one replica),
    so an epoch's order does not depend on what ran before it."""

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0) -> None:
        self.size, self.shuffle, self.seed, self.epoch = size, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.size))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=g).tolist())

    def __len__(self) -> int:
        return self.size


class ShardSampler(Sampler[int]):
    """Samples ``rank, rank + world, ...`` of ``0..size-1`` in order, without the padding of DistributedSampler:
    over all ranks every sample exactly once (validation and inference under torchrun)."""

    def __init__(self, size: int, rank: int, world: int) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in [0, {world})")
        self.size, self.rank, self.world, self.shuffle = size, rank, world, False

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world))


def _seed_worker(worker_id: int) -> None:
    s = torch.initial_seed() % 2**32  # base_seed + worker_id, drawn from the (checkpointed) torch RNG
    np.random.seed(s)
    random.seed(s)


class Batch(dict):
    """A batch a dataset built whole (:meth:`stanet_lib.data.frames.FrameDataset.get_batch`); :func:`collate`
    passes it through."""


class BatchedView(Dataset):
    """What :func:`make_loader` hands the ``DataLoader`` when the dataset (or the dataset under a ``Subset``) has
    ``get_batch(indices)``: its ``__getitems__`` (the DataLoader's batched fetch) returns that whole batch.
    Items, length and attributes are the wrapped dataset's."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        base, index = dataset, None
        while isinstance(base, Subset):
            index = [base.indices[i] for i in (range(len(base.indices)) if index is None else index)]
            base = base.dataset
        self._base, self._index = base, index

    @staticmethod
    def supports(dataset: Dataset) -> bool:
        while isinstance(dataset, Subset):
            dataset = dataset.dataset
        return callable(getattr(dataset, "get_batch", None))

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> Any:
        return self.dataset[i]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = list(indices) if self._index is None else [self._index[i] for i in indices]
        return self._base.get_batch(idx)

    def __getattr__(self, name: str) -> Any:
        if name in ("dataset", "_base", "_index"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


def collate(items: Any) -> Any:
    """``DataLoader`` collate of :func:`make_loader`: a :class:`Batch` as it is, anything else (a list of
    per-sample dicts) by ``default_collate``."""
    if isinstance(items, Batch):
        return items
    return default_collate(items)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False, collate_fn: Callable | None = None) -> DataLoader:
    """A DataLoader with a seeded per-epoch order (:class:`EpochSampler`; when ``torch.distributed`` is
    initialised a DistributedSampler, or a :class:`ShardSampler` for ``shuffle=False``), worker seeding, pinned
    memory when a GPU is visible, and whole-batch fetches from datasets with ``get_batch`` (:class:`BatchedView`,
    unless a ``collate_fn`` is given)."""
    if is_distributed() and not shuffle:
        sampler: Sampler = ShardSampler(len(dataset), dist.get_rank(), dist.get_world_size())  # type: ignore[arg-type]
    elif is_distributed():
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    else:
        sampler = EpochSampler(len(dataset), shuffle, seed)  # type: ignore[arg-type]
    if collate_fn is None and BatchedView.supports(dataset):
        dataset = BatchedView(dataset)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      drop_last=drop_last, collate_fn=collate_fn or collate, worker_init_fn=_seed_worker,
                      pin_memory=torch.cuda.is_available())  # workers re-seeded every epoch: exact resume
