"""Resume after SIGKILL / SIGINT ends bit-for-bit equal to an uninterrupted run (CPU)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
import _resume_script
from _train_helpers import HERE, PYTHON, subprocess_env
from safetensors.torch import load_file

from seqlab.train import read_checkpoint_metadata

SCRIPT = str(HERE / "_resume_script.py")


def _start(run_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, SCRIPT, str(run_dir), *args], env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _jsonl_without_time(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r.pop("time")
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Reference run, a run SIGKILLed after step 7 (epoch-end checkpoint only) and a run
    interrupted with SIGINT after step 8 (step checkpoints every 3), then both resumed."""
    base = tmp_path_factory.mktemp("resume")
    ref, killed, interrupted = base / "ref", base / "killed", base / "interrupted"
    procs = [_start(killed, "--kill-at", "7"), _start(interrupted, "--sigint-at", "8", "--every", "3")]
    threads = torch.get_num_threads()
    _resume_script.main([str(ref)])  # the uninterrupted reference runs in this process meanwhile
    torch.set_num_threads(threads)
    (rc_kill, err_kill), (rc_int, err_int) = [_finish(p) for p in procs]
    assert rc_kill == -9, err_kill  # really SIGKILLed
    assert rc_int == 130, err_int
    state = {
        "killed_meta": read_checkpoint_metadata(killed / "checkpoints" / "last.safetensors"),
        "interrupted_meta": read_checkpoint_metadata(interrupted / "checkpoints" / "last.safetensors"),
        "interrupt_message": err_int,
        "killed_final_before": (killed / "final.safetensors").exists(),
    }
    procs = [_start(killed, "--resume"), _start(interrupted, "--resume", "--every", "3")]
    for p in procs:
        rc, err = _finish(p)
        assert rc == 0, err
    return ref, killed, interrupted, state


def _assert_same_run(ref: Path, other: Path) -> None:
    a, b = load_file(ref / "final.safetensors"), load_file(other / "final.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"weights {k} differ after resume"
    assert json.loads((ref / "history.json").read_text()) == json.loads((other / "history.json").read_text())
    assert (ref / "metrics.csv").read_text() == (other / "metrics.csv").read_text()
    assert _jsonl_without_time(ref / "metrics.jsonl") == _jsonl_without_time(other / "metrics.jsonl")


def test_resume_after_sigkill_matches_uninterrupted_run(runs):
    ref, killed, _, state = runs
    # Killed after step 7 with per-epoch checkpoints: the last checkpoint closes epoch 0 (5 batches).
    assert state["killed_meta"]["epoch"] == 1 and state["killed_meta"]["global_step"] == 5
    assert not state["killed_final_before"]
    _assert_same_run(ref, killed)


def test_resume_after_sigint_mid_epoch_matches_uninterrupted_run(runs):
    ref, _, interrupted, state = runs
    # SIGINT after step 8: the step finishes and a mid-epoch checkpoint (epoch 1, batch 3) is written.
    meta = state["interrupted_meta"]
    assert (meta["epoch"], meta["batch_in_epoch"], meta["global_step"]) == (1, 3, 8)
    assert "Resume with" in state["interrupt_message"] and str(interrupted) in state["interrupt_message"]
    _assert_same_run(ref, interrupted)


def test_history_of_reference_run_learns(runs):
    ref = runs[0]
    history = json.loads((ref / "history.json").read_text())
    assert history["loss"][-1] < history["loss"][0]
    assert len(history["loss"]) == 4
