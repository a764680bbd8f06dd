"""Keras activation names mapped to torch functions.

``Dense(1, activation="sigmoid")`` looks the name up here; a callable (for example
``torch.relu``, the notes' ``tf.nn.relu``) is used as it is.  Softmax-like activations act on
the last axis, as in Keras.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.errors import ConfigurationError

__all__ = ["ACTIVATIONS", "get", "name_of"]


def linear(x: Tensor) -> Tensor:
    return x


def hard_sigmoid(x: Tensor) -> Tensor:
    # Keras 3 definition: relu6(x + 3) / 6.
    return F.relu6(x + 3.0) / 6.0


#: Keras activation name -> function.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": linear,
    "relu": torch.relu,
    "relu6": F.relu6,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "exponential": torch.exp,
    "hard_sigmoid": hard_sigmoid,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),  # Keras' default negative_slope is 0.2
}


def get(activation: str | Callable[[Tensor], Tensor] | None) -> Callable[[Tensor], Tensor]:
    """Resolve an activation name (or ``None`` = linear, or a callable) to a function."""
    if activation is None:
        return linear
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise ConfigurationError(
        f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)} or a callable "
        "(for example torch.relu)"
    )


def name_of(activation: str | Callable | None) -> str | None:
    """The name stored in a layer config; ``None`` when the activation is an unnamed callable."""
    if activation is None or isinstance(activation, str):
        return activation or "linear"
    for name, fn in ACTIVATIONS.items():
        if fn is activation:
            return name
    return None
