"""``seqlab predict`` end to end: a small Kim CNN trained by ``seqlab run`` on real SST-2 sentences
(learning well above chance), its probabilities from arguments and stdin, parity with the
model itself, the notes' Keras model, and every error path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from _cli import run_cli

from seqlab.config import Config, apply_overrides, save_config

# The shipped Kim recipe, made small: 2,000 SST-2 sentences, a 64-d CNN with 32 maps per width,
# Adam for speed (Adadelta needs many more epochs), 3 epochs: ~5 s on one thread.
SMALL_CNN = ["data.limit=2000", "data.eval_limit=500", "model.embedding_dim=64", "model.num_filters=32",
             "train.optimizer=adam", "train.lr=0.005", "train.epochs=3", "train.max_time_s=120", "train.device=cpu"]
SMALL_KERAS = ["data.limit=400", "data.eval_limit=100", "model.embedding_dim=16", "model.hidden_size=16",
               "train.epochs=1", "train.device=cpu"]


_main = run_cli  # (exit code, stdout, stderr) of `seqlab ARGV`, see _cli.py


def _need_data() -> None:
    if not os.environ.get("SEQLAB_DATA_DIR") or not Path(os.environ["SEQLAB_DATA_DIR"]).is_dir():
        pytest.skip("real datasets not found: set SEQLAB_DATA_DIR")


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    _need_data()
    run_dir = tmp_path_factory.mktemp("runs") / "cnn"
    code, out, err = _main(["run", "kim-cnn-rand-sst2", *SMALL_CNN, "--run-dir", str(run_dir), "--quiet"])
    assert code == 0, err
    return run_dir, out


def test_small_cnn_learns_sst2_and_prints_the_published_number(cnn_run):
    run_dir, out = cnn_run
    results = json.loads((run_dir / "results.json").read_text())
    assert results["reference"] == 82.7 and results["metric"] == "accuracy"
    assert results["metrics"]["test_accuracy"] > 0.65, results["metrics"]  # balanced test set: chance is 0.50
    assert "published 82.70 %" in out and f"measured {results['headline']:.2f} %" in out


def _lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip()]


def test_predict_from_arguments(cnn_run):
    run_dir, _ = cnn_run
    texts = ["a gripping, funny and moving film", "a dull, tedious and boring mess"]
    code, out, err = _main(["predict", str(run_dir), *texts, "--json"])
    assert code == 0, err
    rows = [json.loads(line) for line in _lines(out)]
    assert [r["text"] for r in rows] == texts
    for row in rows:
        assert list(row["probabilities"]) == ["negative", "positive"]
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)
    assert rows[0]["probabilities"]["positive"] > rows[1]["probabilities"]["positive"]
    code, text_out, _ = _main(["predict", str(run_dir), *texts])
    first = _lines(text_out)[0]
    p = rows[0]["probabilities"]
    assert first == f"[{rows[0]['label']}] negative {p['negative']:.4f}  positive {p['positive']:.4f}  {texts[0]}"


def test_predict_from_stdin_equals_arguments(cnn_run):
    run_dir, _ = cnn_run
    texts = ["an utterly charming comedy", "i hated every minute of it", "ok"]
    _, from_args, _ = _main(["predict", str(run_dir), *texts])
    code, from_stdin, err = _main(["predict", str(run_dir)], stdin="\n".join(texts) + "\n\n")
    assert code == 0, err
    _, from_dash, _ = _main(["predict", str(run_dir), "-"], stdin="\n".join(texts))
    assert from_stdin == from_args == from_dash and len(_lines(from_args)) == 3


def _assert_predict_matches_the_model(run_dir: Path, limit: int) -> None:
    """Pre-tokenized training sentences (every token in the vocabulary) tokenize to the file's
    tokens, so ``seqlab predict`` must give exactly the model's own probabilities."""
    import dataclasses

    from seqlab.tasks import load_run, task_for

    loaded = load_run(run_dir)
    config = dataclasses.replace(loaded.config, data=dataclasses.replace(loaded.config.data, limit=limit, bucket=False))
    split = task_for(config).load_split(config, "train", training=True)  # the run's own (seeded) training sample
    split.texts, split.tokens, split.labels = split.texts[:40], split.tokens[:40], split.labels[:40]
    with torch.no_grad():  # the model on the loader's padded batches, independently of `seqlab predict`
        expected = torch.cat([torch.softmax(loaded.model(batch.ids, batch.lengths).float(), dim=-1)
                              for batch in task_for(config).loader(config, split, loaded.vocab, training=False)])
    code, out, err = _main(["predict", str(run_dir), "--json"], stdin="\n".join(split.texts))
    assert code == 0, err
    got = torch.tensor([list(json.loads(line)["probabilities"].values()) for line in _lines(out)])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_predict_matches_the_model_on_dataset_sentences(cnn_run):
    run_dir, _ = cnn_run
    _assert_predict_matches_the_model(run_dir, limit=2000)


def test_predict_works_for_a_recurrent_classifier(tmp_path):
    _need_data()
    run_dir = tmp_path / "lstm"
    code, _, err = _main(["run", "lstm-sst2", "data.limit=300", "data.eval_limit=100", "model.embedding_dim=16",
                          "model.hidden_size=16", "train.epochs=1", "train.device=cpu", "--run-dir", str(run_dir),
                          "--quiet"])
    assert code == 0, err
    _assert_predict_matches_the_model(run_dir, limit=300)


def test_predict_with_kims_cleaning_and_keras_init(tmp_path):
    """data.tokenizer=kim: predict cleans free text exactly as training cleaned the files."""
    _need_data()
    run_dir = tmp_path / "lstm-kim"
    code, _, err = _main(["run", "lstm-sst2", "data.limit=300", "data.eval_limit=100", "data.tokenizer=kim",
                          "model.init=keras", "model.embedding_dim=16", "model.hidden_size=16", "train.epochs=1",
                          "train.device=cpu", "--run-dir", str(run_dir), "--quiet"])
    assert code == 0, err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["tokenizer"] == "kim" and config["model"]["init"] == "keras"
    _assert_predict_matches_the_model(run_dir, limit=300)


def test_predict_help():
    code, out, _ = _main(["predict", "--help"])
    assert code == 0 and "usage: seqlab predict" in out
    for word in ("RUN_DIR", "stdin", "--json", "--checkpoint", "seqlab generate", "fold-0", "examples:"):
        assert word in out
    code, out, _ = _main(["--help"])
    assert "predict" in out


def test_predict_errors(tmp_path, cnn_run):
    run_dir, _ = cnn_run
    code, _, err = _main(["predict", str(tmp_path / "nope"), "text"])
    assert code == 2 and "does not exist" in err and "seqlab run" in err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a run")
    code, _, err = _main(["predict", str(foreign), "text"])
    assert code == 2 and "is not a run directory" in err and "config.json" in err
    lm = tmp_path / "lm"
    lm.mkdir()
    save_config(apply_overrides(Config(), ["recipe.task=language_modeling", "model.kind=language_model",
                                           "data.dataset=ptb"]), lm / "config.json")
    code, _, err = _main(["predict", str(lm), "text"])
    assert code == 2 and "language-model run" in err and f"seqlab generate {lm}" in err
    cv = tmp_path / "cv"
    cv.mkdir()
    save_config(apply_overrides(Config(), ["model.kind=text_cnn", "data.dataset=mr"]), cv / "config.json")
    code, _, err = _main(["predict", str(cv), "text"])
    assert code == 2 and "10-fold cross-validation run" in err and str(cv / "fold-0") in err
    code, _, err = _main(["predict", str(run_dir)], stdin="\n  \n")
    assert code == 2 and "no text to classify" in err
    code, _, err = _main(["predict", str(run_dir), "zzzqqq"])
    assert code == 0 and "no word of text 1 is in the run's vocabulary" in err


def test_keras_recipe_writes_a_run_and_predicts(tmp_path):
    _need_data()
    run_dir = tmp_path / "keras"
    code, out, err = _main(["run", "keras-lecture-sst2", *SMALL_KERAS, "--run-dir", str(run_dir), "--quiet"])
    assert code == 0, err
    results = json.loads((run_dir / "results.json").read_text())
    info = json.loads((run_dir / "run.json").read_text())
    assert results["reference"] == 84.9 and 0.0 <= results["metrics"]["test_accuracy"] <= 1.0
    from seqlab.config import load_config
    from seqlab.tasks import task_for

    config = load_config(run_dir / "config.json")
    sample = task_for(config).load_split(config, "train", training=True)
    assert info["class_names"] == ["negative", "positive"]
    assert info["maxlen"] == max(len(t) for t in sample.tokens)  # Keras pads to the longest training sentence
    assert (run_dir / "model.keras").is_file() and (run_dir / "config.json").is_file()
    assert "published 84.90 %" in out
    code, out, err = _main(["predict", str(run_dir), "a gripping film", "--json"])
    assert code == 0, err
    probs = json.loads(out)["probabilities"]
    assert list(probs) == ["negative", "positive"] and sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
