"""2-process DDP (torchrun, gloo on CPU) equals one process with the same global batch."""

from __future__ import annotations

import csv
import json
import subprocess

import torch
from _train_helpers import HERE, PYTHON, subprocess_env
from safetensors.torch import load_file

SCRIPT = str(HERE / "_ddp_script.py")


def test_two_process_ddp_matches_single_process(tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    procs = [
        subprocess.Popen([PYTHON, SCRIPT, str(single), "--batch-size", "8"], env=subprocess_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          SCRIPT, str(ddp), "--batch-size", "4", "--time-limit-case"], env=subprocess_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
    world = json.loads((ddp / "world.json").read_text())
    assert world == {"world_size": 2, "ddp": "DistributedDataParallel", "steps": 24}  # 3 epochs x 64/(2*4)
    a, b = load_file(single / "final.safetensors"), load_file(ddp / "final.safetensors")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)
    h1, h2 = json.loads((single / "history.json").read_text()), json.loads((ddp / "history.json").read_text())
    assert h1.keys() == h2.keys()
    for key in h1:  # metrics are averaged over both ranks' shards
        torch.testing.assert_close(torch.tensor(h2[key]), torch.tensor(h1[key]), rtol=0, atol=1e-6)
    rows = list(csv.DictReader(open(ddp / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]  # written once, by rank 0
    assert sorted(p.name for p in (ddp / "checkpoints").iterdir()) == ["best.safetensors", "last.safetensors"]
    # Only rank 0 was over its recipe TimeLimit: the engine's collective stop flag made both ranks
    # stop after the same step (the epoch's end is the first DDP sync point: 8 steps < 50).
    for rank in (0, 1):
        assert json.loads((ddp / f"time_limit_rank{rank}.json").read_text()) == {
            "steps": 8, "epochs": [0], "stop": True}
