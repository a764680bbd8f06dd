"""Losses by name.  Every loss is ``loss(output, targets) -> scalar`` (mean over the batch).

Conventions (the class dimension is always the LAST one, as in Keras):

- ``cross_entropy`` / ``sparse_categorical_crossentropy_logits``: logits ``(B, C)`` or
  ``(B, T, V)``, integer targets ``(B,)`` / ``(B, T)`` (``-100`` is ignored, as in
  ``torch.nn.functional.cross_entropy``), or probability targets of the logits' shape.
- ``sparse_categorical_crossentropy`` / ``categorical_crossentropy``: Keras' defaults,
  on PROBABILITIES (softmax outputs), renormalised and clipped to ``[1e-7, 1 - 1e-7]``
  before the log, with integer resp. one-hot targets.
- ``binary_crossentropy``: probabilities, clipped like Keras; ``bce_with_logits``: logits.
  Targets ``(B,)`` and outputs ``(B, 1)`` are matched by reshaping the targets.
- ``nll``: log-probabilities; ``mse``, ``mae``, ``huber``: regression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from seqlab.errors import ConfigurationError, ShapeError

__all__ = ["LOSSES", "get_loss", "EPSILON"]

EPSILON = 1e-7  # Keras backend.epsilon(), used to clip probabilities


def _flat_logits(output: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(…, C) logits and (…) class ids → (N, C), (N); soft targets of the same shape → (N, C), (N, C)."""
    if targets.dtype.is_floating_point and targets.shape == output.shape:
        return output.reshape(-1, output.shape[-1]), targets.reshape(-1, output.shape[-1])
    if output.shape[:-1] != targets.shape:
        raise ShapeError(
            f"class-index targets of shape {tuple(targets.shape)} do not match outputs {tuple(output.shape)}: "
            "expected outputs (..., C) and targets (...) with the same leading dimensions"
        )
    return output.reshape(-1, output.shape[-1]), targets.reshape(-1).long()


def _like_output(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Reshape targets (B,) to outputs (B, 1) (or the reverse) and cast to the output dtype."""
    if targets.shape != output.shape:
        if targets.numel() != output.numel():
            raise ShapeError(
                f"targets of shape {tuple(targets.shape)} cannot be matched to outputs of shape "
                f"{tuple(output.shape)}: they need the same number of elements"
            )
        targets = targets.reshape(output.shape)
    return targets.to(output.dtype)


def cross_entropy(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy on logits ``(..., C)``; targets ``(...)`` ids or ``(..., C)`` probabilities."""
    logits, t = _flat_logits(output, targets)
    return F.cross_entropy(logits, t)


def nll(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood on log-probabilities ``(..., C)`` and ids ``(...)``."""
    logp, t = _flat_logits(output, targets)
    return F.nll_loss(logp, t)


def sparse_categorical_crossentropy(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Keras' ``sparse_categorical_crossentropy`` (from_logits=False): probabilities ``(..., C)``, ids ``(...)``."""
    probs, t = _flat_logits(output, targets)
    probs = probs / probs.sum(dim=-1, keepdim=True)
    return F.nll_loss(torch.log(probs.clamp(EPSILON, 1.0 - EPSILON)), t)


def categorical_crossentropy(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Keras' ``categorical_crossentropy``: probabilities ``(..., C)`` and one-hot/soft targets ``(..., C)``."""
    if targets.shape != output.shape:
        raise ShapeError(
            f"categorical_crossentropy needs one-hot targets of the outputs' shape {tuple(output.shape)}, got "
            f"{tuple(targets.shape)}; for integer class ids use sparse_categorical_crossentropy"
        )
    probs = output / output.sum(dim=-1, keepdim=True)
    logp = torch.log(probs.clamp(EPSILON, 1.0 - EPSILON))
    return -(targets.to(logp.dtype) * logp).sum(dim=-1).mean()


def binary_crossentropy(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Keras' ``binary_crossentropy`` on probabilities, clipped to ``[1e-7, 1 - 1e-7]``."""
    t = _like_output(output, targets)
    p = output.clamp(EPSILON, 1.0 - EPSILON)
    return -(t * torch.log(p) + (1.0 - t) * torch.log1p(-p)).mean()


def bce_with_logits(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sigmoid binary cross-entropy on logits (numerically stable)."""
    return F.binary_cross_entropy_with_logits(output, _like_output(output, targets))


def mse(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error."""
    return F.mse_loss(output, _like_output(output, targets))


def mae(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    return F.l1_loss(output, _like_output(output, targets))


def huber(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Huber loss with delta 1 (Keras' default)."""
    return F.huber_loss(output, _like_output(output, targets), delta=1.0)


LOSSES: dict[str, Callable[[Any, Any], torch.Tensor]] = {
    "cross_entropy": cross_entropy,
    "sparse_categorical_crossentropy_logits": cross_entropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "nll": nll,
    "binary_crossentropy": binary_crossentropy,
    "bce_with_logits": bce_with_logits,
    "mse": mse,
    "mean_squared_error": mse,
    "mae": mae,
    "mean_absolute_error": mae,
    "huber": huber,
}


def get_loss(loss: str | Callable[[Any, Any], torch.Tensor]) -> Callable[[Any, Any], torch.Tensor]:
    """A loss function from its name (see ``LOSSES``) or the callable itself."""
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]
    raise ConfigurationError(
        f"unknown loss {loss!r}; valid names: {', '.join(sorted(LOSSES))} (or pass a callable loss(output, targets))"
    )
