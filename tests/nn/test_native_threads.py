"""The native generic path split over two threads, and its per-step fallback.

The whole-sequence C loops (lstm_native.c's ``lstm_seq_*`` / ``layernorm_seq_*``, gru_native.c's
``seq_*``) give each OpenMP thread a block of batch rows for all T steps; the rest of the suite
runs on one thread (tests/conftest.py), where that split never happens. Here, with
``torch.set_num_threads(2)``:

* every generic family (standard LSTM, GRU, RNN tanh/relu against torch.nn with copied weights;
  peephole, coupled and layer-norm LSTM against the same module with ``impl="reference"``) is
  checked in float32 and float64 for outputs, final states and the gradients of the input, the
  initial states and every parameter, and against its own one-thread result;
* batch sizes 1 (one row: one thread), 5 (an uneven 3 + 2 split) and 64 (with H = 64, so that
  B·G·H reaches ``lstm_bptt.PARALLEL_MIN_ELEMENTS`` and the per-step kernels split too);
* each case runs with the whole-sequence loop (``SEQUENCE_LOOPS = True``, the default) and with
  the per-step loop (``native.SEQUENCE_LOOPS = False``; the vanilla RNN only has the latter),
  and the two must agree.

Under ``SEQLAB_NO_NATIVE=1`` (or without a C compiler) the same checks run on the ATen path and
``last_impl`` is expected to say so; ``test_native_kernels_run_on_a_normal_machine`` is what
fails when the C kernels silently stop being used.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from torch import nn

import seqlab.nn as snn
from seqlab.nn.kernels import _cbuild, lstm_bptt, native

T, I = 6, 5  # noqa: E741
NUM_LAYERS = 1  # one bidirectional layer: both directions, half the time of two layers
# (B, H): one row; an uneven 3 + 2 split over two threads; B·4H = 16384 = PARALLEL_MIN_ELEMENTS.
SIZES = [(1, 7), (5, 7), (64, 64)]
SIZE_IDS = ["B1", "B5", "B64"]
# dtype -> tolerance on max|got - want| / max(1, max|want|), per tensor (gradients reach ~80).
# Measured worst cases at 2 threads (T = 6, weight gradients summed over up to T·B = 384 rows):
# float32 1.7e-6 against the oracle, 7e-7 for 1 vs 2 threads and sequence vs per-step loop;
# float64 3.5e-15 and 1.3e-15.
TOL = {torch.float32: 2e-5, torch.float64: 1e-12}
DTYPE_IDS = {torch.float32: "f32", torch.float64: "f64"}

TORCH_KINDS = ("lstm", "gru", "rnn_tanh", "rnn_relu")  # oracle: torch.nn with copied weights
VARIANTS = ("peephole", "coupled", "layernorm")  # oracle: impl="reference"
# The families that have a whole-sequence C loop, i.e. whose result depends on SEQUENCE_LOOPS.
HAS_SEQUENCE_LOOP = ("lstm", "gru", *VARIANTS)


def native_usable(kind: str) -> bool:
    """Whether the C kernels of ``kind``'s family can run here (the check the families make)."""
    probe = torch.zeros(1)
    if kind == "gru":
        return native.kernels_for(native.GRU_SOURCE, probe) is not None
    if kind.startswith("rnn"):
        return native.kernels_for(native.RNN_SOURCE, probe) is not None
    return native.kernels_for(native.LSTM_SOURCE, probe) is not None


def expected_generic(kind: str) -> str:
    """``last_impl`` of a CPU float generic run: native unless SEQLAB_NO_NATIVE=1 or no compiler."""
    return "generic:native" if native_usable(kind) else "generic:aten"


@pytest.fixture
def two_threads():
    """torch (and so the kernels' OpenMP split) on two threads; the suite's count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def sequence_calls(monkeypatch):
    """Record what each ``native.sequence_blas`` call decided: None (per-step loop) or (gemm, setter, threads).

    Without this the tests could pass while never reaching the code they are about (the
    whole-sequence loop, or its two-thread split).
    """
    calls: list = []

    def spy(original):
        def wrapped(*args, **kwargs):
            result = original(*args, **kwargs)
            calls.append(result)
            return result

        return wrapped

    monkeypatch.setattr(native, "sequence_blas", spy(native.sequence_blas))
    return calls


def set_sequence_loops(monkeypatch, enabled: bool) -> None:
    monkeypatch.setattr(native, "SEQUENCE_LOOPS", enabled)


def make_pair(kind: str, H: int, dtype: torch.dtype, **options) -> tuple[nn.Module, nn.Module]:
    """(seqlab generic module, oracle module) holding the same weights."""
    common = dict(num_layers=NUM_LAYERS, bidirectional=True, dtype=dtype, **options)
    if kind in VARIANTS:
        ours = snn.LSTM(I, H, cell=kind, impl="generic", **common)
        with torch.no_grad():  # off the initial values (layer-norm gains start at exactly 1)
            for p in ours.parameters():
                p.copy_(torch.randn_like(p) * 0.5)
        oracle = snn.LSTM(I, H, cell=kind, impl="reference", **common)
    elif kind == "lstm":
        ours, oracle = snn.LSTM(I, H, impl="generic", **common), nn.LSTM(I, H, **common)
    elif kind == "gru":
        ours, oracle = snn.GRU(I, H, impl="generic", **common), nn.GRU(I, H, **common)
    else:
        act = kind.split("_")[1]
        ours = snn.RNN(I, H, nonlinearity=act, impl="generic", **common)
        oracle = nn.RNN(I, H, nonlinearity=act, **common)
    src, dst = (ours, oracle) if kind in VARIANTS else (oracle, ours)
    dst.load_state_dict(src.state_dict())
    return ours, oracle


def make_inputs(kind: str, B: int, H: int, dtype: torch.dtype, seed: int = 0):
    """x (T, B, I), the initial state(s) (L·D, B, H) and random loss probes, all from one seed."""
    g = torch.Generator().manual_seed(seed)
    LD = NUM_LAYERS * 2
    x = torch.randn(T, B, I, generator=g, dtype=dtype, requires_grad=True)
    states = [torch.randn(LD, B, H, generator=g, dtype=dtype, requires_grad=True)
              for _ in range(2 if kind in ("lstm", *VARIANTS) else 1)]
    probes = [torch.randn(T, B, 2 * H, generator=g, dtype=dtype)] + [
        torch.randn(LD, B, H, generator=g, dtype=dtype) for _ in states
    ]
    return x, states, probes


def run(module: nn.Module, x, states, probes) -> list[torch.Tensor]:
    """[output, final states..., d/dx, d/dstates..., d/dparameters...] of a random linear loss."""
    hx = tuple(states) if len(states) == 2 else states[0]
    out, final = module(x, hx)
    final = list(final) if isinstance(final, tuple) else [final]
    loss = (out * probes[0]).sum() + sum((s * p).sum() for s, p in zip(final, probes[1:]))
    grads = torch.autograd.grad(loss, [x, *states, *module.parameters()])
    return [out.detach(), *(s.detach() for s in final), *grads]


def assert_all_close(got, want, dtype, what: str) -> None:
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        atol = TOL[dtype] * max(1.0, b.abs().max().item())
        torch.testing.assert_close(a, b, atol=atol, rtol=0.0,
                                   msg=lambda m, k=k: f"{what}, tensor #{k} (output, states, grads): {m}")


def expected_threads(B: int) -> int:
    """Threads the whole-sequence loop should use for batch B at two torch threads."""
    blas = _cbuild.torch_blas()
    return min(2, B) if blas is not None and blas.threads_local is not None else 1


def check_sequence_decisions(kind: str, calls: list, loops: bool, B: int) -> None:
    """The run took the loop the test is about: whole-sequence with min(2, B) threads, or per-step."""
    if kind not in HAS_SEQUENCE_LOOP or not native_usable(kind):
        assert calls == [] or all(c is None for c in calls)
        return
    assert calls, f"{kind}: the native path never asked for the sequence loop"
    if loops and _cbuild.torch_blas() is not None:
        assert all(c is not None and c[2] == expected_threads(B) for c in calls), calls
    else:
        assert all(c is None for c in calls), calls


GRID = [
    pytest.param(kind, loops, id=f"{kind}-{'seq' if loops else 'step'}")
    for kind in (*TORCH_KINDS, *VARIANTS)
    for loops in ((True, False) if kind in HAS_SEQUENCE_LOOP else (True,))
]


@pytest.mark.parametrize("kind,loops", GRID)
@pytest.mark.parametrize("dtype", list(TOL), ids=DTYPE_IDS.get)
@pytest.mark.parametrize("B,H", SIZES, ids=SIZE_IDS)
def test_two_threads_match_oracle_and_one_thread(kind, loops, dtype, B, H, two_threads, sequence_calls, monkeypatch):
    set_sequence_loops(monkeypatch, loops)
    torch.manual_seed(0)
    ours, oracle = make_pair(kind, H, dtype)
    x, states, probes = make_inputs(kind, B, H, dtype)

    got = run(ours, x, states, probes)
    assert ours.last_impl == expected_generic(kind)
    check_sequence_decisions(kind, sequence_calls, loops, B)
    want = run(oracle, x, states, probes)
    assert_all_close(got, want, dtype, f"{kind} at 2 threads vs {type(oracle).__module__}")

    # The same computation on one thread: the row split must not change the result beyond
    # the rounding of BLAS blocks of another size.
    torch.set_num_threads(1)
    single = run(ours, x, states, probes)
    assert_all_close(got, single, dtype, f"{kind}: 2 threads vs 1 thread")


@pytest.mark.parametrize("kind", HAS_SEQUENCE_LOOP)
@pytest.mark.parametrize("dtype", list(TOL), ids=DTYPE_IDS.get)
@pytest.mark.parametrize("B,H", SIZES[1:], ids=SIZE_IDS[1:])
def test_sequence_loop_matches_per_step_loop(kind, dtype, B, H, two_threads, sequence_calls, monkeypatch):
    """SEQUENCE_LOOPS=True (one C call per sequence) and False (torch matmul + C call per step) agree."""
    torch.manual_seed(0)
    ours, _ = make_pair(kind, H, dtype)
    x, states, probes = make_inputs(kind, B, H, dtype, seed=1)
    set_sequence_loops(monkeypatch, True)
    whole = run(ours, x, states, probes)
    check_sequence_decisions(kind, sequence_calls, True, B)
    sequence_calls.clear()
    set_sequence_loops(monkeypatch, False)
    per_step = run(ours, x, states, probes)
    check_sequence_decisions(kind, sequence_calls, False, B)
    assert ours.last_impl == expected_generic(kind)
    # Same equations, same operand order per row: only BLAS blocking and peephole sums differ.
    assert_all_close(whole, per_step, dtype, f"{kind}: sequence loop vs per-step loop")


@pytest.mark.parametrize("kind", (*TORCH_KINDS, *VARIANTS))
@pytest.mark.parametrize("loops", [True, False], ids=["seq", "step"])
def test_recurrent_dropout_mask_with_two_threads(kind, loops, two_threads, monkeypatch):
    """The recurrent-dropout mask (B, H) is read per row by each thread: generic == reference.

    Both paths draw their masks with the same call order, so one seed gives the same masks.
    """
    set_sequence_loops(monkeypatch, loops)
    dtype, B, H = torch.float64, 5, 7
    cls = snn.GRU if kind == "gru" else snn.RNN if kind.startswith("rnn") else snn.LSTM
    options = dict(num_layers=NUM_LAYERS, bidirectional=True, dtype=dtype, recurrent_dropout=0.4)
    if kind.startswith("rnn"):
        options["nonlinearity"] = kind.split("_")[1]
    if kind in VARIANTS:
        options["cell"] = kind
    generic = cls(I, H, impl="generic", **options).train()
    reference = cls(I, H, impl="reference", **options).train()
    reference.load_state_dict(generic.state_dict())
    x, states, probes = make_inputs("lstm" if cls is snn.LSTM else kind, B, H, dtype, seed=2)
    torch.manual_seed(7)
    got = run(generic, x, states, probes)
    torch.manual_seed(7)
    want = run(reference, x, states, probes)
    assert generic.last_impl == expected_generic(kind) and reference.last_impl == "reference"
    assert_all_close(got, want, dtype, f"{kind} with recurrent dropout")


@pytest.mark.skipif(os.environ.get("SEQLAB_NO_NATIVE", "0") not in ("", "0", "false", "False"),
                    reason="SEQLAB_NO_NATIVE is set: the ATen path is expected")
@pytest.mark.skipif(not (os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")),
                    reason="no C compiler (gcc/cc/$CC): native kernels cannot be built here")
def test_native_kernels_run_on_a_normal_machine():
    """With a compiler and no SEQLAB_NO_NATIVE, the C kernels must be built and used.

    Every other check accepts "generic:aten" where the environment rules native kernels out;
    this one fails if they are silently lost (a build error, a broken binding).
    """
    assert _cbuild.native_enabled()
    for kind, module in (
        ("peephole", snn.LSTM(I, 8, cell="peephole")),
        ("gru", snn.GRU(I, 8, impl="generic")),
        ("rnn_tanh", snn.RNN(I, 8, impl="generic")),
    ):
        out, _ = module(torch.randn(T, 3, I))
        assert out.dtype == torch.float32
        assert module.last_impl == "generic:native", f"{kind}: ran {module.last_impl!r}"
