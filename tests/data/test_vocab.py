"""Vocabulary: golden ids, specials, limits, OOV, JSON round-trips (property-based)."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data import UnknownTokenError, Vocabulary, WordTokenizer
from seqlab.errors import DataError

CORPUS = ["the cat sat on the mat", "the dog sat", "a cat and a dog"]


def _tokens():
    return [s.split() for s in CORPUS]


def test_golden_ids_for_a_tiny_corpus():
    # counts: the 3, cat 2, sat 2, a 2, dog 2, on 1, mat 1, and 1
    # ties by first occurrence: cat(pos 1) sat(2) dog(7) a(9); on(3) mat(5) and(11)
    vocab = Vocabulary.build(_tokens())
    assert vocab.tokens == ["<pad>", "<unk>", "the", "cat", "sat", "dog", "a", "on", "mat", "and"]
    assert vocab.encode("the cat sat on the mat".split()) == [2, 3, 4, 7, 2, 8]
    assert vocab.encode(["a", "zebra"]) == [6, 1]
    assert vocab.pad_id == 0 and vocab.unk_id == 1 and vocab.bos_id is None
    assert vocab.frequencies["the"] == 3 and vocab.frequencies["and"] == 1


def test_specials_bos_eos_and_decode():
    vocab = Vocabulary.build(_tokens(), bos_token="<bos>", eos_token="<eos>")
    assert vocab.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    ids = vocab.encode(["the", "zebra"], add_bos=True, add_eos=True)
    assert ids == [2, 4, 1, 3]
    assert vocab.decode(ids + [0, 0]) == ["the", "<unk>"]
    assert vocab.decode(torch.tensor(ids), skip_specials=False) == ["<bos>", "the", "<unk>", "<eos>"]
    batch = vocab.encode_batch([["the"], ["cat", "sat"]])
    assert batch == [[4], [5, 6]]
    assert vocab.decode_batch(torch.tensor([[4, 0], [5, 6]])) == [["the"], ["cat", "sat"]]


def test_min_freq_and_max_size():
    vocab = Vocabulary.build(_tokens(), min_freq=2)
    assert vocab.tokens == ["<pad>", "<unk>", "the", "cat", "sat", "dog", "a"]
    small = Vocabulary.build(_tokens(), max_size=4)
    assert len(small) == 4 and small.tokens == ["<pad>", "<unk>", "the", "cat"]
    with pytest.raises(DataError, match="max_size=1"):
        Vocabulary.build(_tokens(), max_size=1)
    with pytest.raises(DataError, match="min_freq"):
        Vocabulary.build(_tokens(), min_freq=0)


def test_lookups_and_errors():
    vocab = Vocabulary.build(_tokens())
    assert "cat" in vocab and "zebra" not in vocab and len(vocab) == 10
    assert vocab.token_to_id("zebra") == vocab.unk_id
    assert vocab.id_to_token(3) == "cat"
    with pytest.raises(IndexError, match="out of range"):
        vocab.id_to_token(10)
    no_unk = Vocabulary.build(_tokens(), unk_token=None)
    with pytest.raises(UnknownTokenError, match="'zebra' is not in the vocabulary") as info:
        no_unk.encode(["cat", "zebra"])
    assert isinstance(info.value, KeyError)
    with pytest.raises(TypeError, match="tokenize first"):
        vocab.encode("the cat")
    with pytest.raises(DataError, match="tokenize it first"):
        Vocabulary.build(["the cat"])
    with pytest.raises(DataError, match="no eos_token"):
        vocab.encode(["cat"], add_eos=True)


def test_specials_are_not_counted_twice():
    vocab = Vocabulary.build([["<unk>", "x", "<unk>"]], eos_token="<eos>")
    assert vocab.tokens == ["<pad>", "<unk>", "<eos>", "x"]


def test_save_load_roundtrip_and_atomic(tmp_path):
    vocab = Vocabulary.build(_tokens(), bos_token="<s>", pad_token=None)
    path = tmp_path / "sub" / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.tokens == vocab.tokens and loaded.special_tokens == vocab.special_tokens
    assert loaded.frequencies == vocab.frequencies
    assert [p.name for p in path.parent.iterdir()] == ["vocab.json"]  # no temporary file left
    data = json.loads(path.read_text())
    data["tokens"].append("the")
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="twice"):
        Vocabulary.load(path)
    path.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        Vocabulary.load(path)
    path.write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not a seqlab vocabulary"):
        Vocabulary.load(path)


_token = st.text(min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_token | st.sampled_from(["<pad>", "<unk>", "<bos>"]), max_size=12), max_size=8),
       st.integers(1, 3), st.booleans())
def test_roundtrip_property(tmp_path_factory, sequences, min_freq, with_bos):
    vocab = Vocabulary.build(sequences, min_freq=min_freq, bos_token="<bos>" if with_bos else None)
    path = tmp_path_factory.mktemp("v") / "v.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.frequencies == vocab.frequencies
    for seq in sequences:
        ids = loaded.encode(seq)
        assert ids == vocab.encode(seq)
        # every kept token decodes to itself; dropped ones become <unk>
        dropped = {vocab.special_tokens[r] for r in ("pad", "bos", "eos")} - {None}
        assert loaded.decode(ids) == [t if t in vocab else "<unk>" for t in seq if t not in dropped]
    # ids are sorted by descending frequency after the specials
    counts = [vocab.frequencies[t] for t in vocab.tokens[len(vocab.special_ids):]]
    assert counts == sorted(counts, reverse=True)


def test_with_word_tokenizer():
    tok = WordTokenizer()
    vocab = Vocabulary.build(tok(t) for t in ["Hello, world!", "hello again"])
    # hello 2, "," 3, world 4, "!" 5, again 6; "?" is unknown
    assert vocab.tokens[2:] == ["hello", ",", "world", "!", "again"]
    assert vocab.encode(tok("HELLO world?")) == [2, 4, 1]
