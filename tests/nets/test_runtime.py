"""stanet_lib.nets.runtime: the device, autocast (never on the CPU), dict batches to a net's inputs, wrapper-free
modules, eval mode for the duration of a block."""

from __future__ import annotations

import contextlib

import pytest
import torch

from stanet_lib.config import ModelConfig
from stanet_lib.nets.classifier import Classifier
from stanet_lib.nets.runtime import (
    autocast,
    eval_on,
    model_inputs,
    select_device,
    to_channels_last,
    to_device,
    unwrap,
)

CFG = ModelConfig(width=1 / 16, audio_channels=8)


def test_cpu_never_autocasts() -> None:
    assert isinstance(autocast(torch.device("cpu"), True), contextlib.nullcontext)
    assert select_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        assert select_device().type == "cpu"
        with pytest.raises(RuntimeError, match="cuda"):
            select_device("cuda")


def test_model_inputs_are_the_batch_entries_forward_names() -> None:
    net = Classifier("SA", 3, CFG)
    batch = {"frames": torch.zeros(1), "audio": torch.ones(1), "target": torch.zeros(1), "index": torch.zeros(1)}
    assert sorted(model_inputs(net, batch)) == ["audio", "frames"]  # not the target, not the index
    with pytest.raises(TypeError, match="dicts"):
        model_inputs(net, (torch.zeros(1),))
    with pytest.raises(KeyError, match="none of the model's inputs"):
        model_inputs(net, {"target": torch.zeros(1)})


def test_unwrap_and_nested_to_device() -> None:
    net = Classifier("S", 3, CFG)
    assert unwrap(torch.nn.DataParallel(net)) is net and unwrap(net) is net
    moved = to_device({"a": [torch.zeros(1), (torch.ones(2), "x")], "b": 3}, torch.device("cpu"))
    assert moved["b"] == 3 and moved["a"][1][1] == "x" and torch.equal(moved["a"][1][0], torch.ones(2))


def test_eval_on_restores_the_mode_even_after_an_error() -> None:
    net = Classifier("ST", 3, CFG).train()
    with eval_on(net, torch.device("cpu")) as inner:
        assert inner is net and not net.training
    assert net.training
    with pytest.raises(RuntimeError, match="boom"), eval_on(net, torch.device("cpu")):
        raise RuntimeError("boom")
    assert net.training


def test_channels_last_changes_the_layout_not_the_weights() -> None:
    torch.manual_seed(0)
    net = Classifier("ST", 3, CFG)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    to_channels_last(net)
    conv = net.encoder.features[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.temporal.conv.weight.dim() == 5  # the Conv3d is left alone
