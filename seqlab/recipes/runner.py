"""Run a recipe end to end: data → vocabulary → model → fit → best weights → val/test numbers.

This is what ``seqlab run`` calls; from Python::

    from seqlab.recipes.registry import load_recipe
    from seqlab.recipes.runner import run_recipe
    result = run_recipe(load_recipe("lstm-sst2"), runs_root="runs")
    result.metrics["test_accuracy"], result.run_dir

Three paths, chosen by the config:

* one training run (every ``torch`` model kind): the run directory of :mod:`seqlab.train.runs`;
  a language model also gets the gradient-flow plot of the trained model on its first
  validation window (``plots/gradient_flow.png``, :mod:`seqlab.diagnostics.gradient_flow`)
  and the tokenization level of its corpus in ``run.json``;
* cross-validation (Kim 2014 on MR, Subj, CR, MPQA: no test split) with ``data.cv_fold =
  none``: one complete run directory per fold, ``RUN_DIR/fold-<k>/``, and in ``RUN_DIR``
  the config, and ``results.json`` with every fold's accuracy and their mean ± std
  (sample standard deviation over folds). ``--resume RUN_DIR`` skips finished folds and
  continues an interrupted one;
* ``model.kind = "keras_lstm"``: the notes' Keras model, built, fitted and evaluated with
  ``seqlab.keras`` exactly as in the slides (``model.fit`` / ``model.evaluate``); the
  model is stored as ``RUN_DIR/model.keras`` (``seqlab.keras.load_model``).

Everything the run needs later (``seqlab eval``, ``seqlab predict``, ``load_run``) lands in
the run directory (layout in :mod:`seqlab.train.runs`).

Under ``torchrun --nproc_per_node=N -m seqlab run RECIPE`` (``WORLD_SIZE > 1``) every process
runs this same script: the process group is initialised first, rank 0 picks the run directory
and the others use its name, the training data is sharded per rank
(:func:`~seqlab.recipes.build.build_loader`), the model is trained with
``DistributedDataParallel`` (:class:`~seqlab.train.Trainer`), every rank loads rank 0's best
checkpoint after a barrier and evaluates (sums reduced over ranks), and only rank 0 writes
files (run directory, config, ``run.json``, vocabulary, plots, ``results.json``); every rank
returns the same :class:`RunResult`.  ``keras_lstm`` recipes and the all-folds
cross-validation path are single-process and refused under torchrun (one fold per job:
``data.cv_fold=K``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from seqlab import __version__
from seqlab.config import Config, is_language_model, load_config, save_config
from seqlab.errors import ConfigurationError
from seqlab.recipes.build import (
    TimeLimit,
    build_keras_model,
    build_loader,
    build_trainer,
    build_vocabulary,
    check_config,
    format_metric,
    headline,
    is_cross_validated,
    keras_arrays,
    load_split,
)
from seqlab.train.distributed import DistributedContext, barrier, run_on_main
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

__all__ = ["RunResult", "run_recipe", "fold_dir", "KERAS_MODEL_FILE", "GRADIENT_FLOW_NAME"]

#: The Keras model file of a ``keras_lstm`` run (``seqlab.keras.load_model``).
KERAS_MODEL_FILE = "model.keras"
#: ``plots/<name>.png`` / ``.json`` of a language model run.
GRADIENT_FLOW_NAME = "gradient_flow"


@dataclass
class RunResult:
    """What a finished run reports.

    Attributes:
        run_dir: the run directory.
        config: the resolved config.
        metrics: final numbers: ``train_loss``, ``val_loss``, ``val_accuracy`` / ``val_perplexity``,
            ``test_...`` when the recipe has a test split, ``epochs``, ``train_time_s``.
            A cross-validated run holds the means over folds, ``test_accuracy_std`` and
            ``fold_test_accuracy`` (one per fold).
        headline: the recipe's metric in the reference's units (accuracy in %, loss in nats);
            the mean over folds for a cross-validated run.
        reference: the published number, or None.
        headline_std: the sample standard deviation over folds (same units), else None.
        folds: one dict per fold (``fold``, ``run_dir``, ``headline``, metrics, ``wall_s``).
    """

    run_dir: Path
    config: Config
    metrics: dict[str, Any] = field(default_factory=dict)
    headline: Optional[float] = None
    reference: Optional[float] = None
    headline_std: Optional[float] = None
    folds: list[dict[str, Any]] = field(default_factory=list)


def fold_dir(run_dir: str | Path, fold: int) -> Path:
    """The run directory of fold ``fold`` inside a cross-validation run."""
    return Path(run_dir) / f"fold-{fold}"


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
        resume: a run directory to continue from its last checkpoint (for a
            cross-validation run: the finished folds are kept, the others continued).
        verbose: the engine's ``verbose`` (0 = quiet, also no per-fold lines).
        device: overrides ``train.device`` (also when resuming; it does not change results on CPU).
        command_line: recorded in ``run.json``.

    Raises:
        ConfigurationError: conflicting keys (:func:`seqlab.recipes.build.check_config`), a
            ``resume`` directory that is not a run, or a ``keras_lstm`` run to resume.
    """
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
        path = Path(run_dir) if run_dir is not None else None  # a new one is named below
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
    check_config(config)
    from seqlab.train.engine import resolve_device

    distributed = DistributedContext.from_env()
    if distributed.enabled:
        _check_distributed(config)  # every rank refuses alike, before anything is written
    # fail on a bad device before anything is written
    resolved = resolve_device(config.train.device, distributed.local_rank if distributed.enabled else None)
    if config.train.num_threads is not None:
        if config.train.num_threads < 1:
            raise ConfigurationError(f"train.num_threads must be >= 1 or none, got {config.train.num_threads}.")
        torch.set_num_threads(config.train.num_threads)
    if distributed.enabled:
        # Early, so that run_on_main/barrier can coordinate the ranks from here on; the
        # Trainer finds the group initialised and reuses it.
        distributed.init_process_group(resolved)
        info["world_size"] = distributed.world_size
    if path is None:
        # one name for all ranks: new_run_dir looks at the clock and at what already exists
        path = run_on_main(lambda: new_run_dir(config.recipe.name, runs_root))
    if is_cross_validated(config) and config.data.cv_fold is None:
        return _run_folds(config, path, info, resume=resume is not None, verbose=verbose)
    return _train_one(config, path, info, resume=resume is not None, verbose=verbose)


def _check_distributed(config: Config) -> None:
    """Refuse what cannot run under torchrun (``WORLD_SIZE > 1``), with the way out."""
    if config.model.kind == "keras_lstm":
        raise ConfigurationError(
            f"recipe {config.recipe.name!r} uses model.kind='keras_lstm' (the notes' Keras model), which trains in "
            "one process (seqlab.keras model.fit) and cannot run under torchrun; run it without torchrun "
            "(`seqlab run RECIPE`)."
        )
    if is_cross_validated(config) and config.data.cv_fold is None:
        raise ConfigurationError(
            f"recipe {config.recipe.name!r} is cross-validated ({config.data.cv_folds} folds), and under torchrun "
            f"a job trains one fold: run one fold per torchrun job with data.cv_fold=K (K = 0..{config.data.cv_folds - 1}), "
            "or run all folds in one process without torchrun."
        )


def _train_one(config: Config, path: Path, info: dict[str, Any], *, resume: bool, verbose: int | str) -> RunResult:
    """One run directory: the notes' Keras model or a ``seqlab.train`` model."""
    if config.model.kind == "keras_lstm":
        if resume:
            raise ConfigurationError(
                f"a keras_lstm run cannot be resumed ({path}); model.fit has no resumable checkpoint. "
                "Delete the directory and start it again with `seqlab run`."
            )
        return _run_keras(config, path, info, verbose=verbose)
    return _run_single(config, path, info, resume=resume, verbose=verbose)


# --------------------------------------------------------------------------- one run


def _run_single(config: Config, path: Path, info: dict[str, Any], *, resume: bool, verbose: int | str) -> RunResult:
    from seqlab.data.vocab import Vocabulary
    from seqlab.models import build_model
    from seqlab.train.checkpoint import load_model_weights
    from seqlab.train.engine import seed_everything

    distributed = DistributedContext.from_env()
    lm = is_language_model(config.model)
    train_split = load_split(config, config.data.train_split, training=True)
    pretrained = None  # on resume the checkpoint holds the vectors
    if resume:
        vocab = Vocabulary.load(path / VOCAB_FILE)
    else:
        vocab = build_vocabulary(config, train_split)
        info["vocab_size"] = len(vocab)
        if lm:
            info["level"] = getattr(train_split, "level", None)  # "char" or "word" (seqlab generate reads it)
        else:
            info["num_classes"] = len(train_split.class_names)
            info["class_names"] = train_split.class_names
        if config.model.vectors is not None:  # before the run directory: a bad file leaves nothing behind
            pretrained = _load_vectors(config, vocab, info)  # every rank: each model needs them

        def create_run_dir() -> None:
            init_run_dir(path, config, info=info)
            vocab.save(path / VOCAB_FILE)

        run_on_main(create_run_dir)  # rank 0 writes; "already holds a run" is raised on every rank

    train_loader = build_loader(config, train_split, vocab, training=True, distributed=distributed)
    val_loader = None
    if config.data.eval_split:
        val_loader = build_loader(config, load_split(config, config.data.eval_split), vocab, training=False,
                                  distributed=distributed)

    seed_everything(config.train.seed)  # before the model: its initial weights come from the seed
    model = build_model(config.model, len(vocab), info.get("num_classes"), padding_idx=vocab.pad_id,
                        pretrained=pretrained, unk_idx=getattr(vocab, "unk_id", None))
    trainer = build_trainer(config, model, run_dir=path, verbose=verbose)
    start = time.perf_counter()
    history = trainer.fit(
        train_loader,
        epochs=config.train.epochs,
        val_data=val_loader,
        resume=path if resume else False,
    )
    train_time = time.perf_counter() - start
    barrier()  # under torchrun: rank 0 has written its last checkpoint before anyone reads it

    metrics: dict[str, Any] = {}
    last = {k: v[-1] for k, v in history.history.items() if v}
    if "loss" in last:
        metrics["train_loss"] = last["loss"]
    if config.train.restore_best:
        # the best epoch by train.monitor (ModelCheckpoint's best.safetensors)
        load_model_weights(trainer.model, find_checkpoint(path, "best"))
    # Every rank evaluates (the engine reduces the sums over ranks, so each gets the global mean).
    if val_loader is not None:
        metrics.update({f"val_{k}": v for k, v in trainer.evaluate(val_loader).items()})
    if config.data.test_split:
        test_loader = build_loader(config, load_split(config, config.data.test_split), vocab, training=False,
                                   distributed=distributed)
        metrics.update({f"test_{k}": v for k, v in trainer.evaluate(test_loader).items()})
    metrics["epochs"] = trainer.epoch
    metrics["train_time_s"] = round(train_time, 2)

    def write_results() -> RunResult:
        plots = _write_plots(path, config)
        if lm and val_loader is not None:
            flow = _save_gradient_flow(trainer.model, val_loader, path)
            if flow is not None:
                plots.append(flow)
        return _finish_run(path, config, metrics, plots)

    return run_on_main(write_results)  # rank 0 writes; every rank returns its RunResult


def _load_vectors(config: Config, vocab, info: dict[str, Any]) -> torch.Tensor:
    """Pre-trained vectors of ``model.vectors`` for the vocabulary; coverage goes to ``info`` (``run.json``)."""
    from seqlab.data.vectors import load_vectors

    weights, coverage = load_vectors(config.model.vectors, vocab, dim=config.model.embedding_dim,
                                     seed=config.train.seed)
    info["vectors"] = {"path": config.model.vectors, "found": coverage.found, "total": coverage.total,
                       "coverage": round(coverage.fraction, 4)}
    return weights


def _save_gradient_flow(model, val_loader, path: Path) -> Optional[Path]:
    """‖∂L/∂h_t‖ of the trained model on the first validation window → ``plots/gradient_flow.png``.

    Skipped (None) for a model without recurrent layers (``window_lm``, ``bow_lm``) or
    without matplotlib.
    """
    try:
        from seqlab.diagnostics.gradient_flow import recurrent_modules, save_gradient_flow
        import matplotlib  # noqa: F401  (the plot needs it; it is not a core dependency)
    except ImportError:
        return None
    if not recurrent_modules(model):
        return None
    inputs, targets = next(iter(val_loader))
    device = next(model.parameters()).device
    save_gradient_flow(model, (inputs.to(device), targets.to(device)), path, name=GRADIENT_FLOW_NAME)
    return path / PLOTS_DIR / f"{GRADIENT_FLOW_NAME}.png"


# --------------------------------------------------------------------------- cross-validation


def _run_folds(config: Config, path: Path, info: dict[str, Any], *, resume: bool, verbose: int | str) -> RunResult:
    """Every fold of ``data.cv_folds`` in turn, each a full run in ``path/fold-<k>``."""
    n = config.data.cv_folds
    if not resume:
        if (path / CONFIG_FILE).exists():
            raise ConfigurationError(
                f"{path} already holds a run; continue it with `seqlab run --resume {path}` or choose another --run-dir."
            )
        path.mkdir(parents=True, exist_ok=True)
        save_config(config, path / CONFIG_FILE)
        info["cross_validation"] = {"folds": n, "fold_dirs": [fold_dir(path, k).name for k in range(n)]}
        write_json(path / RUN_INFO_FILE, info)
    folds: list[dict[str, Any]] = []
    for k in range(n):
        directory = fold_dir(path, k)
        fold_config = dataclasses.replace(config, data=dataclasses.replace(config.data, cv_fold=k))
        start = time.perf_counter()
        if (directory / RESULTS_FILE).is_file():  # finished before an interruption
            stored = read_json(directory / RESULTS_FILE)
            metrics, value = stored["metrics"], stored["headline"]
            wall = stored.get("wall_s")
        else:
            fold_info = {**info, "cross_validation": {"fold": k, "folds": n, "parent": str(path)}}
            if (directory / CONFIG_FILE).is_file():
                fold_info = read_json(directory / RUN_INFO_FILE)
            result = _train_one(fold_config, directory, fold_info, resume=(directory / CONFIG_FILE).is_file(),
                                verbose=verbose)
            metrics, value = result.metrics, result.headline
            wall = round(time.perf_counter() - start, 2)
            stored = read_json(directory / RESULTS_FILE)
            write_json(directory / RESULTS_FILE, {**stored, "wall_s": wall})
        folds.append({"fold": k, "run_dir": str(directory), "headline": value, "wall_s": wall, **metrics})
        if verbose not in (0, "quiet"):
            done = [f["headline"] for f in folds if f["headline"] is not None]
            print(f"fold {k + 1}/{n}: {config.recipe.metric} {format_metric(config, value)} "
                  f"(mean so far {format_metric(config, statistics.fmean(done) if done else None)})", flush=True)

    metrics = _fold_summary(folds)
    values = [f["headline"] for f in folds if f["headline"] is not None]
    mean = statistics.fmean(values) if values else None
    std = statistics.stdev(values) if len(values) > 1 else None
    result = RunResult(path, config, metrics, mean, config.recipe.reference, std, folds)
    write_json(
        path / RESULTS_FILE,
        {"recipe": config.recipe.name, "metric": config.recipe.metric, "headline": mean, "headline_std": std,
         "reference": config.recipe.reference, "citation": config.recipe.citation,
         "cross_validation": {"folds": n, "split_seed": config.data.split_seed,
                              "std": "sample standard deviation over folds"},
         "metrics": metrics, "folds": folds},
    )
    if verbose not in (0, "quiet") and mean is not None:
        ref = "—" if config.recipe.reference is None else format_metric(config, config.recipe.reference)
        print(f"{n}-fold cross-validation: {format_metric(config, mean)} ± {std if std is None else round(std, 2)} "
              f"| published {ref}", flush=True)
    return result


def _fold_summary(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every numeric metric over folds, ``<key>_std`` for the test/val ones, per-fold lists."""
    keys = [k for k, v in folds[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and k not in ("fold", "headline", "wall_s")]
    summary: dict[str, Any] = {}
    for key in keys:
        values = [f[key] for f in folds if isinstance(f.get(key), (int, float))]
        if key == "train_time_s":
            summary[key] = round(sum(values), 2)
            continue
        summary[key] = statistics.fmean(values)
        if key.startswith(("val_", "test_")) and "loss" not in key and len(values) > 1:
            summary[f"{key}_std"] = statistics.stdev(values)
    summary["folds"] = len(folds)
    for key in [k for k in keys if k.startswith("test_")]:
        summary[f"fold_{key}"] = [f.get(key) for f in folds]
    return summary


# --------------------------------------------------------------------------- the notes' Keras model


def _run_keras(config: Config, path: Path, info: dict[str, Any], *, verbose: int | str) -> RunResult:
    """The notes' Keras sentiment model, trained with ``model.fit`` and scored with ``model.evaluate``."""
    from seqlab.keras import load_model
    from seqlab.keras.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
    from seqlab.train.callbacks import JSONLLogger
    from seqlab.train.engine import seed_everything

    data, t = config.data, config.train
    train_split = load_split(config, data.train_split, training=True)
    if len(train_split.class_names) != 2:
        raise ConfigurationError(
            f"model.kind='keras_lstm' is the notes' binary model (Dense(1, sigmoid)), but {data.dataset} has "
            f"{len(train_split.class_names)} classes; use a binary dataset (sst2, mr, subj, cr, mpqa)."
        )
    vocab = build_vocabulary(config, train_split)  # max_features = data.max_vocab_size (Keras' num_words)
    # Keras pads every sequence to one length: data.max_length, else the longest training sentence.
    maxlen = data.max_length or max(1, max(len(tokens) for tokens in train_split.tokens))
    info.update({"vocab_size": len(vocab), "num_classes": 2, "class_names": train_split.class_names,
                 "maxlen": maxlen, "model_file": KERAS_MODEL_FILE})
    init_run_dir(path, config, info=info)
    vocab.save(path / VOCAB_FILE)
    x_train, y_train = keras_arrays(train_split, vocab, maxlen)
    validation = None
    if data.eval_split:
        validation = keras_arrays(load_split(config, data.eval_split), vocab, maxlen)

    seed_everything(t.seed)
    model = build_keras_model(config, len(vocab))
    model_file = path / KERAS_MODEL_FILE
    callbacks: list[Any] = [CSVLogger(path / "metrics.csv"), JSONLLogger(path / "metrics.jsonl")]
    best_only = t.restore_best and validation is not None
    if best_only:
        callbacks.append(ModelCheckpoint(model_file, monitor=t.monitor, save_best_only=True))
    if t.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(monitor=t.monitor, patience=t.early_stopping_patience))
    if t.max_time_s is not None:
        callbacks.append(TimeLimit(t.max_time_s))
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=data.batch_size, epochs=t.epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation)
    train_time = time.perf_counter() - start
    if best_only and model_file.is_file():
        model = load_model(model_file, compile=False)  # the best epoch by train.monitor
        _compile_like(model, config)
    else:
        model.save(model_file)

    metrics: dict[str, Any] = {"train_loss": history.history["loss"][-1]}
    if validation is not None:
        logs = model.evaluate(*validation, batch_size=data.eval_batch_size, verbose=0, return_dict=True)
        metrics.update({f"val_{k}": v for k, v in logs.items()})
    if data.test_split:
        x_test, y_test = keras_arrays(load_split(config, data.test_split), vocab, maxlen)
        logs = model.evaluate(x_test, y_test, batch_size=data.eval_batch_size, verbose=0, return_dict=True)
        metrics.update({f"test_{k}": v for k, v in logs.items()})
    metrics["epochs"] = len(history.history["loss"])
    metrics["train_time_s"] = round(train_time, 2)
    plots = _write_plots(path, config)
    return _finish_run(path, config, metrics, plots)


def _compile_like(model, config: Config) -> None:
    """Compile a reloaded Keras model as :func:`~seqlab.recipes.build.build_keras_model` does."""
    from seqlab.keras import optimizers

    t = config.train
    model.compile(loss="binary_crossentropy", metrics=["accuracy"], device=t.device,
                  optimizer=optimizers.OPTIMIZERS[t.optimizer](learning_rate=t.lr, clipnorm=t.grad_clip_norm))


# --------------------------------------------------------------------------- plots


def _write_plots(path: Path, config: Config) -> list[Path]:
    """Learning curves from ``metrics.jsonl`` (complete also after a resume) into ``plots/``.

    Skipped when matplotlib is not installed (it is not a core dependency).
    """
    try:
        from seqlab.diagnostics.plots import plot_learning_curves
    except ImportError:
        return []
    log = path / "metrics.jsonl"
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    written = []
    second = "perplexity" if is_language_model(config.model) else "accuracy"
    for name in ("loss", second):
        curves = {key: [r[key] for r in rows if key in r and _finite(r[key])] for key in (name, f"val_{name}")}
        curves = {k: v for k, v in curves.items() if v}
        if curves:
            written.append(plot_learning_curves(
                curves, path / PLOTS_DIR / f"{name}.png", xlabel="epoch", ylabel=name,
                title=f"{config.recipe.name}: {name}"))
    return written


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _finish_run(path: Path, config: Config, metrics: dict[str, Any], plots: list[Path]) -> RunResult:
    """The run's :class:`RunResult`, also written to ``results.json`` (headline beside the reference)."""
    result = RunResult(path, config, metrics, headline(config, metrics), config.recipe.reference)
    write_json(
        path / RESULTS_FILE,
        {"recipe": config.recipe.name, "metric": config.recipe.metric, "headline": result.headline,
         "reference": result.reference, "citation": config.recipe.citation, "metrics": metrics,
         "plots": [str(p.relative_to(path)) for p in plots]},
    )
    return result
