"""``seqlab eval RUN_DIR [--split test]``: evaluate a trained run again, with a misclassification view."""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

NAME = "eval"
HELP = "evaluate a run directory: accuracy, per-class P/R/F1, confusion matrix, worst errors (or perplexity)"
DESCRIPTION = """\
Evaluate the model saved in RUN_DIR (written by `seqlab run`) on one split of its dataset.

Classifiers: accuracy, per-class precision / recall / F1 (and their macro average), the
confusion matrix (rows = true class, columns = predicted), and the worst errors — the
misclassified examples the model was most confident about — written to
RUN_DIR/errors-<split>.tsv (all of them, worst first) with the top few printed.

Language models: cross-entropy per token in nats, bits per token and perplexity over the
whole split, with the recurrent state carried through the stream.

The best checkpoint is used (the last one with --checkpoint last).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `seqlab run`")
    parser.add_argument("--split", help="split to evaluate (default: the recipe's test split, else its eval split)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default: best)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate only N examples (tokens for an LM)")
    parser.add_argument("--show-errors", type=int, default=5, metavar="K", help="errors to print (default 5)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object (last line)")


def run(args: argparse.Namespace) -> int:
    from seqlab.tasks import default_split, load_run, task_for

    loaded = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    config = loaded.config
    if config.train.num_threads is not None:  # the run's CPU thread setting
        torch.set_num_threads(config.train.num_threads)
    split = default_split(config, args.split)
    task = task_for(config)
    result: dict[str, Any] = {"run_dir": str(loaded.path), "split": split, "checkpoint": str(loaded.checkpoint)}
    result.update(task.evaluate_run(loaded, split, limit=args.limit, device=args.device))
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))
    else:
        task.print_evaluation(loaded, result, show_errors=args.show_errors)
    return 0
