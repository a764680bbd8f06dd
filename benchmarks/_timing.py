"""Timing helpers shared by the benchmarks in this folder (not part of the seqlab package).

* :func:`steady_malloc` — keep glibc from returning large blocks to the OS between steps;
* :func:`gemm_gflops` — the machine's measured float32 GEMM rate, the yardstick for "share of peak";
* :func:`alternate` — time several variants round-robin, warm-up rounds excluded;
* :func:`summarize` — median / min / spread of the per-round samples;
* :func:`machine_info` — CPU model, cores, torch version, threads, load, for the results file.

Why round-robin: on a shared or thermally throttled machine the speed drifts over minutes;
timing all rounds of A and then all rounds of B puts that drift into the A/B ratio, while
alternating A, B, C, A, B, C ... spreads it over every variant (../shared/notes/fast-recurrence.md:
"compare within one process, alternate variants, take medians and minima").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as _dt
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

#: glibc mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: 1 GiB: above any single tensor the benchmarks allocate.
MALLOC_THRESHOLD_BYTES = 1 << 30


def steady_malloc(threshold: int = MALLOC_THRESHOLD_BYTES) -> str:
    """Make large allocations reuse already-mapped heap memory instead of fresh mmap pages.

    By default glibc serves blocks above ``M_MMAP_THRESHOLD`` (128 KiB, raised dynamically up
    to 32 MiB) with a fresh ``mmap`` and returns them with ``munmap`` on free, and trims the
    heap top above ``M_TRIM_THRESHOLD``.  A training step allocates and frees the same large
    buffers every step (the dense 20000×256 embedding gradient is 20 MB, the gate buffers of a
    long sequence tens of MB), so each step page-faults them in again, and whether a block lands
    in mmap or heap depends on history: nn.LSTM's step at batch 64 swung 130–260 ms between
    rounds on this machine until ``MALLOC_MMAP_THRESHOLD_`` was set
    (../shared/notes/fast-recurrence.md).  Raising both thresholds above every tensor keeps the
    pages mapped and the step time steady; it costs resident memory, harmless in a benchmark.

    Applied to this process with ``mallopt`` and exported as ``MALLOC_MMAP_THRESHOLD_`` /
    ``MALLOC_TRIM_THRESHOLD_`` so child processes (which read them at start-up) get it too.
    Values already in the environment are respected.

    Returns:
        A one-line description for the results file ("not glibc" where it does not apply).
    """
    mmap_value = int(os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(threshold)))
    trim_value = int(os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(threshold)))
    if platform.system() != "Linux" or not platform.libc_ver()[0] == "glibc":
        return "not glibc: allocator left as is"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    ok = libc.mallopt(_M_MMAP_THRESHOLD, mmap_value) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, trim_value) == 1
    state = "applied" if ok else "REFUSED by mallopt"
    return f"glibc MALLOC_MMAP_THRESHOLD_={mmap_value} MALLOC_TRIM_THRESHOLD_={trim_value} ({state})"


def _best_rate(fn: Callable[[], object], flops: float, repeats: int) -> float:
    fn()  # warm-up: thread pool, packing buffers
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def gemm_gflops(sizes: tuple[int, ...] = (1024, 2048), repeats: int = 8) -> dict[str, float]:
    """Best-of-``repeats`` float32 GEMM rates for square n×n matrices, in GFLOP/s.

    Two libraries, because torch uses both on CPU: ``torch.matmul`` (MKL sgemm, what a
    Python-level cell's matmuls get) and oneDNN's inner product (``mkldnn_linear``, what the
    fused ``nn.LSTM`` kernel uses).  On AMD CPUs MKL takes a slower code path than oneDNN, so
    the oneDNN figure is the higher, truer peak (measured here: ~177 vs ~210 GFLOP/s on 2 cores).
    A GEMM of n×n by n×n is 2·n³ operations.  Uses the current ``torch.get_num_threads()``.

    Returns:
        ``{"matmul 1024²": ..., "oneDNN 1024²": ..., ...}``; the oneDNN entries are left out
        when this torch build has no oneDNN.
    """
    import torch

    result: dict[str, float] = {}
    gen = torch.Generator().manual_seed(0)
    for n in sizes:
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        out = torch.empty(n, n)
        result[f"matmul {n}²"] = _best_rate(lambda a=a, b=b, out=out: torch.matmul(a, b, out=out), 2.0 * n**3, repeats)
        if torch.backends.mkldnn.is_available():
            try:
                a_dnn, b_dnn = a.to_mkldnn(), b.t().contiguous().to_mkldnn()
                result[f"oneDNN {n}²"] = _best_rate(
                    lambda a=a_dnn, b=b_dnn: torch._C._nn.mkldnn_linear(a, b), 2.0 * n**3, repeats
                )
            except (RuntimeError, AttributeError):  # private API: absent or changed in this build
                pass
    return result


def alternate(
    steps: dict[str, Callable[[], object]],
    rounds: int,
    warmup: int = 1,
    steps_per_round: int | dict[str, int] = 1,
    on_round: Callable[[int, int], None] | None = None,
) -> dict[str, list[float]]:
    """Time each callable round-robin and return its seconds per call, one sample per round.

    Round r runs every variant once, starting at a rotating position (r mod n) so that no
    variant always follows the same neighbour; a variant's sample is the mean time of its
    ``steps_per_round`` consecutive calls.  The first ``warmup`` rounds are run and dropped.

    Args:
        steps: variant name -> zero-argument callable doing one unit of work.
        rounds: timed rounds (samples per variant).
        warmup: untimed rounds before them.
        steps_per_round: calls per variant and round, or a dict giving it per variant.
        on_round: optional progress callback ``(round_index, total_rounds)``.

    Returns:
        variant name -> list of ``rounds`` samples in seconds per call.
    """
    names = list(steps)
    samples: dict[str, list[float]] = {name: [] for name in names}
    total = warmup + rounds
    for r in range(total):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            k = steps_per_round[name] if isinstance(steps_per_round, dict) else steps_per_round
            fn = steps[name]
            start = time.perf_counter()
            for _ in range(k):
                fn()
            elapsed = (time.perf_counter() - start) / k
            if r >= warmup:
                samples[name].append(elapsed)
        if on_round is not None:
            on_round(r + 1, total)
    return samples


@dataclass(frozen=True)
class Summary:
    """Statistics of one variant's samples (seconds)."""

    median: float
    minimum: float
    q1: float
    q3: float
    n: int

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else float("nan")


def summarize(samples: list[float]) -> Summary:
    """Median, minimum and quartiles of a list of timings."""
    if not samples:
        raise ValueError("no samples to summarize: run at least one timed round")
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return Summary(statistics.median(ordered), ordered[0], q1, q3, len(ordered))


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> str:
    """The SIMD extensions that matter for GEMM speed, as listed in /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                    return " ".join(f for f in wanted if f in flags) or "none of avx2/fma/avx512"
    except OSError:
        pass
    return "unknown"


def machine_info() -> dict[str, str]:
    """Facts about the machine and software for the results file."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date (UTC)": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "CPU": cpu_model(),
        "SIMD": cpu_flags(),
        "logical cores": str(os.cpu_count()),
        "usable cores": str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "?",
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "oneDNN (mkldnn)": str(torch.backends.mkldnn.is_available()),
        "python": platform.python_version(),
        "load average (1/5/15 min)": " / ".join(f"{x:.2f}" for x in load),
    }


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table; numeric-looking columns are right-aligned."""

    def numeric(col: int) -> bool:
        cells = [r[col] for r in rows if r[col] not in ("", "-", "n/a")]
        return bool(cells) and all(
            c.replace(".", "", 1).replace("×", "").replace("%", "").strip().isdigit() for c in cells
        )

    align = ["---:" if numeric(i) else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
