"""Cross-validation of Kim's datasets without a test split: folds partition the corpus, and the
runner trains every fold into its own run directory and reports mean ± std."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest

from seqlab.config import Config, apply_overrides
from seqlab.tasks import task_for
from seqlab.recipes.runner import fold_dir, run_recipe

MR_SIZE = 10_662  # SOURCES.md: rt-polarity.all has 10,662 lines


def _mr(*overrides: str) -> Config:
    return apply_overrides(Config(), ["data.dataset=mr", "model.kind=text_cnn", *overrides])


def _examples(split) -> list[tuple[str, int]]:
    return list(zip(split.texts, split.labels))


def test_mr_folds_partition_the_corpus(real_data_dir):
    from seqlab import data as sdata

    corpus = sdata.load("mr", "all")
    assert len(corpus) == MR_SIZE
    tests = []
    for fold in range(10):
        cfg = _mr(f"data.cv_fold={fold}")
        train, dev, test = (task_for(cfg).load_split(cfg, s, training=(s == "train")) for s in ("train", "dev", "test"))
        tests.append(test)
        # each fold: train, dev and test are disjoint and together are the whole corpus
        assert len(train.texts) + len(dev.texts) + len(test.texts) == MR_SIZE
        assert sorted(_examples(train) + _examples(dev) + _examples(test)) == sorted(zip(corpus.texts, corpus.labels))
        assert abs(len(dev.texts) - 0.1 * (MR_SIZE - len(test.texts))) <= 2  # Kim's 10 % dev hold-out
    # the 10 test folds are disjoint, cover the corpus, and differ in size by at most one
    assert sorted(e for t in tests for e in _examples(t)) == sorted(zip(corpus.texts, corpus.labels))
    assert max(len(t.texts) for t in tests) - min(len(t.texts) for t in tests) <= 1


def _load(config, split):
    return task_for(config).load_split(config, split)


def test_folds_are_deterministic_and_follow_split_seed_only(real_data_dir):
    first = _load(_mr("data.cv_fold=3"), "test").texts
    assert _load(_mr("data.cv_fold=3"), "test").texts == first
    assert _load(_mr("data.cv_fold=3", "train.seed=7"), "test").texts == first  # training seed: same folds
    assert _load(_mr("data.cv_fold=3", "data.split_seed=1"), "test").texts != first


def test_trec_holds_out_a_tenth_of_train_as_dev(real_data_dir):
    cfg = apply_overrides(Config(), ["data.dataset=trec", "model.kind=text_cnn"])
    train, dev, test = (task_for(cfg).load_split(cfg, s) for s in ("train", "dev", "test"))
    from seqlab import data as sdata

    whole = sdata.load("trec", "train")  # the whole train file
    assert abs(len(dev.texts) - 545) <= 3
    assert sorted(_examples(train) + _examples(dev)) == sorted(zip(whole.texts, whole.labels))
    assert len(test.texts) == 500


# Kim's MPQA recipe in miniature: 3 folds, a small CNN, Adam, 2 epochs (learning is tested on SST-2
# in test_predict_command.py; here the bookkeeping).
TINY_CV = ["data.cv_folds=3", "data.limit=900", "data.eval_limit=400", "model.embedding_dim=32",
           "model.num_filters=16", "model.filter_widths=1,2", "train.optimizer=adam", "train.lr=0.01",
           "train.epochs=2", "train.device=cpu"]


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    import contextlib
    import io

    import torch

    from seqlab.cli.main import main

    if not os.environ.get("SEQLAB_DATA_DIR") or not Path(os.environ["SEQLAB_DATA_DIR"]).is_dir():
        pytest.skip("real datasets not found: set SEQLAB_DATA_DIR")
    path = tmp_path_factory.mktemp("cv") / "run"
    out, threads = io.StringIO(), torch.get_num_threads()
    with contextlib.redirect_stdout(out):
        code = main(["run", "kim-cnn-rand-mpqa", *TINY_CV, "--run-dir", str(path), "--json"])
    torch.set_num_threads(threads)
    assert code == 0
    lines = out.getvalue().splitlines()
    return json.loads(lines[-1]), lines[:-1], path


def test_runner_trains_every_fold_and_reports_mean_and_std(cv_run):
    payload, summary, path = cv_run
    results = json.loads((path / "results.json").read_text())
    folds = results["folds"]
    assert [f["fold"] for f in folds] == [0, 1, 2]
    accuracies = [f["test_accuracy"] for f in folds]
    for f in folds:
        fold_results = json.loads((fold_dir(path, f["fold"]) / "results.json").read_text())
        assert fold_results["metrics"]["test_accuracy"] == f["test_accuracy"]
        assert json.loads((fold_dir(path, f["fold"]) / "config.json").read_text())["data"]["cv_fold"] == f["fold"]
    mean = 100 * statistics.fmean(accuracies)
    assert results["headline"] == pytest.approx(mean)
    assert results["headline_std"] == pytest.approx(100 * statistics.stdev(accuracies))
    assert results["metrics"]["fold_test_accuracy"] == accuracies
    assert payload["headline"] == pytest.approx(mean) and payload["reference"] == 83.4
    assert payload["test_accuracy"] == pytest.approx(statistics.fmean(accuracies))
    # `seqlab run` prints the mean over folds beside the published number
    assert f"accuracy: measured {mean:.2f} % ± {results['headline_std']:.2f} | published 83.40 %" in "\n".join(summary)
    # the parent holds the config with every fold (cv_fold none)
    assert json.loads((path / "config.json").read_text())["data"]["cv_fold"] is None


def test_resume_keeps_finished_folds(cv_run):
    payload, _, path = cv_run
    (fold_dir(path, 2) / "results.json").unlink()  # as if fold 2 was interrupted at its very end
    before = (fold_dir(path, 0) / "results.json").read_text()
    again = run_recipe(None, resume=path, verbose=0)
    assert (fold_dir(path, 0) / "results.json").read_text() == before  # not retrained
    assert (fold_dir(path, 2) / "results.json").is_file()
    assert again.headline == pytest.approx(payload["headline"], abs=1e-9)  # fold 2 resumed from its last checkpoint
