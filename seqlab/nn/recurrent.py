"""Drop-in recurrent layers: ``RNN``, ``LSTM`` and ``GRU`` with torch.nn's interface.

Architecture (the Keras ``RNN`` wrapper split, STYLE.md principle 2):

* a *cell family* (``seqlab.nn.kernels``) runs ONE layer-direction over a whole
  sequence and returns every step's state; it owns the time loop and its speed;
* this wrapper owns everything around it: stacking layers, the reverse direction,
  dropout between layers, ``batch_first``, ``lengths`` / ``PackedSequence``, final-state
  gathering, input validation, and the choice of implementation (``impl=``):

  - ``"fused"``: torch's own kernels (``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` /
    ``rnn_relu``, the calls ``torch.nn.LSTM`` makes), standard cells only;
  - ``"generic"``: the family's fast generic path (a native C kernel or an ATen
    autograd Function; until those exist it falls back to the reference loop);
  - ``"reference"``: a Python loop over the step function of ``seqlab.nn.cells``;
  - ``"auto"`` (default): the fastest path that computes this layer: fused for the
    standard LSTM (and for GRU/RNN off the CPU), generic for GRU/RNN on the CPU (torch
    has no fused CPU kernel for them), for the LSTM variants, and whenever
    ``recurrent_dropout`` is active in training (torch's kernels have no recurrent mask).

  The path that ran is in ``module.last_impl`` (``"fused"``, ``"generic:native"``,
  ``"generic:aten"``, ``"generic:reference"``, ``"reference"``) and in a
  ``logging.debug`` line of the ``seqlab.nn.recurrent`` logger.

Padded batches (``lengths=``, a seqlab extra): sequence b is valid for steps
``t < lengths[b]``. Padded steps never change the final state, the output there is
exactly 0 (as ``pad_packed_sequence`` gives for torch), and the reverse direction of a
bidirectional layer starts at each sequence's own last valid step. The generic path
reverses each sequence within its length with one index gather (the permutation
``t -> len-1-t`` on valid steps, identity on pads, its own inverse), runs the family
forward, and gathers final states at step ``len-1`` from the state histories; the
fused path packs the batch and runs torch's packed kernel. Steps after the longest
sequence are never run, and a batch whose lengths are all equal runs unpadded.

Parameters are named and registered exactly as in torch.nn (``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse``; per-family extras
such as ``weight_ch_l0`` for the peephole LSTM), so ``load_state_dict`` works in both
directions with ``torch.nn`` modules, and with the same seed the initial values equal
torch's (U(−1/√H, 1/√H) in the same order).

Shapes: T time, B batch, I input size, H hidden size, L layers, D directions (1 or 2).
"""

from __future__ import annotations

import logging
import numbers
import warnings
from typing import Callable, NamedTuple, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.nn.kernels import CellFamily, get_family

__all__ = ["RNN", "LSTM", "GRU", "IMPLS", "LSTM_CELLS"]

logger = logging.getLogger(__name__)

#: valid values of ``impl=``
IMPLS = ("auto", "fused", "generic", "reference")
#: valid values of ``LSTM(cell=...)`` and the cell family each one runs
LSTM_CELLS = {"standard": "lstm", "peephole": "peephole", "coupled": "coupled", "layernorm": "layernorm"}

# torch's fused whole-sequence kernels, the ones torch.nn.RNN/LSTM/GRU call.
_FUSED: dict[str, Callable] = {
    "lstm": torch._VF.lstm,
    "gru": torch._VF.gru,
    "rnn_tanh": torch._VF.rnn_tanh,
    "rnn_relu": torch._VF.rnn_relu,
}
# torch's CPU GRU and RNN are not fused kernels (a loop of ATen cell calls), and the
# generic path beats them there: forward+backward, I=256 H=128 T=200 B=16/64 on the
# 2-core dev machine, GRU 2.6-3.7x and RNN 2.2-4.4x faster (native kernels), 1.0-4.3x
# with SEQLAB_NO_NATIVE=1. On CUDA, cuDNN wins; LSTM on CPU is a fused oneDNN kernel.
_GENERIC_WINS_ON_CPU = frozenset({"gru", "rnn_tanh", "rnn_relu"})
_TORCH_MODE = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}

Lengths = Union[Tensor, Sequence[int]]


class _Lengths(NamedTuple):
    """Validated ``lengths=``."""

    on_device: Tensor | None  # (B,) long on the input's device; None when all equal ``longest``
    on_cpu: Tensor  # (B,) long
    longest: int  # max length: steps after it are never run


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


class _RecurrentBase(nn.Module):
    """Shared machinery of RNN / LSTM / GRU (see the module docstring)."""

    def __init__(
        self,
        family: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        proj_size: int,
        impl: str,
        recurrent_dropout: float,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(f"{name}: {arg} must be a positive int, got {value!r}")
        for arg, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise ConfigurationError(f"{name}: {arg} must be True or False, got {value!r}")
        if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool) or not 0.0 <= dropout <= 1.0:
            raise ConfigurationError(
                f"{name}: dropout must be a probability in [0, 1] (applied between stacked layers), got {dropout!r}"
            )
        if (
            not isinstance(recurrent_dropout, numbers.Real)
            or isinstance(recurrent_dropout, bool)
            or not 0.0 <= recurrent_dropout < 1.0
        ):
            raise ConfigurationError(
                f"{name}: recurrent_dropout must be a probability in [0, 1), got {recurrent_dropout!r}"
            )
        if proj_size:
            raise ConfigurationError(
                f"{name}: proj_size={proj_size!r} is not supported by seqlab (LSTM with projections, "
                "Sak et al. 2014, has no generic kernel here). Use proj_size=0 and, if you need the "
                "smaller output, apply nn.Linear(hidden_size, proj_size) to the outputs, or use torch.nn.LSTM."
            )
        if impl not in IMPLS:
            raise ConfigurationError(f"{name}: impl={impl!r} is not valid; expected one of {', '.join(IMPLS)}")
        if impl == "fused" and family not in _FUSED:
            raise ConfigurationError(
                f"{name}: impl='fused' needs a standard cell, but this layer runs the {family!r} cell, "
                "for which torch has no fused kernel. Use impl='auto' or impl='generic'."
            )
        if impl == "fused" and recurrent_dropout > 0:
            raise ConfigurationError(
                f"{name}: recurrent_dropout={recurrent_dropout} cannot run on torch's fused kernel, "
                "which has no recurrent mask. Use impl='auto' or impl='generic'."
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout={dropout} acts between stacked layers, so it does nothing with num_layers=1 "
                "(like torch.nn). Apply nn.Dropout to the outputs instead.",
                stacklevel=3,
            )

        self._family: CellFamily = get_family(family)
        self._family_name = family
        self.mode = _TORCH_MODE.get(family, "LSTM")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        self.impl = impl
        self.recurrent_dropout = float(recurrent_dropout)
        #: which path the last forward call ran, e.g. "fused" or "generic:native"
        self.last_impl: str | None = None

        # Register parameters exactly in torch.nn's order: layer, direction, spec order.
        factory = {"device": device, "dtype": dtype}
        num_directions = 2 if bidirectional else 1
        self._layer_params: list[list[tuple[str, str]]] = []  # per layer-direction: (stem, full name)
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}{'_reverse' if direction == 1 else ''}"
                names = []
                for spec in self._family.parameter_specs(layer_input, hidden_size, bias):
                    full = spec.stem + suffix
                    setattr(self, full, nn.Parameter(torch.empty(spec.shape, **factory)))
                    names.append((spec.stem, full))
                self._layer_params.append(names)
                self._flat_weights_names.extend(full for _, full in names)
                self._all_weights.append([full for _, full in names])
        self.reset_parameters()
        self.flatten_parameters()  # built on CUDA (device="cuda"): one buffer for cuDNN at once

    # ------------------------------------------------------------------ torch.nn compatibility

    def reset_parameters(self) -> None:
        """torch.nn's initialisation (the family's ``reset_parameters``, layer by layer in registration order)."""
        for names in self._layer_params:
            self._family.reset_parameters({stem: getattr(self, full) for stem, full in names}, self.hidden_size)

    def flatten_parameters(self) -> None:
        """On CUDA, lay the weights out in the one contiguous buffer cuDNN wants (as torch.nn does).

        Without it cuDNN copies every weight into a scratch buffer on every call (and warns
        "RNN module weights are not part of single contiguous chunk of memory").  The
        parameters become views into that buffer; names, values and gradients are unchanged.
        A no-op on CPU, for the cell variants (no cuDNN kernel) and when cuDNN cannot run the
        weights (mixed dtypes, shared tensors), exactly the cases torch.nn skips.
        """
        if self._family_name not in _FUSED:
            return
        weights = self._flat_weights
        first = weights[0]
        if not all(
            isinstance(w, Tensor) and w.dtype == first.dtype and w.is_cuda and torch.backends.cudnn.is_acceptable(w)
            for w in weights
        ):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return  # shared weights: one buffer cannot hold them twice
        from torch.backends.cudnn import rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights, 4 if self.bias else 2, self.input_size, cudnn_rnn.get_cudnn_mode(self.mode),
                    self.hidden_size, 0, self.num_layers, self.batch_first, bool(self.bidirectional),
                )

    def _apply(self, fn, recurse=True):
        # After .cuda() / .to(...) the weights are new tensors: flatten them again (torch.nn does too).
        result = super()._apply(fn, recurse)
        self.flatten_parameters()
        return result

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped per layer-direction, like ``torch.nn.LSTM.all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        if self.recurrent_dropout != 0:
            s += f", recurrent_dropout={self.recurrent_dropout}"
        if self.impl != "auto":
            s += f", impl={self.impl!r}"
        return s

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Lengths | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """Run the stacked layers over a batch of sequences.

        Args:
            input: (T, B, I), or (B, T, I) with ``batch_first=True``, or unbatched (T, I),
                or a ``PackedSequence``.
            hx: initial state, (L·D, B, H) (or (L·D, H) for unbatched input); a tuple
                ``(h_0, c_0)`` for LSTMs. ``None`` means zeros. For a PackedSequence the
                batch order is the original (unsorted) one, as in torch.nn.
            lengths: (B,) valid steps per sequence, each in 1..T (tensor on any device or
                list of ints). Padded steps never change the final state and their outputs
                are 0; the reverse direction starts at each sequence's last valid step.

        Returns:
            ``(output, h_n)``, or ``(output, (h_n, c_n))`` for LSTMs: output (T, B, D·H)
            (batch-first / unbatched / packed like the input), h_n and c_n (L·D, B, H).
        """
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ShapeError(
                    f"{type(self).__name__}: got both a PackedSequence and lengths=; a PackedSequence "
                    "carries its own lengths. Pass lengths only with a padded tensor."
                )
            return self._forward_packed(input, hx)

        x = self._check_input(input)
        unbatched = x.dim() == 2
        batch_dim = 0 if self.batch_first else 1
        if unbatched:
            if lengths is not None:
                raise ShapeError(
                    f"{type(self).__name__}: lengths= needs batched 3-D input, got unbatched input "
                    f"{_shape(x)}. Slice the sequence to its length instead, or add a batch dimension."
                )
            x = x.unsqueeze(batch_dim)
        T, B = (x.shape[1], x.shape[0]) if self.batch_first else (x.shape[0], x.shape[1])
        state = self._check_state(hx, x, B, unbatched)
        lens = self._check_lengths(lengths, B, T, x.device)

        impl = self._resolve_impl(x.device)
        if impl == "fused" and lens is not None and lens.on_device is not None:
            output, final = self._run_fused_packed(x, state, lens.on_cpu, T)
        else:
            if lens is not None:  # steps past the longest sequence are never run
                x = x[:, : lens.longest] if self.batch_first else x[: lens.longest]
            if impl == "fused":
                output, final = self._run_fused(x, state)
            else:
                x_tm = x.transpose(0, 1) if self.batch_first else x  # (T', B, I)
                lengths_dev = None if lens is None else lens.on_device
                output, final = self._run_layers(x_tm.contiguous(), state, lengths_dev, impl)
                if self.batch_first:
                    output = output.transpose(0, 1)  # (B, T', D·H)
            if lens is not None and lens.longest < T:  # zeros after the longest sequence
                pad = (0, 0, 0, T - lens.longest) if self.batch_first else (0, 0, 0, 0, 0, T - lens.longest)
                output = F.pad(output, pad)
        if unbatched:
            output = output.squeeze(batch_dim)
            final = tuple(s.squeeze(1) for s in final)
        return output, self._pack_state(final)

    def _forward_packed(self, packed: PackedSequence, hx):
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        if data.dim() != 2 or data.shape[-1] != self.input_size:
            raise ShapeError(
                f"{type(self).__name__}: PackedSequence data must have shape (N, {self.input_size}), "
                f"got {_shape(data)}. Pack (T, B, {self.input_size}) inputs with pack_padded_sequence."
            )
        self._check_dtype_device(data)
        B = int(batch_sizes[0])
        state = self._check_state(hx, data, B, unbatched=False)
        impl = self._resolve_impl(data.device)
        if impl == "fused":
            if state is not None and sorted_indices is not None:
                state = tuple(s.index_select(1, sorted_indices) for s in state)
            state = self._fused_state(state, data, B)
            result = _FUSED[self._family_name](
                data, batch_sizes, state, self._flat_weights, self.bias, self.num_layers,
                self.dropout, self.training, self.bidirectional,
            )  # fmt: skip
            out_data, final = result[0], tuple(result[1:])
            if unsorted_indices is not None:
                final = tuple(s.index_select(1, unsorted_indices) for s in final)
        else:
            # pad_packed_sequence returns the batch in its original order, as is hx.
            padded, lengths_cpu = pad_packed_sequence(packed)  # (T, B, I), (B,)
            lens = lengths_cpu.to(padded.device)
            full = bool((lengths_cpu == padded.shape[0]).all())
            output, final = self._run_layers(padded, state, None if full else lens, impl)  # (T, B, D·H)
            if sorted_indices is not None:
                output = output.index_select(1, sorted_indices)
                lengths_cpu = lengths_cpu.index_select(0, sorted_indices.cpu())
            out_data = pack_padded_sequence(output, lengths_cpu, enforce_sorted=True).data
        return PackedSequence(out_data, batch_sizes, sorted_indices, unsorted_indices), self._pack_state(final)

    # ------------------------------------------------------------------ the two execution paths

    def _resolve_impl(self, device: torch.device) -> str:
        if self.impl != "auto":
            return self.impl
        if self._family_name not in _FUSED or (self.recurrent_dropout > 0 and self.training):
            return "generic"
        if device.type == "cpu" and self._family_name in _GENERIC_WINS_ON_CPU:
            return "generic"
        return "fused"

    def _note_impl(self, impl: str) -> None:
        self.last_impl = impl
        logger.debug("%s(%s): ran the %s path", type(self).__name__, self._family_name, impl)

    def _fused_state(self, state: tuple[Tensor, ...] | None, like: Tensor, B: int):
        if state is None:
            zeros = like.new_zeros(self.num_layers * self._num_directions, B, self.hidden_size)
            state = (zeros,) * self._family.num_states
        return state if self._family.num_states == 2 else state[0]

    def _run_fused(self, x: Tensor, state: tuple[Tensor, ...] | None):
        """torch's fused kernel on an unpadded batch (layout as given, batch_first honoured)."""
        B = x.shape[0] if self.batch_first else x.shape[1]
        hx = self._fused_state(state, x, B)
        result = _FUSED[self._family_name](
            x, hx, self._flat_weights, self.bias, self.num_layers, self.dropout, self.training,
            self.bidirectional, self.batch_first,
        )  # fmt: skip
        self._note_impl("fused")
        return result[0], tuple(result[1:])

    def _run_fused_packed(self, x: Tensor, state: tuple[Tensor, ...] | None, lengths_cpu: Tensor, T: int):
        """torch's fused kernel on a padded batch: pack it, run the packed kernel, pad the output back."""
        B = x.shape[0] if self.batch_first else x.shape[1]
        packed = pack_padded_sequence(x, lengths_cpu, batch_first=self.batch_first, enforce_sorted=False)
        if state is not None:
            state = tuple(s.index_select(1, packed.sorted_indices) for s in state)
        hx = self._fused_state(state, x, B)
        result = _FUSED[self._family_name](
            packed.data, packed.batch_sizes, hx, self._flat_weights, self.bias, self.num_layers,
            self.dropout, self.training, self.bidirectional,
        )  # fmt: skip
        out = PackedSequence(result[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        output, _ = pad_packed_sequence(out, batch_first=self.batch_first, total_length=T)
        final = tuple(s.index_select(1, packed.unsorted_indices) for s in result[1:])
        self._note_impl("fused")
        return output, final

    def _run_layers(
        self, x: Tensor, state: tuple[Tensor, ...] | None, lengths: Tensor | None, impl: str
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The family path. x (T, B, I) contiguous, lengths (B,) long on x.device or None (all full).

        Returns output (T, B, D·H) and the final states, a tuple of (L·D, B, H).
        """
        if torch.is_autocast_enabled(x.device.type):
            # The family paths are autograd Functions with in-place ops on one dtype: under
            # autocast they run in the weights' dtype, as custom_fwd(cast_inputs=...) would
            # (on CUDA, bf16 inputs met float32 weights in addmm_ otherwise).
            dtype = self._flat_weights[0].dtype
            with torch.autocast(x.device.type, enabled=False):
                cast_state = None if state is None else tuple(s.to(dtype) for s in state)
                return self._run_layers(x.to(dtype), cast_state, lengths, impl)
        T, B = x.shape[0], x.shape[1]
        H, D = self.hidden_size, self._num_directions
        family = self._family
        family_impl = "reference" if impl == "reference" else "generic"
        if lengths is not None:
            steps = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
            valid = steps < lengths.unsqueeze(0)  # (T, B)
            # t -> len-1-t on valid steps, identity on pads: reverses each sequence within
            # its own length, and is its own inverse.
            rev_index = torch.where(valid, lengths.unsqueeze(0) - 1 - steps, steps)  # (T, B)
            # Padded steps are computed over (the families know nothing of lengths) and
            # discarded; zero them so that NaN/inf padding cannot leak into weight gradients.
            x = torch.where(valid.unsqueeze(2), x, x.new_zeros(()))  # (T, B, I)
            last = (lengths - 1).view(1, B, 1).expand(1, B, H)  # (1, B, H)

            def reverse(t: Tensor) -> Tensor:
                return t.gather(0, rev_index.unsqueeze(2).expand_as(t))

            def final_of(history: Tensor) -> Tensor:
                return history.gather(0, last).squeeze(0)  # (B, H)

        else:

            def reverse(t: Tensor) -> Tensor:
                return t.flip(0)

            def final_of(history: Tensor) -> Tensor:
                return history[-1]

        keep = 1.0 - self.recurrent_dropout
        use_mask = self.recurrent_dropout > 0 and self.training
        zeros = x.new_zeros(B, H) if state is None else None
        finals: list[list[Tensor]] = [[] for _ in range(family.num_states)]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                k = layer * D + direction
                params = {stem: getattr(self, full) for stem, full in self._layer_params[k]}
                init = (zeros,) * family.num_states if state is None else tuple(s[k] for s in state)
                mask = x.new_empty(B, H).bernoulli_(keep).div_(keep) if use_mask else None
                seq = layer_input if direction == 0 else reverse(layer_input)
                history = family.forward_sequence(seq, init, params, impl=family_impl, recurrent_mask=mask)
                for acc, h in zip(finals, history):
                    acc.append(final_of(h))
                outputs.append(history[0] if direction == 0 else reverse(history[0]))  # (T, B, H)
            layer_output = outputs[0] if D == 1 else torch.cat(outputs, 2)  # (T, B, D·H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                # Same call and shape as torch's kernel, so on CPU the masks match nn.LSTM's for one seed.
                layer_output = F.dropout(layer_output, self.dropout, True)
            layer_input = layer_output
        if lengths is not None:
            layer_input = torch.where(valid.unsqueeze(2), layer_input, layer_input.new_zeros(()))  # 0 at pads
        self._note_impl("reference" if impl == "reference" else f"generic:{family.last_path()}")
        return layer_input, tuple(torch.stack(acc, 0) for acc in finals)

    # ------------------------------------------------------------------ validation

    @property
    def _num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _pack_state(self, final: tuple[Tensor, ...]):
        return final if self._family.num_states == 2 else final[0]

    def _check_dtype_device(self, x: Tensor) -> None:
        name = type(self).__name__
        if not x.is_floating_point():
            raise ShapeError(
                f"{name} expects a floating-point input, got dtype {x.dtype}. Token ids must go "
                "through an embedding first (nn.Embedding), and other data through x.float()."
            )
        weight = getattr(self, self._flat_weights_names[0])
        # Under autocast the dtypes may differ, as in torch.nn (the fused kernels cast, the
        # family paths run in the weights' dtype: _run_layers).
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            raise ShapeError(
                f"{name}: input dtype {x.dtype} does not match the parameters' dtype {weight.dtype}. "
                f"Convert the input (x.to({weight.dtype})) or the module (module.to({x.dtype}))."
            )
        if x.device != weight.device:
            raise ShapeError(
                f"{name}: input is on {x.device} but the parameters are on {weight.device}. "
                f"Move one of them: x.to({str(weight.device)!r}) or module.to({str(x.device)!r})."
            )

    def _check_input(self, x) -> Tensor:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise ShapeError(f"{name} expects a tensor or a PackedSequence as input, got {type(x).__name__}")
        layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
        if x.dim() not in (2, 3):
            raise ShapeError(
                f"{name} expects a 3-D input {layout} (batch_first={self.batch_first}) or an unbatched "
                f"2-D input (T, I), got {x.dim()}-D {_shape(x)}. Add or remove dimensions to match."
            )
        if x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{name}: the input's last dimension must be input_size={self.input_size}, got {_shape(x)}. "
                "Check the feature size, or batch_first if the dimensions are swapped."
            )
        time_dim = 1 if (self.batch_first and x.dim() == 3) else 0
        if x.shape[time_dim] == 0:
            raise ShapeError(f"{name}: the input has no time steps {_shape(x)}; sequences need at least one step.")
        self._check_dtype_device(x)
        return x

    def _check_state(self, hx, x: Tensor, B: int, unbatched: bool) -> tuple[Tensor, ...] | None:
        """Validate hx; returns a tuple of (L·D, B, H) tensors, or None for zeros."""
        if hx is None:
            return None
        name = type(self).__name__
        n = self._family.num_states
        if n == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2 or not all(isinstance(s, Tensor) for s in hx):
                raise ShapeError(
                    f"{name}: the initial state must be a tuple (h_0, c_0) of two tensors, got {type(hx).__name__}"
                )
            states, labels = tuple(hx), ("h_0", "c_0")
        else:
            if not isinstance(hx, Tensor):
                raise ShapeError(f"{name}: the initial state must be one tensor h_0, got {type(hx).__name__}")
            states, labels = (hx,), ("h_0",)
        LD = self.num_layers * self._num_directions
        expected = (LD, self.hidden_size) if unbatched else (LD, B, self.hidden_size)
        for s, label in zip(states, labels):
            if tuple(s.shape) != expected:
                raise ShapeError(
                    f"{name}: {label} must have shape {expected} = (num_layers·num_directions"
                    f"{'' if unbatched else ', batch'}, hidden_size), got {_shape(s)}. "
                    f"Build it with torch.zeros{expected} or pass None for zeros."
                )
            if s.dtype != x.dtype or s.device != x.device:
                raise ShapeError(
                    f"{name}: {label} has dtype {s.dtype} on {s.device}, but the input has dtype {x.dtype} "
                    f"on {x.device}. Convert it with {label}.to(x)."
                )
        return tuple(s.unsqueeze(1) for s in states) if unbatched else states

    def _check_lengths(self, lengths, B: int, T: int, device: torch.device) -> _Lengths | None:
        """Validate lengths; None when every length is T (nothing padded)."""
        if lengths is None:
            return None
        name = type(self).__name__
        if not isinstance(lengths, Tensor):
            try:
                lengths = torch.as_tensor(lengths)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise ShapeError(f"{name}: lengths must be a (B,) integer tensor or a list of ints ({exc})") from None
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise ShapeError(f"{name}: lengths must hold integers, got dtype {lengths.dtype}. Use lengths.long().")
        if lengths.dim() != 1 or lengths.shape[0] != B:
            raise ShapeError(f"{name}: lengths must have shape ({B},), one length per sequence, got {_shape(lengths)}")
        lengths_cpu = lengths.to("cpu", torch.long)  # one host read (a sync on CUDA) to validate
        low, high = int(lengths_cpu.min()), int(lengths_cpu.max())
        if low < 1 or high > T:
            raise ShapeError(
                f"{name}: every length must be in 1..{T} (the padded length), got min {low}, max {high}. "
                "Drop empty sequences from the batch, and pad the input to the longest one."
            )
        if low == T:
            return None  # nothing padded: skip the gathers
        on_device = None if low == high else lengths.to(device, torch.long)
        return _Lengths(on_device, lengths_cpu, high)


class RNN(_RecurrentBase):
    """Elman RNN, a drop-in for ``torch.nn.RNN`` (h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)).

    Args:
        input_size, hidden_size, num_layers, nonlinearity ("tanh" or "relu"), bias,
            batch_first, dropout, bidirectional, device, dtype: as in torch.nn.RNN.
        proj_size: must be 0 (projections are LSTM-only in torch and unsupported here).
        impl: "auto" | "fused" | "generic" | "reference" (see the module docstring).
        recurrent_dropout: Keras-style dropout of h_{t-1} inside the recurrence, one
            (B, H) mask per sequence and layer-direction, in training only (Gal &
            Ghahramani 2016); runs on the generic path.

    Call: ``rnn(input, h_0=None, lengths=None) -> (output, h_n)``; see ``forward``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        impl: str = "auto",
        recurrent_dropout: float = 0.0,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigurationError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, impl, recurrent_dropout, device, dtype,
        )  # fmt: skip

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"


class LSTM(_RecurrentBase):
    """LSTM, a drop-in for ``torch.nn.LSTM``, with the notes' cell variants.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            device, dtype: as in torch.nn.LSTM.
        proj_size: must be 0 (refused with an explanation).
        cell: "standard" (torch.nn.LSTM's equations), "peephole" (Gers & Schmidhuber
            2000; extra ``weight_ch_l{k}`` (3, H)), "coupled" (input gate = 1 − forget
            gate; 3 gate blocks) or "layernorm" (Ba et al. 2016; ``gain_*`` and
            ``bias_c`` parameters). See ``seqlab.nn.cells`` for the equations.
        impl: "auto" | "fused" (standard cell only) | "generic" | "reference".
        recurrent_dropout: Keras-style recurrent dropout (see ``RNN``).

    Call: ``lstm(input, (h_0, c_0)=None, lengths=None) -> (output, (h_n, c_n))``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        cell: str = "standard",
        impl: str = "auto",
        recurrent_dropout: float = 0.0,
    ) -> None:
        if cell not in LSTM_CELLS:
            raise ConfigurationError(f"LSTM: cell={cell!r} is not valid; expected one of {', '.join(LSTM_CELLS)}")
        self.cell = cell
        super().__init__(
            LSTM_CELLS[cell], input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, impl, recurrent_dropout, device, dtype,
        )  # fmt: skip

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.cell == "standard" else s + f", cell={self.cell!r}"


class GRU(_RecurrentBase):
    """GRU, a drop-in for ``torch.nn.GRU`` (reset-after form; gate blocks r, z, n).

    Args: as ``RNN`` without ``nonlinearity``.

    Call: ``gru(input, h_0=None, lengths=None) -> (output, h_n)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        impl: str = "auto",
        recurrent_dropout: float = 0.0,
    ) -> None:
        super().__init__(
            "gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            proj_size, impl, recurrent_dropout, device, dtype,
        )  # fmt: skip
