"""Keras recurrent layers on seqlab.nn: SimpleRNN, LSTM, GRU and the Bidirectional wrapper.

* Each layer owns one single-layer recurrent module (``weight_ih_l0`` (G·H, I),
  ``weight_hh_l0`` (G·H, H), ``bias_ih_l0`` and ``bias_hh_l0`` (G·H,)), initialized the Keras
  way: glorot-uniform kernel, orthogonal recurrent kernel, zero biases, and for the LSTM the
  unit forget-gate bias (Jozefowicz et al. 2015) put in ``bias_ih`` (``bias_hh`` stays 0).
* Fast path: no mask, or a mask that is "padding at the end" (turned into per-sequence
  ``lengths``), runs ``seqlab.nn.LSTM/GRU/RNN``: torch's fused kernel, or seqlab's generic
  kernel when ``recurrent_dropout`` is active in training (one mask on h_{t-1} for the whole
  sequence, Gal & Ghahramani 2016, Keras 3's scheme).
* Step-loop path: a mask with holes or left padding runs the step functions of
  ``seqlab.nn.cells`` one step at a time.
* Masked steps, as in Keras 3 (checked against Keras 3.15 on its torch and jax backends): the
  state is carried unchanged and the output repeats the previous output (zeros before the
  first valid step).
* ``dropout`` drops input features with one mask per sequence, shared over time (Keras 3).
* ``go_backwards`` reads the sequence from its end and returns the outputs in that reversed
  order, as Keras does (``Bidirectional`` flips them back).  With end padding the valid part is
  reversed, so padding never enters the state.

Keras GRU's default ``reset_after=True`` is exactly torch's GRU formula (reset gate applied
after the recurrent matmul); gate orders differ from Keras (torch: LSTM i,f,g,o — same as
Keras; GRU r,z,n — Keras z,r,h), which matters only when importing Keras weights.

Parameter counts therefore follow torch: an LSTM has two bias vectors (4·(H·(I+H) + 2H)), Keras
one (4·(H·(I+H) + H)); see ``seqlab.keras.models.Model.summary``.

Shapes: x (B, T, I) → sequences (B, T, H) or last output (B, H); states (B, H).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.keras import initializers
from seqlab.keras.base import Layer, deserialize_layer, register, serialize_layer
from seqlab.nn.cells import gru_step, lstm_step, rnn_step
from seqlab.nn.recurrent import GRU as GRU_, LSTM as LSTM_, RNN

__all__ = ["GRU", "LSTM", "SimpleRNN", "Bidirectional"]

# The drop-in recurrent layers of seqlab.nn (torch.nn's API plus ``lengths=`` and
# ``recurrent_dropout=``): fused torch kernels when possible, seqlab's generic kernels otherwise.
_BACKENDS = {"rnn": RNN, "lstm": LSTM_, "gru": GRU_}


def _is_prefix_mask(mask: Tensor) -> Tensor:
    """True when every row is ones then zeros (padding at the end): one sync per call."""
    return bool((mask[:, 1:] <= mask[:, :-1]).all()) if mask.shape[1] > 1 else True


def _reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of (B, T, ...) within its length; padding stays at the end."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    L = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    idx = torch.where(t < L, L - 1 - t, t)  # (B, T)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


def _shift_to_end(seq: Tensor, lengths: Tensor) -> Tensor:
    """(B, T, H) with valid steps first → valid steps last (Keras' go_backwards order)."""
    T = seq.shape[1]
    t = torch.arange(T, device=seq.device).unsqueeze(0)
    start = T - lengths.to(seq.device).unsqueeze(1)  # (B, 1): first valid position
    idx = (t - start) % T  # (B, T)
    shifted = seq.gather(1, idx.unsqueeze(-1).expand_as(seq))
    return shifted * (t >= start).unsqueeze(-1)  # zeros before the first valid step


class _Recurrent(Layer):
    """Shared time-loop logic of SimpleRNN / LSTM / GRU (see the module docstring)."""

    _kind = ""
    _num_states = 1

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        if not isinstance(units, int) or units <= 0:
            raise ConfigurationError(f"{cls}(units={units!r}): units must be a positive int")
        for arg, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= float(value) < 1.0:
                raise ConfigurationError(f"{cls}({arg}={value!r}): must be in [0, 1)")
        if stateful:
            raise ConfigurationError(
                f"{cls}(stateful=True) is not supported: pass the state explicitly with "
                "return_state=True and initial_state=[...], or use seqlab.train's truncated BPTT"
            )
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer) and kernel_initializer
        self.recurrent_initializer = initializers.get(recurrent_initializer) and recurrent_initializer
        self.bias_initializer = initializers.get(bias_initializer) and bias_initializer
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.unroll = unroll  # accepted for Keras compatibility; has no effect
        #: the path the last call took: seqlab.nn's ``last_impl`` ("fused", "generic:...") or
        #: "loop" (masks with holes); for tests and diagnostics.
        self.last_path = ""

    # ------------------------------------------------------------------ build
    def _module_kwargs(self) -> dict:
        return {}

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3:
            raise ShapeError(
                f"{type(self).__name__} {self.name!r} expects inputs (batch, time, features), got "
                f"shape {input_shape}; put an Embedding before it for token ids, or reshape"
            )
        backend = _BACKENDS[self._kind]
        self.cell = backend(int(input_shape[-1]), self.units, batch_first=True, bias=self.use_bias,
                            recurrent_dropout=self.recurrent_dropout, **self._module_kwargs())
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Keras' initializers (see the module docstring)."""
        initializers.initialize(self.cell.weight_ih_l0, self.kernel_initializer)
        initializers.initialize(self.cell.weight_hh_l0, self.recurrent_initializer)
        if self.use_bias:
            initializers.initialize(self.cell.bias_ih_l0, self.bias_initializer)
            nn.init.zeros_(self.cell.bias_hh_l0)

    # ------------------------------------------------------------------ call
    def _step(self, x_t: Tensor, state: tuple, rec_mask: Tensor | None) -> tuple:
        raise NotImplementedError

    def _params(self) -> tuple:
        c = self.cell
        return (c.weight_ih_l0, c.weight_hh_l0, getattr(c, "bias_ih_l0", None), getattr(c, "bias_hh_l0", None))

    def _initial_state(self, initial_state: Any, x: Tensor) -> tuple[Tensor, ...]:
        B = x.shape[0]
        if initial_state is None:
            zeros = x.new_zeros(B, self.units)
            return tuple(zeros for _ in range(self._num_states))
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != self._num_states or any(s.shape != (B, self.units) for s in states):
            raise ShapeError(
                f"{type(self).__name__} {self.name!r}: initial_state must be {self._num_states} "
                f"tensor(s) of shape (batch={B}, units={self.units}), got "
                f"{[tuple(s.shape) for s in states]}"
            )
        return tuple(s.to(x.dtype) for s in states)

    def call(self, inputs: Tensor, mask: Tensor | None = None, initial_state: Any = None) -> Any:
        x = inputs  # (B, T, I)
        if x.dim() != 3:
            raise ShapeError(
                f"{type(self).__name__} {self.name!r} expects inputs (batch, time, features), got "
                f"shape {tuple(x.shape)}"
            )
        B, T, _ = x.shape
        state = self._initial_state(initial_state, x)
        if self.training and self.dropout > 0:
            keep = x.new_empty(B, 1, x.shape[2]).bernoulli_(1 - self.dropout)
            x = x * keep / (1 - self.dropout)  # one mask per sequence, shared over time
        lengths = None
        if mask is not None:
            mask = mask.to(torch.bool)
            if mask.shape != (B, T):
                raise ShapeError(
                    f"{type(self).__name__} {self.name!r}: mask must be (batch, time) = {(B, T)}, got "
                    f"{tuple(mask.shape)}"
                )
            if _is_prefix_mask(mask):
                lengths = mask.sum(1)  # (B,)
                if bool((lengths == T).all()):
                    mask = lengths = None  # nothing is padded: the plain fused call
        reversed_within = False
        if self.go_backwards:
            if lengths is not None:
                x = _reverse_padded(x, lengths)
                reversed_within = True
            else:
                x = x.flip(1)
                mask = mask.flip(1) if mask is not None else None
        if mask is not None and lengths is None:
            # A mask with holes or left padding: step loop carrying the state over masked steps.
            rec_mask = None
            if self.training and self.recurrent_dropout > 0:
                rec_mask = x.new_empty(B, self.units).bernoulli_(1 - self.recurrent_dropout)
                rec_mask = rec_mask / (1 - self.recurrent_dropout)
            self.last_path = "loop"
            seq, state = self._loop(x, state, mask, rec_mask)
        else:
            # seqlab.nn's layer: fused kernel, or its generic kernel under recurrent dropout.
            seq, state = self._fused(x, state, lengths)
            self.last_path = str(self.cell.last_impl)
        if reversed_within and self.return_sequences:
            seq = _shift_to_end(seq, lengths)
        output = seq if self.return_sequences else state[0]
        if self.return_state:
            return [output, *state]
        return output

    def _fused(self, x: Tensor, state: tuple, lengths: Tensor | None) -> tuple[Tensor, tuple]:
        torch_state = tuple(s.unsqueeze(0).contiguous() for s in state)  # (1, B, H) each
        h0 = torch_state if self._num_states == 2 else torch_state[0]
        T = x.shape[1]
        if lengths is None:
            seq, hn = self.cell(x, h0)
        else:  # seqlab.nn needs lengths >= 1; fully masked rows are fixed up below
            seq, hn = self.cell(x, h0, lengths=lengths.clamp(min=1))
        new = tuple(s.squeeze(0) for s in (hn if isinstance(hn, tuple) else (hn,)))
        if lengths is not None:
            empty = (lengths == 0).unsqueeze(1)  # (B, 1): fully masked rows keep their state
            new = tuple(torch.where(empty, s0, s) for s0, s in zip(state, new))
            # Keras repeats the last valid output over the padded steps (zeros if none).
            last = new[0] * (~empty)  # (B, H)
            valid = torch.arange(T, device=x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(1)  # (B, T)
            seq = torch.where(valid.unsqueeze(2), seq, last.unsqueeze(1))
        return seq, new

    def _loop(self, x: Tensor, state: tuple, mask: Tensor | None, rec_mask: Tensor | None) -> tuple[Tensor, tuple]:
        outputs = []
        out = x.new_zeros(x.shape[0], self.units)  # Keras' "previous output" starts at zeros
        for t, x_t in enumerate(x.unbind(1)):  # x_t (B, I)
            new = self._step(x_t, state, rec_mask)
            if mask is not None:
                m = mask[:, t].unsqueeze(1)  # (B, 1)
                state = tuple(torch.where(m, n, s) for n, s in zip(new, state))
                out = torch.where(m, new[0], out)  # Keras: a masked step repeats the previous output
                outputs.append(out)
            else:
                state = new
                outputs.append(new[0])
        return torch.stack(outputs, 1), state  # (B, T, H)

    def compute_mask(self, inputs: Tensor, mask: Tensor | None = None) -> Any:
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self._num_states
        return out

    def get_config(self) -> dict:
        config = {
            **super().get_config(), "units": self.units, "activation": self.activation,
            "use_bias": self.use_bias, "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout, "return_sequences": self.return_sequences,
            "return_state": self.return_state, "go_backwards": self.go_backwards,
        }
        for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            if isinstance(getattr(self, key), str):
                config[key] = getattr(self, key)
        return config


@register
class SimpleRNN(_Recurrent):
    """Fully-connected RNN, h_t = activation(x_t W + h_{t-1} U + b); activation tanh or relu."""

    _kind = "rnn"

    def __init__(self, units: int, activation: str = "tanh", **kwargs: Any) -> None:
        if activation not in ("tanh", "relu"):
            raise ConfigurationError(
                f"SimpleRNN(activation={activation!r}) is not supported; expected 'tanh' or 'relu'"
            )
        super().__init__(units, activation=activation, **kwargs)

    def _module_kwargs(self) -> dict:
        return {"nonlinearity": self.activation}

    def _step(self, x_t, state, rec_mask):
        w_ih, w_hh, b_ih, b_hh = self._params()
        return (rnn_step(x_t, state[0], w_ih, w_hh, b_ih, b_hh, nonlinearity=self.activation,
                         recurrent_mask=rec_mask),)


@register
class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, forget gate of Gers et al. 2000).

    Args beyond Keras' common ones: ``unit_forget_bias`` (default True) starts the forget-gate
    bias at 1.  ``return_state=True`` returns ``[output, h, c]``.
    """

    _kind = "lstm"
    _num_states = 2

    def __init__(self, units: int, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 unit_forget_bias: bool = True, **kwargs: Any) -> None:
        if activation != "tanh" or recurrent_activation != "sigmoid":
            raise ConfigurationError(
                f"LSTM(activation={activation!r}, recurrent_activation={recurrent_activation!r}) is "
                "not supported; only Keras' defaults 'tanh' and 'sigmoid' are"
            )
        super().__init__(units, activation=activation, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    @torch.no_grad()
    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.use_bias and self.unit_forget_bias:
            H = self.units
            self.cell.bias_ih_l0[H : 2 * H] = 1.0  # gate order i, f, g, o: the forget slice

    def _step(self, x_t, state, rec_mask):
        w_ih, w_hh, b_ih, b_hh = self._params()
        return lstm_step(x_t, state[0], state[1], w_ih, w_hh, b_ih, b_hh, recurrent_mask=rec_mask)

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register
class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014) in Keras 3's default ``reset_after=True`` form."""

    _kind = "gru"

    def __init__(self, units: int, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 reset_after: bool = True, **kwargs: Any) -> None:
        if activation != "tanh" or recurrent_activation != "sigmoid":
            raise ConfigurationError(
                f"GRU(activation={activation!r}, recurrent_activation={recurrent_activation!r}) is "
                "not supported; only Keras' defaults 'tanh' and 'sigmoid' are"
            )
        if not reset_after:
            raise ConfigurationError(
                "GRU(reset_after=False) is not supported; use the Keras 3 default reset_after=True "
                "(the cuDNN/torch formula)"
            )
        super().__init__(units, activation=activation, **kwargs)

    def _step(self, x_t, state, rec_mask):
        w_ih, w_hh, b_ih, b_hh = self._params()
        return (gru_step(x_t, state[0], w_ih, w_hh, b_ih, b_hh, recurrent_mask=rec_mask),)


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@register
class Bidirectional(Layer):
    """Run a recurrent layer forwards and a copy of it backwards, then merge.

    ``merge_mode``: "concat" (default, (B, ..., 2H)), "sum", "mul", "ave", or None (a list of
    the two outputs).  The backward layer is built from the forward layer's config with
    ``go_backwards`` flipped (or given as ``backward_layer``); its output sequence is flipped
    back so both directions are aligned in time.  ``return_state=True`` returns
    ``[output, *forward_states, *backward_states]``.
    """

    def __init__(self, layer: _Recurrent, merge_mode: str | None = "concat",
                 backward_layer: _Recurrent | None = None, **kwargs: Any) -> None:
        if not isinstance(layer, _Recurrent):
            raise ConfigurationError(
                f"Bidirectional wraps a SimpleRNN, LSTM or GRU layer, got {type(layer).__name__}"
            )
        if merge_mode not in _MERGE_MODES:
            raise ConfigurationError(f"Bidirectional(merge_mode={merge_mode!r}); expected one of {_MERGE_MODES}")
        kwargs.setdefault("name", f"bidirectional_{layer.name}")
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self.forward_layer = layer
        if backward_layer is None:
            config = dict(layer.get_config(), go_backwards=not layer.go_backwards, name=f"backward_{layer.name}")
            backward_layer = type(layer).from_config(config)
        self.backward_layer = backward_layer
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.built = True

    def call(self, inputs: Tensor, mask: Tensor | None = None, initial_state: Any = None) -> Any:
        n = self.forward_layer._num_states
        init_f = init_b = None
        if initial_state is not None:
            if len(initial_state) != 2 * n:
                raise ShapeError(
                    f"Bidirectional {self.name!r}: initial_state needs {2 * n} tensors (forward "
                    f"then backward states), got {len(initial_state)}"
                )
            init_f, init_b = list(initial_state[:n]), list(initial_state[n:])
        y_f = self.forward_layer(inputs, mask=mask, initial_state=init_f)
        y_b = self.backward_layer(inputs, mask=mask, initial_state=init_b)
        states: list = []
        if self.return_state:
            states = [*y_f[1:], *y_b[1:]]
            y_f, y_b = y_f[0], y_b[0]
        if self.return_sequences:
            y_b = y_b.flip(1)  # back to input time order
        if self.merge_mode == "concat":
            out: Any = torch.cat([y_f, y_b], dim=-1)
        elif self.merge_mode == "sum":
            out = y_f + y_b
        elif self.merge_mode == "mul":
            out = y_f * y_b
        elif self.merge_mode == "ave":
            out = (y_f + y_b) / 2
        else:
            out = [y_f, y_b]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def compute_mask(self, inputs: Tensor, mask: Tensor | None = None) -> Any:
        out = mask if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            return outs + [None] * (2 * self.forward_layer._num_states)
        return outs if self.merge_mode is None else out

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize_layer(self.forward_layer),
                "backward_layer": serialize_layer(self.backward_layer), "merge_mode": self.merge_mode}

    @classmethod
    def from_config(cls, config: dict) -> "Bidirectional":
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"])
        config["backward_layer"] = deserialize_layer(config["backward_layer"])
        return cls(**config)
