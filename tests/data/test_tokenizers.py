"""Word, character and BPE tokenizers."""

from __future__ import annotations

import pytest

from seqlab.data import BPETokenizer, CharTokenizer, KimTokenizer, WordTokenizer
from seqlab.errors import DataError


def test_word_rules():
    tok = WordTokenizer()
    assert tok("Don't stop, WORLD!") == ["don", "'", "t", "stop", ",", "world", "!"]
    assert tok("  ") == [] and tok("") == []
    assert tok("Cafe\u0301 crème") == ["café", "crème"]  # NFC: e + combining accent == é
    assert WordTokenizer(lowercase=False)("Hi there.") == ["Hi", "there", "."]
    ws = WordTokenizer.whitespace()
    assert ws("it 's a GREAT film , really") == ["it", "'s", "a", "GREAT", "film", ",", "really"]
    assert tok.detokenize(["a", "b"]) == "a b"


def test_kim_cleaning_by_hand():
    kim = KimTokenizer()
    # MR's first line: quotes, hyphen and the final period are dropped, "century's" is split
    text = "the 21st century's new \" conan \" , jean-claud van damme ."
    assert kim(text) == ["the", "21st", "century", "'s", "new", "conan", ",", "jean", "claud", "van", "damme"]
    assert kim("It doesn't (really) work, I'd say!?") == [
        "it", "does", "n't", "(", "really", ")", "work", ",", "i", "'d", "say", "!", "?"]
    assert kim("we've they're you'll") == ["we", "'ve", "they", "'re", "you", "'ll"]
    assert kim("café") == ["caf"]  # non-ASCII letters are dropped, as in Kim's code
    assert kim(" ... -- ") == [] and kim("") == []
    assert KimTokenizer(lowercase=False)("What's NYC?") == ["What", "'s", "NYC", "?"]  # TREC keeps case


def test_char_rules():
    tok = CharTokenizer()
    assert tok("Hi!\n") == ["H", "i", "!", "\n"]
    assert tok.detokenize(tok("To be, or not")) == "To be, or not"
    assert CharTokenizer(lowercase=True)("AbC") == ["a", "b", "c"]


TEXTS = [
    "Ein Mann fährt Fahrrad.",
    "Zwei Hunde spielen im Schnee.",
    "Eine Frau liest ein Buch im Park.",
    "Ein Kind spielt mit einem Ball.",
] * 20


def test_bpe_train_save_load_roundtrip(tmp_path):
    pytest.importorskip("tokenizers")
    bpe = BPETokenizer.train(TEXTS, vocab_size=120, min_frequency=1)
    assert (bpe.pad_id, bpe.unk_id, bpe.bos_id, bpe.eos_id) == (0, 1, 2, 3)
    assert len(bpe) <= 120
    text = "Zwei Hunde spielen im Park."
    ids = bpe.encode(text, add_bos=True, add_eos=True)
    assert ids[0] == 2 and ids[-1] == 3
    assert bpe.decode(ids) == text  # specials skipped, spaces restored
    assert "".join(bpe.tokenize(text)).replace("\u2581", " ").strip() == text
    path = tmp_path / "bpe.json"
    bpe.save(path)
    loaded = BPETokenizer.load(path)
    assert loaded.encode(text) == bpe.encode(text)
    assert loaded.encode_batch([text, "Ein Ball."]) == [bpe.encode(text), bpe.encode("Ein Ball.")]
    assert loaded.decode_batch([bpe.encode("Ein Ball.")]) == ["Ein Ball."]
    assert loaded.id_to_token(loaded.token_to_id("<eos>")) == "<eos>"


def test_bpe_bad_file(tmp_path):
    pytest.importorskip("tokenizers")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataError, match="cannot read BPE tokenizer"):
        BPETokenizer.load(tmp_path / "x.json")


def test_plain_split_cuts_on_ascii_whitespace_only():
    # SST's "8\u00a01\/2" is one token of the treebank and of Kim's files (issue 15)
    from seqlab.data.tokenizers import WordTokenizer

    tokenizer = WordTokenizer(lowercase=True, split_punctuation=False)
    assert tokenizer(" Runs 8\u00a01\\/2  weeks\t.\n") == ["runs", "8\u00a01\\/2", "weeks", "."]
    assert tokenizer("") == [] and tokenizer(" \t ") == []
    assert WordTokenizer.whitespace()("A  b") == ["A", "b"]
