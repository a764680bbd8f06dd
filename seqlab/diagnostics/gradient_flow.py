"""How far back the loss reaches: ‖∂L/∂h_t‖ for every time step and recurrent layer.

The notes' vanishing-gradient argument ("I live in France … I speak fluent French"),
measured: back-propagating through ``h_t = tanh(W_hh h_{t-1} + …)`` multiplies the
gradient by ``W_hhᵀ diag(1 − h_t²)`` once per step, so ‖∂L/∂h_t‖ shrinks (or grows)
geometrically with the distance to the loss (Bengio et al. 1994; Pascanu et al. 2013,
"On the difficulty of training recurrent neural networks", §2).

What is measured: ``∂L/∂h_t`` is the TOTAL derivative of the loss with respect to the
hidden state h_t of each layer (and direction) — every path from h_t to L counts: the
layer output at t and, through the recurrence, every later step. For LSTMs h_t is the
output state and the cell state c_t is held fixed (its own ‖∂L/∂c_t‖ is reported too,
in ``cell_norms``). The number reported per (layer, t) is the mean over the batch of the
per-example L2 norm, ``mean_b ‖∂L/∂h_t[b]‖₂``; with ``lengths`` only the sequences
still valid at step t are averaged (0 when none is).

How: recurrent layers (``seqlab.nn`` or ``torch.nn`` RNN/LSTM/GRU) hide their
per-step states (a fused kernel returns only the outputs and the final state, and the
outputs are not the nodes the recurrence reads). For the one diagnostic forward pass,
each recurrent module's ``forward`` is temporarily replaced by an equivalent step-by-step
run of single-layer modules that SHARE its parameter tensors (``weight_ih_l{k}`` of the
original becomes ``weight_ih_l0`` of the k-th single-layer module), so every h_t is a
graph node used by both the next step and the layer output; ``torch.autograd.grad``
then gives ∂L/∂h_t without touching any ``.grad``. The model runs in ``eval()`` mode
(no dropout, so the measurement is deterministic); the original ``forward`` and mode
are restored afterwards. A recurrent module called several times in one forward pass
gives one set of rows per call. No hook in ``seqlab/nn/recurrent.py`` is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from seqlab.errors import ConfigurationError, ShapeError

__all__ = ["GradientFlow", "gradient_flow", "recurrent_modules", "save_gradient_flow"]


@dataclass
class GradientFlow:
    """Result of :func:`gradient_flow`.

    Attributes:
        layers: one label per row, ``"<module>.l<k>"`` (``".reverse"`` for the second
            direction of a bidirectional layer).
        norms: (R, T) ``mean_b ‖∂L/∂h_t[b]‖₂`` for row r (a layer-direction) and step t.
        cell_norms: label -> (T,) the same for the LSTM cell state c_t.
        loss: the loss value the gradients are of.
    """

    layers: list[str]
    norms: Tensor
    cell_norms: dict[str, Tensor] = field(default_factory=dict)
    loss: float = float("nan")

    def ratio(self) -> Tensor:
        """(R,) ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ per row: ≪ 1 means the gradient vanished going back."""
        return self.norms[:, 0] / self.norms[:, -1].clamp_min(torch.finfo(self.norms.dtype).tiny)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: labels, norms (lists), cell norms and loss."""
        return {
            "layers": list(self.layers),
            "norms": self.norms.tolist(),
            "cell_norms": {k: v.tolist() for k, v in self.cell_norms.items()},
            "loss": self.loss,
        }

    def plot(self, path: str | Path, *, title: str | None = None) -> Path:
        """Save a heatmap (layer × time, log10 norm) and a line plot per layer to ``path`` (PNG/PDF/SVG)."""
        from seqlab.diagnostics.plots import plot_gradient_flow

        return plot_gradient_flow(self, path, title=title)


def recurrent_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every ``seqlab.nn`` / ``torch.nn`` RNN, LSTM and GRU in ``model``."""
    from seqlab.nn.recurrent import _RecurrentBase

    found = []
    for name, module in model.named_modules():
        if isinstance(module, (_RecurrentBase, nn.RNNBase)):
            found.append((name or type(module).__name__, module))
    return found


def _is_lstm(module: nn.Module) -> bool:
    from seqlab.nn.recurrent import LSTM

    return isinstance(module, (LSTM, nn.LSTM))


def _single_layer_like(module: nn.Module, layer: int, direction: int) -> nn.Module:
    """A 1-layer, 1-direction, time-major module whose parameters ARE ``module``'s layer-direction's."""
    import seqlab.nn as snn
    from seqlab.nn.recurrent import _RecurrentBase

    D = 2 if module.bidirectional else 1
    in_size = module.input_size if layer == 0 else module.hidden_size * D
    H = module.hidden_size
    if isinstance(module, _RecurrentBase):
        # "auto": torch's fused kernel for standard cells, the generic kernel for the variants
        extra: dict[str, Any] = {"impl": "reference" if module.impl == "reference" else "auto"}
        if isinstance(module, snn.LSTM):
            extra["cell"] = module.cell
        elif isinstance(module, snn.RNN):
            extra["nonlinearity"] = module.nonlinearity
        single = type(module)(in_size, H, 1, bias=module.bias, batch_first=False, **extra)
    else:
        if getattr(module, "proj_size", 0):
            raise ConfigurationError(
                f"gradient_flow: {type(module).__name__} with proj_size={module.proj_size} is not supported; "
                "measure a model without LSTM projections."
            )
        extra = {"nonlinearity": module.nonlinearity} if isinstance(module, nn.RNN) else {}
        single = type(module)(in_size, H, 1, bias=module.bias, batch_first=False, **extra)
    suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
    for name, _ in list(single.named_parameters(recurse=False)):
        stem = name[: -len("_l0")]
        setattr(single, name, getattr(module, stem + suffix))  # share, do not copy
    single.eval()
    return single


class _StepwiseForward:
    """Replacement ``forward`` of one recurrent module; records every h_t (and c_t) node."""

    def __init__(self, module: nn.Module, label: str) -> None:
        self.module = module
        self.label = label
        D = 2 if module.bidirectional else 1
        self.singles = [[_single_layer_like(module, k, d) for d in range(D)] for k in range(module.num_layers)]
        self.lstm = _is_lstm(module)
        #: per row (layer-direction): label, list of (B, H) h_t nodes in time order, c_t nodes, valid (T, B) mask
        self.records: list[tuple[str, list[Tensor], list[Tensor]]] = []
        self.valid: Optional[Tensor] = None  # (T, B) True on real steps, with lengths=
        self.rev_index: Optional[Tensor] = None  # (T, B) per-sequence time reversal, with lengths=

    def __call__(self, input: Tensor, hx: Any = None, lengths: Any = None):
        m = self.module
        if isinstance(input, PackedSequence):
            raise ConfigurationError(
                "gradient_flow: the model passed a PackedSequence to its recurrent layer; pass a padded "
                "(B, T, I) batch with lengths= instead (seqlab.nn layers accept lengths=)."
            )
        if input.dim() != 3:
            raise ShapeError(f"gradient_flow needs batched 3-D input to {self.label}, got shape {tuple(input.shape)}.")
        x = input.transpose(0, 1) if m.batch_first else input  # (T, B, I)
        T, B = x.shape[0], x.shape[1]
        D = 2 if m.bidirectional else 1
        if lengths is not None:
            lens = torch.as_tensor(lengths, device=x.device).long()  # (B,)
            steps = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
            self.valid = steps < lens.unsqueeze(0)  # (T, B)
            # t -> len-1-t on valid steps, identity on pads: reverses each sequence within
            # its own length and is its own inverse (as seqlab.nn.recurrent does).
            self.rev_index = torch.where(self.valid, lens.unsqueeze(0) - 1 - steps, steps)  # (T, B)
        if hx is None:
            h0 = x.new_zeros(m.num_layers * D, B, m.hidden_size)
            hx = (h0, h0) if self.lstm else h0
        states = hx if self.lstm else (hx,)
        finals: list[list[Tensor]] = [[] for _ in states]
        layer_input = x
        for k in range(m.num_layers):
            outs = []
            for d in range(D):
                row = k * D + d
                label = f"{self.label}.l{k}" + (".reverse" if d == 1 else "")
                single = self.singles[k][d]
                state = [s[row] for s in states]  # each (B, H)
                seq = layer_input if d == 0 else self.reverse(layer_input)
                hs: list[Tensor] = []
                cs: list[Tensor] = []
                out = []
                for t in range(T):
                    prev = tuple(s.unsqueeze(0) for s in state)  # (1, B, H) each
                    _, new = single(seq[t : t + 1], prev if self.lstm else prev[0])
                    new = [s[0] for s in new] if self.lstm else [new[0]]  # each (B, H)
                    if self.valid is not None:  # padded steps keep the state, output 0
                        ok = self.valid[t].unsqueeze(1)  # (B, 1)
                        new = [torch.where(ok, n, p) for n, p in zip(new, state)]
                    state = new
                    hs.append(state[0])  # the node both the next step and the output read
                    if self.lstm:
                        cs.append(state[1])
                    out.append(state[0] if self.valid is None else torch.where(ok, state[0], torch.zeros_like(state[0])))
                y = torch.stack(out, 0)  # (T, B, H), run order
                outs.append(y if d == 0 else self.reverse(y))
                self.records.append((label, hs, cs))
                for acc, s in zip(finals, state):
                    acc.append(s)
            layer_input = outs[0] if D == 1 else torch.cat(outs, 2)  # (T, B, D·H)
        output = layer_input.transpose(0, 1) if m.batch_first else layer_input
        final = tuple(torch.stack(acc, 0) for acc in finals)  # (L·D, B, H) each
        return output, (final if self.lstm else final[0])

    def reverse(self, t: Tensor) -> Tensor:
        """Time-reverse (T, B, ...) within each sequence's length (its own inverse)."""
        if self.rev_index is None:
            return t.flip(0)
        index = self.rev_index.view(*self.rev_index.shape, *([1] * (t.dim() - 2))).expand_as(t)
        return t.gather(0, index)


def _split(batch: Any) -> tuple[tuple, Any]:
    if isinstance(batch, dict):
        targets = batch.get("labels", batch.get("targets"))
        if targets is None:
            raise ConfigurationError("gradient_flow: a dict batch needs a 'labels' or 'targets' entry.")
        return (batch["ids"],), targets
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        inputs, targets = batch
        return (tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)), targets
    raise ConfigurationError(
        f"gradient_flow: batch must be (inputs, targets) or a dict with 'ids' and 'labels', got {type(batch).__name__}."
    )


def _default_loss(output: Tensor, targets: Tensor) -> Tensor:
    from seqlab.train.losses import cross_entropy, mse

    if targets.dtype.is_floating_point:
        return mse(output, targets)
    return cross_entropy(output, targets)


def gradient_flow(
    model: nn.Module,
    batch: Any,
    loss_fn: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
    *,
    state: Any = None,
) -> GradientFlow:
    """‖∂L/∂h_t‖ for every time step t and every layer of every recurrent module in ``model``.

    Args:
        model: any module containing ``seqlab.nn`` / ``torch.nn`` RNN, LSTM or GRU layers.
        batch: ``(inputs, targets)`` — the model is called as ``model(inputs)`` (or
            ``model(*inputs)`` for a tuple; a language model also gets ``state``) — or a
            dict ``{"ids", "lengths"?, "labels"}`` (``lengths`` passed on when given).
        loss_fn: ``loss(output, targets) -> scalar``; default cross-entropy for integer
            targets ((B, T, V) vs (B, T), or (B, C) vs (B,)) and MSE for float targets.
            A tuple output's first element is the prediction.
        state: the initial recurrent state for a language model (``model(ids, state)``).

    Returns:
        :class:`GradientFlow` with ``norms`` (R, T), rows in module / layer / direction order.

    Raises:
        ConfigurationError: the model has no recurrent layer, or the batch is malformed.
    """
    modules = recurrent_modules(model)
    if not modules:
        raise ConfigurationError(
            f"gradient_flow: {type(model).__name__} contains no RNN/LSTM/GRU (seqlab.nn or torch.nn) layer to measure."
        )
    args, targets = _split(batch)
    kwargs: dict[str, Any] = {}
    if isinstance(batch, dict) and "lengths" in batch:
        kwargs["lengths"] = batch["lengths"]
    if state is not None:
        kwargs["state"] = state
    loss_fn = loss_fn or _default_loss
    was_training = model.training
    patches = []
    try:
        model.eval()
        for label, module in modules:
            patch = _StepwiseForward(module, label)
            module.forward = patch  # instance attribute shadows the class's forward
            patches.append(patch)
        # cuDNN's RNN kernels have no backward in eval mode ("cudnn RNN backward can only be
        # called in training mode"); torch's own CUDA kernels do, and give the same numbers.
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            output = model(*args, **kwargs)
            if isinstance(output, tuple):
                output = output[0]
            loss = loss_fn(output, targets)
            if loss.dim() != 0:
                raise ShapeError(f"gradient_flow: loss_fn must return a scalar, got shape {tuple(loss.shape)}.")
            nodes = [n for p in patches for _, hs, cs in p.records for n in (*hs, *cs)]
            grads = torch.autograd.grad(loss, nodes, allow_unused=True)
    finally:
        for _, module in modules:
            if "forward" in module.__dict__:
                del module.forward
        model.train(was_training)

    labels: list[str] = []
    rows: list[Tensor] = []
    cell_norms: dict[str, Tensor] = {}
    it = iter(grads)
    for patch in patches:
        valid = patch.valid  # (T, B) or None
        for label, hs, cs in patch.records:
            h_norms = _norms([next(it) for _ in hs], hs, valid, label, patch)
            labels.append(label)
            rows.append(h_norms)
            if cs:
                cell_norms[label] = _norms([next(it) for _ in cs], cs, valid, label, patch)
    norms = torch.stack(rows, 0) if len({r.numel() for r in rows}) == 1 else _pad_rows(rows)
    return GradientFlow(labels, norms, cell_norms, float(loss.detach()))


def _norms(grads: list[Optional[Tensor]], nodes: list[Tensor], valid: Optional[Tensor], label: str,
           patch: _StepwiseForward) -> Tensor:
    """(T,) mean over (valid) sequences of the per-example L2 norm, in original time order."""
    per = torch.stack(
        [torch.zeros(n.shape[0], dtype=n.dtype, device=n.device) if g is None else g.detach().norm(dim=1)
         for g, n in zip(grads, nodes)], 0
    )  # (T, B), in the order the steps ran
    if label.endswith(".reverse"):
        per = patch.reverse(per)  # back to original time order
    if valid is None:
        return per.mean(1).cpu()
    count = valid.sum(1).clamp_min(1).to(per.dtype)  # (T,)
    return ((per * valid.to(per.dtype)).sum(1) / count).cpu()


def _pad_rows(rows: list[Tensor]) -> Tensor:
    T = max(r.numel() for r in rows)
    out = torch.full((len(rows), T), float("nan"), dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        out[i, : r.numel()] = r
    return out


def save_gradient_flow(model: nn.Module, batch: Any, run_dir: str | Path, *, name: str = "gradient_flow",
                       loss_fn: Optional[Callable[[Tensor, Tensor], Tensor]] = None) -> GradientFlow:
    """Measure on ``batch`` and save it with a run: ``run_dir/plots/<name>.png`` and ``<name>.json``.

    One line for a recipe runner or a callback, e.g. on the first validation window after training.
    """
    import json

    flow = gradient_flow(model, batch, loss_fn)
    plots = Path(run_dir) / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    flow.plot(plots / f"{name}.png")
    (plots / f"{name}.json").write_text(json.dumps(flow.to_dict(), indent=2) + "\n", encoding="utf-8")
    return flow
