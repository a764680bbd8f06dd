"""Callbacks: hooks the engine calls around training (Keras' callback protocol).

Hooks, in order: ``on_train_begin`` → per epoch ``on_epoch_begin(epoch)`` → per batch
``on_batch_begin(batch)`` / ``on_batch_end(batch, logs)`` → ``on_epoch_end(epoch, logs)``
→ ``on_train_end``.  ``epoch`` and ``batch`` are 0-based.  Epoch ``logs`` hold
``loss``, the metrics and ``val_*`` (global values under DDP) — the keys of Keras'
History; ``LearningRateScheduler`` adds ``learning_rate`` as in Keras, and the file
loggers (CSV, JSONL, TensorBoard) also record ``lr`` (``trainer.epoch_lr``).  Batch ``logs``
hold ``size`` (samples) and ``tokens`` (target tokens for ``(B, T)`` targets, else
``None``) — call ``trainer.running_logs()`` for running values (costs a sync).

A callback stops training with ``self.trainer.stop_training = True`` (under torchrun a
request from any rank stops every rank after the same step).  Callbacks that
keep state across epochs return it from ``state_dict`` so that a resumed run
continues exactly (it is stored in every checkpoint).  Callbacks run sorted by
``order``: user callbacks, ``History`` (after them, as in Keras, so that it records
what they add to the logs), progress bar and loggers, ``ModelCheckpoint`` last (so
that a checkpoint holds every other callback's state for the epoch it closes).
Files are written by rank 0 only (``trainer.is_main_process``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from seqlab.errors import ConfigurationError

if TYPE_CHECKING:
    from seqlab.train.engine import Trainer

__all__ = ["TimeLimit", "Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
           "CSVLogger", "JSONLLogger", "TensorBoard"]


class Callback:
    """Base class; override the hooks you need.  ``self.trainer`` is set by the engine.

    Keras spellings work too: ``self.model`` is ``self.trainer.model`` (and
    ``self.model.stop_training = True`` stops training), and ``on_train_batch_begin/end``
    are called for every training batch (by default they call ``on_batch_begin/end``).
    """

    order: int = 0
    trainer: Trainer

    @property
    def model(self) -> torch.nn.Module:
        """The model being trained (Keras' ``callback.model``)."""
        return self.__dict__.get("_model") or self.trainer.model

    @model.setter
    def model(self, value: torch.nn.Module) -> None:
        self.__dict__["_model"] = value

    @property
    def state_key(self) -> str:
        """Name under which ``state_dict`` is stored in checkpoints."""
        return type(self).__name__

    def set_trainer(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None: ...
    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.on_batch_end(batch, logs)

    def state_dict(self) -> dict[str, Any]:
        """State to store in checkpoints (tensors, numbers, strings, lists, dicts)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


def _overrides(cb: Callback, *names: str) -> bool:
    return any(getattr(type(cb), n) is not getattr(Callback, n) for n in names)


class CallbackList:
    """Calls every callback's hook in ``order``."""

    def __init__(self, callbacks: Sequence[Callback], trainer: Trainer) -> None:
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise ConfigurationError(f"callbacks must be seqlab.train.Callback objects, got {type(cb).__name__}")
        self.callbacks = sorted(callbacks, key=lambda c: c.order)
        for cb in self.callbacks:
            cb.set_trainer(trainer)
        # Per-batch hooks run every step: call only the callbacks that override them.
        self._batch_begin = [cb for cb in self.callbacks if _overrides(cb, "on_batch_begin", "on_train_batch_begin")]
        self._batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_batch_end", "on_train_batch_end")]

    def __iter__(self):
        return iter(self.callbacks)

    def _keys(self) -> list[str]:
        keys, counts = [], {}
        for cb in self.callbacks:
            n = counts.get(cb.state_key, 0)
            counts[cb.state_key] = n + 1
            keys.append(cb.state_key if n == 0 else f"{cb.state_key}#{n}")
        return keys

    def state_dict(self) -> dict[str, Any]:
        return {k: cb.state_dict() for k, cb in zip(self._keys(), self.callbacks)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for k, cb in zip(self._keys(), self.callbacks):
            if k in state:
                cb.load_state_dict(state[k])

    def on_train_begin(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        for cb in self._batch_begin:
            cb.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, logs)


class History(Callback):
    """Keras' History: ``history.history["loss"]`` is the list of epoch losses; ``history.epoch`` the epochs.

    The keys are Keras': ``loss``, the metrics, ``val_*``, and ``learning_rate`` only when a
    callback such as ``LearningRateScheduler`` puts it into the logs (it runs after the user
    callbacks, as Keras' History does).
    """

    order = 30

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        if not getattr(self.trainer, "resumed", False):
            self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def state_dict(self):
        return {"history": {k: list(v) for k, v in self.history.items()}, "epoch": list(self.epoch)}

    def load_state_dict(self, state):
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = list(state["epoch"])


def _resolve_mode(mode: str, monitor: str) -> str:
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    if mode not in ("min", "max"):
        raise ConfigurationError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras semantics).

    An improvement is a change of more than ``min_delta`` in the right direction
    (``mode`` ``"min"``/``"max"``/``"auto"``: max for accuracies).  With
    ``restore_best_weights`` the model gets the weights of the best epoch back when
    training is stopped by this callback (as in Keras; when training ends by
    reaching ``epochs`` the last weights stay).  ``baseline``: training stops unless
    the monitored value beats it within ``patience`` epochs.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:  # Keras' argument order
        if patience < 0:
            raise ConfigurationError(f"patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.mode = _resolve_mode(mode, monitor)
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.baseline = baseline
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = -1
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_weights: dict[str, torch.Tensor] | None = None

    def _improved(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        if not getattr(self.trainer, "resumed", False):
            self._reset()

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"EarlyStopping monitors {self.monitor!r}, which is not among the logged values "
                f"{sorted(logs or {})}; pass monitor=one of those (val_* needs val_data)",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._weights()
        self.wait += 1
        if self._improved(value, self.best):
            self.best = value
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.trainer.model.load_state_dict(self.best_weights)
            if self.verbose and self.trainer.is_main_process:
                print(f"EarlyStopping: stopped at epoch {epoch}; best {self.monitor}={self.best:.6g} "
                      f"at epoch {self.best_epoch}")

    def _weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.trainer.model.state_dict().items()}

    def state_dict(self):
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state):
        self.wait = state["wait"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        bw = state.get("best_weights")
        self.best_weights = None if bw is None else {k: v.clone() for k, v in bw.items()}


class ModelCheckpoint(Callback):
    """Write resumable checkpoints: ``last.safetensors`` every epoch and ``best.safetensors``.

    Files go to ``dirpath`` (default ``trainer.run_dir/checkpoints``).  ``best`` is
    written when ``monitor`` improves (``"val_loss"`` falls back to ``"loss"`` when there
    is no validation data); ``last`` after every epoch and, with ``every_n_steps``,
    every N optimizer steps (mid-epoch, resumable to the batch).  Both hold the full
    training state (see ``Trainer.state_dict``); ``seqlab.train.load_model_weights``
    reads just the weights.  A NaN/inf loss stops training before anything is
    written, so a good checkpoint is never overwritten.
    """

    order = 100

    def __init__(self, dirpath: str | Path | None = None, *, monitor: str = "val_loss", mode: str = "auto",
                 save_best: bool = True, save_last: bool = True, every_n_steps: int | None = None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ConfigurationError(f"every_n_steps must be >= 1 or None, got {every_n_steps}")
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.monitor = monitor
        self.mode_arg = mode
        self.save_best = save_best
        self.save_last = save_last
        self.every_n_steps = every_n_steps
        self.best: float | None = None

    @property
    def directory(self) -> Path:
        if self.dirpath is not None:
            return self.dirpath
        if self.trainer.checkpoint_dir is None:
            raise ConfigurationError("ModelCheckpoint needs a dirpath or a Trainer with run_dir")
        return self.trainer.checkpoint_dir

    @property
    def last_path(self) -> Path:
        return self.directory / "last.safetensors"

    @property
    def best_path(self) -> Path:
        return self.directory / "best.safetensors"

    def on_train_begin(self, logs=None):
        self.directory  # noqa: B018 - fail early without a directory
        if not getattr(self.trainer, "resumed", False):
            self.best = None

    def on_batch_end(self, batch, logs=None):
        if self.every_n_steps and self.save_last and self.trainer.global_step % self.every_n_steps == 0:
            self.trainer.save_checkpoint(self.last_path)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.save_best:
            key = self.monitor if self.monitor in logs else ("loss" if self.monitor == "val_loss" else None)
            if key is None:
                warnings.warn(f"ModelCheckpoint monitors {self.monitor!r}, not among {sorted(logs)}", stacklevel=2)
            else:
                value = logs[key]
                mode = _resolve_mode(self.mode_arg, key)
                if self.best is None or (value < self.best if mode == "min" else value > self.best):
                    self.best = value
                    self.trainer.save_checkpoint(self.best_path, metrics=logs)
        if self.save_last:
            self.trainer.save_checkpoint(self.last_path, metrics=logs)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state.get("best")


class LearningRateScheduler(Callback):
    """Keras' LearningRateScheduler: ``schedule(epoch, lr) -> new lr`` at every epoch start.

    Like Keras 3 it adds ``learning_rate`` (the epoch's rate) to the epoch logs.
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0) -> None:
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_end(self, epoch, logs=None):
        # Keras 3 logs the learning rate of the epoch under "learning_rate" (History records it).
        if logs is not None:
            logs["learning_rate"] = self.trainer.epoch_lr

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, self.trainer.lr))
        if not (lr > 0 and math.isfinite(lr)):
            raise ConfigurationError(f"the LR schedule returned {lr!r} for epoch {epoch}; expected a positive float")
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = lr
        if self.verbose and self.trainer.is_main_process:
            print(f"epoch {epoch}: learning rate {lr:.6g}")


def _with_lr(trainer: Trainer, logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The epoch logs plus ``lr``, the learning rate the epoch ran with (useful in run files;
    not an epoch-log key, so Keras' History keys stay Keras')."""
    out = dict(logs or {})
    out.setdefault("lr", trainer.epoch_lr)
    return out


def _truncate_log(path: Path, keep: Callable[[str], bool]) -> None:
    """Keep the lines of ``path`` for which ``keep(line)`` is true (used on resume)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if keep(line)]
    if len(kept) != len(lines):
        path.write_text("".join(kept))


class CSVLogger(Callback):
    """One CSV row per epoch: ``epoch`` then the sorted log keys (Keras' format) and ``lr``.

    Default file ``run_dir/metrics.csv``.  On resume, rows of epochs that will be
    re-run are dropped, so the file matches an uninterrupted run.
    """

    order = 50

    def __init__(self, filename: str | Path | None = None, *, separator: str = ",", append: bool = False) -> None:
        self.filename = None if filename is None else Path(filename)
        self.separator = separator
        self.append = append
        self.keys: list[str] | None = None

    @property
    def path(self) -> Path:
        if self.filename is not None:
            return self.filename
        if self.trainer.run_dir is None:
            raise ConfigurationError("CSVLogger needs a filename or a Trainer with run_dir")
        return self.trainer.run_dir / "metrics.csv"

    def on_train_begin(self, logs=None):
        if not self.trainer.is_main_process:
            return
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if getattr(self.trainer, "resumed", False) or self.append:
            start = self.trainer.epoch
            header_seen = []

            def keep(line: str) -> bool:
                if not header_seen:
                    header_seen.append(line)
                    self.keys = next(csv.reader([line], delimiter=self.separator))[1:]
                    return True
                try:
                    return int(line.split(self.separator, 1)[0]) < start
                except ValueError:
                    return False

            _truncate_log(path, keep)
        else:
            path.write_text("")
            self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if not self.trainer.is_main_process:
            return
        logs = _with_lr(self.trainer, logs)
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.separator, lineterminator="\n")
        if self.keys is None or not self.path.exists() or self.path.stat().st_size == 0:
            self.keys = sorted(logs)
            writer.writerow(["epoch", *self.keys])
        writer.writerow([epoch, *(logs.get(k, "") for k in self.keys)])
        with open(self.path, "a") as f:
            f.write(buf.getvalue())


class JSONLLogger(Callback):
    """One JSON object per epoch (``{"epoch", "step", "time", **logs, "lr"}``) in ``run_dir/metrics.jsonl``.

    On resume, lines of epochs that will be re-run are dropped.
    """

    order = 50

    def __init__(self, filename: str | Path | None = None) -> None:
        self.filename = None if filename is None else Path(filename)

    @property
    def path(self) -> Path:
        if self.filename is not None:
            return self.filename
        if self.trainer.run_dir is None:
            raise ConfigurationError("JSONLLogger needs a filename or a Trainer with run_dir")
        return self.trainer.run_dir / "metrics.jsonl"

    def on_train_begin(self, logs=None):
        if not self.trainer.is_main_process:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if getattr(self.trainer, "resumed", False):
            start = self.trainer.epoch

            def keep(line: str) -> bool:
                try:
                    return json.loads(line)["epoch"] < start
                except (ValueError, KeyError, TypeError):
                    return False

            _truncate_log(self.path, keep)
        else:
            self.path.write_text("")

    def on_epoch_end(self, epoch, logs=None):
        if not self.trainer.is_main_process:
            return
        record = {"epoch": epoch, "step": self.trainer.global_step, "time": round(time.time(), 3),
                  **_with_lr(self.trainer, logs)}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


class TensorBoard(Callback):
    """TensorBoard event files (``torch.utils.tensorboard``; needs the ``tensorboard`` package).

    Scalars ``epoch/<key>`` for every epoch log (``epoch/loss``, ``epoch/val_loss``,
    ``epoch/lr`` ...) at step = epoch; with ``update_freq=N`` also ``batch/loss`` every
    N optimizer steps (this rank's running mean; one sync each time).  Default
    directory ``run_dir/tensorboard`` (``./logs`` without a run directory, as Keras).
    """

    order = 50

    def __init__(self, log_dir: str | Path | None = None, *, update_freq: str | int = "epoch") -> None:
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ConfigurationError(f"update_freq must be 'epoch' or a positive int, got {update_freq!r}")
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.update_freq = update_freq
        self.writer = None

    def on_train_begin(self, logs=None):
        if not self.trainer.is_main_process:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigurationError(
                "the TensorBoard callback needs the tensorboard package: pip install tensorboard"
            ) from None
        log_dir = self.log_dir
        if log_dir is None:  # Keras' default is ./logs
            log_dir = Path("logs") if self.trainer.run_dir is None else self.trainer.run_dir / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def on_batch_end(self, batch, logs=None):
        if self.writer is not None and self.update_freq != "epoch" and self.trainer.global_step % self.update_freq == 0:
            self.writer.add_scalar("batch/loss", self.trainer.running_logs()["loss"], self.trainer.global_step)

    def on_epoch_end(self, epoch, logs=None):
        if self.writer is None:
            return
        for k, v in _with_lr(self.trainer, logs).items():
            self.writer.add_scalar(f"epoch/{k}", v, epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class TimeLimit(Callback):
    """Stop training once ``max_time_s`` seconds of training have passed (checked per step).

    Each rank measures its own clock and only sets ``trainer.stop_training``; the engine
    makes the decision collective (``Trainer._should_stop``: an all-reduce MAX of the stop
    flag at its sync points), so under torchrun every rank stops after the same step as
    soon as any rank is over the limit, instead of one rank leaving the others waiting in
    an all-reduce.  Under DDP the stop may come up to one sync interval (50 steps) later.
    """

    def __init__(self, max_time_s: float) -> None:
        self.max_time_s = max_time_s
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_batch_end(self, batch, logs=None):
        if time.monotonic() - self._start > self.max_time_s:
            self.trainer.stop_training = True
