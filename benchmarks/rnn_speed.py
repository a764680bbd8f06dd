#!/usr/bin/env python3
"""Training-step speed of seqlab's recurrent layers against torch.nn's, in one process.

What one *step* is: ``zero_grad`` → forward → loss → backward → ``RMSprop.step()`` of a whole
model (embedding and head included), the unit a user waits for.  Shapes (``--shapes``):

* ``notes-b16`` / ``notes-b64`` — the lecture notes' Keras model (seed, "LSTM in Keras"):
  Embedding(20000, 256) → 1-layer recurrent(128) → last step → Linear(128, 1), binary
  cross-entropy with logits; sequence length 200, batch 16 / 64.  The notes' Dropout(0.5)
  is left out: it is not recurrent work.
* ``charlm`` — a character LM on Tiny Shakespeare's 65-symbol alphabet: Embedding(65, 512) →
  2-layer recurrent(512) → Linear(512, 65) at every step, cross-entropy over all B·T steps;
  batch 64, length 128.  The embedding is 512 wide (as in pytorch/examples'
  word_language_model, emsize = nhid) so both layers are 512 → 512, the matmul-bound regime.

Inputs are time-major ``(T, B)`` token ids (no batch_first transposes in the timing).
Optimizer: ``torch.optim.RMSprop(lr=1e-3, alpha=0.9, eps=1e-7)`` (Keras' rmsprop defaults).

Competitors (``--variants``): nn.LSTM, nn.GRU, nn.RNN (the baselines), seqlab.LSTM
(cell="standard", impl="auto": should run the fused kernel), seqlab.LSTM.generic
(impl="generic"), seqlab.LSTM.peephole / .coupled / .layernorm (impl="auto", i.e. generic),
seqlab.GRU and seqlab.RNN (impl="generic").  Each seqlab variant is compared with the torch.nn
module of its family; a baseline is added automatically when a variant needs it.  Variants
with the same parameters as their baseline start from copied weights and must give the same
first loss (the "parity" column), so a fast-but-wrong path cannot win.

Method: all models of a shape are built up front; every round runs each variant
``steps_per_round`` times (chosen so a round takes ~0.3 s), in an order rotated every round
(round-robin, not all of A then all of B); warm-up rounds are dropped; the table gives the
median and minimum per step, the interquartile spread, the speed ratio vs the baseline
(baseline time / variant time, > 1 is faster) and GFLOP/s as a share of the float32 GEMM rate
measured at the start and at the end (best of several 1024² and 2048² products with the same
threads, through torch.matmul = MKL and through oneDNN, which nn.LSTM uses and which is the
faster of the two on AMD CPUs; the share uses the best figure).

FLOPs of one step (analytic, matmuls only): every layer-direction's forward costs
``2·B·T·(I + H)·G·H`` — read off its ``weight_ih`` (G·H × I) and ``weight_hh`` (G·H × H)
shapes, G = 4 gates for LSTM (3 for the coupled cell), 3 for GRU, 1 for RNN — plus the head
``2·B·H·1`` (classifier, last step only) or ``2·B·T·H·V`` (char-LM); backward costs twice the
forward (input and weight gradients), so a step is 3 × forward.  Pointwise work
(nonlinearities, layer norm, peepholes) is not counted.

First-call overhead: for each seqlab generic variant, a fresh ``python`` subprocess with an
empty ``SEQLAB_CACHE_DIR`` (so any native kernel compiles cold) times building the recurrent
layer plus the first training step, against the median of the following steps; target ≤ 5 s.

Allocator: glibc's mmap/trim thresholds are raised at start (``_timing.steady_malloc``; the
first-call subprocesses inherit them through the environment), which steadied nn.LSTM's step
time on this machine (../shared/notes/fast-recurrence.md); ``--default-malloc`` turns it off.

Run on a quiet machine (the results file records the load average); ``--quick`` is a smoke
test of the mechanics and writes no file unless ``--out`` is given.

    python benchmarks/rnn_speed.py                      # full run → benchmarks/results/rnn_speed.md
    python benchmarks/rnn_speed.py --quick --variants nn.LSTM
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Run from a checkout: import this checkout's seqlab even when it is not installed.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from _timing import (  # noqa: E402
    Summary,
    alternate,
    gemm_gflops,
    machine_info,
    markdown_table,
    steady_malloc,
    summarize,
)
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "rnn_speed.md"


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Shape:
    """One benchmark workload."""

    name: str
    task: str  # "classifier" (last step → 1 logit) or "charlm" (every step → V logits)
    vocab_size: int
    embedding_size: int
    hidden_size: int
    num_layers: int
    seq_len: int
    batch_size: int

    def describe(self) -> str:
        head = (
            "last step → Linear(1), BCE-with-logits"
            if self.task == "classifier"
            else (f"Linear({self.vocab_size}) at every step, cross-entropy")
        )
        return (
            f"Embedding({self.vocab_size}, {self.embedding_size}) → {self.num_layers}-layer "
            f"recurrent({self.hidden_size}) → {head}; T={self.seq_len}, B={self.batch_size}"
        )


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("notes-b16", "classifier", 20000, 256, 128, 1, 200, 16),
        Shape("notes-b64", "classifier", 20000, 256, 128, 1, 200, 64),
        Shape("charlm", "charlm", 65, 512, 512, 2, 128, 64),
    )
}


@dataclass(frozen=True)
class Variant:
    """One competitor."""

    name: str
    family: str  # "LSTM", "GRU" or "RNN": the class name, and nn.<family> is its baseline
    source: str  # "torch" or "seqlab"
    kwargs: dict = field(default_factory=dict)
    parity: bool = False  # same parameters and maths as the baseline: first loss must match
    generic: bool = False  # runs seqlab's generic path: measured for first-call overhead

    @property
    def baseline(self) -> str:
        return f"nn.{self.family}"


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("nn.LSTM", "LSTM", "torch"),
        Variant("nn.GRU", "GRU", "torch"),
        Variant("nn.RNN", "RNN", "torch"),
        Variant("seqlab.LSTM", "LSTM", "seqlab", {"cell": "standard", "impl": "auto"}, parity=True),
        Variant("seqlab.LSTM.generic", "LSTM", "seqlab", {"cell": "standard", "impl": "generic"}, True, True),
        Variant("seqlab.LSTM.peephole", "LSTM", "seqlab", {"cell": "peephole", "impl": "auto"}, generic=True),
        Variant("seqlab.LSTM.coupled", "LSTM", "seqlab", {"cell": "coupled", "impl": "auto"}, generic=True),
        Variant("seqlab.LSTM.layernorm", "LSTM", "seqlab", {"cell": "layernorm", "impl": "auto"}, generic=True),
        Variant("seqlab.GRU", "GRU", "seqlab", {"impl": "generic"}, True, True),
        Variant("seqlab.RNN", "RNN", "seqlab", {"impl": "generic"}, True, True),
    )
}

#: (variant, shape, minimum speed ratio vs its baseline) from issue 2, item 6.
TARGETS: list[tuple[str, str, float]] = (
    [("seqlab.LSTM", s, 0.97) for s in SHAPES]
    + [("seqlab.GRU", s, 1.25) for s in SHAPES]
    + [
        (f"seqlab.LSTM.{cell}", shape, ratio)
        for cell in ("peephole", "coupled", "layernorm")
        for shape, ratio in (("notes-b64", 0.90), ("notes-b16", 0.70), ("charlm", 0.85))
    ]
)
FIRST_CALL_TARGET_S = 5.0


# ----------------------------------------------------------------------------- models


def seqlab_classes() -> tuple[dict[str, type] | None, str]:
    """seqlab's LSTM/GRU/RNN classes, or None and the reason they are not importable."""
    try:
        import seqlab.nn as snn

        return {family: getattr(snn, family) for family in ("LSTM", "GRU", "RNN")}, ""
    except (ImportError, AttributeError) as first:
        try:
            from seqlab.nn import recurrent

            return {family: getattr(recurrent, family) for family in ("LSTM", "GRU", "RNN")}, ""
        except (ImportError, AttributeError):
            return None, f"seqlab.nn.LSTM/GRU/RNN not importable ({first})"


def make_rnn(variant: Variant, classes: dict[str, type] | None, shape: Shape) -> nn.Module:
    """The recurrent layer of ``variant`` for ``shape`` (time-major)."""
    args = (shape.embedding_size, shape.hidden_size, shape.num_layers)
    if variant.source == "torch":
        return getattr(nn, variant.family)(*args)
    if classes is None:
        raise RuntimeError("seqlab recurrent layers are not importable")
    return classes[variant.family](*args, **variant.kwargs)


class NotesClassifier(nn.Module):
    """The notes' Keras model: Embedding → recurrent → last step → Dense(1) (logit)."""

    def __init__(self, rnn: nn.Module, shape: Shape) -> None:
        super().__init__()
        self.embedding = nn.Embedding(shape.vocab_size, shape.embedding_size)
        self.rnn = rnn
        self.head = nn.Linear(shape.hidden_size, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens)  # (T, B, E)
        out, _ = self.rnn(x)  # (T, B, H)
        return self.head(out[-1]).squeeze(-1)  # (B,)


class CharLM(nn.Module):
    """Embedding → stacked recurrent → Linear(V) at every step."""

    def __init__(self, rnn: nn.Module, shape: Shape) -> None:
        super().__init__()
        self.embedding = nn.Embedding(shape.vocab_size, shape.embedding_size)
        self.rnn = rnn
        self.head = nn.Linear(shape.hidden_size, shape.vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens)  # (T, B, E)
        out, _ = self.rnn(x)  # (T, B, H)
        return self.head(out)  # (T, B, V)


def make_model(rnn: nn.Module, shape: Shape) -> nn.Module:
    return NotesClassifier(rnn, shape) if shape.task == "classifier" else CharLM(rnn, shape)


def make_batch(shape: Shape, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (T, B) and targets: (B,) floats in {0, 1} or (T, B) next-char ids."""
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(shape.vocab_size, (shape.seq_len, shape.batch_size), generator=gen)  # (T, B)
    if shape.task == "classifier":
        return tokens, torch.randint(2, (shape.batch_size,), generator=gen).float()  # (B,)
    return tokens, torch.randint(shape.vocab_size, (shape.seq_len, shape.batch_size), generator=gen)  # (T, B)


def loss_fn(shape: Shape) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if shape.task == "classifier":
        return F.binary_cross_entropy_with_logits
    return lambda logits, targets: F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # (T·B, V)


def make_step(model: nn.Module, shape: Shape, tokens: torch.Tensor, targets: torch.Tensor) -> Callable[[], None]:
    """One full training step: zero_grad, forward, loss, backward, RMSprop update."""
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)  # Keras defaults
    criterion = loss_fn(shape)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(tokens), targets)
        loss.backward()
        optimizer.step()

    return step


def step_flops(rnn: nn.Module, shape: Shape) -> float:
    """Matmul FLOPs of one training step (module docstring: 3 × forward)."""
    bt = shape.batch_size * shape.seq_len
    forward = sum(
        2.0 * bt * p.numel() for name, p in rnn.named_parameters() if name.startswith(("weight_ih", "weight_hh"))
    )
    head_rows = shape.batch_size if shape.task == "classifier" else bt
    head_out = 1 if shape.task == "classifier" else shape.vocab_size
    forward += 2.0 * head_rows * shape.hidden_size * head_out
    return 3.0 * forward


def describe_path(rnn: nn.Module, variant: Variant) -> str:
    """Which implementation ran, as the layer reports it (``last_impl``)."""
    if variant.source == "torch":
        return "torch"
    return str(getattr(rnn, "last_impl", "?"))


# ----------------------------------------------------------------------------- one shape


@dataclass
class Entry:
    """A built competitor of one shape, and what was measured."""

    variant: Variant
    model: nn.Module | None = None
    step: Callable[[], None] | None = None
    flops: float = 0.0
    path: str = "-"
    parity: str = "-"
    error: str = ""
    summary: Summary | None = None


def build_entries(shape: Shape, variants: list[Variant], classes: dict[str, type] | None) -> list[Entry]:
    """Build every model of ``shape``; copy weights so that parity variants can be checked."""
    tokens, targets = make_batch(shape)
    criterion = loss_fn(shape)
    entries: list[Entry] = []
    reference: dict[str, nn.Module] = {}
    shared: nn.Module | None = None  # embedding and head copied from the first model
    for variant in variants:
        entry = Entry(variant)
        entries.append(entry)
        try:
            torch.manual_seed(0)
            rnn = make_rnn(variant, classes, shape)
            model = make_model(rnn, shape)
        except Exception as exc:  # an API mismatch must not stop the other variants
            entry.error = f"build failed: {type(exc).__name__}: {exc}"
            continue
        base = reference.get(variant.baseline)
        if variant.parity and base is not None:
            try:
                model.load_state_dict(base.state_dict())
            except Exception as exc:
                entry.error = f"load_state_dict from {variant.baseline} failed: {exc}"
                continue
        elif shared is not None:
            model.embedding.load_state_dict(shared.embedding.state_dict())
            model.head.load_state_dict(shared.head.state_dict())
        shared = shared or model
        if variant.source == "torch":
            reference[variant.name] = model
        try:
            with torch.no_grad():
                loss = float(criterion(model(tokens), targets))
            if variant.parity and base is not None:
                with torch.no_grad():
                    base_loss = float(criterion(base(tokens), targets))
                diff = abs(loss - base_loss)
                ok = diff <= 1e-4 * max(1.0, abs(base_loss))
                entry.parity = f"{'ok' if ok else 'MISMATCH'} (Δ={diff:.1e})"
        except Exception as exc:
            entry.error = f"forward failed: {type(exc).__name__}: {exc}"
            continue
        entry.model = model
        entry.step = make_step(model, shape, tokens, targets)
        entry.flops = step_flops(rnn, shape)
    return entries


def run_shape(
    shape: Shape, variants: list[Variant], classes: dict[str, type] | None, rounds: int, warmup: int, quick: bool
) -> list[Entry]:
    """Build, probe and time every variant of one shape, round-robin."""
    print(f"\n[{shape.name}] {shape.describe()}", file=sys.stderr)
    entries = build_entries(shape, variants, classes)
    live: dict[str, Entry] = {}
    per_round: dict[str, int] = {}
    for entry in entries:
        if entry.error:
            print(f"  {entry.variant.name}: {entry.error}", file=sys.stderr)
            continue
        try:
            entry.step()  # first step: lazy set-up, kernel load
            start = time.perf_counter()
            entry.step()
            probe = time.perf_counter() - start
        except Exception as exc:
            entry.error = f"step failed: {type(exc).__name__}: {exc}"
            print(f"  {entry.variant.name}: {entry.error}", file=sys.stderr)
            continue
        entry.path = describe_path(entry.model.rnn, entry.variant)
        per_round[entry.variant.name] = 1 if quick else max(1, min(20, round(0.3 / max(probe, 1e-6))))
        live[entry.variant.name] = entry
        print(f"  {entry.variant.name}: probe step {probe * 1e3:.1f} ms, path {entry.path}", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        print(f"  round {done}/{total}", file=sys.stderr, end="\r" if done < total else "\n")

    samples = alternate({n: e.step for n, e in live.items()}, rounds, warmup, per_round, progress)
    for name, entry in live.items():
        entry.summary = summarize(samples[name])
    return entries


# ----------------------------------------------------------------------------- first call


def first_call_worker(variant_name: str, shape_name: str, later_steps: int) -> None:
    """Runs in a fresh process: print JSON with the first step's and later steps' times."""
    shape, variant = SHAPES[shape_name], VARIANTS[variant_name]
    classes, reason = seqlab_classes()
    if classes is None:
        print(json.dumps({"error": reason}))
        return
    tokens, targets = make_batch(shape)
    torch.manual_seed(0)
    start = time.perf_counter()
    rnn = make_rnn(variant, classes, shape)
    build = time.perf_counter() - start
    step = make_step(make_model(rnn, shape), shape, tokens, targets)
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    later = []
    for _ in range(later_steps):
        start = time.perf_counter()
        step()
        later.append(time.perf_counter() - start)
    median = statistics.median(later) if later else float("nan")
    path = str(getattr(rnn, "last_impl", "?"))
    print(json.dumps({"build": build, "first": first, "later": median, "path": path}))


def measure_first_calls(
    variants: list[Variant], shape: Shape, later_steps: int, threads: int, default_malloc: bool
) -> list[dict]:
    """One fresh subprocess per seqlab generic variant, each with an empty kernel cache."""
    results = []
    for variant in variants:
        print(f"  first call: {variant.name} on {shape.name} (fresh process, cold cache)", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="seqlab-cold-cache-") as cache:
            env = dict(os.environ, SEQLAB_CACHE_DIR=cache)
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--first-call-worker",
                variant.name,
                "--shapes",
                shape.name,
                "--later-steps",
                str(later_steps),
                "--threads",
                str(threads),
            ] + (["--default-malloc"] if default_malloc else [])
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
                lines = proc.stdout.strip().splitlines()
                data = json.loads(lines[-1]) if lines else {}
                if proc.returncode != 0 or not data:
                    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    data = {"error": f"exit {proc.returncode}: {tail}"}
            except subprocess.TimeoutExpired:
                data = {"error": "timed out after 600 s"}
        data["variant"] = variant.name
        data["shape"] = shape.name
        results.append(data)
    return results


# ----------------------------------------------------------------------------- report


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def shape_table(shape: Shape, entries: list[Entry], peak: float) -> str:
    by_name = {e.variant.name: e for e in entries}
    rows = []
    for e in entries:
        if e.summary is None:
            rows.append([e.variant.name, e.path, "-", "-", "-", "-", "-", "-", "-", e.parity, e.error or "not timed"])
            continue
        s = e.summary
        base = by_name.get(e.variant.baseline)
        if base is not None and base.summary is not None and base is not e:
            ratio_med = f"{base.summary.median / s.median:.2f}×"
            ratio_min = f"{base.summary.minimum / s.minimum:.2f}×"
        else:
            ratio_med = ratio_min = "-"
        gflops = e.flops / s.median / 1e9
        rows.append(
            [
                e.variant.name,
                e.path,
                fmt_ms(s.median),
                fmt_ms(s.minimum),
                f"{100 * s.spread:.0f}%",
                ratio_med,
                ratio_min,
                f"{gflops:.1f}",
                f"{100 * gflops / peak:.0f}%",
                e.parity,
                "",
            ]
        )
    header = [
        "variant",
        "path",
        "median ms",
        "min ms",
        "IQR/median",
        "speed vs nn (median)",
        "speed vs nn (min)",
        "GFLOP/s",
        "% GEMM peak",
        "parity",
        "note",
    ]
    return f"### `{shape.name}`: {shape.describe()}\n\n" + markdown_table(header, rows)


def target_rows(results: dict[str, list[Entry]], first_calls: list[dict]) -> tuple[list[list[str]], bool]:
    rows, all_pass = [], True
    for variant, shape, minimum in TARGETS:
        entries = {e.variant.name: e for e in results.get(shape, [])}
        e, base = entries.get(variant), entries.get(VARIANTS[variant].baseline)
        target = f"{variant} ≥ {minimum:.2f}× {VARIANTS[variant].baseline} on {shape}"
        if e is None or base is None:
            continue  # not selected in this run
        if e.summary is None or base.summary is None:
            rows.append([target, "-", "FAIL (" + (e.error or base.error or "not timed") + ")"])
            all_pass = False
            continue
        ratio = base.summary.median / e.summary.median
        ok = ratio >= minimum and not e.parity.startswith("MISMATCH")
        all_pass &= ok
        rows.append([target, f"{ratio:.2f}×", "pass" if ok else "FAIL"])
    for fc in first_calls:
        target = f"{fc['variant']} first call ≤ {FIRST_CALL_TARGET_S:.0f} s over later calls"
        if "error" in fc:
            rows.append([target, "-", f"FAIL ({fc['error']})"])
            all_pass = False
            continue
        overhead = fc["build"] + fc["first"] - fc["later"]
        ok = overhead <= FIRST_CALL_TARGET_S
        all_pass &= ok
        rows.append([target, f"{overhead:.2f} s", "pass" if ok else "FAIL"])
    return rows, all_pass


def first_call_table(first_calls: list[dict]) -> str:
    rows = []
    for fc in first_calls:
        if "error" in fc:
            rows.append([fc["variant"], fc["shape"], "-", "-", "-", "-", "-", fc["error"]])
            continue
        overhead = fc["build"] + fc["first"] - fc["later"]
        rows.append(
            [
                fc["variant"],
                fc["shape"],
                fc.get("path", "?"),
                f"{fc['build']:.3f}",
                f"{fc['first']:.3f}",
                f"{fc['later']:.3f}",
                f"{overhead:.3f}",
                "",
            ]
        )
    header = ["variant", "shape", "path", "build s", "first step s", "later step median s", "overhead s", "note"]
    return markdown_table(header, rows)


def render(
    argv: list[str],
    info_start: dict[str, str],
    load_end: str,
    gemm_start: dict[str, float],
    gemm_end: dict[str, float],
    settings: dict[str, str],
    results: dict[str, list[Entry]],
    first_calls: list[dict],
    seqlab_note: str,
    malloc_note: str,
) -> str:
    peak = max(list(gemm_start.values()) + list(gemm_end.values()))
    out = ["# RNN training-step speed: seqlab vs torch.nn", ""]
    out.append(f"Generated by `python benchmarks/rnn_speed.py {' '.join(argv)}`.".replace("  ", " "))
    out.append("What is measured and how: the docstring of `benchmarks/rnn_speed.py` and `benchmarks/README.md`.")
    busy = _busy(info_start)
    if busy:
        out += ["", f"> **Warning: {busy}** — timings are not representative; do not commit them."]
    out += ["", "## Machine", ""]
    machine = dict(info_start)
    machine["load average at end"] = load_end
    machine["allocator"] = malloc_note
    machine["float32 GEMM (start)"] = ", ".join(f"{n}: {g:.1f}" for n, g in gemm_start.items()) + " GFLOP/s"
    machine["float32 GEMM (end)"] = ", ".join(f"{n}: {g:.1f}" for n, g in gemm_end.items()) + " GFLOP/s"
    machine["GEMM peak used for shares"] = f"{peak:.1f} GFLOP/s (the best of all the above)"
    out.append(markdown_table(["", ""], [[k, v] for k, v in machine.items()]))
    out += ["", "## Settings", ""]
    out.append(markdown_table(["", ""], [[k, v] for k, v in settings.items()]))
    if seqlab_note:
        out += ["", f"Note: {seqlab_note}; only torch.nn baselines ran."]
    out += ["", "## Results", ""]
    for name, entries in results.items():
        out += [shape_table(SHAPES[name], entries, peak), ""]
    if first_calls:
        out += ["## First call in a fresh process (cold kernel cache)", "", first_call_table(first_calls), ""]
    rows, all_pass = target_rows(results, first_calls)
    out += ["## Targets (issue 2, item 6)", ""]
    if rows:
        out.append(markdown_table(["target", "measured (median ratio)", "result"], rows))
        out += ["", f"**{'All targets met.' if all_pass else 'Some targets are not met.'}**"]
    else:
        out.append("No target applies to the selected variants and shapes.")
    return "\n".join(out) + "\n"


def _busy(info: dict[str, str]) -> str:
    try:
        load1 = float(info["load average (1/5/15 min)"].split("/")[0])
        cores = int(info["usable cores"])
    except (KeyError, ValueError):
        return ""
    if load1 > 0.5 * cores:
        return f"the machine was busy at the start (1-min load {load1:.2f} on {cores} cores)"
    return ""


# ----------------------------------------------------------------------------- main


def parse_names(text: str | None, valid: dict, what: str) -> list[str]:
    if text is None:
        return list(valid)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise SystemExit(f"error: unknown {what} {unknown}; expected a comma-separated list of {list(valid)}")
    return names


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per variant (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 3 rounds, 1 warm-up, 1 step per round; no file unless --out"
    )
    parser.add_argument("--shapes", help=f"comma-separated subset of {list(SHAPES)}")
    parser.add_argument("--variants", help=f"comma-separated subset of {list(VARIANTS)}")
    parser.add_argument(
        "--out", type=Path, help="results file (default benchmarks/results/rnn_speed.md; none with --quick)"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default)")
    parser.add_argument("--no-first-call", action="store_true", help="skip the fresh-process first-call measurement")
    parser.add_argument(
        "--first-call-shape", default="notes-b16", choices=list(SHAPES), help="shape for the first-call measurement"
    )
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc's mmap/trim thresholds at their defaults (to A/B the allocator setting)",
    )
    parser.add_argument("--later-steps", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--first-call-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    malloc_note = "glibc defaults (--default-malloc)" if args.default_malloc else steady_malloc()
    if args.first_call_worker:
        first_call_worker(args.first_call_worker, args.shapes, args.later_steps)
        return 0
    if args.quick:
        args.rounds, args.warmup, args.later_steps = min(args.rounds, 3), min(args.warmup, 1), 2
    if args.rounds < 1 or args.warmup < 0:
        raise SystemExit("error: --rounds must be >= 1 and --warmup >= 0")

    shape_names = parse_names(args.shapes, SHAPES, "shapes")
    names = parse_names(args.variants, VARIANTS, "variants")
    for name in list(names):  # every seqlab variant needs its baseline in the same process
        base = VARIANTS[name].baseline
        if base not in names:
            print(f"adding {base}: the baseline of {name}", file=sys.stderr)
            names.append(base)
    names.sort(key=list(VARIANTS).index)  # baselines first, the documented order
    classes, seqlab_note = seqlab_classes()
    if classes is None:
        dropped = [n for n in names if VARIANTS[n].source == "seqlab"]
        if dropped:
            print(f"{seqlab_note}: skipping {dropped}", file=sys.stderr)
        names = [n for n in names if VARIANTS[n].source == "torch"]
        seqlab_note = f"{seqlab_note}: skipped {dropped}" if dropped else ""
    variants = [VARIANTS[n] for n in names]

    info = machine_info()
    print(f"{info['CPU']}, {info['torch threads']} threads, torch {info['torch']}; {malloc_note}", file=sys.stderr)
    if _busy(info):
        print(f"WARNING: {_busy(info)}; do not commit these timings", file=sys.stderr)
    repeats = 3 if args.quick else 8
    gemm_start = gemm_gflops(repeats=repeats)
    print("GEMM: " + ", ".join(f"{n}: {g:.1f}" for n, g in gemm_start.items()) + " GFLOP/s", file=sys.stderr)

    results = {}
    for shape_name in shape_names:
        results[shape_name] = run_shape(SHAPES[shape_name], variants, classes, args.rounds, args.warmup, args.quick)
        for entry in results[shape_name]:  # free this shape's models before the next
            entry.model = entry.step = None

    first_calls: list[dict] = []
    generic = [v for v in variants if v.generic]
    if generic and not args.no_first_call:
        print(f"\n[first call] {args.first_call_shape}", file=sys.stderr)
        first_calls = measure_first_calls(
            generic, SHAPES[args.first_call_shape], args.later_steps, torch.get_num_threads(), args.default_malloc
        )

    gemm_end = gemm_gflops(repeats=repeats)
    load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    settings = {
        "rounds (timed / warm-up)": f"{args.rounds} / {args.warmup}",
        "steps per round": "1" if args.quick else "chosen per variant for ~0.3 s per round (1–20)",
        "order": "round-robin, start rotated every round",
        "step": "zero_grad(set_to_none) → forward → loss → backward → RMSprop(lr=1e-3, alpha=0.9, eps=1e-7)",
        "inputs": "time-major (T, B) random token ids, fixed per shape",
        "FLOPs": "3 × forward; forward = Σ over layer-directions 2·B·T·(I+H)·G·H + head matmul",
        "speed vs nn": "baseline step time / variant step time (> 1 = faster); baseline = nn module of the family",
        "parity": "same weights as the baseline, first loss equal to 1e-4 relative",
        "first call": (
            "fresh process, empty SEQLAB_CACHE_DIR; "
            f"overhead = build + first step − median of {args.later_steps} later steps"
        ),
    }
    report = render(
        argv, info, load_end, gemm_start, gemm_end, settings, results, first_calls, seqlab_note, malloc_note
    )
    print("\n" + report)
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
