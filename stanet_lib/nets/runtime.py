"""How every net runs: the device, bf16 autocast (CUDA only), channels-last, the wrapper-free module, dict batches.

One place for the set-up that training (:mod:`stanet_lib.train.engine`), the CAM passes
(:mod:`stanet_lib.stages.pseudo`) and the windowed inference (:mod:`stanet_lib.nets.windows`) share:
:func:`eval_on` puts a net on its device in eval mode and gives the previous mode back afterwards.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import platform
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["device_name", "select_device", "autocast", "to_device", "unwrap", "model_inputs", "to_channels_last", "eval_on"]


def device_name() -> str:
    """``"cuda: <GPU name> xN"`` when a GPU is visible, else ``"cpu: <model> (<n> cores)"`` from ``/proc/cpuinfo``.

    Benchmarks and run summaries name it because floating-point results depend on it: the same code and seed give
    other digits on another kind of CPU, whose kernels reduce in another order (README, "Measured")."""
    try:
        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    except ImportError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {cpu} ({os.cpu_count()} cores)"


def select_device(prefer: str = "auto") -> torch.device:
    """``"auto"``: ``cuda:LOCAL_RANK`` when a GPU is visible, else the CPU; or ``"cpu"`` / ``"cuda"``."""
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {prefer!r}")
    if prefer == "cpu" or (prefer == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; a no-op on the CPU (bf16 is much slower there, DESIGN.md "Performance")."""
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor in nested dicts / lists / tuples to ``device``."""
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=device.type == "cuda")
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel (or ``torch.compile``) wrapper."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def model_inputs(model: nn.Module, batch: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a dict batch that ``model.forward`` takes as parameters (by name)."""
    if not isinstance(batch, Mapping):
        raise TypeError(f"batches must be dicts (frames/audio/switch/target), got {type(batch).__name__}")
    params = inspect.signature(unwrap(model).forward).parameters
    kwargs = {k: batch[k] for k in params if k in batch}
    if not kwargs:
        raise KeyError(f"batch keys {sorted(batch)} name none of the model's inputs {list(params)}")
    return kwargs


def to_channels_last(model: nn.Module) -> nn.Module:
    """2D convolution weights in channels-last memory format (the layout cuDNN's bf16 tensor-core kernels use);
    values and the state_dict are unchanged. Module.to(memory_format=...) refuses the ST net's 5D Conv3d weight,
    so only the 2D convs are converted."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.to(memory_format=torch.channels_last)
    return model

@contextlib.contextmanager
def eval_on(model: nn.Module, device: torch.device, channels_last: bool = True) -> Iterator[nn.Module]:
    """The net inside ``model`` (:func:`unwrap`) on ``device`` in eval mode while the block runs (2D convs in
    channels-last memory format on CUDA when ``channels_last``); its train / eval mode is restored after."""
    net = unwrap(model).to(device)
    if channels_last and device.type == "cuda":
        to_channels_last(net)
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)
