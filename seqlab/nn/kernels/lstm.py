"""LSTM cell families: standard, peephole, coupled (CIFG) and layer-normalised.

Parameter layout per layer-direction (stems; the wrapper appends ``_l{k}[_reverse]``):

=============  ==========================================================  ===========
family         parameters                                                  gate blocks
=============  ==========================================================  ===========
lstm           weight_ih (4H,I) weight_hh (4H,H) bias_ih bias_hh (4H)       i f g o
peephole       as lstm + weight_ch (3,H) = (p_i, p_f, p_o)                  i f g o
coupled        weight_ih (3H,I) weight_hh (3H,H) bias_ih bias_hh (3H)       f g o
layernorm      weight_ih weight_hh gain_ih gain_hh (4H) gain_c (H)          i f g o
               bias_ih (4H) bias_c (H)
=============  ==========================================================  ===========
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.nn import cells
from seqlab.nn.kernels import lstm_bptt, projection
from seqlab.nn.kernels.base import CellFamily, ParamSpec, standard_parameter_specs
from seqlab.nn.kernels.native import LSTM_SOURCE, NativeKernels, kernels_for
from seqlab.nn.kernels.reference import run_reference


class _LSTMFamilyBase(CellFamily):
    num_states = 2
    gate_count = 4
    step = staticmethod(cells.lstm_step)
    kind: lstm_bptt.LSTMKind  # the gated variants' (not layernorm's) kernel variant

    def parameter_specs(self, input_size: int, hidden_size: int, bias: bool) -> list[ParamSpec]:
        return standard_parameter_specs(self.gate_count, input_size, hidden_size, bias)

    def _step_weights(self, params: dict[str, Tensor]) -> dict[str, Tensor | None]:
        return {
            "weight_ih": params["weight_ih"],
            "weight_hh": params["weight_hh"],
            "bias_ih": params.get("bias_ih"),
            "bias_hh": params.get("bias_hh"),
        }

    def forward_sequence(self, x, state, params, impl="generic", recurrent_mask=None, *, native: bool | None = None):
        """See ``CellFamily.forward_sequence``.

        ``native=False`` forces the ATen version of the generic path (``SEQLAB_NO_NATIVE=1``
        does the same process-wide); ``None`` picks the fused C kernel whenever it can run.
        """
        if impl == "generic":
            out = self._generic(x, state, params, recurrent_mask, native)
            if out is not None:
                return out
        self._last_path = "reference"
        return run_reference(self.step, x, state, self._step_weights(params), recurrent_mask)

    def _kernels(self, use_native: bool | None, *tensors: Tensor | None) -> NativeKernels | None:
        """The C kernels for these tensors, or ``None`` for the ATen path (recorded in ``_last_path``)."""
        kernels = kernels_for(LSTM_SOURCE, *tensors) if use_native is not False else None
        self._last_path = "aten" if kernels is None else "native"
        return kernels

    def _generic(self, x, state, params, recurrent_mask, native=None) -> tuple[Tensor, ...] | None:
        """The fast generic path (``lstm_bptt``); ``None`` means "not available, use the reference loop"."""
        h0, c0 = state
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        peep = params.get("weight_ch")
        b_ih, b_hh = params.get("bias_ih"), params.get("bias_hh")
        bias = None if b_ih is None else b_ih + b_hh  # (G·H,): one add, autograd sends the grad to both
        kernels = self._kernels(native, x, h0, c0, w_ih, w_hh, bias, peep, recurrent_mask)
        return lstm_bptt.GatedLSTMSequence.apply(self.kind, kernels, x, w_ih, bias, w_hh, peep, h0, c0, recurrent_mask)


class LSTMFamily(_LSTMFamilyBase):
    """Standard LSTM (torch.nn.LSTM's equations and parameter layout)."""

    name = "lstm"
    kind = lstm_bptt.LSTMKind.STANDARD


class PeepholeLSTMFamily(_LSTMFamilyBase):
    """Peephole LSTM (Gers & Schmidhuber 2000)."""

    name = "peephole"
    kind = lstm_bptt.LSTMKind.PEEPHOLE
    step = staticmethod(cells.peephole_lstm_step)

    def parameter_specs(self, input_size, hidden_size, bias):
        specs = super().parameter_specs(input_size, hidden_size, bias)
        return specs[:2] + [ParamSpec("weight_ch", (3, hidden_size))] + specs[2:]

    def _step_weights(self, params):
        return {**super()._step_weights(params), "weight_ch": params["weight_ch"]}


class CoupledLSTMFamily(_LSTMFamilyBase):
    """LSTM with coupled input/forget gates, i = 1 − f (Greff et al. 2017, CIFG)."""

    name = "coupled"
    kind = lstm_bptt.LSTMKind.COUPLED
    gate_count = 3
    step = staticmethod(cells.coupled_lstm_step)


class LayerNormLSTMFamily(_LSTMFamilyBase):
    """Layer-normalised LSTM (Ba et al. 2016)."""

    name = "layernorm"
    step = staticmethod(cells.layernorm_lstm_step)

    def parameter_specs(self, input_size, hidden_size, bias):
        g = 4 * hidden_size
        specs = [
            ParamSpec("weight_ih", (g, input_size)),
            ParamSpec("weight_hh", (g, hidden_size)),
            ParamSpec("gain_ih", (g,)),
            ParamSpec("gain_hh", (g,)),
            ParamSpec("gain_c", (hidden_size,)),
        ]
        if bias:
            specs += [ParamSpec("bias_ih", (g,), True), ParamSpec("bias_c", (hidden_size,), True)]
        return specs

    def reset_parameters(self, params, hidden_size):
        """Weights and gate bias U(−1/√H, 1/√H); LN gains 1, cell-LN shift 0 (Ba et al. 2016)."""
        bound = 1.0 / math.sqrt(hidden_size)
        with torch.no_grad():
            for stem, p in params.items():
                if stem.startswith("gain"):
                    p.fill_(1.0)
                elif stem == "bias_c":
                    p.zero_()
                else:
                    p.uniform_(-bound, bound)

    def _generic(self, x, state, params, recurrent_mask, native=None):
        h0, c0 = state
        T, B, I = x.shape  # noqa: E741
        w_ih = params["weight_ih"]
        G = w_ih.shape[0]
        # The input side does not depend on the recurrence: project and normalise all
        # steps at once (autograd differentiates this part); only the recurrent LN and
        # the cell LN run inside the time loop.
        xg = F.layer_norm(projection.InputProjection.apply(x.reshape(T * B, I), w_ih), (G,), params["gain_ih"],
                          params.get("bias_ih"),
                          cells.LAYERNORM_EPS).view(T, B, G)  # (T, B, 4H)
        bias_c = params.get("bias_c")
        kernels = self._kernels(native, xg, h0, c0, params["weight_hh"], params["gain_hh"], params["gain_c"], bias_c,
                                recurrent_mask)
        return lstm_bptt.LayerNormLSTMSequence.apply(kernels, xg, params["weight_hh"], params["gain_hh"],
                                                     params["gain_c"], bias_c, h0, c0, recurrent_mask)

    def _step_weights(self, params):
        return {
            "weight_ih": params["weight_ih"],
            "weight_hh": params["weight_hh"],
            "gain_ih": params["gain_ih"],
            "gain_hh": params["gain_hh"],
            "gain_c": params["gain_c"],
            "bias_ih": params.get("bias_ih"),
            "bias_c": params.get("bias_c"),
        }
