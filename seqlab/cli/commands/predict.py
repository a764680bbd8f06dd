"""``seqlab predict RUN_DIR "a gripping, funny film"``: class probabilities from a trained classifier.

    seqlab predict runs/lstm-sst2-20261125-201500 "a gripping, funny film" "a dull mess"
    cat reviews.txt | seqlab predict runs/kim-cnn-rand-mr-20261126-010000/fold-0
    seqlab predict RUN_DIR - --json < reviews.txt

Works for every classifier run of ``seqlab run``: recurrent (``model.kind = "classifier"``),
Kim's CNN (``"text_cnn"``) and the notes' Keras model (``"keras_lstm"``). The text is cut
into tokens the way the training files were (``seqlab.tasks.classification.raw_text_tokens``,
guided by the run's vocabulary),
mapped through the run's vocabulary (unknown words → ``<unk>``) and scored by the best
checkpoint; the class names are the run's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "predict"
HELP = "class probabilities of texts (arguments or stdin lines) from a trained classifier run"
DESCRIPTION = """\
Print the class probabilities the classifier saved in RUN_DIR (written by `seqlab run`) gives
each TEXT. Without TEXT arguments, or with the single argument '-', texts are read from
stdin, one per line (blank lines are skipped).

Each text is tokenized like the training data (words the vocabulary knows stay whole,
others lose attached punctuation and clitics such as n't / 's; lower-cased when the
recipe did), unknown words become <unk>, and the best checkpoint
(the last one with --checkpoint last) scores it. One line per text:

  [positive] negative 0.0612  positive 0.9388  a gripping, funny film

--json prints one JSON object per text instead: {"text", "label", "probabilities"}.

Language-model runs have no classes: use `seqlab generate RUN_DIR` for them. For a
cross-validation run, pass one fold's directory (RUN_DIR/fold-0 ...).
"""

EPILOG = """\
examples:
  seqlab predict runs/lstm-sst2-20261125-201500 "a gripping, funny film" "a dull, lifeless mess"
  seqlab predict runs/kim-cnn-rand-mr-20261126-010000/fold-0 < reviews.txt
  seqlab predict RUN_DIR - --json < reviews.txt
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a classifier run directory written by `seqlab run`")
    parser.add_argument("texts", nargs="*", metavar="TEXT",
                        help="texts to classify; none, or '-', reads one text per line from stdin")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default: best)")
    parser.add_argument("--json", action="store_true", help="one JSON object per text instead of a text line")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")


def _read_texts(args: argparse.Namespace) -> list[str]:
    if args.texts and args.texts != ["-"]:
        return list(args.texts)
    return [line.rstrip("\n") for line in sys.stdin if line.strip()]


def run(args: argparse.Namespace) -> int:
    from seqlab.errors import ConfigurationError
    from seqlab.tasks import load_run, read_run_config, task_for

    path = Path(args.run_dir)
    config, _ = read_run_config(path)
    task = task_for(config)
    task.check_predict(path, config)  # before the weights are read
    texts = _read_texts(args)
    if not texts:
        raise ConfigurationError(
            "no text to classify: pass texts as arguments (seqlab predict RUN_DIR \"a gripping film\") "
            "or one per line on stdin."
        )
    loaded = load_run(path, checkpoint=args.checkpoint, device=args.device)
    rows = task.predict(loaded, texts, device=args.device)
    out = sys.stdout
    for i, row in enumerate(rows):
        if row["known_tokens"] == 0:
            print(f"seqlab predict: warning: no word of text {i + 1} is in the run's vocabulary; its probabilities "
                  "are the model's guess for an unknown sentence.", file=sys.stderr)
        if args.json:
            out.write(json.dumps(row) + "\n")
        else:
            scores = "  ".join(f"{name} {p:.4f}" for name, p in row["probabilities"].items())
            out.write(f"[{row['label']}] {scores}  {row['text']}\n")
    out.flush()
    return 0
