"""stanet_lib.stages.torchrun: the ``train`` command (one stage under torchrun) is registered and refuses an
unknown stage."""

import subprocess
import sys

import pytest

from stanet_lib.stages.torchrun import STAGES, run_stage


def test_train_command_is_registered() -> None:
    out = subprocess.run([sys.executable, "-m", "stanet_lib", "train", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "--stage" in out and all(stage in out for stage in STAGES)
    assert STAGES == ("classifiers", "coarse", "fine", "sta")
    with pytest.raises(ValueError, match="unknown stage"):
        run_stage("nope", world=None)
