"""``seqlab run / recipes / eval`` end to end on real SST-2 samples, and their errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from _cli import run_cli

from seqlab.train.checkpoint import load_checkpoint

# A few thousand SST-2 sentences, small model: trains in ~10 s on one CPU thread.
TINY = [
    "data.limit=2000", "data.eval_limit=500", "train.epochs=3", "model.embedding_dim=64", "model.hidden_size=64",
    "model.pooling=max", "model.dropout=0.2", "train.lr=0.005", "train.num_threads=1",
]


_main = run_cli  # (exit code, stdout, stderr) of `seqlab ARGV`, see _cli.py


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    if not os.environ.get("SEQLAB_DATA_DIR") or not Path(os.environ["SEQLAB_DATA_DIR"]).is_dir():
        pytest.skip("real datasets not found: set SEQLAB_DATA_DIR")
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    code, out, err = _main(["run", "lstm-sst2", *TINY, "--run-dir", str(run_dir), "--json"])
    assert code == 0, err
    return run_dir, out


@pytest.mark.parametrize("command", ["run", "recipes", "eval"])
def test_help(command):
    code, out, _ = _main([command, "--help"])
    assert code == 0
    assert f"usage: seqlab {command}" in out
    words = {"run": ["--resume", "--json", "--run-dir", "section.key=value", "examples:"],
             "recipes": ["published", "last measured"],
             "eval": ["--split", "confusion matrix", "errors-<split>.tsv"]}[command]
    for word in words:
        assert word in out


@pytest.mark.slow
def test_run_learns_and_prints_json_last(tiny_run):
    run_dir, out = tiny_run
    lines = out.strip().splitlines()
    result = json.loads(lines[-1])  # ONE JSON object, the last line
    assert result["run_dir"] == str(run_dir) and result["recipe"] == "lstm-sst2"
    assert result["epochs"] == 3 and result["reference"] == 84.9
    assert result["test_accuracy"] > 0.6, result  # balanced test set: chance is 0.5
    assert result["headline"] == pytest.approx(100 * result["test_accuracy"])
    assert "measured" in out and "published 84.90 %" in out  # the summary before the JSON line
    for name in ("config.json", "run.json", "vocab.json", "metrics.csv", "metrics.jsonl", "results.json",
                 "checkpoints/best.safetensors", "checkpoints/last.safetensors", "plots/loss.png",
                 "plots/accuracy.png"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "run.json").read_text())["class_names"] == ["negative", "positive"]


@pytest.mark.slow
def test_eval_reports_and_writes_worst_errors(tiny_run):
    run_dir, out = tiny_run
    code, text, err = _main(["eval", str(run_dir)])
    assert code == 0, err
    for word in ("accuracy", "precision", "recall", "F1", "confusion matrix", "negative", "positive"):
        assert word in text
    # the same 500 test sentences as the run's own test evaluation (data.eval_limit=500)
    code, text, err = _main(["eval", str(run_dir), "--limit", "500", "--json"])
    assert code == 0, err
    report = json.loads(text.strip().splitlines()[-1])
    assert report["num_examples"] == 500
    assert report["accuracy"] == pytest.approx(json.loads(out.strip().splitlines()[-1])["test_accuracy"])
    code, text, err = _main(["eval", str(run_dir), "--json"])
    report = json.loads(text.strip().splitlines()[-1])
    assert report["split"] == "test" and report["num_examples"] == 1821
    confusion = report["confusion_matrix"]
    assert sum(map(sum, confusion)) == 1821 and [sum(r) for r in confusion] == [912, 909]
    errors = (run_dir / "errors-test.tsv").read_text().splitlines()
    assert errors[0].split("\t") == ["rank", "index", "true", "predicted", "p_predicted", "p_true", "text"]
    rows = [line.split("\t") for line in errors[1:]]
    assert len(rows) == confusion[0][1] + confusion[1][0] == report["num_errors"]
    confidences = [float(r[4]) for r in rows]
    assert confidences == sorted(confidences, reverse=True)  # worst (most confident) first
    assert all(r[2] != r[3] and float(r[4]) > 0.5 for r in rows)
    code, text, err = _main(["eval", str(run_dir), "--split", "dev", "--limit", "100", "--json"])
    assert code == 0 and json.loads(text.strip().splitlines()[-1])["num_examples"] == 100


def test_recipes_table_with_measured_numbers(tmp_path, monkeypatch):
    results = tmp_path / "recipes.json"
    results.write_text(json.dumps({"gru-sst2": {"value": 83.25, "metric": "accuracy"}}))
    monkeypatch.setenv("SEQLAB_RESULTS_FILE", str(results))
    code, out, _ = _main(["recipes"])
    assert code == 0
    for word in ("lstm-sst2", "bilstm-sst2", "gru-sst2", "peephole-lstm-sst2", "char-shakespeare",
                 "84.90 %", "87.50 %", "1.880 nats", "Tai et al. 2015", "83.25 %", "—"):
        assert word in out, word
    code, out, _ = _main(["recipes", "--json"])
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["gru-sst2"]["measured"] == 83.25 and rows["lstm-sst2"]["measured"] is None
    assert rows["bilstm-sst2"]["reference"] == 87.5 and rows["char-shakespeare"]["dataset"] == "tinyshakespeare"
    code, out, _ = _main(["recipes", "--show", "lstm-sst2"])
    assert code == 0 and 'name = "lstm-sst2"' in out


def test_run_errors(tmp_path):
    code, _, err = _main(["run", "lstm-sst2", "train.epoch=3", "--runs-root", str(tmp_path)])
    assert code == 2 and "unknown key 'epoch' in [train]. Did you mean 'epochs'?" in err and "Valid keys" in err
    code, _, err = _main(["run", "lstm-sst", "--runs-root", str(tmp_path)])
    assert code == 2 and "Did you mean 'lstm-sst2'" in err
    code, _, err = _main(["run", "lstm-sst2", "model.hidden_size=big", "--runs-root", str(tmp_path)])
    assert code == 2 and "model.hidden_size = 'big' is not an integer" in err
    code, _, err = _main(["run", "--resume", str(tmp_path)])
    assert code == 2 and "not a run directory" in err
    code, _, err = _main(["run"])
    assert code == 2 and "name a recipe" in err
    code, _, err = _main(["run", "--resume", str(tmp_path), "train.epochs=9"])
    assert code == 2 and "overrides and --run-dir cannot be combined" in err
    code, _, err = _main(["eval", str(tmp_path / "missing")])
    assert code == 2 and "does not exist" in err
    assert list(tmp_path.iterdir()) == []  # nothing was written by the failed runs


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_device_option_reaches_the_engine(tmp_path, real_data_dir):
    code, _, err = _main(["run", "lstm-sst2", "data.limit=50", "--device", "cuda", "--runs-root", str(tmp_path)])
    assert code == 2 and "CUDA is not available" in err
    assert list(tmp_path.iterdir()) == []  # checked before the run directory is created


def _state(run_dir: Path) -> dict[str, torch.Tensor]:
    state, _ = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    return state["model"]


@pytest.mark.slow
def test_resume_after_sigint_matches_uninterrupted_run(tmp_path, real_data_dir):
    args = ["lstm-sst2", "data.limit=1200", "data.eval_limit=200", "train.epochs=3", "model.embedding_dim=32",
            "model.hidden_size=32", "train.num_threads=1", "--quiet"]
    straight = tmp_path / "straight"
    code, out, err = _main(["run", *args, "--run-dir", str(straight), "--json"])
    assert code == 0, err
    expected = json.loads(out.strip().splitlines()[-1])

    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "seqlab", "run", *args, "--run-dir", str(interrupted)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = interrupted / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and metrics.read_text().count("\n") >= 1:  # epoch 1 done
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err  # the message says how to continue

    code, out, err = _main(["run", "--resume", str(interrupted), "--json", "--quiet"])
    assert code == 0, err
    resumed = json.loads(out.strip().splitlines()[-1])
    for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "epochs"):
        assert resumed[key] == expected[key], key
    a, b = _state(straight), _state(interrupted)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_language_model_recipe_runs_and_evaluates(tmp_path, real_data_dir):
    run_dir = tmp_path / "lm"
    code, out, err = _main([
        "run", "char-shakespeare", "data.limit=40000", "data.eval_limit=8000", "data.batch_size=16", "data.bptt=64",
        "model.hidden_size=64", "model.embedding_dim=32", "train.epochs=2", "train.lr=0.01", "train.num_threads=1",
        "--run-dir", str(run_dir), "--json", "--quiet",
    ])
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    vocab_size = json.loads((run_dir / "run.json").read_text())["vocab_size"]
    assert result["headline"] == result["val_loss"] and result["metric"] == "val_loss"
    assert result["val_loss"] < torch.log(torch.tensor(float(vocab_size))).item() - 1.0  # well below uniform
    assert "test_loss" not in result  # the recipe has no test split
    code, out, err = _main(["eval", str(run_dir), "--limit", "8000", "--json"])
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["split"] == "valid"
    assert report["perplexity"] == pytest.approx(2.718281828 ** report["loss"], rel=1e-6)
    # per-token loss over the same 8,000 characters as the run's validation (engine: per-window mean)
    assert report["loss"] == pytest.approx(result["val_loss"], abs=0.05)


def test_run_a_recipe_file(tmp_path, real_data_dir):
    recipe = tmp_path / "mine.toml"
    recipe.write_text(
        '[recipe]\nname = "mine"\n[data]\ndataset = "sst2"\nlimit = 300\neval_limit = 100\ntest_split = ""\n'
        '[model]\nrnn_type = "gru"\nembedding_dim = 16\nhidden_size = 16\nbidirectional = true\npooling = "mean"\n'
        '[train]\nepochs = 1\nnum_threads = 1\nmonitor = "val_loss"\n'
    )
    code, out, err = _main(["run", str(recipe), "--runs-root", str(tmp_path / "runs"), "--json", "--quiet"])
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["recipe"] == "mine" and Path(result["run_dir"]).parent == tmp_path / "runs"
    assert Path(result["run_dir"]).name.startswith("mine-") and "test_accuracy" not in result
    assert 0.0 <= result["val_accuracy"] <= 1.0
