"""A tiny seeded training run, used by test_train_resume.py in a subprocess.

    python _resume_script.py RUN_DIR [--kill-at STEP] [--sigint-at STEP] [--every N] [--resume]

Dropout and a shuffling DataLoader make the run depend on the RNG states, so a
resumed run only matches an uninterrupted one if they are all restored.  At the end
the final weights go to RUN_DIR/final.safetensors and the history to
RUN_DIR/history.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import loader, mlp, xor_like_data  # noqa: E402

from seqlab.train import Callback, EarlyStopping, Trainer  # noqa: E402


class SignalAt(Callback):
    """Send ``sig`` to this very process right after optimizer step ``step``."""

    def __init__(self, step: int, sig: int) -> None:
        self.step, self.sig = step, sig

    def on_batch_end(self, batch, logs=None):
        if self.trainer.global_step == self.step:
            os.kill(os.getpid(), self.sig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--kill-at", type=int)
    p.add_argument("--sigint-at", type=int)
    p.add_argument("--every", type=int)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    callbacks = [EarlyStopping("val_loss", patience=10, restore_best_weights=True)]
    if a.kill_at is not None and not a.resume:
        callbacks.append(SignalAt(a.kill_at, signal.SIGKILL))
    if a.sigint_at is not None and not a.resume:
        callbacks.append(SignalAt(a.sigint_at, signal.SIGINT))
    trainer = Trainer(
        mlp(seed=1, dropout=0.3), loss="cross_entropy", optimizer="adam", lr=0.01, metrics=["accuracy"],
        callbacks=callbacks, lr_schedule="cosine", seed=123, run_dir=a.run_dir, verbose=0,
        checkpoint_every_steps=a.every, grad_clip_norm=1.0,
    )
    train = xor_like_data(80, seed=0)  # 5 batches of 16 per epoch
    val = xor_like_data(32, seed=1)
    try:
        history = trainer.fit(loader(train, 16, shuffle=True), epochs=a.epochs,
                              val_data=loader(val, 16, shuffle=False), resume=a.resume)
    except KeyboardInterrupt as exc:
        print(f"INTERRUPTED: {exc}", file=sys.stderr)
        sys.exit(130)
    save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()},
              str(Path(a.run_dir) / "final.safetensors"))
    (Path(a.run_dir) / "history.json").write_text(json.dumps(history.history))


if __name__ == "__main__":
    main()
