"""Compile a small C source at first use and load it with ctypes.

Why not a torch C++ extension: ``load_inline`` needs 27-30 s to build cold, while a
~100-line plain C file compiles with gcc in well under a second and, called through
ctypes (which releases the GIL), runs as fast (../shared/notes/fast-recurrence.md).

* The shared object is cached under ``$SEQLAB_CACHE_DIR`` (default
  ``~/.cache/seqlab``)/kernels, keyed by a hash of source, flags and compiler.
* It is written to a temporary name and renamed into place, so concurrent processes
  (for example torchrun workers) never load a half-written file.
* ``SEQLAB_NO_NATIVE=1`` disables native kernels; a missing compiler or a failed
  build also returns ``None`` (with one warning) and callers fall back to ATen.
* ``torch_blas()`` hands kernels the addresses of the BLAS ``sgemm_``/``dgemm_`` that torch
  itself links (MKL in the CPU wheels), so a whole time loop, matmuls included, can run in C.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

_LOCK = threading.Lock()
_LOADED: dict[str, ctypes.CDLL | None] = {}

# No -ffast-math: gcc then links crtfastmath.o, which turns on flush-to-zero for the whole process.
DEFAULT_FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-fopenmp")


def cache_dir() -> Path:
    """Directory for compiled kernels (created on demand)."""
    root = os.environ.get("SEQLAB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqlab"
    )
    return Path(root) / "kernels"


def native_enabled() -> bool:
    """False when the user disabled native kernels with ``SEQLAB_NO_NATIVE=1``."""
    return os.environ.get("SEQLAB_NO_NATIVE", "0") in ("", "0", "false", "False")


def load_c_library(name: str, source: str, flags: tuple[str, ...] = DEFAULT_FLAGS) -> ctypes.CDLL | None:
    """Compile ``source`` (C99) once and return the loaded library, or ``None``.

    Args:
        name: short identifier used in the file name and in messages.
        source: the complete C source.
        flags: compiler flags; the cache key includes them.

    Returns:
        The ``ctypes.CDLL`` or ``None`` when native kernels are disabled or the
        build failed (a warning says why, once per process).
    """
    if not native_enabled():
        return None
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    key = hashlib.sha256("\0".join((source, " ".join(flags), compiler or "")).encode()).hexdigest()[:16]
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        lib = _build_and_load(name, source, flags, compiler, key)
        _LOADED[key] = lib
        return lib


def _build_and_load(name, source, flags, compiler, key):
    if compiler is None:
        warnings.warn(
            f"seqlab: no C compiler found, so the {name!r} kernel uses the slower ATen path. "
            "Install gcc (or set CC) to enable native kernels.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    directory = cache_dir()
    target = directory / f"{name}-{key}.so"
    if not target.exists():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                src = Path(tmp) / f"{name}.c"
                src.write_text(source)
                out = Path(tmp) / f"{name}.so"
                result = subprocess.run(
                    [compiler, *flags, str(src), "-o", str(out), "-lm"],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                if result.returncode != 0:
                    warnings.warn(
                        f"seqlab: building the {name!r} kernel failed, using the ATen path instead.\n"
                        f"{result.stderr.strip()[:2000]}",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                    return None
                os.replace(out, target)  # atomic: other processes see all or nothing
        except (OSError, subprocess.SubprocessError) as exc:
            warnings.warn(
                f"seqlab: could not build the {name!r} kernel ({exc}); using the ATen path.",
                RuntimeWarning,
                stacklevel=4,
            )
            return None
    try:
        return ctypes.CDLL(str(target))
    except OSError as exc:
        warnings.warn(f"seqlab: could not load {target} ({exc}); using the ATen path.", RuntimeWarning, stacklevel=4)
        return None


@dataclass(frozen=True)
class TorchBlas:
    """Addresses of BLAS routines inside torch's own library (Fortran interface, 32-bit ints).

    Attributes:
        sgemm, dgemm: ``?gemm_`` entry points.
        threads_local: ``mkl_set_num_threads_local`` (by reference) or ``None`` when the BLAS is
            not MKL; kernels use it to keep BLAS single-threaded inside their own parallel region.
    """

    sgemm: int
    dgemm: int
    threads_local: int | None


_BLAS: list = []


def torch_blas() -> TorchBlas | None:
    """The BLAS that torch links (found in ``torch/lib/libtorch_cpu.*``), or ``None`` when not found.

    Calling the same MKL that ``torch.mm`` uses keeps results and speed in line with torch,
    without a dependency; ``None`` makes callers keep the per-step matmul in torch.
    """
    if not _BLAS:
        _BLAS.append(_find_torch_blas())
    return _BLAS[0]


def _find_torch_blas() -> TorchBlas | None:
    import torch

    for path in sorted((Path(torch.__file__).parent / "lib").glob("libtorch_cpu.*")):
        try:
            lib = ctypes.CDLL(str(path))  # already loaded by torch: dlopen returns the same handle
            sgemm, dgemm = (ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in ("sgemm_", "dgemm_"))
        except (OSError, AttributeError):
            continue
        try:
            local = ctypes.cast(lib.mkl_set_num_threads_local, ctypes.c_void_p).value
        except AttributeError:
            local = None
        return TorchBlas(sgemm, dgemm, local)
    return None
