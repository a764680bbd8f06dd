"""ctypes bindings for the fused pointwise step kernels of the GRU and vanilla RNN.

The C sources (``gru_native.c``, ``rnn_native.c``) sit beside this file; each is compiled
once per machine at first use by ``_cbuild.load_c_library`` (well under a second, cached)
and called through ctypes with raw data pointers of contiguous CPU tensors. A kernel set
exists for float32 and float64; ``kernels_for`` returns ``None`` whenever the native path
does not apply (CUDA or other dtypes, ``SEQLAB_NO_NATIVE=1``, no compiler, failed build),
and the caller then runs its pure-ATen path.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
from torch import Tensor

from seqlab.nn.kernels import _cbuild

_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_INT = ctypes.c_int

#: C function stem -> argument types (pointers as c_void_p, so Python ints or None pass through)
_SIGNATURES: dict[str, dict[str, list]] = {
    "gru_native": {
        "seqlab_gru_forward": [_I64, _I64, _P, _P, _P, _P, _P, _P, _P],
        "seqlab_gru_backward": [_I64, _I64, _P, _P, _P, _P, _P, _P, _P, _P],
        "seqlab_gru_seq_forward": [_I64, _I64, _I64] + [_P] * 9 + [_I64, _INT, _P, _P],
        "seqlab_gru_seq_backward": [_I64, _I64, _I64] + [_P] * 10 + [_INT, _INT, _P, _P],
    },
    "rnn_native": {
        "seqlab_rnn_forward": [_I64, _P, _P, _P, _INT],
        "seqlab_rnn_backward": [_I64, _P, _P, _P, _P, _P, _INT],
    },
}
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_BOUND: dict[str, dict[torch.dtype, dict[str, ctypes._CFuncPtr]] | None] = {}


class NativeKernels:
    """The step functions of one source for one dtype: ``kernels.forward(...)``, ``kernels.backward(...)``.

    ``seq_forward``/``seq_backward`` run a whole sequence, recurrent matmul included (``None``
    for sources without them).
    """

    def __init__(self, functions: dict[str, ctypes._CFuncPtr], element_size: int) -> None:
        self.forward = functions["forward"]
        self.backward = functions["backward"]
        self.seq_forward = functions.get("seq_forward")
        self.seq_backward = functions.get("seq_backward")
        self.element_size = element_size


def _bind(name: str) -> dict[torch.dtype, NativeKernels] | None:
    if name not in _BOUND:
        source = (Path(__file__).with_name(f"{name}.c")).read_text()
        lib = _cbuild.load_c_library(name, source)
        if lib is None:
            _BOUND[name] = None
        else:
            per_dtype = {}
            for dtype, suffix in _SUFFIX.items():
                functions = {}
                for stem, argtypes in _SIGNATURES[name].items():
                    fn = getattr(lib, f"{stem}_{suffix}")
                    fn.argtypes = argtypes
                    fn.restype = None
                    functions[stem.split("_", 2)[2]] = fn  # seqlab_gru_seq_forward -> "seq_forward"
                per_dtype[dtype] = NativeKernels(functions, torch.tensor([], dtype=dtype).element_size())
            _BOUND[name] = per_dtype
    return _BOUND[name]


def kernels_for(name: str, *tensors: Tensor | None) -> NativeKernels | None:
    """The native kernels of ``name`` ("gru_native" or "rnn_native") usable for these tensors, or ``None``.

    Native kernels apply when every tensor is a float32 or float64 CPU tensor of one dtype
    and native kernels are enabled and build on this machine.
    """
    present = [t for t in tensors if t is not None]
    dtype = present[0].dtype
    if dtype not in _SUFFIX or any(t.device.type != "cpu" or t.dtype != dtype for t in present):
        return None
    if not _cbuild.native_enabled():
        return None
    bound = _bind(name)
    return None if bound is None else bound[dtype]


def pointer(t: Tensor | None) -> int | None:
    """Data pointer of a contiguous tensor (``None`` stays ``None``: a NULL pointer in C)."""
    return None if t is None else t.data_ptr()
