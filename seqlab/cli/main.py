"""The ``seqlab`` command.

Each sub-command lives in its own module under ``seqlab/cli/commands/`` and defines::

    NAME: str                       # the sub-command, e.g. "datasets"
    HELP: str                       # one line for ``seqlab --help``
    def add_arguments(parser): ...  # argparse arguments (``--help`` comes free)
    def run(args) -> int: ...       # exit status

Modules are discovered at start-up, so adding a command never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from seqlab import __version__
from seqlab.errors import SeqlabError


def _command_modules():
    from seqlab.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"seqlab.cli.commands.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            yield module


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with one sub-parser per command module."""
    parser = argparse.ArgumentParser(
        prog="seqlab",
        description="seqlab: classic sequence models (RNN, LSTM, GRU, text CNNs, attention) on PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"seqlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``seqlab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    status = 1
    try:
        status = int(args._run(args) or 0)
    except SeqlabError as exc:
        print(f"seqlab {args.command}: error: {exc}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print(f"seqlab {args.command}: interrupted", file=sys.stderr)
        status = 130
    finally:
        _leave_process_group(clean=status == 0)
    return status


def _leave_process_group(clean: bool) -> None:
    """Under torchrun, leave the process group before the interpreter exits: after a clean
    run through a barrier, after a failure without one (``distributed.shutdown``).  Nothing
    to do (and torch not even imported here) when no command loaded torch.distributed.
    """
    if "torch.distributed" not in sys.modules:
        return
    from seqlab.train.distributed import shutdown

    shutdown(barrier_first=clean)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
