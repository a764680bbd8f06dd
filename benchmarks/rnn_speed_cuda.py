"""Training-step speed of seqlab's recurrent layers against torch.nn's (cuDNN) on a CUDA device.

The CPU benchmark (``rnn_speed.py``) is the one the targets of issue 2 are about; this one
says what a user gets on a GPU.  Same workloads (``rnn_speed.SHAPES``), same step (zero_grad,
forward, loss, backward, RMSprop), all competitors in one process, round-robin rounds, each
step followed by ``torch.cuda.synchronize()`` so that a sample is the step's whole time.

On CUDA ``impl="auto"`` runs torch's cuDNN kernels for the standard LSTM/GRU/RNN (so
``seqlab.LSTM`` is expected at ≈1.00× of ``nn.LSTM``); the variants (peephole, coupled,
layernorm) and ``impl="generic"`` run the ATen generic path, a sequence of small kernels
per time step, so they are launch-bound at these sizes.  The ratios say how much.

    python benchmarks/rnn_speed_cuda.py                 # writes benchmarks/results/rnn_speed_cuda.md
    python benchmarks/rnn_speed_cuda.py --quick --out /tmp/x.md
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from _timing import alternate, markdown_table, summarize  # noqa: E402
from rnn_speed import SHAPES, Variant, loss_fn, make_batch, make_model, make_rnn, make_step, seqlab_classes, step_flops  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "rnn_speed_cuda.md"

CUDA_VARIANTS: list[Variant] = [
    Variant("nn.LSTM", "LSTM", "torch"),
    Variant("seqlab.LSTM", "LSTM", "seqlab", {"cell": "standard", "impl": "auto"}, parity=True),
    Variant("seqlab.LSTM.generic", "LSTM", "seqlab", {"cell": "standard", "impl": "generic"}, parity=True),
    Variant("seqlab.LSTM.peephole", "LSTM", "seqlab", {"cell": "peephole", "impl": "auto"}),
    Variant("seqlab.LSTM.coupled", "LSTM", "seqlab", {"cell": "coupled", "impl": "auto"}),
    Variant("seqlab.LSTM.layernorm", "LSTM", "seqlab", {"cell": "layernorm", "impl": "auto"}),
    Variant("nn.GRU", "GRU", "torch"),
    Variant("seqlab.GRU", "GRU", "seqlab", {"impl": "auto"}, parity=True),
    Variant("seqlab.GRU.generic", "GRU", "seqlab", {"impl": "generic"}, parity=True),
]


def gemm_tflops(n: int = 8192, repeats: int = 10) -> float:
    """float32 matmul rate of the device (TF32 as torch's defaults leave it)."""
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    for _ in range(2):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2.0 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def run_shape(shape, rounds: int, warmup: int, steps_per_round: int) -> list[list[str]]:
    classes, why = seqlab_classes()
    if classes is None:
        raise SystemExit(why)
    tokens, targets = (t.cuda() for t in make_batch(shape))
    criterion = loss_fn(shape)
    models, steps, flops, rows = {}, {}, {}, {}
    for v in CUDA_VARIANTS:
        torch.manual_seed(0)
        rnn = make_rnn(v, classes, shape)
        model = make_model(rnn, shape).cuda()
        base = models.get(v.baseline)
        if base is not None:
            if v.parity:
                model.load_state_dict(base.state_dict())
            else:
                model.embedding.load_state_dict(base.embedding.state_dict())
                model.head.load_state_dict(base.head.state_dict())
        with torch.no_grad():
            loss = float(criterion(model(tokens), targets))
            parity = "-"
            if v.parity and base is not None:
                diff = abs(loss - float(criterion(base(tokens), targets)))
                parity = f"{'ok' if diff <= 1e-3 * max(1.0, abs(loss)) else 'MISMATCH'} (Δ={diff:.1e})"
        models[v.name] = model
        step = make_step(model, shape, tokens, targets)

        def synced(step=step):
            step()
            torch.cuda.synchronize()

        steps[v.name] = synced
        flops[v.name] = step_flops(rnn, shape)
        rows[v.name] = [v.name, getattr(rnn, "last_impl", None) or "cuDNN (torch)", parity]
    samples = alternate(steps, rounds=rounds, warmup=warmup, steps_per_round=steps_per_round)
    medians = {name: summarize(s).median for name, s in samples.items()}
    out = []
    for v in CUDA_VARIANTS:
        m = medians[v.name]
        ratio = medians[v.baseline] / m
        out.append(rows[v.name] + [f"{m * 1e3:.2f}", f"{ratio:.2f}×", f"{flops[v.name] / m / 1e12:.2f}"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="steps per variant and round (default 5)")
    p.add_argument("--quick", action="store_true", help="3 rounds of 1 step: a smoke test")
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("rnn_speed_cuda: no CUDA device; run benchmarks/rnn_speed.py for the CPU", file=sys.stderr)
        return 2
    if a.quick:
        a.rounds, a.warmup, a.steps = 3, 1, 1
    name = torch.cuda.get_device_name()
    peak = gemm_tflops()
    lines = [
        "# Recurrent training-step speed on CUDA (seqlab vs torch.nn / cuDNN)",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- device: {name}; torch {torch.__version__}; cuDNN {torch.backends.cudnn.version()}",
        f"- float32 GEMM (8192³, torch defaults: TF32 matmul {'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}):"
        f" {peak:.1f} TFLOP/s",
        f"- settings: {a.rounds} rounds after {a.warmup} warm-up, {a.steps} steps per variant and round, "
        "median; each step = zero_grad + forward + loss + backward + RMSprop, then cuda.synchronize()",
        "- command: `python benchmarks/rnn_speed_cuda.py`",
        "",
        "ratio = baseline (nn.LSTM or nn.GRU) time / variant time (>1 is faster).  TFLOP/s counts the",
        "step's matmul FLOPs (rnn_speed.step_flops).",
        "",
    ]
    for shape_name in a.shapes.split(","):
        shape = SHAPES[shape_name]
        print(f"{shape_name} ...", file=sys.stderr, flush=True)
        rows = run_shape(shape, a.rounds, a.warmup, a.steps)
        lines += [f"## {shape_name}: {shape.describe()}", "",
                  markdown_table(["variant", "path", "parity", "ms/step", "ratio", "TFLOP/s"], rows), ""]
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
