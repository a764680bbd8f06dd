"""Tasks: one module per kind of problem (see :mod:`seqlab.tasks.base` for the interface).

* :mod:`~seqlab.tasks.classification` — text classification: the recurrent classifier, Kim's
  CNN with his cross-validation, the notes' Keras model;
* :mod:`~seqlab.tasks.language_model` — truncated-BPTT language models and the window baselines.

``task_for(config)`` is the only dispatch the runner and the command line do::

    task = task_for(config)        # by config.recipe.task
    run = load_run("runs/lstm-sst2-20261202-101500")
    task_for(run.config).predict(run, ["a gripping, funny film"], device="cpu")

Adding a task is adding a module here that defines its config sections, subclasses
:class:`~seqlab.tasks.base.Task` and is listed in :data:`TASKS` (README, "Adding a task").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from seqlab.config import Config, load_config
from seqlab.errors import ConfigurationError
from seqlab.tasks.base import LoadedRun, Task, format_metric, headline
from seqlab.tasks.classification import CLASSIFICATION
from seqlab.tasks.language_model import LANGUAGE_MODELING

__all__ = ["TASKS", "Task", "LoadedRun", "task_for", "load_run", "read_run_config", "build_model", "model_config", "default_split",
           "headline", "format_metric"]

#: every task, by ``recipe.task``
TASKS: dict[str, Task] = {task.name: task for task in (CLASSIFICATION, LANGUAGE_MODELING)}


def task_for(config: Config) -> Task:
    """The task of a config (``config.recipe.task``)."""
    try:
        return TASKS[config.recipe.task]
    except KeyError:
        raise ConfigurationError(
            f"recipe.task = {config.recipe.task!r} is not a task; valid tasks: {', '.join(TASKS)}."
        ) from None


def model_config(kind: str, **values: Any) -> Any:
    """The ``[model]`` section of ``kind`` with ``values`` (strict: an unknown key is an error).

    ``model_config("text_cnn", num_filters=8)`` is ``TextCNNConfig(num_filters=8)``.
    """
    from seqlab.config import from_dict, task_schemas

    for schema in task_schemas().values():
        if kind in schema.models:
            return from_dict(schema.models[kind], {"kind": kind, **values}, "model")
    kinds = [k for schema in task_schemas().values() for k in schema.models]
    raise ConfigurationError(f"model.kind = {kind!r} is not a model kind; valid: {', '.join(kinds)}.")


def load_run(run_dir: str | Path, *, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild model, artifacts (vocabulary ...) and config from a run directory written by ``seqlab run``.

    Args:
        run_dir: the run directory.
        checkpoint: ``"best"`` (falls back to ``"last"``) or ``"last"``.
        device: where the model is placed.

    Raises:
        ConfigurationError: not a run directory, or its config/run.json is damaged.
        CheckpointError: no checkpoint, or one that does not fit the config's model.
    """
    path = Path(run_dir)
    config, info = read_run_config(path)
    return task_for(config).load_run(path, config, info, checkpoint=checkpoint, device=device)


def read_run_config(run_dir: str | Path) -> tuple[Config, dict[str, Any]]:
    """The config and ``run.json`` of a run directory, with a clear error for a missing or foreign one."""
    from seqlab.train.runs import CONFIG_FILE, RUN_INFO_FILE, read_json

    path = Path(run_dir)
    if not path.is_dir():
        raise ConfigurationError(f"run directory {str(path)!r} does not exist; pass a directory written by `seqlab run`.")
    if not (path / CONFIG_FILE).is_file():
        raise ConfigurationError(
            f"{path} is not a run directory: it has no {CONFIG_FILE}. Pass a directory written by `seqlab run` "
            "(its path is printed at the end of the run)."
        )
    config = load_config(path / CONFIG_FILE)
    info = read_json(path / RUN_INFO_FILE) if (path / RUN_INFO_FILE).is_file() else {}
    return config, info


def default_split(config: Config, split: Optional[str] = None) -> str:
    """``split``, else the recipe's test split, else its eval split."""
    return split or config.data.test_split or config.data.eval_split


def build_model(model: Any, vocab_size: int, num_classes: Optional[int] = None, padding_idx: Optional[int] = 0,
                pretrained: Optional[torch.Tensor] = None, unk_idx: Optional[int] = None) -> torch.nn.Module:
    """The ``seqlab.train`` model a ``[model]`` section describes, freshly initialized.

    ``model`` is a section of a classification kind (:func:`~seqlab.tasks.classification.build_classifier`:
    ``num_classes``, ``padding_idx``, ``pretrained`` and ``unk_idx`` apply) or of a language-model
    kind (:func:`~seqlab.tasks.language_model.build_language_model`). The notes' Keras model is
    built from a whole config (:func:`~seqlab.tasks.classification.build_keras_model`).
    """
    from seqlab.tasks import classification, language_model

    if isinstance(model, (classification.ClassifierConfig, classification.TextCNNConfig)):
        return classification.build_classifier(model, vocab_size, num_classes, padding_idx=padding_idx,
                                               pretrained=pretrained, unk_idx=unk_idx)
    if isinstance(model, classification.KerasLSTMConfig):
        raise ConfigurationError(
            "model.kind='keras_lstm' is a seqlab.keras model, built from the whole config by "
            "seqlab.tasks.classification.build_keras_model; a run stores it as RUN_DIR/model.keras, loaded with "
            "seqlab.keras.load_model (seqlab.tasks.load_run does it)."
        )
    language_model.check_model(model)
    return language_model.build_language_model(model, vocab_size)
