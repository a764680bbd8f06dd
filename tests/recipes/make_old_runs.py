"""Make ``fixtures/old-runs/``: run directories written by seqlab before the task redesign (commit c9a3da6).

Issue 12 requires that run directories written by the old main still load for ``eval``, ``predict`` and
``generate``. This script made them once, with the old code, together with what those commands printed
(``fixtures/old-runs/expected.json``); ``test_old_run_dirs.py`` loads them with today's code and compares.
It is kept to show how they were made; rerunning it with newer code would defeat its purpose.

    SEQLAB_DATA_DIR=../shared/data python tests/recipes/make_old_runs.py
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

OLD_RUNS = Path(__file__).resolve().parent / "fixtures" / "old-runs"
_TINY = ["data.limit=400", "data.eval_limit=100", "data.max_vocab_size=150", "model.embedding_dim=8",
         "train.epochs=1", "train.device=cpu", "train.num_threads=1"]
_TINY_LM = ["data.limit=3000", "data.eval_limit=600", "data.max_vocab_size=150", "data.batch_size=4",
            "data.eval_batch_size=4", "data.bptt=8", "model.embedding_dim=8", "model.hidden_size=8",
            "model.num_layers=1", "train.epochs=1", "train.device=cpu", "train.num_threads=1"]
#: name -> (recipe, overrides)
OLD_RUN_RECIPES = {
    "classifier": ("gru-sst2", [*_TINY, "model.hidden_size=8"]),
    "text_cnn": ("kim-cnn-rand-trec", [*_TINY, "model.num_filters=4"]),
    "keras_lstm": ("keras-lecture-sst2", [*_TINY, "model.hidden_size=4", "data.max_length=12"]),
    "language_model": ("ptb-small", _TINY_LM),
    "char_lm": ("char-shakespeare", [*_TINY_LM, "data.max_vocab_size=none"]),
    "window_lm": ("ptb-small", [*_TINY_LM, "model.kind=window_lm", "model.window_size=2"]),
}
#: what to ask each run: seqlab argv after the run directory
QUESTIONS = {
    "classifier": [["predict", "{run}", "a gripping , funny film", "a dull mess", "--json"],
                   ["eval", "{run}", "--split", "test", "--limit", "50", "--json"]],
    "text_cnn": [["predict", "{run}", "how many people live in chicago ?", "--json"],
                 ["eval", "{run}", "--split", "test", "--limit", "50", "--json"]],
    "keras_lstm": [["predict", "{run}", "a gripping , funny film", "--json"]],  # old eval refused keras runs
    "language_model": [["eval", "{run}", "--split", "valid", "--limit", "600", "--json"],
                       ["generate", "{run}", "--prompt", "the", "--length", "8", "--seed", "1"]],
    "char_lm": [["eval", "{run}", "--split", "valid", "--limit", "600", "--json"],
                ["generate", "{run}", "--prompt", "ROMEO:", "--length", "20", "--seed", "1"]],
    "window_lm": [["eval", "{run}", "--split", "valid", "--limit", "600", "--json"],
                  ["generate", "{run}", "--prompt", "the", "--length", "8", "--seed", "1"]],
}
#: files a run directory keeps in the fixture (the plots and logs are not read back)
KEEP = ("config.json", "run.json", "vocab.json", "results.json", "checkpoints", "model.keras")


def ask(argv: list[str]) -> tuple[int, str]:
    import torch

    from seqlab.cli.main import main

    out = io.StringIO()
    threads = torch.get_num_threads()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    torch.set_num_threads(threads)
    return code, out.getvalue()


def prune(run_dir: Path) -> None:
    for entry in list(run_dir.iterdir()):
        if entry.name not in KEEP:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def make() -> None:
    import torch

    from seqlab.config import apply_overrides
    from seqlab.recipes.registry import load_recipe
    from seqlab.recipes.runner import run_recipe

    torch.set_num_threads(1)
    if OLD_RUNS.exists():
        shutil.rmtree(OLD_RUNS)
    OLD_RUNS.mkdir(parents=True)
    expected = {}
    for name, (recipe, overrides) in OLD_RUN_RECIPES.items():
        run_dir = OLD_RUNS / name
        run_recipe(apply_overrides(load_recipe(recipe), overrides), run_dir=run_dir, verbose=0)
        prune(run_dir)
        expected[name] = []
        for question in QUESTIONS[name]:
            code, out = ask([a.replace("{run}", str(run_dir)) for a in question])
            expected[name].append({"argv": question, "code": code, "stdout": out})
        prune(run_dir)  # eval writes errors-<split>.tsv
    (OLD_RUNS / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    make()
