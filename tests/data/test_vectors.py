"""Pretrained word-vector loaders on small files written by the tests."""

import struct

import numpy as np
import pytest
import torch

from seqlab.errors import DataError
from seqlab.data.vectors import detect_format, iter_vectors, load_vectors

VOCAB = ["<pad>", "<unk>", "the", "movie", "gripping", "zzz"]
VECS = {"the": [0.1, 0.2, 0.3], "movie": [1.0, -1.0, 0.5], "gripping": [2.0, 0.0, -2.0], "unused": [9.0, 9.0, 9.0]}


def _write_text(path, header=True):
    lines = [f"{len(VECS)} 3"] if header else []
    lines += [w + " " + " ".join(str(v) for v in vec) for w, vec in VECS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_binary(path, truncate=0):
    data = bytearray(f"{len(VECS)} 3\n".encode())
    for w, vec in VECS.items():
        data += w.encode() + b" " + struct.pack("<3f", *vec) + b"\n"
    path.write_bytes(bytes(data[: len(data) - truncate]))
    return path


@pytest.mark.parametrize("kind", ["word2vec-text", "glove", "word2vec-binary"])
def test_loads_each_format_keeping_only_vocabulary_words(tmp_path, kind):
    if kind == "word2vec-binary":
        path = _write_binary(tmp_path / "v.bin")
    else:
        path = _write_text(tmp_path / "v.txt", header=kind == "word2vec-text")
    assert detect_format(path) == kind
    weights, coverage = load_vectors(path, VOCAB, seed=3)
    assert weights.shape == (6, 3)
    assert torch.allclose(weights[2], torch.tensor([0.1, 0.2, 0.3]))
    assert torch.allclose(weights[4], torch.tensor([2.0, 0.0, -2.0]))
    assert weights[0].abs().sum() == 0  # padding row
    assert (weights[5].abs() <= 0.25).all() and weights[5].abs().sum() > 0  # missing word: U[-0.25, 0.25]
    assert (coverage.found, coverage.total, coverage.missing) == (3, 4, ["zzz"])
    assert "3/4" in str(coverage)
    again, _ = load_vectors(path, VOCAB, seed=3)
    assert torch.equal(weights, again)  # seeded random rows


def test_mapping_vocabulary(tmp_path):
    weights, coverage = load_vectors(_write_text(tmp_path / "v.txt"), {"<pad>": 0, "movie": 1})
    assert torch.allclose(weights[1], torch.tensor([1.0, -1.0, 0.5]))
    assert coverage.fraction == 1.0


def test_wrong_dimension_line_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("the 0.1 0.2 0.3\nmovie 1.0 2.0\n")
    with pytest.raises(DataError, match="line 2: vector has 2 values, expected 3"):
        load_vectors(path, VOCAB)


def test_expected_dimension_mismatch(tmp_path):
    with pytest.raises(DataError, match="dimension 3, expected 300"):
        load_vectors(_write_text(tmp_path / "v.txt"), VOCAB, dim=300)


def test_truncated_binary_is_a_clear_error(tmp_path):
    path = _write_binary(tmp_path / "v.bin", truncate=7)
    with pytest.raises(DataError, match="truncated"):
        list(iter_vectors(path))


def test_non_numeric_value_and_bad_header(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("the 0.1 abc 0.3\n")
    with pytest.raises(DataError, match="non-numeric"):
        load_vectors(path, VOCAB)
    path.write_text("3 x\n")
    with pytest.raises(DataError, match="header"):
        list(iter_vectors(path, format="word2vec-text"))
    with pytest.raises(DataError, match="not found"):
        list(iter_vectors(tmp_path / "missing.txt"))


def test_binary_with_invalid_utf8_word_never_matches(tmp_path):
    path = tmp_path / "v.bin"
    path.write_bytes(b"1 2\n" + b"caf\xe9 " + struct.pack("<2f", 1.0, 2.0))
    (word, vec), = list(iter_vectors(path, format="word2vec-binary"))
    assert word == "caf\ufffd" and np.allclose(vec, [1.0, 2.0])
