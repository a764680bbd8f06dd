"""GRU cell family (torch.nn.GRU's equations and parameter layout; gate blocks r, z, n)."""

from __future__ import annotations

from torch import Tensor

from seqlab.nn import cells
from seqlab.nn.kernels.base import CellFamily, ParamSpec
from seqlab.nn.kernels.reference import run_reference


class GRUFamily(CellFamily):
    """weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H)."""

    name = "gru"
    num_states = 1
    gate_count = 3

    def parameter_specs(self, input_size: int, hidden_size: int, bias: bool) -> list[ParamSpec]:
        g = 3 * hidden_size
        specs = [ParamSpec("weight_ih", (g, input_size)), ParamSpec("weight_hh", (g, hidden_size))]
        if bias:
            specs += [ParamSpec("bias_ih", (g,), True), ParamSpec("bias_hh", (g,), True)]
        return specs

    def forward_sequence(self, x, state, params, impl="generic", recurrent_mask=None):
        if impl == "generic":
            out = self._generic(x, state, params, recurrent_mask)
            if out is not None:
                return out
        self._last_path = "reference"
        weights = {k: params.get(k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        return run_reference(cells.gru_step, x, state, weights, recurrent_mask)

    def _generic(self, x, state, params, recurrent_mask) -> tuple[Tensor, ...] | None:
        """The fast generic path; ``None`` means "not available, use the reference loop"."""
        return None
