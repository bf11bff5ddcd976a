"""One training loop for every net (classifiers, audio switch, tagger, later the STA net), and inference.

:func:`fit` = SGD (paper §4.2: lr 1e-3; momentum 0.9 from the released code, audit §8), a validation metric
for model selection (the best epoch is kept in ``best.pt``), seeded and deterministic on the CPU,
checkpoints (model, optimizer, RNG states, epoch, history) written atomically every
``TrainConfig.checkpoint_every`` epochs to ``last.pt``, resume from ``last.pt`` to the same weights as an
uninterrupted run, tqdm progress bars, a CSV log (``log.csv``, rewritten atomically every epoch), bf16
autocast on CUDA only (never on the CPU), and DistributedDataParallel when ``torch.distributed`` is
initialised (``torchrun``): same code path, DistributedSampler, rank 0 writes (see "Under torchrun" below).

What a net needs is a ``step_fn(model, batch) -> StepResult``; :func:`stanet_lib.train.losses.classification_step` (cross
entropy, accuracy) serves every classifier. Batches are dicts; :func:`~stanet_lib.nets.runtime.model_inputs` passes the keys that the model's
``forward`` names (``frames``, ``audio``, ``switch``) and ``"target"`` is the label.

Why resume is exact: the shuffling order comes either from :class:`EpochSampler` / DistributedSampler
(a function of seed and epoch) or from the global torch RNG (a plain ``shuffle=True`` loader), and the
global python / numpy / torch (and CUDA) RNG states are saved with every checkpoint and restored.

Under torchrun (``python -m stanet_lib train``, :mod:`stanet_lib.stages.torchrun`): the model is wrapped in
DistributedDataParallel (on GPUs after BatchNorm -> SyncBatchNorm: batch statistics over all ranks, as
one process would have them; gloo on the CPU has no SyncBatchNorm), the training loader
gets a DistributedSampler (the per-epoch permutation of :class:`EpochSampler`, split over the ranks: with a
per-rank batch of B/N one step equals the single-process step on the batch B), validation and inference loaders
a :class:`ShardSampler` (every sample exactly once, sums all-reduced: the metrics of one process), and
:func:`predict` gathers the ranks' outputs into the full result on every rank. Only rank 0 writes checkpoints
and logs; rank 0's run-key decision (resume or start over) is shared before anyone reads ``last.pt``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from ..artefacts import atomic_path, write_text
from ..config import TrainConfig
from ..data.loaders import ShardSampler, is_distributed
from ..nets.runtime import autocast, eval_on, model_inputs, select_device, to_channels_last, to_device, unwrap
from ..progress import bar as progress_bar
from .distributed import distribute_loader, interleave, rank
from .losses import StepFn, classification_step

__all__ = [
    "CHECKPOINT_FORMAT", "FitResult", "set_seed", "deterministic_mode", "load_checkpoint", "load_weights",
    "run_epoch", "make_optimizer", "epoch_lr", "fit", "iter_predict", "predict"
]


CHECKPOINT_FORMAT = 1


@dataclass
class FitResult:
    """What :func:`fit` did. ``history`` has one dict per completed epoch (the CSV rows)."""

    out_dir: Path
    monitor: str
    best_epoch: int
    best_value: float
    epochs_done: int
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False  # stopped by max_epochs_this_call before cfg.epochs
    resumed_from: int = 0  # epochs already done when this call started

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"


# ----------------------------------------------------------------------------------------------- helpers


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic_mode(enabled: bool, device: torch.device) -> Iterator[None]:
    """Deterministic kernels while the block runs; the previous global settings come back afterwards.

    CPU: ``torch.use_deterministic_algorithms(True, warn_only=True)``. CUDA: the same plus cuDNN
    deterministic when ``enabled``; cuDNN autotuning (benchmark) when not.
    """
    prev = (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if enabled or device.type == "cpu":
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = enabled
        torch.backends.cudnn.benchmark = not enabled
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[2], prev[3]


# ------------------------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict[str, Any]:
    py = random.getstate()
    np_state = np.random.get_state()
    state = {"python": [py[0], list(py[1]), py[2]],
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npy = state["numpy"]
    np.random.set_state((npy[0], npy[1].numpy().astype(np.uint32), *npy[2:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(obj: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (tensors and plain data only: ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path}: not a readable checkpoint ({exc})") from exc


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the ``model`` state of ``best.pt`` / ``last.pt`` into ``model`` (strict)."""
    ckpt = load_checkpoint(path)
    if "model" not in ckpt:
        raise ValueError(f"{path}: no 'model' entry (keys {sorted(ckpt)})")
    unwrap(model).load_state_dict(ckpt["model"], strict=True)
    return model


def _check_run_key(out_dir: Path, run_key: str, inputs: dict[str, Any] | None = None) -> tuple[bool, str]:
    """(True, "") when ``out_dir`` belongs to the run ``run_key``; else clear it and say why in a phrase ("no
    earlier run", "input fine maps (train) changed"). Writes the key and the named ``inputs`` it came from."""
    stamp = out_dir / "run_key.json"
    try:
        old = json.loads(stamp.read_text()) if stamp.is_file() else None
    except (OSError, json.JSONDecodeError):
        old = None
    same = isinstance(old, dict) and old.get("key") == run_key
    reason = ""
    if not same:
        if not isinstance(old, dict):
            reason = "no earlier run" if not (out_dir / "last.pt").is_file() else "no run key recorded"
        else:
            was = old.get("inputs") or {}
            changed = [k for k, v in (inputs or {}).items() if k in was and was[k] != v]
            reason = (f"input {changed[0]} changed" if changed
                      else "its config, seed or training data changed")
        for name in ("last.pt", "best.pt", "log.csv"):
            (out_dir / name).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(stamp, json.dumps({"key": run_key, "inputs": inputs or {}}, sort_keys=True, default=str) + "\n")
    return same, reason


def _write_csv(path: Path, history: Sequence[Mapping[str, Any]]) -> None:
    cols: list[str] = []
    for row in history:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(path, buf.getvalue())


# ------------------------------------------------------------------------------------------------- loop


def run_epoch(model: nn.Module, loader: DataLoader, step_fn: StepFn, device: torch.device, amp: bool,
               optimizer: torch.optim.Optimizer | None, desc: str, progress: bool) -> dict[str, float]:
    """One pass; trains when ``optimizer`` is given. Returns ``{"loss": mean, <metric>: sum / n}``."""
    train = optimizer is not None
    model.train(train)
    totals: dict[str, Tensor] = {}
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    n_sum = torch.zeros((), dtype=torch.float64, device=device)
    bar = progress_bar(loader, desc=desc, unit="batch", enabled=progress)
    with torch.set_grad_enabled(train):
        for i, batch in enumerate(bar):
            batch = to_device(batch, device)
            with autocast(device, amp):
                res = step_fn(model, batch)
            if device.type == "cpu" and not torch.isfinite(res.loss):  # on CUDA: checked per epoch (no sync)
                raise FloatingPointError(f"{desc}: loss is {res.loss.item()} at batch {i}")
            if train:
                optimizer.zero_grad(set_to_none=True)
                res.loss.backward()
                optimizer.step()
            loss_sum += res.loss.detach().double() * res.n
            n_sum += res.n
            for k, v in res.sums.items():
                v = torch.as_tensor(v, device=device).detach().double()
                totals[k] = totals[k] + v if k in totals else v
            if progress and i % 10 == 0:
                bar.set_postfix(loss=f"{res.loss.item():.4f}")
    keys = sorted(totals)
    vec = torch.stack([loss_sum, n_sum, *[totals[k] for k in keys]])
    if is_distributed():
        dist.all_reduce(vec)
    if not torch.isfinite(vec[0]):
        raise FloatingPointError(f"{desc}: the epoch's loss is not finite")
    n = max(vec[1].item(), 1.0)
    return {"loss": vec[0].item() / n, **{k: vec[2 + j].item() / n for j, k in enumerate(keys)}}


def make_optimizer(params: Any, cfg: TrainConfig, device: torch.device) -> torch.optim.SGD:
    """SGD with momentum (the released code's optimiser, ``Scoarse_train.py:51-52`` in the audit). On CUDA the
    fused implementation (one kernel for all parameters instead of a few per tensor: at the paper's batch 3 a
    step is short enough for the per-tensor launches to show); on the CPU the default one, so CPU runs stay
    bit-identical to earlier ones. Same update rule and state_dict (a resume may change device)."""
    fused = device.type == "cuda" or None
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, fused=fused)


def epoch_lr(cfg: TrainConfig, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based) of ``cfg.epochs``: ``cfg.lr`` throughout (``"constant"``) or
    the cosine schedule (``"cosine"``, Loshchilov & Hutter, SGDR, ICLR 2017, without restarts) at the epoch's start,
    lr * (1 + cos(pi * epoch / epochs)) / 2. A function of the epoch alone, so a resumed run continues it."""
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / max(cfg.epochs, 1)))
    return cfg.lr


def _decision_line(name: str, out_dir: Path, start: int, epochs: int, why_new: str) -> str:
    """The one line :func:`fit` says about a net before its epochs: reused, resumed, retrained (why) or new."""
    if start >= epochs:
        return f"reused {name} ({out_dir / 'best.pt'}: finished {epochs} epochs, same config and inputs)"
    if start > 0:
        return f"resuming {name} at epoch {start + 1}/{epochs} (same config and inputs)"
    if why_new.startswith(("input", "its config")) or why_new.endswith("missing"):
        return f"retraining {name}: {why_new}"
    return f"training {name} ({why_new or 'no earlier run'})"


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader | None,
        step_fn: StepFn = classification_step, cfg: TrainConfig | None = None,
        out_dir: str | Path | None = None, seed: int = 0, *, monitor: str = "val_loss", mode: str = "min",
        device: torch.device | str | None = None, resume: bool = True,
        max_epochs_this_call: int | None = None,
        callbacks: Sequence[Callable[[dict[str, Any]], None]] = (), restore_best: bool = True,
        desc: str = "", run_key: str | None = None, inputs: dict[str, Any] | None = None,
        log: Callable[[str], None] | None = print) -> FitResult:
    """Train ``model`` for ``cfg.epochs`` epochs with SGD, keep the best epoch, checkpoint and resume.

    Args:
        model: built by the caller (seed with :func:`set_seed` first for a reproducible initialisation).
        train_loader, val_loader: dict batches; ``val_loader=None`` selects on the training metrics.
        step_fn: ``(model, batch) -> StepResult``.
        cfg: lr, momentum, weight_decay, epochs, checkpoint_every, amp, deterministic, channels_last,
            progress.
        out_dir: ``last.pt`` (resume state), ``best.pt`` (weights of the best epoch), ``log.csv``.
        seed: seeds the RNGs at a fresh start; a checkpoint from another seed is refused.
        monitor, mode: the history column that selects the best epoch (``"val_acc"``, ``"max"`` for the
            classifiers); strict improvement, so ties keep the earlier epoch.
        device: default :func:`select_device`.
        resume: continue from ``out_dir/last.pt`` when it exists (False: start over).
        max_epochs_this_call: stop after this many epochs of this call (checkpoint written first).
        callbacks: called with each epoch's row after its checkpoint; an exception aborts the run.
        restore_best: load the best epoch's weights into ``model`` when training is complete.
        run_key: identity of this run's config and data (e.g. :func:`tensor_digest` of the inputs). When
            ``out_dir`` holds a run with another key, its checkpoints and log are removed and training starts
            over, so a finished run is never "resumed" on changed inputs.
        inputs: the named digests ``run_key`` was made from (``{"fine maps (train)": sha256, ...}``), recorded
            beside it so that a retraining can say which input changed.
        desc: prefix of the progress bars, and the net's name in the one line that says what ``fit`` does:
            ``reused X (reason)``, ``resuming X at epoch k/N``, ``retraining X: input Y changed`` or ``training X
            (no earlier run)`` (rank 0, through ``log``; None: silent).

    Returns:
        A :class:`FitResult`; ``model`` holds the best weights (or the last ones when stopped early).
    """
    cfg = cfg or TrainConfig()
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    device = select_device() if device is None else torch.device(device)
    if out_dir is None:
        raise ValueError("fit needs out_dir (the folder of last.pt, best.pt and log.csv)")
    out_dir = Path(out_dir)
    last_path, best_path, csv_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "log.csv"
    writer = rank() == 0
    progress = cfg.progress and writer

    net = unwrap(model).to(device)
    if is_distributed() and device.type == "cuda":
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)  # BatchNorm children replaced in place
    if cfg.channels_last and device.type == "cuda":
        to_channels_last(net)
    optimizer = make_optimizer([p for p in net.parameters() if p.requires_grad], cfg, device)
    start, history = 0, []
    best = {"epoch": 0, "value": float("inf") if mode == "min" else float("-inf")}
    why_new = "" if resume else "resume=False"
    if resume and last_path.is_file() and not best_path.is_file():
        resume = False  # best.pt is gone: the best epoch's weights cannot be rebuilt from last.pt; train again
        why_new = f"{best_path} missing"
    if run_key is not None and writer:
        same, why_key = _check_run_key(out_dir, run_key, inputs)
        why_new = why_key or why_new
        resume = same and resume
    if is_distributed():  # rank 0 has cleared a stale folder; everyone follows its decision
        decision = [resume and last_path.is_file()]
        dist.broadcast_object_list(decision, src=0)
        resume = bool(decision[0])
    if resume and last_path.is_file():
        ckpt = load_checkpoint(last_path)
        if ckpt.get("seed") != seed or ckpt.get("monitor") != monitor:
            raise ValueError(f"{last_path} was written with seed={ckpt.get('seed')}, monitor="
                             f"{ckpt.get('monitor')!r}; this run has seed={seed}, monitor={monitor!r}. "
                             "Use another out_dir or resume=False.")
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start, history, best = int(ckpt["epoch"]), list(ckpt["history"]), dict(ckpt["best"])
        _set_rng_state(ckpt["rng"])
    else:
        set_seed(seed)
    resumed_from = start
    if writer and log is not None:
        log(_decision_line(desc or out_dir.name, out_dir, start, cfg.epochs, why_new))
    run_model: nn.Module = net
    eval_model: nn.Module = net  # validation: no gradient, so no DDP (ranks may have unequal shard sizes)
    if is_distributed():
        ids = [device.index] if device.type == "cuda" else None
        run_model = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        train_loader = distribute_loader(train_loader, seed, train=True)
        val_loader = distribute_loader(val_loader, seed, train=False) if val_loader is not None else None
    if cfg.compile:
        run_model = torch.compile(run_model)
        eval_model = run_model if not is_distributed() else eval_model

    stopped = False
    with deterministic_mode(cfg.deterministic, device):
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            for loader in (train_loader, val_loader):
                if loader is not None and hasattr(loader.sampler, "set_epoch"):
                    loader.sampler.set_epoch(epoch)
            tag = f"{desc} epoch {epoch + 1}/{cfg.epochs}".strip()
            for group in optimizer.param_groups:
                group["lr"] = epoch_lr(cfg, epoch)
            tr = run_epoch(run_model, train_loader, step_fn, device, cfg.amp, optimizer, f"{tag} train",
                            progress)
            row: dict[str, Any] = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in tr.items()}}
            if val_loader is not None:
                va = run_epoch(eval_model, val_loader, step_fn, device, cfg.amp, None, f"{tag} val", progress)
                row.update({f"val_{k}": v for k, v in va.items()})
            if monitor not in row:
                raise KeyError(f"monitor {monitor!r} is not among the logged columns {sorted(row)}")
            value = float(row[monitor])
            improved = value < best["value"] if mode == "min" else value > best["value"]
            row.update(lr=optimizer.param_groups[0]["lr"], seconds=round(time.perf_counter() - t0, 3),
                       best=bool(improved))
            history.append(row)
            if improved:
                best = {"epoch": epoch + 1, "value": value}
                if writer:
                    _save({"format": CHECKPOINT_FORMAT, "model": net.state_dict(), "epoch": epoch + 1,
                           "monitor": monitor, "value": value}, best_path)
            done_now = epoch + 1 - start
            final = epoch + 1 == cfg.epochs
            stop = max_epochs_this_call is not None and done_now >= max_epochs_this_call and not final
            if writer and ((epoch + 1) % max(cfg.checkpoint_every, 1) == 0 or final or stop):
                _save({"format": CHECKPOINT_FORMAT, "model": net.state_dict(),
                       "optimizer": optimizer.state_dict(), "epoch": epoch + 1, "rng": _rng_state(),
                       "best": best, "history": history, "seed": seed, "monitor": monitor}, last_path)
            if writer:
                _write_csv(csv_path, history)
            if is_distributed():
                dist.barrier()
            for cb in callbacks:
                cb(row)
            if stop:
                stopped = True
                break
    epochs_done = len(history)
    if restore_best and not stopped and best_path.is_file():
        load_weights(net, best_path)
    return FitResult(out_dir, monitor, int(best["epoch"]), float(best["value"]), epochs_done, history,
                     stopped, resumed_from)


# --------------------------------------------------------------------------------------------- inference


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        t = obj.detach().cpu()
        return t.float() if t.is_floating_point() else t
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_to_cpu(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    if isinstance(obj, Mapping):
        return {k: _to_cpu(v) for k, v in obj.items()}
    return obj


def _concat(items: list[Any]) -> Any:
    first = items[0]
    if isinstance(first, Tensor):
        return torch.cat(items, dim=0)
    if first is None:
        return None
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(_concat(list(v)) for v in zip(*items)))
    if isinstance(first, (list, tuple)):
        return type(first)(_concat(list(v)) for v in zip(*items))
    if isinstance(first, Mapping):
        return {k: _concat([it[k] for it in items]) for k in first}
    return items


def iter_predict(model: nn.Module, loader: DataLoader, forward: Callable[[nn.Module, Any], Any] | None = None,
                 device: torch.device | str | None = None, amp: bool = True, channels_last: bool = True
                 ) -> Iterator[tuple[Any, Any]]:
    """Yield ``(batch, output)`` over ``loader`` in eval mode, under no_grad (+ bf16 autocast and channels-last
    convolutions on CUDA).

    ``output`` = ``forward(model, batch)`` (default: ``model(**model_inputs(model, batch))``), moved to the
    CPU in float32; ``batch`` is the loader's batch as it came (on the CPU). Under torchrun a
    :func:`make_loader` loader yields this rank's shard only (:func:`predict` gathers).
    """
    device = select_device() if device is None else torch.device(device)
    with eval_on(model, device, channels_last) as net, torch.no_grad():
        for batch in loader:
            moved = to_device(batch, device)
            with autocast(device, amp):
                out = forward(net, moved) if forward is not None else net(**model_inputs(net, moved))
            yield batch, _to_cpu(out)


def predict(model: nn.Module, loader: DataLoader, forward: Callable[[nn.Module, Any], Any] | None = None,
            device: torch.device | str | None = None, amp: bool = True, channels_last: bool = True) -> Any:
    """:func:`iter_predict` with the outputs concatenated along dim 0 (same structure as one output).

    Under torchrun with a :func:`make_loader` loader (``shuffle=False``) each rank predicts its shard and the
    shards are all-gathered: every rank returns the full result in sample order.
    """
    outs = [out for _, out in iter_predict(model, loader, forward, device, amp, channels_last)]
    sampler = getattr(loader, "sampler", None)
    sharded = isinstance(sampler, ShardSampler) or (isinstance(sampler, DistributedSampler) and not sampler.shuffle)
    if is_distributed() and sharded:
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, _concat(outs) if outs else None)
        if all(p is None for p in parts):
            raise ValueError("predict: the loader yielded no batch on any rank")
        return interleave(parts, len(loader.dataset))  # type: ignore[arg-type]
    if isinstance(sampler, DistributedSampler) and sampler.num_replicas > 1:
        raise ValueError("predict: a shuffled DistributedSampler loader cannot be put back in sample order")
    if not outs:
        raise ValueError("predict: the loader yielded no batch")
    return _concat(outs)
