"""Loaders on the real data in SEQLAB_DATA_DIR: published counts, splits, encodings, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import seqlab.data as data
from seqlab.data.datasets.kim2014 import read_labelled_lines, stratified_folds
from seqlab.errors import ConfigurationError, DatasetNotFoundError

pytestmark = pytest.mark.data


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """Real-data tests never reach the network (and never fill the user's cache)."""
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "name, counts",
    [
        ("sst1", {"train": 8544, "dev": 1101, "test": 2210}),
        ("sst2", {"train": 6920, "dev": 872, "test": 1821}),
        ("trec", {"train": 5452, "test": 500}),
        ("mr", {"all": 10662}),
        ("subj", {"all": 10000}),
        ("cr", {"all": 3775}),
        ("mpqa", {"all": 10606}),
    ],
)
def test_kim_counts(real_data_dir, name, counts):
    for split, n in counts.items():
        assert len(data.load(name, split)) == n


def test_kim_labels_and_classes(real_data_dir):
    assert data.load("mr", "all").label_counts() == [5331, 5331]
    assert data.load("subj", "all").class_names[0] == "subjective"
    trec = data.load("trec", "train")
    assert trec.num_classes == 6 and trec.label_counts() == [1162, 1250, 86, 1223, 835, 896]
    sst1 = data.load("sst1", "train")
    assert sst1.label_counts() == [1092, 2218, 1624, 2322, 1288]
    assert data.load("sst2", "test").label_counts() == [912, 909]
    assert data.load("cr", "all").label_counts() == [1368, 2407]
    assert data.load("mpqa", "all").label_counts() == [7294, 3312]
    text, label = sst1[0]
    assert isinstance(text, str) and label in range(5)


def test_cv_folds_partition_and_stratify(real_data_dir):
    seen = []
    for k in range(10):
        train = data.load("mr", "train", fold=k, seed=3)
        test = data.load("mr", "test", fold=k, seed=3)
        assert len(train) + len(test) == 10662
        assert not set(train.indices) & set(test.indices)
        assert len(test) in (1066, 1067)
        neg, pos = test.label_counts()
        assert abs(neg - pos) <= 1  # MR is balanced, so each fold is too
        seen.extend(test.indices)
    assert sorted(seen) == list(range(10662))  # the test folds cover the corpus exactly once
    # deterministic under the seed, different under another seed
    assert data.load("mr", "test", fold=2, seed=3).indices == data.load("mr", "test", fold=2, seed=3).indices
    assert data.load("mr", "test", fold=2, seed=4).indices != data.load("mr", "test", fold=2, seed=3).indices


def test_dev_holdout(real_data_dir):
    kw = {"fold": 1, "seed": 0, "dev_fraction": 0.1}
    train, dev, test = (data.load("cr", s, **kw) for s in ("train", "dev", "test"))
    assert len(train) + len(dev) + len(test) == 3775
    assert not (set(train.indices) & set(dev.indices)) and not (set(dev.indices) & set(test.indices))
    assert abs(len(dev) - 0.1 * (3775 - len(test))) <= 2
    ratio = dev.label_counts()[1] / len(dev)
    assert abs(ratio - 2407 / 3775) < 0.02  # stratified
    trec_train, trec_dev = data.load("trec", "train", dev_fraction=0.1), data.load("trec", "dev", dev_fraction=0.1)
    assert len(trec_train) + len(trec_dev) == 5452 and abs(len(trec_dev) - 545) <= 3
    with pytest.raises(ConfigurationError, match="dev_fraction"):
        data.load("mr", "dev")
    with pytest.raises(ConfigurationError, match="fold must be in 0..9"):
        data.load("mr", "test", fold=10)


def test_stratified_folds_golden():
    folds = stratified_folds([0, 0, 0, 0, 1, 1], num_folds=2, seed=0)
    assert sorted(np.bincount(folds).tolist()) == [3, 3]
    assert sorted(folds[:4].tolist()) == [0, 0, 1, 1] and sorted(folds[4:].tolist()) == [0, 1]


def test_encodings_decode_to_the_intended_characters(real_data_dir):
    mr = " ".join(data.load("mr", "all").texts)
    assert "é" in mr and "\x85" not in mr and "\ufffd" not in mr  # cp1252, not latin-1 C1 controls
    assert any(ch in mr for ch in "–—…")
    subj = " ".join(data.load("subj", "all").texts)
    assert "é" in subj and not any(0x80 <= ord(c) <= 0x9F for c in subj)
    trec = data.load("trec", "train")
    assert any("sisterðcity" in t for t in trec.texts)  # the one stray 0xF0 byte, kept losslessly


def test_label_only_lines(real_data_dir, tmp_path):
    cr = data.load("cr", "all")
    assert sum(t == "" for t in cr.texts) == 4
    assert sum(t == "" for t in data.load("mpqa", "all").texts) == 3
    assert len(data.load("cr", "all", drop_empty=True)) == 3771
    # tokenization and encoding never crash on them
    vocab = data.Vocabulary.build(cr.tokenized())
    encoded = cr.encode(vocab)
    empty = [i for i, t in enumerate(cr.texts) if t == ""]
    assert all(encoded.lengths[i] == 0 for i in empty)
    batch = data.PadCollate(min_length=5)([encoded[i] for i in empty])
    assert batch.ids.shape == (4, 5) and not batch.mask.any()
    # the parser itself, on a crafted file
    path = tmp_path / "x.all"
    path.write_bytes(b"1 good text\n0 \n1 more\n")
    assert read_labelled_lines(path, "utf-8") == (["good text", "", "more"], [1, 0, 1])


def test_language_model_corpora(real_data_dir):
    assert [len(data.load("ptb", s)) for s in ("train", "valid", "test")] == [929_589, 73_760, 82_430]
    ptb = data.load("ptb", "train")
    assert ptb.num_lines == 42_068 and ptb.tokens.count("<eos>") == 42_068
    vocab = ptb.build_vocabulary()
    assert len(vocab) == 10_000 and vocab.pad_id is None
    ids = ptb.encode(vocab)
    assert ids.shape == (929_589,) and ids.dtype == torch.long and int(ids.max()) == 9_999
    shakes_train, shakes_valid = data.load("tinyshakespeare", "train"), data.load("tinyshakespeare", "valid")
    assert (len(shakes_train), len(shakes_valid)) == (1_003_854, 111_540)
    assert len(set(shakes_train.tokens) | set(shakes_valid.tokens)) == 65
    assert shakes_train.text.startswith("First Citizen:")
    assert [len(data.load("wikitext2", s)) for s in ("valid", "test")] == [217_646, 245_569]
    with pytest.raises(DatasetNotFoundError, match="wikitext2/train.txt"):
        data.load("wikitext2", "train")


def test_multi30k(real_data_dir):
    sizes = {"train": 29_000, "valid": 1_014, "test2016": 1_000, "test2017_flickr": 1_000,
             "test2017_mscoco": 461, "test2018": 1_071}
    for split, n in sizes.items():
        assert len(data.load("multi30k", split)) == n
    de_en = data.load("multi30k", "train")
    en_de = data.load("multi30k", "train", source="en", target="de")
    assert de_en[0] == (en_de[0][1], en_de[0][0])
    assert de_en[0][0].startswith("Zwei junge weiße Männer")  # UTF-8, cased, untokenized
    valid = data.load("multi30k", "valid")
    tok = data.WordTokenizer()
    de_vocab = data.Vocabulary.build((tok(t) for t in valid.source_texts), eos_token="<eos>")
    en_vocab = data.Vocabulary.build((tok(t) for t in valid.target_texts), bos_token="<bos>", eos_token="<eos>")
    encoded = valid.encode(lambda s: de_vocab.encode(tok(s), add_eos=True),
                           lambda t: en_vocab.encode(tok(t), add_bos=True, add_eos=True))
    batch = data.pair_collate([encoded[0], encoded[1]])
    assert batch.target[:, 0].tolist() == [en_vocab.bos_id] * 2
    assert en_vocab.decode(batch.target[0]) == tok(valid.target_texts[0])
    assert batch.source_lengths.tolist() == encoded.lengths[:2]
    with pytest.raises(ConfigurationError, match="valid: \\['de', 'en'\\]"):
        data.load("multi30k", "train", source="fr")


def test_fsdd(real_data_dir):
    train, test = data.load("fsdd", "train"), data.load("fsdd", "test")
    assert (len(train), len(test), len(data.load("fsdd", "all"))) == (2700, 300, 3000)
    assert set(test.takes) == {0, 1, 2, 3, 4} and min(train.takes) == 5
    assert sorted(set(train.speakers)) == sorted(data.SpokenDigitDataset.speaker_names)
    assert np.bincount(test.digits).tolist() == [30] * 10
    rec = test[0]
    assert rec.sample_rate == 8000 and rec.waveform.dtype == torch.float32 and rec.waveform.dim() == 1
    assert (rec.digit, rec.speaker, rec.take) == (0, "george", 0)
    assert 1148 <= rec.waveform.numel() <= 18262 and float(rec.waveform.abs().max()) <= 1.0
    batch = data.pad_collate([test[0], test[1]])
    assert batch.ids.dtype == torch.float32 and batch.labels.tolist() == [test.digits[0], test.digits[1]]


def test_mnist_and_uci_har(real_data_dir):
    mnist = data.load("mnist", "test")
    assert len(mnist) == 10_000 and mnist.images.shape == (10_000, 28, 28)
    assert torch.bincount(mnist.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    image, label = mnist[0]
    assert image.shape == (28, 28) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0 and label == 7
    train = data.load("mnist", "train")  # SOURCES.md §8: 60,000 images, these label counts
    assert train.images.shape == (60_000, 28, 28)
    assert torch.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    with pytest.raises(DatasetNotFoundError, match="Inertial Signals") as info:
        data.load("uci_har", "test")
    assert "raw.githubusercontent.com/lpbarto/HAR_Perceptron" in str(info.value)


def test_uci_har_loader_on_complete_layout(real_data_dir, tmp_path):
    """With the signal files present (here synthetic, same format), the loader assembles (N, 128, 9)."""
    from seqlab.data.datasets.uci_har import CHANNELS, ROOT

    root = tmp_path / ROOT
    (root / "test" / "Inertial Signals").mkdir(parents=True)
    for rel in ("activity_labels.txt", "test/y_test.txt", "test/subject_test.txt"):
        (root / rel).write_bytes((real_data_dir / ROOT / rel).read_bytes())
    n = 2947
    for i, c in enumerate(CHANNELS):
        row = " ".join(f"{i + j / 1000:.7e}" for j in range(128))
        (root / "test" / "Inertial Signals" / f"{c}_test.txt").write_text((" " + row + "\n") * n)
    har = data.load("uci_har", "test", data_dir=tmp_path)
    assert har.signals.shape == (n, 128, 9) and har.class_names[0] == "WALKING"
    assert torch.bincount(har.labels).tolist() == [496, 471, 420, 491, 532, 537]
    assert float(har.signals[5, 3, 2]) == pytest.approx(2.003)
    assert len(set(har.subjects.tolist())) == 9


def test_registry_errors_and_listing(real_data_dir):
    assert data.available()[:3] == ["mr", "sst1", "sst2"] and "fsdd" in data.available()
    with pytest.raises(ConfigurationError, match="unknown dataset 'imdb'; valid: mr, sst1"):
        data.load("imdb")
    with pytest.raises(ConfigurationError, match="no split 'valid'; valid: train, dev, test"):
        data.load("sst2", "valid")
    with pytest.raises(ConfigurationError, match="unknown option\\(s\\) \\['folds'\\].*valid: fold, num_folds"):
        data.load("mr", "test", folds=3)
    with pytest.raises(ConfigurationError, match="fold/num_folds do not apply; cross-validation folds are for mr, subj, cr, mpqa"):
        data.load("sst2", "test", fold=1)
    with pytest.raises(ConfigurationError, match="given dev split"):
        data.load("sst1", "train", dev_fraction=0.1)
    with pytest.raises(ConfigurationError, match="valid: \\(none\\)"):
        data.load("ptb", "train", fold=1)
    assert data.dataset_status("mnist").status == "present"  # the train images arrived in shared/data
    assert data.dataset_status("fsdd").status == "present"


def test_partly_present_dataset_lists_the_missing_file(data_dir_without):
    data_dir_without("mnist/train-images-idx3-ubyte.gz")
    status = data.dataset_status("mnist")
    assert status.status == "partial" and status.missing == ["mnist/train-images-idx3-ubyte.gz"]


def test_verify_full_checksums(real_data_dir):
    assert len(data.load("trec", "test", verify=True)) == 500
