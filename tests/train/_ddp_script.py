"""Train a tiny model; run plainly or under torchrun (used by test_train_distributed.py).

    python _ddp_script.py OUT_DIR --batch-size 8
    python -m torch.distributed.run --standalone --nproc_per_node=2 _ddp_script.py OUT_DIR --batch-size 4

Rank 0 writes OUT_DIR/final.safetensors, OUT_DIR/history.json and the run files.
With ``--time-limit-case`` a second, short fit follows in which only rank 0 is over its
recipe TimeLimit; every rank writes OUT_DIR/time_limit_rank{R}.json (steps, epochs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import loader, mlp, xor_like_data  # noqa: E402

from seqlab.train import Trainer  # noqa: E402
from seqlab.train.distributed import shutdown  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--time-limit-case", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    trainer = Trainer(mlp(seed=1), loss="cross_entropy", optimizer="sgd", lr=0.5, metrics=["accuracy"],
                      seed=0, run_dir=a.out_dir, verbose=0, lr_schedule="cosine", device="cpu")  # gloo
    train = xor_like_data(64, seed=0)  # a Dataset + batch_size: sharded by a DistributedSampler under DDP
    val = loader(xor_like_data(32, seed=1), a.batch_size, shuffle=False)  # a DataLoader: rebuilt under DDP
    history = trainer.fit(train, batch_size=a.batch_size, shuffle=False, epochs=3, val_data=val)
    if int(os.environ.get("RANK", 0)) == 0:
        save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()},
                  str(Path(a.out_dir) / "final.safetensors"))
        (Path(a.out_dir) / "history.json").write_text(json.dumps(history.history))
        (Path(a.out_dir) / "world.json").write_text(json.dumps({
            "world_size": trainer.dist.world_size, "ddp": type(trainer.ddp_model).__name__,
            "steps": trainer.global_step}))
    if a.time_limit_case:
        time_limit_case(Path(a.out_dir), a.batch_size)
    shutdown()  # barrier + destroy_process_group; a no-op in the single-process run


def time_limit_case(out_dir: Path, batch_size: int) -> None:
    """Rank 0 is over its time limit after its first step, rank 1 never is: both must stop
    after the same step (a rank stopping alone leaves the other in an all-reduce forever)."""
    from seqlab.train.callbacks import TimeLimit

    rank = int(os.environ.get("RANK", 0))
    trainer = Trainer(mlp(seed=1), loss="cross_entropy", optimizer="sgd", lr=0.5, seed=0, verbose=0, device="cpu",
                      callbacks=[TimeLimit(0.0 if rank == 0 else 3600.0)])
    history = trainer.fit(xor_like_data(64, seed=0), batch_size=batch_size, shuffle=False, epochs=3)
    (out_dir / f"time_limit_rank{rank}.json").write_text(json.dumps({
        "steps": trainer.global_step, "epochs": history.epoch, "stop": trainer.stop_training}))


if __name__ == "__main__":
    main()
