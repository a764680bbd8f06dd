"""Keras callback names on the seqlab.train engine.

``EarlyStopping``, ``LearningRateScheduler``, ``CSVLogger``, ``TensorBoard``, ``History`` and
``Callback`` are the engine's own (Keras semantics and argument names).  ``ModelCheckpoint``
here is Keras' — ``ModelCheckpoint(filepath, monitor, save_best_only, save_weights_only)``
writing ``model.save`` files (``filepath`` may contain ``{epoch}`` and log keys such as
``{val_loss:.2f}``) — while the engine's resumable training checkpoint stays available as
``seqlab.train.callbacks.ModelCheckpoint``.  ``ReduceLROnPlateau`` follows Keras' arguments.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from seqlab.errors import ConfigurationError
from seqlab.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LearningRateScheduler,
    TensorBoard,
)

__all__ = ["Callback", "CSVLogger", "EarlyStopping", "History", "LearningRateScheduler", "ModelCheckpoint",
           "ReduceLROnPlateau", "TensorBoard"]


def _mode(mode: str, monitor: str) -> str:
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    if mode not in ("min", "max"):
        raise ConfigurationError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _monitored(logs: Mapping[str, Any] | None, monitor: str, who: str) -> float:
    logs = dict(logs or {})
    if monitor not in logs:
        raise ConfigurationError(
            f"{who}: the monitored value {monitor!r} is not in the epoch logs {sorted(logs)}; pass "
            "validation data for val_* values or choose one of the logged keys"
        )
    return float(logs[monitor])


class ModelCheckpoint(Callback):
    """Keras' ModelCheckpoint: save the model (or its weights) after epochs.

    Args:
        filepath: target file; may contain ``{epoch}`` (1-based, as Keras) and log keys.
        monitor, mode: what ``save_best_only`` compares (``mode="auto"``: max for accuracies).
        save_best_only: only save when ``monitor`` improved.
        save_weights_only: write a bare safetensors weights file instead of ``model.save``.
    """

    def __init__(self, filepath: str | Path, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str = "epoch") -> None:
        if save_freq != "epoch":
            raise ConfigurationError(f"ModelCheckpoint(save_freq={save_freq!r}): only 'epoch' is supported")
        self.filepath = str(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = _mode(mode, monitor)
        self.best = math.inf if self.mode == "min" else -math.inf

    @property
    def state_key(self) -> str:
        return f"KerasModelCheckpoint:{self.filepath}"

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        path = Path(self.filepath.format(epoch=epoch + 1, **dict(logs or {})))
        model = self.trainer.model
        if self.save_weights_only:
            model.save_weights(path)
        else:
            model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = float(state["best"])


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> None:
        if not 0.0 < factor < 1.0:
            raise ConfigurationError(f"ReduceLROnPlateau(factor={factor!r}): must be in (0, 1)")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode = _mode(mode, monitor)
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if isinstance(logs, dict):  # as Keras 3: History then records the rate this epoch ran with
            logs["learning_rate"] = float(self.trainer.optimizer.param_groups[0]["lr"])
        value = _monitored(logs, self.monitor, "ReduceLROnPlateau")
        improved = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if improved:
            self.best = value
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            for group in self.trainer.optimizer.param_groups:
                group["lr"] = max(group["lr"] * self.factor, self.min_lr)
            if self.verbose:
                print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                      f"{self.trainer.optimizer.param_groups[0]['lr']:g}")
            self.cooldown_counter = self.cooldown
            self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.wait, self.cooldown_counter = float(state["best"]), int(state["wait"]), int(state["cooldown_counter"])
