"""``torchrun --nproc_per_node=2 -m seqlab run RECIPE``: DDP on CPU (gloo), rank 0 writes and prints.

The end-to-end runs start real 2-process jobs (about 10-15 s each on a shared 2-core machine);
the refusals and the helpers are checked in-process with a torchrun-like environment.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.cli.main import main
from seqlab.config import apply_overrides, to_dict
from seqlab.errors import CheckpointError, ConfigurationError
from seqlab.recipes.registry import load_recipe
from seqlab.recipes.runner import run_recipe
from seqlab.train.distributed import barrier, is_main_process, run_on_main
from seqlab.train.runs import init_run_dir

REPO = Path(__file__).resolve().parents[2]
TINY = ["train.device=cpu", "train.num_threads=1"]
SST2 = ["lstm-sst2", "data.limit=300", "data.eval_limit=60", "train.epochs=1", "model.embedding_dim=16",
        "model.hidden_size=16"]
# 2 x 8 streams of Tiny Shakespeare characters, 2 epochs: a few seconds per process
CHARS = ["char-shakespeare", "data.limit=20000", "data.eval_limit=4000", "train.epochs=2", "model.hidden_size=32",
         "model.embedding_dim=16", "train.max_time_s=none"]


def _torchrun(args: list[str], data_dir: Path, *options: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=2 -m seqlab run *args train.device=cpu ... --quiet *options``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", SEQLAB_DATA_DIR=str(data_dir), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "seqlab", "run",
         *args, *TINY, "--quiet", *options], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_classification_run_under_torchrun(tmp_path, real_data_dir, capsys):
    runs = tmp_path / "runs"
    proc = _torchrun(SST2, real_data_dir, "--runs-root", str(runs))
    assert proc.returncode == 0, proc.stderr[-3000:]  # torchrun exits 0 only when both ranks did
    (run,) = runs.iterdir()  # both ranks agreed on rank 0's timestamped name
    assert proc.stdout.count("run directory:") == 1 and f"run directory: {run}" in proc.stdout  # printed by rank 0
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoints", "config.json", "metrics.csv", "metrics.jsonl", "plots", "results.json", "run.json",
        "vocab.json"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.safetensors", "last.safetensors"]
    assert [r["epoch"] for r in csv.DictReader(open(run / "metrics.csv"))] == ["0"]  # one row, written once
    assert json.loads((run / "run.json").read_text())["world_size"] == 2
    results = json.loads((run / "results.json").read_text())
    # Each rank evaluated its share of the 60 dev sentences (sums reduced over ranks): the
    # same accuracy as one process evaluating the saved best model on the same sentences.
    capsys.readouterr()
    assert main(["eval", str(run), "--split", "dev", "--limit", "60", "--json"]) == 0
    single = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert single["num_examples"] == 60
    assert results["metrics"]["val_accuracy"] == pytest.approx(single["accuracy"], abs=1e-9)


@pytest.mark.slow
def test_language_model_under_torchrun_matches_one_process(tmp_path, real_data_dir, monkeypatch):
    proc = _torchrun([*CHARS, "data.batch_size=16"], real_data_dir, "--json", "--run-dir", str(tmp_path / "ddp"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # --json printed once, by rank 0
    ddp = json.loads(lines[0])
    assert ddp["run_dir"] == str(tmp_path / "ddp")
    assert len(list(csv.DictReader(open(tmp_path / "ddp" / "metrics.csv")))) == 2
    assert (tmp_path / "ddp" / "plots" / "gradient_flow.png").is_file()
    # data.batch_size = 16 streams in all, 8 per rank, same windows: DDP's averaged gradient is
    # the one-process gradient over all 16, so the runs agree up to float rounding.
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(real_data_dir))
    config = apply_overrides(load_recipe("char-shakespeare"),
                             [*CHARS[1:], "data.batch_size=16", "train.device=cpu", "train.num_threads=1"])
    one = run_recipe(config, run_dir=tmp_path / "one", verbose=0).metrics
    for key in ("train_loss", "val_loss", "val_perplexity"):
        assert ddp[key] == pytest.approx(one[key], rel=1e-5), key


@pytest.mark.slow
def test_error_on_rank_0_reaches_every_rank(tmp_path, real_data_dir):
    """Only rank 0 creates the run directory; its refusal is raised on rank 1 too (run_on_main)."""
    config = apply_overrides(load_recipe("lstm-sst2"), [])
    init_run_dir(tmp_path / "taken", to_dict(config))
    proc = _torchrun(SST2, real_data_dir, "--run-dir", str(tmp_path / "taken"))
    assert proc.returncode != 0
    assert proc.stderr.count(f"seqlab run: error: {tmp_path / 'taken'} already holds a run") == 2  # both ranks
    assert len(re.findall(r"exitcode\s*: 2 ", proc.stderr)) == 2  # the CLI's exit status of a SeqlabError, twice
    assert proc.stderr.count("Traceback") == 1  # torchrun's own ChildFailedError, none from seqlab


@pytest.fixture
def torchrun_env(monkeypatch):
    """What torchrun sets for rank 0 of 2 (no process group is started by the refusals)."""
    for key, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("recipe, message", [
    ("keras-lecture-sst2", "uses model.kind='keras_lstm' .* cannot run under torchrun; run it without torchrun"),
    ("kim-cnn-rand-mr", r"cross-validated \(10 folds\).* run one fold per torchrun job with data\.cv_fold=K "
                        r"\(K = 0\.\.9\)"),
])
def test_torchrun_refuses_single_process_recipes(tmp_path, torchrun_env, recipe, message):
    with pytest.raises(ConfigurationError, match=message):
        run_recipe(apply_overrides(load_recipe(recipe), ["train.device=cpu"]), runs_root=tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_helpers_outside_torchrun(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert is_main_process()
    barrier()  # no process group: nothing to wait for
    assert run_on_main(lambda: {"a": 1}) == {"a": 1}
    with pytest.raises(CheckpointError, match="boom"):
        run_on_main(lambda: (_ for _ in ()).throw(CheckpointError("boom")))
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()
