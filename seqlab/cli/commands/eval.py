"""``seqlab eval RUN_DIR [--split test]``: evaluate a trained run again, with a misclassification view."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Optional

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


# --------------------------------------------------------------------------- metrics


def classification_report(y_true: list[int], y_pred: list[int], num_classes: int) -> dict[str, Any]:
    """Accuracy, confusion matrix (rows true, columns predicted), per-class P/R/F1, macro averages.

    A class never predicted has precision 0; never present, recall 0 (and F1 0).
    """
    confusion = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(y_true, y_pred):
        confusion[t][p] += 1
    per_class = []
    for c in range(num_classes):
        tp = confusion[c][c]
        predicted = sum(confusion[r][c] for r in range(num_classes))
        actual = sum(confusion[c])
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"precision": precision, "recall": recall, "f1": f1, "support": actual})
    n = len(y_true)
    correct = sum(confusion[c][c] for c in range(num_classes))
    return {
        "accuracy": correct / n if n else float("nan"),
        "num_examples": n,
        "confusion_matrix": confusion,
        "per_class": per_class,
        "macro_precision": sum(p["precision"] for p in per_class) / num_classes,
        "macro_recall": sum(p["recall"] for p in per_class) / num_classes,
        "macro_f1": sum(p["f1"] for p in per_class) / num_classes,
    }


@torch.no_grad()
def predict_probabilities(model, loader, device) -> torch.Tensor:
    """Class probabilities ``(N, C)`` of a classification loader, in loader order."""
    model.eval()
    out = []
    for batch in loader:
        logits = model(batch.ids.to(device), batch.lengths.to(device))  # (B, C)
        out.append(torch.softmax(logits.float(), dim=-1).cpu())
    return torch.cat(out)


@torch.no_grad()
def stream_loss(model, loader, device) -> dict[str, float]:
    """Per-token cross-entropy over a whole stream with the state carried (nats, bits, perplexity)."""
    from seqlab.train.engine import detach_state

    model.eval()
    total, count, state = 0.0, 0, None
    for inputs, targets in loader:
        logits, state = model(inputs.to(device), state)  # (B, T, V)
        state = detach_state(state)
        total += float(torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.to(device).reshape(-1), reduction="sum"))
        count += targets.numel()
    loss = total / count
    return {"loss": loss, "bits_per_token": loss / math.log(2), "perplexity": math.exp(loss), "num_tokens": count}


# --------------------------------------------------------------------------- command


def _split_name(config, split: Optional[str]) -> str:
    return split or config.data.test_split or config.data.eval_split


def run(args: argparse.Namespace) -> int:
    from seqlab.recipes.build import build_loader, load_split
    from seqlab.train.runs import load_run
    from seqlab.config import is_language_model

    loaded = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    config = loaded.config
    if config.train.num_threads is not None:  # the run's CPU thread setting
        torch.set_num_threads(config.train.num_threads)
    split = _split_name(config, args.split)
    # the whole split, in file order (no bucketing), so predictions line up with texts
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, eval_limit=args.limit, bucket=False))
    data = load_split(config, split)
    loader = build_loader(config, data, loaded.vocab, training=False)
    result: dict[str, Any] = {"run_dir": str(loaded.path), "split": split, "checkpoint": str(loaded.checkpoint)}

    if is_language_model(config.model):
        result.update(stream_loss(loaded.model, loader, args.device))
        if not args.json:
            print(f"{config.recipe.name} on {split} ({result['num_tokens']:,} tokens, {loaded.checkpoint.name}): "
                  f"loss {result['loss']:.4f} nats | {result['bits_per_token']:.4f} bits/token | "
                  f"perplexity {result['perplexity']:.2f}")
        else:
            print(json.dumps(result))
        return 0

    probs = predict_probabilities(loaded.model, loader, args.device)  # (N, C)
    pred = probs.argmax(dim=-1).tolist()
    names = loaded.class_names or [str(c) for c in range(probs.shape[1])]
    report = classification_report(data.labels, pred, len(names))
    errors_path = loaded.path / f"errors-{split}.tsv"
    errors = _write_errors(errors_path, data, probs, pred, names)
    result.update(report)
    result.update({"class_names": names, "errors_file": str(errors_path), "num_errors": len(errors)})
    if args.json:
        print(json.dumps(result))
    else:
        _print_report(config, split, loaded, report, names, errors[: args.show_errors], errors_path)
    return 0


def _write_errors(path: Path, data, probs: torch.Tensor, pred: list[int], names: list[str]) -> list[dict]:
    """All misclassified examples, most confident mistakes first, as TSV."""
    errors = []
    for i, (label, p) in enumerate(zip(data.labels, pred)):
        if label != p:
            errors.append({"index": i, "true": names[label], "predicted": names[p],
                           "p_predicted": float(probs[i, p]), "p_true": float(probs[i, label]), "text": data.texts[i]})
    errors.sort(key=lambda e: (-e["p_predicted"], e["index"]))
    lines = ["rank\tindex\ttrue\tpredicted\tp_predicted\tp_true\ttext"]
    for rank, e in enumerate(errors, 1):
        text = e["text"].replace("\t", " ").replace("\n", " ")
        lines.append(f"{rank}\t{e['index']}\t{e['true']}\t{e['predicted']}\t{e['p_predicted']:.4f}\t{e['p_true']:.4f}\t{text}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return errors


def _print_report(config, split, loaded, report, names, top_errors, errors_path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{config.recipe.name}[/bold] on {split} ({report['num_examples']} examples, "
                  f"{loaded.checkpoint.name}): accuracy [bold]{100 * report['accuracy']:.2f} %[/bold], "
                  f"macro F1 {100 * report['macro_f1']:.2f}")
    per = Table(title="per class")
    for col in ("class", "precision", "recall", "F1", "support"):
        per.add_column(col, justify="left" if col == "class" else "right")
    for name, p in zip(names, report["per_class"]):
        per.add_row(name, f"{100 * p['precision']:.2f}", f"{100 * p['recall']:.2f}", f"{100 * p['f1']:.2f}",
                    str(p["support"]))
    console.print(per)
    conf = Table(title="confusion matrix (rows: true, columns: predicted)")
    conf.add_column("true \\ predicted")
    for name in names:
        conf.add_column(name, justify="right")
    for name, row in zip(names, report["confusion_matrix"]):
        conf.add_row(name, *(str(v) for v in row))
    console.print(conf)
    if top_errors:
        worst = Table(title=f"most confident errors (all in {errors_path})")
        for col in ("true", "predicted", "p", "text"):
            worst.add_column(col)
        for e in top_errors:
            worst.add_row(e["true"], e["predicted"], f"{e['p_predicted']:.3f}", e["text"][:100])
        console.print(worst)
    else:
        console.print(f"no errors; wrote an empty {errors_path}")
