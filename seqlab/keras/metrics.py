"""Keras metric names resolved to ``seqlab.train.metrics`` objects (accumulated on the device).

``"accuracy"`` / ``"acc"`` pick the right accuracy from the output's shape, as Keras does from
the loss: argmax for (B, C) outputs with integer or one-hot targets, a 0.5 threshold for a
sigmoid output.  Each name is logged under the name given (``acc`` stays ``acc``).
"""

from __future__ import annotations

from typing import Any

from seqlab.errors import ConfigurationError
from seqlab.train import metrics as engine_metrics
from seqlab.train.metrics import Metric

__all__ = ["METRICS", "get"]

#: Keras metric name -> factory of an engine Metric.
METRICS: dict[str, Any] = {
    "accuracy": lambda name, loss: engine_metrics.Accuracy(
        name, from_logits=_from_logits(loss)),
    "acc": lambda name, loss: engine_metrics.Accuracy(name, from_logits=_from_logits(loss)),
    "binary_accuracy": lambda name, loss: engine_metrics.BinaryAccuracy(name),
    "categorical_accuracy": lambda name, loss: engine_metrics.Accuracy(name),
    "sparse_categorical_accuracy": lambda name, loss: engine_metrics.Accuracy(name),
    "mse": lambda name, loss: engine_metrics.MeanSquaredError(name),
    "mean_squared_error": lambda name, loss: engine_metrics.MeanSquaredError(name),
    "mae": lambda name, loss: engine_metrics.MeanAbsoluteError(name),
    "mean_absolute_error": lambda name, loss: engine_metrics.MeanAbsoluteError(name),
}


def _from_logits(loss: Any) -> bool | None:
    """Keras' probability losses mean probability outputs: threshold 0.5, never 0."""
    if isinstance(loss, str) and loss.lower() in ("binary_crossentropy", "categorical_crossentropy",
                                                  "sparse_categorical_crossentropy"):
        return False
    from_logits = getattr(loss, "from_logits", None)
    return from_logits if isinstance(from_logits, bool) else None


def get(metric: Any, loss: Any = None) -> Metric:
    """A fresh engine ``Metric`` for a Keras metric name, or the ``Metric`` object itself."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str) and metric.lower() in METRICS:
        return METRICS[metric.lower()](metric, loss)
    raise ConfigurationError(
        f"unknown metric {metric!r}; valid names: {sorted(METRICS)} (or a seqlab.train.metrics.Metric)"
    )
