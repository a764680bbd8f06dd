"""The notes' Exercise 2 baselines on a real corpus, scored like the recurrent LMs.

Trains, each for a fixed time budget with the engine (``seqlab.train.Trainer``, TBPTT
stream windows, state carried through validation), and evaluates on whole validation /
test streams with the same metrics as the RNN recipes (nats, perplexity, bits per char):

* ``window2`` — Bengio et al. (2003) fixed-window LM, n−1 = 2;
* ``window7`` — the same with a large window, n−1 = 7 (with direct connections);
* ``bow8`` — bag of words over the last 8 tokens (order-blind).

The interpolated Kneser–Ney model (``seqlab.models.ngram``) and the RNN/LSTM/GRU recipes
complete the table; this script prints a markdown table of its own rows.

    python -m seqlab.experiments.window_baselines --dataset tinyshakespeare --minutes 2
    python -m seqlab.experiments.window_baselines --dataset ptb --minutes 5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

import torch

from seqlab.errors import ConfigurationError
from seqlab.models.window_lm import bag_of_words_lm, fixed_window_lm

__all__ = ["BASELINES", "build_baseline", "run_baselines", "main"]

#: name -> (builder, keyword arguments); sizes for a few CPU minutes each
BASELINES: dict[str, tuple[Any, dict[str, Any]]] = {
    "window2": (fixed_window_lm, {"context_size": 2, "embedding_dim": 64, "hidden_size": 256}),
    "window7": (fixed_window_lm, {"context_size": 7, "embedding_dim": 64, "hidden_size": 256, "direct": True}),
    "bow8": (bag_of_words_lm, {"context_size": 8, "embedding_dim": 128}),
}


def build_baseline(name: str, vocab_size: int):
    """One of :data:`BASELINES` for a vocabulary of ``vocab_size``."""
    if name not in BASELINES:
        raise ConfigurationError(f"baseline {name!r} is not known; expected one of {', '.join(BASELINES)}.")
    builder, kwargs = BASELINES[name]
    return builder(vocab_size, **kwargs)


def _stream_inputs(window):
    # StreamWindow (inputs, targets) -> model(inputs, state=...), as the LM recipes' adapter does
    return (window.inputs,), {}, window.targets


def run_baselines(
    dataset: str = "tinyshakespeare",
    *,
    names: tuple[str, ...] = tuple(BASELINES),
    seconds_each: float = 120.0,
    batch_size: int = 32,
    bptt: int = 64,
    lr: float = 2e-3,
    limit: Optional[int] = None,
    eval_limit: Optional[int] = None,
    seed: int = 0,
    log=print,
) -> dict[str, dict[str, float]]:
    """Train and evaluate each baseline; ``{name: {"val_loss", "val_perplexity", ... "train_seconds"}}``.

    ``limit`` / ``eval_limit`` keep only the first tokens of the training / evaluation streams.
    The evaluation splits are ``valid`` and ``test`` when the dataset has them.
    """
    from seqlab.data import load, stream_loader
    from seqlab.train.callbacks import TimeLimit
    from seqlab.train import Trainer

    train = load(dataset, split="train")
    vocab = train.build_vocabulary(unk_token="<unk>")
    ids = train.encode(vocab)[:limit]
    evals = {}
    for split in ("valid", "test"):
        try:
            corpus = load(dataset, split=split)
        except ConfigurationError:
            continue
        evals[split] = corpus.encode(vocab)[:eval_limit]
    metrics = ["perplexity", "bits_per_char"]
    results: dict[str, dict[str, float]] = {}
    for name in names:
        torch.manual_seed(seed)
        model = build_baseline(name, len(vocab))
        trainer = Trainer(model, loss="cross_entropy", optimizer="adam", lr=lr, metrics=metrics, grad_clip_norm=1.0,
                          callbacks=[TimeLimit(seconds_each)], device="cpu", seed=seed, verbose=0,
                          input_adapter=_stream_inputs)
        start = time.perf_counter()
        trainer.fit(stream_loader(ids, batch_size, bptt), epochs=1000)  # stopped by the time limit
        row: dict[str, float] = {"train_seconds": round(time.perf_counter() - start, 1),
                                 "steps": trainer.global_step, "parameters": sum(p.numel() for p in model.parameters())}
        for split, eval_ids in evals.items():
            out = trainer.evaluate(stream_loader(eval_ids, 1, 256))  # one stream, state carried throughout
            row.update({f"{split}_nats": round(float(torch.log(torch.tensor(out["perplexity"]))), 4),
                        f"{split}_perplexity": round(out["perplexity"], 2),
                        f"{split}_bits_per_char": round(out["bits_per_char"], 4)})
        results[name] = row
        log(f"{dataset} {name}: {row}")
    return results


def _table(dataset: str, results: dict[str, dict[str, float]]) -> str:
    splits = [s for s in ("valid", "test") if any(f"{s}_nats" in r for r in results.values())]
    head = "| model | params | train s | " + " | ".join(f"{s} nats | {s} ppl | {s} bpc" for s in splits) + " |"
    lines = [f"Exercise 2 baselines on {dataset}", "", head, "|" + "---|" * (3 + 3 * len(splits))]
    for name, r in results.items():
        cells = [name, f"{int(r['parameters']):,}", f"{r['train_seconds']:.0f}"]
        for s in splits:
            cells += [f"{r[f'{s}_nats']:.3f}", f"{r[f'{s}_perplexity']:.1f}", f"{r[f'{s}_bits_per_char']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.experiments.window_baselines",
                                     description="Exercise 2 baselines (fixed-window and bag-of-words LMs).")
    parser.add_argument("--dataset", default="tinyshakespeare", help="tinyshakespeare, ptb or wikitext2")
    parser.add_argument("--models", nargs="+", choices=tuple(BASELINES), default=list(BASELINES))
    parser.add_argument("--minutes", type=float, default=2.0, help="training time per model")
    parser.add_argument("--limit", type=int, default=None, help="use the first N training tokens")
    parser.add_argument("--eval-limit", type=int, default=None, help="use the first N evaluation tokens")
    parser.add_argument("--out", default=None, help="write results JSON here")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run_baselines(args.dataset, names=tuple(args.models), seconds_each=60 * args.minutes,
                            limit=args.limit, eval_limit=args.eval_limit)
    print(_table(args.dataset, results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"dataset": args.dataset, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
