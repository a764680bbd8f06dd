"""Keras optimizers with Keras' defaults, built as torch optimizers.

``compile(optimizer="rmsprop")`` gives ``RMSprop()``: learning_rate 0.001, rho 0.9, epsilon 1e-7
(torch's own RMSprop default lr is 0.01 — the difference matters for the notes' model).
Defaults (Keras 3): ``sgd`` lr 0.01; ``rmsprop`` lr 0.001, rho 0.9, eps 1e-7; ``adam`` lr
0.001, betas (0.9, 0.999), eps 1e-7; ``adamw`` also weight_decay 0.004; ``adagrad`` lr 0.001,
initial accumulator 0.1, eps 1e-7; ``adadelta`` lr 0.001, rho 0.95, eps 1e-7.

The update rules are torch's.  They equal Keras' except where epsilon enters Adam: Keras adds
it to sqrt(v) before the bias correction, torch after — a difference of order 1e-7 per step.
``clipnorm`` clips the global gradient norm (the engine's ``grad_clip_norm``).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from seqlab.errors import ConfigurationError
from seqlab.train.optim import build_optimizer

__all__ = ["OPTIMIZERS", "Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "get"]


class Optimizer:
    """A Keras optimizer description; ``build(params)`` makes the torch optimizer."""

    _name = ""

    def __init__(self, learning_rate: float, clipnorm: float | None = None, **options: Any) -> None:
        if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
            raise ConfigurationError(f"{type(self).__name__}(learning_rate={learning_rate!r}): must be a positive number")
        if clipnorm is not None and not clipnorm > 0:
            raise ConfigurationError(f"{type(self).__name__}(clipnorm={clipnorm!r}): must be positive or None")
        self.learning_rate = float(learning_rate)
        self.clipnorm = clipnorm
        self.options = options

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return build_optimizer(self._name, params, lr=self.learning_rate, style="keras", options=self.options)

    def get_config(self) -> dict:
        return {"name": self._name, "learning_rate": self.learning_rate, "clipnorm": self.clipnorm, **self.options}


class SGD(Optimizer):
    _name = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 clipnorm: float | None = None) -> None:
        super().__init__(learning_rate, clipnorm, momentum=momentum, nesterov=nesterov)


class RMSprop(Optimizer):
    _name = "rmsprop"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, clipnorm: float | None = None) -> None:
        super().__init__(learning_rate, clipnorm, alpha=rho, momentum=momentum, eps=epsilon, centered=centered)


class Adam(Optimizer):
    _name = "adam"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, clipnorm: float | None = None) -> None:
        super().__init__(learning_rate, clipnorm, betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad)


class AdamW(Optimizer):
    _name = "adamw"

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 clipnorm: float | None = None) -> None:
        super().__init__(learning_rate, clipnorm, weight_decay=weight_decay, betas=(beta_1, beta_2),
                         eps=epsilon, amsgrad=amsgrad)


class Adagrad(Optimizer):
    _name = "adagrad"

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, clipnorm: float | None = None) -> None:
        super().__init__(learning_rate, clipnorm, initial_accumulator_value=initial_accumulator_value, eps=epsilon)


class Adadelta(Optimizer):
    _name = "adadelta"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 clipnorm: float | None = None) -> None:
        super().__init__(learning_rate, clipnorm, rho=rho, eps=epsilon)


#: Keras optimizer name -> class (constructed with Keras' defaults).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad, "adadelta": Adadelta,
}


class _Prebuilt(Optimizer):
    """Wraps a torch optimizer instance or a factory ``params -> Optimizer``."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.clipnorm = None

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return build_optimizer(self.spec, params)


def get(optimizer: Any) -> Optimizer:
    """An optimizer description from a Keras name, a Keras optimizer, a torch optimizer or a factory."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise ConfigurationError(
                f"unknown optimizer {optimizer!r}; valid names: {sorted(OPTIMIZERS)} (or an optimizer object)"
            )
        return OPTIMIZERS[key]()
    if isinstance(optimizer, torch.optim.Optimizer) or callable(optimizer):
        return _Prebuilt(optimizer)
    raise ConfigurationError(
        f"optimizer must be a name {sorted(OPTIMIZERS)}, a seqlab.keras.optimizers object, a torch optimizer "
        f"or a factory params -> Optimizer; got {type(optimizer).__name__}"
    )
