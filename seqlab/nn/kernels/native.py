"""What the native (C) paths of every cell family share: availability, loading, pointers, BLAS.

* Sources are ``.c`` files beside this module (``gru_native.c``, ``rnn_native.c``,
  ``lstm_native.c``); each defines every kernel for ``float`` (``*_f32``) and ``double``
  (``*_f64``, so gradcheck covers them). A ``NativeSource`` names the file and the argument
  types of its functions; ``GRU_SOURCE``, ``RNN_SOURCE`` and ``LSTM_SOURCE`` below.
* ``kernels_for(source, *tensors)`` gives the bound functions for the tensors' dtype, or
  ``None`` when the native path does not apply (not all contiguous float32/float64 CPU
  tensors of one dtype, ``SEQLAB_NO_NATIVE=1``, no compiler, failed build); the caller then
  runs its ATen path. A source is compiled once per machine at first use by
  ``_cbuild.load_c_library`` (cached on disk, keyed by the source text, flags and compiler).
* Kernels take raw addresses (``pointer(t)``; ``None`` is a NULL pointer) and are called
  through ctypes, which releases the GIL.
* ``sequence_blas`` hands the whole-sequence loops (``SEQUENCE_LOOPS``) the BLAS torch links.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from seqlab.nn.kernels import _cbuild

#: Run the native path's whole time loop in C, recurrent matmul included (the ``*seq_*``
#: kernels, through the BLAS torch links): each thread owns a block of batch rows for all
#: steps, so no step waits on a barrier. False keeps one torch matmul plus one C call per step
#: (that also runs when torch's BLAS cannot be found); for A/B tests. Read at every call.
SEQUENCE_LOOPS = True

_P = ctypes.c_void_p  # pointers as c_void_p, so Python ints and None pass through
_I = ctypes.c_int
_L = ctypes.c_int64
#: In a signature: the kernel's floating type (C ``float`` for f32, ``double`` for f64).
REAL = "real"
_DTYPES = {torch.float32: ("f32", ctypes.c_float), torch.float64: ("f64", ctypes.c_double)}

#: The LSTM's flags: _cbuild's default without ``-ffast-math`` (with it gcc links crtfastmath.o,
#: whose constructor turns on flush-to-zero for the whole process when the library is loaded:
#: torch.tensor([1e-39]) * 1 became 0). The subset kept still lets gcc vectorise the reductions;
#: ``-ffp-contract=fast`` allows FMA.
LSTM_FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fno-signed-zeros",
              "-fassociative-math", "-freciprocal-math", "-ffp-contract=fast", "-fPIC", "-shared", "-fopenmp")


@dataclass(frozen=True)
class NativeSource:
    """One C source beside this module and the functions it exports.

    Attributes:
        file: the ``.c`` file's name.
        signatures: function name -> argument types; the C symbol is
            ``f"{prefix}{name}_f32"`` / ``_f64`` and the bound function the attribute ``name``.
        prefix: common prefix of the C symbols.
        library: name of the compiled library (cache file, warnings); the file's stem by default.
        flags: compiler flags.
    """

    file: str
    signatures: Mapping[str, list] = field(hash=False)
    prefix: str = ""
    library: str = ""
    flags: tuple[str, ...] = _cbuild.DEFAULT_FLAGS

    @property
    def name(self) -> str:
        return self.library or Path(self.file).stem


GRU_SOURCE = NativeSource(
    "gru_native.c",
    prefix="seqlab_gru_",
    signatures={
        "forward": [_L, _L, _P, _P, _P, _P, _P, _P, _P],
        "backward": [_L, _L, _P, _P, _P, _P, _P, _P, _P, _P],
        "seq_forward": [_L, _L, _L] + [_P] * 9 + [_L, _I, _P, _P],
        "seq_backward": [_L, _L, _L] + [_P] * 10 + [_I, _I, _P, _P],
    },
)
RNN_SOURCE = NativeSource(
    "rnn_native.c",
    prefix="seqlab_rnn_",
    signatures={"forward": [_L, _P, _P, _P, _I], "backward": [_L, _P, _P, _P, _P, _P, _I]},
)
LSTM_SOURCE = NativeSource(
    "lstm_native.c",
    library="seqlab_lstm",
    flags=LSTM_FLAGS,
    signatures={
        "lstm_forward": [_I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _I],
        "lstm_backward": [_I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _I],
        "layernorm_forward": [_I, _I] + [_P] * 14 + [REAL, _I],
        "layernorm_backward": [_I, _I] + [_P] * 17 + [_I],
        "lstm_seq_forward": [_I, _I, _I, _I] + [_P] * 9 + [_I, _P, _P],
        "lstm_seq_backward": [_I, _I, _I, _I, _P, _P, _P, _P, _P, _L, _P, _L, _P, _P, _P, _P, _P, _P, _I, _P, _P],
        "layernorm_seq_forward": [_I, _I, _I] + [_P] * 15 + [REAL, _P, _I, _P, _P],
        "layernorm_seq_backward": [_I, _I, _I] + [_P] * 11 + [_L, _P, _L] + [_P] * 8 + [_I, _P, _P],
    },
)


class NativeKernels:
    """The functions of one source for one dtype, as attributes: ``kernels.seq_forward(...)``.

    ``element_size`` is the dtype's size in bytes, for stepping raw pointers.
    """

    def __init__(self, functions: dict[str, ctypes._CFuncPtr], dtype: torch.dtype) -> None:
        self.__dict__.update(functions)
        self.dtype = dtype
        self.element_size = torch.empty((), dtype=dtype).element_size()


_BOUND: dict[str, dict[torch.dtype, NativeKernels] | None] = {}


def _bind(source: NativeSource) -> dict[torch.dtype, NativeKernels] | None:
    if source.file not in _BOUND:
        text = Path(__file__).with_name(source.file).read_text()
        lib = _cbuild.load_c_library(source.name, text, source.flags)
        if lib is None:
            _BOUND[source.file] = None
        else:
            per_dtype = {}
            for dtype, (suffix, real) in _DTYPES.items():
                functions = {}
                for name, argtypes in source.signatures.items():
                    fn = getattr(lib, f"{source.prefix}{name}_{suffix}")
                    fn.argtypes = [real if a == REAL else a for a in argtypes]
                    fn.restype = None
                    functions[name] = fn
                per_dtype[dtype] = NativeKernels(functions, dtype)
            _BOUND[source.file] = per_dtype
    return _BOUND[source.file]


def kernels_for(source: NativeSource, *tensors: Tensor | None) -> NativeKernels | None:
    """The kernels of ``source`` usable for these tensors, or ``None``.

    They apply when every tensor given (``None`` is skipped) is a float32 or float64 CPU tensor,
    all of one dtype, and native kernels are enabled and build on this machine.
    """
    dtype = native_dtype(*tensors)
    bound = None if dtype is None else _bind(source)
    return None if bound is None else bound[dtype]


def native_dtype(*tensors: Tensor | None) -> torch.dtype | None:
    """The tensors' dtype when native kernels may run on them, else ``None``.

    That is: every tensor given (``None`` is skipped) is a float32 or float64 CPU tensor, all
    of one dtype, and ``SEQLAB_NO_NATIVE`` is not set. Whether the source builds is not checked.
    """
    present = [t for t in tensors if t is not None]
    dtype = present[0].dtype
    if dtype not in _DTYPES or any(t.device.type != "cpu" or t.dtype != dtype for t in present):
        return None
    return dtype if _cbuild.native_enabled() else None


def pointer(t: Tensor | None) -> int | None:
    """Data pointer of a contiguous tensor (``None`` stays ``None``: a NULL pointer in C)."""
    return None if t is None else t.data_ptr()


def sequence_blas(dtype: torch.dtype, batch_size: int) -> tuple[int, int | None, int] | None:
    """(gemm address, thread-local setter, threads) for the C whole-sequence loops, or ``None``.

    ``None`` (``SEQUENCE_LOOPS`` off, or torch's BLAS not found) makes the caller run its
    per-step loop. The loops split the batch over all torch threads at every size: with no
    barrier per step the split costs one thread wake-up per sequence (GRU, batch 16, 2 threads:
    1.8x faster than the per-step loop on a busy machine). Without MKL's per-thread setting a
    BLAS called inside our parallel region could add its own threads to ours, so such loops run
    on one thread.
    """
    blas = _cbuild.torch_blas() if SEQUENCE_LOOPS else None
    if blas is None:
        return None
    threads = min(torch.get_num_threads(), batch_size) if blas.threads_local is not None else 1
    return (blas.sgemm if dtype == torch.float32 else blas.dgemm), blas.threads_local, max(threads, 1)
