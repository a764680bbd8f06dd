"""Run a recipe end to end: data → artifacts → model → fit → best weights → val/test numbers.

This is what ``seqlab run`` calls; from Python::

    from seqlab.recipes.registry import load_recipe
    from seqlab.recipes.runner import run_recipe
    result = run_recipe(load_recipe("lstm-sst2"), runs_root="runs")
    result.metrics["test_accuracy"], result.run_dir

The runner knows only the task interface (:class:`seqlab.tasks.base.Task`): the task of
``recipe.task`` loads the data, builds its artifacts (a vocabulary ...) and the model, fits it
(``seqlab.train.Trainer``, or ``model.fit`` for the notes' Keras model) and scores it, and
adds its own figures (a language model's gradient flow). Everything the run needs later
(``seqlab eval``, ``predict``, ``generate``, :func:`seqlab.tasks.load_run`) lands in the run
directory (layout in :mod:`seqlab.train.runs`).

A task may ask for cross-validation (:meth:`~seqlab.tasks.base.Task.folds`; Kim 2014 on MR,
Subj, CR, MPQA, which have no test split, with ``data.cv_fold = none``): then every fold is
a complete run directory, ``RUN_DIR/fold-<k>/``, and ``RUN_DIR`` holds the config and a
``results.json`` with every fold's numbers and their mean ± std (sample standard deviation
over folds). ``--resume RUN_DIR`` skips finished folds and continues an interrupted one.

Under ``torchrun --nproc_per_node=N -m seqlab run RECIPE`` (``WORLD_SIZE > 1``) every process
runs this same script: the process group is initialised first, rank 0 picks the run directory
and the others use its name, the training data is sharded per rank (the task's
``loader(distributed=...)``), the model is trained with ``DistributedDataParallel``
(:class:`~seqlab.train.Trainer`), every rank loads rank 0's best checkpoint after a barrier
and evaluates (sums reduced over ranks), and only rank 0 writes files; every rank returns
the same :class:`RunResult`. What a task cannot run under torchrun it refuses first
(:meth:`~seqlab.tasks.base.Task.check_distributed`).
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
from seqlab.config import Config, load_config, save_config, to_dict
from seqlab.errors import ConfigurationError
from seqlab.tasks import task_for
from seqlab.tasks.base import Task, format_metric, headline
from seqlab.train.distributed import DistributedContext, barrier, run_on_main
from seqlab.train.runs import (
    CONFIG_FILE,
    PLOTS_DIR,
    RESULTS_FILE,
    RUN_INFO_FILE,
    init_run_dir,
    new_run_dir,
    read_json,
    write_json,
)

__all__ = ["RunResult", "run_recipe", "fold_dir"]


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
        ConfigurationError: conflicting keys (the task's ``check_config``), a ``resume``
            directory that is not a run, or a run its task cannot resume (``check_resume``).
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
    task = task_for(config)
    task.check_config(config)
    if resume is not None:
        task.check_resume(config, path)
    from seqlab.train.engine import resolve_device

    distributed = DistributedContext.from_env()
    if distributed.enabled:
        task.check_distributed(config)  # every rank refuses alike, before anything is written
    # fail on a bad device before anything is written
    resolved = resolve_device(config.train.device, distributed.local_rank if distributed.enabled else None)
    if config.train.num_threads is not None:
        torch.set_num_threads(config.train.num_threads)
    if distributed.enabled:
        # Early, so that run_on_main/barrier can coordinate the ranks from here on; the
        # Trainer finds the group initialised and reuses it.
        distributed.init_process_group(resolved)
        info["world_size"] = distributed.world_size
    if path is None:
        # one name for all ranks: new_run_dir looks at the clock and at what already exists
        path = run_on_main(lambda: new_run_dir(config.recipe.name, runs_root))
    if task.folds(config) is not None:
        return _run_folds(task, config, path, info, resume=resume is not None, verbose=verbose)
    return _train_one(task, config, path, info, resume=resume is not None, verbose=verbose)


# --------------------------------------------------------------------------- one run


def _train_one(task: Task, config: Config, path: Path, info: dict[str, Any], *, resume: bool,
               verbose: int | str) -> RunResult:
    """One run directory: the task's data, artifacts and model, fitted and scored."""
    from seqlab.train.engine import seed_everything

    distributed = DistributedContext.from_env()
    train_split = task.load_split(config, config.data.train_split, training=True)
    prepared = None  # on resume the checkpoint holds what prepare() read
    if resume:
        artifacts = task.load_artifacts(path, config, info)
    else:
        artifacts = task.build_artifacts(config, train_split)
        info.update(task.run_info(config, train_split, artifacts))
        prepared = task.prepare(config, train_split, artifacts, info)  # before the run directory: a bad file
        # leaves nothing behind (every rank: each model needs it)

        def create_run_dir() -> None:
            init_run_dir(path, to_dict(config), info=info)
            task.save_artifacts(artifacts, path)

        run_on_main(create_run_dir)  # rank 0 writes; "already holds a run" is raised on every rank

    options = task.loader_options(config, info)

    def loader(split: str, training: bool = False):
        data = train_split if training else task.load_split(config, split)
        return task.loader(config, data, artifacts, training=training, distributed=distributed, **options)

    train_loader = loader(config.data.train_split, training=True)
    val_loader = loader(config.data.eval_split) if config.data.eval_split else None

    seed_everything(config.train.seed)  # before the model: its initial weights come from the seed
    model = task.build_model(config, artifacts, info, prepared)
    start = time.perf_counter()
    fitted = task.fit(config, model, train_loader, val_loader, run_dir=path, resume=resume, verbose=verbose)
    train_time = time.perf_counter() - start
    barrier()  # under torchrun: rank 0 has written its last checkpoint before anyone reads it

    metrics: dict[str, Any] = {}
    if fitted.train_loss is not None:
        metrics["train_loss"] = fitted.train_loss
    fitted.finalize(config.train.restore_best)
    # Every rank evaluates (the engine reduces the sums over ranks, so each gets the global mean).
    if val_loader is not None:
        metrics.update({f"val_{k}": v for k, v in fitted.evaluate(val_loader).items()})
    if config.data.test_split:
        metrics.update({f"test_{k}": v for k, v in fitted.evaluate(loader(config.data.test_split)).items()})
    metrics["epochs"] = fitted.epochs
    metrics["train_time_s"] = round(train_time, 2)

    def write_results() -> RunResult:
        plots = _write_plots(path, config, task.curve_metric(config))
        plots.extend(task.extra_plots(fitted.model, val_loader, path))
        return _finish_run(path, config, metrics, plots)

    return run_on_main(write_results)  # rank 0 writes; every rank returns its RunResult


# --------------------------------------------------------------------------- cross-validation


def _run_folds(task: Task, config: Config, path: Path, info: dict[str, Any], *, resume: bool,
               verbose: int | str) -> RunResult:
    """Every fold of :meth:`Task.folds` in turn, each a full run in ``path/fold-<k>``."""
    n = task.folds(config)
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
        fold_config = task.fold_config(config, k)
        start = time.perf_counter()
        if (directory / RESULTS_FILE).is_file():  # finished before an interruption
            stored = read_json(directory / RESULTS_FILE)
            metrics, value = stored["metrics"], stored["headline"]
            wall = stored.get("wall_s")
        else:
            fold_info = {**info, "cross_validation": {"fold": k, "folds": n, "parent": str(path)}}
            if (directory / CONFIG_FILE).is_file():
                fold_info = read_json(directory / RUN_INFO_FILE)
            result = _train_one(task, fold_config, directory, fold_info, resume=(directory / CONFIG_FILE).is_file(),
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
         "cross_validation": {"folds": n, **task.cross_validation_info(config),
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


# --------------------------------------------------------------------------- plots


def _write_plots(path: Path, config: Config, second: str) -> list[Path]:
    """Learning curves of the loss and of ``second`` from ``metrics.jsonl`` (complete also after a
    resume) into ``plots/``."""
    from seqlab.diagnostics.plots import plot_learning_curves

    log = path / "metrics.jsonl"
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    written = []
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
