"""``seqlab run long-range``: the experiment recipe through the run command."""

from __future__ import annotations

import json

from _cli import run_cli


def test_long_range_runs_into_a_run_directory(tmp_path):
    out = tmp_path / "lr"
    code, stdout, err = run_cli(["run", "long-range", "quick=true", "only=sweep", "tasks=copy", "models=rnn,lstm",
                                 "--run-dir", str(out), "--json"])
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1]) == {"recipe": "long-range", "run_dir": str(out)}
    sweep = json.loads((out / "sweep.json").read_text())
    assert set(sweep["results"]["copy"]) == {"rnn", "lstm"}  # models=rnn,lstm reached the experiment
    assert sweep["config"]["tasks"] == ["copy"]
    assert (out / "copy_accuracy_vs_delay.png").stat().st_size > 0
    assert (out / "copy_gradient_flow_lstm.png").is_file()


def test_long_range_errors(tmp_path):
    code, _, err = run_cli(["run", "long-range", "epoch=3", "--run-dir", str(tmp_path / "a")])
    assert code == 2 and "unknown key 'epoch'" in err and "valid keys: epochs, models" in err
    code, _, err = run_cli(["run", "long-range", "quick=yes", "--run-dir", str(tmp_path / "b")])
    assert code == 2 and "quick takes true or false" in err
    code, _, err = run_cli(["run", "long-range", "--device", "cpu"])
    assert code == 2 and "--device cannot be used with the long-range experiment" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    code, _, err = run_cli(["run", "long-range", "quick=true", "--run-dir", str(tmp_path / "full")])
    assert code == 2 and "is not empty" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_recipes_lists_the_experiment():
    code, stdout, _ = run_cli(["recipes", "--json"])
    rows = {r["name"]: r for r in json.loads(stdout)}
    assert code == 0 and rows["long-range"]["task"] == "experiment"


def test_recipes_show_explains_the_experiment():
    code, stdout, _ = run_cli(["recipes", "--show", "long-range"])
    assert code == 0 and "seqlab run long-range" in stdout and "epochs" in stdout
