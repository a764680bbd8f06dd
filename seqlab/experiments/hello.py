"""The notes' h-e-l-o example: a character RNN that, given "h", generates "hello".

Vocabulary [h, e, l, o]; the training pair is input "hell" → target "ello" (each
character predicts the next; Karpathy 2015, "The Unreasonable Effectiveness of Recurrent
Neural Networks"). The second "l" must be followed by "o" but the first by "l": the
same input character needs two different outputs, so only the recurrent state (how many
"l"s came before) can tell them apart — the point of the example.

    python -m seqlab.experiments.hello       # trains in well under a second, prints "hello"
    python -m seqlab.experiments.hello --save-run runs/hello
    seqlab generate runs/hello --prompt h --length 4 --temperature 0     # -> hello
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from seqlab.data.vocab import Vocabulary
from seqlab.models.generation import generate
from seqlab.models.language_model import RNNLanguageModel

__all__ = ["HelloResult", "train_hello", "save_hello_run", "main"]

WORD = "hello"


@dataclass
class HelloResult:
    """The trained model, its vocabulary, the loss curve and the greedy text from "h"."""

    model: RNNLanguageModel
    vocab: Vocabulary
    losses: list[float]
    text: str


def train_hello(*, hidden_size: int = 8, steps: int = 80, lr: float = 0.1, seed: int = 0,
                rnn_type: str = "rnn") -> HelloResult:
    """Train a tiny char RNN LM on "hello" and generate 4 characters greedily after "h".

    Args:
        hidden_size: H of the (vanilla, tanh) RNN.
        steps: Adam steps on the single (1, 4) window.
        lr: Adam learning rate.
        seed: seeds the initialisation (a private generator state is restored afterwards).
        rnn_type: "rnn", "lstm" or "gru".
    """
    vocab = Vocabulary(["h", "e", "l", "o"], pad_token=None, unk_token=None)  # ids 0..3 as in the notes
    ids = torch.tensor([vocab.encode(list(WORD))])  # (1, 5)
    inputs, targets = ids[:, :-1], ids[:, 1:]  # "hell" -> "ello"
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = RNNLanguageModel(len(vocab), embedding_dim=4, hidden_size=hidden_size, rnn_type=rnn_type)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits, _ = model(inputs)  # (1, 4, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    text = "h" + generate(model, vocab, "h", len(WORD) - 1, temperature=0.0)
    return HelloResult(model, vocab, losses, text)


def save_hello_run(result: HelloResult, run_dir: str | Path) -> Path:
    """Write the trained hello model as a run directory (``seqlab.train.runs`` layout), for ``seqlab generate``."""
    from seqlab.config import Config, RecipeInfo, to_dict
    from seqlab.tasks.language_model import LanguageModelData, RNNLanguageModelConfig
    from seqlab.train.checkpoint import save_checkpoint
    from seqlab.train.runs import CHECKPOINTS_DIR, VOCAB_FILE, init_run_dir

    rnn = result.model.rnn
    rnn_type = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}[type(rnn).__name__]
    config = Config(
        recipe=RecipeInfo(name="hello", task="language_modeling", description="the notes' h-e-l-o char RNN",
                          metric="val_loss"),
        data=LanguageModelData(),
        model=RNNLanguageModelConfig(rnn_type=rnn_type, embedding_dim=result.model.embedding.embedding_dim,
                                     hidden_size=rnn.hidden_size, dropout=0.0),
    )
    path = init_run_dir(run_dir, to_dict(config), info={"recipe": "hello", "vocab_size": len(result.vocab), "level": "char"})
    result.vocab.save(path / VOCAB_FILE)
    save_checkpoint(path / CHECKPOINTS_DIR / "best.safetensors", {"model": result.model.state_dict()},
                    metadata={"final_loss": result.losses[-1]})
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.experiments.hello", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-run", metavar="DIR", default=None, help="also write a run directory for `seqlab generate`")
    args = parser.parse_args(argv)
    result = train_hello(steps=args.steps, seed=args.seed)
    print(f"final loss {result.losses[-1]:.4f}; given 'h' the model writes {result.text!r}")
    if args.save_run:
        print(f"run directory: {save_hello_run(result, args.save_run)}")
    return 0 if result.text == WORD else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
