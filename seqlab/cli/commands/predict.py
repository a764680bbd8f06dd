"""``seqlab predict RUN_DIR "a gripping, funny film"``: class probabilities from a trained classifier.

    seqlab predict runs/lstm-sst2-20261125-201500 "a gripping, funny film" "a dull mess"
    cat reviews.txt | seqlab predict runs/kim-cnn-rand-mr-20261126-010000/fold-0
    seqlab predict RUN_DIR - --json < reviews.txt

Works for every classifier run of ``seqlab run``: recurrent (``model.kind = "classifier"``),
Kim's CNN (``"text_cnn"``) and the notes' Keras model (``"keras_lstm"``). The text is cut
into tokens the way the training files were (``seqlab.recipes.build.raw_text_tokens``, guided
by the run's vocabulary),
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


def _check_run_dir(path: Path):
    """The run's config and run.json, or a clear error for a missing / foreign / unsuitable directory."""
    from seqlab.config import is_language_model, load_config
    from seqlab.errors import ConfigurationError
    from seqlab.recipes.build import is_cross_validated
    from seqlab.train.runs import CONFIG_FILE, RUN_INFO_FILE, read_json

    if not path.is_dir():
        raise ConfigurationError(f"run directory {str(path)!r} does not exist; pass a directory written by `seqlab run`.")
    if not (path / CONFIG_FILE).is_file():
        raise ConfigurationError(
            f"{path} is not a run directory: it has no {CONFIG_FILE}. Pass a directory written by `seqlab run` "
            "(its path is printed at the end of the run)."
        )
    config = load_config(path / CONFIG_FILE)
    info = read_json(path / RUN_INFO_FILE) if (path / RUN_INFO_FILE).is_file() else {}
    if is_language_model(config.model):
        raise ConfigurationError(
            f"{path} is a language-model run (recipe {config.recipe.name!r}, model.kind={config.model.kind!r}); it "
            f"has no classes to predict. Sample text from it with `seqlab generate {path} --prompt \"...\"`."
        )
    if is_cross_validated(config) and config.data.cv_fold is None:
        raise ConfigurationError(
            f"{path} is a {config.data.cv_folds}-fold cross-validation run: each fold trained its own model. "
            f"Pass one fold's directory, e.g. `seqlab predict {path / 'fold-0'} ...`."
        )
    return config, info


def _vocabulary(path: Path):
    from seqlab.data.vocab import Vocabulary
    from seqlab.errors import ConfigurationError
    from seqlab.train.runs import VOCAB_FILE

    if not (path / VOCAB_FILE).is_file():
        raise ConfigurationError(f"{path} has no {VOCAB_FILE}; the run directory is incomplete (train it again).")
    return Vocabulary.load(path / VOCAB_FILE)


def _read_texts(args: argparse.Namespace) -> list[str]:
    if args.texts and args.texts != ["-"]:
        return list(args.texts)
    return [line.rstrip("\n") for line in sys.stdin if line.strip()]


def _probabilities_torch(path: Path, config, texts_tokens: list[list[str]], checkpoint: str, device: str):
    """(N, C) softmax probabilities and the class names of a ``seqlab.train`` run."""
    import torch

    from seqlab.data import pad_sequences
    from seqlab.train.runs import load_run

    loaded = load_run(path, checkpoint=checkpoint, device=device)
    vocab = loaded.vocab
    sequences = [torch.tensor(vocab.encode(tokens) or [vocab.unk_id], dtype=torch.long) for tokens in texts_tokens]
    probs = []
    step = max(1, config.data.eval_batch_size)
    with torch.no_grad():
        for start in range(0, len(sequences), step):
            ids, lengths, _ = pad_sequences(sequences[start:start + step], pad_value=vocab.pad_id or 0)  # (B, T), (B,)
            logits = loaded.model(ids.to(device), lengths.to(device))  # (B, C)
            probs.append(torch.softmax(logits.float(), dim=-1).cpu())
    names = loaded.class_names or [str(c) for c in range(probs[0].shape[1])]
    return torch.cat(probs), names


def _probabilities_keras(path: Path, config, info: dict, vocab, texts_tokens: list[list[str]]):
    """(N, 2) probabilities of the notes' Keras model: [1 − p, p] of its sigmoid output."""
    import torch

    from seqlab.errors import ConfigurationError
    from seqlab.keras import load_model
    from seqlab.recipes.build import ClassificationSplit, keras_arrays
    from seqlab.recipes.runner import KERAS_MODEL_FILE

    model_file = path / info.get("model_file", KERAS_MODEL_FILE)
    if not model_file.is_file() or "maxlen" not in info:
        raise ConfigurationError(
            f"{path} is a keras_lstm run without {model_file.name} (or without 'maxlen' in run.json): it stopped before "
            "saving its model. Train it again with `seqlab run`."
        )
    model = load_model(model_file, compile=False)
    x, _ = keras_arrays(ClassificationSplit([], texts_tokens, [0] * len(texts_tokens), []), vocab, info["maxlen"])
    p = torch.as_tensor(model.predict(x, batch_size=max(1, config.data.eval_batch_size), verbose=0)).float().reshape(-1, 1)
    names = info.get("class_names") or ["0", "1"]
    return torch.cat([1.0 - p, p], dim=1), names


def run(args: argparse.Namespace) -> int:
    from seqlab.errors import ConfigurationError
    from seqlab.recipes.build import raw_text_tokens

    path = Path(args.run_dir)
    config, info = _check_run_dir(path)
    texts = _read_texts(args)
    if not texts:
        raise ConfigurationError(
            "no text to classify: pass texts as arguments (seqlab predict RUN_DIR \"a gripping film\") "
            "or one per line on stdin."
        )
    vocab = _vocabulary(path)
    tokens = [raw_text_tokens(t, config.data, vocab) for t in texts]
    if config.model.kind == "keras_lstm":
        probs, names = _probabilities_keras(path, config, info, vocab, tokens)
    else:
        probs, names = _probabilities_torch(path, config, tokens, args.checkpoint, args.device)
    out = sys.stdout
    for i, (text, toks, row) in enumerate(zip(texts, tokens, probs.tolist())):
        best = max(range(len(row)), key=row.__getitem__)
        known = sum(1 for t in toks if t in vocab)
        if known == 0:
            print(f"seqlab predict: warning: no word of text {i + 1} is in the run's vocabulary; its probabilities "
                  "are the model's guess for an unknown sentence.", file=sys.stderr)
        if args.json:
            out.write(json.dumps({"text": text, "label": names[best],
                                  "probabilities": dict(zip(names, row)), "known_tokens": known,
                                  "tokens": len(toks)}) + "\n")
        else:
            scores = "  ".join(f"{name} {p:.4f}" for name, p in zip(names, row))
            out.write(f"[{names[best]}] {scores}  {text}\n")
    out.flush()
    return 0
