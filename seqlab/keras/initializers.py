"""Keras' default initializers, applied to torch tensors.

Keras and torch store kernels transposed (Keras ``(in, out)``, torch ``(out, in)``), but the fan
computation of ``torch.nn.init.xavier_uniform_`` on a torch weight gives the same fans as Keras'
``glorot_uniform`` on the Keras kernel, so the distributions match.  Recurrent kernels of all
gates are initialized as one orthogonal matrix (Keras' ``(H, G·H)`` with orthonormal rows equals
torch's ``(G·H, H)`` with orthonormal columns); Saxe et al. 2014 motivate orthogonal recurrent
weights.  The unit forget-gate bias follows Jozefowicz et al. 2015, Section 3.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError

__all__ = ["INITIALIZERS", "get", "initialize"]


def _uniform(t: Tensor) -> Tensor:
    # Keras "uniform" / RandomUniform default range is [-0.05, 0.05].
    return nn.init.uniform_(t, -0.05, 0.05)


def _normal(t: Tensor) -> Tensor:
    return nn.init.normal_(t, 0.0, 0.05)


def _lecun_uniform(t: Tensor) -> Tensor:
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(t)
    limit = math.sqrt(3.0 / fan_in)
    return nn.init.uniform_(t, -limit, limit)


def _he_uniform(t: Tensor) -> Tensor:
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(t)
    limit = math.sqrt(6.0 / fan_in)
    return nn.init.uniform_(t, -limit, limit)


#: Keras initializer name -> in-place torch initializer.
INITIALIZERS: dict[str, Callable[[Tensor], Tensor]] = {
    "glorot_uniform": nn.init.xavier_uniform_,
    "glorot_normal": nn.init.xavier_normal_,
    "orthogonal": nn.init.orthogonal_,
    "zeros": nn.init.zeros_,
    "ones": nn.init.ones_,
    "uniform": _uniform,
    "random_uniform": _uniform,
    "normal": _normal,
    "random_normal": _normal,
    "lecun_uniform": _lecun_uniform,
    "he_uniform": _he_uniform,
    "he_normal": lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"),
}


def get(name: str | Callable[[Tensor], object]) -> Callable[[Tensor], object]:
    """Resolve an initializer name (or an in-place callable on a tensor)."""
    if callable(name):
        return name
    if isinstance(name, str) and name in INITIALIZERS:
        return INITIALIZERS[name]
    raise ConfigurationError(
        f"unknown initializer {name!r}; expected one of {sorted(INITIALIZERS)} or a callable "
        "that fills a tensor in place"
    )


@torch.no_grad()
def initialize(t: Tensor, name: str | Callable[[Tensor], object]) -> None:
    """Fill ``t`` in place with the initializer ``name``."""
    get(name)(t)
