"""The reference path: a plain Python loop over a step function from ``seqlab.nn.cells``.

Slow (one ATen call per op per step) but obviously right; it is the oracle the fast
generic kernels are tested against, and ``impl="reference"`` selects it for reading
and debugging.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def run_reference(
    step: Callable[..., Tensor | tuple[Tensor, ...]],
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: dict[str, Tensor | None],
    recurrent_mask: Tensor | None = None,
    **step_options,
) -> tuple[Tensor, ...]:
    """Apply ``step`` at every time step.

    Args:
        step: a step function, called as ``step(x_t, *state, **weights, recurrent_mask=..., **step_options)``.
        x: (T, B, I) input.
        state: tuple of (B, H) initial states.
        weights: keyword arguments of the step function holding the parameters.

    Returns:
        Tuple of (T, B, H) tensors: every step's state.
    """
    history: list[list[Tensor]] = [[] for _ in state]
    for x_t in x.unbind(0):  # unbind, not x[t]: slicing makes backward quadratic in T
        new = step(x_t, *state, **weights, recurrent_mask=recurrent_mask, **step_options)
        state = new if isinstance(new, tuple) else (new,)
        for hist, s in zip(history, state):
            hist.append(s)
    if x.shape[0] == 0:
        return tuple(s.new_empty((0, *s.shape)) for s in state)
    return tuple(torch.stack(h, 0) for h in history)
