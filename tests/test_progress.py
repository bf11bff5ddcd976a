"""stanet_lib.progress: a widget in Jupyter, a line in a terminal, one summary line in a log."""

import io
import os

import pytest

from stanet_lib import progress


def test_mode_follows_the_environment_and_the_terminal(monkeypatch):
    assert progress.mode({"STANET_PROGRESS": "off"}) == "off"
    with pytest.raises(ValueError, match="choose one of"):
        progress.mode({"STANET_PROGRESS": "bars"})
    monkeypatch.setattr(progress.sys, "stderr", io.StringIO())  # not a terminal, not a kernel: a log
    assert progress.mode({}) == "log"


class _Shell:  # stands in for ipykernel's shell
    def __init__(self, cells):
        self.user_ns = {"In": ["", *cells]}


def test_a_kernel_gets_widgets_unless_papermill_ran_it(monkeypatch):
    ZMQInteractiveShell = type("ZMQInteractiveShell", (_Shell,), {})
    shell = ZMQInteractiveShell(["import x"])
    monkeypatch.setattr(progress, "_kernel", lambda: shell)
    assert progress.mode({}) == "widget"
    shell.user_ns["In"].append("# Parameters\nPROFILE = \"smoke\"\n")  # papermill's injected cell ran
    assert progress.mode({}) == "log"


def test_log_mode_prints_one_line_when_the_loop_ends(capsys, monkeypatch):
    monkeypatch.setenv("STANET_PROGRESS", "log")
    assert [x * 2 for x in progress.bar(range(3), desc="synth", unit="clips")] == [0, 2, 4]
    with progress.bar(total=5, desc="prep", unit="videos") as bar:
        bar.update(2)
        bar.set_postfix(loss="0.1")
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and err == ""
    assert lines[0].startswith("synth: 3 clips in ") and lines[0].endswith(" s")
    assert lines[1].startswith("prep: 2/5 videos in ") and lines[1].endswith(" s, loss=0.1")


def test_off_and_terminal(capsys, monkeypatch):
    assert list(progress.bar([1, 2], desc="x", enabled=False)) == [1, 2]
    assert capsys.readouterr() == ("", "")
    monkeypatch.setenv("STANET_PROGRESS", "terminal")
    b = progress.bar([1, 2], desc="x")
    assert type(b).__name__ == "tqdm" and list(b) == [1, 2]


def test_logged_sets_the_mode_for_child_processes_and_restores_it(monkeypatch):
    monkeypatch.delenv("STANET_PROGRESS", raising=False)
    with progress.logged():
        assert os.environ["STANET_PROGRESS"] == "log"
    assert "STANET_PROGRESS" not in os.environ
    monkeypatch.setenv("STANET_PROGRESS", "off")
    with progress.logged():
        assert os.environ["STANET_PROGRESS"] == "off"
