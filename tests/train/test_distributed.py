"""Multi-process training and inference (torchrun's path, CPU / gloo): a 2-process DDP run equals 1 process.

Two processes (torch.multiprocessing, gloo, a file:// rendezvous) each take half of a batch of 4 through
:func:`stanet_lib.train.engine.fit` (DistributedSampler, DDP gradient averaging): the weights after the SGD steps
must equal those of one process on the whole batch of 4. The nets have no batch norm (``batch_norm=False``,
the paper's plain VGG16): per-rank BatchNorm statistics would differ from the full batch's, and SyncBatchNorm
(used under torchrun on GPUs) has no CPU kernel. The same processes check that inference
(:func:`~stanet_lib.train.engine.predict`, the ST feature-reuse path of
:func:`~stanet_lib.stages.pseudo.tag_cams`) is split over the ranks and
gathered back in sample order, and that validation over unequal shards gives the single-process metrics.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import Dataset

from stanet_lib.config import ModelConfig, TrainConfig
from stanet_lib.data.frames import FrameDataset
from stanet_lib.data.loaders import make_loader
from stanet_lib.nets.classifier import Classifier
from stanet_lib.stages.pseudo import tag_cams
from stanet_lib.train import engine
from stanet_lib.train.distributed import interleave, rank

MCFG = ModelConfig(width=1 / 16, batch_norm=False)
TCFG = TrainConfig(epochs=2, lr=0.05, momentum=0.9, progress=False)


class Windows(Dataset):
    """4 training samples of 3-frame windows (ST input) with labels; 3 validation samples (unequal shards)."""

    def __init__(self, n: int, seed: int, kind: str) -> None:
        g = torch.Generator().manual_seed(seed)
        shape = (n, 3, 3, 32, 32) if kind == "ST" else (n, 3, 32, 32)
        self.x, self.y = torch.rand(shape, generator=g), torch.randint(0, 3, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"frames": self.x[i], "target": self.y[i]}


def train_once(kind: str, out_dir, batch: int) -> engine.FitResult:
    engine.set_seed(0)
    model = Classifier(kind, 3, MCFG)
    tl = make_loader(Windows(4, 1, kind), batch, shuffle=True, seed=7)
    vl = make_loader(Windows(3, 2, kind), 2, shuffle=False)
    return engine.fit(model, tl, vl, cfg=TCFG, out_dir=out_dir, seed=11, monitor="val_loss", mode="min",
                      device="cpu", run_key=f"test-{kind}")


def cam_inputs() -> tuple[Classifier, FrameDataset]:
    engine.set_seed(3)
    net = Classifier("ST", 3, MCFG)
    prev = torch.tensor([0, 0, 1, 2, 4, 4, 5])
    nxt = torch.tensor([1, 2, 3, 3, 5, 6, 6])
    imgs = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    return net, FrameDataset("ST", imgs, prev=prev, next=nxt, extra={"tag": torch.tensor([0, 1, 2, 0, 1, 2, 0])})


def _worker(proc: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=proc, world_size=world)
    try:
        out = {"rank": rank()}
        for kind in ("S", "ST"):
            res = train_once(kind, os.path.join(tmp, f"ddp_{kind}"), batch=4 // world)
            out[kind] = res.history
        net, ds = cam_inputs()
        out["cams"] = tag_cams(net, ds, batch_size=2, reuse=True, device="cpu")
        out["cams_plain"] = tag_cams(net, ds, batch_size=2, reuse=False, device="cpu")
        loader = make_loader(Windows(5, 9, "S"), 2, shuffle=False)
        out["shard"] = list(loader.sampler)
        engine.set_seed(0)
        out["predict"] = engine.predict(Classifier("S", 3, MCFG), loader, device="cpu").logits
        torch.save(out, os.path.join(tmp, f"rank{proc}.pt"))
        dist.barrier()  # neither rank tears the group down while the other still talks to it (gloo aborts)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    for attempt in (1, 2):
        tmp = tmp_path_factory.mktemp("ddp")
        try:
            mp.spawn(_worker, args=(2, str(tmp)), nprocs=2, join=True)
            break
        except mp.ProcessExitedException as exc:
            # a rank killed by a signal, not a Python error (that is ProcessRaisedException, never retried): gloo's
            # TCP transport aborted once in a fresh clone's `make test` on this 2-core CPU (2026-12-06, SIGABRT,
            # "terminate called without an active exception", in the second of the two trainings), and the same
            # file passed alone 4 times in a row after it. One more try, in a new folder; a second abort fails.
            if attempt == 2 or not exc.signal_name:
                raise
    return tmp, [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.mark.parametrize("kind", ["S", "ST"])
def test_two_process_training_equals_one_process(two_ranks, tmp_path, kind: str) -> None:
    tmp, ranks = two_ranks
    single = train_once(kind, tmp_path / "single", batch=4)
    ddp = engine.load_checkpoint(tmp / f"ddp_{kind}" / "last.pt")
    ref = engine.load_checkpoint(tmp_path / "single" / "last.pt")
    assert ddp["epoch"] == ref["epoch"] == 2
    for k, v in ref["model"].items():
        torch.testing.assert_close(ddp["model"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    engine.set_seed(0)
    init = Classifier(kind, 3, MCFG).state_dict()
    assert max((ddp["model"][k] - init[k]).abs().max() for k in init) > 1e-4  # the steps moved the weights
    for r in range(2):  # every rank logged the all-reduced metrics: the single process's, val over 2 + 1 samples
        for a, b in zip(ranks[r][kind], single.history):
            for col in ("train_loss", "train_acc", "val_loss", "val_acc"):
                assert a[col] == pytest.approx(b[col], rel=1e-5, abs=1e-6), (r, col)
    assert (tmp / f"ddp_{kind}" / "log.csv").read_text().count("\n") == 3  # rank 0 wrote the log: header + 2


def test_inference_is_sharded_and_gathered(two_ranks) -> None:
    _, ranks = two_ranks
    assert ranks[0]["shard"] == [0, 2, 4] and ranks[1]["shard"] == [1, 3]  # every sample once, no padding
    assert [ranks[r]["rank"] for r in range(2)] == [0, 1]
    engine.set_seed(0)
    x = Windows(5, 9, "S").x
    with torch.no_grad():
        ref = Classifier("S", 3, MCFG).eval()(x).logits  # the same initial weights (seed 0 in the workers too)
    net, ds = cam_inputs()
    plain = tag_cams(net, ds, batch_size=2, reuse=False, device="cpu")
    for r in range(2):
        torch.testing.assert_close(ranks[r]["predict"], ref, rtol=1e-5, atol=1e-6)  # full, in sample order
        for key in ("cams", "cams_plain"):
            torch.testing.assert_close(ranks[r][key].cams, plain.cams, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(ranks[r][key].probs, plain.probs, rtol=1e-5, atol=1e-6)


def test_interleave_merges_the_ranks_outputs_in_sample_order() -> None:
    parts = [{"a": torch.tensor([0, 2, 4]), "b": (torch.tensor([[0.0], [2.0], [4.0]]),)},
             {"a": torch.tensor([1, 3]), "b": (torch.tensor([[1.0], [3.0]]),)}]
    merged = interleave(parts, 5)
    assert merged["a"].tolist() == [0, 1, 2, 3, 4] and merged["b"][0][:, 0].tolist() == [0, 1, 2, 3, 4]
    padded = [torch.tensor([0, 2, 4]), torch.tensor([1, 3, 0])]  # DistributedSampler pads with sample 0
    assert interleave(padded, 5).tolist() == [0, 1, 2, 3, 4]
    assert interleave([None, None], 5) is None
    with pytest.raises(TypeError, match="cannot gather"):
        interleave(["x", "y"], 2)
    assert rank() == 0  # outside torchrun
