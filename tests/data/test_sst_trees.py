"""The SST tree parser and Kim's phrase rule, on hand-written trees (no data files needed)."""

from __future__ import annotations

import pytest

from seqlab.data.datasets.sst_trees import binary_label, parse_tree, phrase_examples, ptb_unescape, read_trees
from seqlab.errors import DataError

NBSP = "\u00a0"


def test_labels_spans_and_children():
    tree = parse_tree("(3 (2 The) (4 (3 funny) (2 film)))")
    assert tree.label == 3 and (tree.start, tree.end) == (0, 3)
    assert tree.words == ("The", "funny", "film") and tree.tokens == tree.words
    left, right = tree.children
    assert (left.label, left.start, left.end, left.is_leaf) == (2, 0, 1, True)
    assert (right.label, right.start, right.end) == (4, 1, 3)
    assert [c.tokens for c in right.children] == [("funny",), ("film",)]
    assert right.words is tree.words  # every node shares the sentence
    # post-order: children left to right, then the parent; the root last
    assert [(n.label, n.phrase()) for n in tree.subtrees()] == [
        (2, "The"), (3, "funny"), (2, "film"), (4, "funny film"), (3, "The funny film")]
    assert len(tree) == 5


def test_a_single_leaf_and_n_ary_nodes():
    assert parse_tree("(1 bad)").tokens == ("bad",)
    tree = parse_tree("(2 (1 a) (2 b) (3 c))\n")  # SST is binary; the parser takes any arity
    assert [c.phrase() for c in tree.children] == ["a", "b", "c"]


def test_no_break_space_stays_inside_a_word():
    # SOURCES.md §9: three train leaves hold U+00A0 (`8 1\/2`, `2 1\/2`); only ASCII spaces cut words
    tree = parse_tree(f"(3 (2 {NBSP.join(['8', '1'])}\\/2) (3 (2 weeks) (2 .)))")
    assert tree.words == (f"8{NBSP}1\\/2", "weeks", ".")
    assert tree.phrase().split(" ") == list(tree.words)
    assert len(tree.phrase().split()) == 4  # what str.split() would wrongly give


def test_ptb_escapes_are_kept_and_can_be_undone():
    tree = parse_tree("(2 (2 -LRB-) (2 (2 ``) (2 (2 and\\/or) (2 (2 '') (2 -RRB-)))))")
    assert tree.words == ("-LRB-", "``", "and\\/or", "''", "-RRB-")  # as Kim's stsa.* files keep them
    assert [ptb_unescape(w) for w in tree.words] == ["(", '"', "and/or", '"', ")"]
    assert ptb_unescape("-lrb-") == "(" and ptb_unescape("film") == "film"


@pytest.mark.parametrize("line, problem", [
    ("(3 (2 a) (4 b)", "unbalanced brackets: 1 '(' still open"),
    ("(3 (2 a) (4 b)))", "text after the tree's last ')'"),
    (")", "a ')' that closes nothing"),
    ("(3 (2 a) (4 b", "a leaf without its ')'"),
    ("(3", "has no 'LABEL WORD'"),
    ("(x (2 a) (4 b))", "bad label 'x'"),
    ("(3 (7 a) (4 b))", "bad label '7'"),
    ("(12 a)", "bad label '12'"),
    ("(3 (2 a b) (4 c))", "one word without ASCII spaces"),
    ("(3 (2 ) (4 c))", "one word without ASCII spaces"),
    ("3 a", "unexpected '3 a'"),
    ("", "an empty line"),
])
def test_malformed_trees_name_the_place_and_the_fix(line, problem):
    with pytest.raises(DataError) as info:
        parse_tree(line, where="train.txt:7")
    message = str(info.value)
    assert problem in message and "train.txt:7, column" in message
    assert "(LABEL CHILD ...)" in message and "re-fetch the file" in message


def test_read_trees_names_the_line(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("(3 (2 a) (4 b))\n(3 (2 a) (9 b))\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.txt:2, column 11: bad label '9'"):
        read_trees(path)


def test_read_trees_rejects_a_mis_encoded_file_and_skips_a_bom(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("(3 (2 caf\u00e9) (4 b))\n".encode("latin-1"))
    with pytest.raises(DataError, match="not valid UTF-8 .*byte 9.*iconv -t utf-8"):
        read_trees(bad)
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf(3 (2 a) (4 b))\n(1 c)")  # no final newline either
    assert [t.phrase() for t in read_trees(bom)] == ["a b", "c"]


def test_first_occurrence_wins_after_lowercasing():
    trees = [parse_tree("(3 (2 Not) (3 bad))"), parse_tree("(1 (1 not) (0 bad))"), parse_tree("(2 (2 the) (2 end))")]
    texts, labels = phrase_examples(trees, binary=False)
    assert list(zip(texts, labels)) == [("not", 2), ("bad", 3), ("not bad", 3), ("the", 2), ("end", 2), ("the end", 2)]
    texts, labels = phrase_examples(trees, binary=True)  # neutral first occurrences are dropped
    assert list(zip(texts, labels)) == [("bad", 1), ("not bad", 1)]
    assert [binary_label(k) for k in range(5)] == [0, 0, None, 1, 1]
