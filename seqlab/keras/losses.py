"""Keras loss names and classes, resolved to ``seqlab.train.losses`` functions.

Keras' losses take ``(y_true, y_pred)``; the engine's take ``(output, targets)``.  Names and the
classes below follow Keras (``BinaryCrossentropy(from_logits=False)`` ...) and return engine
losses.  A plain Python function passed to ``compile(loss=fn)`` is called the Keras way,
``fn(y_true, y_pred)``; a ``torch.nn.Module`` loss (``nn.CrossEntropyLoss()``) the torch way,
``module(y_pred, y_true)``.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import Tensor, nn

from seqlab.errors import ConfigurationError
from seqlab.train import losses as engine_losses

__all__ = [
    "LOSSES", "BinaryCrossentropy", "CategoricalCrossentropy", "MeanAbsoluteError",
    "MeanSquaredError", "SparseCategoricalCrossentropy", "Huber", "get",
]

#: Keras loss name -> engine loss ``(output, targets) -> scalar``.
LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "binary_crossentropy": engine_losses.binary_crossentropy,
    "categorical_crossentropy": engine_losses.categorical_crossentropy,
    "sparse_categorical_crossentropy": engine_losses.sparse_categorical_crossentropy,
    "mse": engine_losses.mse,
    "mean_squared_error": engine_losses.mse,
    "mae": engine_losses.mae,
    "mean_absolute_error": engine_losses.mae,
    "huber": engine_losses.huber,
}


class _Loss:
    """A Keras loss object; ``loss(output, targets)`` in the engine's order."""

    name = "loss"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = from_logits

    def __call__(self, output: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError


class BinaryCrossentropy(_Loss):
    """Probabilities (sigmoid outputs) by default; ``from_logits=True`` for raw scores."""

    name = "binary_crossentropy"

    def __call__(self, output, targets):
        fn = engine_losses.bce_with_logits if self.from_logits else engine_losses.binary_crossentropy
        return fn(output, targets)


class CategoricalCrossentropy(_Loss):
    """One-hot targets; probabilities by default, logits with ``from_logits=True``."""

    name = "categorical_crossentropy"

    def __call__(self, output, targets):
        if self.from_logits:
            return engine_losses.cross_entropy(output, targets.to(output.dtype))
        return engine_losses.categorical_crossentropy(output, targets)


class SparseCategoricalCrossentropy(_Loss):
    """Integer class ids; probabilities by default, logits with ``from_logits=True``."""

    name = "sparse_categorical_crossentropy"

    def __call__(self, output, targets):
        if self.from_logits:
            return engine_losses.cross_entropy(output, targets)
        return engine_losses.sparse_categorical_crossentropy(output, targets)


class MeanSquaredError(_Loss):
    name = "mse"

    def __call__(self, output, targets):
        return engine_losses.mse(output, targets)


class MeanAbsoluteError(_Loss):
    name = "mae"

    def __call__(self, output, targets):
        return engine_losses.mae(output, targets)


class Huber(_Loss):
    name = "huber"

    def __call__(self, output, targets):
        return engine_losses.huber(output, targets)


def get(loss: Any) -> Callable[[Tensor, Tensor], Tensor]:
    """A loss in the engine's ``(output, targets)`` order from a Keras name, object or function."""
    if isinstance(loss, str):
        key = loss.lower()
        if key not in LOSSES:
            raise ConfigurationError(f"unknown loss {loss!r}; valid names: {sorted(LOSSES)} (or a loss object/function)")
        return LOSSES[key]
    if isinstance(loss, (_Loss, nn.Module)):
        return loss
    if callable(loss):
        def keras_order(output: Tensor, targets: Tensor) -> Tensor:
            value = loss(targets, output)  # Keras: fn(y_true, y_pred)
            return value.mean() if value.dim() else value

        keras_order.__name__ = getattr(loss, "__name__", "loss")
        return keras_order
    raise ConfigurationError(f"loss must be a name {sorted(LOSSES)}, a loss object or a function, got {type(loss).__name__}")


def name_of(loss: Any) -> str | None:
    """The Keras name of a loss given by name, or None."""
    return loss.lower() if isinstance(loss, str) else None
