"""Run the ``seqlab`` command in-process and capture what it prints (shared by the CLI tests)."""

from __future__ import annotations

import contextlib
import io
import sys

import torch

from seqlab.cli.main import main


def run_cli(argv: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    """``seqlab ARGV`` (stdin from ``stdin`` when given) -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    old_stdin = sys.stdin
    try:
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse --help / usage errors
                code = exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.stdin = old_stdin
        torch.set_num_threads(threads)  # train.num_threads must not leak into other tests
    return code, out.getvalue(), err.getvalue()
