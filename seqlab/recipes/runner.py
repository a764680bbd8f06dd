"""Run a recipe end to end: data → vocabulary → model → fit → best weights → val/test numbers.

This is what ``seqlab run`` calls; from Python::

    from seqlab.recipes.registry import load_recipe
    from seqlab.recipes.runner import run_recipe
    result = run_recipe(load_recipe("lstm-sst2"), runs_root="runs")
    result.metrics["test_accuracy"], result.run_dir

Everything the run needs later (``seqlab eval``, ``load_run``) lands in the run directory
(layout in :mod:`seqlab.train.runs`).
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from seqlab import __version__
from seqlab.config import Config, load_config
from seqlab.errors import ConfigurationError
from seqlab.recipes.build import (
    build_loader,
    build_trainer,
    build_vocabulary,
    headline,
    load_split,
)
from seqlab.train.runs import (
    CONFIG_FILE,
    PLOTS_DIR,
    RESULTS_FILE,
    RUN_INFO_FILE,
    VOCAB_FILE,
    find_checkpoint,
    init_run_dir,
    new_run_dir,
    read_json,
    write_json,
)

__all__ = ["RunResult", "run_recipe"]


@dataclass
class RunResult:
    """What a finished run reports.

    Attributes:
        run_dir: the run directory.
        config: the resolved config.
        metrics: final numbers: ``train_loss``, ``val_loss``, ``val_accuracy`` / ``val_perplexity``,
            ``test_...`` when the recipe has a test split, ``epochs``, ``train_time_s``.
        headline: the recipe's metric in the reference's units (accuracy in %, loss in nats).
        reference: the published number, or None.
    """

    run_dir: Path
    config: Config
    metrics: dict[str, Any] = field(default_factory=dict)
    headline: Optional[float] = None
    reference: Optional[float] = None


def run_recipe(
    config: Config,
    *,
    run_dir: Optional[str | Path] = None,
    runs_root: str | Path = "runs",
    resume: Optional[str | Path] = None,
    verbose: int | str = "auto",
    device: Optional[str] = None,
    command_line: Optional[list[str]] = None,
) -> RunResult:
    """Train and evaluate the recipe ``config`` into a run directory.

    Args:
        config: the resolved config (recipe + overrides). Ignored with ``resume``, whose
            stored config is used.
        run_dir: where to write (default ``runs_root/<recipe>-<timestamp>``).
        resume: a run directory to continue from its last checkpoint.
        verbose: the engine's ``verbose`` (0 = quiet).
        device: overrides ``train.device`` (also when resuming; it does not change results on CPU).
        command_line: recorded in ``run.json``.
    """
    from seqlab.data.vocab import Vocabulary
    from seqlab.models import build_model
    from seqlab.train.checkpoint import load_model_weights
    from seqlab.train.engine import resolve_device, seed_everything

    if resume is not None:
        path = Path(resume)
        if not (path / CONFIG_FILE).is_file():
            raise ConfigurationError(
                f"cannot resume {str(path)!r}: it is not a run directory (no {CONFIG_FILE}); "
                "pass the directory printed by the run you want to continue."
            )
        config = load_config(path / CONFIG_FILE)
        info = read_json(path / RUN_INFO_FILE)
    else:
        path = Path(run_dir) if run_dir is not None else new_run_dir(config.recipe.name, runs_root)
        info = {
            "recipe": config.recipe.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seqlab_version": __version__,
            "torch_version": torch.__version__,
            "python": platform.python_version(),
            "command": command_line if command_line is not None else sys.argv,
        }

    if device is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, device=device))
    resolve_device(config.train.device)  # fail on a bad device before anything is written
    if config.train.num_threads is not None:
        if config.train.num_threads < 1:
            raise ConfigurationError(f"train.num_threads must be >= 1 or none, got {config.train.num_threads}.")
        torch.set_num_threads(config.train.num_threads)
    lm = config.model.kind == "language_model"
    train_split = load_split(config, config.data.train_split, training=True)
    if resume is not None:
        vocab = Vocabulary.load(path / VOCAB_FILE)
    else:
        vocab = build_vocabulary(config, train_split)
        info["vocab_size"] = len(vocab)
        if not lm:
            info["num_classes"] = len(train_split.class_names)
            info["class_names"] = train_split.class_names
        init_run_dir(path, config, info=info)
        vocab.save(path / VOCAB_FILE)

    train_loader = build_loader(config, train_split, vocab, training=True)
    val_loader = None
    if config.data.eval_split:
        val_loader = build_loader(config, load_split(config, config.data.eval_split), vocab, training=False)

    seed_everything(config.train.seed)  # before the model: its initial weights come from the seed
    model = build_model(config.model, len(vocab), info.get("num_classes"), padding_idx=vocab.pad_id)
    trainer = build_trainer(config, model, run_dir=path, train_loader=train_loader, verbose=verbose)
    start = time.perf_counter()
    history = trainer.fit(
        train_loader,
        epochs=config.train.epochs,
        val_data=val_loader,
        resume=path if resume is not None else False,
    )
    train_time = time.perf_counter() - start

    metrics: dict[str, Any] = {}
    last = {k: v[-1] for k, v in history.history.items() if v}
    if "loss" in last:
        metrics["train_loss"] = last["loss"]
    if config.train.restore_best:
        # the best epoch by train.monitor (ModelCheckpoint's best.safetensors)
        load_model_weights(trainer.model, find_checkpoint(path, "best"))
    if val_loader is not None:
        metrics.update({f"val_{k}": v for k, v in trainer.evaluate(val_loader).items()})
    if config.data.test_split:
        test_loader = build_loader(config, load_split(config, config.data.test_split), vocab, training=False)
        metrics.update({f"test_{k}": v for k, v in trainer.evaluate(test_loader).items()})
    metrics["epochs"] = trainer.epoch
    metrics["train_time_s"] = round(train_time, 2)
    _write_plots(path, config)
    result = RunResult(path, config, metrics, headline(config, metrics), config.recipe.reference)
    write_json(
        path / RESULTS_FILE,
        {"recipe": config.recipe.name, "metric": config.recipe.metric, "headline": result.headline,
         "reference": result.reference, "citation": config.recipe.citation, "metrics": metrics},
    )
    return result


def _write_plots(path: Path, config: Config) -> list[Path]:
    """Learning curves from ``metrics.jsonl`` (complete also after a resume) into ``plots/``.

    Skipped when matplotlib is not installed (it is not a core dependency).
    """
    import json

    try:
        from seqlab.diagnostics.plots import plot_learning_curves
    except ImportError:
        return []
    log = path / "metrics.jsonl"
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    written = []
    second = "accuracy" if config.model.kind == "classifier" else "perplexity"
    for name in ("loss", second):
        curves = {key: [r[key] for r in rows if key in r] for key in (name, f"val_{name}")}
        curves = {k: v for k, v in curves.items() if v}
        if curves:
            written.append(plot_learning_curves(
                curves, path / PLOTS_DIR / f"{name}.png", xlabel="epoch", ylabel=name,
                title=f"{config.recipe.name}: {name}"))
    return written
