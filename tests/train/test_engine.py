"""stanet_lib.train.engine: resume to the same weights, model selection, CSV log, run keys, determinism, the DDP
path, the optimizer, inference."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from stanet_lib.config import ModelConfig, TrainConfig
from stanet_lib.data.loaders import is_distributed, make_loader
from stanet_lib.nets.classifier import Classifier
from stanet_lib.train import engine
from stanet_lib.train.distributed import init_distributed
from stanet_lib.train.losses import StepResult, classification_step

MCFG = ModelConfig(width=1 / 16, audio_channels=8)
TCFG = TrainConfig(epochs=3, lr=1e-2, momentum=0.9, checkpoint_every=1, progress=False)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


class Toy(Dataset):
    """Class k = a bright square in quadrant k on noise (learnable in a few epochs)."""

    def __init__(self, n: int, seed: int, size: int = 32) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 3, size, size, generator=g) * 0.5
        self.y = torch.randint(0, 3, (n,), generator=g)
        h = size // 2
        for i, k in enumerate(self.y.tolist()):
            r, c = divmod(k, 2)
            self.x[i, :, r * h + 4:r * h + 12, c * h + 4:c * h + 12] = 1.0

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"frames": self.x[i], "target": self.y[i]}


TRAIN, VAL = Toy(24, 0), Toy(8, 1)


def new_model(seed: int = 0) -> Classifier:
    engine.set_seed(seed)
    return Classifier("S", 3, MCFG)


def loaders(kind: str) -> tuple[DataLoader, DataLoader]:
    if kind == "epoch_sampler":
        return make_loader(TRAIN, 8, shuffle=True, seed=5), make_loader(VAL, 8, shuffle=False)
    return DataLoader(TRAIN, batch_size=8, shuffle=True), DataLoader(VAL, batch_size=8)  # global torch RNG


def run(out_dir, kind: str = "epoch_sampler", model_seed: int = 0, **kw):
    model = new_model(model_seed)
    tr, va = loaders(kind)
    kw.setdefault("cfg", TCFG)
    res = engine.fit(model, tr, va, out_dir=out_dir, seed=11, monitor="val_acc", mode="max", device="cpu",
                     **kw)
    return model, res


def assert_same_state(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("kind", ["epoch_sampler", "plain_shuffle"])
def test_resume_after_stop_gives_same_final_weights(tmp_path, kind: str) -> None:
    _, full = run(tmp_path / "full", kind)
    _, first = run(tmp_path / "split", kind, max_epochs_this_call=1)
    assert first.stopped and first.epochs_done == 1
    assert engine.load_checkpoint(tmp_path / "split" / "last.pt")["epoch"] == 1
    _, rest = run(tmp_path / "split", kind, model_seed=99)  # another init: the checkpoint must win
    assert rest.resumed_from == 1 and rest.epochs_done == 3 and not rest.stopped
    a = engine.load_checkpoint(tmp_path / "full" / "last.pt")
    b = engine.load_checkpoint(tmp_path / "split" / "last.pt")
    assert_same_state(a["model"], b["model"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in full.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in rest.history]
    # and training did something: the weights moved from their initialisation
    assert not torch.equal(a["model"]["classifier.weight"], new_model(0).state_dict()["classifier.weight"])


def test_resume_after_crash_in_callback(tmp_path) -> None:
    _, full = run(tmp_path / "full")

    def crash(row: dict) -> None:
        if row["epoch"] == 2:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "crash", callbacks=[crash])
    assert engine.load_checkpoint(tmp_path / "crash" / "last.pt")["epoch"] == 2
    assert not list((tmp_path / "crash").glob("*.tmp*"))  # nothing half-written
    model, res = run(tmp_path / "crash", model_seed=7)
    assert res.resumed_from == 2
    assert_same_state(engine.load_checkpoint(tmp_path / "full" / "last.pt")["model"],
                      engine.load_checkpoint(tmp_path / "crash" / "last.pt")["model"])


def test_best_epoch_selected_restored_and_logged(tmp_path) -> None:
    cfg = dataclasses.replace(TCFG, epochs=4)
    model, res = run(tmp_path, cfg=cfg)
    accs = [r["val_acc"] for r in res.history]
    assert res.best_epoch == 1 + accs.index(max(accs)) and res.best_value == max(accs)
    best = engine.load_checkpoint(res.best_path)
    assert best["epoch"] == res.best_epoch
    assert_same_state(model.state_dict(), best["model"])  # restore_best
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "best"} <= set(rows[0])
    assert [r["best"] == "True" for r in rows] == [r["best"] for r in res.history]
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]  # it learns


def test_refuses_checkpoint_of_another_seed(tmp_path) -> None:
    run(tmp_path, max_epochs_this_call=1)
    tr, va = loaders("epoch_sampler")
    with pytest.raises(ValueError, match="seed=11"):
        engine.fit(new_model(), tr, va, cfg=TCFG, out_dir=tmp_path, seed=12, monitor="val_acc", mode="max",
                   device="cpu")
    res = engine.fit(new_model(), tr, va, cfg=TCFG, out_dir=tmp_path, seed=12, monitor="val_acc", mode="max",
                     device="cpu", resume=False)
    assert res.resumed_from == 0 and res.epochs_done == 3


def test_non_finite_loss_fails_loudly(tmp_path) -> None:
    def bad_step(model, batch):
        res = classification_step(model, batch)
        return StepResult(res.loss * float("nan"), res.n, res.sums)

    tr, va = loaders("epoch_sampler")
    with pytest.raises(FloatingPointError, match="loss"):
        engine.fit(new_model(), tr, va, bad_step, TCFG, tmp_path, device="cpu")


def test_unknown_monitor(tmp_path) -> None:
    tr, va = loaders("epoch_sampler")
    with pytest.raises(KeyError, match="monitor"):
        engine.fit(new_model(), tr, va, cfg=TCFG, out_dir=tmp_path, monitor="val_auc", device="cpu")


def test_deterministic_mode_restores_global_flags() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    with engine.deterministic_mode(True, torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before


def test_predict_concatenates_and_matches_forward() -> None:
    model = new_model().train()
    out = engine.predict(model, DataLoader(VAL, batch_size=3), device="cpu")
    assert model.training  # mode restored
    assert out.logits.shape == (8, 3) and out.cams.shape == (8, 3, 4, 4) and out.gate is None
    assert out.logits.dtype == torch.float32
    with torch.no_grad():
        ref = model.eval()(VAL.x)
    torch.testing.assert_close(out.logits, ref.logits)
    pairs = list(engine.iter_predict(model, DataLoader(VAL, batch_size=5), device="cpu"))
    assert [b["target"].shape[0] for b, _ in pairs] == [5, 3]


def test_ddp_path_matches_single_process(tmp_path) -> None:
    """torchrun path in one process (gloo, world size 1): DDP wrapping + DistributedSampler give the same
    weights as the plain run with EpochSampler (same permutation, all-reduce over one rank)."""
    cfg = dataclasses.replace(TCFG, epochs=2)
    _, plain = run(tmp_path / "plain", cfg=cfg)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        assert is_distributed() and init_distributed()
        tr = make_loader(TRAIN, 8, shuffle=True, seed=5)
        assert isinstance(tr.sampler, DistributedSampler)
        model = new_model(0)
        res = engine.fit(model, tr, DataLoader(VAL, batch_size=8), cfg=cfg, out_dir=tmp_path / "ddp", seed=11,
                         monitor="val_acc", mode="max", device="cpu")
    finally:
        dist.destroy_process_group()
    assert res.epochs_done == 2
    assert_same_state(engine.load_checkpoint(tmp_path / "plain" / "last.pt")["model"],
                      engine.load_checkpoint(tmp_path / "ddp" / "last.pt")["model"])


def test_run_key_restarts_on_changed_inputs_and_resumes_on_same(tmp_path) -> None:
    _, first = run(tmp_path / "k", run_key="data-A", max_epochs_this_call=2)
    assert first.epochs_done == 2
    _, same = run(tmp_path / "k", run_key="data-A", max_epochs_this_call=1)
    assert same.resumed_from == 2 and same.epochs_done == 3
    _, other = run(tmp_path / "k", run_key="data-B", max_epochs_this_call=1)
    assert other.resumed_from == 0 and other.epochs_done == 1  # a finished run is not reused on new inputs
    assert json.loads((tmp_path / "k" / "run_key.json").read_text()) == {"key": "data-B", "inputs": {}}


def test_fit_says_in_one_line_whether_it_reused_resumed_or_retrained_and_why(tmp_path) -> None:
    lines: list[str] = []
    kw = {"desc": "toy", "log": lines.append, "cfg": TrainConfig(epochs=2, lr=1e-2, progress=False)}
    run(tmp_path / "k", run_key="A", inputs={"frames": "a1", "config": "c"}, max_epochs_this_call=1, **kw)
    run(tmp_path / "k", run_key="A", inputs={"frames": "a1", "config": "c"}, **kw)
    run(tmp_path / "k", run_key="A", inputs={"frames": "a1", "config": "c"}, **kw)
    run(tmp_path / "k", run_key="B", inputs={"frames": "b2", "config": "c"}, max_epochs_this_call=1, **kw)
    run(tmp_path / "k", run_key="C", **kw)
    assert lines == [
        "training toy (no earlier run)",
        "resuming toy at epoch 2/2 (same config and inputs)",
        f"reused toy ({tmp_path / 'k' / 'best.pt'}: finished 2 epochs, same config and inputs)",
        "retraining toy: input frames changed",
        "retraining toy: its config, seed or training data changed",
    ]


def test_make_optimizer_fused_on_cuda_same_update_rule() -> None:
    cfg = TrainConfig(lr=0.1, momentum=0.9, weight_decay=1e-3)
    torch.manual_seed(0)
    w0 = torch.randn(5, 4)
    grads = [torch.randn(5, 4) for _ in range(3)]
    out = {}
    for dev in ("cpu", "cuda"):  # "cuda": the fused kernel, run here on CPU tensors (same implementation family)
        p = torch.nn.Parameter(w0.clone())
        opt = engine.make_optimizer([p], cfg, torch.device(dev))
        assert bool(opt.defaults["fused"]) == (dev == "cuda")
        for g in grads:
            p.grad = g.clone()
            opt.step()
        out[dev] = p.detach()
    assert not torch.equal(out["cpu"], w0)
    torch.testing.assert_close(out["cuda"], out["cpu"], rtol=1e-6, atol=1e-6)


def test_cosine_schedule_logged_per_epoch_and_continued_on_resume(tmp_path) -> None:
    """train.lr_schedule="cosine": epoch e of E runs at lr (1 + cos(pi e / E)) / 2, logged in log.csv; a run stopped
    after one epoch and resumed ends with the same weights as one that ran through; "constant" keeps lr."""
    cfg = dataclasses.replace(TCFG, epochs=4, lr_schedule="cosine")
    _, full = run(tmp_path / "full", cfg=cfg)
    assert [r["lr"] for r in full.history] == pytest.approx([1e-2, 1e-2 * (1 + 0.5 ** 0.5) / 2, 5e-3,
                                                             1e-2 * (1 - 0.5 ** 0.5) / 2])
    run(tmp_path / "split", cfg=cfg, max_epochs_this_call=1)
    _, rest = run(tmp_path / "split", cfg=cfg, model_seed=3)
    assert [r["lr"] for r in rest.history] == [r["lr"] for r in full.history]
    assert_same_state(engine.load_checkpoint(tmp_path / "full" / "last.pt")["model"],
                      engine.load_checkpoint(tmp_path / "split" / "last.pt")["model"])
    _, const = run(tmp_path / "const", cfg=dataclasses.replace(cfg, lr_schedule="constant"))
    assert [r["lr"] for r in const.history] == [1e-2] * 4
    assert engine.epoch_lr(cfg, 3) < engine.epoch_lr(cfg, 0)
