"""What every task provides, and the parts they share: the ``Task`` interface.

A *task* is a kind of problem (text classification, language modelling, and in wave 2
translation, captioning, question answering, audio). It owns everything that differs
between them, so that the recipe runner (:mod:`seqlab.recipes.runner`) and the command line
(:mod:`seqlab.cli`) hold no ``if language model`` of their own:

* its config sections: a ``[data]`` dataclass and one ``[model]`` dataclass per model kind
  (:class:`seqlab.config.TaskSchema`), so a key that does not belong to the kind is an
  error of the config reader;
* data: splits, the vocabulary or other artifacts a run saves and reloads, loaders;
* the model a config describes (the config → constructor mapping; ``seqlab.models`` never
  sees a config), the loss, the metrics and the headline number;
* how a model is fitted (:meth:`Task.fit`; the default is :class:`seqlab.train.Trainer`);
* what ``seqlab eval``, ``predict`` and ``generate`` do on its runs.

The pipeline of one run, as :func:`seqlab.recipes.runner.run_recipe` drives it::

    task = task_for(config)
    task.check_config(config)                        # before anything is written
    train = task.load_split(config, train_split, training=True)
    artifacts = task.build_artifacts(config, train)  # or task.load_artifacts(run_dir) on resume
    info |= task.run_info(config, train, artifacts)  # run.json
    task.save_artifacts(artifacts, run_dir)
    loaders = task.loader(config, split, artifacts, training=...)
    model = task.build_model(config, artifacts, info)
    fitted = task.fit(config, model, train_loader, val_loader, run_dir=..., resume=..., verbose=...)
    fitted.finalize(config.train.restore_best); fitted.evaluate(loader) for the val and test splits
    task.extra_plots(fitted.model, val_loader, run_dir)
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from seqlab.config import Config, TaskSchema, to_dict
from seqlab.errors import ConfigurationError
from seqlab.train.distributed import DistributedContext

__all__ = [
    "Task",
    "VocabularyTask",
    "LoadedRun",
    "Fitted",
    "TrainerFit",
    "build_trainer",
    "check_train_config",
    "headline",
    "format_metric",
]


@dataclass
class LoadedRun:
    """A trained model rebuilt from its run directory (:func:`seqlab.tasks.load_run`).

    Attributes:
        path: the run directory.
        config: the resolved :class:`~seqlab.config.Config`.
        model: the model with the checkpoint's weights, in ``eval()`` mode (a
            ``seqlab.keras`` model for the notes' Keras recipe).
        artifacts: what the task saved beside the weights (a
            :class:`~seqlab.data.vocab.Vocabulary` for the text tasks).
        info: ``run.json`` (``num_classes``, ``class_names``, ...).
        checkpoint: the weights file that was loaded.
        checkpoint_meta: its metadata (epoch, step, metrics).
    """

    path: Path
    config: Config
    model: Any
    artifacts: Any
    info: dict[str, Any] = field(default_factory=dict)
    checkpoint: Optional[Path] = None
    checkpoint_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab(self) -> Any:
        """The vocabulary of a text task (its artifacts)."""
        return self.artifacts

    @property
    def class_names(self) -> list[str]:
        return list(self.info.get("class_names") or [])


class Fitted(ABC):
    """A model after :meth:`Task.fit`: its training history and how to score it."""

    model: Any
    epochs: int
    train_loss: Optional[float]

    @abstractmethod
    def finalize(self, restore_best: bool) -> None:
        """End of training: with ``restore_best``, load the best weights by ``train.monitor``."""

    @abstractmethod
    def evaluate(self, loader: Any) -> dict[str, float]:
        """The loss and metrics on one split's loader (global means under torchrun)."""


class TrainerFit(Fitted):
    """:class:`seqlab.train.Trainer` as a :class:`Fitted`."""

    def __init__(self, trainer, history, run_dir: Optional[Path]) -> None:
        self.trainer = trainer
        self.model = trainer.model
        self.epochs = trainer.epoch
        last = {k: v[-1] for k, v in history.history.items() if v}
        self.train_loss = last.get("loss")
        self.run_dir = run_dir

    def finalize(self, restore_best: bool) -> None:
        from seqlab.train.checkpoint import load_model_weights
        from seqlab.train.runs import find_checkpoint

        if restore_best:  # the best epoch by train.monitor (ModelCheckpoint's best.safetensors)
            load_model_weights(self.trainer.model, find_checkpoint(self.run_dir, "best"))

    def evaluate(self, loader: Any) -> dict[str, float]:
        return self.trainer.evaluate(loader)


class Task(ABC):
    """One kind of problem: its config sections, data, models, metrics and commands.

    Subclasses set :attr:`schema` and implement the abstract methods; the defaults here
    are what the ``seqlab.train`` tasks share.
    """

    #: the sections of ``[data]`` and ``[model]`` (registered with ``seqlab.config``)
    schema: TaskSchema
    #: the engine runs truncated BPTT (state carried between windows of a stream)
    tbptt: bool = False

    @property
    def name(self) -> str:
        return self.schema.name

    # ------------------------------------------------------------------ config

    def check_config(self, config: Config) -> None:
        """Cross-key checks that types alone cannot express, before anything is written.

        Raises:
            ConfigurationError: naming the keys, the valid values and the fix.
        """
        check_train_config(config)
        self.check_data_and_model(config)
        if config.data.eval_split and config.train.monitor not in self.monitor_names(config):
            names = self.monitor_names(config)
            from seqlab.config import _closest  # the reader's "did you mean"

            raise ConfigurationError(
                f"train.monitor = {config.train.monitor!r} is not a number this run logs.{_closest(config.train.monitor, names)} "
                f"Valid: {', '.join(names)}."
            )

    @abstractmethod
    def check_data_and_model(self, config: Config) -> None:
        """The task's own cross-key checks of ``[data]`` and ``[model]``."""

    def check_distributed(self, config: Config) -> None:
        """Refuse what cannot run under torchrun (``WORLD_SIZE > 1``), with the way out."""

    def check_resume(self, config: Config, run_dir: Path) -> None:
        """Refuse a run that cannot be resumed, with the way out."""

    @abstractmethod
    def metric_names(self, config: Config) -> list[str]:
        """The engine metrics the run logs (``seqlab.train.metrics`` names)."""

    def monitor_names(self, config: Config) -> list[str]:
        """The logged numbers ``train.monitor`` may name."""
        names = ["loss", *self.metric_names(config)]
        return [*names, *(f"val_{n}" for n in names)]

    def curve_metric(self, config: Config) -> str:
        """The metric plotted beside the loss (``plots/<metric>.png``)."""
        return self.metric_names(config)[0]

    # ------------------------------------------------------------------ cross-validation

    def folds(self, config: Config) -> Optional[int]:
        """How many cross-validation folds the run trains one after the other; None for one run."""
        return None

    def fold_config(self, config: Config, fold: int) -> Config:
        """The config of fold ``fold`` (:meth:`folds`)."""
        raise NotImplementedError(f"task {self.name!r} has no cross-validation")

    def cross_validation_info(self, config: Config) -> dict[str, Any]:
        """What the cross-validation ``results.json`` records besides the number of folds."""
        return {}

    # ------------------------------------------------------------------ data

    @abstractmethod
    def load_split(self, config: Config, split: str, *, training: bool = False) -> Any:
        """One split of ``data.dataset`` with the limits applied."""

    @abstractmethod
    def build_artifacts(self, config: Config, train_split: Any) -> Any:
        """What the run learns from its training split besides the weights (a vocabulary ...)."""

    @abstractmethod
    def save_artifacts(self, artifacts: Any, run_dir: Path) -> None:
        """Write the artifacts into a new run directory."""

    @abstractmethod
    def load_artifacts(self, run_dir: Path, config: Config, info: dict[str, Any]) -> Any:
        """Read back what :meth:`save_artifacts` wrote."""

    def run_info(self, config: Config, train_split: Any, artifacts: Any) -> dict[str, Any]:
        """Fields of ``run.json`` that the config does not say (vocabulary size, class names ...)."""
        return {}

    def prepare(self, config: Config, train_split: Any, artifacts: Any, info: dict[str, Any]) -> Any:
        """Work done once before the run directory is created, whose failure must leave nothing
        behind (e.g. reading pre-trained vectors). Its result reaches :meth:`build_model`."""
        return None

    def loader_options(self, config: Config, info: dict[str, Any]) -> dict[str, Any]:
        """Extra keyword arguments of :meth:`loader` that ``run.json`` fixes for a run."""
        return {}

    @abstractmethod
    def loader(self, config: Config, split_data: Any, artifacts: Any, *, training: bool,
               distributed: Optional[DistributedContext] = None) -> Any:
        """One split as the fit's input (a DataLoader for the ``seqlab.train`` tasks)."""

    # ------------------------------------------------------------------ model and fit

    @abstractmethod
    def build_model(self, config: Config, artifacts: Any, info: dict[str, Any], prepared: Any = None) -> Any:
        """The freshly initialized model of ``config.model`` (the seed is set by the caller)."""

    def input_adapter(self, config: Config):
        """The engine's ``input_adapter`` for this task's batches (None: the engine's default)."""
        return None

    def fit(self, config: Config, model: Any, train_loader: Any, val_loader: Any, *, run_dir: Path,
            resume: bool, verbose: int | str) -> Fitted:
        """Train ``model``; checkpoints go to ``run_dir``. The default is :class:`seqlab.train.Trainer`."""
        trainer = build_trainer(config, model, metrics=self.metric_names(config), tbptt=self.tbptt,
                                input_adapter=self.input_adapter(config), run_dir=run_dir, verbose=verbose)
        history = trainer.fit(train_loader, epochs=config.train.epochs, val_data=val_loader,
                              resume=run_dir if resume else False)
        return TrainerFit(trainer, history, run_dir)

    def extra_plots(self, model: Any, val_loader: Any, run_dir: Path) -> list[Path]:
        """Task-specific figures of the trained model written into ``run_dir/plots``."""
        return []

    # ------------------------------------------------------------------ using a run

    @abstractmethod
    def load_run(self, run_dir: Path, config: Config, info: dict[str, Any], *, checkpoint: str,
                 device: str | torch.device) -> LoadedRun:
        """Rebuild the trained model of a run directory (:func:`seqlab.tasks.load_run`)."""

    @abstractmethod
    def evaluate_run(self, loaded: LoadedRun, split: str, *, limit: Optional[int], device: str) -> dict[str, Any]:
        """``seqlab eval``: the numbers of one split (the task decides which)."""

    @abstractmethod
    def print_evaluation(self, loaded: LoadedRun, result: dict[str, Any], *, show_errors: int) -> None:
        """``seqlab eval`` without ``--json``: the result for a person."""

    def check_predict(self, run_dir: Path, config: Config) -> None:
        """Refuse ``seqlab predict`` on a run it cannot serve, before its model is loaded."""
        raise ConfigurationError(
            f"{run_dir} is a {self.name} run (recipe {config.recipe.name!r}, model.kind={config.model.kind!r}); "
            "`seqlab predict` has nothing to predict for it."
        )

    def predict(self, loaded: LoadedRun, texts: Sequence[str], *, device: str) -> list[dict[str, Any]]:
        """``seqlab predict``: one result per input (after :meth:`check_predict`)."""
        self.check_predict(loaded.path, loaded.config)
        return []

    def check_generate(self, run_dir: Path, config: Config) -> None:
        """Refuse ``seqlab generate`` for a task that does not generate, before the model is loaded."""
        raise ConfigurationError(
            f"{run_dir} holds a {config.model.kind!r} model (recipe {config.recipe.name!r}); "
            "`seqlab generate` needs a language model run, e.g. `seqlab run char-shakespeare`."
        )


class VocabularyTask(Task):
    """A task whose artifact is one :class:`~seqlab.data.vocab.Vocabulary`, saved as ``vocab.json``."""

    def save_artifacts(self, artifacts, run_dir: Path) -> None:
        from seqlab.train.runs import VOCAB_FILE

        artifacts.save(run_dir / VOCAB_FILE)

    def load_artifacts(self, run_dir: Path, config: Config, info: dict[str, Any]):
        from seqlab.data.vocab import Vocabulary
        from seqlab.train.runs import VOCAB_FILE

        if not (run_dir / VOCAB_FILE).is_file():
            raise ConfigurationError(f"{run_dir} has no {VOCAB_FILE}; the run directory is incomplete (train it again).")
        return Vocabulary.load(run_dir / VOCAB_FILE)


# --------------------------------------------------------------------------- shared parts


def check_train_config(config: Config) -> None:
    """Cross-key checks of ``[train]``, the same for every task."""
    train = config.train
    if train.anneal_within_time_limit and (train.lr_schedule != "cosine" or train.max_time_s is None):
        raise ConfigurationError(
            "train.anneal_within_time_limit needs train.lr_schedule = \"cosine\" and a train.max_time_s "
            f"(got lr_schedule={train.lr_schedule!r}, max_time_s={train.max_time_s!r}); set both or remove it."
        )
    if train.optimizer != "adadelta" and train.rho != 0.95:
        raise ConfigurationError(
            f"train.rho={train.rho} is Adadelta's decay, but train.optimizer={train.optimizer!r}; "
            "remove train.rho or set train.optimizer=adadelta."
        )
    if not 0.0 < train.rho < 1.0:
        raise ConfigurationError(f"train.rho must be in (0, 1), got {train.rho}; Kim (2014) uses 0.95.")
    if train.num_threads is not None and train.num_threads < 1:
        raise ConfigurationError(f"train.num_threads must be >= 1 or none, got {train.num_threads}.")


def _lr_schedule_spec(config: Config, mode: Optional[str] = None) -> Optional[dict[str, Any]]:
    """The engine's ``lr_schedule`` spec of ``[train]``; ``mode`` is the monitored number's
    direction (default: :func:`monitor_mode` of ``train.monitor``)."""
    t = config.train
    mode = monitor_mode(t.monitor) if mode is None else mode
    if t.lr_schedule is None:
        return None
    if t.lr_schedule == "step":
        return {"name": "step", "step_size": t.lr_step_size, "gamma": t.lr_decay}
    if t.lr_schedule == "exponential":
        return {"name": "exponential", "gamma": t.lr_decay, "start": t.lr_decay_start}
    if t.lr_schedule == "plateau":
        return {"name": "plateau", "monitor": t.monitor, "mode": mode, "factor": t.lr_decay, "patience": t.lr_patience}
    if t.lr_schedule == "linear_warmup":
        return {"name": "linear_warmup", "warmup_steps": t.warmup_steps}
    if t.anneal_within_time_limit:
        return {"name": "cosine", "time_budget_s": t.max_time_s}
    return {"name": "cosine"}


def monitor_mode(name: str) -> str:
    """``"min"`` or ``"max"``: the direction of a monitored number."""
    return "min" if name.endswith("loss") or "perplexity" in name else "max"


def build_trainer(
    config: Config,
    model: nn.Module,
    *,
    metrics: Optional[Sequence[str]] = None,
    tbptt: Optional[bool] = None,
    input_adapter=None,
    run_dir: Optional[Path] = None,
    verbose: int | str = "auto",
):
    """A :class:`~seqlab.train.Trainer` configured by the ``[train]`` section.

    ``metrics``, ``tbptt`` and ``input_adapter`` default to the config's task's
    (:meth:`Task.metric_names`, :attr:`Task.tbptt`, :meth:`Task.input_adapter`).

    Cross-entropy loss; ``train.optimizer`` (Kim's Adadelta updates the embedding rows lazily,
    :class:`~seqlab.train.lazy_adadelta.LazyAdadelta`), schedule, clipping, early stopping,
    the time limit, and the best / last checkpoints in ``run_dir``. (A bucketing batch sampler
    gets its epoch from the engine: ``set_sampler_epoch``.)
    """
    from seqlab.train import EarlyStopping, ModelCheckpoint, Trainer
    from seqlab.train.callbacks import TimeLimit
    from seqlab.train.optim import OPTIMIZERS

    if metrics is None or tbptt is None or input_adapter is None:
        from seqlab.tasks import task_for

        task = task_for(config)
        metrics = task.metric_names(config) if metrics is None else metrics
        tbptt = task.tbptt if tbptt is None else tbptt
        input_adapter = task.input_adapter(config) if input_adapter is None else input_adapter
    t = config.train
    optimizer_cls = OPTIMIZERS[t.optimizer]

    def make_optimizer(params):
        if t.optimizer == "adadelta":
            # Kim's code: sgd_updates_adadelta(rho=0.95, epsilon=1e-6), no learning rate (lr = 1).
            # Embedding rows are updated lazily, which is exact and 1.6x faster per Kim-CNN step
            # (seqlab.train.lazy_adadelta); weight decay touches every row, so then all is dense.
            from seqlab.train.lazy_adadelta import LazyAdadelta

            params = list(params)
            embedding = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
            lazy = {id(p) for p in params if id(p) in embedding} if t.weight_decay == 0 else set()
            groups = [{"params": [p for p in params if id(p) in lazy], "lazy_rows": True}] if lazy else []
            groups.append({"params": [p for p in params if id(p) not in lazy]})
            return LazyAdadelta(groups, lr=t.lr, rho=t.rho, eps=1e-6, weight_decay=t.weight_decay)
        return optimizer_cls(params, lr=t.lr, weight_decay=t.weight_decay)

    callbacks = [ModelCheckpoint(monitor=t.monitor)] if run_dir is not None else []
    if t.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(monitor=t.monitor, patience=t.early_stopping_patience))
    if t.max_time_s is not None:
        callbacks.append(TimeLimit(t.max_time_s))
    return Trainer(
        model,
        loss="cross_entropy",
        optimizer=make_optimizer,
        metrics=list(metrics),
        callbacks=callbacks,
        grad_clip_norm=t.grad_clip_norm,
        lr_schedule=_lr_schedule_spec(config),
        device=t.device,
        seed=t.seed,
        run_dir=run_dir,
        tbptt=tbptt,
        verbose=verbose,
        input_adapter=input_adapter,
        config=to_dict(config),
    )


def headline(config: Config, results: dict[str, Any]) -> Optional[float]:
    """The recipe's metric in the reference's units: accuracy in %, losses in nats.

    Reads ``test_<metric>`` when the recipe has a test split, else ``val_<metric>``; a
    metric named ``val_...`` / ``test_...`` is read as it is.
    """
    metric = config.recipe.metric
    keys = [metric] if metric.startswith(("val_", "test_")) else ["test_" + metric, "val_" + metric]
    for key in keys:
        if key in results:
            value = results[key]
            return 100.0 * value if metric.endswith("accuracy") else value
    return None


def format_metric(config: Config, value: Optional[float]) -> str:
    """``"83.42 %"`` for accuracy, ``"1.612 nats"`` for a loss, ``"—"`` for None."""
    if value is None:
        return "—"
    if config.recipe.metric.endswith("accuracy"):
        return f"{value:.2f} %"
    if config.recipe.metric.endswith("loss"):
        return f"{value:.3f} nats"
    return f"{value:.4g}"


def with_data(config: Config, **changes: Any) -> Config:
    """A copy of ``config`` with ``[data]`` keys changed."""
    return dataclasses.replace(config, data=dataclasses.replace(config.data, **changes))


def _elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 2)
