"""Vanilla (Elman) RNN cell family with tanh or ReLU (torch.nn.RNN's layout)."""

from __future__ import annotations

from torch import Tensor

from seqlab.nn import cells
from seqlab.nn.kernels.base import CellFamily, ParamSpec
from seqlab.nn.kernels.reference import run_reference


class RNNFamily(CellFamily):
    """weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh (H)."""

    num_states = 1
    gate_count = 1

    def __init__(self, nonlinearity: str = "tanh") -> None:
        self.nonlinearity = nonlinearity
        self.name = f"rnn_{nonlinearity}"

    def parameter_specs(self, input_size: int, hidden_size: int, bias: bool) -> list[ParamSpec]:
        specs = [ParamSpec("weight_ih", (hidden_size, input_size)), ParamSpec("weight_hh", (hidden_size, hidden_size))]
        if bias:
            specs += [ParamSpec("bias_ih", (hidden_size,), True), ParamSpec("bias_hh", (hidden_size,), True)]
        return specs

    def forward_sequence(self, x, state, params, impl="generic", recurrent_mask=None):
        if impl == "generic":
            out = self._generic(x, state, params, recurrent_mask)
            if out is not None:
                return out
        self._last_path = "reference"
        weights = {k: params.get(k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        return run_reference(cells.rnn_step, x, state, weights, recurrent_mask, nonlinearity=self.nonlinearity)

    def _generic(self, x, state, params, recurrent_mask) -> tuple[Tensor, ...] | None:
        """The fast generic path; ``None`` means "not available, use the reference loop"."""
        return None
