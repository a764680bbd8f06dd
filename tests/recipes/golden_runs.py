"""The short runs whose metrics must not change across refactors (issue 12, "same seed, same numbers").

One run per model kind: the recurrent ``classifier``, ``text_cnn`` with Kim's cross-validation,
the notes' ``keras_lstm``, the recurrent ``language_model``, ``window_lm`` and ``bow_lm``. Each is a
recipe name plus overrides that make it take seconds. ``record()`` writes their metrics (wall
times dropped) to ``fixtures/golden_metrics.json``; ``tests/recipes/test_golden_numbers.py``
reruns them and asserts equality. Recorded at commit c9a3da6, before the task redesign:

    SEQLAB_DATA_DIR=../shared/data python tests/recipes/golden_runs.py record
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN_FILE = FIXTURES / "golden_metrics.json"

_SMALL_TEXT = ["data.limit=600", "data.eval_limit=200", "model.embedding_dim=16", "train.epochs=2",
               "train.device=cpu", "train.num_threads=1"]
_SMALL_LM = ["data.limit=6000", "data.eval_limit=1500", "data.batch_size=8", "data.eval_batch_size=8",
             "data.bptt=16", "model.embedding_dim=16", "model.hidden_size=16", "train.epochs=2",
             "train.device=cpu", "train.num_threads=1"]

#: name -> (recipe, overrides)
GOLDEN_RUNS: dict[str, tuple[str, list[str]]] = {
    "classifier": ("lstm-sst2", [*_SMALL_TEXT, "model.hidden_size=16"]),
    "text_cnn_cv": ("kim-cnn-rand-mr", [*_SMALL_TEXT, "data.cv_folds=2", "model.num_filters=8"]),
    "keras_lstm": ("keras-lecture-sst2", [*_SMALL_TEXT, "model.hidden_size=8", "data.max_length=20"]),
    "language_model": ("ptb-small", [*_SMALL_LM, "model.num_layers=1"]),
    "window_lm": ("ptb-small", [*_SMALL_LM, "model.kind=window_lm", "model.window_size=3"]),
    # bow_lm has no hidden layer: the recording's model.hidden_size=16 was ignored then and is refused now
    "bow_lm": ("ptb-small", [*[o for o in _SMALL_LM if not o.startswith("model.hidden_size")], "model.kind=bow_lm",
                             "model.window_size=2"]),
}

_DROPPED = ("train_time_s",)


def golden_metrics(metrics: dict) -> dict:
    """The metrics that must repeat exactly: everything but wall-clock times."""
    return {k: v for k, v in sorted(metrics.items()) if k not in _DROPPED}


def run(name: str, run_dir: Path) -> dict:
    from seqlab.config import apply_overrides
    from seqlab.recipes.registry import load_recipe
    from seqlab.recipes.runner import run_recipe

    recipe, overrides = GOLDEN_RUNS[name]
    config = apply_overrides(load_recipe(recipe), overrides)
    result = run_recipe(config, run_dir=run_dir, verbose=0)
    return golden_metrics(result.metrics)


def record() -> None:
    import tempfile

    import torch

    torch.set_num_threads(1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in GOLDEN_RUNS:
            torch.manual_seed(0)
            out[name] = run(name, Path(tmp) / name)
            print(name, out[name], flush=True)
    FIXTURES.mkdir(exist_ok=True)
    GOLDEN_FILE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        sys.exit("usage: python tests/recipes/golden_runs.py record")
    record()
