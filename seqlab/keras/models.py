"""Keras models on torch: ``Sequential``, the functional ``Model(inputs, outputs)`` and ``Input``.

* ``Sequential([...])`` / ``.add(layer)`` runs layers in order, passing Keras masks along
  (``Embedding(mask_zero=True)`` → ``LSTM``).  Without an ``Input`` it is built at the first
  call, from the data's shapes.
* ``Input(shape=...)`` returns a symbolic :class:`~seqlab.keras.base.KerasTensor`; calling layers
  on it records a graph; ``Model(inputs, outputs)`` turns the graph into a ``torch.nn.Module``
  whose ``forward`` takes the inputs in the order given (or a dict by input name).
* ``compile`` / ``fit`` / ``evaluate`` / ``predict`` run on :class:`seqlab.train.Trainer` —
  the same engine as the command line — with Keras' names and defaults resolved by
  :mod:`seqlab.keras.losses`, :mod:`~seqlab.keras.optimizers` and :mod:`~seqlab.keras.metrics`.
* ``summary()`` prints layers, output shapes and parameter counts; ``save`` / ``load_model``
  (in :mod:`seqlab.keras.saving`) write the architecture as JSON and the weights as safetensors.

Parameter counts are torch's: LSTM and SimpleRNN layers hold two bias vectors where Keras
holds one, so they count ``G·units`` more parameters than Keras prints; ``summary()`` states
the difference in its footer.  Keras' GRU (reset_after=True) has two biases too, so GRUs match.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.keras.base import (
    LAYER_CLASSES,
    KerasTensor,
    Layer,
    Node,
    apply_trainable,
    as_layer,
    deserialize_layer,
    format_shape,
    frozen_modules,
    register,
    serialize_layer,
    tree_leaves,
    tree_map,
    unique_name,
)

__all__ = ["Input", "InputLayer", "Model", "Sequential"]

_DTYPES = {
    "float32": torch.float32, "float": torch.float32, "float64": torch.float64,
    "float16": torch.float16, "bfloat16": torch.bfloat16, "int32": torch.int64,
    "int64": torch.int64, "int": torch.int64, "int16": torch.int64, "int8": torch.int64,
    "uint8": torch.int64, "bool": torch.bool,
}


def _dtype(dtype: Any) -> torch.dtype:
    """Keras dtype names → torch dtypes (integer inputs become int64, the index type)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return torch.int64 if not dtype.is_floating_point and dtype != torch.bool else dtype
    name = getattr(dtype, "name", None) or (dtype.__name__ if isinstance(dtype, type) else str(dtype))
    if name in _DTYPES:
        return _DTYPES[name]
    raise ConfigurationError(f"unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def Input(
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    name: str | None = None,
    batch_shape: Sequence[int | None] | None = None,
) -> KerasTensor:
    """A symbolic input of shape ``(batch, *shape)`` for the functional API.

    ``None`` marks a size known only at run time (``Input(shape=(None,), dtype="int32")`` for
    questions of any length, ``Input(shape=(None, 150, 150, 3))`` for videos of any length).
    """
    if batch_shape is not None:
        full = tuple(batch_shape)
    elif shape is not None:
        if isinstance(shape, int):
            shape = (shape,)
        full = (batch_size,) + tuple(shape)
    else:
        raise ConfigurationError("Input needs shape=(...) (without the batch axis) or batch_shape=(...)")
    for s in full[1:]:
        if s is not None and (not isinstance(s, int) or s <= 0):
            raise ConfigurationError(f"Input shape entries must be positive ints or None, got {full[1:]}")
    kt = KerasTensor((None,) + full[1:], _dtype(dtype), name=name or unique_name("input_layer"))
    kt.is_input = True  # type: ignore[attr-defined]
    return kt


@register
class InputLayer(Layer):
    """``layers.InputLayer(shape=...)``: declares the input of a ``Sequential``."""

    def __init__(self, shape: Sequence[int | None] | None = None, dtype: Any = None,
                 batch_shape: Sequence[int | None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tensor = Input(shape=shape, dtype=dtype, batch_shape=batch_shape, name=self.name)
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        return inputs


def _to_tensor(x: Any, what: str) -> Tensor:
    """numpy / lists / tensors → tensor; float64 becomes float32 (Keras' default float)."""
    if isinstance(x, Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        if x.dtype == object:
            raise ShapeError(
                f"{what} is a numpy array of Python objects (ragged sequences?); pad it to a "
                "rectangular int array first (for example with seqlab.data's padding)"
            )
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (ValueError, TypeError) as exc:
            raise ShapeError(f"{what} cannot be converted to a tensor ({exc}); pass numpy arrays or tensors") from None
    if t.dtype == torch.float64:
        t = t.float()
    elif not t.is_floating_point() and t.dtype != torch.bool:
        t = t.long()
    return t


class _ArrayBatches:
    """Re-iterable batches ``((x1, x2, ...) or x, y)`` sliced from in-memory tensors.

    One random permutation per epoch when ``shuffle`` (torch's RNG, so the engine's seeding
    and resume apply); slicing whole batches avoids per-sample collation.
    """

    def __init__(self, xs: list[Tensor], y: Tensor | None, batch_size: int, shuffle: bool) -> None:
        self.xs, self.y, self.batch_size, self.shuffle = xs, y, batch_size, shuffle
        self.n = xs[0].shape[0]

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        order = torch.randperm(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            if order is None:
                sl: Any = slice(start, start + self.batch_size)
            else:
                sl = order[start : start + self.batch_size]
            xs = [x[sl] for x in self.xs]
            inputs = xs[0] if len(xs) == 1 else tuple(xs)
            yield (inputs, self.y[sl]) if self.y is not None else (inputs,)


class Model(Layer):
    """A functional model ``Model(inputs, outputs)`` and the base of ``Sequential``.

    Args:
        inputs: a KerasTensor from ``Input``, a list of them, or a dict name → KerasTensor.
        outputs: a KerasTensor or a list of them (the model then returns a list).
        name: the model name shown by ``summary()``.

    Call it like any module: ``model(x)``, ``model(video, question)``, ``model([video,
    question])`` or ``model({"video": v, "question": q})``; tensors are channels-last.
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 trainable: bool = True) -> None:
        super().__init__(name=name or unique_name(type(self).__name__.lower() if type(self) is not Model
                                                   else "functional"), trainable=trainable)
        #: the layers in call order (state-dict keys ``layers.<i>.…`` follow this order, so weights
        #: move between two models of the same architecture whatever their layer names)
        self.layers = nn.ModuleList()
        self._compiled: dict[str, Any] | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.history: Any = None
        if isinstance(self, Sequential):
            return
        if inputs is None or outputs is None:
            raise ConfigurationError(
                "Model needs inputs and outputs: build them with the functional API, e.g. "
                "x = Input(shape=(None,)); y = Dense(1)(LSTM(8)(Embedding(100, 8)(x))); Model(x, y)"
            )
        self._build_graph(inputs, outputs)
        self.built = True
        apply_trainable(self)

    # ---------------------------------------------------------------- graph
    def _build_graph(self, inputs: Any, outputs: Any) -> None:
        self._input_struct = inputs
        if isinstance(inputs, dict):
            self._inputs = list(inputs.values())
        else:
            self._inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self._outputs_struct = outputs
        self._outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for kt in self._inputs + self._outputs:
            if not isinstance(kt, KerasTensor):
                raise ConfigurationError(
                    f"Model inputs and outputs must be symbolic tensors from Input(...) and layer calls, "
                    f"got {type(kt).__name__}"
                )
        for kt in self._inputs:
            if not getattr(kt, "is_input", False):
                raise ConfigurationError(f"model input {kt} is not an Input(...) tensor")
        input_ids = {id(kt) for kt in self._inputs}
        order: list[Node] = []
        seen: set[int] = set()

        def visit(kt: KerasTensor, path: tuple) -> None:
            if id(kt) in input_ids:
                return
            if kt.node is None:
                raise ConfigurationError(
                    f"the graph needs the input {kt.name!r}, which is not among the model's inputs "
                    f"{[i.name for i in self._inputs]}; add it to Model(inputs=[...])"
                )
            node = kt.node
            if id(node) in seen:
                return
            for parent in node.inputs:
                visit(parent, path + (id(node),))
            seen.add(id(node))
            order.append(node)

        for kt in self._outputs:
            visit(kt, ())
        self._nodes = order
        for node in order:
            self._register_layer(node.layer)

    def _register_layer(self, layer: Layer) -> None:
        existing = next((layer_ for layer_ in self.layers if layer_.name == layer.name), None)
        if existing is layer:
            if isinstance(self, Sequential):
                raise ConfigurationError(f"layer {layer.name!r} is already in Sequential model {self.name!r}")
            return
        if existing is not None:
            raise ConfigurationError(
                f"two different layers are named {layer.name!r} in model {self.name!r}; layer names "
                "must be unique: pass name=... to one of them"
            )
        self.layers.append(layer)

    def get_layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigurationError(f"no layer named {name!r}; layers: {[layer.name for layer in self.layers]}")

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._outputs)

    # ---------------------------------------------------------------- calling
    def _flatten_inputs(self, args: tuple) -> list[Tensor]:
        expected = self._inputs
        if len(args) == 1 and isinstance(args[0], dict):
            given = args[0]
            missing = [kt.name for kt in expected if kt.name not in given]
            if missing:
                raise ShapeError(f"model {self.name!r} input dict lacks {missing}; got keys {sorted(given)}")
            flat = [given[kt.name] for kt in expected]
        elif len(args) == 1 and isinstance(args[0], (list, tuple)):
            flat = list(args[0])
        else:
            flat = list(args)
        if len(flat) != len(expected):
            raise ShapeError(
                f"model {self.name!r} expects {len(expected)} input(s) "
                f"{[(kt.name, format_shape(kt.shape)) for kt in expected]}, got {len(flat)}"
            )
        out = []
        device = _model_device(self)
        for kt, x in zip(expected, flat):
            x = x if isinstance(x, Tensor) else _to_tensor(x, f"input {kt.name!r}")
            _check_input(x, kt, self.name)
            out.append(x.to(device=device or x.device, dtype=kt.dtype))
        return out

    def forward(self, *args: Any, mask: Any = None, training: bool | None = None, **kwargs: Any) -> Any:
        if training is not None and bool(training) != self.training:
            from seqlab.keras.base import _mode

            with _mode(self, bool(training)):
                return self.forward(*args, mask=mask, **kwargs)
        if kwargs:
            if args:
                raise ShapeError(f"model {self.name!r}: pass inputs either positionally or by name, not both")
            args = (kwargs,)
        xs = self._flatten_inputs(args)
        values: dict[int, tuple[Tensor, Any]] = {}
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(xs)
        for kt, x, m in zip(self._inputs, xs, masks):
            values[id(kt)] = (x, m)

        def value(t: Any) -> Any:
            return values[id(t)][0] if isinstance(t, KerasTensor) else t

        def mask_of(t: Any) -> Any:
            return values[id(t)][1] if isinstance(t, KerasTensor) else None

        for node in self._nodes:
            args_v = tree_map(value, node.args)
            kwargs_v = tree_map(value, node.kwargs)
            in_masks = tree_map(mask_of, node.args[0])
            out, out_mask = node.layer.call_with_masks(args_v, kwargs_v, in_masks)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            if isinstance(out_mask, (list, tuple)) and isinstance(out, (list, tuple)):
                out_masks = list(out_mask)
            else:
                out_masks = [out_mask] + [None] * (len(outs) - 1)
            for kt, o, m in zip(node.outputs, outs, out_masks):
                values[id(kt)] = (o, m)
        results = [value(kt) for kt in self._outputs]
        if isinstance(self._outputs_struct, (list, tuple)):
            return results
        return results[0]

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        return self.forward(inputs, mask=mask)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(t, KerasTensor) for t in tree_leaves((args, kwargs))):
            if len(args) > 1:
                args = (list(args),)
            return self._symbolic_call(args, kwargs)
        return nn.Module.__call__(self, *args, **kwargs)

    def train(self, mode: bool = True) -> "Model":
        """Like ``nn.Module.train``, but frozen (``trainable=False``) sub-layers stay in inference
        mode, as in Keras (their dropout and batch-norm statistics do not change)."""
        super().train(mode)
        if mode:
            for module in frozen_modules(self):
                module.eval()
        return self

    # ---------------------------------------------------------------- training API
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        run_eagerly: bool | None = None,
        jit_compile: Any = None,
        steps_per_execution: int = 1,
        device: str | torch.device = "auto",
    ) -> None:
        """Configure training: Keras names (``"binary_crossentropy"``, ``"rmsprop"``, ``"accuracy"``)
        or objects.  ``run_eagerly``, ``jit_compile`` and ``steps_per_execution`` are accepted for
        Keras compatibility and have no effect.  ``device``: ``"auto"`` (CUDA when present)."""
        from seqlab.keras import losses, metrics as metrics_mod, optimizers

        if loss is None:
            raise ConfigurationError(
                f"compile() needs a loss, e.g. loss='binary_crossentropy'; valid names: {sorted(losses.LOSSES)}"
            )
        loss_fn = losses.get(loss)
        opt = optimizers.get(optimizer)
        metric_specs = list(metrics or [])
        for m in metric_specs:
            metrics_mod.get(m, loss)  # validate names now, not at fit time
        self._compiled = {"loss": loss, "loss_fn": loss_fn, "optimizer": opt, "metrics": metric_specs,
                          "device": device}
        self.optimizer = None  # built at the first fit, once every layer has its parameters

    def _require_compiled(self, what: str) -> dict[str, Any]:
        if self._compiled is None:
            raise ConfigurationError(
                f"{what}() was called before compile(); call model.compile(loss=..., optimizer=..., "
                "metrics=[...]) first"
            )
        return self._compiled

    def _input_tensors(self, x: Any) -> list[Tensor]:
        if x is None:
            raise ShapeError("x is None; pass the input array(s)")
        if isinstance(x, dict):
            names = [kt.name for kt in getattr(self, "_inputs", [])]
            missing = [n for n in names if n not in x]
            if missing:
                raise ShapeError(f"input dict lacks {missing}; model inputs are {names}")
            xs = [x[n] for n in names]
        elif isinstance(x, (list, tuple)) and x and all(hasattr(v, "shape") for v in x) and \
                (len(self._inputs) > 1 or len(x) == 1):
            xs = list(x)  # one array per model input (Keras also accepts [x] for one input)
        else:
            xs = [x]
        xs = [_to_tensor(v, f"input {i}") for i, v in enumerate(xs)]
        n = xs[0].shape[0] if xs[0].dim() else 0
        for t in xs:
            if t.dim() == 0 or t.shape[0] != n:
                raise ShapeError(
                    f"all inputs need the same number of samples on axis 0, got shapes {[tuple(t.shape) for t in xs]}"
                )
        return xs

    def _ensure_model_built(self, xs: list[Tensor]) -> None:
        """Run two samples through the model once so lazily-built layers create their parameters
        (before the optimizer is built on them)."""
        if getattr(self, "_probe_done", False):
            return
        params = list(self.parameters())
        device = params[0].device if params else torch.device("cpu")
        was = self.training
        self.eval()
        with torch.no_grad():
            self(*[x[:2].to(device) for x in xs])
        self.train(was)
        self._probe_done = True
        apply_trainable(self)

    def _trainer(self, callbacks: Sequence[Any] = (), verbose: Any = "auto") -> Any:
        from seqlab.keras import metrics as metrics_mod
        from seqlab.train.engine import Trainer

        compiled = self._compiled
        assert compiled is not None
        apply_trainable(self)
        if self.optimizer is None:
            self.optimizer = compiled["optimizer"].build(self.parameters())
        clip = getattr(compiled["optimizer"], "clipnorm", None)
        return Trainer(
            self,
            loss=compiled["loss_fn"],
            optimizer=self.optimizer,
            metrics=[metrics_mod.get(m, compiled["loss"]) for m in compiled["metrics"]],
            callbacks=list(callbacks),
            grad_clip_norm=clip,
            device=compiled["device"],
            verbose=verbose,
        )

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Sequence[Any] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        validation_batch_size: int | None = None,
    ) -> Any:
        """Train on numpy arrays / tensors (one array per model input) and return a ``History``.

        ``validation_split`` holds out the LAST fraction of the samples (before shuffling, as
        Keras does); ``validation_data=(x_val, y_val)`` overrides it.  ``batch_size`` defaults to
        32.  Callbacks are ``seqlab.keras.callbacks`` (= ``seqlab.train`` callbacks).
        """
        self._require_compiled("fit")
        if y is None:
            raise ShapeError("fit() needs targets y (numpy array or tensor)")
        if not isinstance(epochs, int) or epochs < 0:
            raise ConfigurationError(f"epochs must be a non-negative int, got {epochs!r}")
        batch_size = _check_batch_size(batch_size)
        xs = self._input_tensors(x)
        yt = _to_tensor(y, "y")
        if yt.shape[0] != xs[0].shape[0]:
            raise ShapeError(f"x has {xs[0].shape[0]} samples but y has {yt.shape[0]}; they must match")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) != 2:
                raise ConfigurationError("validation_data must be a tuple (x_val, y_val)")
            vx, vy = self._input_tensors(validation_data[0]), _to_tensor(validation_data[1], "validation y")
            val = _ArrayBatches(vx, vy, validation_batch_size or batch_size, shuffle=False)
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ConfigurationError(f"validation_split must be in (0, 1), got {validation_split!r}")
            n = xs[0].shape[0]
            split = int(n * (1.0 - validation_split))
            if split == 0 or split == n:
                raise ConfigurationError(
                    f"validation_split={validation_split} of {n} samples leaves an empty training or validation set"
                )
            val = _ArrayBatches([t[split:] for t in xs], yt[split:], validation_batch_size or batch_size, False)
            xs, yt = [t[:split] for t in xs], yt[:split]
        if xs[0].shape[0] == 0:
            raise ShapeError("fit() got 0 samples")
        self._ensure_model_built(xs)
        trainer = self._trainer(callbacks or (), verbose)
        history = trainer.fit(_ArrayBatches(xs, yt, batch_size, shuffle), epochs=epochs, val_data=val,
                              initial_epoch=initial_epoch)
        history.model = self
        history.params = {"epochs": epochs, "steps": len(_ArrayBatches(xs, yt, batch_size, False)),
                          "verbose": verbose}
        self.history = history
        return history

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None, verbose: Any = "auto",
                 return_dict: bool = False) -> Any:
        """Loss and metrics on ``(x, y)``: a float (loss only), a list ``[loss, *metrics]``, or a
        dict with ``return_dict=True``."""
        compiled = self._require_compiled("evaluate")
        if y is None:
            raise ShapeError("evaluate() needs targets y")
        xs, yt = self._input_tensors(x), _to_tensor(y, "y")
        if yt.shape[0] != xs[0].shape[0]:
            raise ShapeError(f"x has {xs[0].shape[0]} samples but y has {yt.shape[0]}; they must match")
        self._ensure_model_built(xs)
        logs = self._trainer((), verbose).evaluate(_ArrayBatches(xs, yt, _check_batch_size(batch_size), False))
        if return_dict:
            return logs
        if not compiled["metrics"]:
            return logs["loss"]
        return [logs[k] for k in logs]

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto") -> Any:
        """Outputs for ``x`` as numpy arrays (a list of arrays for a multi-output model).

        Needs no ``compile()``; runs in inference mode (no dropout)."""
        xs = self._input_tensors(x)
        self._ensure_model_built(xs)
        batches = _ArrayBatches(xs, None, _check_batch_size(batch_size), False)
        if self._compiled is not None and not isinstance(getattr(self, "_outputs_struct", None), (list, tuple)):
            return self._trainer((), verbose).predict(batches).numpy()
        device = next(self.parameters()).device if any(True for _ in self.parameters()) else torch.device("cpu")
        was = self.training
        self.eval()
        chunks: list[list[Tensor]] = []
        for (inputs,) in batches:
            inputs = inputs if isinstance(inputs, tuple) else (inputs,)
            out = self(*[t.to(device) for t in inputs])
            chunks.append([o.cpu() for o in (out if isinstance(out, list) else [out])])
        self.train(was)
        outs = [torch.cat(parts).numpy() for parts in zip(*chunks)]
        return outs if isinstance(getattr(self, "_outputs_struct", None), (list, tuple)) else outs[0]

    def predict_on_batch(self, x: Any) -> Any:
        return self.predict(x, batch_size=max(1, self._input_tensors(x)[0].shape[0]))

    # ---------------------------------------------------------------- summary
    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        rows = []
        for kt in self._inputs:
            rows.append((f"{kt.name} (InputLayer)", format_shape(kt.shape), 0, ""))
        for node in self._nodes:
            parents = ", ".join(_tensor_ref(p) for p in node.inputs)
            rows.append((f"{node.layer.name} ({type(node.layer).__name__})",
                         format_shape([o.shape for o in node.outputs] if len(node.outputs) > 1 else node.outputs[0].shape),
                         _layer_params(node.layer)[0], parents))
        return rows

    def summary(self, print_fn: Callable[[str], Any] | None = None, line_length: int | None = None) -> None:
        """Print a table of layers, output shapes and parameter counts, then the totals.

        Counts are torch's (see the module docstring); the footer names the difference to
        Keras' count when LSTM/SimpleRNN layers are present.
        """
        print_fn = print_fn or print
        apply_trainable(self)
        rows = self._summary_rows()
        connected = any(r[3] for r in rows) and not isinstance(self, Sequential)
        headers = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if connected else ())
        table = [(r[0], r[1], f"{r[2]:,}") + ((r[3],) if connected else ()) for r in rows]
        widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h) for i, h in enumerate(headers)]

        def line(cells: Sequence[str]) -> str:
            parts = [c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
            return "  ".join(parts).rstrip()

        total_width = sum(widths) + 2 * (len(widths) - 1)
        trainable, non_trainable = _param_totals(self)
        extra = _keras_bias_difference(self)
        out = [f'Model: "{self.name}"', "=" * total_width, line(headers), "=" * total_width]
        out += [line(t) for t in table]
        out += ["=" * total_width,
                f"Total params: {trainable + non_trainable:,}",
                f"Trainable params: {trainable:,}",
                f"Non-trainable params: {non_trainable:,}"]
        if extra:
            out.append(
                f"(torch counts: LSTM/SimpleRNN layers keep two bias vectors; Keras would report "
                f"{trainable + non_trainable - extra:,} total params, {extra:,} fewer)"
            )
        if not self.built or any(not layer.built for layer in self.layers):
            out.append("(some layers are not built yet: call the model on data or fit() to build them)")
        out.append("_" * total_width)
        print_fn("\n".join(out))

    # ---------------------------------------------------------------- saving
    def get_config(self) -> dict:
        ids: dict[int, list] = {}
        for kt in self._inputs:
            ids[id(kt)] = ["input", kt.name]
        nodes = []
        for i, node in enumerate(self._nodes):
            for j, kt in enumerate(node.outputs):
                ids[id(kt)] = ["node", i, j]

            def enc(t: Any) -> Any:
                if isinstance(t, KerasTensor):
                    return {"__tensor__": ids[id(t)]}
                if isinstance(t, (int, float, str, bool)) or t is None:
                    return t
                raise ConfigurationError(f"cannot save a call argument of type {type(t).__name__} to JSON")

            nodes.append({"layer": node.layer.name, "args": tree_map(enc, list(node.args)),
                          "kwargs": tree_map(enc, dict(node.kwargs))})
        return {
            "name": self.name,
            "trainable": self._trainable,
            "layers": [serialize_layer(layer) for layer in self.layers],
            "inputs": [{"name": kt.name, "shape": list(kt.shape[1:]), "dtype": _dtype_name(kt.dtype)}
                       for kt in self._inputs],
            "input_struct": "dict" if isinstance(self._input_struct, dict) else
            ("list" if isinstance(self._input_struct, (list, tuple)) else "single"),
            "nodes": nodes,
            "outputs": [ids[id(kt)] for kt in self._outputs],
            "output_struct": "list" if isinstance(self._outputs_struct, (list, tuple)) else "single",
        }

    @classmethod
    def from_config(cls, config: dict) -> "Model":
        layers = {spec["config"]["name"]: deserialize_layer(spec) for spec in config["layers"]}
        tensors: dict[tuple, KerasTensor] = {}
        inputs = []
        for spec in config["inputs"]:
            kt = Input(shape=tuple(spec["shape"]), dtype=spec["dtype"], name=spec["name"])
            tensors[("input", spec["name"])] = kt
            inputs.append(kt)
        for i, node in enumerate(config["nodes"]):
            def dec(t: Any) -> Any:
                if isinstance(t, dict) and "__tensor__" in t:
                    return tensors[tuple(t["__tensor__"])]
                if isinstance(t, list):
                    return [dec(v) for v in t]
                if isinstance(t, dict):
                    return {k: dec(v) for k, v in t.items()}
                return t

            args = dec(node["args"])
            kwargs = dec(node["kwargs"])
            out = layers[node["layer"]](*args, **kwargs)
            for j, kt in enumerate(out if isinstance(out, list) else [out]):
                tensors[("node", i, j)] = kt
        outputs = [tensors[tuple(ref)] for ref in config["outputs"]]
        ins: Any = inputs if config["input_struct"] != "single" else inputs[0]
        if config["input_struct"] == "dict":
            ins = {kt.name: kt for kt in inputs}
        outs: Any = outputs if config["output_struct"] == "list" else outputs[0]
        return cls(ins, outs, name=config["name"], trainable=config.get("trainable", True))

    def save(self, filepath: str) -> None:
        """Write architecture (JSON) and weights (safetensors) to one file; see ``load_model``."""
        from seqlab.keras.saving import save_model

        save_model(self, filepath)

    def save_weights(self, filepath: str) -> None:
        """Write only the weights (safetensors)."""
        from seqlab.keras.saving import save_weights

        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        from seqlab.keras.saving import load_weights

        load_weights(self, filepath)


LAYER_CLASSES["Functional"] = Model
LAYER_CLASSES["Model"] = Model


def _check_batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return 32
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigurationError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def _model_device(model: nn.Module) -> torch.device | None:
    """Where the model's weights are (None before they exist).  Inputs are moved there, as
    Keras moves numpy / CPU inputs to its default device: after ``fit`` on CUDA,
    ``model(cpu_tensor)`` works as it does in Keras."""
    for p in model.parameters():
        return p.device
    return None


def _check_input(x: Tensor, kt: KerasTensor, model_name: str) -> None:
    expected = kt.shape
    ok = x.dim() == len(expected) and all(e is None or e == s for e, s in zip(expected[1:], x.shape[1:]))
    if not ok:
        raise ShapeError(
            f"model {model_name!r}: input {kt.name!r} expects shape {format_shape(expected)}, got "
            f"{tuple(x.shape)}; fix the data or the Input(shape=...) declaration"
        )


def _tensor_ref(kt: KerasTensor) -> str:
    if kt.node is None:
        return str(kt.name)
    return f"{kt.node.layer.name}[{kt.index}]" if len(kt.node.outputs) > 1 else kt.node.layer.name


def _layer_params(layer: nn.Module) -> tuple[int, int]:
    """(all params incl. float buffers, trainable) of one layer."""
    params = sum(p.numel() for p in layer.parameters())
    buffers = sum(b.numel() for b in layer.buffers() if b.is_floating_point())
    trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    return params + buffers, trainable


def _param_totals(model: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable); running statistics of batch norm count as non-trainable, as in Keras."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return trainable, frozen + buffers


def _keras_bias_difference(model: nn.Module) -> int:
    """How many more parameters torch's layout has than Keras' (the second LSTM/SimpleRNN bias)."""
    from seqlab.keras.layers.recurrent import LSTM, SimpleRNN

    extra = 0
    for module in model.modules():
        if isinstance(module, (LSTM, SimpleRNN)) and module.built and module.use_bias:
            extra += module.cell.bias_hh_l0.numel()
    return extra


@register
class Sequential(Model):
    """A linear stack of layers: ``Sequential([Embedding(...), LSTM(128), Dense(1)])`` or ``.add``.

    The first element may be ``Input(shape=...)`` / ``InputLayer``, or the first layer may get
    ``input_shape=(...)``; otherwise the model is built at its first call, from the data.
    """

    def __init__(self, layers: Sequence[Any] | None = None, name: str | None = None,
                 trainable: bool = True) -> None:
        super().__init__(name=name, trainable=trainable)
        self._input: KerasTensor | None = None
        self._build_shape: tuple | None = None  # (shape without batch, dtype) seen at the first call
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Append a layer (or a torch module, or declare the input with ``Input``/``InputLayer``)."""
        if isinstance(layer, KerasTensor) or isinstance(layer, InputLayer):
            if len(self.layers):
                raise ConfigurationError("Input(...) must come first in a Sequential model")
            self._input = layer if isinstance(layer, KerasTensor) else layer.tensor
            return
        layer = as_layer(layer)
        if self._input is None and not len(self.layers) and layer._input_shape_arg is not None:
            self._input = Input(shape=layer._input_shape_arg)
        self._register_layer(layer)
        self.built = False
        self._probe_done = False  # a new layer needs building before the next fit
        self.optimizer = None  # ... and the optimizer must include its parameters
        if self._input is not None:
            self._build_symbolic()

    def pop(self) -> Layer:
        if not len(self.layers):
            raise ConfigurationError("pop() on an empty Sequential model")
        return self.layers.pop(-1)

    def _build_symbolic(self) -> None:
        x: Any = self._input
        for layer in self.layers:
            x = layer(x)
        self.built = True

    @property
    def _inputs(self) -> list[KerasTensor]:  # type: ignore[override]
        return [self._input] if self._input is not None else []

    def forward(self, *args: Any, mask: Any = None, training: bool | None = None, **kwargs: Any) -> Any:
        if training is not None and bool(training) != self.training:
            from seqlab.keras.base import _mode

            with _mode(self, bool(training)):
                return self.forward(*args, mask=mask, **kwargs)
        if len(args) != 1 or kwargs:
            raise ShapeError(
                f"Sequential model {self.name!r} takes one input tensor, got {len(args)} positional and "
                f"{sorted(kwargs)} keyword inputs; use the functional Model for several inputs"
            )
        if not len(self.layers):
            raise ConfigurationError(f"Sequential model {self.name!r} has no layers; add some with .add(layer)")
        x = args[0] if isinstance(args[0], Tensor) else _to_tensor(args[0], "input")
        if self._input is not None:
            _check_input(x, self._input, self.name)
            if x.dtype != self._input.dtype:
                x = x.to(self._input.dtype)
        device = _model_device(self)
        if device is not None:
            x = x.to(device)
        if self._build_shape is None:
            self._build_shape = (tuple(x.shape[1:]), _dtype_name(x.dtype))
        for layer in self.layers:
            first_call = layer.output_shape is None
            x, mask = layer.call_with_masks((x,), {}, mask)
            if first_call and isinstance(x, Tensor):
                layer.output_shape = (None,) + tuple(x.shape[1:])
        if not self.built:
            self.built = True
            apply_trainable(self)
        return x

    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        rows = []
        for layer in self.layers:
            built = layer.built
            rows.append((f"{layer.name} ({type(layer).__name__})",
                         format_shape(layer.output_shape) if layer.output_shape is not None else "?",
                         _layer_params(layer)[0] if built else 0, ""))
        return rows

    def get_config(self) -> dict:
        build = None
        if self._input is not None:
            build = {"shape": list(self._input.shape[1:]), "dtype": _dtype_name(self._input.dtype), "declared": True}
        elif self._build_shape is not None:
            build = {"shape": list(self._build_shape[0]), "dtype": self._build_shape[1], "declared": False}
        return {"name": self.name, "trainable": self._trainable,
                "layers": [serialize_layer(layer) for layer in self.layers], "build_input": build}

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        build = config.get("build_input")
        model = cls(name=config["name"], trainable=config.get("trainable", True))
        if build is not None and build.get("declared"):
            model.add(Input(shape=tuple(build["shape"]), dtype=build["dtype"]))
        for spec in config["layers"]:
            model.add(deserialize_layer(spec))
        if build is not None and not build.get("declared"):
            shape = [1] + [2 if s is None else s for s in build["shape"]]
            dtype = _dtype(build["dtype"])
            dummy = torch.ones(shape, dtype=dtype) if not dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
            model.eval()
            with torch.no_grad():
                model(dummy)
            model.train()
        return model
