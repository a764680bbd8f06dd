"""The Keras-style ``Layer``: a ``torch.nn.Module`` built lazily at its first call.

* ``build(input_shape)`` creates the parameters once the input shape is known (Keras' lazy
  build), ``call(inputs, mask=None, ...)`` computes, ``compute_mask`` propagates Keras masks
  (for example ``Embedding(mask_zero=True)`` → ``LSTM``).
* Called on a :class:`KerasTensor` (from ``Input``), a layer records a :class:`Node` of the
  functional graph instead of computing; the output shapes are inferred by running the layer
  on small dummy tensors (twice, with different sizes for the unknown ``None`` axes, so that
  axes which follow them stay ``None``).
* ``trainable = False`` on a layer, a model or any plain ``torch.nn.Module`` inside a model
  freezes its parameters (see :func:`apply_trainable`).
* any ``torch.nn.Module`` can be used where a layer is expected: it is wrapped in
  :class:`TorchModuleWrapper`.

Shape legend: B batch, T time, everything channels-last like Keras.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError

__all__ = [
    "KerasTensor",
    "Layer",
    "Node",
    "TorchModuleWrapper",
    "apply_trainable",
    "as_layer",
    "register",
    "LAYER_CLASSES",
]

Shape = tuple  # of int | None, batch axis first

#: class name -> Layer class, for rebuilding architectures from JSON (saving.py).
LAYER_CLASSES: dict[str, type] = {}

_name_counters: dict[str, itertools.count] = {}


def register(cls: type) -> type:
    """Class decorator: make a layer class loadable by name from a saved config."""
    LAYER_CLASSES[cls.__name__] = cls
    return cls


def _snake(name: str) -> str:
    """Keras' default layer names: ``LSTM`` → ``lstm``, ``SimpleRNN`` → ``simple_rnn``,
    ``Conv1D`` → ``conv1d``, ``GlobalMaxPooling1D`` → ``global_max_pooling1d``."""
    name = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return re.sub(r"(?<=\d)_(?=d$)", "", name)


def unique_name(prefix: str) -> str:
    counter = _name_counters.setdefault(prefix, itertools.count())
    n = next(counter)
    return prefix if n == 0 else f"{prefix}_{n}"


def format_shape(shape: Any) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``fn`` to every leaf of nested lists/tuples/dicts."""
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


def tree_leaves(tree: Any) -> list:
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in tree_leaves(t)]
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in tree_leaves(v)]
    return [tree]


class KerasTensor:
    """A symbolic tensor of the functional API: a shape (batch axis ``None``) and a dtype.

    It remembers the :class:`Node` (layer call) that produced it and its position among that
    call's outputs, and whether a Keras mask travels with it.
    """

    def __init__(
        self,
        shape: Shape,
        dtype: torch.dtype = torch.float32,
        node: "Node | None" = None,
        index: int = 0,
        has_mask: bool = False,
        name: str | None = None,
    ) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.has_mask = has_mask
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={format_shape(self.shape)}, dtype={self.dtype}, name={self.name}>"

    # Calling torch functions (or a plain torch module) on a KerasTensor is a common mistake.
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise TypeError(
            f"{getattr(func, '__name__', func)} was called on a symbolic KerasTensor; a functional "
            "graph is built from seqlab.keras layer calls only. Wrap a torch module as "
            "layers.TorchModuleWrapper(module)(x), or put the computation in a Layer subclass."
        )


class Node:
    """One layer call in a functional graph: ``outputs = layer(*args, **kwargs)``."""

    def __init__(self, layer: "Layer", args: tuple, kwargs: dict, outputs: list[KerasTensor]):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs

    @property
    def inputs(self) -> list[KerasTensor]:
        return [t for t in tree_leaves((self.args, self.kwargs)) if isinstance(t, KerasTensor)]


def _dummy(kt: KerasTensor, unknown: int, batch: int) -> Tensor:
    shape = [batch] + [unknown if s is None else s for s in kt.shape[1:]]
    if kt.dtype.is_floating_point:
        return torch.zeros(shape, dtype=kt.dtype)
    # Ones, not zeros: a zero token would be masked by Embedding(mask_zero=True).
    return torch.ones(shape, dtype=kt.dtype)


def _infer_shape(a: Tensor, b: Tensor) -> Shape:
    if a.dim() != b.dim():
        return (None,) * a.dim()
    return (None,) + tuple(x if x == y else None for x, y in zip(a.shape[1:], b.shape[1:]))


class Layer(nn.Module):
    """Base class of every seqlab.keras layer (a ``torch.nn.Module``).

    Subclasses implement ``build(input_shape)`` (optional, creates parameters), ``call(inputs,
    mask=None, ...)`` and, when they change the mask, ``compute_mask(inputs, mask)``; and
    ``get_config()`` returning their constructor arguments.

    Args:
        name: the layer's name in ``summary()`` and saved files (auto-generated by default).
        trainable: ``False`` freezes the layer's parameters.
        input_shape: optional shape without the batch axis, as in Keras
            (``Dense(8, input_shape=(4,))`` as the first layer of a ``Sequential``).
    """

    #: Whether the input mask is passed through unchanged (Keras' ``supports_masking``).
    supports_masking: bool = False

    def __init__(
        self,
        name: str | None = None,
        trainable: bool = True,
        input_shape: tuple | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.name = name or unique_name(_snake(type(self).__name__))
        self.built = False
        self._trainable = bool(trainable)
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.output_shape: Any = None
        self._inbound_nodes: list[Node] = []

    # ----------------------------------------------------------------------- trainable
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        apply_trainable(self)

    def add_weight(
        self,
        shape: Sequence[int] = (),
        initializer: Any = "glorot_uniform",
        trainable: bool = True,
        name: str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> nn.Parameter:
        """Create, initialize and register a parameter (Keras' ``add_weight``, for custom layers).

        ``initializer`` is a name from ``seqlab.keras.initializers`` or an in-place callable;
        1-D or 0-D shapes use ``zeros`` when the glorot/orthogonal initializers need 2 axes.
        """
        from seqlab.keras import initializers

        param = nn.Parameter(torch.empty(tuple(shape), dtype=dtype), requires_grad=trainable)
        if len(param.shape) < 2 and initializer in ("glorot_uniform", "glorot_normal", "orthogonal"):
            initializer = "zeros"
        initializers.initialize(param, initializer)
        name = name or f"weight_{len(list(self.parameters(recurse=False)))}"
        if hasattr(self, name) and name not in self._parameters:
            raise ConfigurationError(f"layer {self.name!r} already has an attribute {name!r}; pick another weight name")
        self.register_parameter(name, param)
        if not trainable:
            param._keras_frozen = True  # type: ignore[attr-defined]
        return param

    # ----------------------------------------------------------------------- overridables
    def build(self, input_shape: Any) -> None:
        """Create parameters for inputs of ``input_shape`` (concrete sizes, batch first)."""

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.supports_masking else None

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self._trainable}

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    # ----------------------------------------------------------------------- calling
    def _ensure_built(self, inputs: Any) -> None:
        if self.built:
            return
        shapes = tree_map(lambda t: tuple(t.shape) if isinstance(t, Tensor) else t, inputs)
        self.build(shapes)
        self.built = True
        self.train(self.training)  # modules created by build() inherit the layer's mode
        leaves = [t for t in tree_leaves(inputs) if isinstance(t, Tensor)]
        if leaves and any(p.device != leaves[0].device for p in self.parameters()):
            self.to(leaves[0].device)
        apply_trainable(self)

    def forward(self, inputs: Any, *args: Any, mask: Any = None, training: bool | None = None,
                **kwargs: Any) -> Any:
        """Build if needed, then ``call``.  ``training=None`` uses the module's mode
        (``model.train()`` / ``model.eval()``, set by fit/evaluate/predict); ``True``/``False``
        overrides it for this call, as Keras' ``training`` argument does."""
        self._ensure_built(inputs)
        if training is None or bool(training) == self.training:
            return self.call(inputs, *args, mask=mask, **kwargs)
        with _mode(self, bool(training)):
            return self.call(inputs, *args, mask=mask, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(t, KerasTensor) for t in tree_leaves((args, kwargs))):
            return self._symbolic_call(args, kwargs)
        return super().__call__(*args, **kwargs)

    def call_with_masks(self, args: tuple, kwargs: dict, masks: Any) -> tuple[Any, Any]:
        """Eager call that also passes and propagates Keras masks; returns (outputs, out_masks).

        ``masks`` mirrors the structure of ``args[0]`` (``None`` where there is no mask).
        """
        has_mask = any(m is not None for m in tree_leaves(masks))
        if has_mask and "mask" not in kwargs:
            kwargs = dict(kwargs, mask=masks)
        outputs = self(*args, **kwargs)
        return outputs, self.compute_mask(args[0], kwargs.get("mask"))

    def _symbolic_call(self, args: tuple, kwargs: dict) -> Any:
        inputs_kt = [t for t in tree_leaves((args, kwargs)) if isinstance(t, KerasTensor)]
        results = []
        was_training = self.training
        self.eval()  # no dropout / batch-norm statistics from dummy data
        try:
            for unknown, batch in ((2, 2), (3, 3)):
                def concrete(t: Any) -> Any:
                    return _dummy(t, unknown, batch) if isinstance(t, KerasTensor) else t

                c_args = tree_map(concrete, args)
                c_kwargs = tree_map(concrete, kwargs)
                masks = _dummy_masks(args[0], c_args[0])
                with torch.no_grad():
                    results.append(self.call_with_masks(c_args, c_kwargs, masks))
                if not any(None in kt.shape[1:] for kt in inputs_kt):
                    results.append(results[0])
                    break
        except (ShapeError, ConfigurationError):
            raise
        except Exception as exc:  # re-raise with the symbolic shapes, which the user wrote
            raise ShapeError(
                f"layer {self.name!r} ({type(self).__name__}) failed on inputs of shape "
                f"{format_shape([kt.shape for kt in inputs_kt])}: {exc}. Check the shapes given "
                "to Input(...) and the layer's arguments."
            ) from exc
        finally:
            self.train(was_training)
        (out_a, mask_a), (out_b, _) = results[0], results[1]
        flat_a, flat_b = tree_leaves(out_a), tree_leaves(out_b)
        flat_masks = tree_leaves(mask_a) if isinstance(out_a, (list, tuple)) else [mask_a]
        if isinstance(out_a, (list, tuple)) and not isinstance(mask_a, (list, tuple)):
            flat_masks = [mask_a] + [None] * (len(flat_a) - 1)
        node = Node(self, args, kwargs, [])
        outs = []
        for i, (a, b) in enumerate(zip(flat_a, flat_b)):
            m = flat_masks[i] if i < len(flat_masks) else None
            outs.append(KerasTensor(_infer_shape(a, b), a.dtype, node, i, has_mask=m is not None,
                                    name=f"{self.name}/{i}"))
        node.outputs = outs
        self._inbound_nodes.append(node)
        shapes = [kt.shape for kt in outs]
        self.output_shape = shapes[0] if len(shapes) == 1 else shapes
        if isinstance(out_a, (list, tuple)):
            return list(outs)
        return outs[0]

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class _mode:
    """Context manager: put ``module`` in train/eval mode, restore the previous modes after."""

    def __init__(self, module: nn.Module, training: bool) -> None:
        self.module, self.training = module, training

    def __enter__(self) -> None:
        self.saved = [(m, m.training) for m in self.module.modules()]
        self.module.train(self.training)

    def __exit__(self, *exc: Any) -> None:
        for m, was in self.saved:
            m.training = was


def _dummy_masks(symbolic: Any, concrete: Any) -> Any:
    if isinstance(symbolic, (list, tuple)):
        return [_dummy_masks(s, c) for s, c in zip(symbolic, concrete)]
    if isinstance(symbolic, KerasTensor) and symbolic.has_mask:
        return torch.ones(concrete.shape[:2], dtype=torch.bool)
    return None


@register
class TorchModuleWrapper(Layer):
    """Use any ``torch.nn.Module`` as a layer: ``outputs = module(inputs)``.

    The module receives the tensors exactly as given (channels-last tensors stay channels-last;
    permute inside the module if it expects channels-first).  Masks are not propagated.
    Setting ``module.trainable = False`` (as the notes do with ``cnn.trainable = False``) freezes
    it, like on a Keras layer.
    """

    def __init__(self, module: nn.Module, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name or unique_name(_snake(type(module).__name__)), **kwargs)
        if not isinstance(module, nn.Module):
            raise ConfigurationError(
                f"TorchModuleWrapper expects a torch.nn.Module, got {type(module).__name__}"
            )
        self.module = module
        self.built = True

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        return self.module(inputs, **kwargs)

    def get_config(self) -> dict:
        raise ConfigurationError(
            f"layer {self.name!r} wraps a plain torch module ({type(self.module).__name__}) whose "
            "architecture cannot be written to JSON; save the weights with model.save_weights(path) "
            "and rebuild the model in code before model.load_weights(path)"
        )


def as_layer(obj: Any) -> Layer:
    """A seqlab.keras layer for ``obj`` (a Layer as is, a torch module wrapped)."""
    if isinstance(obj, Layer):
        return obj
    if isinstance(obj, nn.Module):
        return TorchModuleWrapper(obj)
    raise ConfigurationError(
        f"expected a seqlab.keras layer or a torch.nn.Module, got {type(obj).__name__} ({obj!r})"
    )


def apply_trainable(root: nn.Module) -> None:
    """Set ``requires_grad`` of every parameter from the ``trainable`` flags above it.

    A parameter is trainable only when every module on its path from ``root`` has
    ``trainable`` unset or true, so freezing a sub-model freezes everything inside it.
    """

    def visit(module: nn.Module, parent_trainable: bool) -> None:
        own = getattr(module, "trainable", True)
        effective = parent_trainable and bool(own)
        for p in module.parameters(recurse=False):
            p.requires_grad_(effective and not getattr(p, "_keras_frozen", False))
        for child in module.children():
            visit(child, effective)

    visit(root, True)


def frozen_modules(root: nn.Module) -> Iterable[nn.Module]:
    """Modules whose own ``trainable`` flag is False (kept in inference mode during fit)."""
    for module in root.modules():
        if module is not root and getattr(module, "trainable", True) is False:
            yield module


def serialize_layer(layer: Layer) -> dict:
    """``{"class_name": ..., "config": ...}``: the JSON form of a layer (no weights)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec: dict) -> Layer:
    """Inverse of :func:`serialize_layer`; unknown class names are an error listing known ones."""
    name = spec.get("class_name")
    if name not in LAYER_CLASSES:
        raise ConfigurationError(
            f"unknown layer class {name!r} in the saved architecture; known: {sorted(LAYER_CLASSES)}"
        )
    return LAYER_CLASSES[name].from_config(dict(spec.get("config", {})))
