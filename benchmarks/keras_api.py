"""Training throughput of the notes' Keras model: seqlab.keras vs Keras 3 (torch and jax backends).

The model is the notes' "LSTM in Keras" slide code, identical for every framework except the
imports: Embedding(20000, 256) → LSTM(128) → Dropout(0.5) → Dense(1, sigmoid), compiled with
binary_crossentropy, rmsprop and accuracy, trained with ``model.fit`` on random token ids of
length 200 (issue 4, item 6; targets: seqlab ≥ 3.5 × Keras-torch and ≥ 1.3 × Keras-jax).

How it measures:

* every variant runs in its own worker process (``KERAS_BACKEND`` is fixed per process), built
  once and warmed up with one untimed epoch;
* the parent drives the workers round-robin with ``benchmarks/_timing.alternate`` (A, B, C,
  B, C, A, ...), so drift of a shared machine spreads over all variants; one round = one
  ``model.fit(..., epochs=1)`` over ``--steps`` batches, API overhead included;
* reported: median samples/s per variant and the ratios of the medians.

Keras and jax are benchmark-only dependencies (``pip install keras jax jaxlib``), never runtime
ones; a backend that is not installed is reported as skipped.  Torch-based workers use
``--threads`` intra-op threads (default: torch's default); XLA picks its own thread count.

    python benchmarks/keras_api.py --quick          # smoke test, a couple of minutes, no file
    python benchmarks/keras_api.py                  # full run → results/keras_api.md
    python benchmarks/keras_api.py --batches 64 --variants seqlab,keras-torch --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# Run from a checkout: import this checkout's seqlab even when it is not installed.
sys.path.insert(1, str(HERE.parent))

MAX_FEATURES = 20000
SEQ_LEN = 200
VARIANTS = ("seqlab", "keras-torch", "keras-jax")
TARGETS = {"keras-torch": 3.5, "keras-jax": 1.3}


# --------------------------------------------------------------------------- worker side
def _build_model(variant: str):
    """The notes' code; only the imports differ between frameworks."""
    if variant == "seqlab":
        from seqlab.keras import Sequential
        from seqlab.keras.layers import LSTM, Dense, Dropout, Embedding
    else:
        from keras import Sequential
        from keras.layers import LSTM, Dense, Dropout, Embedding
    model = Sequential()
    model.add(Embedding(MAX_FEATURES, output_dim=256))
    model.add(LSTM(128))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def worker(variant: str, batch: int, steps: int, threads: int | None) -> None:
    """Build, warm up, then answer each 'run' line on stdin with one timed epoch (JSON)."""
    if variant.startswith("keras-"):
        os.environ["KERAS_BACKEND"] = variant.split("-", 1)[1]
    import numpy as np

    if variant != "keras-jax":
        import torch

        if threads:
            torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.integers(1, MAX_FEATURES, size=(batch * steps, SEQ_LEN)).astype("int32")
    y = rng.integers(0, 2, size=(batch * steps,)).astype("float32")
    model = _build_model(variant)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    first = time.perf_counter() - t0
    print(json.dumps({"ready": True, "first_epoch_s": first}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)


# --------------------------------------------------------------------------- parent side
class Worker:
    """A worker process driven over its stdin/stdout."""

    def __init__(self, variant: str, batch: int, steps: int, threads: int | None) -> None:
        cmd = [sys.executable, __file__, "--worker", variant, "--batch", str(batch), "--steps", str(steps)]
        if threads:
            cmd += ["--threads", str(threads)]
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.variant = variant
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.info = self._read()
        self.seconds: list[float] = []

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read()
                raise RuntimeError(f"{self.variant} worker died:\n{err[-3000:]}")
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)

    def run(self) -> float:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        seconds = self._read()["seconds"]
        self.seconds.append(seconds)
        return seconds

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)


def available(variant: str) -> str | None:
    """None when the variant can run, else the reason it cannot."""
    if variant == "seqlab":
        return None
    import importlib.util

    if importlib.util.find_spec("keras") is None:
        return "keras is not installed (pip install keras)"
    if variant == "keras-jax" and importlib.util.find_spec("jax") is None:
        return "jax is not installed (pip install jax jaxlib)"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 rounds of 4 batches, no results file")
    parser.add_argument("--batches", default="16,64", help="comma-separated batch sizes (default 16,64)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {','.join(VARIANTS)}")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per variant (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds after the warm-up epoch (default 1)")
    parser.add_argument("--steps", type=int, default=None, help="batches per round (default 16; 4 with --quick)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads in the workers")
    parser.add_argument("--out", type=Path, default=None, help="results file (default results/keras_api.md, none with --quick)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        worker(args.worker, args.batch, args.steps, args.threads)
        return

    from _timing import alternate, machine_info, markdown_table, steady_malloc, summarize

    malloc_note = steady_malloc()  # exported to the workers through the environment
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; valid: {', '.join(VARIANTS)}")
    rounds, warmup = (2, 0) if args.quick else (args.rounds, args.warmup)
    steps = args.steps or (4 if args.quick else 16)
    info = machine_info()
    skipped = {v: why for v in variants if (why := available(v))}
    rows, summary_rows = [], []
    for batch in [int(b) for b in args.batches.split(",")]:
        workers: dict[str, Worker] = {}
        try:
            for v in variants:
                if v in skipped:
                    continue
                print(f"[batch {batch}] starting {v} ...", file=sys.stderr, flush=True)
                workers[v] = Worker(v, batch, steps, args.threads)
            alternate({v: w.run for v, w in workers.items()}, rounds=rounds, warmup=warmup,
                      on_round=lambda r, n: print(f"[batch {batch}] round {r}/{n}", file=sys.stderr, flush=True))
        finally:
            for w in workers.values():
                w.close()
        rates = {}
        for v, w in workers.items():
            timed = w.seconds[warmup:]
            s = summarize(timed)
            rates[v] = batch * steps / s.median
            rows.append([str(batch), v, f"{rates[v]:.1f}", f"{batch * steps / s.minimum:.1f}",
                         f"{100 * s.spread:.0f}%", f"{w.info['first_epoch_s']:.1f}"])
        for v, target in TARGETS.items():
            if "seqlab" in rates and v in rates:
                ratio = rates["seqlab"] / rates[v]
                summary_rows.append([str(batch), f"seqlab / {v}", f"{ratio:.2f}×", f"≥ {target}×",
                                     "yes" if ratio >= target else "NO"])
    table = markdown_table(["batch", "variant", "samples/s (median)", "samples/s (best)", "IQR", "first epoch s"], rows)
    ratios = markdown_table(["batch", "ratio", "measured", "target", "met"], summary_rows) if summary_rows else ""
    print(table)
    print()
    print(ratios)
    for v, why in skipped.items():
        print(f"skipped {v}: {why}")
    out = args.out or (None if args.quick else HERE / "results" / "keras_api.md")
    if out is not None:
        load1 = float(info["load average (1/5/15 min)"].split("/")[0])
        cores = int(info["usable cores"]) if info["usable cores"].isdigit() else os.cpu_count() or 1
        warning = (f"\n> **Warning:** the machine was busy (1-min load {load1:.2f} on {cores} cores); "
                   "do not commit these numbers.\n" if load1 > 0.5 * cores else "")
        from importlib.metadata import PackageNotFoundError, version

        try:
            keras_version = version("keras")
        except PackageNotFoundError:
            keras_version = "not installed"
        lines = [
            "# seqlab.keras vs Keras 3: training throughput of the notes' model",
            "",
            f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`",
            warning,
            "Model: Embedding(20000, 256) → LSTM(128) → Dropout(0.5) → Dense(1, sigmoid); rmsprop; "
            f"binary_crossentropy; length {SEQ_LEN}; {steps} batches per round, {rounds} timed rounds "
            "(round-robin across worker processes); `model.fit` overhead included.",
            "",
            table,
            "",
            ratios,
            "",
            "| machine | |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in info.items()],
            f"| keras | {keras_version} |",
            f"| allocator | {malloc_note} |",
            *[f"| skipped {v} | {why} |" for v, why in skipped.items()],
            "",
        ]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines), encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
