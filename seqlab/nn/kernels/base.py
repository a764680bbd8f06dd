"""The contract between the recurrent wrapper (``seqlab.nn.recurrent``) and the kernels.

A *cell family* knows, for one kind of recurrent cell, which parameters a layer holds
and how to run that layer over a whole sequence. The wrapper owns everything else:
stacking, directions, dropout between layers, ``lengths``/PackedSequence, batch_first,
the fused ``torch.nn`` dispatch for standard cells, and final-state gathering.

Conventions (STYLE.md shape legend):

* ``x`` is time-major and contiguous: ``(T, B, I)``.
* ``state`` is a tuple of ``(B, H)`` tensors: ``(h,)`` for RNN/GRU, ``(h, c)`` for LSTMs.
* ``forward_sequence`` returns a tuple of ``(T, B, H)`` tensors holding *every* step's
  state, in the same order as ``state`` (``[0]`` is always h, which is the layer output).
  The wrapper gathers final states at each sequence's last valid step from these,
  so a family never needs to know about padding.
* Gate order inside stacked weights follows torch.nn (LSTM: i, f, g, o; GRU: r, z, n)
  so that ``load_state_dict`` works against ``torch.nn`` modules.
* Parameter names are ``f"{spec.stem}_l{layer}{'_reverse' if reverse else ''}"``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from seqlab.nn.kernels import native
from seqlab.nn.kernels.reference import run_reference


@dataclass(frozen=True)
class ParamSpec:
    """One parameter tensor of a layer-direction.

    Attributes:
        stem: name without the layer suffix, e.g. ``"weight_ih"``, ``"weight_ch"``.
        shape: the tensor's shape.
        is_bias: bias-like parameters are omitted when the module has ``bias=False``.
    """

    stem: str
    shape: tuple[int, ...]
    is_bias: bool = False


def standard_parameter_specs(gate_count: int, input_size: int, hidden_size: int, bias: bool) -> list[ParamSpec]:
    """torch.nn's layout: weight_ih (G·H, I), weight_hh (G·H, H), and with bias bias_ih, bias_hh (G·H)."""
    g = gate_count * hidden_size
    specs = [ParamSpec("weight_ih", (g, input_size)), ParamSpec("weight_hh", (g, hidden_size))]
    if bias:
        specs += [ParamSpec("bias_ih", (g,), True), ParamSpec("bias_hh", (g,), True)]
    return specs


class CellFamily(abc.ABC):
    """A recurrent cell family: parameter layout plus whole-sequence execution."""

    #: registry name, e.g. "lstm", "peephole", "coupled", "layernorm", "gru", "rnn_tanh"
    name: str
    #: number of (B, H) state tensors: 1 (h) or 2 (h, c)
    num_states: int

    @abc.abstractmethod
    def parameter_specs(self, input_size: int, hidden_size: int, bias: bool) -> list[ParamSpec]:
        """The parameters of one layer-direction, in registration order."""

    def reset_parameters(self, params: dict[str, Tensor], hidden_size: int) -> None:
        """Initialise in place. Default matches torch.nn: U(-1/sqrt(H), 1/sqrt(H)) everywhere."""
        bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
        with torch.no_grad():
            for p in params.values():
                p.uniform_(-bound, bound)

    @abc.abstractmethod
    def forward_sequence(
        self,
        x: Tensor,
        state: tuple[Tensor, ...],
        params: dict[str, Tensor],
        impl: str = "generic",
        recurrent_mask: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """Run one layer-direction over the sequence.

        Args:
            x: (T, B, I) layer input, time-major, contiguous.
            state: initial state, tuple of ``num_states`` tensors (B, H).
            params: stem -> tensor, as declared by ``parameter_specs``.
            impl: "generic" (fastest available generic path: native C kernel on CPU
                when it builds, else ATen) or "reference" (a Python loop over the
                step-wise cell; slow, for tests and reading).
            recurrent_mask: optional (B, H) dropout mask (already scaled by 1/(1-p)) that
                multiplies h_{t-1} wherever it enters the recurrent matmul, the same mask
                at every step: Keras' ``recurrent_dropout`` (Gal & Ghahramani 2016).
                The carried state itself is not masked.

        Returns:
            Tuple of ``num_states`` tensors (T, B, H): the state after every step.
        """

    def last_path(self) -> str:
        """Which generic path ran last ("native", "aten" or "reference"), for diagnostics."""
        return getattr(self, "_last_path", "unknown")


class StandardFamily(CellFamily):
    """A family with torch.nn's parameter layout and one state (h): the GRU and the vanilla RNN.

    ``forward_sequence`` runs the native C kernels of ``native_source`` when they apply, else
    the ATen version of the same Function (both through ``_sequence``); ``impl="reference"``
    runs the step-wise loop over ``step`` (a ``seqlab.nn.cells`` function) instead.
    """

    num_states = 1
    gate_count: int
    native_source: native.NativeSource
    #: one time step for the reference loop: a ``seqlab.nn.cells`` function, as a staticmethod
    step: Callable[..., Tensor]
    STEMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def parameter_specs(self, input_size: int, hidden_size: int, bias: bool) -> list[ParamSpec]:
        return standard_parameter_specs(self.gate_count, input_size, hidden_size, bias)

    def forward_sequence(self, x, state, params, impl="generic", recurrent_mask=None):
        if impl == "generic":
            return self._generic(x, state, params, recurrent_mask)
        self._last_path = "reference"
        weights = {k: params.get(k) for k in self.STEMS}
        return run_reference(self.step, x, state, weights, recurrent_mask, **self.step_options())

    def _generic(self, x, state, params, recurrent_mask) -> tuple[Tensor]:
        """The fast generic path: native C kernels when they apply, else ATen."""
        (h0,) = state
        w_ih, w_hh, b_ih, b_hh = (params.get(k) for k in self.STEMS)
        kernels = native.kernels_for(self.native_source, x, h0, w_ih, w_hh, b_ih, b_hh, recurrent_mask)
        self._last_path = "aten" if kernels is None else "native"
        if x.shape[0] == 0:
            return (h0.new_empty((0, *h0.shape)),)
        return (self._sequence(x, h0, w_ih, w_hh, b_ih, b_hh, recurrent_mask, kernels),)

    def step_options(self) -> dict:
        """Keyword arguments of ``step`` besides the state and weights."""
        return {}

    @abc.abstractmethod
    def _sequence(self, x, h0, w_ih, w_hh, b_ih, b_hh, mask, kernels: native.NativeKernels | None) -> Tensor:
        """Every step's h (T, B, H) for T ≥ 1: the family's autograd Function."""
