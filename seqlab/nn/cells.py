"""Step-wise recurrent cells, written to be read beside the lecture notes' equations.

A cell does ONE time step; ``seqlab.nn.recurrent`` owns time (STYLE.md principle 2).
Each cell is a thin module around a pure step function (``lstm_step`` ...) so the
same equations serve three purposes: the public ``*Cell`` modules, the reference
(Python-loop) path of every recurrent layer, and the oracle in the tests that the
fast kernels are checked against.

Parameter names and gate order follow ``torch.nn`` (LSTM: i, f, g, o; GRU: r, z, n),
so ``LSTMCell``/``GRUCell``/``RNNCell`` load ``torch.nn.*Cell`` state dicts directly.
Shapes: x (B, I), h and c (B, H); stacked gate weights (G·H, I) and (G·H, H).

Every step function takes an optional ``recurrent_mask`` (B, H): Keras'
``recurrent_dropout`` mask, applied to h_{t-1} only where it enters the recurrent
matmul (Gal & Ghahramani 2016), never to the carried state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError

LAYERNORM_EPS = 1e-5


def _recurrent_input(h: Tensor, recurrent_mask: Tensor | None) -> Tensor:
    return h if recurrent_mask is None else h * recurrent_mask


# --------------------------------------------------------------------------------------
# Step functions: one time step each, the notes' equations line by line.
# --------------------------------------------------------------------------------------


def rnn_step(
    x_t: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
    recurrent_mask: Tensor | None = None,
) -> Tensor:
    """Vanilla RNN (notes, "Recurrent Neural Networks"): h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)."""
    pre = F.linear(x_t, weight_ih, bias_ih) + F.linear(_recurrent_input(h, recurrent_mask), weight_hh, bias_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)  # (B, H)


def lstm_step(
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Standard LSTM (Hochreiter & Schmidhuber 1997 with forget gate, Gers et al. 2000).

    i_t = σ(W_i·[h_{t-1}, x_t] + b_i)        input gate
    f_t = σ(W_f·[h_{t-1}, x_t] + b_f)        forget gate
    C̃_t = tanh(W_C·[h_{t-1}, x_t] + b_C)     candidate
    C_t = f_t * C_{t-1} + i_t * C̃_t
    o_t = σ(W_o·[h_{t-1}, x_t] + b_o)        output gate
    h_t = o_t * tanh(C_t)
    """
    gates = F.linear(x_t, weight_ih, bias_ih) + F.linear(_recurrent_input(h, recurrent_mask), weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new


def peephole_lstm_step(
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    weight_ch: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM with peephole connections (Gers & Schmidhuber 2000; notes, "LSTM with Peepholes").

    The input and forget gates "peep" at the previous cell C_{t-1}, the output gate at
    the new cell C_t, through diagonal weights ``weight_ch`` = (p_i, p_f, p_o), shape (3, H):

    i_t = σ(W_i·[h_{t-1}, x_t] + p_i * C_{t-1} + b_i)
    f_t = σ(W_f·[h_{t-1}, x_t] + p_f * C_{t-1} + b_f)
    C_t = f_t * C_{t-1} + i_t * tanh(W_C·[h_{t-1}, x_t] + b_C)
    o_t = σ(W_o·[h_{t-1}, x_t] + p_o * C_t + b_o)
    h_t = o_t * tanh(C_t)
    """
    gates = F.linear(x_t, weight_ih, bias_ih) + F.linear(_recurrent_input(h, recurrent_mask), weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, dim=1)
    p_i, p_f, p_o = weight_ch  # each (H,)
    i = torch.sigmoid(i + p_i * c)
    f = torch.sigmoid(f + p_f * c)
    c_new = f * c + i * torch.tanh(g)
    o = torch.sigmoid(o + p_o * c_new)
    h_new = o * torch.tanh(c_new)
    return h_new, c_new


def coupled_lstm_step(
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM with coupled input and forget gates (notes, "combined Forget/Input gates";
    CIFG in Greff et al. 2017, "LSTM: A Search Space Odyssey").

    Only three gate blocks, in the order f, g, o (weights (3H, I) and (3H, H)):

    f_t = σ(W_f·[h_{t-1}, x_t] + b_f)
    C_t = f_t * C_{t-1} + (1 − f_t) * tanh(W_C·[h_{t-1}, x_t] + b_C)   # i_t = 1 − f_t
    o_t = σ(W_o·[h_{t-1}, x_t] + b_o)
    h_t = o_t * tanh(C_t)
    """
    gates = F.linear(x_t, weight_ih, bias_ih) + F.linear(_recurrent_input(h, recurrent_mask), weight_hh, bias_hh)
    f, g, o = gates.chunk(3, dim=1)
    f, g, o = torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + (1.0 - f) * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new


def layernorm_lstm_step(
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    gain_ih: Tensor,
    gain_hh: Tensor,
    gain_c: Tensor,
    bias_ih: Tensor | None = None,
    bias_c: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Layer-normalised LSTM (Ba, Kiros & Hinton 2016, "Layer Normalization", section 3.1 / eq. 20-22).

    The input and recurrent pre-activations are normalised separately over all 4H units,
    and the cell is normalised before its tanh (the carried C_t stays unnormalised):

    (i, f, g, o) = LN(W_h h_{t-1}; gain_hh) + LN(W_x x_t; gain_ih) + b
    C_t = σ(f) * C_{t-1} + σ(i) * tanh(g)
    h_t = σ(o) * tanh(LN(C_t; gain_c, bias_c))

    The LN shifts β of the two gate normalisations are folded into the single bias b
    (``bias_ih``): three additive constants on the same units would be redundant.
    """
    four_h = weight_ih.shape[0]
    ih = F.layer_norm(F.linear(x_t, weight_ih), (four_h,), gain_ih, None, LAYERNORM_EPS)
    hh = F.layer_norm(F.linear(_recurrent_input(h, recurrent_mask), weight_hh), (four_h,), gain_hh, None, LAYERNORM_EPS)
    gates = ih + hh if bias_ih is None else ih + hh + bias_ih
    i, f, g, o = gates.chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    c_normed = F.layer_norm(c_new, (c_new.shape[1],), gain_c, bias_c, LAYERNORM_EPS)
    h_new = torch.sigmoid(o) * torch.tanh(c_normed)
    return h_new, c_new


def gru_step(
    x_t: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> Tensor:
    """Gated recurrent unit (Cho et al. 2014; Chung et al. 2014 in the notes).

    The "reset after" form used by torch.nn.GRU and Keras (reset_after=True): the reset
    gate scales the recurrent candidate term after its matmul.

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)         reset gate
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)         update gate
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 − z_t) * n_t + z_t * h_{t-1}
    """
    gi = F.linear(x_t, weight_ih, bias_ih)  # (B, 3H)
    gh = F.linear(_recurrent_input(h, recurrent_mask), weight_hh, bias_hh)  # (B, 3H)
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1.0 - z) * n + z * h


# --------------------------------------------------------------------------------------
# Public cell modules.
# --------------------------------------------------------------------------------------


class _CellBase(nn.Module):
    gate_count: int = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ConfigurationError(
                f"{type(self).__name__}: input_size and hidden_size must be positive, "
                f"got input_size={input_size}, hidden_size={hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        g = self.gate_count * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(g))
            self.bias_hh = nn.Parameter(torch.empty(g))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        """torch.nn's initialisation: U(−1/√H, 1/√H) for every parameter."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound)

    def _check_input(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ShapeError(
                f"{type(self).__name__} expects input of shape (batch, {self.input_size}), got {tuple(x.shape)}. "
                "Cells do one step; use the recurrent layer (seqlab.nn.LSTM ...) for whole sequences."
            )
        if not x.is_floating_point():
            raise ShapeError(f"{type(self).__name__} expects a floating-point input, got dtype {x.dtype}")
        return x

    def _zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], self.hidden_size)

    def _check_state(self, s: Tensor, x: Tensor, what: str) -> Tensor:
        if s.shape != (x.shape[0], self.hidden_size):
            raise ShapeError(
                f"{type(self).__name__}: {what} must have shape ({x.shape[0]}, {self.hidden_size}), got {tuple(s.shape)}"
            )
        return s

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class RNNCell(_CellBase):
    """Elman RNN cell: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or ReLU)."""

    gate_count = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigurationError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """x (B, I), h (B, H) or None (zeros) -> h' (B, H)."""
        x = self._check_input(x)
        h = self._zeros(x) if h is None else self._check_state(h, x, "h")
        return rnn_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)


class GRUCell(_CellBase):
    """GRU cell, torch.nn.GRUCell's equations (see ``gru_step``)."""

    gate_count = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.reset_parameters()

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """x (B, I), h (B, H) or None -> h' (B, H)."""
        x = self._check_input(x)
        h = self._zeros(x) if h is None else self._check_state(h, x, "h")
        return gru_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class _LSTMCellBase(_CellBase):
    def _state(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        if state is None:
            return self._zeros(x), self._zeros(x)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ShapeError(f"{type(self).__name__}: state must be a tuple (h, c), got {type(state).__name__}")
        return self._check_state(state[0], x, "h"), self._check_state(state[1], x, "c")


class LSTMCell(_LSTMCellBase):
    """Standard LSTM cell, torch.nn.LSTMCell's equations (see ``lstm_step``)."""

    gate_count = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.reset_parameters()

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """x (B, I), state (h, c) each (B, H) or None -> (h', c')."""
        x = self._check_input(x)
        h, c = self._state(x, state)
        return lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class PeepholeLSTMCell(_LSTMCellBase):
    """LSTM cell with diagonal peephole weights ``weight_ch`` (3, H) (see ``peephole_lstm_step``)."""

    gate_count = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.weight_ch = nn.Parameter(torch.empty(3, hidden_size))
        self.reset_parameters()

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """x (B, I), state (h, c) each (B, H) or None -> (h', c')."""
        x = self._check_input(x)
        h, c = self._state(x, state)
        return peephole_lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.weight_ch, self.bias_ih, self.bias_hh)


class CoupledLSTMCell(_LSTMCellBase):
    """LSTM cell with the input gate tied to 1 − forget gate; gate blocks f, g, o (see ``coupled_lstm_step``)."""

    gate_count = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.reset_parameters()

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """x (B, I), state (h, c) each (B, H) or None -> (h', c')."""
        x = self._check_input(x)
        h, c = self._state(x, state)
        return coupled_lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LayerNormLSTMCell(_LSTMCellBase):
    """Layer-normalised LSTM cell (Ba et al. 2016; see ``layernorm_lstm_step``).

    Parameters: ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), LN gains ``gain_ih``/``gain_hh``
    (4H) and ``gain_c`` (H), and (with bias=True) ``bias_ih`` (4H) and the cell-LN shift ``bias_c`` (H).
    """

    gate_count = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        # One gate bias (see layernorm_lstm_step): drop the second one created by the base class.
        self.register_parameter("bias_hh", None)
        self.gain_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.gain_hh = nn.Parameter(torch.empty(4 * hidden_size))
        self.gain_c = nn.Parameter(torch.empty(hidden_size))
        if bias:
            self.bias_c = nn.Parameter(torch.empty(hidden_size))
        else:
            self.register_parameter("bias_c", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights U(−1/√H, 1/√H); LN gains 1 and shifts 0 (Ba et al. 2016)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            self.weight_ih.uniform_(-bound, bound)
            self.weight_hh.uniform_(-bound, bound)
            if self.bias_ih is not None:
                self.bias_ih.uniform_(-bound, bound)
                self.bias_c.zero_()
            for g in (self.gain_ih, self.gain_hh, self.gain_c):
                g.fill_(1.0)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """x (B, I), state (h, c) each (B, H) or None -> (h', c')."""
        x = self._check_input(x)
        h, c = self._state(x, state)
        return layernorm_lstm_step(
            x, h, c, self.weight_ih, self.weight_hh, self.gain_ih, self.gain_hh, self.gain_c, self.bias_ih, self.bias_c
        )
