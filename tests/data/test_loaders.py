"""stanet_lib.data.loaders: whole-batch fetches equal collated samples, the epoch and shard samplers."""

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset, default_collate

from stanet_lib.data.frames import FrameDataset, resized_frames
from stanet_lib.data.loaders import (
    Batch,
    BatchedView,
    EpochSampler,
    ShardSampler,
    collate,
    is_distributed,
    make_loader,
)
from tests.frame_fixtures import frameset


@pytest.mark.parametrize("kind", ["S", "ST", "SA", "STA", "tagger", "switch"])
def test_batched_fetch_equals_collated_samples(kind):
    """FrameDataset.get_batch (one tensor gather per batch) gives what default_collate of the per-sample dicts
    gives, frames as uint8 (x / 255 of them = the per-sample floats); make_loader's loaders use it (also under a
    Subset), a plain DataLoader keeps the per-sample path."""
    fs = frameset()
    imgs = resized_frames(fs, 8)
    extra = {"pseudo": torch.rand(6, 1, 8, 8)} if kind == "STA" else None
    ds = FrameDataset(kind, None if kind == "tagger" else imgs, audio=fs.audio, prev=fs.prev, next=fs.next,
                      targets=None if kind == "STA" else fs.labels,
                      switch=torch.linspace(0, 1, 6) if kind in ("SA", "STA") else None, extra=extra)
    idx = [4, 0, 3]
    ref = default_collate([ds[i] for i in idx])
    got = ds.get_batch(idx)
    assert isinstance(got, Batch) and sorted(got) == sorted(ref)
    for key in ref:
        if key == "frames":
            assert got[key].dtype == torch.uint8 and got[key].shape == ref[key].shape
            torch.testing.assert_close(got[key].float() / 255.0, ref[key], rtol=0, atol=0)
        else:
            assert got[key].dtype == ref[key].dtype, key
            torch.testing.assert_close(got[key], ref[key], rtol=0, atol=0)
    sub = Subset(Subset(ds, [5, 4, 3, 2, 1, 0]), [0, 1, 2, 3, 5])
    loader = make_loader(sub, 4, shuffle=False)
    assert isinstance(loader.dataset, BatchedView) and len(loader.dataset) == 5
    batches = list(loader)
    assert [b["index"].tolist() for b in batches] == [[5, 4, 3, 2], [0]]  # the dataset's own indices
    if kind != "tagger":
        assert batches[0]["frames"].dtype == torch.uint8
        plain = next(iter(DataLoader(ds, 2)))
        assert plain["frames"].dtype == torch.float32  # a user's own DataLoader: per-sample floats as before
    assert collate([ds[0], ds[1]])["index"].tolist() == [0, 1]  # per-sample dicts: default_collate
    assert make_loader(ds, 2).dataset.kind == kind  # attributes of the wrapped dataset


def test_epoch_sampler_order_depends_on_seed_and_epoch_only() -> None:
    s = EpochSampler(10, shuffle=True, seed=3)
    s.set_epoch(2)
    first = list(s)
    s.set_epoch(0)
    list(s)
    s.set_epoch(2)
    assert list(s) == first and sorted(first) == list(range(10))
    d = DistributedSampler(range(10), num_replicas=1, rank=0, shuffle=True, seed=3)
    d.set_epoch(2)
    assert list(d) == first  # the same permutation as DistributedSampler on one replica


def test_shard_sampler_splits_without_padding() -> None:
    assert [list(ShardSampler(5, r, 2)) for r in range(2)] == [[0, 2, 4], [1, 3]]
    assert len(ShardSampler(5, 1, 2)) == 2
    with pytest.raises(ValueError, match="rank"):
        ShardSampler(5, 2, 2)


def test_outside_torchrun_a_loader_is_not_distributed() -> None:
    assert not is_distributed()
    loader = make_loader(list(range(7)), 3, shuffle=True, seed=1)
    assert isinstance(loader.sampler, EpochSampler)
    order = [i for b in loader for i in b.tolist()]  # plain items: default_collate, in the sampler's order
    assert order == list(EpochSampler(7, shuffle=True, seed=1)) and sorted(order) == list(range(7))
    assert order != list(range(7))
